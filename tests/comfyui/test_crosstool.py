"""ComfyUI's own PNGs, made by the real server, replayed by seedlock without ComfyUI.

A matrix of samplers x schedulers, every sampler at 4/10/20/28 steps, non-square sizes,
img2img, inpainting (VAEEncodeForInpaint and SetLatentNoiseMask), LoRAs, hires passes in
latent and pixel space, weighted and long prompts, CLIP skip and cfg 1: every
deterministic sampler must come back bit-identical; samplers with per-step noise
(ancestral, SDE, lcm) within one level (or identical).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from tests.comfyui.conftest import CKPT, LORA, txt2img

from seedlock.cli import cli
from seedlock.comfyui.client import ComfyClient

pytestmark = pytest.mark.comfyui

SAMPLERS = ["euler", "euler_ancestral", "heun", "dpm_2", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_sde", "ddim",
            "uni_pc", "uni_pc_bh2", "lcm"]  # fmt: skip
SCHEDULERS = ["normal", "karras", "exponential", "sgm_uniform", "simple", "beta", "ddim_uniform"]
NOISY = {"euler_ancestral", "dpmpp_2m_sde", "dpmpp_sde", "lcm"}
NOT_MIRRORED = ["dpmpp_3m_sde", "dpm_adaptive"]
INIT = "seedlock-init.png"


def init_png() -> bytes:
    """An RGBA input image of a size that is not a multiple of 8, transparent where it is to be inpainted."""
    rgba = np.random.default_rng(0).integers(0, 256, (72, 84, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[20:50, 30:60, 3] = 0
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG")
    return buf.getvalue()


def img2img(seed: int, *, denoise: float = 0.6, sampler: str = "euler", inpaint: str | None = None) -> dict[str, Any]:
    """LoadImage -> VAEEncode (or VAEEncodeForInpaint, or a SetLatentNoiseMask on the alpha) -> KSampler."""
    g: dict[str, Any] = txt2img(seed=seed, sampler=sampler)
    g["20"] = {"class_type": "LoadImage", "inputs": {"image": INIT}}
    if inpaint == "encode":
        g["21"] = {"class_type": "VAEEncodeForInpaint", "inputs": {"pixels": ["20", 0], "vae": ["4", 2],
                                                                   "mask": ["20", 1], "grow_mask_by": 6}}  # fmt: skip
    else:
        g["21"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["20", 0], "vae": ["4", 2]}}
    g["3"]["inputs"]["latent_image"] = ["21", 0]
    if inpaint == "mask":
        g["22"] = {"class_type": "SetLatentNoiseMask", "inputs": {"samples": ["21", 0], "mask": ["20", 1]}}
        g["3"]["inputs"]["latent_image"] = ["22", 0]
    g["3"]["inputs"]["denoise"] = denoise
    return g


def pixel_hires(seed: int, method: str) -> dict[str, Any]:
    """A hires fix in pixel space: decode, ImageScaleBy 1.5, encode, a second KSampler at denoise 0.45."""
    g: dict[str, Any] = txt2img(seed=seed)
    g["30"] = {"class_type": "ImageScaleBy", "inputs": {"image": ["8", 0], "upscale_method": method, "scale_by": 1.5}}
    g["31"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["30", 0], "vae": ["4", 2]}}
    g["32"] = {"class_type": "KSampler", "inputs": {**g["3"]["inputs"], "steps": 4, "denoise": 0.45,
                                                    "latent_image": ["31", 0]}}  # fmt: skip
    g["33"] = {"class_type": "VAEDecode", "inputs": {"samples": ["32", 0], "vae": ["4", 2]}}
    g["9"]["inputs"]["images"] = ["33", 0]
    return g


def custom(seed: int, sampler: str, sigmas: dict[str, Any], *, latent: dict[str, Any] | None = None) -> dict[str, Any]:
    """The same graph through SamplerCustom: KSamplerSelect, a scheduler node, and the sampler node as "3"."""
    g: dict[str, Any] = latent or txt2img(seed=seed)
    ks = g["3"]["inputs"]
    g["40"] = {"class_type": "KSamplerSelect", "inputs": {"sampler_name": sampler}}
    g["41"] = sigmas
    if sigmas["class_type"] == "BasicScheduler":
        sigmas["inputs"]["model"] = ks["model"]
    g["3"] = {"class_type": "SamplerCustom", "inputs": {
        "model": ks["model"], "add_noise": True, "noise_seed": seed, "cfg": ks["cfg"], "positive": ks["positive"],
        "negative": ks["negative"], "sampler": ["40", 0], "sigmas": ["41", 0], "latent_image": ks["latent_image"]}}  # fmt: skip
    return g


def sampler_of(g: dict[str, Any]) -> str:
    node = g["3"]["inputs"]
    return str(node["sampler_name"] if "sampler_name" in node else g[node["sampler"][0]]["inputs"]["sampler_name"])


def _basic(scheduler: str, steps: int, denoise: float = 1.0) -> dict[str, Any]:
    return {"class_type": "BasicScheduler", "inputs": {"scheduler": scheduler, "steps": steps, "denoise": denoise}}


def _extra_cases() -> dict[str, dict[str, Any]]:
    cases: dict[str, dict[str, Any]] = {}
    for i, sampler in enumerate(SAMPLERS):
        for steps in (4, 10, 20, 28):
            g = txt2img(seed=100 + 10 * i + steps, sampler=sampler, steps=steps)
            g["3"]["inputs"]["scheduler"] = SCHEDULERS[(i + steps) % 6]  # ddim_uniform is too coarse at 4 steps
            cases[f"{sampler}/{g['3']['inputs']['scheduler']}/{steps} steps"] = g
    for sampler, scheduler, w, h in (("dpmpp_2m", "karras", 96, 64), ("uni_pc", "normal", 64, 128),
                                     ("dpmpp_2m_sde", "exponential", 128, 72), ("euler_ancestral", "beta", 80, 80)):
        g = txt2img(seed=w + h, sampler=sampler)
        g["5"]["inputs"].update(width=w, height=h)
        g["3"]["inputs"]["scheduler"] = scheduler
        cases[f"{sampler}/{scheduler} {w}x{h}"] = g  # fmt: skip
    cases["img2img denoise 0.6"] = img2img(1)
    cases["img2img ddim"] = img2img(2, sampler="ddim")
    cases["inpaint (VAEEncodeForInpaint)"] = img2img(3, denoise=1.0, inpaint="encode")
    cases["inpaint (SetLatentNoiseMask)"] = img2img(4, denoise=0.8, inpaint="mask")
    cases["inpaint ddim (noise from seed+1)"] = img2img(5, denoise=0.8, sampler="ddim", inpaint="mask")
    cases["inpaint dpmpp_2m_sde"] = img2img(11, denoise=0.8, sampler="dpmpp_2m_sde", inpaint="mask")
    cases["LoRA 0.8"] = txt2img(seed=12, lora=0.8)
    g = txt2img(seed=13, lora=1.0)
    g["10"]["inputs"]["strength_clip"] = 0.0
    cases["LoRA on the UNet only"] = g
    cases["LoRA + hires 2-pass"] = txt2img(seed=14, lora=1.0, hires=True)
    g = txt2img(seed=17, lora=0.8)  # two LoRAs chained: ComfyUI rounds the text encoder's weights once
    g["19"] = {"class_type": "LoraLoader", "inputs": {"lora_name": LORA, "strength_model": -0.5, "strength_clip": 0.3,
                                                     "model": ["10", 0], "clip": ["10", 1]}}  # fmt: skip
    g["3"]["inputs"]["model"] = ["19", 0]
    g["6"]["inputs"]["clip"] = g["7"]["inputs"]["clip"] = ["19", 1]
    cases["two LoRAs chained"] = g
    cases["hires in pixels (lanczos)"] = pixel_hires(15, "lanczos")
    cases["hires in pixels (bicubic)"] = pixel_hires(16, "bicubic")
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
    cases["SamplerCustom euler_ancestral/karras"] = custom(20, "euler_ancestral", _basic("karras", 12))
    # BasicScheduler keeps the penultimate sigma that KSampler drops for dpm_2
    cases["SamplerCustom dpm_2/normal"] = custom(21, "dpm_2", _basic("normal", 8))
    cases["SamplerCustom dpmpp_2m/KarrasScheduler"] = custom(22, "dpmpp_2m", {"class_type": "KarrasScheduler",
        "inputs": {"steps": 10, "sigma_max": 10.0, "sigma_min": 0.1, "rho": 5.0}})  # fmt: skip
    cases["SamplerCustom heun/ExponentialScheduler"] = custom(23, "heun", {"class_type": "ExponentialScheduler",
        "inputs": {"steps": 7, "sigma_max": 14.614642, "sigma_min": 0.0291675}})  # fmt: skip
    cases["SamplerCustom img2img uni_pc denoise 0.5"] = custom(24, "uni_pc", _basic("simple", 10, 0.5),
                                                                latent=img2img(24))  # fmt: skip
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
        cases[name] = (g, sampler_of(g))
    made: dict[str, tuple[Path, str]] = {}
    (out / INIT).write_bytes(init_png())  # replay finds LoadImage's file beside the image
    with ComfyClient(comfy_server) as client:
        client.upload_image(INIT, init_png())
        for i, (name, (g, sampler)) in enumerate(cases.items()):
            run = client.run(g)
            p = out / f"{i:03d}.png"
            p.write_bytes(run.images[0].data)
            made[name] = (p, sampler)
    return made


@pytest.fixture(scope="session")
def replays(server_pngs: dict[str, tuple[Path, str]], models_dir: Path) -> dict[str, Any]:
    from seedlock.replay.comfy_replay import replay_comfy

    ckpt, loras = models_dir / "checkpoints" / CKPT, {LORA: models_dir / "loras" / LORA}
    return {name: replay_comfy(p, model=ckpt, loras=loras, threads=2) for name, (p, _) in server_pngs.items()}


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
            if sampler not in client.object_info()["KSampler"]["input"]["required"]["sampler_name"][0]:
                pytest.fail(f"this ComfyUI has no sampler {sampler}: pick another unmirrored one")
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


def test_every_image_of_a_batch_is_matched_to_its_place(comfy_server: str, models_dir: Path, tmp_path: Path) -> None:
    """A batch draws its noise from one generator and saves one PNG per image, each with the same graph:
    each PNG replays bit for bit as the image of the batch it is."""
    from seedlock.replay.comfy_replay import replay_comfy

    g = txt2img(seed=31, sampler="euler_ancestral")
    g["5"]["inputs"]["batch_size"] = 3  # type: ignore[index]
    with ComfyClient(comfy_server) as client:
        run = client.run(g)
    assert len(run.images) == 3
    for k, saved in enumerate(run.images):
        png = tmp_path / f"batch{k}.png"
        png.write_bytes(saved.data)
        rep = replay_comfy(png, model=models_dir / "checkpoints" / CKPT, threads=2)
        assert (rep.verdict, rep.batch_index) == ("bit-identical", k), rep.summary


def test_an_input_image_that_is_not_found_is_named(server_pngs: dict[str, tuple[Path, str]], models_dir: Path,
                                                   tmp_path: Path) -> None:  # fmt: skip
    png = tmp_path / "moved.png"
    png.write_bytes(server_pngs["img2img denoise 0.6"][0].read_bytes())  # without its input image beside it
    res = CliRunner().invoke(cli, ["replay", str(png), "--model", str(models_dir / "checkpoints" / CKPT)])
    assert res.exit_code == 2
    assert INIT in res.stderr and "--input-dir" in res.stderr and "Traceback" not in res.output
    res = CliRunner().invoke(cli, ["replay", str(png), "--model", str(models_dir / "checkpoints" / CKPT),
                                   "--input-dir", str(server_pngs["img2img denoise 0.6"][0].parent), "--threads", "2"])  # fmt: skip
    assert res.exit_code == 0, res.output


def test_an_input_name_outside_its_folder_is_refused(server_pngs: dict[str, tuple[Path, str]], models_dir: Path,
                                                    tmp_path: Path) -> None:  # fmt: skip
    from PIL.PngImagePlugin import PngInfo

    from seedlock.errors import ReplayRefused
    from seedlock.replay.comfy_replay import replay_comfy

    src, _ = server_pngs["img2img denoise 0.6"]
    with Image.open(src) as im:
        graph = json.loads(im.text["prompt"])
        graph["20"]["inputs"]["image"] = "../" + INIT  # the file exists there: only the rule refuses it
        info = PngInfo()
        info.add_text("prompt", json.dumps(graph))
        png = tmp_path / "inside" / "x.png"
        png.parent.mkdir()
        im.save(png, pnginfo=info)
    (tmp_path / INIT).write_bytes(init_png())
    with pytest.raises(ReplayRefused, match="outside its folder"):
        replay_comfy(png, model=models_dir / "checkpoints" / CKPT)


def test_a_lora_that_is_not_found_is_named(server_pngs: dict[str, tuple[Path, str]], models_dir: Path,
                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("SEEDLOCK_HOME", str(tmp_path / "home"))  # an empty model index
    png, _ = server_pngs["LoRA 0.8"]
    res = CliRunner().invoke(cli, ["replay", str(png), "--model", str(models_dir / "checkpoints" / CKPT)])
    assert res.exit_code == 2
    assert LORA in res.stderr and "--lora tiny-style=PATH" in res.stderr
