""" "Stealth pnginfo": metadata hidden in the least-significant bits of the pixels.

Layout (metadata-formats.md §1.6): bits read column-major (x outer, y inner) from the
alpha LSBs (one bit per pixel) or the R, G, B LSBs in turn (three per pixel); a
15-byte ASCII signature, a 32-bit big-endian payload length in *bits*, then the
payload, gzip-compressed for the ``*comp`` signatures. This survives sites that strip
chunks, which is why it is scanned only when nothing else is found (or when asked):
it needs pixels.

Because the bits run down whole columns from the left, a payload lives in the first
few columns. PNG filters (Sub, Up, Average, Paeth) only look left and up, so the
first ``k`` pixels of every scanline decode on their own: an 8-bit, non-interlaced PNG
is inflated only as far as needed (152 rows settle "no signature"), and only its
first columns are unfiltered. Other images take the full decode through Pillow.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from typing import IO

from seedlock.errors import MetadataTooLarge, UnsupportedLayout
from seedlock.extract.raw import MAX_TEXT_BYTES
from seedlock.extract.scanlines import Scanlines

_SIGNATURES = {
    b"stealth_pnginfo": ("alpha", False),
    b"stealth_pngcomp": ("alpha", True),
    b"stealth_rgbinfo": ("rgb", False),
    b"stealth_rgbcomp": ("rgb", True),
}
#: Largest image (pixels) decoded for a stealth scan; larger files are skipped.
MAX_PIXELS = 64 * 1024 * 1024
#: signature (15 bytes) and payload length (32 bits)
_HEADER_BITS = 15 * 8 + 32
#: LSBs each channel gives per pixel
_PER_PIXEL = {"alpha": 1, "rgb": 3}

#: byte value -> its least-significant bit, and bit value -> ASCII digit, for bytes.translate
_LSB = bytes(v & 1 for v in range(256))
_DIGIT = bytes(48 + (v & 1) for v in range(256))


def _bits_to_bytes(bits: bytes) -> bytes:
    """Pack a run of 0/1 bytes, most significant first, without numpy (its import alone
    costs more than a scan): the bits become ASCII digits and one base-2 ``int``."""
    n = len(bits) - len(bits) % 8
    if n == 0:
        return b""
    return int(bits[:n].translate(_DIGIT), 2).to_bytes(n // 8, "big")


def _gunzip(data: bytes) -> bytes:
    d = zlib.decompressobj(wbits=31)
    try:
        out = d.decompress(data, MAX_TEXT_BYTES)
    except zlib.error:
        return gzip.decompress(data)
    if d.unconsumed_tail:
        raise MetadataTooLarge(f"stealth payload inflates beyond {MAX_TEXT_BYTES // 2**20} MiB")
    return out


def _header(bits: bytes, channel: str) -> tuple[bytes, bool, int] | None:
    """The signature, whether the payload is gzipped, and its length in bits; or None."""
    if len(bits) < _HEADER_BITS:
        return None
    sig = _bits_to_bytes(bits[:120])
    entry = _SIGNATURES.get(sig)
    if entry is None or entry[0] != channel:
        return None
    length = int.from_bytes(_bits_to_bytes(bits[120:_HEADER_BITS]), "big")
    if length <= 0:
        return None
    return sig, entry[1], length


def _payload(bits: bytes, sig: bytes, compressed: bool, length: int) -> tuple[str, str] | None:
    payload = _bits_to_bytes(bits[_HEADER_BITS : _HEADER_BITS + length])
    if compressed:
        try:
            payload = _gunzip(payload)
        except (OSError, EOFError, zlib.error):
            return None
    return sig.decode("ascii"), payload.decode("utf-8", errors="replace")


def _decode(bits: bytes, channel: str) -> tuple[str, str] | None:
    found = _header(bits, channel)
    if found is None or found[2] > len(bits) - _HEADER_BITS:
        return None
    return _payload(bits, *found)


def read_stealth(path: str) -> tuple[str, str] | None:
    """Return ``(signature, text)`` hidden in the image's LSBs, or None.

    Alpha is checked first (the common case and the cheap one), then RGB.
    """
    try:
        with open(path, "rb") as f:
            return _scan_png(f)
    except UnsupportedLayout:
        return _scan_decoded(path)
    except (OSError, ValueError, zlib.error, struct.error):
        return None


# --- 8-bit non-interlaced PNG: only the rows and columns the payload uses --------------


#: scanline bytes kept whole while looking for a signature (a 1024-wide RGBA image's 152 rows fit)
_KEEP_WHOLE = 1 << 20
#: PNG colour type (8 bits per sample) -> (bytes per pixel, Pillow mode, channels to scan)
_PNG_LAYOUTS: dict[int, tuple[int, str, tuple[str, ...]]] = {
    6: (4, "RGBA", ("alpha", "rgb")),
    2: (3, "RGB", ("rgb",)),
    4: (2, "LA", ("alpha",)),
    0: (1, "L", ()),
}


def _extent(bits: int, channel: str, height: int) -> tuple[int, int]:
    """(columns, rows) of the top-left block that holds the first ``bits`` bits."""
    pixels = -(-bits // _PER_PIXEL[channel])
    cols = -(-pixels // height)
    return cols, (height if cols > 1 else pixels)


def _channel_bits(rows: list[bytes], cols: int, bpp: int, mode: str, channel: str) -> bytes:
    """Unfilter the first ``cols`` pixels of these scanlines; their LSBs, column-major."""
    from PIL import Image

    data = b"".join([r[: 1 + cols * bpp] for r in rows])
    img = Image.frombytes(mode, (cols, len(rows)), zlib.compress(data, 0), "zip", mode)
    if channel == "alpha":
        img = img.getchannel("A")
    elif img.mode != "RGB":
        img = img.convert("RGB")
    return img.transpose(Image.Transpose.TRANSPOSE).tobytes().translate(_LSB)


def _scan_png(f: IO[bytes]) -> tuple[str, str] | None:
    head = f.read(33)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise UnsupportedLayout("not an 8-bit, non-interlaced PNG layout")
    width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
    layout = _PNG_LAYOUTS.get(ctype)
    if layout is None or depth != 8 or interlace:
        raise UnsupportedLayout("not an 8-bit, non-interlaced PNG layout")
    bpp, mode, channels = layout
    if not channels or width * height == 0 or width * height > MAX_PIXELS:
        return None
    stride = 1 + width * bpp
    probe = {c: _extent(_HEADER_BITS, c, height) for c in channels}
    probe = {c: e for c, e in probe.items() if e[0] <= width}
    if not probe:
        return None
    data_start = f.tell()
    lines = Scanlines(f, stride)
    probe_rows = max(rows for _, rows in probe.values())
    # Most images keep their first scanlines whole, so a payload continues the same
    # inflate; a wide one keeps only the header columns and inflates again for a payload.
    whole = probe_rows * stride <= _KEEP_WHOLE
    first = lines.take(probe_rows, stride if whole else 1 + max(cols for cols, _ in probe.values()) * bpp)
    for channel, (cols, rows) in probe.items():
        found = _header(_channel_bits(first[:rows], cols, bpp, mode, channel), channel)
        if found is None:
            continue
        sig, compressed, length = found
        if length > width * height * _PER_PIXEL[channel] - _HEADER_BITS:
            continue
        cols, rows = _extent(_HEADER_BITS + length, channel, height)
        keep = 1 + cols * bpp
        if whole:
            block = first[:rows]
            if rows > len(first):
                block += lines.take(rows - len(first), keep)
        else:
            f.seek(data_start)
            block = Scanlines(f, stride).take(rows, keep)
        return _payload(_channel_bits(block, cols, bpp, mode, channel), sig, compressed, length)
    return None


# --- anything else: decode it all through Pillow ------------------------------------------


def _scan_decoded(path: str) -> tuple[str, str] | None:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - a core dependency
        return None
    try:
        with Image.open(path) as opened:
            img: Image.Image = opened
            if img.width * img.height > MAX_PIXELS or img.width * img.height == 0:
                return None
            if img.mode == "P":
                img = img.convert("RGBA")
            bands = img.getbands()
            if "A" in bands:
                # transposed, each row of bytes is one column: the column-major bit order
                alpha = img.getchannel("A").transpose(Image.Transpose.TRANSPOSE).tobytes()
                found = _decode(alpha.translate(_LSB), "alpha")
                if found:
                    return found
            if set("RGB") <= set(bands):
                rgb = img.convert("RGB") if img.mode != "RGB" else img
                found = _decode(rgb.transpose(Image.Transpose.TRANSPOSE).tobytes().translate(_LSB), "rgb")
                if found:
                    return found
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return None
