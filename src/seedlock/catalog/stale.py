"""Stale images: their model or adapter files are not among the files ``seedlock model scan`` knows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from seedlock.catalog.store import Catalog
from seedlock.pin.cache import HashCache
from seedlock.pin.index import Wanted, resolve_one

__all__ = ["StaleImage", "stale"]


@dataclass(frozen=True)
class StaleImage:
    """An image that cannot be reproduced here: each missing file with its hashes."""

    path: str
    #: (role, name, claims, status: missing / hash-mismatch / name-only)
    missing: tuple[tuple[str, str, dict[str, str], str], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "missing": [{"role": r, "name": n, "hashes": h, "status": s} for r, n, h, s in self.missing],
        }


def stale(catalog: Catalog, cache: HashCache) -> Iterator[StaleImage]:
    """Every catalogued image whose model or adapter files the model index does not hold by hash."""
    db = catalog.db
    verdicts: dict[tuple[str, str, tuple[tuple[str, str], ...]], str] = {}
    rows = db.execute("SELECT id, path, model_name FROM images WHERE fingerprint IS NOT NULL ORDER BY path").fetchall()
    for image_id, path, model in rows:
        wanted: dict[tuple[str, str], dict[str, str]] = {}
        for role, name, form, value in db.execute(
            "SELECT role, name, form, value FROM hashes WHERE image_id = ?", (image_id,)
        ):
            wanted.setdefault((role, name), {})[form] = value
        for kind, name in db.execute("SELECT kind, name FROM adapters WHERE image_id = ?", (image_id,)):
            wanted.setdefault((kind, name), {})
        if model:
            wanted.setdefault(("checkpoint", model), {})
        missing = []
        for (role, name), claims in sorted(wanted.items()):
            key = (role, name, tuple(sorted(claims.items())))
            if key not in verdicts:
                verdicts[key] = resolve_one(Wanted(role, name, claims), cache).status
            if verdicts[key] != "found":
                missing.append((role, name, claims, verdicts[key]))
        if missing:
            yield StaleImage(path, tuple(missing))
