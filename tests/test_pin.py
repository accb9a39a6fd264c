"""End to end: scan a models folder, resolve an image's record against it, lock it,
check the lock after the files change, through the CLI."""

from __future__ import annotations

import json
import os
import struct
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from seedlock.cli import cli
from seedlock.pin.cache import HashCache
from seedlock.pin.hashing import hash_file
from seedlock.pin.index import guess_kind
from seedlock.pin.lock import read_lock
from seedlock.record import Adapter, GenerationRecord, Generator, ModelRef
from seedlock.writer import write


def model_file(path: Path, payload: bytes, metadata: dict[str, str] | None = None) -> Path:
    obj: dict[str, object] = {"w": {"dtype": "U8", "shape": [len(payload)], "data_offsets": [0, len(payload)]}}
    if metadata:
        obj = {"__metadata__": metadata, **obj}
    h = json.dumps(obj).encode()
    h += b" " * ((-len(h)) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(h)) + h + payload)
    t = time.time() - 3600
    os.utime(path, (t, t))
    return path


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Path]:
    models = tmp_path / "models"
    ckpt = model_file(models / "Stable-diffusion" / "base-v1.safetensors", os.urandom(3 << 20))
    vae = model_file(models / "VAE" / "clear.safetensors", os.urandom(4096))
    lora = model_file(models / "Lora" / "style.safetensors", os.urandom(8192), {"ss_network_module": "networks.lora"})
    # a file named like the record's second LoRA, but other weights
    model_file(models / "Lora" / "detail.safetensors", os.urandom(8192))
    h_ckpt = hash_file(ckpt, "all").hashes
    h_vae = hash_file(vae, "all").hashes
    h_lora = hash_file(lora, "all").hashes
    record = GenerationRecord(
        generator=Generator.A1111,
        prompt="a cat <lora:style:0.8> <lora:detail:0.5>",
        seed=1,
        steps=20,
        cfg_scale=7.0,
        width=64,
        height=64,
        model=ModelRef(name="base-v1", hashes={"autov2": h_ckpt["autov2"]}),
        vae=ModelRef(name="clear.safetensors", hashes={"autov2": h_vae["autov2"]}),
        adapters=(
            Adapter(kind="lora", name="style", hashes={"autov3": h_lora["autov3"][:12]}, weight=0.8),
            Adapter(kind="lora", name="detail", hashes={"autov3": "0123456789ab"}, weight=0.5),
            Adapter(kind="embedding", name="missing-ti", hashes={"sha256": "fedcba987654"}),
        ),
    )
    img = tmp_path / "image.png"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(img)
    write(record, img)
    return {"models": models, "ckpt": ckpt, "vae": vae, "lora": lora, "image": img, "root": tmp_path}


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_guess_kind() -> None:
    root = Path("/m")
    assert guess_kind(Path("/m/Lora/x.safetensors"), root) == "lora"
    assert guess_kind(Path("/m/embeddings/sub/x.pt"), root) == "embedding"
    assert guess_kind(Path("/m/Stable-diffusion/x.ckpt"), root) == "checkpoint"


def test_scan_and_resolve(setup: dict[str, Path]) -> None:
    code, out = run("model", "scan", str(setup["models"]), "--json")
    assert code == 0, out
    scanned = {Path(d["path"]).name: d["kind"] for d in json.loads(out)}
    assert scanned == {
        "base-v1.safetensors": "checkpoint",
        "clear.safetensors": "vae",
        "style.safetensors": "lora",
        "detail.safetensors": "lora",
    }
    code, out = run("model", "resolve", str(setup["image"]), "--json")
    assert code == 1  # something is missing
    files = {f["name"]: f for f in json.loads(out)["files"]}
    assert files["base-v1"]["status"] == "found" and files["base-v1"]["path"] == str(setup["ckpt"].resolve())
    assert files["base-v1"]["matched_by"].startswith("autov2=")
    assert files["clear.safetensors"]["status"] == "found"
    assert files["style"]["status"] == "found" and files["style"]["matched_by"].startswith("autov3=")
    assert files["detail"]["status"] == "hash-mismatch"
    assert "not the same weights" in files["detail"]["note"]
    assert files["missing-ti"]["status"] == "missing"
    code, out = run("model", "resolve", str(setup["image"]))
    assert "hash-mismatch" in out and "missing" in out


