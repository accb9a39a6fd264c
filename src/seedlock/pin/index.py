"""The local model index: which files on this machine are the weights a record names.

``scan`` hashes model folders into the cache database; ``resolve`` matches every model
and adapter of a record against it by content (any hash form the record carries), says
what is missing, and flags a file whose *name* matches but whose bytes do not.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedlock.pin.cache import HashCache
from seedlock.pin.hashing import FileHashes, hash_file
from seedlock.record import GenerationRecord, model_stem

MODEL_EXTENSIONS = (".safetensors", ".sft", ".ckpt", ".pt", ".pth", ".bin", ".gguf")

#: folder names (lower-case) that say what kind of weights a file is
_KIND_BY_FOLDER: Mapping[str, str] = {
    "lora": "lora",
    "loras": "lora",
    "lycoris": "lora",
    "locon": "lora",
    "embeddings": "embedding",
    "embedding": "embedding",
    "textual_inversion": "embedding",
    "vae": "vae",
    "vae_approx": "vae",
    "controlnet": "controlnet",
    "hypernetworks": "hypernetwork",
    "ipadapter": "ip-adapter",
    "ip_adapter": "ip-adapter",
    "upscale_models": "upscaler",
    "esrgan": "upscaler",
}


def guess_kind(path: Path, root: Path) -> str:
    """``checkpoint`` unless a folder between root and file names another kind."""
    try:
        parts = path.relative_to(root).parts[:-1]
    except ValueError:
        parts = path.parts[:-1]
    for part in (*root.parts[-1:], *parts):
        kind = _KIND_BY_FOLDER.get(part.lower())
        if kind:
            return kind
    return "checkpoint"


def iter_model_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[tuple[Path, Path]]:
    """(file, root) for every model file under the given files and folders, sorted."""
    for raw in paths:
        root = Path(os.path.realpath(raw))
        if root.is_file():
            yield root, root.parent
            continue
        if not root.is_dir():
            raise FileNotFoundError(2, "No such file or directory", str(raw))
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                if name.lower().endswith(MODEL_EXTENSIONS):
                    yield Path(dirpath) / name, root


@dataclass(frozen=True)
class ScanResult:
    files: tuple[FileHashes, ...]
    kinds: Mapping[str, str]
    errors: tuple[str, ...] = ()


def scan(
    paths: Iterable[str | os.PathLike[str]],
    cache: HashCache,
    *,
    forms: str = "all",
    progress: Callable[[int], None] | None = None,
    on_file: Callable[[Path], None] | None = None,
) -> ScanResult:
    """Hash every model file under ``paths`` (cached) and record it in the model index."""
    files: list[FileHashes] = []
    kinds: dict[str, str] = {}
    errors: list[str] = []
    for path, root in iter_model_files(paths):
        if on_file:
            on_file(path)
        try:
            result = hash_file(path, forms, cache=cache, progress=progress)
        except OSError as exc:
            errors.append(f"{path}: {getattr(exc, 'message', None) or exc.strerror or exc}")
            continue
        kind = guess_kind(path, root)
        if result.safetensors and any(k.startswith("ss_network") for k in result.safetensors.metadata):
            kind = "lora"
        cache.db.execute(
            "INSERT OR REPLACE INTO models (path, root, kind, stem) VALUES (?,?,?,?)",
            (result.path, str(root), kind, model_stem(path.name)),
        )
        files.append(result)
        kinds[result.path] = kind
    return ScanResult(files=tuple(files), kinds=kinds, errors=tuple(errors))


@dataclass(frozen=True)
class Wanted:
    """One model file a record needs."""

    role: str
    name: str
    #: hash claims from the record (form -> hex, possibly a prefix)
    claims: Mapping[str, str] = field(default_factory=dict)
    weight: float | None = None


def wanted_files(record: GenerationRecord) -> list[Wanted]:
    """Every model file the record names: checkpoint, VAE, adapters, in that order."""
    out: list[Wanted] = []
    if record.model and (record.model.name or record.model.hashes):
        out.append(Wanted("checkpoint", record.model.name or "", dict(record.model.hashes)))
    if record.vae and (record.vae.name or record.vae.hashes):
        out.append(Wanted("vae", record.vae.name or "", dict(record.vae.hashes)))
    for a in record.adapters:
        out.append(Wanted(a.kind, a.name, dict(a.hashes), a.weight))
    return out


#: claim form -> (database column, minimum length for a prefix match to mean anything)
_COLUMNS: Mapping[str, tuple[str, int]] = {
    "sha256": ("sha256", 8),
    "autov2": ("sha256", 10),
    "autov3": ("autov3", 10),
    "blake3": ("blake3", 8),
    "autov1": ("autov1", 8),
}


@dataclass(frozen=True)
class Resolution:
    wanted: Wanted
    #: ``found`` (hash match), ``name-only`` (no hash to check; a file of that name exists),
    #: ``hash-mismatch`` (a file of that name exists but its bytes differ), ``missing``
    status: str
    path: str | None = None
    #: the claim that matched, e.g. ``autov2=31e35c80fc``
    matched_by: str | None = None
    candidates: tuple[str, ...] = ()
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.wanted.role,
            "name": self.wanted.name,
            "claims": dict(self.wanted.claims),
            "status": self.status,
            "path": self.path,
            "matched_by": self.matched_by,
            "candidates": list(self.candidates),
            "note": self.note,
        }


def find_by_name(cache: HashCache, name: str) -> str | None:
    """The indexed model file a tool names by relative path or file name (``loras/x.safetensors``,
    ``x.safetensors``), or None: the longest matching path suffix wins over a bare file name."""
    norm = name.replace("\\", "/")
    paths = [str(r[0]) for r in cache.db.execute("SELECT path FROM models").fetchall()]
    hit = next((p for p in paths if p.replace("\\", "/").endswith("/" + norm)), None)
    return hit or next((p for p in paths if Path(p).name == Path(norm).name), None)


def find_by_hash(cache: HashCache, form: str, value: str) -> list[str]:
    """Paths of indexed files whose ``form`` hash starts with ``value``."""
    value = value.lower().removeprefix("0x")
    if not value or not all(c in "0123456789abcdef" for c in value):
        return []
    if form in ("crc32", "crc32_civitai"):
        rows = cache.db.execute(
            "SELECT f.path FROM files f JOIN models m ON m.path = f.path WHERE f.crc32 = ? OR f.crc32 = ?",
            (value, bytes.fromhex(value)[::-1].hex() if len(value) == 8 else value),
        ).fetchall()
        return [r[0] for r in rows]
    col = _COLUMNS.get(form)
    if col is None or len(value) < col[1]:
        return []
    rows = cache.db.execute(
        f"SELECT f.path FROM files f JOIN models m ON m.path = f.path WHERE f.{col[0]} >= ? AND f.{col[0]} < ?",
        (value, value + "g"),
    ).fetchall()
    return [r[0] for r in rows]


def resolve(record: GenerationRecord, cache: HashCache) -> list[Resolution]:
    """Match each model file of the record against the index (run :func:`scan` first)."""
    out: list[Resolution] = []
    for w in wanted_files(record):
        out.append(resolve_one(w, cache))
    return out


def resolve_one(w: Wanted, cache: HashCache) -> Resolution:
    checkable = {f: v for f, v in w.claims.items() if f in _COLUMNS or f.startswith("crc32")}
    # strongest claim first: full sha256, then tensor hash, blake3, AutoV2, AutoV1
    order = ["sha256", "autov3", "blake3", "autov2", "crc32", "crc32_civitai", "autov1"]
    for form in order:
        if form not in checkable:
            continue
        paths = find_by_hash(cache, form, checkable[form])
        live = [p for p in paths if os.path.exists(p)]
        if live:
            return Resolution(w, "found", path=live[0], matched_by=f"{form}={checkable[form]}", candidates=tuple(live))
    stem = model_stem(w.name)
    by_name = [
        r[0]
        for r in cache.db.execute("SELECT path FROM models WHERE stem = ?", (stem,)).fetchall()
        if stem and os.path.exists(r[0])
    ]
    if by_name and checkable:
        claims = ", ".join(f"{k}={v}" for k, v in sorted(checkable.items()))
        return Resolution(
            w,
            "hash-mismatch",
            path=by_name[0],
            candidates=tuple(by_name),
            note=f"a file named {Path(by_name[0]).name} exists, but it is not the same weights (record says {claims})",
        )
    if by_name:
        return Resolution(
            w,
            "name-only",
            path=by_name[0],
            candidates=tuple(by_name),
            note="matched by file name only: the record carries no content hash to check",
        )
    why = "no indexed file has its hash" if checkable else "no indexed file has its name"
    if not checkable and w.claims:
        why += " (its only hash is a name hash, which identifies nothing)"
    return Resolution(w, "missing", note=why)
