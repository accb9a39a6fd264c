"""Drift: the same recipe with other pixels, batches whose settings moved, one image under many names."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from seedlock.catalog.store import Catalog
from seedlock.diff.fields import diff_records
from seedlock.diff.rules import Cause, diagnose
from seedlock.record import GenerationRecord

__all__ = ["BatchChange", "DriftReport", "DuplicateGroup", "RecipeGroup", "drift"]

#: the fields compared between consecutive batches
BATCH_FIELDS = ("generator", "model_stem", "sampler", "scheduler", "steps", "cfg", "width", "height")


@dataclass(frozen=True)
class RecipeGroup:
    """Images with one recipe fingerprint but more than one pixel hash, and why they may differ."""

    fingerprint: str
    #: pixel hash -> paths
    variants: dict[str, list[str]]
    #: ranked causes between the first two variants' records (environment, tool version, ...)
    causes: tuple[Cause, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "variants": [{"pixel_sha256": k, "paths": v} for k, v in self.variants.items()],
            "causes": [c.to_dict() for c in self.causes],
        }


@dataclass(frozen=True)
class BatchChange:
    """Between two consecutive batches (folders in time order): which fields changed."""

    before: str
    after: str
    #: field -> (values before, values after)
    changes: dict[str, tuple[list[Any], list[Any]]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "before": self.before,
            "after": self.after,
            "changes": {k: {"before": a, "after": b} for k, (a, b) in self.changes.items()},
        }


@dataclass(frozen=True)
class DuplicateGroup:
    """One image (pixel hash) under several paths or recipes."""

    pixel_sha256: str
    paths: list[str]
    fingerprints: list[str | None]

    def to_dict(self) -> dict[str, Any]:
        return {"pixel_sha256": self.pixel_sha256, "paths": self.paths, "fingerprints": self.fingerprints}


@dataclass(frozen=True)
class DriftReport:
    recipes: list[RecipeGroup] = field(default_factory=list)
    batches: list[BatchChange] = field(default_factory=list)
    duplicates: list[DuplicateGroup] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "same_recipe_different_pixels": [g.to_dict() for g in self.recipes],
            "batch_changes": [b.to_dict() for b in self.batches],
            "duplicates": [d.to_dict() for d in self.duplicates],
        }


def _record(catalog: Catalog, path: str) -> GenerationRecord | None:
    row = catalog.db.execute("SELECT record_json FROM images WHERE path = ?", (path,)).fetchone()
    return GenerationRecord.from_dict(json.loads(row[0])) if row and row[0] else None


def _distinct(catalog: Catalog, column: str, folder: str) -> list[Any]:
    sql = f"SELECT DISTINCT {column} FROM images WHERE folder = ? AND {column} IS NOT NULL ORDER BY {column}"
    return [r[0] for r in catalog.db.execute(sql, (folder,))]


def drift(catalog: Catalog, *, limit: int = 100) -> DriftReport:
    """Every kind of drift the catalog shows, at most ``limit`` groups of each."""
    db = catalog.db
    recipes: list[RecipeGroup] = []
    for (fp,) in db.execute(
        "SELECT fingerprint FROM images WHERE fingerprint IS NOT NULL AND pixel_sha256 IS NOT NULL "
        "GROUP BY fingerprint HAVING COUNT(DISTINCT pixel_sha256) > 1 ORDER BY fingerprint LIMIT ?",
        (limit,),
    ).fetchall():
        variants: dict[str, list[str]] = {}
        for px, path in db.execute(
            "SELECT pixel_sha256, path FROM images WHERE fingerprint = ? ORDER BY mtime_ns, path", (fp,)
        ):
            variants.setdefault(px, []).append(path)
        firsts = [paths[0] for paths in variants.values()][:2]
        a, b = (_record(catalog, p) for p in firsts)
        causes: tuple[Cause, ...] = ()
        if a is not None and b is not None:
            causes = tuple(diagnose(diff_records(a, b)))
        recipes.append(RecipeGroup(fp, variants, causes))
    batches: list[BatchChange] = []
    folders = db.execute("SELECT folder FROM images GROUP BY folder ORDER BY MIN(mtime_ns), folder").fetchall()
    previous: tuple[str, dict[str, list[Any]]] | None = None
    for (folder,) in folders:
        values = {f: _distinct(catalog, f, folder) for f in BATCH_FIELDS}
        if previous is not None:
            changes = {
                f: (previous[1][f], values[f])
                for f in BATCH_FIELDS
                if previous[1][f] != values[f] and (previous[1][f] or values[f])
            }
            if changes:
                batches.append(BatchChange(previous[0], folder, changes))
        previous = (folder, values)
    duplicates: list[DuplicateGroup] = []
    for (px,) in db.execute(
        "SELECT pixel_sha256 FROM images WHERE pixel_sha256 IS NOT NULL GROUP BY pixel_sha256 "
        "HAVING COUNT(*) > 1 ORDER BY pixel_sha256 LIMIT ?",
        (limit,),
    ).fetchall():
        rows = db.execute("SELECT path, fingerprint FROM images WHERE pixel_sha256 = ? ORDER BY path", (px,)).fetchall()
        duplicates.append(DuplicateGroup(px, [r[0] for r in rows], [r[1] for r in rows]))
    return DriftReport(recipes, batches[:limit], duplicates)
