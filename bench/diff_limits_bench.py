"""Bounded time and memory for ``seedlock diff`` on hostile and large inputs.

Prints, in one run:
- two 8192x8192 noise PNGs diffed with ``--html``: peak RSS (the child's VmHWM) and wall
  time, against the pixels alone (two 8192x8192 RGB arrays, 384 MiB); goal: under 600 MB;
- two 13300x13300 pixel bombs (0.7 MB each): time to the refusal; goal: under 1 s;
- 100 KB prompts with a one-character edit, and two unrelated 100 KB prompts: seedlock's
  prompt diff against difflib's SequenceMatcher (what seedlock used before); goal: under 1 s.

usage: python bench/diff_limits_bench.py [--side 8192]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.hostile.build import pixel_bomb  # noqa: E402

from seedlock.diff.prompt import diff_prompts  # noqa: E402


def child_peak(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of one seedlock command in a fresh process."""
    code = (
        "import sys\nfrom seedlock.cli import cli\n"
        f"try:\n    cli({args!r})\nexcept SystemExit:\n    pass\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "print(hwm, file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    seconds = time.perf_counter() - started
    return int(out.stderr.strip().splitlines()[-1]) / 1024, seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", type=int, default=8192)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        rng = np.random.default_rng(1)
        for name in ("a", "b"):
            arr = rng.integers(0, 256, (opts.side, opts.side, 3), dtype=np.uint8)
            Image.fromarray(arr).save(d / f"{name}.png", compress_level=1)
            del arr
        pixels_mib = 2 * opts.side * opts.side * 3 / 2**20
        peak, secs = child_peak(["diff", str(d / "a.png"), str(d / "b.png"), "--html", str(d / "r.html"), "--json"])
        report_mb = (d / "r.html").stat().st_size / 1e6
        print(f"{opts.side}x{opts.side} pair, diff --html: peak RSS {peak:.0f} MiB ({peak / pixels_mib:.2f}x the "
              f"{pixels_mib:.0f} MiB of pixels; goal < 600 MB), {secs:.1f} s, report {report_mb:.1f} MB")  # fmt: skip
        bomb_a, bomb_b = pixel_bomb(d / "bomb_a.png"), pixel_bomb(d / "bomb_b.png")
        peak, secs = child_peak(["diff", str(bomb_a), str(bomb_b)])
        print(f"13300x13300 pixel bombs ({bomb_a.stat().st_size / 1e6:.1f} MB each): refused in {secs:.2f} s "
              f"including interpreter start (goal < 1 s), peak RSS {peak:.0f} MiB")  # fmt: skip

    import difflib

    r = random.Random(7)
    words = ["masterpiece", "(best quality:1.2)", "a", "red", "chair", "soft", "light", ",", "cat", "<lora:x:0.8>"]
    base = " ".join(r.choice(words) for _ in range(25_000))[:100_000]
    edited = base[:50_000] + "\u201c" + base[50_001:]
    other = " ".join(r.choice(words) for _ in range(25_000))[:100_000]
    for label, x, y in (("one curly quote in 100 KB", base, edited), ("two unrelated 100 KB prompts", base, other)):
        started = time.perf_counter()
        d_ = diff_prompts(x, y)
        ours = time.perf_counter() - started
        started = time.perf_counter()
        difflib.SequenceMatcher(None, x, y, autojunk=False).get_opcodes()
        peer = time.perf_counter() - started
        print(f"prompt diff, {label}: seedlock {ours:.3f} s ({len(d_.changes)} runs"
              f"{', bounded' if d_.bounded else ''}), difflib {peer:.2f} s, ratio {peer / ours:.0f}x")  # fmt: skip


if __name__ == "__main__":
    main()
