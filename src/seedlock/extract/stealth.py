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
from typing import Any

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


def _bits_to_bytes(bits: Any) -> bytes:
    import numpy as np

    n = len(bits) - len(bits) % 8
    return bytes(np.packbits(bits[:n]))


def _gunzip(data: bytes) -> bytes:
    d = zlib.decompressobj(wbits=31)
    try:
        out = d.decompress(data, MAX_TEXT_BYTES)
    except zlib.error:
        return gzip.decompress(data)
    if d.unconsumed_tail:
        raise MetadataTooLarge(f"stealth payload inflates beyond {MAX_TEXT_BYTES // 2**20} MiB")
    return out


def _decode(bits: Any, channel: str) -> tuple[str, str] | None:
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
        import numpy as np
        from PIL import Image
    except ImportError:  # pragma: no cover - both are core dependencies
        return None
    try:
        with Image.open(path) as opened:
            img: Image.Image = opened
            if img.width * img.height > MAX_PIXELS or img.width * img.height == 0:
                return None
            if img.mode == "P":
                img = img.convert("RGBA")
            bands = img.getbands()
            arr: Any = None
            if "A" in bands:
                alpha = np.asarray(img.getchannel("A"))
                found = _decode((alpha.T & 1).ravel(), "alpha")
                if found:
                    return found
            if set("RGB") <= set(bands):
                arr = np.asarray(img.convert("RGB") if img.mode != "RGB" else img)
                found = _decode((arr.transpose(1, 0, 2) & 1).ravel(), "rgb")
                if found:
                    return found
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return None
