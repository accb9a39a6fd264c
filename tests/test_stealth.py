"""Stealth pnginfo written the way the extension and NovelAI write it reads back exactly."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

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
