"""The smaller annoyances: each message says what is true, in one line, with numbers people can read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

from seedlock.cli import cli
from seedlock.diff.compare import compare
from seedlock.diff.prompt import lint_prompt

from .build import INFOTEXT, plain_png, png_with_text


def test_diff_of_files_without_records_says_so(tmp_path: Path) -> None:
    a, b = plain_png(tmp_path / "a.png"), plain_png(tmp_path / "b.png", color=91)
    c = compare(a, b)
    assert c.diff.missing == "both" and not c.diff.equivalent and not c.causes
    assert c.pixels is not None and c.pixels.verdict == "visually indistinguishable"  # one level apart
    result = CliRunner().invoke(cli, ["diff", str(a), str(b)])
    assert result.exit_code == 1 and "neither file has a generation record" in result.stdout
    rec = png_with_text(tmp_path / "r.png", {"parameters": INFOTEXT})
    c = compare(rec, a)
    assert c.diff.missing == "B" and not c.causes
    assert "B has no generation record" in CliRunner().invoke(cli, ["diff", str(rec), str(a)]).stdout
    assert json.loads(CliRunner().invoke(cli, ["diff", "--json", str(rec), str(a)]).stdout)["missing_record"] == "B"


def test_a_small_edit_is_counted_in_pixels_with_its_box(tmp_path: Path) -> None:
    arr = np.zeros((512, 512, 3), np.uint8)
    Image.fromarray(arr).save(tmp_path / "a.png")
    arr[100:110, 200:210] = 255
    Image.fromarray(arr).save(tmp_path / "b.png")
    out = CliRunner().invoke(cli, ["diff", str(tmp_path / "a.png"), str(tmp_path / "b.png")]).stdout
    assert "100 px (0.0381%) changed in 10x10 at (200, 100)" in out


def test_piped_output_does_not_wrap_at_80_columns(tmp_path: Path) -> None:
    long_prompt = "a very long prompt " * 20
    a = png_with_text(tmp_path / "a.png", {"parameters": long_prompt + "\n" + INFOTEXT.split("\n", 1)[1]})
    b = png_with_text(tmp_path / "b.png", {"parameters": INFOTEXT}, color=91)
    out = CliRunner().invoke(cli, ["diff", str(a), str(b)]).stdout
    assert max(len(line) for line in out.splitlines()) > 100


def test_adapter_weights_are_printed_rounded(tmp_path: Path) -> None:
    text = "a cat <lora:style:0.8999999999999999>\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 8x8"
    p = png_with_text(tmp_path / "a.png", {"parameters": text})
    out = CliRunner().invoke(cli, ["read", str(p)]).stdout
    lora = next(line for line in out.splitlines() if line.strip().startswith("lora"))
    assert lora.split()[-1] == "w=0.9"


def test_lint_prompt_reads_stdin_finds_line_separators_and_prints_json_quotes() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["lint-prompt", "-", "--json"], input="a \u201ccat\u201d\u2028dog")
    doc = json.loads(result.stdout)
    kinds = [h["kind"] for h in doc["hazards"]]
    assert "curly quote" in kinds and "Unicode line or paragraph separator" in kinds
    quote = next(h for h in doc["hazards"] if h["kind"] == "curly quote")
    assert quote["replacement"] == '"' and quote["action"] == "replace" and "'" not in quote["replacement"]
    assert lint_prompt("x\u2029y")[0].replacement == "\n"


def test_stealth_always_does_not_claim_no_text_chunk_when_there_is_one(tmp_path: Path) -> None:
    p = png_with_text(tmp_path / "a.png", {"parameters": INFOTEXT})
    from seedlock.readers import read

    rec = read(p, stealth="always")
    assert not any("no text chunk carried it" in w for w in rec.warnings)


def test_bad_hash_forms_and_bad_lock_types_are_one_line(tmp_path: Path) -> None:
    f = tmp_path / "m.bin"
    f.write_bytes(b"x" * 100)
    result = CliRunner().invoke(cli, ["hash", "--forms", "bogus", str(f)])
    assert result.exit_code == 2 and "unknown hash form 'bogus'" in result.stderr
    assert "ValueError" not in result.stderr and result.stderr.count("\n") == 1
    lock = tmp_path / "seedlock.lock"
    lock.write_text('version = 1\nroot = "."\n[[file]]\nrole = "checkpoint"\npath = 5\nhashes = {sha256 = "ab"}\n')
    result = CliRunner().invoke(cli, ["check-lock", str(lock)])
    assert result.exit_code == 2 and "path must be str" in result.stderr and "TypeError" not in result.stderr


def test_check_lock_refuses_paths_outside_its_root(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "model.safetensors"
    outside.parent.mkdir()
    outside.write_bytes(b"y" * 64)
    lockdir = tmp_path / "project"
    lockdir.mkdir()
    lock = lockdir / "seedlock.lock"
    lock.write_text(
        f'version = 1\nroot = "."\n[[file]]\nrole = "checkpoint"\nname = "m"\npath = "{outside}"\n'
        'hashes = {sha256 = "00"}\n'
        '[[file]]\nrole = "vae"\nname = "v"\npath = "../elsewhere/model.safetensors"\nhashes = {sha256 = "00"}\n'
    )
    doc = json.loads(CliRunner().invoke(cli, ["check-lock", "--json", str(lock)]).stdout)
    assert [f["status"] for f in doc["files"]] == ["refused", "refused"]
    doc = json.loads(CliRunner().invoke(cli, ["check-lock", "--json", "--allow-outside", str(lock)]).stdout)
    assert [f["status"] for f in doc["files"]] == ["changed", "changed"]


def test_invalid_utf16_user_comment_is_warned_about(tmp_path: Path) -> None:
    from seedlock.readers import read

    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + "a cat".encode("utf-16-be") + b"\xd8\x00\x00a"
    Image.new("RGB", (4, 4)).save(tmp_path / "a.jpg", exif=exif)
    rec = read(tmp_path / "a.jpg")
    assert any("invalid UTF-16" in w for w in rec.warnings)


def test_a_damaged_hash_cache_is_rebuilt_with_a_warning(tmp_path: Path, caplog: object) -> None:
    import logging

    from seedlock.pin.cache import HashCache, default_path

    path = default_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not a database" * 100)
    with caplog.at_level(logging.WARNING):  # type: ignore[attr-defined]
        HashCache().close()
    assert "unreadable" in caplog.text  # type: ignore[attr-defined]
    assert list(path.parent.glob("*.damaged-*"))
