"""The catalog database: schema, migrations and the typed rows that cross into it.

Migrations are a list of SQL scripts applied in order and counted in ``PRAGMA
user_version``; an older catalog is upgraded in place, a newer one is refused.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedlock.errors import CatalogError
from seedlock.paths import data_home

__all__ = ["Catalog", "ImageRow", "default_db"]

MIGRATIONS: Sequence[str] = (
    """
    CREATE TABLE images (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        folder TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        inode INTEGER NOT NULL,
        device INTEGER NOT NULL,
        file_sha256 TEXT NOT NULL,
        pixel_sha256 TEXT,
        phash TEXT,
        fingerprint TEXT,
        generator TEXT,
        model_name TEXT,
        model_stem TEXT,
        sampler TEXT,
        scheduler TEXT,
        seed INTEGER,
        steps INTEGER,
        cfg REAL,
        width INTEGER,
        height INTEGER,
        prompt TEXT,
        negative_prompt TEXT,
        record_json TEXT,
        error TEXT,
        indexed_at REAL NOT NULL
    );
    CREATE INDEX images_pixel ON images(pixel_sha256);
    CREATE INDEX images_file ON images(file_sha256);
    CREATE INDEX images_fingerprint ON images(fingerprint);
    CREATE INDEX images_seed ON images(seed);
    CREATE INDEX images_model ON images(model_stem);
    CREATE INDEX images_generator ON images(generator, sampler);
    CREATE INDEX images_folder ON images(folder, mtime_ns);
    CREATE INDEX images_inode ON images(device, inode);
    CREATE TABLE adapters (
        image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        stem TEXT NOT NULL,
        weight REAL,
        weight_clip REAL
    );
    CREATE INDEX adapters_image ON adapters(image_id);
    CREATE INDEX adapters_stem ON adapters(stem);
    CREATE TABLE hashes (
        image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        role TEXT NOT NULL,
        name TEXT NOT NULL,
        form TEXT NOT NULL,
        value TEXT NOT NULL
    );
    CREATE INDEX hashes_image ON hashes(image_id);
    CREATE INDEX hashes_value ON hashes(value);
    CREATE VIRTUAL TABLE prompts USING fts5(prompt, negative_prompt, content='images', content_rowid='id');
    CREATE TRIGGER images_ai AFTER INSERT ON images BEGIN
        INSERT INTO prompts(rowid, prompt, negative_prompt) VALUES (new.id, new.prompt, new.negative_prompt);
    END;
    CREATE TRIGGER images_ad AFTER DELETE ON images BEGIN
        INSERT INTO prompts(prompts, rowid, prompt, negative_prompt) VALUES ('delete', old.id, old.prompt, old.negative_prompt);
    END;
    CREATE TRIGGER images_au AFTER UPDATE OF prompt, negative_prompt ON images BEGIN
        INSERT INTO prompts(prompts, rowid, prompt, negative_prompt) VALUES ('delete', old.id, old.prompt, old.negative_prompt);
        INSERT INTO prompts(rowid, prompt, negative_prompt) VALUES (new.id, new.prompt, new.negative_prompt);
    END;
    """,
    # 2: newest-first pages (serve, --sort mtime) without sorting the whole table
    """
    CREATE INDEX images_mtime ON images(mtime_ns);
    """,
)

#: columns of ``images`` a row fills (id is the database's)
COLUMNS = (
    "path", "folder", "size", "mtime_ns", "inode", "device", "file_sha256", "pixel_sha256", "phash",
    "fingerprint", "generator", "model_name", "model_stem", "sampler", "scheduler", "seed", "steps", "cfg",
    "width", "height", "prompt", "negative_prompt", "record_json", "error", "indexed_at",
)  # fmt: skip


def default_db() -> Path:
    """The catalog file under the user data directory."""
    return data_home() / "catalog.db"


@dataclass(frozen=True)
class ImageRow:
    """One indexed file: what ``images`` holds, plus its adapters and hash claims."""

    path: str
    size: int
    mtime_ns: int
    inode: int
    device: int
    file_sha256: str
    indexed_at: float
    pixel_sha256: str | None = None
    phash: str | None = None
    fingerprint: str | None = None
    generator: str | None = None
    model_name: str | None = None
    model_stem: str | None = None
    sampler: str | None = None
    scheduler: str | None = None
    seed: int | None = None
    steps: int | None = None
    cfg: float | None = None
    width: int | None = None
    height: int | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    record_json: str | None = None
    error: str | None = None
    #: (kind, name, stem, weight, weight_clip)
    adapters: tuple[tuple[str, str, str, float | None, float | None], ...] = ()
    #: (role, name, form, value)
    hashes: tuple[tuple[str, str, str, str], ...] = field(default=())

    @property
    def folder(self) -> str:
        return os.path.dirname(self.path)

    def values(self) -> tuple[Any, ...]:
        return tuple(self.folder if c == "folder" else getattr(self, c) for c in COLUMNS)


class Catalog:
    """An open catalog; use as a context manager or call :meth:`close`."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_db()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"not a seedlock catalog ({exc})", path=self.path) from None

    def _migrate(self) -> None:
        (version,) = self.db.execute("PRAGMA user_version").fetchone()
        if version > len(MIGRATIONS):
            raise CatalogError(
                f"catalog schema {version} is newer than this seedlock reads ({len(MIGRATIONS)})", path=self.path
            )
        for i in range(version, len(MIGRATIONS)):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.executescript(MIGRATIONS[i].replace("BEGIN IMMEDIATE", ""))
            except BaseException:
                self.db.execute("ROLLBACK") if self.db.in_transaction else None
                raise
            self.db.execute(f"PRAGMA user_version = {i + 1}")
            if self.db.in_transaction:
                self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def upsert(self, rows: Iterable[ImageRow]) -> int:
        """Insert or replace rows (by path) in one transaction; returns how many."""
        batch = list(rows)
        if not batch:
            return 0
        placeholders = ",".join("?" for _ in COLUMNS)
        updates = ",".join(f"{c}=excluded.{c}" for c in COLUMNS if c != "path")
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany(
                f"INSERT INTO images ({','.join(COLUMNS)}) VALUES ({placeholders}) "
                f"ON CONFLICT(path) DO UPDATE SET {updates}",
                [row.values() for row in batch],
            )
            ids: dict[str, int] = {}
            paths = [row.path for row in batch]
            for i in range(0, len(paths), 500):
                part = paths[i : i + 500]
                ids.update(
                    self.db.execute(f"SELECT path, id FROM images WHERE path IN ({','.join('?' * len(part))})", part)
                )
            self.db.executemany("DELETE FROM adapters WHERE image_id = ?", [(ids[p],) for p in paths])
            self.db.executemany("DELETE FROM hashes WHERE image_id = ?", [(ids[p],) for p in paths])
            self.db.executemany(
                "INSERT INTO adapters VALUES (?,?,?,?,?,?)", [(ids[r.path], *a) for r in batch for a in r.adapters]
            )
            self.db.executemany(
                "INSERT INTO hashes VALUES (?,?,?,?,?)", [(ids[r.path], *h) for r in batch for h in r.hashes]
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return len(batch)

    def move(self, old: str, new: str, st: os.stat_result) -> None:
        """A file known by its content moved: keep its row, change its path and stat key."""
        self.db.execute(
            "UPDATE images SET path = ?, folder = ?, mtime_ns = ?, inode = ?, device = ? WHERE path = ?",
            (new, os.path.dirname(new), st.st_mtime_ns, st.st_ino, st.st_dev, old),
        )

    def delete(self, paths: Iterable[str]) -> int:
        n = 0
        for p in paths:
            n += self.db.execute("DELETE FROM images WHERE path = ?", (p,)).rowcount
        return n
