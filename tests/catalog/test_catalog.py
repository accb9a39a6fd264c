"""The catalog on the real fixture corpus and on generated folders: index, re-index after edits,
renames and deletions, kill -9 mid-index, queries, drift, stale, export."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from seedlock.catalog.drift import drift
from seedlock.catalog.index import index_folders
from seedlock.catalog.query import Filters, query
from seedlock.catalog.store import Catalog
from seedlock.cli import cli

SRC = Path(__file__).resolve().parents[2] / "src"


def infotext(seed: int, sampler: str = "Euler a", model: str = "sd15", steps: int = 20, lora: str = "") -> str:
    tag = f" <lora:{lora}:0.8>" if lora else ""
    return (
        f"a red fox in snow{tag}\nNegative prompt: blurry\n"
        f"Steps: {steps}, Sampler: {sampler}, CFG scale: 7, Seed: {seed}, Size: 16x16, Model: {model}, "
        f"Model hash: {abs(hash(model)) % 10**10:010d}"
    )


def make(path: Path, seed: int, pixels_seed: int | None = None, **kw: object) -> Path:
    rng = np.random.default_rng(seed if pixels_seed is None else pixels_seed)
    info = PngInfo()
    info.add_text("parameters", infotext(seed, **kw))  # type: ignore[arg-type]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(path, pnginfo=info)
    return path


def rows(cat: Catalog) -> list[tuple[object, ...]]:
    return cat.db.execute(
        "SELECT path, file_sha256, pixel_sha256, fingerprint, seed FROM images ORDER BY path"
    ).fetchall()


def test_fixture_corpus_indexes_and_queries(images: Path, tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.db") as cat:
        s = index_folders([images], cat, jobs=1)
        assert s.added == s.seen > 50 and s.unchanged == 0
        again = index_folders([images], cat, jobs=1)
        assert again.unchanged == s.seen and again.added == again.updated == 0
        comfy = list(query(cat, Filters(generator="comfyui"), limit=None))
        assert len(comfy) >= 20 and all(r["generator"] == "comfyui" for r in comfy)
        miku = list(query(cat, Filters(prompt="miku"), limit=None))
        assert miku and all("miku" in (r["prompt"] or "").lower() for r in miku)
        by_hash = list(query(cat, Filters(model="45a21ea00a"), limit=None))
        assert by_hash and all("waiillustrious" in (r["model_name"] or "").lower() for r in by_hash)


def test_edits_renames_deletions(tmp_path: Path) -> None:
    d = tmp_path / "out"
    for i in range(6):
        make(d / f"img{i}.png", seed=i)
    with Catalog(tmp_path / "c.db") as cat:
        assert index_folders([d], cat, jobs=1).added == 6
        before = {r[1]: r for r in rows(cat)}
        (d / "img0.png").rename(d / "renamed.png")
        (d / "sub").mkdir()
        (d / "img1.png").rename(d / "sub" / "moved.png")
        (d / "img2.png").unlink()
        make(d / "img3.png", seed=33)  # edited in place: new bytes, new record
        s = index_folders([d], cat, jobs=1)
        assert (s.moved, s.deleted, s.updated, s.added) == (2, 1, 1, 0)
        after = {r[1]: r for r in rows(cat)}
        renamed = next(r for r in after.values() if r[0].endswith("renamed.png"))
        assert before[renamed[1]][2:] == renamed[2:]  # same pixels, recipe, seed: the same image, not re-read
        assert len(after) == 5 and not any(r[0].endswith("img2.png") for r in after.values())
        assert next(r for r in after.values() if r[0].endswith("img3.png"))[4] == 33


def test_metadata_edit_keeps_the_pixel_identity(tmp_path: Path) -> None:
    from seedlock.readers import read
    from seedlock.writer import write

    d = tmp_path / "out"
    p = make(d / "a.png", seed=5)
    with Catalog(tmp_path / "c.db") as cat:
        index_folders([d], cat, jobs=1)
        (px_before,) = cat.db.execute("SELECT pixel_sha256 FROM images").fetchone()
        write(read(p).replace(seed=6), p)
        time.sleep(0.01)
        os.utime(p)
        index_folders([d], cat, jobs=1)
        px_after, seed = cat.db.execute("SELECT pixel_sha256, seed FROM images").fetchone()
    assert px_after == px_before and seed == 6


def test_kill_minus_9_mid_index_then_reindex_gives_the_same_rows(tmp_path: Path) -> None:
    d = tmp_path / "out"
    for i in range(600):
        make(d / f"b{i // 100}" / f"img{i:04d}.png", seed=i)
    reference = tmp_path / "ref.db"
    with Catalog(reference) as cat:
        index_folders([d], cat, jobs=2)
        expected = rows(cat)
    db = tmp_path / "killed.db"
    code = f"from seedlock.catalog.index import index_folders\nfrom seedlock.catalog.store import Catalog\n" \
           f"index_folders([{str(d)!r}], Catalog({str(db)!r}), jobs=2)\n"  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    n = 0
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=0.1) as raw:
                    n = raw.execute("SELECT COUNT(*) FROM images").fetchone()[0]
            except sqlite3.OperationalError:
                n = 0
            if n > 0:
                proc.send_signal(signal.SIGKILL)  # right after the first batch was committed
                break
        time.sleep(0.005)
    proc.wait()
    assert 0 < n < 600, f"the indexer was not caught mid-run ({n} rows)"
    with Catalog(db) as cat:
        index_folders([d], cat, jobs=2)
        assert rows(cat) == expected


def test_drift_finds_a_planted_pair_and_explains_it(tmp_path: Path) -> None:
    d = tmp_path / "out"
    a = make(d / "run1" / "a.png", seed=9)
    b = make(d / "run2" / "b.png", seed=9, pixels_seed=99)  # same recipe, other pixels
    make(d / "run3" / "c.png", seed=10, sampler="DPM++ 2M", steps=30)
    shutil.copy(a, d / "run3" / "copy-of-a.png")
    with Catalog(tmp_path / "c.db") as cat:
        index_folders([d], cat, jobs=1)
        report = drift(cat)
    assert len(report.recipes) == 1
    group = report.recipes[0]
    assert sorted(p for ps in group.variants.values() for p in ps) == sorted(
        [str(a), str(b), str(d / "run3" / "copy-of-a.png")]
    )
    assert any(c.category == "unrecorded" or c.rank for c in group.causes) or not group.causes
    assert [sorted(x.paths) for x in report.duplicates] == [sorted([str(a), str(d / "run3" / "copy-of-a.png")])]
    change = next(x for x in report.batches if x.after.endswith("run3"))
    assert "sampler" in change.changes and "steps" in change.changes


def test_stale_finds_a_removed_model(tmp_path: Path) -> None:
    from seedlock.pin.cache import HashCache
    from seedlock.pin.index import scan

    models = tmp_path / "models"
    models.mkdir()
    model = models / "m.safetensors"
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    model.write_bytes(len(header).to_bytes(8, "little") + header + bytes(range(16)))
    with HashCache() as cache:
        h = scan([models], cache).files[0].hashes
    d = tmp_path / "out"
    rng = np.random.default_rng(0)
    info = PngInfo()
    info.add_text(
        "parameters",
        f"x\nSteps: 2, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 8x8, Model: m, Model hash: {h['autov2']}",
    )
    d.mkdir()
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(d / "a.png", pnginfo=info)
    db = tmp_path / "c.db"
    runner = CliRunner()
    assert runner.invoke(cli, ["catalog", "index", "--db", str(db), str(d)]).exit_code == 0
    assert runner.invoke(cli, ["catalog", "stale", "--db", str(db)]).exit_code == 0
    model.unlink()
    with HashCache() as cache:
        cache.db.execute("DELETE FROM models")
    result = runner.invoke(cli, ["catalog", "stale", "--db", str(db), "--json"])
    assert result.exit_code == 1
    stale = json.loads(result.stdout)
    assert stale[0]["path"].endswith("a.png") and stale[0]["missing"][0]["hashes"]["autov2"] == h["autov2"]


def test_cli_query_outputs_and_export(tmp_path: Path) -> None:
    d = tmp_path / "out"
    for i in range(3):
        make(d / f"img{i}.png", seed=100 + i, lora="style" if i == 1 else "")
    db = tmp_path / "c.db"
    runner = CliRunner()
    result = runner.invoke(cli, ["catalog", "index", "--db", str(db), "--json", str(d)])
    assert json.loads(result.stdout)["added"] == 3
    doc = json.loads(runner.invoke(cli, ["catalog", "query", "--db", str(db), "--seed", "101", "--json"]).stdout)
    assert [Path(r["path"]).name for r in doc] == ["img1.png"]
    lines = runner.invoke(cli, ["catalog", "query", "--db", str(db), "--lora", "style", "--jsonl"]).stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["seed"] == 101
    csv_out = runner.invoke(cli, ["catalog", "query", "--db", str(db), "--csv", "--sort", "seed", "--desc"]).stdout
    assert csv_out.splitlines()[0].startswith("path,") and "img2.png" in csv_out.splitlines()[1]
    assert runner.invoke(cli, ["catalog", "query", "--db", str(db), "--seed", "7"]).exit_code == 1
    paged = json.loads(
        runner.invoke(cli, ["catalog", "query", "--db", str(db), "--json", "--limit", "1", "--offset", "1"]).stdout
    )
    assert [Path(r["path"]).name for r in paged] == ["img1.png"]
    out = tmp_path / "log.jsonl"
    assert runner.invoke(cli, ["catalog", "export", "--db", str(db), "-o", str(out)]).exit_code == 0
    tuples = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(tuples) == 3 and all(t["pixel_sha256"] and t["record"]["seed"] for t in tuples)
    pq = pytest.importorskip("pyarrow.parquet")
    parquet = tmp_path / "log.parquet"
    assert runner.invoke(cli, ["catalog", "export", "--db", str(db), "-o", str(parquet)]).exit_code == 0
    table = pq.read_table(parquet).to_pylist()
    assert [t["pixel_sha256"] for t in table] == [t["pixel_sha256"] for t in tuples]
    assert json.loads(table[0]["record"])["seed"] == tuples[0]["record"]["seed"]
    bad = runner.invoke(cli, ["catalog", "query", "--db", str(db), "--prompt", '"unbalanced'])
    assert bad.exit_code == 2 and "query failed" in bad.stderr


def test_a_file_that_is_not_a_catalog_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "not.db"
    bad.write_bytes(b"hello" * 100)
    result = CliRunner().invoke(cli, ["catalog", "query", "--db", str(bad)])
    assert result.exit_code == 2 and "not a seedlock catalog" in result.stderr
