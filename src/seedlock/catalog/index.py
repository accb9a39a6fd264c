"""Index folders into the catalog: incremental, move-aware, resumable, parallel.

- An unchanged file (same size, mtime, inode and device as its row) costs one stat.
- A file that vanished from one path and appears at another with the same inode, device,
  size and mtime (a rename or a move within a filesystem) keeps its row under the new
  path and is not read again. (A move across filesystems is a new file; its pixel hash
  still ties it to the same image.)
- New and changed files are read (the record, through ``read``), hashed (file bytes,
  decoded pixels, a 64-bit difference hash) in worker processes, and written in batches,
  one transaction each, so a kill at any moment loses at most the batch in flight and
  the next run picks up where it stopped, with nothing duplicated (a row per path).
- Rows under the indexed folders whose file is gone are deleted.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from seedlock.catalog.store import Catalog, ImageRow
from seedlock.errors import SeedlockError
from seedlock.files import find_images, usable_cpus
from seedlock.pin.hashing import hash_file
from seedlock.pin.index import wanted_files
from seedlock.record import canonical_json

__all__ = ["IndexSummary", "add_image", "describe", "describe_many", "index_folders", "phash"]

BATCH = 256


#: files up to this size are read once: the file hash and the pixel decode share the bytes
_READ_ONCE = 16 * 1024 * 1024


@dataclass(frozen=True)
class IndexSummary:
    """What one index run did."""

    seen: int
    unchanged: int
    added: int
    updated: int
    moved: int
    deleted: int
    errors: tuple[str, ...]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "seen": self.seen,
            "unchanged": self.unchanged,
            "added": self.added,
            "updated": self.updated,
            "moved": self.moved,
            "deleted": self.deleted,
            "errors": list(self.errors),
            "seconds": round(self.seconds, 3),
        }


def phash(image: Any) -> str:
    """64-bit difference hash (dHash) of an image (a Pillow image or an HxWxC array), as 16 hex digits.

    Grey, reduced to 9x8 with a box filter, one bit per horizontal neighbour pair: images
    that look the same (a re-encode, a resize, a light edit) land within a few bits.
    """
    import numpy as np
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(image[..., :3])) if isinstance(image, np.ndarray) else image
    grey = img.convert("L").resize((9, 8), Image.Resampling.BOX)
    a = np.frombuffer(grey.tobytes(), dtype=np.uint8).reshape(8, 9)
    return np.packbits(a[:, 1:] > a[:, :-1]).tobytes().hex()


def describe(path: str, st: os.stat_result | None = None) -> ImageRow:
    """Read and hash one image into a catalog row (a row with ``error`` when it cannot be read)."""
    from seedlock.readers import read
    from seedlock.record import model_stem

    st = st or os.stat(path)
    data: bytes | None = None
    if st.st_size <= _READ_ONCE:
        with open(path, "rb") as f:
            data = f.read()
        file_sha = hashlib.sha256(data).hexdigest()
    else:
        file_sha = hash_file(path, "sha256").hashes["sha256"]
    base: dict[str, Any] = {
        "path": path,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "inode": st.st_ino,
        "device": st.st_dev,
        "file_sha256": file_sha,
        "indexed_at": time.time(),
    }
    errors: list[str] = []
    fields: dict[str, Any] = {}
    try:
        rec = read(path)
    except SeedlockError as exc:
        errors.append(exc.message)
    else:
        has = rec.generator.value not in ("none", "c2pa")
        fields.update(
            fingerprint=rec.fingerprint if has else None,
            generator=rec.generator.value,
            model_name=rec.model.name if rec.model else None,
            model_stem=model_stem(rec.model.name) if rec.model and rec.model.name else None,
            sampler=rec.canonical_sampler,
            scheduler=rec.canonical_scheduler,
            seed=rec.seed if rec.seed is None or abs(rec.seed) < 2**63 else None,
            steps=rec.steps,
            cfg=rec.cfg_scale,
            width=rec.width,
            height=rec.height,
            prompt=rec.prompt,
            negative_prompt=rec.negative_prompt,
            record_json=_record_json(rec.to_dict(include_raw=False)),
            adapters=tuple((a.kind, a.name, model_stem(a.name), a.weight, a.weight_clip) for a in rec.adapters),
            hashes=tuple(
                (w.role, w.name, form, value.lower())
                for w in wanted_files(rec)
                for form, value in w.claims.items()
                if form not in ("name", "other")
            ),
        )
    try:
        fields.update(_pixel_hashes(path, data))
    except SeedlockError as exc:
        errors.append(exc.message)
    except MemoryError:
        errors.append("too large to decode in memory")
    return ImageRow(**base, **fields, error="; ".join(errors) or None)


def _pixel_hashes(path: str, data: bytes | None) -> dict[str, str]:
    """The pixel sha256 and the difference hash; a small file decodes from the bytes already read."""
    import io

    import numpy as np

    from seedlock.diff.pixels import STRIP_DECODE_MIN, decode, open_image, pixel_hash
    from seedlock.errors import ImageFormatError, PixelBudgetExceeded

    if data is not None:
        try:
            img = open_image(io.BytesIO(data), max_pixels=STRIP_DECODE_MIN - 1)
        except PixelBudgetExceeded:
            img = None  # a large image: the strip decoder, from the file
        except ImageFormatError:
            img = None  # decoded again from the file below, for a message that names it
        else:
            with img:
                return {"pixel_sha256": pixel_hash(np.asarray(img)), "phash": phash(img)}
    pixels = decode(path)
    return {"pixel_sha256": pixel_hash(pixels), "phash": phash(pixels)}


def _record_json(d: dict[str, Any]) -> str:
    """Compact, key-sorted JSON (orjson where it can: several times faster than json on records)."""
    import orjson

    try:
        return orjson.dumps(d, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # integers beyond 64 bits
        return canonical_json(d)


def describe_many(paths: list[str]) -> list[ImageRow | str]:
    """A row for each path, or a one-line error for a file that could not be opened."""
    out: list[ImageRow | str] = []
    for p in paths:
        try:
            out.append(describe(p))
        except OSError as exc:
            out.append(f"{p}: {exc.strerror or exc}")
    return out


def _described(paths: list[str], jobs: int) -> Iterator[ImageRow | str]:
    """Rows (or one-line errors) for every path, in any order; a process per core for large batches."""
    chunks = [paths[i : i + 64] for i in range(0, len(paths), 64)]
    if jobs > 1 and len(paths) >= 64:
        import multiprocessing as mp

        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        with ctx.Pool(jobs) as pool:
            # rows are keyed by path, so their arrival order does not matter
            for batch in pool.imap_unordered(describe_many, chunks):
                yield from batch
    else:
        for chunk in chunks:
            yield from describe_many(chunk)


def index_folders(
    roots: list[str | os.PathLike[str]],
    catalog: Catalog,
    *,
    jobs: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> IndexSummary:
    """Bring the catalog in line with the images under ``roots``; ``progress(done, total)`` as files are settled."""
    started = time.perf_counter()
    root_paths = [os.path.realpath(r) for r in roots]
    listing = find_images(root_paths, recursive=True)
    errors = list(listing.problems)
    db = catalog.db
    known: dict[str, tuple[int, int, int, int]] = {}
    for root in root_paths:
        prefix = root.rstrip(os.sep) + os.sep
        for path, size, mtime, inode, dev in db.execute(
            "SELECT path, size, mtime_ns, inode, device FROM images WHERE path = ? OR substr(path, 1, ?) = ?",
            (root, len(prefix), prefix),
        ):
            known[path] = (size, mtime, inode, dev)
    seen: set[str] = set()
    todo: list[tuple[str, os.stat_result]] = []
    unchanged = 0
    total = len(listing.files)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None and (done % 64 == 0 or done == total):
            progress(done, total)

    for path in listing.files:
        try:
            st = os.stat(path)
        except OSError as exc:
            errors.append(f"{path}: {exc.strerror or exc}")
            continue
        if not stat.S_ISREG(st.st_mode):
            errors.append(f"{path}: not a regular file; skipped")
            continue
        seen.add(path)
        if known.get(path) == (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev):
            unchanged += 1
            tick()
            continue
        todo.append((path, st))
    gone = {p for p in known if p not in seen}
    # a vanished row whose stat key reappears at a new path is a move: keep the row
    by_key = {known[p]: p for p in gone}
    moved = 0
    fresh: list[str] = []
    for path, st in todo:
        old = by_key.pop((st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev), None) if path not in known else None
        if old is not None:
            catalog.move(old, path, st)
            gone.discard(old)
            moved += 1
            tick()
        else:
            fresh.append(path)
    added = updated = 0
    batch: list[ImageRow] = []
    for item in _described(fresh, jobs or usable_cpus()):
        if isinstance(item, str):
            errors.append(item)
        else:
            batch.append(item)
            if item.error:
                errors.append(f"{item.path}: {item.error}")
        tick()
        if len(batch) >= BATCH:
            a, u = _write(catalog, batch, known)
            added, updated, batch = added + a, updated + u, []
    if batch:
        a, u = _write(catalog, batch, known)
        added, updated = added + a, updated + u
    deleted = catalog.delete(sorted(gone))
    return IndexSummary(
        seen=len(seen),
        unchanged=unchanged,
        added=added,
        updated=updated,
        moved=moved,
        deleted=deleted,
        errors=tuple(errors),
        seconds=time.perf_counter() - started,
    )


def _write(catalog: Catalog, rows: list[ImageRow], known: dict[str, Any]) -> tuple[int, int]:
    catalog.upsert(rows)
    updated = sum(1 for r in rows if r.path in known)
    return len(rows) - updated, updated


def log_images(paths: Iterable[str | os.PathLike[str]], db: str | os.PathLike[str] | None = None) -> None:
    """Log fresh outputs (generate, api run, comfy runs) into the catalog at ``db`` (default: the user's)."""
    paths = list(paths)
    if not paths:
        return
    with Catalog(db) as cat:
        for p in paths:
            add_image(p, cat)


def add_image(path: str | os.PathLike[str], catalog: Catalog | None = None) -> ImageRow:
    """Log one image (a fresh output) into the catalog; opens the default catalog when none is given."""
    p = os.path.realpath(path)
    row = describe(p)
    if catalog is not None:
        catalog.upsert([row])
        return row
    with Catalog() as cat:
        cat.upsert([row])
    return row
