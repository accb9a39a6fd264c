"""Every hash form the ecosystem names a model file by, in one pass over the file.

The forms (``docs/pin.md``, spec: hashing-determinism §1):

``sha256``  whole file; ``autov2`` is its first 10 hex (A1111 "Model hash")
``autov1``  sha256 of the 64 KiB at offset 1 MiB, 8 hex (A1111's legacy hash)
``autov3``  sha256 of the safetensors tensor data, i.e. bytes ``[8 + header_len, EOF)``;
            A1111 "Lora hashes" are its first 12 hex. For other files Civitai's rule:
            skip ``n`` header bytes when the first 8 bytes read ``n < 16 MiB``, else skip 8.
``blake3``  whole file (InvokeAI, Civitai)
``crc32``   IEEE CRC-32 of the whole file; ``crc32_civitai`` is the same in byte-reversed
            order, which is how Civitai prints it.

Speed: one reader feeds fixed buffers to one thread per "lane"; hashlib, blake3 and
zlib release the GIL on large buffers, so two sha256 streams run on two cores while
the main thread reads ahead. A file that changes while it is read is refused.
"""

from __future__ import annotations

import hashlib
import os
import queue
import stat as stat_mod
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from seedlock.errors import HashingError, InvalidSpec, SafetensorsHeaderError
from seedlock.pin.safetensors_header import HASH_CLAIMS, SafetensorsHeader, looks_like_safetensors, read_header

#: named sets of forms: what ``--forms`` accepts
FORM_SETS: Mapping[str, frozenset[str]] = {
    "sha256": frozenset({"sha256", "autov1", "autov2"}),
    "default": frozenset({"sha256", "autov1", "autov2", "autov3"}),
    "all": frozenset({"sha256", "autov1", "autov2", "autov3", "blake3", "crc32", "crc32_civitai"}),
}

CHUNK = 8 << 20
SLOTS = 4
AUTOV1_OFFSET, AUTOV1_LEN = 0x100000, 0x10000
#: Civitai skips the "header" only when its claimed length is below this
CIVITAI_HEADER_LIMIT = 16 << 20
#: files below this are hashed on the calling thread (threads cost more than they save)
THREADED_MIN = 4 * CHUNK

Progress = Callable[[int], None]


class _Updater(Protocol):
    def update(self, data: memoryview, /) -> object: ...


class _Crc32:
    """zlib.crc32 as an incremental hasher (zlib releases the GIL above 5 KiB)."""

    def __init__(self) -> None:
        self.value = 0

    def update(self, data: memoryview) -> None:
        self.value = zlib.crc32(data, self.value)


@dataclass(frozen=True)
class FileHashes:
    """The hashes of one file, with the identity (stat) they were computed for."""

    path: str
    size: int
    mtime_ns: int
    inode: int
    device: int
    ctime_ns: int
    #: form -> lower-case hex (``docs/pin.md`` lists the forms)
    hashes: Mapping[str, str]
    #: how ``autov3`` was delimited: ``safetensors`` (validated header) or ``civitai``
    autov3_rule: str | None = None
    safetensors: SafetensorsHeader | None = None
    #: why a file that looks like safetensors failed validation
    safetensors_error: str | None = None
    #: metadata hash claims (``sshs_model_hash`` ...) and whether they match the bytes
    claims: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: when the hashing started (ns since epoch): a cache entry for a file modified
    #: within two seconds of this is not trusted (racy timestamps)
    hashed_at_ns: int = 0
    seconds: float = 0.0
    cached: bool = False

    @property
    def forms(self) -> frozenset[str]:
        return frozenset(self.hashes)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "hashes": dict(sorted(self.hashes.items())),
            "autov3_rule": self.autov3_rule,
            "safetensors": self.safetensors.to_dict() if self.safetensors else None,
            "safetensors_error": self.safetensors_error,
            "claims": {k: dict(v) for k, v in sorted(self.claims.items())},
            "cached": self.cached,
            "seconds": round(self.seconds, 6),
        }
        return out


def resolve_forms(spec: str | Iterable[str]) -> frozenset[str]:
    """A set name (``sha256``/``default``/``all``) or form names -> the forms to compute."""
    if isinstance(spec, str):
        if spec in FORM_SETS:
            return FORM_SETS[spec]
        spec = [s.strip() for s in spec.split(",") if s.strip()]
    wanted: set[str] = set()
    known = FORM_SETS["all"]
    for name in spec:
        if name in FORM_SETS:
            wanted |= FORM_SETS[name]
        elif name in known:
            wanted.add(name)
        else:
            raise InvalidSpec(
                f"unknown hash form {name!r} (known: {', '.join(sorted(known | set(FORM_SETS)))})", value=name
            )
    if "autov2" in wanted or "autov1" in wanted:
        wanted.add("sha256")
    if "crc32_civitai" in wanted:
        wanted.add("crc32")
    return frozenset(wanted)


