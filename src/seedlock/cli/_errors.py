"""The one place where exceptions become one-line messages and exit codes."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from seedlock.errors import (
    InternalError,
    InvalidSpec,
    OutputKindMismatch,
    PixelBudgetExceeded,
    ReplayRefused,
    RunRefused,
    SeedlockError,
)

F = TypeVar("F", bound=Callable[..., Any])

#: exit code for errors (bad input, unreadable files); 1 is kept for "ran, found a difference"
EXIT_ERROR = 2


def hint_for(exc: BaseException) -> str | None:
    """What to do about an error, in the command line's terms (library messages name no flags)."""
    if isinstance(exc, ReplayRefused) and exc.needs:
        if exc.needs == "model":
            return "pass --model PATH, or run seedlock model scan on the folder that holds it"
        if exc.needs.startswith("lora:"):
            name = exc.needs.split(":", 1)[1]
            return f"pass --lora {name}=PATH, or run seedlock model scan on the folder that holds it"
        if exc.needs == "refiner":
            return "pass --refiner PATH, or run seedlock model scan on the folder that holds it"
        if exc.needs == "input":
            return "pass --input-dir DIR, the folder that holds the graph's input images"
        if exc.needs == "other-model":
            return "pass --allow-other-model to run it anyway (the result is marked approximate)"
    if isinstance(exc, RunRefused) and exc.needs:
        if exc.needs == "allow-unpinned":
            return "pin it as the findings say, or pass --allow-unpinned to send it anyway (the record says so)"
        if exc.needs.startswith("key:"):
            return f"export {exc.needs.split(':', 1)[1]}=... (it is read from the environment and never stored)"
    if isinstance(exc, PixelBudgetExceeded):
        return f"pass --max-pixels {exc.pixels} (or more) to compare it anyway"
    if isinstance(exc, OutputKindMismatch):
        return "choose another output path, or pass --force to replace it"
    if isinstance(exc, InvalidSpec) and "hash form" in exc.message:
        return "see seedlock hash --help for the forms"
    if isinstance(exc, InternalError):
        return "this is a bug in seedlock; SEEDLOCK_DEBUG=1 shows the traceback for a report"
    return None


def message_for(exc: BaseException) -> str:
    """A one-line, human message for any exception, with its hint where there is one."""
    if isinstance(exc, SeedlockError):
        text = str(exc).replace("\n", " ")
        hint = hint_for(exc)
        return f"{text} ({hint})" if hint else text
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
