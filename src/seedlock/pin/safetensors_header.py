"""Validate a safetensors header the way the reference (Rust) reader does, without
reading tensor data and without trusting any length in the file.

The tensor-data hash (AutoV3, the A1111 LoRA hash) covers the bytes after the header,
so it is only meaningful once the header is known to be well formed: a bounded
size, a JSON object, offsets that tile the data buffer with no holes or overlaps,
and a file length that ends exactly where the last tensor does.
"""

from __future__ import annotations

import json
import os
import struct
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from seedlock.errors import SafetensorsHeaderError

#: the reference reader's bound (safetensors ``MAX_HEADER_SIZE``)
MAX_HEADER_SIZE = 100_000_000

#: bits per element of every dtype the reference reader accepts
DTYPE_BITS: Mapping[str, int] = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}

#: metadata keys that claim a hash of this very file, and the form they claim
HASH_CLAIMS: Mapping[str, str] = {
    "sshs_model_hash": "autov3",
    "modelspec.hash_sha256": "autov3",
    "sshs_legacy_hash": "autov1",
}


@dataclass(frozen=True)
class SafetensorsHeader:
    """What the header says, once validated."""

    header_len: int
    tensor_count: int
    #: tensors per dtype
    dtypes: Mapping[str, int]
    #: the ``__metadata__`` string map (may be empty)
    metadata: Mapping[str, str] = field(default_factory=dict)
    #: sum of tensor byte lengths (= file size - 8 - header_len)
    data_len: int = 0
    #: tensor name -> shape, for telling a model's family from its keys (not cached, not serialised)
    shapes: Mapping[str, tuple[int, ...]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def data_start(self) -> int:
        return 8 + self.header_len

    def claims(self) -> dict[str, str]:
        """Hashes the metadata claims for this file, normalised to lower-case hex."""
        out: dict[str, str] = {}
        for key in HASH_CLAIMS:
            value = self.metadata.get(key)
            if isinstance(value, str) and value.strip():
                v = value.strip().lower()
                out[key] = v[2:] if v.startswith("0x") else v
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "header_len": self.header_len,
            "tensor_count": self.tensor_count,
            "dtypes": dict(sorted(self.dtypes.items())),
            "metadata_keys": sorted(self.metadata),
            "data_len": self.data_len,
        }


def looks_like_safetensors(head: bytes) -> bool:
    """Cheap sniff: an 8-byte length followed by ``{`` (what every writer produces)."""
    return len(head) >= 9 and head[8:9] == b"{"


def read_header(fd: int, file_size: int, *, path: str | None = None) -> SafetensorsHeader:
    """Read and validate the header of an open file; raise SafetensorsHeaderError."""

    def fail(msg: str) -> SafetensorsHeaderError:
        return SafetensorsHeaderError(f"invalid safetensors header: {msg}", path=path)

    if file_size < 8:
        raise fail(f"file is {file_size} bytes, shorter than the 8-byte length prefix")
    (n,) = struct.unpack("<Q", os.pread(fd, 8, 0))
    if n > MAX_HEADER_SIZE:
        raise fail(f"header length {n} exceeds the {MAX_HEADER_SIZE}-byte bound")
    if 8 + n > file_size:
        raise fail(f"header length {n} runs past the end of the {file_size}-byte file")
    raw = os.pread(fd, n, 8)
    if len(raw) != n:
        raise fail("file shrank while reading the header")
    return parse_header(raw, file_size, path=path)


def parse_header(raw: bytes, file_size: int, *, path: str | None = None) -> SafetensorsHeader:
    """Validate header bytes (without the length prefix) against the file size."""

    def fail(msg: str) -> SafetensorsHeaderError:
        return SafetensorsHeaderError(f"invalid safetensors header: {msg}", path=path)

    n = len(raw)
    if not raw.startswith(b"{"):
        raise fail("does not start with '{'")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates)
    except ValueError as exc:
        raise fail(f"not JSON ({exc})") from None
    except RecursionError:
        raise fail("JSON nested too deeply to parse") from None
    if not isinstance(obj, dict):
        raise fail("not a JSON object")

    metadata: dict[str, str] = {}
    spans: list[tuple[int, int, str]] = []
    dtypes: Counter[str] = Counter()
    shapes: dict[str, tuple[int, ...]] = {}
    for name, info in obj.items():
        if name == "__metadata__":
            if not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values()):
                raise fail("__metadata__ must be a flat string-to-string map")
            metadata = info
            continue
        if not isinstance(info, dict):
            raise fail(f"tensor {name!r} is not an object")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
            raise fail(f"tensor {name!r} has unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise fail(f"tensor {name!r} has an invalid shape")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)
        ):
            raise fail(f"tensor {name!r} has invalid data_offsets")
        begin, end = offsets
        if end < begin:
            raise fail(f"tensor {name!r} ends before it begins")
        numel = 1
        for d in shape:
            numel *= d
        nbytes, rem = divmod(numel * DTYPE_BITS[dtype], 8)
        if rem or end - begin != nbytes:
            raise fail(
                f"tensor {name!r} spans {end - begin} bytes but {dtype}{shape} needs {numel * DTYPE_BITS[dtype] / 8:g}"
            )
        spans.append((begin, end, name))
        shapes[name] = tuple(shape)
        dtypes[dtype] += 1

    spans.sort()
    cursor = 0
    for begin, end, name in spans:
        if begin < cursor:
            raise fail(f"tensor {name!r} overlaps the previous tensor (offset {begin} < {cursor})")
        if begin > cursor:
            raise fail(f"hole in the data buffer before tensor {name!r} (bytes {cursor}..{begin})")
        cursor = end
    expected = 8 + n + cursor
    if expected != file_size:
        raise fail(f"tensors end at byte {expected} but the file has {file_size} bytes")
    return SafetensorsHeader(
        header_len=n, tensor_count=len(spans), dtypes=dict(dtypes), metadata=metadata, data_len=cursor, shapes=shapes
    )


def read_header_of(path: str | os.PathLike[str]) -> SafetensorsHeader:
    """Open ``path`` and read its validated header (SafetensorsHeaderError when it is not one)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return read_header(fd, os.fstat(fd).st_size, path=str(path))
    finally:
        os.close(fd)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out
