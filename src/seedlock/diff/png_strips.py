"""Decode a large PNG into an array strip by strip, never holding a second full copy.

Pillow keeps an RGB image at four bytes a pixel and ``np.asarray`` copies it again, so a
full decode of an 8192x8192 image peaks near 470 MB before the 200 MB array is all that
is left. Here the IDAT stream is inflated a bounded step at a time and each strip of
filtered scanlines is unfiltered by Pillow's own PNG decoder (the strip's first row refers
to the previous one, so the previous row, reconstructed, goes first with filter type 0).
The result is byte-identical to Pillow's full decode; layouts this does not handle
(interlaced, bit depths other than 8) return None and the caller decodes whole.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from seedlock.extract.scanlines import Scanlines

__all__ = ["decode_png_strips", "png_header"]

#: colour type -> (bytes per pixel at 8 bits, Pillow mode)
_LAYOUTS = {0: (1, "L"), 2: (3, "RGB"), 3: (1, "P"), 4: (2, "LA"), 6: (4, "RGBA")}
_STRIP_ROWS = 256


def png_header(head: bytes) -> tuple[int, int, int, int, int] | None:
    """(width, height, bit depth, colour type, interlace) from a PNG's first 33 bytes, else None."""
    if len(head) < 33 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
    return w, h, depth, ctype, interlace


def _transparency(ctype: int, trns: bytes) -> Any:
    # the same values Pillow's PNG plugin puts in info["transparency"]
    if ctype == 3:
        return trns
    if ctype == 0 and len(trns) >= 2:
        return struct.unpack(">H", trns[:2])[0]
    if ctype == 2 and len(trns) >= 6:
        return struct.unpack(">HHH", trns[:6])
    return None


def decode_png_strips(path: str | Path, mode: str | None = None) -> np.ndarray[Any, Any] | None:
    """The PNG at ``path`` as an HxWxC uint8 array in ``mode`` (RGB or RGBA; None: RGBA when it has alpha).

    Returns None for a layout the strip decoder does not handle.

    Raises:
        ValueError: the image data is damaged or ends early.
    """
    from PIL import Image

    with open(path, "rb") as f:
        header = png_header(f.read(33))
        if header is None:
            return None
        w, h, depth, ctype, interlace = header
        if depth != 8 or interlace or ctype not in _LAYOUTS or w == 0 or h == 0:
            return None
        palette, trns = b"", b""
        while True:
            hdr = f.read(8)
            if len(hdr) < 8:
                return None
            length, kind = struct.unpack(">I4s", hdr)
            if kind == b"IDAT":
                f.seek(-8, 1)
                break
            if kind == b"IEND":
                return None
            body = f.read(length)
            f.seek(4, 1)
            if kind == b"PLTE":
                palette = body
            elif kind == b"tRNS":
                trns = body
        bpp, src_mode = _LAYOUTS[ctype]
        transparency = _transparency(ctype, trns) if trns else None
        want = mode or ("RGBA" if src_mode in ("LA", "RGBA") or transparency is not None else "RGB")
        out = np.empty((h, w, len(want)), dtype=np.uint8)
        stride = 1 + w * bpp
        lines = Scanlines(f, stride)
        prev: bytes | None = None
        for y0 in range(0, h, _STRIP_ROWS):
            n = min(_STRIP_ROWS, h - y0)
            data = b"".join(lines.take(n, stride))
            lead = 0 if prev is None else 1
            if prev is not None:
                data = b"\x00" + prev + data
            img = Image.frombytes(src_mode, (w, n + lead), zlib.compress(data, 0), "zip", src_mode)
            if palette:
                img.putpalette(palette)
            if transparency is not None:
                img.info["transparency"] = transparency
            prev = img.crop((0, n + lead - 1, w, n + lead)).tobytes()
            strip = img.crop((0, lead, w, n + lead)) if lead else img
            if transparency is not None:
                strip.info["transparency"] = transparency
            if strip.mode != want:
                strip = strip.convert(want)
            out[y0 : y0 + n] = np.asarray(strip)
    return out
