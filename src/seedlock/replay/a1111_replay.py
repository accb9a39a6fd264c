"""``seedlock replay --profile a1111``: an A1111 record run with A1111's numerics, compared with its pixels.

The record's model, prompt, seed, steps, CFG, size and clip skip are resolved as for any replay
(hashes checked); then the run is A1111's rather than diffusers': the prompt encoded with
emphasis and 75-token chunks (:mod:`seedlock.replay.a1111_text`), k-diffusion's sampler over the
CompVis sigma table with A1111's schedules and CFG batching, the image's CPU or NV noise with
ENSD (:mod:`seedlock.replay.a1111_sampling`, :mod:`seedlock.replay.nv_noise`), and the decoded
image truncated to 8 bits as A1111 saves it. The UNet, text encoder and VAE are diffusers'
modules with the file's weights; A1111 runs the original LDM modules, whose kernels may round
differently, so the promise is "numerically close" until measured against an A1111 image.

SD-1 models, txt2img, no LoRA: anything else is refused by name.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from seedlock.errors import ReplayRefused
from seedlock.replay.comfy_replay import ComfyReplay

__all__ = ["replay_a1111"]

_SCHEDULES = {None: "automatic", "automatic": "automatic", "uniform": "uniform", "karras": "karras",
              "exponential": "exponential", "polyexponential": "polyexponential"}  # fmt: skip
_UNMAPPED = "is not mirrored under the a1111 profile (mirrored: Euler, Euler a, Heun, DPM2, DPM2 a, DPM++ 2S a, DPM++ 2M)"
#: notes of the diffusers run that this profile does not have
_NOT_HERE = ("prompt uses (emphasis", "the initial noise is A1111's NV noise")


def replay_a1111(
    image: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | None = None,
    loras: Mapping[str, str] | None = None,
    allow_other_model: bool = False,
    threads: int | None = 1,
) -> ComfyReplay:
    """Regenerate ``image`` from its A1111 record with A1111's numerics and compare pixels."""
    import numpy as np
    import torch

    from seedlock.diff.pixels import compare_arrays, decode
    from seedlock.pin.cache import HashCache
    from seedlock.readers import read
    from seedlock.replay import a1111_sampling as a1111
    from seedlock.replay.a1111_text import encode_prompt
    from seedlock.replay.determinism import deterministic_mode
    from seedlock.replay.nv_noise import NvGenerator
    from seedlock.replay.recipe import recipe_from_record
    from seedlock.replay.run import Engine, RunSettings

    record = read(image)
    with HashCache() as cache:
        recipe = recipe_from_record(record, model=model, loras=loras, allow_other_model=allow_other_model, cache=cache,
                                    samplers=a1111.SAMPLERS, unmapped=_UNMAPPED)  # fmt: skip
    if recipe.hires is not None or recipe.refiner is not None or recipe.loras:
        raise ReplayRefused("the a1111 profile replays single-pass txt2img without LoRAs; use --profile seedlock")
    if recipe.sampler not in a1111.SAMPLERS:
        raise ReplayRefused(f"sampler {record.sampler or recipe.sampler!r} {_UNMAPPED}")
    if recipe.schedule not in _SCHEDULES:
        raise ReplayRefused(f"schedule {recipe.schedule!r} is not mirrored under the a1111 profile")
    started = time.perf_counter()
    engine = Engine(RunSettings(threads=threads))
    pipe = engine.pipeline(recipe.model)
    if pipe._seedlock_family not in ("tiny-sd1", "sd1"):
        raise ReplayRefused(f"the a1111 profile mirrors SD-1 models; {Path(recipe.model).name} is "
                            f"{pipe._seedlock_family}")  # fmt: skip
    width, height = recipe.width or 512, recipe.height or 512
    if width % 8 or height % 8:
        raise ReplayRefused(f"size {width}x{height} is not a multiple of 8")
    seed = recipe.seed + recipe.batch_index
    ensd = int(record.ensd or 0)
    shape = (4, height // 8, width // 8)
    with deterministic_mode(True, threads=threads, attention="math"):
        cond = encode_prompt(recipe.prompt, pipe.tokenizer, pipe.text_encoder, recipe.clip_skip)
        uncond = encode_prompt(recipe.negative_prompt, pipe.tokenizer, pipe.text_encoder, recipe.clip_skip)

        def eps(x: Any, t: Any, context: Any) -> Any:
            return pipe.unet(x, t, encoder_hidden_states=context).sample

        table = a1111.CompVisSchedule()
        sigmas = a1111.a1111_sigmas(recipe.sampler, _SCHEDULES[recipe.schedule], recipe.steps, table)
        if recipe.noise == "nv":
            nv = NvGenerator(seed)
            noise = torch.from_numpy(nv.randn(shape))[None]
            # ImageRNG: the stream goes on after the first draw, or restarts at seed + ENSD
            stream = NvGenerator(seed + ensd) if ensd else nv
            step_noise = lambda: torch.from_numpy(stream.randn(shape))[None]  # noqa: E731
        else:
            noise = a1111.initial_noise((1, *shape), seed)
            step_noise = a1111.step_noise((1, *shape), seed, ensd)
        denoiser = a1111.cfg_denoiser(eps, table, cond, uncond, recipe.cfg_scale)
        with torch.no_grad():
            latent = a1111.SAMPLERS[recipe.sampler](denoiser, noise * sigmas[0], sigmas, step_noise)
        if not bool(torch.isfinite(latent).all()):
            # A1111 would save this as black: say so rather than compare it
            raise ReplayRefused("the run produced NaN or infinite latents, which A1111 would save as a black image")
        with torch.no_grad():
            decoded = pipe.vae.decode(latent / pipe.vae.config.scaling_factor).sample
        pixels = torch.clamp((decoded + 1.0) / 2.0, min=0.0, max=1.0)[0]
        # A1111 saves 255 * x truncated to uint8
        array = (255.0 * np.moveaxis(pixels.cpu().numpy(), 0, 2)).astype(np.uint8)
    px = compare_arrays(decode(Path(image), "RGB"), array)
    verdict = "within levels" if px.verdict == "visually indistinguishable" else px.verdict
    notes = [n for n in recipe.approximate if not n.startswith(_NOT_HERE)]
    return ComfyReplay(str(image), verdict, px.max_abs_diff, px.psnr, time.perf_counter() - started, array,
                       models={"model": recipe.model}, profile="a1111", approximate=tuple(notes))  # fmt: skip
