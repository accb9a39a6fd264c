"""Hash forms against the spec's test vectors, hostile safetensors headers, files that
change while read, and the cache (stale entries, racy timestamps, two processes)."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import blake3
import numpy as np
import pytest

from seedlock.errors import HashingError
from seedlock.pin import hashing
from seedlock.pin.cache import HashCache
from seedlock.pin.hashing import hash_file

TENSORS = (
    '"b.weight":{"dtype":"F32","shape":[600,500],"data_offsets":[0,1200000]},'
    '"a.weight":{"dtype":"F16","shape":[4],"data_offsets":[1200000,1200008]}'
)
DATA = (np.arange(300000, dtype=np.float32) / np.float32(1000)).astype("<f4").tobytes() + np.ones(
    4, dtype="<f2"
).tobytes()


def safetensors_bytes(header: str, data: bytes = DATA) -> bytes:
    h = header.encode()
    h += b" " * ((-len(h)) % 8)
    return struct.pack("<Q", len(h)) + h + data


def old(path: Path) -> Path:
    """Back-date a file so the cache's racy-timestamp rule lets it be cached."""
    t = time.time() - 3600
    os.utime(path, (t, t))
    return path


@pytest.fixture
def file_a(tmp_path: Path) -> Path:
    p = tmp_path / "a.safetensors"
    p.write_bytes(safetensors_bytes("{" + TENSORS + "}"))
    return p


@pytest.fixture
def file_b(tmp_path: Path) -> Path:
    p = tmp_path / "b.safetensors"
    p.write_bytes(safetensors_bytes('{"__metadata__":{"ss_output_name":"demo","modelspec.title":"x"},' + TENSORS + "}"))
    return p


def test_spec_vectors_file_a(file_a: Path) -> None:
    r = hash_file(file_a, "all")
    assert r.size == 1_200_168 and r.safetensors and r.safetensors.header_len == 152
    assert r.hashes == {
        "sha256": "ae93b73791d6fbc8d0198336d4be0411d9fbd04b5a98c422010db4a438af83ee",
        "autov2": "ae93b73791",
        "autov1": "6653b6c5",
        "autov3": "e4ba1dd3a545735a71065b77d9973d837f4d53e25def348f9fd40051ec61e226",
        "blake3": "2222874a7fffdee7eb643f8b95ae032004d38d3fc79e56e52a214625b3674fb3",
        "crc32": "bfd0032b",
        "crc32_civitai": "2b03d0bf",
    }
    assert r.autov3_rule == "safetensors"
    assert r.safetensors.tensor_count == 2 and dict(r.safetensors.dtypes) == {"F32": 1, "F16": 1}


def test_spec_vectors_file_b(file_b: Path) -> None:
    r = hash_file(file_b, "all")
    assert r.size == 1_200_224 and r.safetensors and r.safetensors.header_len == 208
    assert r.hashes["sha256"] == "ac547bd2dfdc380949613ba14af6f7c147b1aa437d6260aea4f43d13e24e7422"
    assert r.hashes["autov1"] == "fb7db66a"
    # metadata edits change the file hash but not the tensor-data hash
    assert r.hashes["autov3"] == "e4ba1dd3a545735a71065b77d9973d837f4d53e25def348f9fd40051ec61e226"
    assert r.hashes["crc32"] == "4a773714" and r.hashes["crc32_civitai"] == "1437774a"
    assert r.hashes["blake3"] == "66948e2d9c0a6da8ce3475771372ad07990becb57a5ecac62feff4681804f5d2"
    assert sorted(r.safetensors.metadata) == ["modelspec.title", "ss_output_name"]


def test_form_sets(file_a: Path) -> None:
    assert set(hash_file(file_a, "sha256").hashes) == {"sha256", "autov1", "autov2"}
    assert set(hash_file(file_a, "default").hashes) == {"sha256", "autov1", "autov2", "autov3"}
    assert set(hash_file(file_a, "blake3,crc32").hashes) == {"blake3", "crc32", "crc32_civitai"}
    with pytest.raises(ValueError, match="unknown hash form"):
        hash_file(file_a, "md5")


