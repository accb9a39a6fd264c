"""SD3 and Flux: the tiny flow-matching models are built in their families' single-file layouts,
loaded back tensor for tensor, generated from and replayed bit for bit in another process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from seedlock.cli import cli

FAMILIES = ("sd3", "flux")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("flow")
    out = {}
    for family in FAMILIES:
        out[family] = folder / f"tiny-{family}.safetensors"
        res = CliRunner().invoke(cli, ["model", "build-tiny", "--family", family, "-o", str(out[family]), "--json"])
        assert res.exit_code == 0, res.output
    return out


def _shapes(path: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 - safe_open has no __iter__


@pytest.mark.parametrize("family", FAMILIES)
def test_the_build_is_byte_reproducible_in_another_process(family: str, tiny: dict[str, Path], tmp_path: Path) -> None:
    other = tmp_path / "again.safetensors"
    proc = subprocess.run([sys.executable, "-m", "seedlock", "model", "build-tiny", "--family", family, "-o", str(other)],
                          capture_output=True, text=True, env={**os.environ})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert other.read_bytes() == tiny[family].read_bytes()


@pytest.mark.parametrize("family", FAMILIES)
def test_the_file_has_the_familys_layout_and_is_detected_from_its_weights(family: str, tiny: dict[str, Path]) -> None:
    from seedlock.replay.family import detect_family

    shapes = _shapes(tiny[family])
    assert detect_family(shapes) == family
    blocks = "joint_blocks" if family == "sd3" else "double_blocks"
    assert any(k.startswith(f"model.diffusion_model.{blocks}.") for k in shapes)
    assert "text_encoders.t5xxl.transformer.shared.weight" in shapes
    assert "first_stage_model.decoder.conv_out.weight" in shapes
    if family == "sd3":
        # fused q/k/v, and the last joint block's context side feeds attention only
        assert shapes["model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight"] == (96, 32)
        assert "model.diffusion_model.joint_blocks.1.context_block.mlp.fc1.weight" not in shapes
        assert "text_encoders.clip_g.transformer.text_projection.weight" in shapes
    else:
        assert shapes["model.diffusion_model.single_blocks.0.linear1.weight"] == (7 * 32, 32)
        assert "model.diffusion_model.guidance_in.in_layer.weight" in shapes


@pytest.mark.parametrize("family", FAMILIES)
def test_every_tensor_is_loaded_and_a_foreign_one_is_refused(family: str, tiny: dict[str, Path], tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    from seedlock.errors import ReplayRefused
    from seedlock.replay.flow_models import load_flow_pipeline

    name = f"tiny-{family}"
    pipe = load_flow_pipeline(tiny[family], name, torch.float32)
    for module in pipe.components.values():
        if isinstance(module, torch.nn.Module):
            assert not [n for n, p in module.named_parameters() if p.is_meta]
    state = load_file(str(tiny[family]))
    # the transformer round-trips: diffusers' weights written back are the file's own
    from seedlock.replay.flow_keys import invert
    from seedlock.replay.flow_models import _original_shapes, _to_diffusers

    original = {k.removeprefix("model.diffusion_model."): v for k, v in state.items() if k.startswith("model.")}
    back = invert(lambda s: _to_diffusers(name, s), _original_shapes(name), pipe.transformer.state_dict())
    assert all(torch.equal(back[k], original[k]) for k in original)
    extra = tmp_path / "extra.safetensors"
    save_file({**state, "model.diffusion_model.stray.weight": torch.zeros(2)}, str(extra))
    with pytest.raises(ReplayRefused, match=r"extra\.safetensors"):
        load_flow_pipeline(extra, name, torch.float32)
    missing = tmp_path / "missing.safetensors"
    save_file({k: v for k, v in state.items() if "t5xxl" not in k or "final_layer_norm" not in k}, str(missing))
    with pytest.raises(ReplayRefused, match=r"missing\.safetensors.*t5xxl"):
        load_flow_pipeline(missing, name, torch.float32)


def test_the_flux_converter_agrees_with_diffusers_at_fluxs_own_width() -> None:
    """diffusers' converter only knows the 3072-wide model; at that width the two must give the same
    tensors (one column per row is enough: both only split and reorder rows)."""
    import torch
    from diffusers.loaders.single_file_utils import convert_flux_transformer_checkpoint_to_diffusers

    from seedlock.replay.flow_keys import flux_shapes, flux_to_diffusers

    shapes = flux_shapes(hidden=3072, heads=24, double=2, single=2, context=4096, pooled=768, guidance=True)
    state, offset = {}, 0
    for key, shape in shapes.items():
        thin = (shape[0],) + (1,) * (len(shape) - 1)
        state["model.diffusion_model." + key] = torch.arange(offset, offset + shape[0], dtype=torch.float64).reshape(thin)
        offset += shape[0]
    ours = flux_to_diffusers(dict(state))
    theirs = convert_flux_transformer_checkpoint_to_diffusers(dict(state))
    assert set(ours) == set(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


@pytest.mark.parametrize("family", FAMILIES)
def test_generate_then_replay_in_another_process_is_bit_identical(family: str, tiny: dict[str, Path],
                                                                   tmp_path: Path) -> None:  # fmt: skip
    model = str(tiny[family])
    out = tmp_path / f"{family}.png"
    base = ["generate", "--model", model, "--seed", "3", "--steps", "5", "--sampler", "Euler Karras"]
    res = CliRunner().invoke(cli, [*base, "--prompt", "a red fox", "-o", str(out)])
    assert res.exit_code == 0, res.output
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["extra"]["seedlock"]["scheduler"]["_class_name"] == "FlowMatchEulerDiscreteScheduler"
    assert record["extra"]["seedlock"]["scheduler"]["use_karras_sigmas"] is True
    proc = subprocess.run([sys.executable, "-m", "seedlock", "replay", str(out), "--model", model, "--json"],
                          capture_output=True, text=True, env={**os.environ})  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert json.loads(proc.stdout)["verdict"] == "bit-identical"
    # one knob moves the hash: the prompt, the size, the guidance, the seed
    hashes = {record["extra"]["seedlock"]["pixel_sha256"]}
    knobs = (["--prompt", "a red dog"], ["--prompt", "a red fox", "--width", "80"],
             ["--prompt", "a red fox", "--cfg", "4.5"], ["--prompt", "a red fox", "--seed", "4"])  # fmt: skip
    for i, extra in enumerate(knobs):
        other = tmp_path / f"{family}{i}.png"
        args = [a for a in base if a not in ("--seed", "3")] if "--seed" in extra else base
        res = CliRunner().invoke(cli, [*args, *extra, "-o", str(other)])
        assert res.exit_code == 0, res.output
        hashes.add(json.loads(other.with_suffix(".json").read_text())["extra"]["seedlock"]["pixel_sha256"])
    assert len(hashes) == 1 + len(knobs)


@pytest.mark.parametrize(
    ("family", "extra", "message"),
    [
        ("sd3", ["--sampler", "Euler a"], "flow-matching Euler only"),
        ("flux", ["--negative", "blurry"], "no negative prompt"),
        ("flux", ["--width", "72"], "multiple of 16"),
        ("flux", ["--clip-skip", "2"], "no CLIP skip"),
    ],
)
def test_what_a_flow_run_cannot_honour_is_refused(family: str, extra: list[str], message: str,
                                                  tiny: dict[str, Path], tmp_path: Path) -> None:  # fmt: skip
    res = CliRunner().invoke(cli, ["generate", "--model", str(tiny[family]), "--prompt", "x", *extra,
                                   "-o", str(tmp_path / "x.png")])  # fmt: skip
    assert res.exit_code != 0 and message in res.output
    assert "Traceback" not in res.output and not (tmp_path / "x.png").exists()


def test_a_real_sd3_or_flux_file_is_named_and_refused(tiny: dict[str, Path], tmp_path: Path) -> None:
    """Without seedlock's family tag the weights are read as a real file of the family, which needs
    T5's vocabulary."""
    from safetensors.torch import load_file, save_file

    for family in FAMILIES:
        real = tmp_path / f"{family}-real.safetensors"
        save_file(load_file(str(tiny[family])), str(real))
        res = CliRunner().invoke(cli, ["generate", "--model", str(real), "--prompt", "x", "-o", str(tmp_path / "x.png")])
        assert res.exit_code != 0 and f"is a {family} checkpoint" in res.output and "SentencePiece" in res.output


@pytest.mark.parametrize("family", FAMILIES)
def test_verify_turns_the_schedule_where_there_is_one_sampler(family: str, tiny: dict[str, Path]) -> None:
    res = CliRunner().invoke(cli, ["verify", "--model", str(tiny[family]), "--prompt", "a fox", "--steps", "4"])
    assert res.exit_code == 0, res.output
    assert "schedule automatic -> karras" in res.output and "verified" in res.output
