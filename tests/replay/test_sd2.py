"""SD-2: the tiny model in SD-2's single-file layout (OpenCLIP-H as ``cond_stage_model.model``,
linear attention projections), v-prediction, generated and replayed bit for bit in another process."""

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
def tiny2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sd2") / "tiny-sd2.safetensors"
    res = CliRunner().invoke(cli, ["model", "build-tiny", "--family", "sd2", "-o", str(out)])
    assert res.exit_code == 0, res.output
    return out


def test_the_layout_is_sd2s_and_every_weight_loads(tiny2: Path, tmp_path: Path) -> None:
    import diffusers
    import torch
    from safetensors import safe_open

    from seedlock.replay.configs import config_folder
    from seedlock.replay.run import family_of

    with safe_open(str(tiny2), "pt") as f:
        shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    assert family_of(str(tiny2)) == "tiny-sd2"
    assert "cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight" in shapes
    assert len(shapes["model.diffusion_model.input_blocks.1.1.proj_in.weight"]) == 2  # linear, not a 1x1 conv
    pipe = diffusers.StableDiffusionPipeline.from_single_file(
        str(tiny2), config=str(config_folder("tiny-sd2")), local_files_only=True, safety_checker=None,
        requires_safety_checker=False,
    )  # fmt: skip
    for module in (pipe.unet, pipe.vae, pipe.text_encoder):
        assert not [n for n, p in module.named_parameters() if p.is_meta]
    assert pipe.scheduler.config.prediction_type == "v_prediction"
    assert pipe.tokenizer.pad_token == "!"
    # the fused q/k/v came apart where they were joined
    with safe_open(str(tiny2), "pt") as f:
        qkv = f.get_tensor("cond_stage_model.model.transformer.resblocks.1.attn.in_proj_weight")
    q = pipe.text_encoder.text_model.encoder.layers[1].self_attn.q_proj.weight
    assert torch.equal(q, qkv[: q.shape[0]])
    again = tmp_path / "again.safetensors"
    proc = subprocess.run([sys.executable, "-m", "seedlock", "model", "build-tiny", "--family", "sd2", "-o", str(again)],
                          capture_output=True, text=True, env={**os.environ})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert again.read_bytes() == tiny2.read_bytes()


def test_generate_then_replay_in_another_process_is_bit_identical(tiny2: Path, tmp_path: Path) -> None:
    out = tmp_path / "s2.png"
    res = CliRunner().invoke(cli, ["generate", "--model", str(tiny2), "--prompt", "a red fox", "--seed", "3",
                                   "--steps", "6", "--sampler", "DPM++ 2M Karras", "-o", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["extra"]["seedlock"]["scheduler"]["prediction_type"] == "v_prediction"
    proc = subprocess.run([sys.executable, "-m", "seedlock", "replay", str(out), "--model", str(tiny2), "--json"],
                          capture_output=True, text=True, env={**os.environ})  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert json.loads(proc.stdout)["verdict"] == "bit-identical"


@pytest.mark.parametrize(("spread", "family"), [(0.0, "sd2"), (0.5, "sd2-v")])
def test_a_real_sd2_file_is_told_v_or_eps_as_comfyui_tells_it(spread: float, family: str, tmp_path: Path) -> None:
    """Only the keys and shapes the decision reads are written: the 512 base and 768-v differ in
    nothing but how spread the last attention block's norm biases are."""
    import torch
    from safetensors.torch import save_file

    from seedlock.replay.run import family_of

    g = torch.Generator().manual_seed(0)
    state = {
        "model.diffusion_model.input_blocks.0.0.weight": torch.zeros(320, 4, 3, 3),
        "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": torch.zeros(320, 1024),
        "model.diffusion_model.output_blocks.11.1.transformer_blocks.0.norm1.bias": torch.randn(320, generator=g)
        * spread,
        "cond_stage_model.model.text_projection": torch.zeros(1024, 1024),
    }
    path = tmp_path / "sd2.safetensors"
    save_file(state, str(path))
    assert family_of(str(path)) == family
