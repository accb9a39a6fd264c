"""Walk PNG chunks for metadata without inflating image data.

Text chunks may sit after IDAT (Pillow's ``Image.info`` misses those), so the walker
goes to IEND, seeking over image data. Chunk lengths are checked against the file
size before anything is read, and compressed text is inflated with a hard bound.
"""

from __future__ import annotations

import os
import struct
import zlib

from seedlock.errors import ImageFormatError, MetadataTooLarge
from seedlock.extract.c2pa import parse_c2pa
from seedlock.extract.exif import decode_text, parse_exif
from seedlock.extract.raw import MAX_TEXT_BYTES, XMP, RawMetadata

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT_TYPES = {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"caBX", b"comf"}
_MAX_CHUNKS = 1_000_000
#: bytes read at once from the start; metadata almost always sits there
HEAD = 8 * 1024


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


def _key(keyword: str) -> str:
    # XMP may come in any of the three text chunk types
    return XMP if keyword == "XML:com.adobe.xmp" else keyword


def _text_chunk(kind: bytes, data: bytes, raw: RawMetadata) -> None:
    if kind == b"tEXt":
        key, nul = _keyword(data, "tEXt")
        # Many writers put UTF-8 into tEXt (Stability Matrix, TensorArt): try it first.
        raw.add(_key(key), decode_text(data[nul + 1 :]), "png:tEXt")
    elif kind == b"zTXt":
        key, nul = _keyword(data, "zTXt")
        raw.add(_key(key), decode_text(_inflate(data[nul + 2 :], f"zTXt '{key}'")), "png:zTXt")
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
        raw.add(_key(key), text, "png:iTXt")
    elif kind == b"eXIf":
        parse_exif(data, raw, "png:eXIf")
    elif kind == b"caBX":
        raw.c2pa = parse_c2pa(data, "png:caBX")
    elif kind == b"comf":
        key, nul = _keyword(data, "comf")
        raw.add(key, decode_text(data[nul + 1 :]), "png:comf")


def parse_text_chunk(kind: bytes, data: bytes, raw: RawMetadata) -> None:
    """Add one text-bearing chunk (tEXt, zTXt, iTXt, eXIf, caBX, comf) to ``raw``."""
    _text_chunk(kind, data, raw)


def read_png(fd: int, size: int, raw: RawMetadata, head: bytes = b"") -> None:
    """Fill ``raw`` from a PNG open as descriptor ``fd`` (the walk starts after the signature).

    ``head`` is the start of the file when the caller already read it (``HEAD`` bytes,
    where metadata almost always sits); beyond it, only the 8-byte header of each chunk
    is read with ``pread``, so image data is never loaded.
    """
    if not head:
        head = os.pread(fd, HEAD, 0)
    pos = 8
    count = 0
    seen_idat = False
    unpack = struct.unpack_from
    while True:
        if pos + 8 <= len(head):
            length, kind = unpack(">I4s", head, pos)
        else:
            header = os.pread(fd, 8, pos)
            if len(header) < 8:
                if seen_idat:
                    raw.warnings.append("file ends without IEND")
                    return
                raise ImageFormatError(f"truncated PNG: chunk header missing at offset {pos}")
            length, kind = unpack(">I4s", header, 0)
        if length > size - pos - 12:
            raise ImageFormatError(
                f"truncated PNG: chunk {kind!r} at offset {pos} claims {length} bytes "
                f"but only {max(size - pos - 12, 0)} remain"
            )
        count += 1
        if count > _MAX_CHUNKS:
            raise ImageFormatError("PNG has more than a million chunks")
        if kind in _TEXT_TYPES or kind == b"IHDR":
            end = pos + 12 + length
            body = head[pos + 8 : end] if end <= len(head) else os.pread(fd, length + 4, pos + 8)
            data = body[:length]
            (crc,) = unpack(">I", body, length)
            if zlib.crc32(kind + data) != crc:
                raise ImageFormatError(f"bad CRC in {kind.decode('latin-1')} chunk at offset {pos}")
            if kind == b"IHDR":
                if length < 13:
                    raise ImageFormatError("IHDR chunk is too short")
                raw.width, raw.height, _, color = unpack(">IIBB", data, 0)
                raw.has_alpha = color in (4, 6)
            else:
                try:
                    _text_chunk(kind, data, raw)
                except MetadataTooLarge as exc:
                    # one oversized chunk must not hide the others (a valid record among them)
                    raw.warnings.append(f"{exc.message}; that chunk was skipped")
        elif kind == b"IEND":
            return
        elif kind == b"IDAT":
            seen_idat = True
        pos += length + 12
