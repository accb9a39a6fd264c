"""Indexing beyond one machine: the same per-file work as a Ray Data pipeline, into Parquet shards.

``paths -> map_batches(read + hash) -> write_parquet`` is the shape large image pipelines
take (img2dataset and its peers): the driver lists the files, Ray spreads the batches over
every worker of the cluster, and each block lands as one Parquet file with a fixed
schema. The shards are queryable as they are (DuckDB reads ``shards/*.parquet``), and
``seedlock catalog import`` loads them into the SQLite catalog, giving the rows the
local indexer would have written.
"""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

from seedlock.catalog.index import describe_many
from seedlock.catalog.store import Catalog, ImageRow
from seedlock.errors import MissingExtra
from seedlock.files import find_images

__all__ = ["import_shards", "index_with_ray", "row_from_columns", "schema"]

_INT = ("size", "mtime_ns", "inode", "device", "seed", "steps", "width", "height")
_FLOAT = ("indexed_at", "cfg")


def schema() -> Any:
    """The Parquet schema of a shard: ImageRow's fields, adapters and hashes as JSON text."""
    import pyarrow as pa

    cols = []
    for f in fields(ImageRow):
        if f.name in _INT:
            cols.append(pa.field(f.name, pa.int64()))
        elif f.name in _FLOAT:
            cols.append(pa.field(f.name, pa.float64()))
        else:
            cols.append(pa.field(f.name, pa.string()))
    return pa.schema(cols)


def _columns(row: ImageRow) -> dict[str, Any]:
    out: dict[str, Any] = {f.name: getattr(row, f.name) for f in fields(ImageRow)}
    out["adapters"] = json.dumps([list(a) for a in row.adapters])
    out["hashes"] = json.dumps([list(h) for h in row.hashes])
    return out


def row_from_columns(d: dict[str, Any]) -> ImageRow:
    """A shard row back into an ImageRow."""
    values = dict(d)
    values["adapters"] = tuple(tuple(a) for a in json.loads(values.get("adapters") or "[]"))
    values["hashes"] = tuple(tuple(h) for h in json.loads(values.get("hashes") or "[]"))
    return ImageRow(**values)


def _describe_batch(batch: Any) -> Any:
    """Ray map_batches: a pyarrow table of paths -> a pyarrow table of rows (the fixed schema).

    A file that cannot be opened any more (removed after the listing) gives no row, as in
    the local indexer; every other problem is a row with ``error`` set.
    """
    import pyarrow as pa

    rows = [_columns(r) for r in describe_many(batch.column("path").to_pylist()) if not isinstance(r, str)]
    return pa.Table.from_pylist(rows, schema=schema())


def index_with_ray(
    roots: list[str | os.PathLike[str]],
    shards: str | os.PathLike[str],
    *,
    address: str | None = None,
    batch_size: int = 64,
) -> int:
    """Read and hash every image under ``roots`` on a Ray cluster into Parquet shards; returns the file count.

    Args:
        address: a running cluster (``ray://head:10001`` or ``auto``); None starts a local one.
    """
    try:
        import ray
    except ImportError:
        raise MissingExtra("cluster", "ray") from None
    listing = find_images([os.path.realpath(r) for r in roots], recursive=True)
    paths = [os.path.realpath(p) for p in listing.files]
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ds: Any = ray.data.from_items([{"path": p} for p in paths])
        ds = ds.map_batches(_describe_batch, batch_size=batch_size, batch_format="pyarrow")
        Path(shards).mkdir(parents=True, exist_ok=True)
        ds.write_parquet(str(shards))
    finally:
        if started:
            ray.shutdown()
    return len(paths)


def import_shards(catalog: Catalog, shards: str | os.PathLike[str], *, batch: int = 512) -> int:
    """Load every Parquet shard under ``shards`` into the catalog (rows keyed by path); returns the row count."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingExtra("cluster", "pyarrow") from None
    n = 0
    pending: list[ImageRow] = []
    for shard in sorted(Path(shards).rglob("*.parquet")):
        for d in pq.read_table(shard).to_pylist():
            pending.append(row_from_columns(d))
            if len(pending) >= batch:
                n += catalog.upsert(pending)
                pending = []
    if pending:
        n += catalog.upsert(pending)
    return n