def hash_file(
    path: str | os.PathLike[str],
    forms: str | Iterable[str] = "default",
    *,
    progress: Progress | None = None,
    cache: HashCacheLike | None = None,
    threads: bool = True,
) -> FileHashes:
    """Hash one file in every requested form, in one pass.

    With ``cache``, an entry whose path, size, mtime_ns, inode and device all match
    (and which holds every requested form) is returned without reading the file.
    Raises HashingError when the file changes while it is read, OSError when it cannot be read.
    """
    p = Path(path)
    want = resolve_forms(forms)
    # realpath never raises on a symlink loop (Path.resolve does, as RuntimeError); stat then says ELOOP
    resolved = os.path.realpath(p)
    st = os.stat(resolved)
    if not stat_mod.S_ISREG(st.st_mode):
        raise HashingError("not a regular file", path=p)
    if cache is not None:
        hit = cache.get(resolved, st, want)
        if hit is not None:
            return hit
    result = _hash_uncached(resolved, want, progress=progress, threads=threads)
    if cache is not None:
        cache.put(result)
    return result


class HashCacheLike(Protocol):
    def get(self, path: str, st: os.stat_result, forms: frozenset[str]) -> FileHashes | None: ...

    def put(self, result: FileHashes) -> None: ...


def _hash_uncached(path: str, want: frozenset[str], *, progress: Progress | None, threads: bool) -> FileHashes:
    started = time.perf_counter()
    hashed_at = time.time_ns()
    with open(path, "rb", buffering=0) as f:
        fd = f.fileno()
        before = os.fstat(fd)
        size = before.st_size
        header, header_error, tensor_start, rule = _tensor_span(fd, size, path, want)

        full = hashlib.sha256() if "sha256" in want else None
        tensor = hashlib.sha256() if "autov3" in want else None
        b3 = None
        if "blake3" in want:
            import blake3

            b3 = blake3.blake3()
        crc = _Crc32() if "crc32" in want else None

        # lanes balance the work between two cores: sha256 ~ 0.65 s/GB, blake3 ~ 0.25, crc32 ~ 0.32
        lane_a: list[tuple[_Updater, int]] = []
        lane_b: list[tuple[_Updater, int]] = []
        if full is not None:
            lane_a.append((full, 0))
        if tensor is not None:
            lane_b.append((tensor, tensor_start))
        if crc is not None:
            lane_a.append((crc, 0))
        if b3 is not None:
            (lane_b if full is not None else lane_a).append((b3, 0))
        lanes = [lane for lane in (lane_a, lane_b) if lane]
        if threads and size >= THREADED_MIN:
            total = _stream_threaded(f, lanes, progress)
        else:
            total = _stream_inline(f, lanes, progress)
        window = os.pread(fd, AUTOV1_LEN, AUTOV1_OFFSET) if "autov1" in want else b""
        after = os.fstat(fd)
    try:
        now = os.stat(path)
    except FileNotFoundError:
        raise HashingError("file was removed while being hashed", path=path) from None
    changed = _changed(before, after, now, total)
    if changed:
        raise HashingError(f"file changed while being hashed ({changed}); hash it again once it is stable", path=path)

    hashes: dict[str, str] = {}
    if full is not None:
        hashes["sha256"] = full.hexdigest()
        if "autov2" in want:
            hashes["autov2"] = hashes["sha256"][:10]
    if "autov1" in want:
        # A1111 hashes whatever the window holds, even a short one; Civitai reports null under 2 MiB
        hashes["autov1"] = hashlib.sha256(window).hexdigest()[:8]
    if tensor is not None:
        hashes["autov3"] = tensor.hexdigest()
    if b3 is not None:
        hashes["blake3"] = b3.hexdigest()
    if crc is not None:
        value = crc.value & 0xFFFFFFFF
        hashes["crc32"] = f"{value:08x}"
        hashes["crc32_civitai"] = struct.pack("<I", value).hex()
    claims = _check_claims(header, hashes)
    return FileHashes(
        path=path,
        size=size,
        mtime_ns=before.st_mtime_ns,
        inode=before.st_ino,
        device=before.st_dev,
        ctime_ns=before.st_ctime_ns,
        hashes=hashes,
        autov3_rule=rule if tensor is not None else None,
        safetensors=header,
        safetensors_error=header_error,
        claims=claims,
        hashed_at_ns=hashed_at,
        seconds=time.perf_counter() - started,
    )