def test_lock_and_check_lock(setup: dict[str, Path]) -> None:
    lock = setup["root"] / "seedlock.lock"
    code, out = run("lock", str(setup["image"]), "-o", str(lock), "--models", str(setup["models"]))
    assert code == 1, out  # written, with missing entries
    data = read_lock(lock)
    assert len(data.entries) == 5
    by_name = {e.name: e for e in data.entries}
    assert by_name["base-v1"].path == "models/Stable-diffusion/base-v1.safetensors"
    assert by_name["base-v1"].size == setup["ckpt"].stat().st_size
    assert set(by_name["base-v1"].hashes) == {"sha256", "autov1", "autov2", "autov3", "blake3", "crc32"}
    assert by_name["detail"].path is None and by_name["missing-ti"].path is None
    assert by_name["style"].weight == 0.8
    assert (
        data.fingerprint
        == GenerationRecord.from_dict(json.loads(run("read", "--json", str(setup["image"]))[1])).fingerprint
    )
    text = lock.read_text()
    assert text.startswith("# seedlock lock file") and 'role = "checkpoint"' in text

    code, out = run("check-lock", str(lock), "--json")
    assert code == 1
    status = {f["name"]: f["status"] for f in json.loads(out)["files"]}
    assert status == {
        "base-v1": "ok",
        "clear.safetensors": "ok",
        "style": "ok",
        "detail": "missing",
        "missing-ti": "missing",
    }

    # a complete lock passes; then a LoRA is retrained in place and the checkpoint deleted
    ok_lock = setup["root"] / "ok.lock"
    lk = read_lock(lock)
    from dataclasses import replace

    from seedlock.pin.lock import write_lock

    write_lock(replace(lk, entries=tuple(e for e in lk.entries if e.path)), ok_lock)
    code, out = run("check-lock", str(ok_lock))
    assert code == 0, out
    assert "3 ok, 0 not ok" in out
    model_file(setup["lora"], os.urandom(8192), {"ss_network_module": "networks.lora"})
    setup["ckpt"].unlink()
    code, out = run("check-lock", str(ok_lock), "--json")
    assert code == 1
    status = {f["name"]: f for f in json.loads(out)["files"]}
    assert status["style"]["status"] == "changed" and "sha256" in status["style"]["differences"]
    assert status["base-v1"]["status"] == "missing"
    assert status["clear.safetensors"]["status"] == "ok"


def test_hash_cli(setup: dict[str, Path], tmp_path: Path) -> None:
    code, out = run("hash", str(setup["ckpt"]), "--all")
    assert code == 0 and "autov2" in out and "crc32_civitai" in out
    code, out = run("hash", str(setup["models"]), "--json")
    assert code == 0 and len(json.loads(out)) == 4
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(struct.pack("<Q", 10**9) + b"{}")
    code, out = run("hash", str(bad))
    assert code == 1 and "invalid safetensors header: header length 1000000000 exceeds" in out
    code, out = run("hash", str(tmp_path / "nope.safetensors"))
    assert code == 2 and "nope.safetensors: no such file" in out


def test_cached_second_hash_reads_nothing(setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    with HashCache() as cache:
        hash_file(setup["ckpt"], "all", cache=cache)

        def boom(*a: object, **k: object) -> None:
            raise AssertionError("read the file")

        monkeypatch.setattr("seedlock.pin.hashing._hash_uncached", boom)
        assert hash_file(setup["ckpt"], "default", cache=cache).cached


def test_hash_claims_that_are_not_hex_match_nothing(tmp_path: Path) -> None:
    from seedlock.pin.index import find_by_hash

    with HashCache(tmp_path / "c.sqlite") as cache:
        assert find_by_hash(cache, "crc32", "zzzzzzzz") == []
        assert find_by_hash(cache, "autov2", "not-a-hash") == []