def test_threaded_engine_equals_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lane threads must give exactly what one sequential pass gives, across chunk edges."""
    monkeypatch.setattr(hashing, "CHUNK", 1 << 16)
    monkeypatch.setattr(hashing, "THREADED_MIN", 1 << 16)
    rng = np.random.default_rng(0)
    payload = rng.integers(0, 256, 3 * (1 << 20) + 12345, dtype=np.uint8).tobytes()
    header = json.dumps({"t": {"dtype": "U8", "shape": [len(payload)], "data_offsets": [0, len(payload)]}})
    blob = safetensors_bytes(header, payload)
    p = tmp_path / "m.safetensors"
    p.write_bytes(blob)
    r = hash_file(p, "all")
    n = struct.unpack("<Q", blob[:8])[0]
    assert r.hashes["sha256"] == hashlib.sha256(blob).hexdigest()
    assert r.hashes["autov3"] == hashlib.sha256(blob[8 + n :]).hexdigest()
    assert r.hashes["blake3"] == blake3.blake3(blob).hexdigest()
    assert r.hashes["crc32"] == f"{zlib.crc32(blob):08x}"
    assert r.hashes["autov1"] == hashlib.sha256(blob[0x100000:0x110000]).hexdigest()[:8]
    assert hash_file(p, "all", threads=False).hashes == r.hashes


def test_civitai_rule_for_pickles(tmp_path: Path) -> None:
    """A zip .ckpt is hashed as opaque bytes; its first 8 bytes read as a huge length, so AutoV3 skips 8."""
    blob = b"PK\x03\x04" + os.urandom(5000)
    p = tmp_path / "model.ckpt"
    p.write_bytes(blob)
    r = hash_file(p, "default")
    assert r.autov3_rule == "civitai" and r.safetensors is None and r.safetensors_error is None
    assert r.hashes["autov3"] == hashlib.sha256(blob[8:]).hexdigest()
    small = tmp_path / "small.bin"
    small.write_bytes(struct.pack("<Q", 100) + b"x" * 300)
    assert hash_file(small, "default").hashes["autov3"] == hashlib.sha256(b"x" * 200).hexdigest()


def hostile(tmp_path: Path, name: str, blob: bytes) -> Path:
    p = tmp_path / f"{name}.safetensors"
    p.write_bytes(blob)
    return p


HOSTILE = {
    "length_beyond_file": struct.pack("<Q", 5000) + b'{"a":1}',
    "header_100mb": struct.pack("<Q", 100_000_001) + b"{" + b" " * 64,
    "header_100mb_claimed_short_file": struct.pack("<Q", 100_000_000) + b"{" + b" " * 64,
    "overlapping": safetensors_bytes(
        '{"x":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"y":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}}',
        b"\0" * 12,
    ),
    "hole": safetensors_bytes(
        '{"x":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"y":{"dtype":"U8","shape":[4],"data_offsets":[8,12]}}',
        b"\0" * 12,
    ),
    "trailing_bytes": safetensors_bytes('{"x":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}', b"\0" * 9),
    "shape_mismatch": safetensors_bytes('{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,4]}}', b"\0" * 4),
    "bad_dtype": safetensors_bytes('{"x":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}', b"\0" * 16),
    "not_json": safetensors_bytes('{"x": nope}', b""),
    "duplicate_key": safetensors_bytes(
        '{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}',
        b"\0",
    ),
    "nested_metadata": safetensors_bytes('{"__metadata__":{"a":{"b":"c"}}}', b""),
    "truncated": safetensors_bytes("{" + TENSORS + "}")[:5000],
    "tiny": b"\x01\x02",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_headers_are_reported_not_trusted(tmp_path: Path, name: str) -> None:
    p = hostile(tmp_path, name, HOSTILE[name])
    tracemalloc.start()
    r = hash_file(p, "all")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 20 << 20, "a claimed header length must never be allocated up front"
    assert r.safetensors is None
    assert r.safetensors_error and r.safetensors_error.startswith("invalid safetensors header")
    assert r.autov3_rule == "civitai"
    assert r.hashes["sha256"] == hashlib.sha256(HOSTILE[name]).hexdigest()


def test_hostile_messages_say_what_is_wrong(tmp_path: Path) -> None:
    msg = {n: hash_file(hostile(tmp_path, n, b), "sha256,autov3").safetensors_error for n, b in HOSTILE.items()}
    assert "past the end" in str(msg["length_beyond_file"])
    assert "exceeds the 100000000-byte bound" in str(msg["header_100mb"])
    assert "overlaps" in str(msg["overlapping"])
    assert "hole" in str(msg["hole"])
    assert "file has" in str(msg["trailing_bytes"])
    assert "duplicate key" in str(msg["duplicate_key"])


def test_embedded_hash_claims_are_checked(tmp_path: Path) -> None:
    good = "e4ba1dd3a545735a71065b77d9973d837f4d53e25def348f9fd40051ec61e226"
    p = tmp_path / "claims.safetensors"
    meta = json.dumps({"sshs_model_hash": good, "modelspec.hash_sha256": "0x" + "ab" * 32})
    header = '{"__metadata__":' + meta + "," + TENSORS + "}"
    p.write_bytes(safetensors_bytes(header))
    r = hash_file(p, "default")
    assert r.claims["sshs_model_hash"]["matches"] is True
    assert r.claims["modelspec.hash_sha256"]["matches"] is False


@pytest.mark.parametrize("threaded", [False, True])
def test_file_changing_while_hashed_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threaded: bool) -> None:
    monkeypatch.setattr(hashing, "CHUNK", 1 << 16)
    monkeypatch.setattr(hashing, "THREADED_MIN", 1 << 16)
    p = tmp_path / "growing.bin"
    p.write_bytes(os.urandom(1 << 20))
    calls = []

    def grow(n: int) -> None:
        if not calls:
            with open(p, "ab") as f:
                f.write(b"more bytes")
        calls.append(n)

    with pytest.raises(HashingError, match="changed while being hashed"):
        hash_file(p, "sha256", progress=grow, threads=threaded)

    def rewrite(n: int) -> None:
        if len(calls) == 1:
            with open(p, "r+b") as f:
                f.seek(100)
                f.write(b"X")
        calls.append(n)

    calls.clear()
    calls.append(0)
    with pytest.raises(HashingError, match="changed while being hashed"):
        hash_file(p, "sha256", progress=rewrite, threads=threaded)


def test_cache_hit_and_never_stale(tmp_path: Path, file_a: Path) -> None:
    with HashCache(tmp_path / "c.sqlite") as cache:
        old(file_a)
        first = hash_file(file_a, "all", cache=cache)
        second = hash_file(file_a, "default", cache=cache)
        assert not first.cached and second.cached
        assert set(second.hashes) == {"sha256", "autov1", "autov2", "autov3"}
        assert second.hashes["sha256"] == first.hashes["sha256"]

        # replaced by another file of the same size with the same mtime: a new inode
        blob = bytearray(file_a.read_bytes())
        blob[-1] ^= 0xFF
        tmp = file_a.with_suffix(".new")
        tmp.write_bytes(bytes(blob))
        os.utime(tmp, ns=(first.mtime_ns, first.mtime_ns))
        os.replace(tmp, file_a)
        third = hash_file(file_a, "all", cache=cache)
        assert not third.cached and third.hashes["sha256"] == hashlib.sha256(blob).hexdigest()

        # rewritten in place, same size, mtime put back: ctime still moves
        old(file_a)
        fourth = hash_file(file_a, "all", cache=cache)
        fourth_again = hash_file(file_a, "all", cache=cache)
        assert fourth_again.cached
        with open(file_a, "r+b") as f:
            f.seek(200)
            f.write(b"\x00\x01\x02")
        os.utime(file_a, ns=(fourth.mtime_ns, fourth.mtime_ns))
        fifth = hash_file(file_a, "all", cache=cache)
        assert not fifth.cached and fifth.hashes["sha256"] != fourth.hashes["sha256"]


def test_racy_fresh_file_is_not_trusted(tmp_path: Path) -> None:
    p = tmp_path / "fresh.bin"
    p.write_bytes(b"fresh")
    with HashCache(tmp_path / "c.sqlite") as cache:
        hash_file(p, "sha256", cache=cache)
        assert not hash_file(p, "sha256", cache=cache).cached


def test_damaged_cache_is_rebuilt(tmp_path: Path, file_a: Path) -> None:
    db = tmp_path / "c.sqlite"
    db.write_bytes(b"this is not a database" * 100)
    with HashCache(db) as cache:
        assert hash_file(file_a, "sha256", cache=cache).hashes["autov2"] == "ae93b73791"
    assert list(tmp_path.glob("c.damaged-*"))


_WORKER = """
import sys
from seedlock.pin.cache import HashCache
from seedlock.pin.hashing import hash_file
with HashCache(sys.argv[1]) as cache:
    for _ in range(3):
        for p in sys.argv[2:]:
            hash_file(p, "all", cache=cache)
