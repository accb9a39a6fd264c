"""Recipe -> diffusers run -> image with its full record; replay and verify on top.

The noise recipe (``seedlock-cpu-1``) makes runs portable: the initial latent of image
*k* is ``torch.randn((1, 4, H/8, W/8))`` in float32 from a CPU generator seeded with
``seed + k`` (A1111's batch rule, and the same numbers as A1111 with ``RNG: CPU``), and
the per-step noise of ancestral/SDE samplers comes from a second CPU generator with
the same seed. One generator per image, so image *k* of a batch can be made alone.
``seedlock-nv-1`` draws the initial latent with A1111's NV generator instead (``--rng NV``).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a run must never touch the network
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from seedlock._version import __version__
from seedlock.errors import InvalidSpec, ReplayRefused
from seedlock.record import Adapter, GenerationRecord, Generator, ModelRef, RunBlock, SamplingPass, Trace, model_stem
from seedlock.replay.flow_models import FLOW
from seedlock.replay.recipe import Recipe
from seedlock.replay.schedulers import effective_config, flow_scheduler_for, scheduler_for, scheduler_from_config

NOISE_RECIPE = "seedlock-cpu-1"
#: the same, with the initial noise drawn by A1111's NV (Philox) generator
NV_NOISE_RECIPE = "seedlock-nv-1"
#: each family's default image side (the tiny models' and the real ones')
NATIVE_SIZE = {
    "tiny-sd1": 64, "sd1": 512, "tiny-sd2": 64, "sd2": 512, "sd2-v": 768, "tiny-sdxl": 64, "sdxl": 1024,
    "tiny-sdxl-refiner": 64, "sdxl-refiner": 1024, "tiny-sd3": 64, "tiny-flux": 64,
}  # fmt: skip
#: families that only refine another model's latents
REFINERS = frozenset({"tiny-sdxl-refiner", "sdxl-refiner"})


@dataclass(frozen=True)
class RunSettings:
    device: str = "cpu"
    dtype: str = "float32"
    deterministic: bool = True
    threads: int | None = 1
    attention: str = "math"


@dataclass
class RunResult:
    pixels: np.ndarray[Any, Any]
    pixel_sha256: str
    record: GenerationRecord
    seconds: float
    trace: Trace | None = None


# -- the engine --------------------------------------------------------------------------


def family_of(path: str) -> str:
    """A :data:`NATIVE_SIZE` family (SD-1, SD-2 base or 768-v, SDXL base or refiner, or a tiny model) from the
    checkpoint's own keys (its validated header, as ComfyUI decides a family: keys and shapes, never the file
    name); refuse anything else."""
    from seedlock.errors import SafetensorsHeaderError
    from seedlock.pin.safetensors_header import read_header_of

    try:
        header = read_header_of(path)
    except SafetensorsHeaderError as exc:
        raise ReplayRefused(
            f"{Path(path).name} is not a valid safetensors file ({exc.message}); pickle checkpoints are never loaded"
        ) from None
    family = header.metadata.get("seedlock.family")
    if family in NATIVE_SIZE:
        return str(family)
    from seedlock.replay.family import detect_family, unet_width

    shapes = header.shapes
    detected = detect_family(shapes)
    name = Path(path).name
    text_key = {
        "sd1": "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight",
        "sd2": "cond_stage_model.model.text_projection",
        "sdxl": "conditioner.embedders.1.model.text_projection",
        "sdxl-refiner": "conditioner.embedders.0.model.text_projection",
    }.get(detected)
    if detected in ("sd3", "flux"):
        raise ReplayRefused(
            f"{name} is a {detected} checkpoint: its T5 tokenizer's SentencePiece vocabulary is not shipped with "
            "seedlock, which generates SD3 and Flux only with its built-in tiny models (model build-tiny)"
        )
    if text_key is None:
        what = "not an SD-1.x, SD-2 or SDXL checkpoint" if detected == "unknown" else f"a {detected} checkpoint"
        raise ReplayRefused(f"{name} is {what}: seedlock generates with SD-1.x, SD-2 and SDXL (base and refiner)")
    if unet_width(shapes) != (384 if detected == "sdxl-refiner" else 320) or text_key not in shapes:
        raise ReplayRefused(f"{name} is an {detected} checkpoint of a layout or width seedlock has no configuration for")
    if detected == "sd2" and _predicts_velocity(path):
        return "sd2-v"
    return detected


def _predicts_velocity(path: str) -> bool:
    """ComfyUI's test for an SD-2 768-v file: the last attention block's first norm has spread-out
    biases (the 512 base's stay near zero). There is nothing in the keys to tell them apart."""
    from safetensors import safe_open

    key = "model.diffusion_model.output_blocks.11.1.transformer_blocks.0.norm1.bias"
    with safe_open(path, "pt") as f:
        if key not in f.keys():  # noqa: SIM118 - safe_open has no __contains__
            return False
        return float(f.get_tensor(key).float().std(unbiased=False)) > 0.09


def quiet_libraries() -> None:
    """diffusers/transformers chatter (progress bars, optional-dependency notes) off."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    import diffusers.utils.logging as dlog
    import transformers.utils.logging as tlog

    dlog.disable_progress_bar()
    dlog.set_verbosity_error()
    tlog.set_verbosity_error()
    tlog.disable_progress_bar()
    logging.getLogger("transformers").setLevel(logging.ERROR)


class Engine:
    """Loads a checkpoint once, runs recipes against it."""

    def __init__(self, settings: RunSettings | None = None) -> None:
        self.settings = settings or RunSettings()
        self._pipes: dict[str, Any] = {}

    def pipeline(self, model: str) -> Any:
        if model in self._pipes:
            return self._pipes[model]
        import torch

        from seedlock.replay.flow_models import load_flow_pipeline

        family = family_of(model)
        dtype = getattr(torch, self.settings.dtype)
        if family in FLOW:
            pipe = load_flow_pipeline(model, family, dtype)
        else:
            pipe = self._load_single_file(model, family, dtype)
        # memory-mapped weights sit at header-dependent offsets, and with one thread the
        # kernels' results depend on alignment: give every tensor a fresh allocation
        with torch.no_grad():
            for module in pipe.components.values():
                if not isinstance(module, torch.nn.Module):
                    continue
                for p in module.parameters():
                    p.data = p.data.clone()
                for b in module.buffers():
                    b.data = b.data.clone()
        pipe = pipe.to(self.settings.device)
        pipe.set_progress_bar_config(disable=True)
        pipe._seedlock_family = family
        self._pipes[model] = pipe
        return pipe

    @staticmethod
    def _load_single_file(model: str, family: str, dtype: Any) -> Any:
        import diffusers

        from seedlock.replay.configs import FAMILIES, config_folder

        pipeline_class = getattr(diffusers, FAMILIES[family].get("pipeline", "StableDiffusionPipeline"))
        extra = {} if "text_encoder_2" in FAMILIES[family] else {"safety_checker": None, "requires_safety_checker": False}
        return pipeline_class.from_single_file(
            model,
            config=str(config_folder(family)),
            local_files_only=True,
            torch_dtype=dtype,
            **extra,
        )

    def run(self, recipe: Recipe, *, trace: bool = False, on_step: Callable[[], None] | None = None) -> RunResult:
        """Run ``recipe``; ``trace`` stores stage hashes, ``on_step`` is called after each sampling step."""
        import torch

        from seedlock.diff.pixels import pixel_hash
        from seedlock.replay.determinism import deterministic_mode
        from seedlock.replay.environment import environment

        pipe = self.pipeline(recipe.model)
        family = pipe._seedlock_family
        flow = FLOW.get(family)
        width = recipe.width or NATIVE_SIZE[family]
        height = recipe.height or NATIVE_SIZE[family]
        # Flux packs 2x2 latent patches, so its pixels come in steps of 16
        step = 16 if family == "tiny-flux" else 8
        if width % step or height % step:
            raise ReplayRefused(f"size {width}x{height} is not a multiple of {step} ({family})")
        if family in REFINERS:
            raise ReplayRefused(
                f"{Path(recipe.model).name} is an SDXL refiner: it refines a base model's latents, so give it as the refiner"
            )
        if recipe.refiner is not None:
            _check_refiner(recipe, family)
        if flow is not None:
            _check_flow_recipe(recipe, family)
            if recipe.hires is not None:
                raise ReplayRefused(f"the hires fix runs on SD-1.x and SDXL models; {family} runs take none")
        base = _scheduler_base(family)
        if recipe.scheduler_config:
            scheduler = scheduler_from_config(recipe.scheduler_config)
            sched_cfg = effective_config(scheduler)
        elif flow is not None:
            scheduler, sched_cfg = flow_scheduler_for(recipe.sampler, recipe.schedule, flow["scheduler"])
        else:
            scheduler, sched_cfg = scheduler_for(recipe.sampler, recipe.schedule, base)
        s = self.settings
        started = time.perf_counter()
        names: list[str] = []
        try:
            for i, lora in enumerate(recipe.loras):
                name = f"l{i}_" + re.sub(r"\W", "_", lora.name)
                pipe.load_lora_weights(lora.path, adapter_name=name)
                names.append(name)
            if names:
                pipe.set_adapters(names, adapter_weights=[lo.weight for lo in recipe.loras])
            with deterministic_mode(s.deterministic, threads=s.threads, attention=s.attention) as settings:
                pipe.scheduler = scheduler
                seed = recipe.seed + recipe.batch_index
                channels = int(pipe.vae.config.latent_channels)
                if recipe.noise == "nv":
                    from seedlock.replay.nv_noise import NvGenerator

                    latents = torch.from_numpy(NvGenerator(seed).randn((channels, height // 8, width // 8)))[None]
                else:
                    latents = torch.randn(
                        (1, channels, height // 8, width // 8),
                        generator=torch.Generator("cpu").manual_seed(seed),
                        dtype=torch.float32,
                    )
                tr: dict[str, Any] = {"noise": _thash(latents), "latents": []}
                if family == "tiny-flux":
                    latents = pipe._pack_latents(latents, 1, channels, height // 8, width // 8)
                step_noise = torch.Generator("cpu").manual_seed(seed)

                def step_end(_pipe: Any, step: int, _t: Any, kw: dict[str, Any]) -> dict[str, Any]:
                    if trace:
                        if step == 0 and "prompt_embeds" in kw:
                            tr["prompt_embeds"] = _thash(kw["prompt_embeds"])
                        tr["latents"].append(_thash(kw["latents"]))
                    if on_step is not None:
                        on_step()
                    return {}

                args: dict[str, Any] = {}
                if family != "tiny-flux":
                    # Flux dev has no negative prompt or CLIP skip: its guidance is an embedding
                    args["negative_prompt"] = recipe.negative_prompt
                    args["clip_skip"] = (recipe.clip_skip - 1) if recipe.clip_skip and recipe.clip_skip > 1 else None
                out = pipe(
                    prompt=recipe.prompt,
                    num_inference_steps=recipe.steps,
                    guidance_scale=recipe.cfg_scale,
                    width=width,
                    height=height,
                    latents=latents.to(s.device, getattr(torch, s.dtype)),
                    generator=step_noise,
                    output_type="latent" if recipe.hires or recipe.refiner else "np",
                    callback_on_step_end=step_end if trace or on_step is not None else None,
                    callback_on_step_end_tensor_inputs=["latents", "prompt_embeds"] if trace else ["latents"],
                    **args,
                    **({"denoising_end": recipe.refiner.switch_at} if recipe.refiner else {}),
                )
                if recipe.refiner is not None:
                    out = self._refiner_pass(recipe, scheduler_from_config(sched_cfg), out.images, args,
                                             step_end if trace or on_step else None)  # fmt: skip
                hires = None
                if recipe.hires is not None:
                    hires = _HiresRun.resolve(recipe, width, height, base)
                    out = self._hires_pass(pipe, recipe, hires, out.images, args, step_end if trace or on_step else None)
        finally:
            if names:
                pipe.unload_lora_weights()
        image = np.asarray(out.images[0], dtype=np.float32)
        # diffusers' own quantiser (round, not truncate)
        pixels = (image * 255).round().clip(0, 255).astype(np.uint8)
        digest = pixel_hash(pixels)
        seconds = time.perf_counter() - started
        env = environment(s.device, s.dtype, settings)
        stages = None
        if trace:
            stages = Trace(
                prompt_embeds=tr.get("prompt_embeds"), noise=tr["noise"], latents=tuple(tr["latents"]), image=digest
            )
        record = _record(recipe, width, height, sched_cfg, env, digest, stages, hires)
        return RunResult(pixels, digest, record, seconds, stages)

    def _refiner_pass(self, recipe: Recipe, scheduler: Any, latents: Any, args: dict[str, Any],
                      step_end: Callable[..., Any] | None) -> Any:  # fmt: skip
        """The refiner takes the base's latents from ``switch_at`` of the schedule on (no fresh noise)."""
        assert recipe.refiner is not None
        refiner = self.pipeline(recipe.refiner.path)
        refiner.scheduler = scheduler
        return _second_pass(refiner, recipe, latents, recipe.steps, recipe.cfg_scale, step_end,
                            {**args, "denoising_start": recipe.refiner.switch_at})  # fmt: skip

    def _hires_pass(self, pipe: Any, recipe: Recipe, hires: _HiresRun, latents: Any, args: dict[str, Any],
                    step_end: Callable[..., Any] | None) -> Any:  # fmt: skip
        """Upscale the first pass and run it again as img2img at the hires size."""
        import diffusers

        from seedlock.replay.hires import upscale

        img2img_class = (
            diffusers.StableDiffusionXLImg2ImgPipeline
            if "text_encoder_2" in pipe.components
            else diffusers.StableDiffusionImg2ImgPipeline
        )
        img2img = img2img_class(**pipe.components)
        img2img.set_progress_bar_config(disable=True)
        img2img.scheduler = hires.scheduler
        start = upscale(pipe, latents, hires.upscaler, hires.width, hires.height)
        image = start.latents if start.latents is not None else start.image
        return _second_pass(img2img, recipe, image, hires.steps, hires.cfg_scale, step_end,
                            {**args, "strength": hires.denoise})  # fmt: skip


def _second_pass(pipe: Any, recipe: Recipe, image: Any, steps: int, cfg: float,
                 step_end: Callable[..., Any] | None, args: dict[str, Any]) -> Any:  # fmt: skip
    """An img2img pipeline over the first pass's result; its noise is a fresh CPU generator at the image's seed."""
    import torch

    return pipe(
        prompt=recipe.prompt,
        image=image,
        num_inference_steps=steps,
        guidance_scale=cfg,
        generator=torch.Generator("cpu").manual_seed(recipe.seed + recipe.batch_index),
        output_type="np",
        callback_on_step_end=step_end,
        callback_on_step_end_tensor_inputs=["latents"],
        **args,
    )


@dataclass(frozen=True)
class _HiresRun:
    """A recipe's hires pass with its size, steps and scheduler settled."""

    width: int
    height: int
    steps: int
    denoise: float
    cfg_scale: float
    upscaler: str
    sampler: str
    schedule: str | None
    scheduler: Any
    config: dict[str, Any]

    @classmethod
    def resolve(cls, recipe: Recipe, width: int, height: int, base: Mapping[str, Any] | None = None) -> _HiresRun:
        h = recipe.hires
        assert h is not None
        scale = h.scale or 2.0
        hw, hh = h.width or int(width * scale), h.height or int(height * scale)
        if hw % 8 or hh % 8:
            raise ReplayRefused(f"hires size {hw}x{hh} is not a multiple of 8")
        if not 0 < h.denoise <= 1:
            raise ReplayRefused(f"hires denoise {h.denoise} is not in (0, 1]")
        sampler = h.sampler or recipe.sampler
        schedule = h.schedule if h.sampler else recipe.schedule
        if h.scheduler_config:
            scheduler = scheduler_from_config(h.scheduler_config)
            config = effective_config(scheduler)
        else:
            scheduler, config = scheduler_for(sampler, schedule, base)
        return cls(hw, hh, h.steps or recipe.steps, h.denoise,
                   recipe.cfg_scale if h.cfg_scale is None else h.cfg_scale, h.upscaler, sampler, schedule,
                   scheduler, config)  # fmt: skip


def _scheduler_base(family: str) -> Mapping[str, Any] | None:
    from seedlock.replay.configs import FAMILIES

    spec = FAMILIES.get(family)
    return spec.get("scheduler") if spec else None


def _check_refiner(recipe: Recipe, family: str) -> None:
    """A refiner follows an SDXL base, alone (no hires fix after it), and must itself be a refiner."""
    assert recipe.refiner is not None
    if family not in ("tiny-sdxl", "sdxl"):
        raise ReplayRefused(f"a refiner follows an SDXL base model; {Path(recipe.model).name} is {family}")
    if recipe.hires is not None:
        raise ReplayRefused("a refiner and a hires fix in one run are not supported")
    refiner_family = family_of(recipe.refiner.path)
    if refiner_family not in REFINERS:
        raise ReplayRefused(f"{Path(recipe.refiner.path).name} is not an SDXL refiner ({refiner_family})")
    if (family == "tiny-sdxl") != (refiner_family == "tiny-sdxl-refiner"):
        raise ReplayRefused(f"{Path(recipe.refiner.path).name} ({refiner_family}) does not pair with {family}")
    if not 0 < recipe.refiner.switch_at < 1:
        raise ReplayRefused(f"refiner switch {recipe.refiner.switch_at} is not between 0 and 1")


def _check_flow_recipe(recipe: Recipe, family: str) -> None:
    """What the tiny SD3 / Flux runs cannot honour is refused, never silently dropped."""
    if recipe.loras:
        raise ReplayRefused(f"LoRAs are applied to SD-1.x and SDXL models; {family} runs take none")
    if family == "tiny-flux" and recipe.negative_prompt:
        raise ReplayRefused("Flux dev takes no negative prompt (its guidance is distilled into an embedding)")
    if family == "tiny-flux" and recipe.clip_skip and recipe.clip_skip > 1:
        raise ReplayRefused("Flux takes no CLIP skip (its CLIP encoder gives only the pooled vector)")


def _thash(t: Any) -> str:
    return hashlib.sha256(t.detach().float().cpu().contiguous().numpy().tobytes()).hexdigest()[:32]


def _record(
    recipe: Recipe,
    width: int,
    height: int,
    sched_cfg: Mapping[str, Any],
    env: Mapping[str, Any],
    digest: str,
    trace: Trace | None,
    hires: _HiresRun | None = None,
) -> GenerationRecord:
    block = RunBlock(
        scheduler=dict(sched_cfg),
        noise=NV_NOISE_RECIPE if recipe.noise == "nv" else NOISE_RECIPE,
        environment=dict(env),
        pixel_sha256=digest,
        approximate=tuple(recipe.approximate),
        trace=trace,
        hires_scheduler=hires.config if hires else None,
    )
    p = SamplingPass(
        seed=recipe.seed,
        steps=recipe.steps,
        cfg_scale=recipe.cfg_scale,
        sampler=recipe.sampler,
        scheduler=recipe.schedule,
        canonical_sampler=recipe.sampler,
        canonical_scheduler=recipe.schedule,
        width=width,
        height=height,
    )
    passes: tuple[SamplingPass, ...] = (p,)
    if hires is not None:
        passes += (
            SamplingPass(
                kind="hires",
                seed=recipe.seed,
                steps=hires.steps,
                cfg_scale=hires.cfg_scale,
                sampler=hires.sampler,
                scheduler=hires.schedule,
                canonical_sampler=hires.sampler,
                canonical_scheduler=hires.schedule,
                denoise=hires.denoise,
                width=hires.width,
                height=hires.height,
                upscaler=hires.upscaler,
            ),
        )
    return GenerationRecord.from_passes(
        passes,
        final_width=hires.width if hires else width,
        final_height=hires.height if hires else height,
        generator=Generator.SEEDLOCK,
        generator_name="seedlock",
        generator_version=__version__,
        prompt=recipe.prompt,
        negative_prompt=recipe.negative_prompt,
        seed_type="int",
        rng="NV" if recipe.noise == "nv" else "CPU",
        clip_skip=recipe.clip_skip,
        model=ModelRef(name=model_stem(recipe.model), hashes=dict(recipe.model_hashes)),
        adapters=_refiner_adapter(recipe) + tuple(
            Adapter(
                kind="lora",
                name=lo.name,
                hashes={k: v for k, v in lo.hashes.items() if k in ("sha256", "autov3") and v},
                # diffusers applies one weight to the UNet and the text encoder alike
                weight=lo.weight,
                weight_clip=lo.weight,
            )
            for lo in recipe.loras
        ),
        batch_size=recipe.batch_size,
        batch_index=recipe.batch_index,
        extra={"seedlock": block.to_dict()},
    )


def _refiner_adapter(recipe: Recipe) -> tuple[Adapter, ...]:
    r = recipe.refiner
    if r is None:
        return ()
    return (Adapter(kind="refiner", name=r.name, hashes=dict(r.hashes), params={"switch_at": r.switch_at}),)


# -- commands' building blocks -------------------------------------------------------------


def output_paths(out: str | os.PathLike[str]) -> dict[str, Path]:
    """The files :func:`save_outputs` writes for ``out``: image, record sidecar, prompt bytes.

    Raises:
        InvalidSpec: ``out`` does not end in ``.png`` (a lossy format would not keep the
            pixels whose hash the record states).
    """
    path = Path(out)
    if path.suffix.lower() != ".png":
        raise InvalidSpec(
            f"{path.name}: generated images are written as PNG, which keeps the exact pixels the record's "
            "hash names; give the output a .png name",
            value=str(out),
        )
    return {
        "image": path,
        "record": path.with_suffix(".json"),
        "prompt": path.with_suffix(".prompt.txt"),
        "negative": path.with_suffix(".negative.txt"),
    }


def save_outputs(result: RunResult, out: str | os.PathLike[str]) -> dict[str, str]:
    """The image with its record embedded, a JSON sidecar, and the prompts as exact bytes."""
    from PIL import Image

    from seedlock.files import atomic_write_bytes
    from seedlock.record import canonical_json
    from seedlock.writer import write

    paths = output_paths(out)
    path = paths["image"]
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.fromarray(result.pixels).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
    write(result.record, path)
    atomic_write_bytes(
        paths["record"], (canonical_json(result.record.to_dict(include_raw=False)) + "\n").encode("utf-8")
    )
    atomic_write_bytes(paths["prompt"], (result.record.prompt or "").encode("utf-8"))
    atomic_write_bytes(paths["negative"], (result.record.negative_prompt or "").encode("utf-8"))
    return {k: str(v) for k, v in paths.items()}
