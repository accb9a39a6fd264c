"""Walk PNG chunks for metadata without inflating image data.

Text chunks may sit after IDAT (Pillow's ``Image.info`` misses those), so the walker
goes to IEND, seeking over image data. Chunk lengths are checked against the file
size before anything is read, and compressed text is inflated with a hard bound.
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

from seedlock.errors import ImageFormatError, MetadataTooLarge
from seedlock.extract._raw import MAX_TEXT_BYTES, XMP, RawMetadata
from seedlock.extract.c2pa import parse_c2pa
from seedlock.extract.exif import decode_text, parse_exif

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT_TYPES = {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"caBX", b"comf"}
_MAX_CHUNKS = 1_000_000


def _inflate(data: bytes, what: str) -> bytes:
    """zlib-inflate at most MAX_TEXT_BYTES; a bomb is refused, not expanded."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, MAX_TEXT_BYTES)
    except zlib.error as exc:
        raise ImageFormatError(f"{what}: corrupt compressed text ({exc})") from None
    if d.unconsumed_tail:
        raise MetadataTooLarge(f"{what}: compressed text inflates beyond {MAX_TEXT_BYTES // 2**20} MiB")
    return out


def _keyword(data: bytes, kind: str) -> tuple[str, int]:
    nul = data.find(b"\x00", 0, 80)
    if nul <= 0:
        raise ImageFormatError(f"{kind} chunk without a valid keyword")
    return data[:nul].decode("latin-1"), nul


def _text_chunk(kind: bytes, data: bytes, raw: RawMetadata) -> None:
    if kind == b"tEXt":
        key, nul = _keyword(data, "tEXt")
        # Many writers put UTF-8 into tEXt (Stability Matrix, TensorArt): try it first.
        raw.add(key, decode_text(data[nul + 1 :]), "png:tEXt")
    elif kind == b"zTXt":
        key, nul = _keyword(data, "zTXt")
        raw.add(key, decode_text(_inflate(data[nul + 2 :], f"zTXt '{key}'")), "png:zTXt")
    elif kind == b"iTXt":
        key, nul = _keyword(data, "iTXt")
        if len(data) < nul + 3:
            raise ImageFormatError(f"iTXt '{key}' chunk is truncated")
        compressed = data[nul + 1]
        lang_end = data.find(b"\x00", nul + 3)
        tkey_end = data.find(b"\x00", lang_end + 1) if lang_end >= 0 else -1
        if tkey_end < 0:
            raise ImageFormatError(f"iTXt '{key}' chunk has no text")
        body = data[tkey_end + 1 :]
        if compressed:
            body = _inflate(body, f"iTXt '{key}'")
        text = body.decode("utf-8", errors="replace").rstrip("\x00")
        raw.add(XMP if key == "XML:com.adobe.xmp" else key, text, "png:iTXt")
    elif kind == b"eXIf":
        parse_exif(data, raw, "png:eXIf")
    elif kind == b"caBX":
        raw.c2pa = parse_c2pa(data, "png:caBX")
    elif kind == b"comf":
        key, nul = _keyword(data, "comf")
        raw.add(key, decode_text(data[nul + 1 :]), "png:comf")


def read_png(f: BinaryIO, size: int, raw: RawMetadata) -> None:
    """Fill ``raw`` from an open PNG positioned after its 8-byte signature."""
    pos = 8
    count = 0
    read = f.read
    seen_idat = False
    while True:
        header = read(8)
        if len(header) < 8:
            if seen_idat:
                raw.warnings.append("file ends without IEND")
                return
            raise ImageFormatError(f"truncated PNG: chunk header missing at offset {pos}")
        length, kind = struct.unpack(">I4s", header)
        if length > size - pos - 12:
            raise ImageFormatError(
                f"truncated PNG: chunk {kind!r} at offset {pos} claims {length} bytes "
                f"but only {max(size - pos - 12, 0)} remain"
            )
        count += 1
        if count > _MAX_CHUNKS:
            raise ImageFormatError("PNG has more than a million chunks")
        if kind == b"IHDR":
            data = read(length + 4)
            if length < 13:
                raise ImageFormatError("IHDR chunk is too short")
            raw.width, raw.height, _, color = struct.unpack_from(">IIBB", data, 0)
            raw.has_alpha = color in (4, 6)
        elif kind in _TEXT_TYPES:
            data = read(length)
            (crc,) = struct.unpack(">I", read(4))
            if zlib.crc32(kind + data) != crc:
                raise ImageFormatError(f"bad CRC in {kind.decode('latin-1')} chunk at offset {pos}")
            _text_chunk(kind, data, raw)
        elif kind == b"IEND":
            return
        else:
            if kind == b"IDAT":
                seen_idat = True
            f.seek(length + 4, 1)
        pos += length + 12
