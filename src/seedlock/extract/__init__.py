"""Containers: turn an image file into :class:`RawMetadata` (text fields), nothing more."""

from __future__ import annotations

import os

from seedlock.errors import ImageFormatError, SeedlockError
from seedlock.extract.jpeg import read_jpeg
from seedlock.extract.png import HEAD as PNG_HEAD
from seedlock.extract.png import SIGNATURE as PNG_SIGNATURE
from seedlock.extract.png import read_png
from seedlock.extract.raw import C2PAInfo, RawMetadata
from seedlock.extract.webp import read_webp
from seedlock.files import open_regular

__all__ = ["C2PAInfo", "RawMetadata", "extract", "sniff_format"]


def sniff_format(head: bytes) -> str | None:
    """Name the container from the first 12 bytes, or None when it is not one we walk."""
    if head.startswith(PNG_SIGNATURE):
        return "png"
    if head.startswith(b"\xff\xd8"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def extract(path: str | os.PathLike[str], *, stealth: str = "auto") -> RawMetadata:
    """Read every metadata carrier of an image file without decoding its pixels.

    Args:
        path: PNG, JPEG or WebP file.
        stealth: ``"auto"`` scans pixel LSBs only when no other metadata was found,
            ``"always"`` scans them too, ``"never"`` skips the scan.

    Raises:
        ImageFormatError: the file is empty, not an image we walk, or damaged.
    """
    spath = os.fspath(path)
    try:
        # a bare descriptor and one pread of the head: a Python file object costs more
        # than the whole PNG walk on a typical file
        fd = open_regular(spath)
        try:
            size = os.fstat(fd).st_size
            head = os.pread(fd, PNG_HEAD, 0)
            fmt = sniff_format(head[:12])
            if fmt is None:
                if not head:
                    raise ImageFormatError("empty file", path=spath)
                raise ImageFormatError("not a PNG, JPEG or WebP file", path=spath)
            raw = RawMetadata(format=fmt)
            if fmt == "png":
                read_png(fd, size, raw, head)
            else:
                with os.fdopen(fd, "rb", closefd=False) as f:
                    if fmt == "jpeg":
                        f.seek(2)
                        read_jpeg(f, size, raw)
                    else:
                        f.seek(12)
                        read_webp(f, size, raw)
        finally:
            os.close(fd)
    except SeedlockError as exc:
        if exc.path is None:
            exc.path = spath
        raise
    except OSError as exc:
        raise ImageFormatError(exc.strerror or str(exc), path=spath) from None
    if stealth == "always" or (stealth == "auto" and not raw.fields and fmt in ("png", "webp")):
        from seedlock.extract.stealth import read_stealth

        found = read_stealth(spath)
        if found:
            raw.stealth_kind, text = found
            raw.add("Stealth", text, f"stealth:{raw.stealth_kind}")
    return raw
