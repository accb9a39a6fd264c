"""``seedlock.lock``: every file a recipe needs, by content, and its verification.

The format is TOML (``docs/pin.md``): a version, the recipe fingerprint, a root folder
relative to the lock file, and one ``[[file]]`` table per model or adapter with its
path relative to that root, size and every hash form. Verification recomputes the
hashes (through the cache, whose keys make a stale answer impossible) and reports each
entry as ``ok``, ``changed`` or ``missing``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedlock._version import __version__
from seedlock.errors import LockFileError
from seedlock.files import atomic_write_bytes
from seedlock.pin.cache import HashCache
from seedlock.pin.hashing import hash_file
from seedlock.pin.index import Resolution
from seedlock.record import GenerationRecord

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LOCK_VERSION = 1
#: the forms a lock stores and compares
LOCK_FORMS = ("sha256", "autov1", "autov2", "autov3", "blake3", "crc32")


@dataclass(frozen=True)
class LockEntry:
    role: str
    name: str
    #: relative to the lock's root; None when the file was not found at lock time
    path: str | None
    size: int | None
    hashes: Mapping[str, str]
    weight: float | None = None
    matched_by: str | None = None

    def to_toml(self) -> dict[str, Any]:
        d: dict[str, Any] = {"role": self.role, "name": self.name}
        if self.path is not None:
            d["path"] = self.path
        if self.size is not None:
            d["size"] = self.size
        if self.weight is not None:
            d["weight"] = self.weight
        if self.matched_by:
            d["matched_by"] = self.matched_by
        d["hashes"] = dict(sorted(self.hashes.items()))
        return d


@dataclass(frozen=True)
class LockFile:
    fingerprint: str
    root: str
    entries: tuple[LockEntry, ...]
    source: str | None = None
    created_by: str = f"seedlock {__version__}"

    def to_toml(self) -> str:
        import tomli_w

        doc: dict[str, Any] = {
            "version": LOCK_VERSION,
            "fingerprint": self.fingerprint,
            "root": self.root,
            "created_by": self.created_by,
        }
        if self.source:
            doc["source"] = self.source
        doc["file"] = [e.to_toml() for e in self.entries]
        return "# seedlock lock file: the exact bytes this recipe needs (docs/pin.md)\n" + tomli_w.dumps(doc)


def build_lock(
    record: GenerationRecord,
    resolutions: list[Resolution],
    lock_path: str | os.PathLike[str],
    cache: HashCache,
    *,
    root: str | os.PathLike[str] | None = None,
    source: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> LockFile:
    """A lock for ``record`` from resolved files; unresolved entries keep the record's claims."""
    lock_dir = Path(lock_path).resolve().parent
    root_dir = Path(root).resolve() if root is not None else lock_dir
    entries: list[LockEntry] = []
    for r in resolutions:
        w = r.wanted
        if r.status in ("found", "name-only") and r.path:
            fh = hash_file(r.path, "all", cache=cache, progress=progress)
            entries.append(
                LockEntry(
                    role=w.role,
                    name=w.name,
                    path=Path(os.path.relpath(fh.path, root_dir)).as_posix(),
                    size=fh.size,
                    hashes={k: v for k, v in fh.hashes.items() if k in LOCK_FORMS},
                    weight=w.weight,
                    matched_by=r.matched_by or "name",
                )
            )
        else:
            entries.append(
                LockEntry(role=w.role, name=w.name, path=None, size=None, hashes=dict(w.claims), weight=w.weight)
            )
    return LockFile(
        fingerprint=record.fingerprint,
        root=Path(os.path.relpath(root_dir, lock_dir)).as_posix(),
        entries=tuple(entries),
        source=source,
    )


def write_lock(lock: LockFile, path: str | os.PathLike[str]) -> None:
    atomic_write_bytes(Path(path), lock.to_toml().encode("utf-8"))


