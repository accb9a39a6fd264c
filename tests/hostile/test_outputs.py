"""No command writes over one of its inputs; new files get the umask's mode; no temporary file outlives a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from seedlock.cli import cli
from seedlock.errors import OutputIsInput, OutputKindMismatch
from seedlock.files import atomic_write_bytes, check_output

from .build import INFOTEXT, png_with_text

SRC = Path(__file__).resolve().parents[2] / "src"


def test_diff_html_over_an_input_is_refused(tmp_path: Path) -> None:
    a = png_with_text(tmp_path / "a.png", {"parameters": INFOTEXT})
    b = png_with_text(tmp_path / "b.png", {"parameters": INFOTEXT.replace("42", "43")}, color=91)
    before = a.read_bytes()
    result = CliRunner().invoke(cli, ["diff", str(a), str(b), "--html", str(a)])
    assert result.exit_code == 2 and "is also an input" in result.stderr
    assert a.read_bytes() == before
    link = tmp_path / "link.html"
    link.symlink_to(b)
    result = CliRunner().invoke(cli, ["diff", str(a), str(b), "--html", str(link)])
    assert result.exit_code == 2 and "is also an input" in result.stderr


def test_an_existing_image_is_not_replaced_by_a_report_without_force(tmp_path: Path) -> None:
    a = png_with_text(tmp_path / "a.png", {"parameters": INFOTEXT})
    b = png_with_text(tmp_path / "b.png", {"parameters": INFOTEXT}, color=91)
    other = png_with_text(tmp_path / "other.png", {})
    result = CliRunner().invoke(cli, ["diff", str(a), str(b), "--html", str(other)])
    assert result.exit_code == 2 and "holds a png file" in result.stderr and "--force" in result.stderr
    result = CliRunner().invoke(cli, ["diff", str(a), str(b), "--html", str(other), "--force"])
    assert result.exit_code == 1 and other.read_bytes().startswith(b"<!doctype html>")


def test_lock_over_its_source_is_refused(tmp_path: Path) -> None:
    a = png_with_text(tmp_path / "a.png", {"parameters": INFOTEXT})
    before = a.read_bytes()
    result = CliRunner().invoke(cli, ["lock", str(a), "-o", str(a)])
    assert result.exit_code == 2 and "is also an input" in result.stderr
    assert a.read_bytes() == before


def test_check_output_rules(tmp_path: Path) -> None:
    src = tmp_path / "in.png"
    src.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)
    hard = tmp_path / "hard.png"
    os.link(src, hard)
    with pytest.raises(OutputIsInput):
        check_output(hard, [src])
    with pytest.raises(OutputKindMismatch):
        check_output(src, [], kind="toml")
    check_output(src, [], kind="png")
    check_output(tmp_path / "new.toml", [src], kind="toml")


def test_new_files_take_the_umask_and_existing_ones_keep_their_mode(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "new.txt", b"x")
        assert (tmp_path / "new.txt").stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        atomic_write_bytes(tmp_path / "private.txt", b"x")
        assert (tmp_path / "private.txt").stat().st_mode & 0o777 == 0o600
        (tmp_path / "new.txt").chmod(0o640)
        atomic_write_bytes(tmp_path / "new.txt", b"y")
        assert (tmp_path / "new.txt").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


def test_a_report_and_a_lock_are_created_with_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        a = png_with_text(tmp_path / "a.png", {"parameters": INFOTEXT})
        b = png_with_text(tmp_path / "b.png", {"parameters": INFOTEXT}, color=91)
        CliRunner().invoke(cli, ["diff", str(a), str(b), "--html", str(tmp_path / "r.html")])
        CliRunner().invoke(cli, ["lock", str(a), "-o", str(tmp_path / "seedlock.lock")])
        assert (tmp_path / "r.html").stat().st_mode & 0o777 == 0o644
        assert (tmp_path / "seedlock.lock").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)


def test_writing_through_a_symlink_keeps_the_link(tmp_path: Path) -> None:
    target = tmp_path / "real.txt"
    target.write_bytes(b"old")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    atomic_write_bytes(link, b"new")
    assert link.is_symlink() and target.read_bytes() == b"new"


def test_killed_writes_leave_no_temporary_files_behind(tmp_path: Path) -> None:
    """kill -9 during 50 MB writes, ten times; the next write cleans what the dead writers left."""
    out = tmp_path / "big.bin"
    code = (
        "import sys; from seedlock.files import atomic_write_bytes\n"
        "data = b'x' * (50 * 1024 * 1024)\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        f"    atomic_write_bytes({str(out)!r}, data)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    for _ in range(10):
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env)
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(0.15)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    atomic_write_bytes(out, b"final")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.bin"]
    assert out.read_bytes() == b"final"
