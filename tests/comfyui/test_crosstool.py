"""ComfyUI's own PNGs, made by the real server, replayed by seedlock without ComfyUI.

A matrix of samplers x schedulers, step counts, a non-square size, a two-pass hires graph,
weighted and long prompts, CLIP skip and cfg 1: every deterministic sampler must come back
bit-identical; samplers with per-step noise within one level (or identical).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from tests.comfyui.conftest import CKPT, txt2img

from seedlock.cli import cli
from seedlock.comfyui.client import ComfyClient

pytestmark = pytest.mark.comfyui

SAMPLERS = ["euler", "euler_ancestral", "heun", "dpm_2", "dpmpp_2m", "ddim", "lcm"]
SCHEDULERS = ["normal", "karras", "exponential", "sgm_uniform", "simple", "beta", "ddim_uniform"]
NOISY = {"euler_ancestral", "lcm"}
NOT_MIRRORED = ["dpmpp_2m_sde", "dpmpp_sde", "uni_pc"]


def _extra_cases() -> dict[str, dict[str, Any]]:
    cases: dict[str, dict[str, Any]] = {}
    for steps in (4, 10, 20, 28):
        cases[f"euler/normal/{steps} steps"] = txt2img(seed=100 + steps, steps=steps)
    g = txt2img(seed=5, sampler="dpmpp_2m")
    g["5"]["inputs"].update(width=96, height=64)
    g["3"]["inputs"]["scheduler"] = "karras"
    cases["dpmpp_2m/karras 96x64"] = g
    cases["hires 2-pass"] = txt2img(seed=6, hires=True)
    cases["weighted prompt"] = txt2img(seed=7, prompt="a (red:1.3) fox in ((deep)) snow, [night]")
    cases["long prompt (2 rows)"] = txt2img(seed=8, prompt=", ".join(["a fox in the snow at dawn"] * 14))
    g = txt2img(seed=9)
    g["20"] = {"class_type": "CLIPSetLastLayer", "inputs": {"clip": ["4", 1], "stop_at_clip_layer": -2}}
    g["6"]["inputs"]["clip"] = g["7"]["inputs"]["clip"] = ["20", 0]
    cases["CLIP skip 2"] = g
    g = txt2img(seed=10)
    g["3"]["inputs"]["cfg"] = 1.0
    cases["cfg 1"] = g
    return cases


@pytest.fixture(scope="session")
def server_pngs(comfy_server: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """case -> (the PNG the real server saved, the sampler); made once."""
    out = tmp_path_factory.mktemp("comfy-pngs")
    cases: dict[str, tuple[dict[str, Any], str]] = {}
    for i, (sampler, scheduler) in enumerate((a, b) for a in SAMPLERS for b in SCHEDULERS):
        g = txt2img(seed=1000 + i, sampler=sampler)
        g["3"]["inputs"]["scheduler"] = scheduler
        cases[f"{sampler}/{scheduler}"] = (g, sampler)
    for name, g in _extra_cases().items():
        cases[name] = (g, str(g["3"]["inputs"]["sampler_name"]))
    made: dict[str, tuple[Path, str]] = {}
    with ComfyClient(comfy_server) as client:
        for i, (name, (g, sampler)) in enumerate(cases.items()):
            run = client.run(g)
            p = out / f"{i:03d}.png"
            p.write_bytes(run.images[0].data)
            made[name] = (p, sampler)
    return made


@pytest.fixture(scope="session")
def replays(server_pngs: dict[str, tuple[Path, str]], models_dir: Path) -> dict[str, Any]:
    from seedlock.replay.comfy_replay import replay_comfy

    ckpt = models_dir / "checkpoints" / CKPT
    return {name: replay_comfy(p, model=ckpt, threads=2) for name, (p, _) in server_pngs.items()}


def test_every_deterministic_cell_is_bit_identical_and_noisy_ones_within_a_level(
    server_pngs: dict[str, tuple[Path, str]], replays: dict[str, Any]
) -> None:
    table = {name: rep.summary for name, rep in replays.items()}
    print("\n" + "\n".join(f"{k:<34} {v}" for k, v in table.items()))
    bad = {
        name: rep.summary
        for name, rep in replays.items()
        if not (rep.identical or (server_pngs[name][1] in NOISY and rep.max_abs_diff <= 1))
    }
    assert not bad, bad


def test_unmirrored_samplers_are_refused_by_name(comfy_server: str, models_dir: Path, tmp_path: Path) -> None:
    from seedlock.errors import ReplayRefused
    from seedlock.replay.comfy_replay import replay_comfy

    with ComfyClient(comfy_server) as client:
        for sampler in NOT_MIRRORED:
            png = tmp_path / f"{sampler}.png"
            png.write_bytes(client.run(txt2img(sampler=sampler, steps=4)).images[0].data)
            with pytest.raises(ReplayRefused, match=sampler):
                replay_comfy(png, model=models_dir / "checkpoints" / CKPT)


def test_replay_command_on_a_server_png(server_pngs: dict[str, tuple[Path, str]], models_dir: Path) -> None:
    png, _ = server_pngs["hires 2-pass"]
    res = CliRunner().invoke(cli, ["replay", str(png), "--model", str(models_dir / "checkpoints" / CKPT),
                                   "--threads", "2", "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["profile"] == "comfyui" and report["verdict"] == "bit-identical"
    # the stage trace names every stage: both prompts, both samplers' noise, steps and latents, the decode
    kinds = {k.split(":")[0] for k in report["trace"]}
    assert kinds == {"text", "noise", "step", "latent", "decode"}
    assert {k for k in report["trace"] if k.startswith("latent:")} == {"latent:3", "latent:12"}