def read_lock(path: str | os.PathLike[str]) -> LockFile:
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise LockFileError(f"not a TOML lock file ({exc})", path=p) from None
    if doc.get("version") != LOCK_VERSION:
        raise LockFileError(
            f"unsupported lock version {doc.get('version')!r} (this seedlock reads {LOCK_VERSION})", path=p
        )
    entries: list[LockEntry] = []
    files = doc.get("file", [])
    if not isinstance(files, list):
        raise LockFileError("file must be an array of [[file]] tables", path=p)
    for i, e in enumerate(files):
        if not isinstance(e, dict) or not isinstance(e.get("hashes"), dict) or "role" not in e:
            raise LockFileError(f"[[file]] entry {i + 1} needs role and hashes", path=p)
        for key, types in (("path", (str,)), ("size", (int,)), ("weight", (int, float)), ("matched_by", (str,))):
            value = e.get(key)
            if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
                raise LockFileError(
                    f"[[file]] entry {i + 1}: {key} must be {' or '.join(t.__name__ for t in types)}, "
                    f"not {type(value).__name__}",
                    path=p,
                )
        if not all(isinstance(v, str) for v in e["hashes"].values()):
            raise LockFileError(f"[[file]] entry {i + 1}: every hash must be a string", path=p)
        entries.append(
            LockEntry(
                role=str(e["role"]),
                name=str(e.get("name", "")),
                path=e.get("path"),
                size=e.get("size"),
                hashes={str(k): str(v).lower() for k, v in e["hashes"].items()},
                weight=e.get("weight"),
                matched_by=e.get("matched_by"),
            )
        )
    if not isinstance(doc.get("root", "."), str):
        raise LockFileError("root must be a string", path=p)
    return LockFile(
        fingerprint=str(doc.get("fingerprint", "")),
        root=str(doc.get("root", ".")),
        entries=tuple(entries),
        source=doc.get("source"),
        created_by=str(doc.get("created_by", "")),
    )


@dataclass(frozen=True)
class EntryCheck:
    entry: LockEntry
    #: ``ok``, ``changed``, ``missing`` or ``refused`` (outside the lock's root)
    status: str
    path: str | None = None
    #: form -> (locked, now) for each differing hash
    differences: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.entry.role,
            "name": self.entry.name,
            "path": self.path,
            "status": self.status,
            "differences": {k: {"locked": a, "now": b} for k, (a, b) in self.differences.items()},
            "note": self.note,
        }


def check_lock(
    lock: LockFile,
    lock_path: str | os.PathLike[str],
    cache: HashCache | None,
    *,
    progress: Callable[[int], None] | None = None,
    allow_outside: bool = False,
) -> list[EntryCheck]:
    """Recompute every locked file; ``cache=None`` forces a full re-read.

    Paths are resolved against the lock's root (relative to the lock file); one that
    leads outside it (an absolute path, ``..``, a symlink) is refused unless
    ``allow_outside``, so a lock file from elsewhere cannot make seedlock read any file.
    """
    root = (Path(lock_path).resolve().parent / lock.root).resolve()
    out: list[EntryCheck] = []
    for e in lock.entries:
        if e.path is None:
            out.append(EntryCheck(e, "missing", note="was not found when the lock was written"))
            continue
        full = (root / e.path).resolve()
        if not allow_outside and not full.is_relative_to(root):
            out.append(EntryCheck(e, "refused", path=str(full), note=f"outside the lock's root {root}; not read"))
            continue
        if not full.is_file():
            out.append(EntryCheck(e, "missing", path=str(full), note="no such file"))
            continue
        forms = [f for f in e.hashes if f in LOCK_FORMS] or ["sha256"]
        fh = hash_file(full, forms, cache=cache, progress=progress)
        diffs = {f: (v, fh.hashes.get(f, "")) for f, v in e.hashes.items() if f in LOCK_FORMS and fh.hashes.get(f) != v}
        note = ""
        if e.size is not None and fh.size != e.size:
            note = f"size {e.size} -> {fh.size}"
        if diffs or note:
            out.append(EntryCheck(e, "changed", path=str(full), differences=diffs, note=note))
        else:
            out.append(EntryCheck(e, "ok", path=str(full)))
    return out
