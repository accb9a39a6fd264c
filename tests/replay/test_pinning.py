"""LoRAs are pinned like models: hashed into the record, checked on replay, locked by content;
a regeneration of an A1111 image diffs as equivalent on everything it reproduced."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image, PngImagePlugin

from seedlock.cli import cli
from seedlock.diff.compare import compare
from seedlock.pin.hashing import hash_file
from seedlock.readers import read

from .test_replay import a1111_record

SRC = Path(__file__).resolve().parents[2] / "src"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_generate_records_every_lora_hash_and_lock_resolves_it(models: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "g.png"
    code, text, err = run(
        "generate", "--model", str(models["tiny"]), "--prompt", "a cat", "--steps", "3",
        "--lora", f"style={models['lora']}:0.8", "-o", str(out), "--json",
    )  # fmt: skip
    assert code == 0, err
    adapter = json.loads(text)["record"]["adapters"][0]
    full = hash_file(models["lora"], "default").hashes
    assert adapter["hashes"] == {"sha256": full["sha256"], "autov3": full["autov3"]}
    assert adapter["weight"] == adapter["weight_clip"] == 0.8
    lock = tmp_path / "seedlock.lock"
    code, text, err = run("lock", str(out), "-o", str(lock), "--models", str(models["tiny"].parent), "--json")
    assert code == 0, err
    entry = next(f for f in json.loads(text)["files"] if f["role"] == "lora")
    assert entry["matched_by"].startswith(("sha256=", "autov3="))


def test_a_lora_with_other_bytes_is_refused_then_marked_approximate(models: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "g.png"
    lora = f"style={models['lora']}:0.8"
    assert run("generate", "--model", str(models["tiny"]), "--prompt", "a cat", "--steps", "3", "--lora", lora,
               "-o", str(out))[0] == 0  # fmt: skip
    other = tmp_path / "Lora" / "style.safetensors"
    other.parent.mkdir()
    data = bytearray(models["lora"].read_bytes())
    data[-1] ^= 1  # same name, same header, one tensor byte changed
    other.write_bytes(bytes(data))
    code, _, err = run("replay", str(out), "--model", str(models["tiny"]), "--lora", f"style={other}")
    assert code == 2 and "is not the record's 'style'" in err and "--allow-other-model" in err
    assert "not on disk" not in err
    code, text, err = run(
        "replay", str(out), "--model", str(models["tiny"]), "--lora", f"style={other}", "--allow-other-model", "--json"
    )
    rep = json.loads(text)
    assert rep["promise"] == "numerically close"
    assert any("is not the record's 'style'" in note for note in rep["approximate"])


def test_regeneration_of_an_a1111_image_diffs_as_equivalent(models: dict[str, Path], tmp_path: Path) -> None:
    from seedlock.writer import format_infotext

    src = tmp_path / "a1111.png"
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", format_infotext(a1111_record(models)))
    Image.new("RGB", (64, 64), (9, 9, 9)).save(src, pnginfo=info)
    regen = tmp_path / "regen.png"
    code, _, err = run("generate", str(src), "--model", str(models["tiny"]), "--lora", f"style={models['lora']}",
                       "-o", str(regen))  # fmt: skip
    assert code == 0, err
    assert read(src).adapters[0].weight == 0.7
    d = compare(src, regen, pixels=False).diff
    fields = {f.field for f in d.fields}
    assert not {f for f in fields if f.startswith(("adapters", "prompt", "negative_prompt"))}, fields


def test_generate_shows_progress_on_a_terminal(models: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "p.png"
    args = [sys.executable, "-m", "seedlock", "generate", "--model", str(models["tiny"]), "--prompt", "x",
            "--steps", "4", "-o", str(out)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "100"}
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execvpe(args[0], args, env)
    chunks = []
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert os.waitstatus_to_exitcode(status) == 0, screen
    assert "sampling" in screen and "4/4" in screen
    # and never in piped output
    piped = subprocess.run(args, capture_output=True, text=True, env=env, check=True)
    assert "sampling" not in piped.stdout + piped.stderr


@pytest.mark.parametrize("flag", [["--json"], []])
def test_model_scan_progress_only_on_a_terminal(models: dict[str, Path], flag: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    piped = subprocess.run(
        [sys.executable, "-m", "seedlock", "model", "scan", str(models["lora"].parent), *flag],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    assert "hashing" not in piped.stderr


def test_generate_logs_each_output_in_the_catalog(models: dict[str, Path], tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    out = tmp_path / "g.png"
    args = ["generate", "--model", str(models["tiny"]), "--prompt", "a cat", "--steps", "2", "--seed", "77"]
    assert run(*args, "-o", str(out), "--db", str(db))[0] == 0
    code, text, _ = run("catalog", "query", "--db", str(db), "--seed", "77", "--json")
    found = json.loads(text)
    assert code == 0 and len(found) == 1 and found[0]["path"] == str(out.resolve())
    assert found[0]["generator"] == "seedlock" and found[0]["pixel_sha256"]
    assert run(*args, "-o", str(tmp_path / "h.png"), "--db", str(db), "--no-catalog")[0] == 0
    assert len(json.loads(run("catalog", "query", "--db", str(db), "--json")[1])) == 1
