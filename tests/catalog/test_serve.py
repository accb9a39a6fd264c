"""``seedlock catalog serve``: the real server on 127.0.0.1, checked over HTTP and in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seedlock.catalog.index import index_folders
from seedlock.catalog.store import Catalog

from .test_catalog import make

SRC = Path(__file__).resolve().parents[2] / "src"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytest.importorskip("starlette", reason="the serve extra (starlette, uvicorn) is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> tuple[str, Path]:
    d = tmp_path / "out"
    for i in range(6):
        make(d / "run1" / f"img{i}.png", seed=i)
    make(d / "run2" / "twin.png", seed=0, pixels_seed=1234)  # the same recipe as img0, other pixels
    db = tmp_path / "c.db"
    with Catalog(db) as cat:
        index_folders([d], cat, jobs=1)
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "seedlock", "catalog", "serve", "--db", str(db), "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/", timeout=2).read()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise AssertionError("the catalog server did not start") from None
            time.sleep(0.1)
    yield url, db
    proc.terminate()
    proc.wait(timeout=10)


def get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read(), r.headers.get("content-type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), ""


def test_pages_thumbnails_filters_and_diff(server: tuple[str, Path]) -> None:
    url, db = server
    status, body, _ = get(url + "/")
    page = body.decode()
    assert status == 200 and "7 image(s)" in page and page.count("/thumb/") == 7
    status, body, ctype = get(url + "/thumb/1")
    assert status == 200 and ctype == "image/png" and Image.open(__import__("io").BytesIO(body)).size == (16, 16)
    page = get(url + "/?seed=3")[1].decode()
    assert page.count("/thumb/") == 1 and "img3.png" in page
    page = get(url + "/?prompt=fox")[1].decode()
    assert page.count("/thumb/") == 7
    rows = json.loads(get(url + "/api/images?seed=0")[1])
    assert sorted(Path(r["path"]).name for r in rows) == ["img0.png", "twin.png"]
    drift_page = get(url + "/drift")[1].decode()
    assert "2 pixel variants" in drift_page
    with Catalog(db) as cat:
        ids = [i for (i,) in cat.db.execute("SELECT id FROM images WHERE seed = 0 ORDER BY path")]
    status, body, _ = get(f"{url}/diff?pick={ids[0]}&pick={ids[1]}")
    assert status == 200 and "seedlock diff" in body.decode() and "difference heatmap" in body.decode()
    assert get(url + "/diff?pick=1")[0] == 400 and get(url + "/thumb/999")[0] == 404


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian package chromium)")
def test_the_page_shows_the_catalog_images_in_a_browser(server: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = server
    shot = tmp_path / "shot.png"
    assert CHROMIUM is not None
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,900", "--virtual-time-budget=5000",
         f"--screenshot={shot}", url + "/"],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert shot.exists(), "Chromium wrote no screenshot"
    px = np.asarray(Image.open(shot).convert("RGB"))
    # the dark header bar (#1f2328) and the noise thumbnails (many colours) are on screen
    header = np.all(np.abs(px[:30].reshape(-1, 3).astype(int) - [0x1F, 0x23, 0x28]) <= 4, axis=1).mean()
    assert header > 0.5
    grid = px[120:500].reshape(-1, 3)
    assert len(np.unique(grid[::3], axis=0)) > 500
