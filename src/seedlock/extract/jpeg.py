"""Walk JPEG marker segments up to the scan data: EXIF, XMP, COM and C2PA (APP11)."""

from __future__ import annotations

import struct
from typing import BinaryIO

from seedlock.errors import ImageFormatError
from seedlock.extract.c2pa import parse_c2pa
from seedlock.extract.exif import decode_text, parse_exif
from seedlock.extract.raw import JPEG_COMMENT, XMP, RawMetadata

_XMP_ID = b"http://ns.adobe.com/xap/1.0/\x00"
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def read_jpeg(f: BinaryIO, size: int, raw: RawMetadata) -> None:
    """Fill ``raw`` from an open JPEG positioned after its SOI marker."""
    pos = 2
    c2pa_parts: list[bytes] = []
    while True:
        marker = f.read(2)
        if len(marker) < 2:
            raise ImageFormatError(f"truncated JPEG: no marker at offset {pos}")
        if marker[0] != 0xFF:
            raise ImageFormatError(f"corrupt JPEG: expected a marker at offset {pos}")
        code = marker[1]
        if code == 0xFF:  # fill byte
            f.seek(-1, 1)
            pos += 1
            continue
        if code in (0xD9, 0xDA):  # EOI or start of scan: no metadata after this point
            break
        if 0xD0 <= code <= 0xD7 or code == 0x01:
            pos += 2
            continue
        head = f.read(2)
        if len(head) < 2:
            raise ImageFormatError(f"truncated JPEG: segment length missing at offset {pos}")
        (length,) = struct.unpack(">H", head)
        if length < 2 or pos + 2 + length > size:
            raise ImageFormatError(f"truncated JPEG: segment 0x{code:02X} at offset {pos} runs past the end")
        if code in (0xE1, 0xFE, 0xEB) or code in _SOF:
            data = f.read(length - 2)
            if code == 0xE1 and data.startswith(b"Exif\x00\x00"):
                parse_exif(data[6:], raw, "jpeg:APP1")
            elif code == 0xE1 and data.startswith(_XMP_ID):
                raw.add(XMP, data[len(_XMP_ID) :].decode("utf-8", "replace"), "jpeg:APP1")
            elif code == 0xFE:
                text = decode_text(data)
                if text:
                    raw.add(JPEG_COMMENT, text, "jpeg:COM")
            elif code == 0xEB and data[:2] == b"JP":
                c2pa_parts.append(data[8:] if not c2pa_parts else data[16:])
            elif code in _SOF and len(data) >= 5:
                raw.height, raw.width = struct.unpack_from(">HH", data, 1)
        else:
            f.seek(length - 2, 1)
        pos += 2 + length
    if c2pa_parts:
        raw.c2pa = parse_c2pa(b"".join(c2pa_parts), "jpeg:APP11")
