"""Stealth pnginfo written the way the extension and NovelAI write it reads back exactly."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seedlock.extract import stealth
from seedlock.extract.stealth import read_stealth

TEXT = "a “cat”, テスト\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 4242, Size: 64x48"


def _embed(path: Path, channel: str, compressed: bool, h: int = 48, w: int = 64) -> None:
    payload = gzip.compress(TEXT.encode()) if compressed else TEXT.encode()
    sig = f"stealth_{'png' if channel == 'alpha' else 'rgb'}{'comp' if compressed else 'info'}".encode()
    data = sig + (len(payload) * 8).to_bytes(4, "big") + payload
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
    rng = np.random.default_rng(1)
    if channel == "alpha":
        arr = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
        lsb = np.zeros(h * w, dtype=np.uint8)
        lsb[: bits.size] = bits
        arr[..., 3] = (arr[..., 3] & 0xFE) | lsb.reshape(w, h).T  # column-major
    else:
        arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        lsb = np.zeros(h * w * 3, dtype=np.uint8)
        lsb[: bits.size] = bits
        arr = (arr & 0xFE) | lsb.reshape(w, h, 3).transpose(1, 0, 2)
    Image.fromarray(arr).save(path)


@pytest.mark.parametrize("channel", ["alpha", "rgb"])
@pytest.mark.parametrize("compressed", [False, True])
def test_stealth_round_trip(tmp_path: Path, channel: str, compressed: bool) -> None:
    path = tmp_path / "s.png"
    _embed(path, channel, compressed)
    found = read_stealth(str(path))
    assert found is not None
    sig, text = found
    assert text == TEXT
    assert sig.startswith("stealth_png" if channel == "alpha" else "stealth_rgb")


def test_plain_image_has_no_stealth(tmp_path: Path) -> None:
    path = tmp_path / "plain.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (40, 40, 4), dtype=np.uint8)).save(path)
    assert read_stealth(str(path)) is None


def test_stealth_record_through_read(tmp_path: Path) -> None:
    import seedlock

    path = tmp_path / "s.png"
    _embed(path, "alpha", True)
    rec = seedlock.read(path)
    assert rec.seed == 4242 and rec.generator.value == "a1111"
    assert any("pixel LSBs" in w for w in rec.warnings)


# --- the column reader agrees with a full decode -------------------------------------


def _lsb_image(h: int, w: int, mode: str, payload: bytes, signature: bytes, seed: int = 3) -> np.ndarray:
    """Random pixels of ``mode`` with ``signature + length + payload`` in the LSBs, column-major."""
    data = signature + (len(payload) * 8).to_bytes(4, "big") + payload
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
    rng = np.random.default_rng(seed)
    depth = {"RGBA": 4, "RGB": 3, "LA": 2}[mode]
    arr = rng.integers(0, 256, (h, w, depth), dtype=np.uint8)
    if signature.startswith(b"stealth_png"):
        lsb = np.zeros(h * w, dtype=np.uint8)
        lsb[: bits.size] = bits
        arr[..., -1] = (arr[..., -1] & 0xFE) | lsb.reshape(w, h).T
    elif signature:
        lsb = np.zeros(h * w * 3, dtype=np.uint8)
        lsb[: bits.size] = bits
        arr[..., :3] = (arr[..., :3] & 0xFE) | lsb.reshape(w, h, 3).transpose(1, 0, 2)
    return arr


def _paeth(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _png_every_filter(arr: np.ndarray) -> bytes:
    """An 8-bit PNG whose rows cycle through all five filter types (None, Sub, Up, Avg, Paeth)."""
    h, w, depth = arr.shape
    ctype = {4: 6, 3: 2, 2: 4}[depth]
    px = arr.reshape(h, w * depth).astype(np.int32)
    lines = []
    for y in range(h):
        row = px[y]
        up = px[y - 1] if y else np.zeros_like(row)
        left = np.concatenate([np.zeros(depth, np.int32), row[:-depth]])
        upleft = np.concatenate([np.zeros(depth, np.int32), up[:-depth]])
        kind = y % 5
        pred = [0 * row, left, up, (left + up) // 2, _paeth(left, up, upleft)][kind]
        lines.append(bytes([kind]) + ((row - pred) % 256).astype(np.uint8).tobytes())

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0)
    idat = zlib.compress(b"".join(lines), 6)
    # split the image data over several IDAT chunks, as encoders do
    parts = [idat[i : i + 997] for i in range(0, len(idat), 997)]
    body = b"".join(chunk(b"IDAT", p) for p in parts)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + body + chunk(b"IEND", b"")


#: (160, 1800) is wide enough that the scan keeps only header columns and inflates twice
SHAPES = [(48, 64), (200, 30), (160, 3), (5, 400), (151, 2), (152, 1), (1, 2000), (300, 300), (160, 1800)]


@pytest.mark.parametrize("h,w", SHAPES)
@pytest.mark.parametrize(
    "mode,signature",
    [
        ("RGBA", b"stealth_pnginfo"),
        ("RGBA", b"stealth_pngcomp"),
        ("RGBA", b"stealth_rgbinfo"),
        ("RGB", b"stealth_rgbcomp"),
        ("LA", b"stealth_pnginfo"),
        ("RGBA", b""),
        ("RGB", b""),
    ],
)
def test_column_reader_matches_full_decode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, h: int, w: int, mode: str, signature: bytes
) -> None:
    text = (TEXT * 3).encode()
    payload = gzip.compress(text) if signature.endswith(b"comp") else text
    per_pixel = 1 if signature.startswith(b"stealth_png") else 3
    fits = (len(signature) + 4 + len(payload)) * 8 <= h * w * per_pixel
    arr = _lsb_image(h, w, mode, payload if fits else b"", signature if fits else b"")
    path = tmp_path / "s.png"
    path.write_bytes(_png_every_filter(arr))
    with Image.open(path) as im:  # the hand-made PNG is what Pillow reads, too
        assert np.array_equal(np.asarray(im), arr.reshape(h, w, -1))
    full = stealth._scan_decoded(str(path))
    if fits and signature:
        assert full is not None and full[1] == TEXT * 3
    else:
        assert full is None

    def no_fallback(path: str) -> None:
        raise AssertionError("8-bit PNGs are read column by column")

    monkeypatch.setattr(stealth, "_scan_decoded", no_fallback)
    assert read_stealth(str(path)) == full


def test_pillow_written_png_matches_full_decode(tmp_path: Path) -> None:
    path = tmp_path / "s.png"
    payload = gzip.compress(TEXT.encode() * 40)
    Image.fromarray(_lsb_image(512, 512, "RGBA", payload, b"stealth_pngcomp")).save(path, optimize=True)
    assert read_stealth(str(path)) == stealth._scan_decoded(str(path)) == ("stealth_pngcomp", TEXT * 40)


def test_other_layouts_take_the_full_decode(tmp_path: Path) -> None:
    """Palette and 16-bit PNGs, and WebP, go through Pillow's decode."""
    arr = _lsb_image(48, 64, "RGBA", TEXT.encode(), b"stealth_pnginfo")
    path = tmp_path / "s.webp"
    Image.fromarray(arr).save(path, lossless=True)
    assert read_stealth(str(path)) == ("stealth_pnginfo", TEXT)
    path = tmp_path / "s16.png"
    Image.fromarray(arr[..., 0].astype(np.uint16) * 257).save(path)
    assert read_stealth(str(path)) is None


