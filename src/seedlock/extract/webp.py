"""Walk WebP (RIFF) chunks: EXIF, XMP and C2PA, seeking over image data."""

from __future__ import annotations

import struct
from typing import BinaryIO

from seedlock.errors import ImageFormatError
from seedlock.extract.c2pa import parse_c2pa
from seedlock.extract.exif import parse_exif
from seedlock.extract.raw import XMP, RawMetadata

_MAX_CHUNKS = 1_000_000


def read_webp(f: BinaryIO, size: int, raw: RawMetadata) -> None:
    """Fill ``raw`` from an open WebP positioned after the 12-byte RIFF/WEBP header."""
    pos = 12
    count = 0
    while pos + 8 <= size:
        header = f.read(8)
        if len(header) < 8:
            break
        kind, length = struct.unpack("<4sI", header)
        if length > size - pos - 8:
            raise ImageFormatError(
                f"truncated WebP: chunk {kind!r} at offset {pos} claims {length} bytes but only {size - pos - 8} remain"
            )
        count += 1
        if count > _MAX_CHUNKS:
            raise ImageFormatError("WebP has more than a million chunks")
        padded = length + (length & 1)
        if kind in (b"EXIF", b"XMP ", b"C2PA", b"VP8X"):
            data = f.read(length)
            if padded != length:
                f.seek(1, 1)
            if kind == b"EXIF":
                parse_exif(data, raw, "webp:EXIF")
            elif kind == b"XMP ":
                raw.add(XMP, data.decode("utf-8", "replace"), "webp:XMP")
            elif kind == b"C2PA":
                raw.c2pa = parse_c2pa(data, "webp:C2PA")
            elif len(data) >= 10:
                raw.has_alpha = bool(data[0] & 0x10)
                raw.width = 1 + int.from_bytes(data[4:7], "little")
                raw.height = 1 + int.from_bytes(data[7:10], "little")
        else:
            if kind == b"VP8L" and raw.width is None:
                data = f.read(min(length, 5))
                if len(data) == 5 and data[0] == 0x2F:
                    bits = int.from_bytes(data[1:5], "little")
                    raw.width = (bits & 0x3FFF) + 1
                    raw.height = ((bits >> 14) & 0x3FFF) + 1
                    raw.has_alpha = bool((bits >> 28) & 1)
                f.seek(padded - len(data), 1)
            elif kind == b"VP8 " and raw.width is None:
                data = f.read(min(length, 10))
                if len(data) == 10:
                    raw.width = int.from_bytes(data[6:8], "little") & 0x3FFF
                    raw.height = int.from_bytes(data[8:10], "little") & 0x3FFF
                f.seek(padded - len(data), 1)
            else:
                f.seek(padded, 1)
        pos += 8 + padded
