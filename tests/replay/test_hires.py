"""The hires fix: a second pass recorded as the record's ``passes``, replayed from them bit for bit,
and A1111 hires records replayed instead of refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from seedlock.cli import cli


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from seedlock.replay.tiny import build_tiny

    folder = tmp_path_factory.mktemp("hires")
    return {"sd1": build_tiny(folder / "tiny.safetensors"), "sdxl": build_tiny(folder / "xl.safetensors", "tiny-sdxl")}


def _generate(model: Path, out: Path, *extra: str) -> dict[str, object]:
    res = CliRunner().invoke(cli, ["generate", "--model", str(model), "--prompt", "a red fox", "--seed", "3",
                                   "--steps", "6", *extra, "-o", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    return dict(json.loads(out.with_suffix(".json").read_text()))


def _replay(image: Path, model: Path) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-m", "seedlock", "replay", str(image), "--model", str(model), "--json"],
                          capture_output=True, text=True, env={**os.environ})  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    return dict(json.loads(proc.stdout))


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_a_hires_run_is_recorded_as_two_passes_and_replays_bit_for_bit(family: str, models: dict[str, Path],
                                                                        tmp_path: Path) -> None:  # fmt: skip
    from PIL import Image

    out = tmp_path / "h.png"
    record = _generate(models[family], out, "--hires-scale", "1.5", "--hires-denoise", "0.6", "--hires-steps", "5")
    first, second = record["passes"]  # type: ignore[misc]
    assert (first["kind"], first["width"], first["denoise"]) == ("txt2img", 64, None)
    assert (second["kind"], second["width"], second["height"], second["denoise"], second["steps"], second["upscaler"]) \
        == ("hires", 96, 96, 0.6, 5, "Latent")  # fmt: skip
    assert (record["width"], record["final_width"]) == (64, 96)
    with Image.open(out) as im:
        assert im.size == (96, 96)
        assert "Hires upscaler: Latent" in im.info["parameters"] and "Denoising strength: 0.6" in im.info["parameters"]
    report = _replay(out, models[family])
    assert report["verdict"] == "bit-identical", report


def test_every_upscaler_and_the_denoise_move_the_hash_and_each_replays(models: dict[str, Path], tmp_path: Path) -> None:
    model = models["sd1"]
    hashes = {str(_generate(model, tmp_path / "plain.png")["extra"]["seedlock"]["pixel_sha256"])}  # type: ignore[index]
    variants = [("--hires-upscaler", "latent"), ("--hires-upscaler", "Latent (bicubic)"),
                ("--hires-upscaler", "latent-nearest"), ("--hires-upscaler", "Lanczos"),
                ("--hires-upscaler", "latent", "--hires-denoise", "0.5")]  # fmt: skip
    for i, extra in enumerate(variants):
        out = tmp_path / f"v{i}.png"
        record = _generate(model, out, "--hires-scale", "2", *extra)
        hashes.add(str(record["extra"]["seedlock"]["pixel_sha256"]))  # type: ignore[index]
        res = CliRunner().invoke(cli, ["replay", str(out), "--model", str(model), "--json"])
        assert res.exit_code == 0, res.output
    assert len(hashes) == 1 + len(variants)
    # diff names the upscaler as the cause
    res = CliRunner().invoke(cli, ["diff", str(tmp_path / "v0.png"), str(tmp_path / "v3.png"), "--json"])
    causes = json.loads(res.output)["causes"]
    assert [(c["category"], c["a"], c["b"]) for c in causes] == [("upscaler", "Latent", "Lanczos")]


def test_an_override_keeps_the_hires_pass_and_moves_it_with_the_seed(models: dict[str, Path], tmp_path: Path) -> None:
    model = models["sd1"]
    _generate(model, tmp_path / "a.png", "--hires-scale", "1.5")
    res = CliRunner().invoke(cli, ["generate", str(tmp_path / "a.png"), "--model", str(model), "--seed", "9",
                                   "-o", str(tmp_path / "b.png")])  # fmt: skip
    assert res.exit_code == 0, res.output
    passes = json.loads((tmp_path / "b.json").read_text())["passes"]
    assert [(p["kind"], p["seed"], p["width"]) for p in passes] == [("txt2img", 9, 64), ("hires", 9, 96)]


def _a1111_png(path: Path, parameters: str) -> None:
    import numpy as np
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", parameters)
    Image.fromarray(np.zeros((96, 96, 3), np.uint8)).save(path, pnginfo=info)


def test_an_a1111_hires_record_is_replayed_with_what_differs_named(models: dict[str, Path], tmp_path: Path) -> None:
    image = tmp_path / "a1111.png"
    _a1111_png(image, "a red fox\nNegative prompt: blurry\nSteps: 6, Sampler: DPM++ 2M, Schedule type: Karras, "
                      "CFG scale: 7, Seed: 5, Size: 64x64, Denoising strength: 0.55, Hires upscale: 1.5, "
                      "Hires steps: 4, Hires upscaler: R-ESRGAN 4x+, RNG: CPU, Version: v1.10.1")  # fmt: skip
    res = CliRunner().invoke(cli, ["replay", str(image), "--model", str(models["sd1"]), "--json",
                                   "--allow-other-model"])  # fmt: skip
    assert res.exit_code == 1, res.output  # ran, and (the pixels here are a stand-in) differs
    report = json.loads(res.output)
    assert any("'R-ESRGAN 4x+' is not shipped" in a for a in report["approximate"])
    assert any("hires pass's noise" in a for a in report["approximate"])
    assert report["promise"] == "numerically close"


@pytest.mark.parametrize(
    ("hires", "message"),
    [
        ("Hires upscale: 2, Hires checkpoint: other.safetensors", "another checkpoint"),
        ("Hires upscale: 2, Hires prompt: a blue fox", "a prompt of its own"),
    ],
)
def test_what_the_hires_pass_cannot_honour_is_refused(hires: str, message: str, models: dict[str, Path],
                                                      tmp_path: Path) -> None:  # fmt: skip
    image = tmp_path / "a.png"
    _a1111_png(image, f"a red fox\nSteps: 6, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 64x64, "
                      f"Denoising strength: 0.5, {hires}")  # fmt: skip
    res = CliRunner().invoke(cli, ["replay", str(image), "--model", str(models["sd1"]), "--allow-other-model"])
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--hires-upscaler", "R-ESRGAN 4x+"], "is not one seedlock runs"),
        (["--hires-scale", "1.3"], "not a multiple of 8"),
    ],
)
def test_bad_hires_flags_are_one_line_errors(extra: list[str], message: str, models: dict[str, Path],
                                             tmp_path: Path) -> None:  # fmt: skip
    res = CliRunner().invoke(cli, ["generate", "--model", str(models["sd1"]), "--prompt", "x", *extra,
                                   "-o", str(tmp_path / "x.png")])  # fmt: skip
    assert res.exit_code == 2 and message in res.output and not (tmp_path / "x.png").exists()
