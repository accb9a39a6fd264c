"""The one place where exceptions become one-line messages and exit codes."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from seedlock.errors import SeedlockError

F = TypeVar("F", bound=Callable[..., Any])

#: exit code for errors (bad input, unreadable files); 1 is kept for "ran, found a difference"
EXIT_ERROR = 2


def message_for(exc: BaseException) -> str:
    """A one-line, human message for any exception."""
    if isinstance(exc, SeedlockError):
        return str(exc).replace("\n", " ")
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename}: no such file"
    if isinstance(exc, IsADirectoryError):
        return f"{exc.filename}: is a directory"
    if isinstance(exc, PermissionError):
        return f"{exc.filename}: permission denied"
    if isinstance(exc, OSError):
        return f"{getattr(exc, 'filename', '') or ''}: {exc.strerror or exc}".lstrip(": ")
    if isinstance(exc, MemoryError):
        return "out of memory"
    return f"{type(exc).__name__}: {exc}".replace("\n", " ")


def error(text: str) -> None:
    print(f"seedlock: error: {text}", file=sys.stderr)


def handle_errors(func: F) -> F:
    """Turn any escaping exception into one stderr line and exit code 2 (traceback with SEEDLOCK_DEBUG=1)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            # the reader of our output went away (| head): stop quietly, like SIGPIPE would
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise SystemExit(141) from None
        except Exception as exc:
            if os.environ.get("SEEDLOCK_DEBUG") == "1":
                raise
            error(message_for(exc))
            raise SystemExit(EXIT_ERROR) from None

    return wrapper  # type: ignore[return-value]
