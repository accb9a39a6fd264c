"""Benchmark ``seedlock diff`` on two 1024x1024 PNGs.

Prints, side by side in one run: the whole ``seedlock diff`` command, the pixel verdict
alone (``seedlock.diff.pixels.compare_images``), and the floor it is measured against: decoding
both images by hand with Pillow + numpy. Goal: the pixel verdict costs at most 1.5x the
bare decode. Each figure is the median of several runs.

usage: python bench/diff_bench.py [--runs 7]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from seedlock.diff.pixels import compare_images
from seedlock.replay.demo import demo_record
from seedlock.writer import write


def make_pair(folder: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    small = (rng.random((32, 32, 3)) * 255).astype("uint8")
    base = np.asarray(Image.fromarray(small).resize((1024, 1024), Image.Resampling.BICUBIC)).astype(np.int16)
    a = np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype("uint8")
    b = a.copy()
    b[400:600, 300:700] = np.clip(b[400:600, 300:700].astype(np.int16) + 9, 0, 255).astype("uint8")
    pa, pb = folder / "a.png", folder / "b.png"
    Image.fromarray(a).save(pa)
    Image.fromarray(b).save(pb)
    write(demo_record(), pa)
    write(demo_record(prompt=demo_record().prompt.replace('"', "\u201c", 1)), pb)
    return pa, pb


def bare_decode(a: Path, b: Path) -> None:
    for p in (a, b):
        with Image.open(p) as img:
            np.asarray(img.convert("RGB"))


def threaded_decode(a: Path, b: Path) -> None:
    """The same decode in two threads: the floor for a tool that uses both cores, shown for honesty."""
    from concurrent.futures import ThreadPoolExecutor

    def one(p: Path) -> None:
        with Image.open(p) as img:
            np.asarray(img.convert("RGB"))

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(one, [a, b]))


def median_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    a_ = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        a, b = make_pair(Path(tmp))
        bare_decode(a, b)  # warm caches
        decode = median_time(lambda: bare_decode(a, b), a_.runs)
        pixels = median_time(lambda: compare_images(a, b), a_.runs)
        exe = shutil.which("seedlock") or str(Path(sys.executable).parent / "seedlock")
        whole = median_time(
            lambda: subprocess.run([exe, "diff", "--json", str(a), str(b)], capture_output=True), a_.runs
        )
        verdict = compare_images(a, b).verdict
        # worst case: every pixel differs a little (what GPU nondeterminism produces)
        arr = np.asarray(Image.open(a).convert("RGB")).astype(np.int16)
        noisy = np.clip(arr + np.random.default_rng(1).integers(-1, 2, arr.shape), 0, 255).astype("uint8")
        c = Path(tmp) / "c.png"
        Image.fromarray(noisy).save(c)
        dense_decode = median_time(lambda: bare_decode(a, c), a_.runs)
        dense = median_time(lambda: compare_images(a, c), a_.runs)
        dense_verdict = compare_images(a, c).verdict
        dense_threaded = median_time(lambda: threaded_decode(a, c), a_.runs)
    print(f"{'step':40s} {'median s':>9s} {'x bare decode':>14s}")
    print(f"{'Pillow+numpy decode of both (floor)':40s} {decode:9.4f} {1.0:13.2f}x")
    print(f"{'seedlock pixel verdict':40s} {pixels:9.4f} {pixels / decode:13.2f}x   ({verdict})")
    print(f"{'seedlock diff --json (whole command)':40s} {whole:9.4f} {whole / decode:13.2f}x")
    print(f"{'dense case: decode of both':40s} {dense_decode:9.4f} {1.0:13.2f}x")
    print(f"{'dense case: pixel verdict':40s} {dense:9.4f} {dense / dense_decode:13.2f}x   ({dense_verdict})")
    print(
        f"{'dense case: decode of both, two threads':40s} {dense_threaded:9.4f} {dense_threaded / dense_decode:13.2f}x"
        f"   (pixel verdict = {dense / dense_threaded:.2f}x this)"
    )
    worst = max(pixels / decode, dense / dense_decode)
    print(f"goal: pixel verdict <= 1.5x bare decode, worst case {worst:.2f}x: {'met' if worst <= 1.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
