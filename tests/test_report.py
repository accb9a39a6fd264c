"""The HTML diff report: self-contained, complete, and rendered by a real browser."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seedlock.diff.compare import compare
from seedlock.diff.report import render_html, write_html
from seedlock.replay.demo import make_demo_images

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_report_is_self_contained_and_complete(tmp_path: Path) -> None:
    a, b = make_demo_images(tmp_path)
    page = render_html(compare(a, b))
    assert "http://" not in page and "https://" not in page
    # A, B and the heatmap, each inlined once (the slider and blink views reuse A and B)
    assert page.count("data:image/png;base64,") == 3
    for needle in (
        "difference heatmap",
        "id=slide",
        "id=blink",
        "Likely causes",
        "sampler differs",
        "U+201C",
        "<h2>Fields</h2>",
    ):
        assert needle in page


def test_report_draws_the_images_the_verdict_decoded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With keep_decoded (what ``diff --html`` asks for) the files are decoded once."""
    import seedlock.diff.report as report

    a, b = make_demo_images(tmp_path)
    kept = compare(a, b, keep_decoded=True)
    assert kept.decoded is not None and compare(a, b).decoded is None

    def decode_again(*_: object) -> None:
        raise AssertionError("the report decoded the images a second time")

    monkeypatch.setattr(report, "decode_pair", decode_again)
    assert render_html(kept) == render_html(compare(a, b, keep_decoded=True))
    assert "difference heatmap" in render_html(kept)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian package chromium)")
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    a, b = make_demo_images(tmp_path / "demo")
    report = write_html(compare(a, b), tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    assert CHROMIUM is not None
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1200,1400",
            f"--screenshot={shot}",
            report.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.exists(), "Chromium wrote no screenshot"
    px = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    # the red "different" verdict badge (#cf222e) and the inlined images (many colours) are on screen
    red = np.all(np.abs(px.astype(int) - [0xCF, 0x22, 0x2E]) <= 6, axis=1).sum()
    assert red > 200
    assert len(np.unique(px[::7], axis=0)) > 100
