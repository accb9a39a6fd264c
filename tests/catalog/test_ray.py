"""The Ray path on a local Ray cluster: the same rows as the local indexer, shards DuckDB can query."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from seedlock.catalog.index import index_folders
from seedlock.catalog.store import Catalog
from seedlock.cli import cli

pytest.importorskip("ray", reason="the cluster extra (ray[data]) is not installed")

COLUMNS = "path, size, mtime_ns, inode, device, file_sha256, pixel_sha256, phash, fingerprint, generator, " \
          "model_name, sampler, scheduler, seed, steps, cfg, width, height, prompt, negative_prompt, record_json, error"  # fmt: skip


def table(db: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], list[tuple[object, ...]]]:
    with Catalog(db) as cat:
        images = cat.db.execute(f"SELECT {COLUMNS} FROM images ORDER BY path").fetchall()
        adapters = cat.db.execute(
            "SELECT i.path, a.kind, a.name, a.weight, a.weight_clip FROM adapters a JOIN images i ON i.id = a.image_id "
            "ORDER BY 1, 2, 3"
        ).fetchall()
        hashes = cat.db.execute(
            "SELECT i.path, h.role, h.name, h.form, h.value FROM hashes h JOIN images i ON i.id = h.image_id "
            "ORDER BY 1, 2, 3, 4"
        ).fetchall()
    return images, adapters, hashes


def test_ray_and_local_give_identical_rows_on_the_fixture_corpus(images: Path, tmp_path: Path) -> None:
    import duckdb

    local = tmp_path / "local.db"
    with Catalog(local) as cat:
        index_folders([images], cat, jobs=1)
    shards = tmp_path / "shards"
    runner = CliRunner()
    result = runner.invoke(cli, ["catalog", "index", "--engine", "ray", "--shards", str(shards), "--json", str(images)])
    assert result.exit_code == 0, result.output
    n = json.loads(result.stdout)["files"]
    assert duckdb.sql(f"SELECT COUNT(*) FROM '{shards}/*.parquet'").fetchall()[0][0] == n
    comfy = duckdb.sql(f"SELECT COUNT(*) FROM '{shards}/*.parquet' WHERE generator = 'comfyui'").fetchall()[0][0]
    assert comfy >= 20
    merged = tmp_path / "ray.db"
    result = runner.invoke(cli, ["catalog", "import", "--db", str(merged), "--json", str(shards)])
    assert result.exit_code == 0 and json.loads(result.stdout)["rows"] == n
    assert table(merged) == table(local)
