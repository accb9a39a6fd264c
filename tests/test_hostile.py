"""Hostile and broken files: each gives one clear error, in bounded time and memory,
and never modifies the input."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seedlock.errors import ImageFormatError, SeedlockError
from seedlock.readers import read


def chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    c = zlib.crc32(kind + data) if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", c)


def png(*chunks: bytes) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (2, 2), (10, 20, 30)).save(buf, "PNG")
    data = buf.getvalue()
    idat = data.index(b"IDAT") - 4
    return data[:idat] + b"".join(chunks) + data[idat:]


def text(key: str, value: str) -> bytes:
    return chunk(b"tEXt", key.encode() + b"\x00" + value.encode("latin-1"))


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_truncated_png(tmp_path: Path) -> None:
    data = png(text("parameters", "a cat\nSteps: 20, Sampler: Euler, Seed: 1, Size: 512x512"))
    p = write(tmp_path, "t.png", data[: len(data) // 2 + 20])
    with pytest.raises(ImageFormatError, match=r"truncated|IEND|chunk"):
        read(p)


def test_bad_crc(tmp_path: Path) -> None:
    p = write(tmp_path, "crc.png", png(chunk(b"tEXt", b"parameters\x00x", crc=1234)))
    with pytest.raises(ImageFormatError, match="bad CRC"):
        read(p)


def test_ztxt_bomb_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    bomb = zlib.compress(b"A" * (256 * 1024 * 1024), 9)  # 256 MiB of 'A' in ~250 KB
    p = write(tmp_path, "bomb.png", png(chunk(b"zTXt", b"parameters\x00\x00" + bomb)))
    tracemalloc.start()
    rec = read(p)  # the chunk is skipped with a warning naming it; the rest of the file is read
    assert any("zTXt 'parameters'" in w and "inflates beyond" in w for w in rec.warnings)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 100 * 1024 * 1024


def test_claims_4gib_chunk(tmp_path: Path) -> None:
    bad = struct.pack(">I", 0xFFFFFFF0) + b"tEXt" + b"parameters\x00x"
    p = write(tmp_path, "huge.png", png(bad))
    with pytest.raises(ImageFormatError, match="claims"):
        read(p)


def test_json_nested_100k_deep(tmp_path: Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    p = write(tmp_path, "deep.png", png(text("prompt", '{"1": {"class_type": "KSampler", "inputs": ' + deep + "}}")))
    with pytest.raises(SeedlockError, match="nested deeper"):
        read(p)


def test_invalid_utf8_and_utf16(tmp_path: Path) -> None:
    # tEXt with bytes that are not UTF-8 falls back to Latin-1, never crashes
    raw = b"parameters\x00caf\xe9 \xff\xfe\nSteps: 20, Sampler: Euler, Seed: 5, Size: 64x64"
    rec = read(write(tmp_path, "latin.png", png(chunk(b"tEXt", raw))))
    assert rec.seed == 5 and rec.prompt is not None and rec.prompt.startswith("café")
    # EXIF UserComment with an odd-length, broken UTF-16 body
    img = Image.new("RGB", (4, 4))
    exif = Image.Exif()
    exif[0x9286] = b"UNICODE\x00\xd8\x00\x00a\xdc"  # lone surrogates
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    rec = read(write(tmp_path, "u16.jpg", buf.getvalue()))
    assert rec.generator.value in ("none", "unknown")


def test_not_an_image(tmp_path: Path) -> None:
    p = write(tmp_path, "fake.png", b"<html>this is not a png</html>")
    with pytest.raises(ImageFormatError, match="not a PNG, JPEG or WebP"):
        read(p)


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ImageFormatError, match="empty file"):
        read(write(tmp_path, "empty.png", b""))


def test_truncated_jpeg_and_webp(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "JPEG")
    with pytest.raises(ImageFormatError):
        read(write(tmp_path, "t.jpg", buf.getvalue()[:30]))
    wbuf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(wbuf, "WEBP")
    data = bytearray(wbuf.getvalue())
    data[16:20] = struct.pack("<I", 10**9)  # first chunk claims a gigabyte
    with pytest.raises(ImageFormatError, match="claims"):
        read(write(tmp_path, "t.webp", bytes(data)))


def test_cli_one_line_per_bad_file_and_input_untouched(tmp_path: Path) -> None:
    files = [
        write(tmp_path, "a.png", b""),
        write(tmp_path, "b.png", b"GIF89a not really"),
        write(tmp_path, "c.png", png(chunk(b"tEXt", b"parameters\x00x", crc=1))),
    ]
    before = [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]
    out = subprocess.run([sys.executable, "-m", "seedlock", "read", *map(str, files)], capture_output=True, text=True)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("seedlock: error: ") for line in lines)
    assert "Traceback" not in out.stderr
    assert before == [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]


def test_stealth_scan_of_large_plain_image_is_bounded(tmp_path: Path) -> None:
    arr = (np.random.default_rng(1).random((512, 512, 4)) * 255).astype("uint8")
    p = tmp_path / "noise.png"
    Image.fromarray(arr, "RGBA").save(p)
    assert read(p).generator.value == "none"


def test_unknown_metadata_is_kept_raw(tmp_path: Path) -> None:
    rec = read(write(tmp_path, "u.png", png(text("my_tool_params", json.dumps({"x": 1})))))
    assert rec.generator.value == "unknown"
    assert rec.raw["my_tool_params"] == '{"x": 1}'


@pytest.mark.skipif(os.name != "posix", reason="resource limits are POSIX")
def test_bomb_under_memory_limit(tmp_path: Path) -> None:
    """In a child process capped at 1 GiB of address space, a zTXt bomb is skipped with one warning."""
    bomb = zlib.compress(b"\x00" * (1024 * 1024 * 1024), 9)
    p = write(tmp_path, "bomb.png", png(chunk(b"zTXt", b"parameters\x00\x00" + bomb)))
    code = (
        "import resource,sys; resource.setrlimit(resource.RLIMIT_AS,(1024*1024*1024,)*2);"
        "from seedlock.cli import main; sys.argv=['seedlock','read',sys.argv[1]]; main()"
    )
    out = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "inflates beyond" in out.stdout and "skipped" in out.stdout
