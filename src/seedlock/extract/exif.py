"""A bounded EXIF (TIFF) walker that pulls out the tags generators use as text carriers.

Generators disagree on where and how they write text (see metadata-formats.md §1.2):
UserComment in the Exif sub-IFD or in IFD0, with a ``UNICODE`` prefix whose body
may be UTF-16BE or UTF-16LE regardless of the TIFF byte order, an ``ASCII`` prefix
in front of UTF-8, or no prefix at all. This module decodes all of them.
"""

from __future__ import annotations

import struct

from seedlock.extract.raw import (
    EXIF_ARTIST,
    EXIF_IMAGE_DESCRIPTION,
    EXIF_MAKE,
    EXIF_MAKER_NOTE,
    EXIF_MODEL,
    EXIF_SOFTWARE,
    EXIF_USER_COMMENT,
    RawMetadata,
)

_TAGS = {
    0x010E: EXIF_IMAGE_DESCRIPTION,
    0x010F: EXIF_MAKE,
    0x0110: EXIF_MODEL,
    0x0131: EXIF_SOFTWARE,
    0x013B: EXIF_ARTIST,
    0x9286: EXIF_USER_COMMENT,
    0x927C: EXIF_MAKER_NOTE,
}
_EXIF_IFD = 0x8769
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
_MAX_ENTRIES = 4096


def decode_text(data: bytes) -> str:
    """UTF-8 first (many writers put UTF-8 where Latin-1/ASCII belongs), then Latin-1."""
    data = data.rstrip(b"\x00")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _utf16_order(body: bytes) -> str:
    """Guess the UTF-16 byte order from where the zero bytes of ASCII-range code units sit."""
    even = body[0:200:2].count(0)
    odd = body[1:200:2].count(0)
    return "utf-16-le" if odd > even else "utf-16-be"


def decode_user_comment(data: bytes) -> str:
    """Decode an EXIF UserComment with or without its 8-byte character-code prefix."""
    prefix = data[:8]
    if prefix == b"UNICODE\x00":
        body = data[8:]
        if len(body) % 2:
            body = body[:-1]
        if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
            return body.decode("utf-16").rstrip("\x00")
        return body.decode(_utf16_order(body), errors="replace").rstrip("\x00")
    if prefix == b"ASCII\x00\x00\x00" or prefix == b"\x00" * 8:
        return decode_text(data[8:])
    if prefix == b"JIS\x00\x00\x00\x00\x00":
        return data[8:].decode("shift_jis", errors="replace").rstrip("\x00")
    return decode_text(data)


def parse_exif(blob: bytes, raw: RawMetadata, source: str) -> None:
    """Walk IFD0 and the Exif sub-IFD of a TIFF blob, adding text tags to ``raw``.

    Offsets are checked against the blob and each IFD is visited once, so a hostile
    blob cannot cause loops or reads outside the buffer.
    """
    if blob.startswith(b"Exif\x00\x00"):
        blob = blob[6:]
    if len(blob) < 8:
        raw.warnings.append(f"{source}: EXIF block too short")
        return
    order = blob[:2]
    if order == b"II":
        end = "<"
    elif order == b"MM":
        end = ">"
    else:
        raw.warnings.append(f"{source}: EXIF block has no TIFF header")
        return
    (ifd0,) = struct.unpack_from(end + "I", blob, 4)
    seen: set[int] = set()
    queue = [(ifd0, "IFD0")]
    while queue:
        offset, ifd_name = queue.pop(0)
        if offset in seen or offset + 2 > len(blob) or offset < 8:
            continue
        seen.add(offset)
        (count,) = struct.unpack_from(end + "H", blob, offset)
        count = min(count, _MAX_ENTRIES, (len(blob) - offset - 2) // 12)
        for i in range(count):
            pos = offset + 2 + 12 * i
            tag, typ, n = struct.unpack_from(end + "HHI", blob, pos)
            if tag == _EXIF_IFD:
                (sub,) = struct.unpack_from(end + "I", blob, pos + 8)
                queue.append((sub, "ExifIFD"))
                continue
            key = _TAGS.get(tag)
            if key is None:
                continue
            size = _TYPE_SIZES.get(typ, 1) * n
            if size <= 4:
                data = blob[pos + 8 : pos + 8 + size]
            else:
                (ptr,) = struct.unpack_from(end + "I", blob, pos + 8)
                if ptr + size > len(blob):
                    raw.warnings.append(f"{source}: EXIF tag 0x{tag:04X} points outside the block")
                    continue
                data = blob[ptr : ptr + size]
            if tag == 0x9286:
                text = decode_user_comment(data)
                if "\ufffd" in text and b"\xff\xfd" not in data and b"\xfd\xff" not in data:
                    raw.warnings.append(
                        f"{source}: UserComment holds invalid UTF-16; "
                        f"{text.count(chr(0xFFFD))} code unit(s) shown as U+FFFD"
                    )
            elif tag == 0x010E and data.startswith(b"\x00\x00\x00\x00"):
                # NovelAI WebP puts four NULs in front of the UTF-8 description
                text = decode_text(data[4:])
            else:
                text = decode_text(data)
            if text:
                raw.add(key, text, f"{source}:{ifd_name}")
