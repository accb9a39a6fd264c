"""Find images in the catalog by any recorded field, by prompt text, by content."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from seedlock.catalog.store import Catalog
from seedlock.errors import CatalogError
from seedlock.record import model_stem

__all__ = ["Filters", "query"]

#: columns a query returns, in this order
RESULT_COLUMNS = (
    "path", "generator", "model_name", "sampler", "scheduler", "seed", "steps", "cfg", "width", "height",
    "prompt", "negative_prompt", "fingerprint", "pixel_sha256", "file_sha256", "phash", "mtime_ns", "error", "id",
)  # fmt: skip
SORTS = {
    "path": "i.path",
    "mtime": "i.mtime_ns",
    "seed": "i.seed",
    "steps": "i.steps",
    "model": "i.model_stem",
    "indexed": "i.id",
}


@dataclass(frozen=True)
class Filters:
    """What to match; every field set must match (AND)."""

    generator: str | None = None
    #: a model name (file stem) or a hash prefix of any form the record carries
    model: str | None = None
    sampler: str | None = None
    scheduler: str | None = None
    seed: int | None = None
    steps: int | None = None
    cfg: float | None = None
    #: "WxH"
    size: str | None = None
    lora: str | None = None
    #: full-text search over prompt and negative prompt (FTS5 syntax)
    prompt: str | None = None
    fingerprint: str | None = None
    pixel_sha256: str | None = None
    #: mtime at or after this Unix time
    since: float | None = None
    folder: str | None = None
    errors_only: bool = False


def _where(f: Filters, *, with_prompt: bool = True) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []

    def eq(column: str, value: Any) -> None:
        clauses.append(f"{column} = ?")
        params.append(value)

    if f.generator:
        eq("i.generator", f.generator.lower())
    if f.sampler:
        eq("i.sampler", f.sampler)
    if f.scheduler:
        eq("i.scheduler", f.scheduler)
    if f.seed is not None:
        eq("i.seed", f.seed)
    if f.steps is not None:
        eq("i.steps", f.steps)
    if f.cfg is not None:
        clauses.append("abs(i.cfg - ?) < 1e-6")
        params.append(f.cfg)
    if f.size:
        try:
            w, h = (int(x) for x in f.size.lower().split("x"))
        except ValueError:
            raise CatalogError(f"size {f.size!r} is not WxH") from None
        eq("i.width", w)
        eq("i.height", h)
    if f.model:
        value = f.model.lower()
        clauses.append(
            "(i.model_stem = ? OR EXISTS (SELECT 1 FROM hashes h WHERE h.image_id = i.id AND h.role = 'checkpoint' "
            "AND h.value >= ? AND h.value < ?))"
        )
        params += [model_stem(f.model), value, value + "g"]
    if f.lora:
        clauses.append("EXISTS (SELECT 1 FROM adapters a WHERE a.image_id = i.id AND a.stem = ?)")
        params.append(model_stem(f.lora))
    if f.fingerprint:
        clauses.append("i.fingerprint >= ? AND i.fingerprint < ?")
        params += [f.fingerprint.lower(), f.fingerprint.lower() + "g"]
    if f.pixel_sha256:
        clauses.append("i.pixel_sha256 >= ? AND i.pixel_sha256 < ?")
        params += [f.pixel_sha256.lower(), f.pixel_sha256.lower() + "g"]
    if f.since is not None:
        clauses.append("i.mtime_ns >= ?")
        params.append(int(f.since * 1e9))
    if f.folder:
        eq("i.folder", f.folder)
    if f.errors_only:
        clauses.append("i.error IS NOT NULL")
    if f.prompt and with_prompt:
        clauses.append("i.id IN (SELECT rowid FROM prompts WHERE prompts MATCH ?)")
        params.append(f.prompt)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def query(
    catalog: Catalog,
    filters: Filters = Filters(),
    *,
    sort: str = "auto",
    descending: bool = False,
    limit: int | None = 100,
    offset: int = 0,
    with_record: bool = False,
) -> Iterator[dict[str, Any]]:
    """Matching rows as dicts (``record`` added with ``with_record``), sorted and paged.

    ``sort="auto"`` is path order, except for a prompt search, which comes in index order
    straight from the full-text index: a common word can match most of a million rows, and
    sorting all of them to show the first page would cost far more than the search.

    Raises:
        CatalogError: an unknown sort key, or a malformed full-text query.
    """
    import sqlite3

    if sort != "auto" and sort not in SORTS:
        raise CatalogError(f"unknown sort {sort!r} (known: auto, {', '.join(SORTS)})")
    cols = ", ".join(f"i.{c}" for c in RESULT_COLUMNS) + (", i.record_json" if with_record else "")
    direction = "DESC" if descending else "ASC"
    if sort == "auto" and filters.prompt:
        where, params = _where(filters, with_prompt=False)
        extra = where.replace(" WHERE ", " AND ", 1)
        sql = (
            f"SELECT {cols} FROM prompts p JOIN images i ON i.id = p.rowid WHERE prompts MATCH ?{extra} "
            f"ORDER BY p.rowid {direction}"
        )
        params = [filters.prompt, *params]
    else:
        where, params = _where(filters)
        order = SORTS["path" if sort == "auto" else sort]
        sql = f"SELECT {cols} FROM images i{where} ORDER BY {order} {direction}, i.path"
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params += [limit, offset]
    try:
        for row in catalog.db.execute(sql, params):
            out = dict(zip(RESULT_COLUMNS, row))
            if with_record:
                out["record"] = json.loads(row[-1]) if row[-1] else None
            yield out
    except sqlite3.OperationalError as exc:
        raise CatalogError(f"query failed ({exc})") from None
