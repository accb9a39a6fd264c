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


class NotARegularFile(ImageFormatError):
    """A FIFO, socket, device or directory where a file was expected: refused, never opened for reading."""


class MetadataTooLarge(ImageFormatError):
    """A metadata field would exceed the size bound (compression bomb, absurd length)."""


class MalformedCBOR(ImageFormatError):
    """A CBOR structure (inside a C2PA manifest) is truncated, nested too deep or of a reserved type."""


class UnsupportedLayout(ImageFormatError):
    """A pixel layout a fast path does not handle (palette, 16-bit, interlaced); the caller falls back."""


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


class OutputIsInput(SeedlockError, ValueError):
    """A command was asked to write over one of the files it reads."""


class OutputKindMismatch(SeedlockError, ValueError):
    """The output path holds an existing file of another kind (an image, a model)."""

    def __init__(self, message: str, *, path: str | PathLike[str] | None = None, found: str, wanted: str) -> None:
        super().__init__(message, path=path)
        self.found = found
        self.wanted = wanted


class PixelBudgetExceeded(ImageFormatError):
    """An image has more pixels than the budget allows (a decompression bomb, or a huge scan)."""

    def __init__(self, message: str, *, path: str | PathLike[str] | None = None, pixels: int, budget: int) -> None:
        super().__init__(message, path=path)
        self.pixels = pixels
        self.budget = budget


class ReplayRefused(SeedlockError, ValueError):
    """A recipe cannot be run faithfully; the message says why.

    ``needs`` names what would let it run, in library terms: ``model`` (a model file),
    ``lora:NAME`` (that adapter's file), ``refiner`` (the refiner's file), ``other-model``
    (consent to run different weights); the command line turns it into the option to pass.
    """

    def __init__(self, message: str, *, path: str | PathLike[str] | None = None, needs: str | None = None) -> None:
        super().__init__(message, path=path)
        self.needs = needs


class UnmappedScheduler(ReplayRefused):
    """A sampler or schedule has no equivalent in the engine's scheduler table."""


class InvalidSpec(SeedlockError, ValueError):
    """A value given as text does not have the expected shape (a LoRA spec, a hash-form list)."""

    def __init__(self, message: str, *, value: str, path: str | PathLike[str] | None = None) -> None:
        super().__init__(message, path=path)
        self.value = value


class InternalError(SeedlockError, RuntimeError):
    """A bug in seedlock itself (a reader raised TypeError, KeyError, ...), not bad input.

    Users get one line and a non-zero exit like any error; tests treat it as a failure,
    which is why it is kept apart from :class:`ReaderError`.
    """

    def __init__(self, message: str, *, path: str | PathLike[str] | None = None, component: str = "") -> None:
        super().__init__(message, path=path)
        self.component = component


class CatalogError(SeedlockError, ValueError):
    """A catalog file cannot be opened (not a catalog, or a newer schema) or a query is malformed."""


class MissingExtra(SeedlockError, ImportError):
    """An optional dependency group is not installed (the install command is the fix, not a flag)."""

    def __init__(self, extra: str, package: str) -> None:
        super().__init__(
            f"this needs the optional '{extra}' extra ({package} is not installed); "
            f"install it with: pip install 'seedlock[{extra}]'"
        )
        self.extra = extra
        self.package = package


class ServiceError(SeedlockError, RuntimeError):
    """A server (a hosted API, a ComfyUI) refused a request, failed it, or could not be reached.

    ``service`` names it (``replicate``, ``comfyui``), ``status`` is the HTTP status where
    there was one, and ``url`` the address with every secret taken out.
    """

    def __init__(
        self, message: str, *, service: str, status: int | None = None, url: str | None = None, path: str | None = None
    ) -> None:
        super().__init__(message, path=path)
        self.service = service
        self.status = status
        self.url = url


class ContentFiltered(ServiceError):
    """The provider's content filter withheld or blanked an output."""


class RunRefused(SeedlockError, ValueError):
    """A request or graph is not sent, because what it would give cannot be reproduced or cannot be sent.

    ``needs`` says what would let it run, in library terms: ``allow-unpinned`` (consent
    to an unpinned or hidden-pass request), ``key:NAME`` (that environment variable).
    """

    def __init__(self, message: str, *, needs: str | None = None, path: str | None = None) -> None:
        super().__init__(message, path=path)
        self.needs = needs
