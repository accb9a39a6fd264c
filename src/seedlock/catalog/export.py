"""The tuple log: every catalogued generation as one JSON line (path, content hashes, record)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

from seedlock.catalog.store import Catalog
from seedlock.files import atomic_write_bytes

__all__ = ["export_jsonl", "export_parquet", "tuples"]


def tuples(catalog: Catalog) -> Iterator[dict[str, Any]]:
    """One dict per image, in path order: where it is, what it is (hashes), how it was made (record)."""
    for path, size, file_sha, px, ph, fp, rec, err in catalog.db.execute(
        "SELECT path, size, file_sha256, pixel_sha256, phash, fingerprint, record_json, error FROM images ORDER BY path"
    ):
        yield {
            "path": path,
            "size": size,
            "file_sha256": file_sha,
            "pixel_sha256": px,
            "phash": ph,
            "fingerprint": fp,
            "record": json.loads(rec) if rec else None,
            "error": err,
        }


def export_jsonl(catalog: Catalog, out: str | os.PathLike[str]) -> int:
    """Write the tuple log to ``out`` atomically; returns the number of lines."""
    lines = [json.dumps(t, ensure_ascii=False, sort_keys=True, separators=(",", ":")) for t in tuples(catalog)]
    atomic_write_bytes(out, ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8"))
    return len(lines)


def export_parquet(catalog: Catalog, out: str | os.PathLike[str]) -> int:
    """The tuple log as one Parquet file (the record as JSON text), written atomically; returns the row count."""
    import io

    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        from seedlock.errors import MissingExtra

        raise MissingExtra("cluster", "pyarrow") from None
    rows = [
        dict(t, record=json.dumps(t["record"], ensure_ascii=False) if t["record"] else None) for t in tuples(catalog)
    ]
    schema = pa.schema(
        [("path", pa.string()), ("size", pa.int64()), ("file_sha256", pa.string()), ("pixel_sha256", pa.string()),
         ("phash", pa.string()), ("fingerprint", pa.string()), ("record", pa.string()), ("error", pa.string())]
    )  # fmt: skip
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), buf)
    atomic_write_bytes(out, buf.getvalue())
    return len(rows)