print("ok")
"""


def test_two_processes_share_one_cache(tmp_path: Path) -> None:
    files = []
    for i in range(12):
        p = tmp_path / f"m{i}.bin"
        p.write_bytes(os.urandom(200_000 + i))
        files.append(str(old(p)))
    db = str(tmp_path / "shared.sqlite")
    procs = [
        subprocess.Popen([sys.executable, "-c", _WORKER, db, *order], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for order in (files, files[::-1])
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        assert out.strip() == b"ok"
    with HashCache(db) as cache:
        for p in files:
            r = hash_file(p, "all", cache=cache)
            assert r.cached and r.hashes["sha256"] == hashlib.sha256(Path(p).read_bytes()).hexdigest()


def test_cache_of_another_schema_version_is_set_aside(tmp_path: Path, file_a: Path) -> None:
    import sqlite3

    db = tmp_path / "c.sqlite"
    old_db = sqlite3.connect(db)
    old_db.execute("CREATE TABLE files (path TEXT PRIMARY KEY, size INTEGER, body TEXT)")
    old_db.execute("PRAGMA user_version = 1")
    old_db.commit()
    old_db.close()
    with HashCache(db) as cache:
        old(file_a)
        hash_file(file_a, "sha256", cache=cache)
        assert hash_file(file_a, "sha256", cache=cache).cached
    assert list(tmp_path.glob("c.damaged-*"))
