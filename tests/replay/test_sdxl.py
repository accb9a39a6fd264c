"""SDXL single files: the tiny SDXL checkpoint is built, loaded by the path a real SDXL file takes,
generated from and replayed bit for bit in another process."""

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
def tiny_xl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("xl") / "tiny-xl.safetensors"
    res = CliRunner().invoke(cli, ["model", "build-tiny", "--family", "sdxl", "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    return out


def test_the_build_is_byte_reproducible_in_another_process(tiny_xl: Path, tmp_path: Path) -> None:
    other = tmp_path / "again.safetensors"
    proc = subprocess.run([sys.executable, "-m", "seedlock", "model", "build-tiny", "--family", "sdxl", "-o", str(other)],
                          capture_output=True, text=True, env={**os.environ})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert other.read_bytes() == tiny_xl.read_bytes()


def test_it_has_sdxls_single_file_layout_and_loads_every_weight(tiny_xl: Path) -> None:
    import diffusers
    import torch
    from safetensors import safe_open

    from seedlock.replay.configs import config_folder
    from seedlock.replay.family import detect_family
    from seedlock.replay.run import family_of
    from seedlock.replay.tiny import build_tiny_state

    with safe_open(str(tiny_xl), "pt") as f:
        shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    assert detect_family(shapes) == "sdxl" and family_of(str(tiny_xl)) == "tiny-sdxl"
    assert any(k.startswith("conditioner.embedders.1.model.transformer.resblocks.") for k in shapes)
    pipe = diffusers.StableDiffusionXLPipeline.from_single_file(
        str(tiny_xl), config=str(config_folder("tiny-sdxl")), local_files_only=True
    )
    # every parameter came from the file (none left unloaded), and the OpenCLIP projection round-trips
    for module in (pipe.unet, pipe.vae, pipe.text_encoder, pipe.text_encoder_2):
        assert not [n for n, p in module.named_parameters() if p.is_meta]
    state = build_tiny_state("tiny-sdxl")
    proj = state["conditioner.embedders.1.model.text_projection"]
    assert torch.equal(pipe.text_encoder_2.text_projection.weight, proj.T)
    assert pipe.text_encoder_2.config.hidden_size != pipe.text_encoder.config.hidden_size


def test_generate_then_replay_in_another_process_is_bit_identical(tiny_xl: Path, tmp_path: Path) -> None:
    out = tmp_path / "xl.png"
    res = CliRunner().invoke(cli, ["generate", "--model", str(tiny_xl), "--prompt", "a red fox", "--seed", "3",
                                   "--steps", "6", "--sampler", "DPM++ 2M Karras", "-o", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    proc = subprocess.run([sys.executable, "-m", "seedlock", "replay", str(out), "--model", str(tiny_xl), "--json"],
                          capture_output=True, text=True, env={**os.environ})  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert json.loads(proc.stdout)["verdict"] == "bit-identical"
    # one knob moves the hash: the prompt, then the size (SDXL's size embedding)
    hashes = {json.loads(out.with_suffix(".json").read_text())["extra"]["seedlock"]["pixel_sha256"]}
    for extra in (["--prompt", "a red dog"], ["--prompt", "a red fox", "--width", "72"]):
        other = tmp_path / f"xl{len(hashes)}.png"
        res = CliRunner().invoke(cli, ["generate", "--model", str(tiny_xl), "--seed", "3", "--steps", "6",
                                       "--sampler", "DPM++ 2M Karras", *extra, "-o", str(other)])  # fmt: skip
        assert res.exit_code == 0, res.output
        hashes.add(json.loads(other.with_suffix(".json").read_text())["extra"]["seedlock"]["pixel_sha256"])
    assert len(hashes) == 3


def test_the_tiny_lora_is_refused_for_sdxl(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["model", "build-tiny", "--family", "sdxl", "-o", str(tmp_path / "x.safetensors"),
                                   "--lora", str(tmp_path / "l.safetensors")])  # fmt: skip
    assert res.exit_code == 2 and "sd1 family" in res.output
