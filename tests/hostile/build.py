"""Hostile inputs, built by the tests themselves (never committed as big files)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def pixel_bomb(path: Path, side: int = 13300) -> Path:
    """A valid grey PNG of side x side pixels that weighs well under a megabyte (all zeros)."""
    raw_row = b"\x00" * (side + 1)
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(raw_row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def noise_png(path: Path, w: int, h: int, seed: int, text: dict[str, str] | None = None) -> Path:
    """An RGB noise PNG (incompressible), written in one go."""
    rng = np.random.default_rng(seed)
    info = PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB").save(path, pnginfo=info, compress_level=1)
    return path


def png_with_text(path: Path, fields: dict[str, str], size: tuple[int, int] = (8, 8), color: int = 90) -> Path:
    info = PngInfo()
    for k, v in fields.items():
        info.add_text(k, v)
    Image.new("RGB", size, (color, 40, 200)).save(path, pnginfo=info)
    return path


def plain_png(path: Path, size: tuple[int, int] = (8, 8), color: int = 90) -> Path:
    buf = io.BytesIO()
    Image.new("RGB", size, (color, 40, 200)).save(buf, "PNG")
    path.write_bytes(buf.getvalue())
    return path


INFOTEXT = "a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 8x8, Model: m"
