"""A hash cache so the second hash of an unchanged 7 GB file costs one stat.

Keyed by resolved path and checked against size, mtime_ns, inode, device and ctime: a file
replaced, rewritten, truncated or touched is hashed again, never served stale. As in
git's "racy clean" rule, an entry whose file was modified within two seconds of the
moment hashing began is not trusted: timestamps are coarse, and a rewrite within the
same tick would otherwise look unchanged.

The store is SQLite in WAL mode under :func:`seedlock.paths.home`, so two processes can
hash and write at once; a damaged cache is set aside and rebuilt rather than fatal.
The same database holds the model index (:mod:`seedlock.pin.index`), since resolving a
record is a query over cached hashes.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from seedlock.paths import home
from seedlock.pin.hashing import FileHashes, with_cached
from seedlock.pin.safetensors_header import SafetensorsHeader

RACY_NS = 2_000_000_000
SCHEMA_VERSION = 2  # 2: ctime_ns in the key

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    device INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    hashed_at_ns INTEGER NOT NULL,
    sha256 TEXT, autov1 TEXT, autov3 TEXT, blake3 TEXT, crc32 TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS files_sha256 ON files(sha256);
CREATE INDEX IF NOT EXISTS files_autov3 ON files(autov3);
CREATE INDEX IF NOT EXISTS files_blake3 ON files(blake3);
CREATE INDEX IF NOT EXISTS files_autov1 ON files(autov1);
CREATE TABLE IF NOT EXISTS models (
    path TEXT PRIMARY KEY,
    root TEXT NOT NULL,
    kind TEXT NOT NULL,
    stem TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS models_stem ON models(stem);
"""


def default_path() -> Path:
    return home() / "index.sqlite"


log = logging.getLogger(__name__)


class HashCache:
    """The cache and model index; use as a context manager or call :meth:`close`."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = self._open()
        except sqlite3.DatabaseError as exc:
            # not a database (or a newer schema): keep it for inspection, start a fresh one
            kept = self.path.with_suffix(f".damaged-{int(time.time())}")
            os.replace(self.path, kept)
            log.warning("hash cache %s was unreadable (%s); kept as %s, starting a new one", self.path, exc, kept)
            self.db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA busy_timeout = 60000")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            (version,) = db.execute("PRAGMA user_version").fetchone()
            if version not in (0, SCHEMA_VERSION):
                raise sqlite3.DatabaseError(f"schema version {version}")
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> HashCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the HashCacheLike protocol -------------------------------------------------

    def get(self, path: str, st: os.stat_result, forms: frozenset[str]) -> FileHashes | None:
        row = self.db.execute(
            "SELECT size, mtime_ns, inode, device, ctime_ns, hashed_at_ns, body FROM files WHERE path = ?", (path,)
        ).fetchone()
        if row is None:
            return None
        size, mtime_ns, inode, device, ctime_ns, hashed_at_ns, body = row
        # ctime too: it moves on every write and cannot be set back, unlike mtime
        if (size, mtime_ns, inode, device, ctime_ns) != (
            st.st_size,
            st.st_mtime_ns,
            st.st_ino,
            st.st_dev,
            st.st_ctime_ns,
        ):
            return None
        if mtime_ns + RACY_NS > hashed_at_ns:
            return None
        result = _from_body(json.loads(body))
        if not forms <= result.forms:
            return None
        return with_cached(result, forms)

    def put(self, result: FileHashes) -> None:
        """Store (or replace) a result; a cached entry with more forms is merged, not narrowed."""
        old = self.db.execute(
            "SELECT size, mtime_ns, inode, device, body FROM files WHERE path = ?", (result.path,)
        ).fetchone()
        hashes = dict(result.hashes)
        if old is not None and tuple(old[:4]) == (result.size, result.mtime_ns, result.inode, result.device):
            prior = json.loads(old[4]).get("hashes", {})
            hashes = {**prior, **hashes}
        body = _to_body(result, hashes)
        self.db.execute(
            "INSERT OR REPLACE INTO files (path, size, mtime_ns, inode, device, ctime_ns, hashed_at_ns,"
            " sha256, autov1, autov3, blake3, crc32, body) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                result.path,
                result.size,
                result.mtime_ns,
                result.inode,
                result.device,
                result.ctime_ns,
                result.hashed_at_ns,
                hashes.get("sha256"),
                hashes.get("autov1"),
                hashes.get("autov3"),
                hashes.get("blake3"),
                hashes.get("crc32"),
                body,
            ),
        )

    def forget(self, path: str) -> None:
        self.db.execute("DELETE FROM files WHERE path = ?", (path,))


def _to_body(result: FileHashes, hashes: dict[str, str]) -> str:
    d: dict[str, Any] = {
        "path": result.path,
        "size": result.size,
        "mtime_ns": result.mtime_ns,
        "inode": result.inode,
        "device": result.device,
        "ctime_ns": result.ctime_ns,
        "hashes": hashes,
        "autov3_rule": result.autov3_rule,
        "safetensors": (
            {
                "header_len": result.safetensors.header_len,
                "tensor_count": result.safetensors.tensor_count,
                "dtypes": dict(result.safetensors.dtypes),
                "metadata": dict(result.safetensors.metadata),
                "data_len": result.safetensors.data_len,
            }
            if result.safetensors
            else None
        ),
        "safetensors_error": result.safetensors_error,
        "claims": {k: dict(v) for k, v in result.claims.items()},
        "hashed_at_ns": result.hashed_at_ns,
    }
    return json.dumps(d, sort_keys=True)


def _from_body(d: dict[str, Any]) -> FileHashes:
    st = d.get("safetensors")
    return FileHashes(
        path=d["path"],
        size=d["size"],
        mtime_ns=d["mtime_ns"],
        inode=d["inode"],
        device=d["device"],
        ctime_ns=d.get("ctime_ns", 0),
        hashes=d["hashes"],
        autov3_rule=d.get("autov3_rule"),
        safetensors=SafetensorsHeader(**st) if st else None,
        safetensors_error=d.get("safetensors_error"),
        claims=d.get("claims", {}),
        hashed_at_ns=d.get("hashed_at_ns", 0),
    )
