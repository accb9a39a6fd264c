"""Benchmark the catalog on a generated corpus and on a million synthetic rows.

Prints, side by side in one run:
- first index of N images (default 20,000), files/s, against the bare per-file work done
  by hand on the same files (``read`` + decode + pixel hash, one process each); goal >= 70%;
- a re-index with no change (goal: at least 20x faster than the first);
- a re-index after renaming 1,000 files (goal: none read again);
- on a catalog of 1,000,000 rows inserted directly: filtered-query p95 (goal < 50 ms),
  prompt-search p95 (goal < 100 ms) and the first page of ``catalog serve`` over HTTP
  (goal < 200 ms).

usage: python bench/catalog_bench.py [--files 20000] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from seedlock.catalog.index import index_folders  # noqa: E402
from seedlock.catalog.query import Filters, query  # noqa: E402
from seedlock.catalog.store import COLUMNS, Catalog  # noqa: E402

WORDS = [
    "fox",
    "cat",
    "lighthouse",
    "castle",
    "forest",
    "dusk",
    "snow",
    "neon",
    "city",
    "portrait",
    "river",
    "dragon",
    "ship",
    "robot",
    "garden",
]
SAMPLERS = ["euler", "euler_ancestral", "dpmpp_2m", "dpmpp_sde", "uni_pc", "ddim"]


def make_corpus(folder: Path, n: int) -> list[Path]:
    rng = np.random.default_rng(0)
    r = random.Random(0)
    paths = []
    for i in range(n):
        sub = folder / f"batch{i // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        info = PngInfo()
        prompt = " ".join(r.choice(WORDS) for _ in range(8))
        info.add_text("parameters", f"{prompt}\nNegative prompt: blurry\nSteps: {r.randint(10, 40)}, Sampler: Euler a, "
                                    f"CFG scale: 7, Seed: {i}, Size: 64x64, Model: m{i % 7}, Model hash: {i % 7:010d}")  # fmt: skip
        p = sub / f"img{i:06d}.png"
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(p, pnginfo=info, compress_level=1)
        paths.append(p)
    return paths


def bare_work(paths: list[Path]) -> float:
    from seedlock.diff.pixels import decode, pixel_hash
    from seedlock.readers import read

    started = time.perf_counter()
    for p in paths:
        read(p)
        pixel_hash(decode(p))
    return time.perf_counter() - started


def synthetic(db: Path, rows: int) -> None:
    r = random.Random(1)
    with Catalog(db) as cat:
        cat.db.execute("BEGIN")
        batch = []
        for i in range(rows):
            prompt = " ".join(r.choice(WORDS) for _ in range(10))
            values = {
                "path": f"/data/batch{i // 5000:05d}/img{i:08d}.png", "folder": f"/data/batch{i // 5000:05d}",
                "size": 100_000, "mtime_ns": 1_700_000_000_000_000_000 + i * 1_000_000_000, "inode": i, "device": 1,
                "file_sha256": f"{r.getrandbits(256):064x}", "pixel_sha256": f"{r.getrandbits(256):064x}",
                "phash": f"{r.getrandbits(64):016x}", "fingerprint": f"{r.getrandbits(256):064x}",
                "generator": r.choice(["a1111", "comfyui", "invokeai"]), "model_name": f"model{i % 50}",
                "model_stem": f"model{i % 50}", "sampler": r.choice(SAMPLERS), "scheduler": "karras", "seed": i,
                "steps": r.randint(10, 50), "cfg": 7.0, "width": 1024, "height": 1024, "prompt": prompt,
                "negative_prompt": "blurry", "record_json": None, "error": None, "indexed_at": time.time(),
            }  # fmt: skip
            batch.append(tuple(values[c] for c in COLUMNS))
            if len(batch) == 20_000:
                cat.db.executemany(
                    f"INSERT INTO images ({','.join(COLUMNS)}) VALUES ({','.join('?' * len(COLUMNS))})", batch
                )
                batch = []
        if batch:
            cat.db.executemany(
                f"INSERT INTO images ({','.join(COLUMNS)}) VALUES ({','.join('?' * len(COLUMNS))})", batch
            )
        cat.db.execute("COMMIT")
        cat.db.execute("ANALYZE")


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--rows", type=int, default=1_000_000)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        paths = make_corpus(d / "corpus", opts.files)
        os.sync()
        bare = bare_work(paths)
        with Catalog(d / "c.db") as cat:
            s1 = index_folders([d / "corpus"], cat, jobs=1)
            print(f"first index, 1 process: {opts.files / s1.seconds:.0f} files/s; bare read + decode + pixel hash: "
                  f"{opts.files / bare:.0f} files/s; ratio {bare / s1.seconds:.0%} (goal >= 70%)")  # fmt: skip
        with Catalog(d / "c2.db") as cat:
            s_all = index_folders([d / "corpus"], cat)
            print(f"first index, a process per core: {opts.files / s_all.seconds:.0f} files/s")
            s2 = index_folders([d / "corpus"], cat)
            print(f"re-index, nothing changed: {s2.seconds:.2f} s, {s_all.seconds / s2.seconds:.0f}x faster than the "
                  f"first (goal >= 20x); {s2.unchanged} unchanged")  # fmt: skip
            for p in paths[:1000]:
                p.rename(p.with_name("renamed-" + p.name))
            s3 = index_folders([d / "corpus"], cat)
            print(f"re-index after renaming 1,000 files: {s3.moved} moved, {s3.added + s3.updated} read again "
                  f"(goal 0), {s3.seconds:.2f} s")  # fmt: skip
        big = d / "big.db"
        started = time.perf_counter()
        synthetic(big, opts.rows)
        print(f"{opts.rows:,} synthetic rows inserted in {time.perf_counter() - started:.0f} s")
        r = random.Random(2)
        with Catalog(big) as cat:
            filtered = []
            for _ in range(100):
                f = r.choice([
                    Filters(seed=r.randrange(opts.rows)),
                    Filters(model=f"model{r.randrange(50)}", sampler=r.choice(SAMPLERS)),
                    Filters(generator="comfyui", steps=r.randint(10, 50)),
                    Filters(model=f"model{r.randrange(50)}", size="1024x1024"),
                ])  # fmt: skip
                t = time.perf_counter()
                list(query(cat, f, limit=100))
                filtered.append(time.perf_counter() - t)
            search = []
            for _ in range(100):
                term = " ".join(r.sample(WORDS, 2))
                t = time.perf_counter()
                list(query(cat, Filters(prompt=term), limit=100))
                search.append(time.perf_counter() - t)
        print(f"filtered query p95 {p95(filtered):.1f} ms (goal < 50 ms); prompt search p95 {p95(search):.1f} ms "
              f"(goal < 100 ms)")  # fmt: skip
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "seedlock", "catalog", "serve", "--db", str(big), "--port", str(port)],
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}/"
            for _ in range(300):
                try:
                    urllib.request.urlopen(url, timeout=5).read()
                    break
                except OSError:
                    time.sleep(0.1)
            pages = []
            for _ in range(30):
                t = time.perf_counter()
                urllib.request.urlopen(url, timeout=10).read()
                pages.append(time.perf_counter() - t)
            print(f"catalog serve, first page over HTTP: p95 {p95(pages):.1f} ms (goal < 200 ms)")
        finally:
            proc.terminate()


if __name__ == "__main__":
    main()
