""" "Stealth pnginfo": metadata hidden in the least-significant bits of the pixels.

Layout (metadata-formats.md §1.6): bits read column-major (x outer, y inner) from the
alpha LSBs (one bit per pixel) or the R, G, B LSBs in turn (three per pixel); a
15-byte ASCII signature, a 32-bit big-endian payload length in *bits*, then the
payload, gzip-compressed for the ``*comp`` signatures. This survives sites that strip
chunks, which is why it is scanned only when nothing else is found (or when asked):
it needs the decoded pixels.
"""

from __future__ import annotations

import gzip
import zlib

from seedlock.errors import MetadataTooLarge
from seedlock.extract._raw import MAX_TEXT_BYTES

_SIGNATURES = {
    b"stealth_pnginfo": ("alpha", False),
    b"stealth_pngcomp": ("alpha", True),
    b"stealth_rgbinfo": ("rgb", False),
    b"stealth_rgbcomp": ("rgb", True),
}
#: Largest image (pixels) decoded for a stealth scan; larger files are skipped.
MAX_PIXELS = 64 * 1024 * 1024


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


def _decode(bits: bytes, channel: str) -> tuple[str, str] | None:
    if len(bits) < 15 * 8 + 32:
        return None
    sig = _bits_to_bytes(bits[:120])
    entry = _SIGNATURES.get(sig)
    if entry is None or entry[0] != channel:
        return None
    length = int.from_bytes(_bits_to_bytes(bits[120:152]), "big")
    if length <= 0 or length > len(bits) - 152:
        return None
    payload = _bits_to_bytes(bits[152 : 152 + length])
    if entry[1]:
        try:
            payload = _gunzip(payload)
        except (OSError, EOFError, zlib.error):
            return None
    return sig.decode("ascii"), payload.decode("utf-8", errors="replace")


def read_stealth(path: str) -> tuple[str, str] | None:
    """Return ``(signature, text)`` hidden in the image's LSBs, or None.

    Alpha is checked first (the common case and the cheap one), then RGB.
    """
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
