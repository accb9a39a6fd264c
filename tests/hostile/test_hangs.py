"""Inputs that used to hang or take quadratic time: FIFOs, huge prompts, files of 200,000 chunks.

No timing is asserted; a subprocess timeout only turns a hang into a failure.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from seedlock.cli import cli
from seedlock.diff.prompt import diff_prompts
from seedlock.errors import NotARegularFile
from seedlock.readers import read

from .build import INFOTEXT, chunk, plain_png, png_with_text

SRC = Path(__file__).resolve().parents[2] / "src"


def _seedlock(*args: str, timeout: int = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run(
        [sys.executable, "-m", "seedlock", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_fifo_is_refused_not_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "f.png"
    os.mkfifo(fifo)
    with pytest.raises(NotARegularFile, match="FIFO"):
        read(fifo)
    result = _seedlock("read", str(fifo))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "FIFO" in result.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_fifo_in_a_folder_is_reported_and_the_rest_read(tmp_path: Path) -> None:
    png_with_text(tmp_path / "a.png", {"parameters": INFOTEXT})
    (tmp_path / "sub").mkdir()
    png_with_text(tmp_path / "sub" / "b.png", {"parameters": INFOTEXT})
    os.mkfifo(tmp_path / "sub" / "pipe.png")
    result = _seedlock("read", "-r", "--jsonl", str(tmp_path))
    assert result.returncode == 2
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert sum("schema" in x for x in lines) == 2
    assert next(x for x in lines if x.get("error"))["path"].endswith("pipe.png")
    assert "pipe.png" in result.stderr and "FIFO" in result.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_fifo_given_to_diff_and_hash_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "f.png"
    os.mkfifo(fifo)
    good = plain_png(tmp_path / "g.png")
    assert _seedlock("diff", str(good), str(fifo)).returncode == 2
    assert _seedlock("hash", str(fifo)).returncode == 2


def test_long_prompts_diff_in_linear_time_and_say_when_bounded() -> None:
    base = "masterpiece, (best quality:1.2), a red chair in soft light, " * 1700  # ~100 KB
    edited = base[:50_000] + "\u201c" + base[50_001:]
    d = diff_prompts(base, edited)
    assert len(d.changes) == 1 and d.changes[0].a_pos == 50_000 and not d.bounded
    assert "U+201C" in d.changes[0].b_names[0]
    unrelated = diff_prompts(base, "".join(reversed(base)))
    assert unrelated.bounded and "coarsened" in unrelated.summary()


def _png_with(chunks: bytes) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (2, 2), (1, 2, 3)).save(buf, "PNG")
    data = buf.getvalue()
    i = data.index(b"IDAT") - 4
    return data[:i] + chunks + data[i:]


def test_two_hundred_thousand_text_chunks_and_a_10_mb_prompt(tmp_path: Path) -> None:
    many = tmp_path / "many.png"
    many.write_bytes(_png_with(b"".join(chunk(b"tEXt", f"k{n}".encode() + b"\x00v") for n in range(200_000))))
    big = "a cat, " * 1_500_000
    infotext = (big + "\nSteps: 20, Sampler: Euler, Seed: 1, Size: 2x2").encode("latin-1")
    prompt = tmp_path / "prompt.png"
    prompt.write_bytes(_png_with(chunk(b"tEXt", b"parameters\x00" + infotext)))
    result = _seedlock("diff", str(many), str(prompt), "--json", timeout=120)
    assert result.returncode == 1, result.stderr
    assert "more unmapped keys differ" in result.stdout
    result = _seedlock("diff", str(prompt), str(prompt), timeout=120)
    assert result.returncode == 0, result.stderr


def test_empty_folder_and_folder_without_r_say_so(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    runner = CliRunner()
    result = runner.invoke(cli, ["read", str(empty)])
    assert result.exit_code == 1 and "no images" in result.stderr
    nested = tmp_path / "nested"
    (nested / "sub").mkdir(parents=True)
    png_with_text(nested / "sub" / "a.png", {"parameters": INFOTEXT})
    result = runner.invoke(cli, ["read", str(nested)])
    assert result.exit_code == 1 and "-r" in result.stderr


def _too_deep(root: Path) -> Path:
    """A real folder whose path is longer than the system allows (listing it fails with ENAMETOOLONG)."""
    fd = os.open(root, os.O_RDONLY)
    name = "d" * 250
    try:
        for _ in range(20):
            os.mkdir(name, dir_fd=fd)
            nxt = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nxt
    finally:
        os.close(fd)
    return root / name


def test_unreadable_subfolder_is_reported(tmp_path: Path) -> None:
    png_with_text(tmp_path / "a.png", {"parameters": INFOTEXT})
    _too_deep(tmp_path)
    result = CliRunner().invoke(cli, ["read", "-r", "--jsonl", str(tmp_path)])
    assert result.exit_code == 2, result.stderr
    assert "folder skipped" in result.stderr
    assert len(result.stdout.splitlines()) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a folder without permissions; the test above covers root")
def test_folder_without_permission_is_reported(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    png_with_text(tmp_path / "a.png", {"parameters": INFOTEXT})
    locked.chmod(0)
    try:
        result = CliRunner().invoke(cli, ["read", "-r", str(tmp_path)])
    finally:
        locked.chmod(0o755)
    assert result.exit_code == 2 and "locked" in result.stderr
