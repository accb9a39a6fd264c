"""Pixel bombs and large images: refused by a budget, or compared in bounded memory."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from seedlock.cli import cli
from seedlock.diff.compare import compare
from seedlock.diff.pixels import compare_arrays, compare_images, open_image
from seedlock.diff.report import render_html
from seedlock.errors import PixelBudgetExceeded

from .build import noise_png, pixel_bomb


def test_pixel_bomb_is_refused_from_the_header_in_under_a_second(tmp_path: Path) -> None:
    bomb_a, bomb_b = pixel_bomb(tmp_path / "a.png"), pixel_bomb(tmp_path / "b.png")
    assert bomb_a.stat().st_size < 1_000_000
    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["diff", str(bomb_a), str(bomb_b)])
    assert time.perf_counter() - started < 5  # generous: the refusal itself is milliseconds
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and "13300x13300" in line and "budget" in line and "--max-pixels" in line
    assert "DecompressionBombWarning" not in result.output + result.stderr


def test_budget_is_checked_before_decoding(tmp_path: Path) -> None:
    bomb = pixel_bomb(tmp_path / "a.png")
    started = time.perf_counter()
    with pytest.raises(PixelBudgetExceeded) as info:
        open_image(bomb)
    assert time.perf_counter() - started < 1.0
    assert info.value.pixels == 13300 * 13300


def test_max_pixels_raises_and_lowers_the_budget(tmp_path: Path) -> None:
    a, b = noise_png(tmp_path / "a.png", 64, 64, 1), noise_png(tmp_path / "b.png", 64, 64, 2)
    with pytest.raises(PixelBudgetExceeded):
        compare_images(a, b, max_pixels=1000)
    assert compare_images(a, b, max_pixels=4096).verdict == "different"
    result = CliRunner().invoke(cli, ["diff", str(a), str(b), "--max-pixels", "100"])
    assert result.exit_code == 2 and "4,096 pixels" in result.stderr


def test_strip_metrics_equal_whole_array_metrics(tmp_path: Path) -> None:
    """The strip-by-strip path over Pillow images gives exactly the whole-array numbers."""
    rng = np.random.default_rng(5)
    a = rng.integers(0, 256, (700, 300, 3), dtype=np.uint8)
    b = a.copy()
    b[100:650, 20:40] ^= 3
    b[5, 299] = 0
    ia, ib = Image.fromarray(a), Image.fromarray(b)
    whole, strips = compare_arrays(a, b), compare_arrays(ia, ib)
    assert whole == strips
    assert whole.changed_box == (5, 650, 20, 300)


def test_report_embeds_each_image_once_and_downscales_large_ones(tmp_path: Path) -> None:
    a, b = noise_png(tmp_path / "a.png", 2100, 1500, 1), noise_png(tmp_path / "b.png", 2100, 1500, 2)
    page = render_html(compare(a, b, keep_decoded=True))
    assert page.count("data:image/png;base64,") == 3
    assert "shown reduced 3x" in page
    # three reduced 700x500 images, not three full-size ones (each full one is ~9 MB as base64)
    assert len(page) < 4 * 1024 * 1024


@pytest.mark.slow
def test_two_8192_images_with_html_stay_under_600_mb(tmp_path: Path) -> None:
    """Measured in a child process as its VmHWM (ru_maxrss would count this process's pages at fork)."""
    a, b = noise_png(tmp_path / "a.png", 8192, 8192, 1), noise_png(tmp_path / "b.png", 8192, 8192, 2)
    code = (
        "import sys\n"
        "from seedlock.cli import cli\n"
        "try:\n"
        f"    cli(['diff', {str(a)!r}, {str(b)!r}, '--html', {str(tmp_path / 'r.html')!r}, '--json'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "print(hwm, file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    peak_kib = int(out.stderr.strip().splitlines()[-1])
    assert peak_kib < 600 * 1024, f"peak RSS {peak_kib / 1024:.0f} MiB"
    assert (tmp_path / "r.html").stat().st_size < 8 * 1024 * 1024