def _tensor_span(
    fd: int, size: int, path: str, want: frozenset[str]
) -> tuple[SafetensorsHeader | None, str | None, int, str]:
    """Validate a safetensors header if the file has one; where the tensor data starts."""
    head = os.pread(fd, 9, 0)
    header: SafetensorsHeader | None = None
    error: str | None = None
    if looks_like_safetensors(head) or path.endswith((".safetensors", ".sft")):
        try:
            header = read_header(fd, size, path=path)
        except SafetensorsHeaderError as exc:
            error = exc.message
    if header is not None:
        return header, None, header.data_start, "safetensors"
    if len(head) < 8:
        return None, error, size, "civitai"
    (n,) = struct.unpack("<Q", head[:8])
    start = 8 + n if n < CIVITAI_HEADER_LIMIT else 8
    return None, error, min(start, size), "civitai"


def _check_claims(header: SafetensorsHeader | None, hashes: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Embedded hash claims next to the computed value: never trusted, always checked."""
    if header is None:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for key, value in header.claims().items():
        form = HASH_CLAIMS[key]
        computed = hashes.get(form)
        out[key] = {
            "value": value,
            "form": form,
            "matches": None if computed is None else computed.startswith(value) and len(value) >= 8,
        }
    return out


def _changed(before: os.stat_result, after: os.stat_result, now: os.stat_result, total: int) -> str:
    if total != before.st_size:
        return f"read {total} bytes of a {before.st_size}-byte file"
    if after.st_size != before.st_size:
        return f"size {before.st_size} -> {after.st_size}"
    if (after.st_mtime_ns, after.st_ctime_ns) != (before.st_mtime_ns, before.st_ctime_ns):
        return "modified during the read"
    if (now.st_ino, now.st_dev) != (before.st_ino, before.st_dev):
        return "replaced by another file during the read"
    if now.st_size != before.st_size or now.st_mtime_ns != before.st_mtime_ns:
        return "modified during the read"
    return ""


def _feed(lane: list[tuple[_Updater, int]], mv: memoryview, pos: int) -> None:
    n = len(mv)
    for hasher, start in lane:
        if start <= pos:
            hasher.update(mv)
        elif start < pos + n:
            hasher.update(mv[start - pos :])


def _read_full(f: Any, mv: memoryview) -> int:
    got = 0
    while got < len(mv):
        n = f.readinto(mv[got:])
        if not n:
            break
        got += n
    return got


def _stream_inline(f: Any, lanes: list[list[tuple[_Updater, int]]], progress: Progress | None) -> int:
    buf = bytearray(min(CHUNK, 1 << 20))
    mv = memoryview(buf)
    pos = 0
    while True:
        n = _read_full(f, mv)
        if not n:
            return pos
        for lane in lanes:
            _feed(lane, mv[:n], pos)
        pos += n
        if progress:
            progress(n)


class _LaneThread(threading.Thread):
    """Applies its hashers to each chunk in order; signals each chunk done in order."""

    def __init__(self, lane: list[tuple[_Updater, int]]) -> None:
        super().__init__(daemon=True, name="seedlock-hash")
        self.lane = lane
        self.inbox: queue.SimpleQueue[tuple[memoryview, int] | None] = queue.SimpleQueue()
        self.done: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()

    def run(self) -> None:
        failed: BaseException | None = None
        while True:
            item = self.inbox.get()
            if item is None:
                return
            if failed is None:
                try:
                    _feed(self.lane, item[0], item[1])
                except BaseException as exc:  # handed to the reader thread, which re-raises it
                    failed = exc
            self.done.put(failed)


def _stream_threaded(f: Any, lanes: list[list[tuple[_Updater, int]]], progress: Progress | None) -> int:
    workers = [_LaneThread(lane) for lane in lanes]
    for w in workers:
        w.start()
    slots = [bytearray(CHUNK) for _ in range(SLOTS)]
    views = [memoryview(s) for s in slots]
    inflight = 0
    pos = 0
    i = 0
    try:
        while True:
            if inflight == SLOTS:
                _wait_one(workers)
                inflight -= 1
            mv = views[i % SLOTS]
            n = _read_full(f, mv)
            if not n:
                break
            for w in workers:
                w.inbox.put((mv[:n], pos))
            inflight += 1
            i += 1
            pos += n
            if progress:
                progress(n)
        while inflight:
            _wait_one(workers)
            inflight -= 1
    finally:
        for w in workers:
            w.inbox.put(None)
        for w in workers:
            w.join()
    return pos


def _wait_one(workers: list[_LaneThread]) -> None:
    for w in workers:
        exc = w.done.get()
        if exc is not None:
            raise exc


def with_cached(result: FileHashes, forms: frozenset[str]) -> FileHashes:
    """A cache hit, narrowed to the forms asked for (the cache may hold more)."""
    hashes = {k: v for k, v in result.hashes.items() if k in forms}
    return replace(result, hashes=hashes, cached=True, seconds=0.0)
