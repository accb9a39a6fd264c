"""Every error seedlock raises, in one tree.

Each class also subclasses the builtin it resembles, so callers who only know
Python's own exceptions still catch the right thing, and carries the fields a
message needs (``path``, ``reader``) rather than burying them in text.
"""

from __future__ import annotations

from os import PathLike


class SeedlockError(Exception):
    """Base of every seedlock error."""

    def __init__(self, message: str, *, path: str | PathLike[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = None if path is None else str(path)

    def __str__(self) -> str:
        if self.path:
            return f"{self.path}: {self.message}"
        return self.message


class ImageFormatError(SeedlockError, ValueError):
    """The file is not an image container seedlock can walk (or is damaged)."""


class MetadataTooLarge(ImageFormatError):
    """A metadata field would exceed the size bound (compression bomb, absurd length)."""


class ReaderError(SeedlockError, ValueError):
    """A generator reader accepted the metadata but could not parse it."""

    def __init__(self, message: str, *, reader: str, path: str | None = None) -> None:
        super().__init__(message, path=path)
        self.reader = reader


class UnrecognizedMetadata(SeedlockError, ValueError):
    """Metadata is present but no reader could parse it; ``attempts`` keeps each failure."""

    def __init__(self, message: str, *, attempts: list[ReaderError], path: str | None = None) -> None:
        super().__init__(message, path=path)
        self.attempts = attempts


class RecordFormatError(SeedlockError, ValueError):
    """A record JSON file does not have the shape ``seedlock read --json`` prints."""


class HashingError(SeedlockError, OSError):
    """A file could not be hashed (changed while reading, unreadable)."""


class SafetensorsHeaderError(SeedlockError, ValueError):
    """A safetensors header fails validation (size bound, JSON, offsets)."""


class LockFileError(SeedlockError, ValueError):
    """A seedlock.lock file is missing, malformed or of an unknown version."""


class MissingExtra(SeedlockError, ImportError):
    """An optional dependency group is not installed."""

    def __init__(self, extra: str, package: str) -> None:
        super().__init__(
            f"this needs the optional '{extra}' extra ({package} is not installed); "
            f"install it with: pip install 'seedlock[{extra}]'"
        )
        self.extra = extra
        self.package = package