@pytest.mark.parametrize("cut", [40, 200, 2000, -30])
def test_truncated_image_data_is_no_stealth(tmp_path: Path, cut: int) -> None:
    arr = _lsb_image(160, 60, "RGBA", TEXT.encode(), b"stealth_pnginfo")
    data = _png_every_filter(arr)
    path = tmp_path / "cut.png"
    path.write_bytes(data[:cut])
    assert read_stealth(str(path)) is None


def test_absurd_length_is_no_stealth(tmp_path: Path) -> None:
    """A real signature whose length runs past the image is no payload, not a huge read."""
    arr = _lsb_image(160, 60, "RGBA", b"x", b"stealth_pnginfo")
    bits = np.unpackbits(np.frombuffer(b"stealth_pnginfo" + (2**32 - 1).to_bytes(4, "big"), dtype=np.uint8))
    col = arr[:, 0, 3].copy()
    col[: bits.size] = (col[: bits.size] & 0xFE) | bits
    arr[:, 0, 3] = col
    path = tmp_path / "big.png"
    path.write_bytes(_png_every_filter(arr))
    assert read_stealth(str(path)) is None


def test_plain_scan_holds_a_few_columns_not_the_image(tmp_path: Path) -> None:
    """No signature: 152 rows are inflated step by step and only their first column is kept."""
    import tracemalloc

    path = tmp_path / "wide.png"
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (600, 3000, 4), dtype=np.uint8)).save(path)
    tracemalloc.start()
    try:
        assert read_stealth(str(path)) is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20, peak  # 7 MB of pixels, 1.8 MB in 152 full rows; one inflate step is 256 KiB
