"""The SDXL refiner: a tiny refiner of the real one's topology, detected from its weights, taking over
the base's latents at the switch, recorded as A1111 records it and replayed bit for bit."""

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
    folder = tmp_path_factory.mktemp("refiner")
    out = {}
    for family in ("sd1", "sdxl", "sdxl-refiner"):
        out[family] = folder / f"{family}.safetensors"
        res = CliRunner().invoke(cli, ["model", "build-tiny", "--family", family, "-o", str(out[family])])
        assert res.exit_code == 0, res.output
    return out


def test_the_refiner_is_told_apart_by_its_weights_and_loads_every_one(models: dict[str, Path], tmp_path: Path) -> None:
    import diffusers
    import torch
    from safetensors import safe_open

    from seedlock.replay.configs import config_folder
    from seedlock.replay.family import detect_family
    from seedlock.replay.run import family_of

    with safe_open(str(models["sdxl-refiner"]), "pt") as f:
        shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    assert detect_family(shapes) == "sdxl-refiner" and family_of(str(models["sdxl-refiner"])) == "tiny-sdxl-refiner"
    assert not any(k.startswith("conditioner.embedders.1.") for k in shapes)
    # five time ids (size, crop, aesthetic score) of 8 plus the pooled OpenCLIP projection
    assert shapes["model.diffusion_model.label_emb.0.0.weight"][1] == 5 * 8 + 48
    pipe = diffusers.StableDiffusionXLImg2ImgPipeline.from_single_file(
        str(models["sdxl-refiner"]), config=str(config_folder("tiny-sdxl-refiner")), local_files_only=True
    )
    assert pipe.text_encoder is None and pipe.config.requires_aesthetics_score
    for module in (pipe.unet, pipe.vae, pipe.text_encoder_2):
        assert not [n for n, p in module.named_parameters() if p.is_meta]
    again = tmp_path / "again.safetensors"
    proc = subprocess.run([sys.executable, "-m", "seedlock", "model", "build-tiny", "--family", "sdxl-refiner",
                           "-o", str(again)], capture_output=True, text=True, env={**os.environ})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert again.read_bytes() == models["sdxl-refiner"].read_bytes()
    del torch


def _generate(models: dict[str, Path], out: Path, *extra: str) -> dict[str, object]:
    res = CliRunner().invoke(cli, ["generate", "--model", str(models["sdxl"]), "--prompt", "a red fox", "--seed", "3",
                                   "--steps", "8", *extra, "-o", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    return dict(json.loads(out.with_suffix(".json").read_text()))


def test_base_then_refiner_is_recorded_and_replays_bit_for_bit_in_another_process(models: dict[str, Path],
                                                                                   tmp_path: Path) -> None:  # fmt: skip
    from PIL import Image

    out = tmp_path / "r.png"
    record = _generate(models, out, "--refiner", str(models["sdxl-refiner"]))
    (refiner,) = [a for a in record["adapters"] if a["kind"] == "refiner"]  # type: ignore[attr-defined]
    assert refiner["name"] == "sdxl-refiner" and refiner["params"] == {"switch_at": 0.8}
    with Image.open(out) as im:
        assert f"Refiner: sdxl-refiner [{refiner['hashes']['autov2']}]" in im.info["parameters"]
        assert "Refiner switch at: 0.8" in im.info["parameters"]
    proc = subprocess.run([sys.executable, "-m", "seedlock", "replay", str(out), "--model", str(models["sdxl"]),
                           "--refiner", str(models["sdxl-refiner"]), "--json"],
                          capture_output=True, text=True, env={**os.environ})  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert json.loads(proc.stdout)["verdict"] == "bit-identical"
    # the switch and the refiner itself each move the hash
    hashes = {str(record["extra"]["seedlock"]["pixel_sha256"])}  # type: ignore[index]
    for i, extra in enumerate((["--refiner", str(models["sdxl-refiner"]), "--refiner-switch", "0.5"], [])):
        hashes.add(str(_generate(models, tmp_path / f"o{i}.png", *extra)["extra"]["seedlock"]["pixel_sha256"]))  # type: ignore[index]
    assert len(hashes) == 3


def test_an_a1111_refiner_record_replays_with_the_file_given(models: dict[str, Path], tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", "a red fox\nSteps: 8, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 64x64, "
                                "Refiner: sdxl-refiner [0000000000], Refiner switch at: 0.7, RNG: CPU")  # fmt: skip
    image = tmp_path / "a1111.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(image, pnginfo=info)
    base = ["replay", str(image), "--model", str(models["sdxl"]), "--json"]
    res = CliRunner().invoke(cli, base)
    assert res.exit_code == 2 and "refiner 'sdxl-refiner' is not on disk" in res.output and "--refiner PATH" in res.output
    res = CliRunner().invoke(cli, [*base, "--refiner", str(models["sdxl-refiner"])])
    assert res.exit_code == 2 and "not the record's refiner" in res.output  # the hash in the record is another file's
    res = CliRunner().invoke(cli, [*base, "--refiner", str(models["sdxl-refiner"]), "--allow-other-model"])
    assert res.exit_code == 1, res.output  # ran; the stand-in pixels differ
    notes = json.loads(res.output)["approximate"]
    assert any("not the record's refiner" in n for n in notes) and any("diffusers' base + refiner" in n for n in notes)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "sdxl-refiner"], "is an SDXL refiner"),
        (["--model", "sd1", "--refiner", "sdxl-refiner"], "follows an SDXL base"),
        (["--model", "sdxl", "--refiner", "sdxl"], "is not an SDXL refiner"),
        (["--model", "sdxl", "--refiner", "sdxl-refiner", "--hires-scale", "2"], "refiner and a hires fix"),
        (["--model", "sdxl", "--refiner-switch", "0.5"], "has no refiner"),
    ],
)
def test_what_a_refiner_run_cannot_be_is_refused(args: list[str], message: str, models: dict[str, Path],
                                                tmp_path: Path) -> None:  # fmt: skip
    args = [str(models[a]) if a in models else a for a in args]
    res = CliRunner().invoke(cli, ["generate", "--prompt", "x", *args, "-o", str(tmp_path / "x.png")])
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output
    assert not (tmp_path / "x.png").exists()
