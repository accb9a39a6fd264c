"""Recipe -> diffusers run -> image with its full record; replay and verify on top.

The noise recipe (``seedlock-cpu-1``) makes runs portable: the initial latent of image
*k* is ``torch.randn((1, 4, H/8, W/8))`` in float32 from a CPU generator seeded with
``seed + k`` (A1111's batch rule, and the same numbers as A1111 with ``RNG: CPU``), and
the per-step noise of ancestral/SDE samplers comes from a second CPU generator with
the same seed. One generator per image, so image *k* of a batch can be made alone.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a run must never touch the network
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from seedlock import __version__
from seedlock.errors import SeedlockError
from seedlock.record import Adapter, GenerationRecord, Generator, ModelRef, SamplingPass, model_stem
from seedlock.replay.schedulers import (
    SAMPLERS,
    UnmappedScheduler,
    effective_config,
    scheduler_for,
    scheduler_from_config,
)

NOISE_RECIPE = "seedlock-cpu-1"
NATIVE_SIZE = {"tiny-sd1": 64, "sd1": 512}


class ReplayRefused(SeedlockError, ValueError):
    """The recipe cannot be run faithfully; the message says why."""


@dataclass(frozen=True)
class LoraSpec:
    name: str
    path: str
    weight: float
    hashes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipe:
    """Everything a run needs, resolved to files on this machine."""

    model: str
    prompt: str = ""
    negative_prompt: str = ""
    seed: int = 0
    steps: int = 20
    cfg_scale: float = 7.0
    sampler: str = "euler"
    schedule: str | None = None
    width: int | None = None
    height: int | None = None
    #: A1111 convention: 1 = last layer, 2 = penultimate (diffusers clip_skip = N - 1)
    clip_skip: int | None = None
    loras: tuple[LoraSpec, ...] = ()
    batch_size: int = 1
    batch_index: int = 0
    #: a stored effective scheduler config; wins over (sampler, schedule) when set
    scheduler_config: Mapping[str, Any] | None = None
    #: why the result may differ from the source image, when it is not faithful
    approximate: tuple[str, ...] = ()
    model_hashes: Mapping[str, str] = field(default_factory=dict)

    def with_(self, **changes: Any) -> Recipe:
        return replace(self, **changes)


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
    trace: dict[str, Any] | None = None


# -- turning a record into a recipe ------------------------------------------------------

_LORA_TAG = re.compile(r"<(?:lora|lyco):([^:>]+)(?::([^:>]*))?(?::[^>]*)?>", re.IGNORECASE)
_EMPHASIS = re.compile(r"(?<!\\)[\(\[][^\)\]]*(?::\s*[\d.]+)?(?<!\\)[\)\]]")


def recipe_from_record(
    record: GenerationRecord,
    *,
    model: str | os.PathLike[str] | None = None,
    loras: Mapping[str, str | os.PathLike[str]] | None = None,
    allow_other_model: bool = False,
    cache: Any = None,
) -> Recipe:
    """Resolve a record to a runnable recipe, or refuse with the reason.

    The model is the given file, or the indexed file whose hash matches the record
    (``seedlock model scan``); either way its bytes are checked against the record's
    hash claims before use.
    """
    from seedlock.hashing import hash_file

    notes: list[str] = []
    if len(record.passes) > 1:
        raise ReplayRefused(
            f"the record has {len(record.passes)} sampling passes (hires fix, refiner, multi-sampler graph); only single-pass recipes are replayed"
        )
    if record.seed is None:
        raise ReplayRefused("the record has no seed")
    sampler = record.canonical_sampler or "euler"
    stored = _stored(record)
    if not stored.get("scheduler") and sampler not in SAMPLERS:
        raise ReplayRefused(f"sampler {record.sampler or sampler!r} has no diffusers equivalent (unmapped)")
    claims = dict(record.model.hashes) if record.model else {}
    path = Path(model) if model is not None else _find_model(record, cache)
    if not path.is_file():
        raise ReplayRefused(f"model file {path} does not exist")
    got = hash_file(path, "default", cache=cache).hashes
    checkable = {k: v for k, v in claims.items() if k in ("sha256", "autov2", "autov3", "autov1")}
    if checkable and not any(_claim_matches(k, v, got) for k, v in checkable.items()):
        msg = f"{path.name} is not the record's model (record: {_fmt(checkable)}; file: autov2={got['autov2']})"
        if not allow_other_model:
            raise ReplayRefused(msg)
        notes.append(msg)

    lora_specs: list[LoraSpec] = []
    given = {k: str(v) for k, v in (loras or {}).items()}
    for a in record.adapters:
        if a.kind != "lora":
            raise ReplayRefused(f"{a.kind} adapters are not replayed ({a.name})")
        lp = given.get(a.name) or _find_adapter(a, cache)
        if lp is None:
            raise ReplayRefused(
                f"LoRA {a.name!r} is not on disk (pass --lora {a.name}=PATH or seedlock model scan its folder)"
            )
        lora_specs.append(LoraSpec(a.name, lp, 1.0 if a.weight is None else a.weight, dict(a.hashes)))
        if a.weight_clip is not None and a.weight is not None and a.weight_clip != a.weight:
            notes.append(f"LoRA {a.name}: separate text-encoder weight {a.weight_clip} applied as {a.weight}")

    prompt = record.prompt or ""
    negative = record.negative_prompt or ""
    from_a1111 = record.generator not in (Generator.SEEDLOCK, Generator.NONE)
    if from_a1111:
        prompt = _LORA_TAG.sub("", prompt)
        negative = _LORA_TAG.sub("", negative)
        if _EMPHASIS.search(prompt) or _EMPHASIS.search(negative):
            notes.append("prompt uses (emphasis:1.2) syntax, which diffusers encodes literally")
        rng = (record.rng or ("GPU" if record.generator == Generator.A1111 else "CPU")).upper()
        if rng != "CPU":
            notes.append(f"the source drew {rng} noise; seedlock draws portable CPU noise")
        if record.postprocessing:
            notes.append("post-processing (" + ", ".join(p.kind for p in record.postprocessing) + ") is not replayed")
        if record.variation_strength:
            notes.append("variation seed is not replayed")
    if record.encoded_prompt is not None and record.encoded_prompt != record.prompt:
        prompt = record.encoded_prompt
    return Recipe(
        model=str(path),
        prompt=prompt,
        negative_prompt=negative,
        seed=record.seed,
        steps=record.steps or 20,
        cfg_scale=7.0 if record.cfg_scale is None else record.cfg_scale,
        sampler=sampler,
        schedule=record.canonical_scheduler,
        width=record.width,
        height=record.height,
        clip_skip=record.clip_skip,
        loras=tuple(lora_specs),
        batch_size=record.batch_size or 1,
        batch_index=record.batch_index or 0,
        scheduler_config=stored.get("scheduler"),
        approximate=tuple(notes),
        model_hashes={"sha256": got["sha256"], "autov2": got["autov2"], "autov3": got["autov3"]},
    )


def _stored(record: GenerationRecord) -> dict[str, Any]:
    block = record.extra.get("seedlock") if isinstance(record.extra, Mapping) else None
    return dict(block) if isinstance(block, Mapping) else {}


def _claim_matches(form: str, value: str, got: Mapping[str, str]) -> bool:
    column = {"autov2": "sha256", "sha256": "sha256", "autov3": "autov3", "autov1": "autov1"}[form]
    return bool(got.get(column, "").startswith(value.lower().removeprefix("0x")))


def _fmt(claims: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(claims.items()))


def _find_model(record: GenerationRecord, cache: Any) -> Path:
    from seedlock.models import Wanted, resolve_one

    if record.model is None or cache is None:
        raise ReplayRefused("no model file: pass --model PATH (or seedlock model scan your model folder)")
    r = resolve_one(Wanted("checkpoint", record.model.name or "", dict(record.model.hashes)), cache)
    if r.status != "found" or r.path is None:
        raise ReplayRefused(
            f"model {record.model.name!r} ({_fmt(record.model.hashes) or 'no hash'}) is not on disk: {r.status}"
            + (f", {r.note}" if r.note else "")
            + "; pass --model PATH or seedlock model scan its folder"
        )
    return Path(r.path)


def _find_adapter(a: Adapter, cache: Any) -> str | None:
    from seedlock.models import Wanted, resolve_one

    if cache is None or not a.hashes:
        return None
    r = resolve_one(Wanted(a.kind, a.name, dict(a.hashes)), cache)
    return r.path if r.status == "found" else None


# -- the engine --------------------------------------------------------------------------


def family_of(path: str) -> str:
    """``tiny-sd1`` or ``sd1`` from the checkpoint's own keys; refuse anything else."""
    import json
    import struct

    with open(path, "rb") as f:
        head = f.read(9)
        if not head[8:9] == b"{":
            raise ReplayRefused(f"{Path(path).name} is not a safetensors file; pickle checkpoints are never loaded")
        (n,) = struct.unpack("<Q", head[:8])
        f.seek(8)
        header = json.loads(f.read(min(n, 100_000_000)))
    meta = header.get("__metadata__") or {}
    if meta.get("seedlock.family") in NATIVE_SIZE:
        return str(meta["seedlock.family"])
    key = header.get("model.diffusion_model.input_blocks.0.0.weight")
    if any(k.startswith("conditioner.embedders") for k in header):
        raise ReplayRefused("SDXL single-file checkpoints are not replayed yet (SD-1.x only)")
    if (
        key
        and key.get("shape", [0])[0] == 320
        and "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight" in header
    ):
        return "sd1"
    raise ReplayRefused(f"{Path(path).name} is not an SD-1.x checkpoint seedlock knows how to load")


class Engine:
    """Loads a checkpoint once, runs recipes against it."""

    def __init__(self, settings: RunSettings | None = None) -> None:
        self.settings = settings or RunSettings()
        self._pipes: dict[str, Any] = {}

    def pipeline(self, model: str) -> Any:
        if model in self._pipes:
            return self._pipes[model]
        import torch
        from diffusers import StableDiffusionPipeline

        from seedlock.replay.configs import config_folder

        family = family_of(model)
        dtype = getattr(torch, self.settings.dtype)
        pipe = StableDiffusionPipeline.from_single_file(
            model,
            config=str(config_folder(family)),
            local_files_only=True,
            safety_checker=None,
            requires_safety_checker=False,
            torch_dtype=dtype,
        )
        # memory-mapped weights sit at header-dependent offsets, and with one thread the
        # kernels' results depend on alignment: give every tensor a fresh allocation
        with torch.no_grad():
            for module in (pipe.unet, pipe.vae, pipe.text_encoder):
                for p in module.parameters():
                    p.data = p.data.clone()
                for b in module.buffers():
                    b.data = b.data.clone()
        pipe = pipe.to(self.settings.device)
        pipe.set_progress_bar_config(disable=True)
        pipe._seedlock_family = family
        self._pipes[model] = pipe
        return pipe

    def run(self, recipe: Recipe, *, trace: bool = False) -> RunResult:
        import torch

        from seedlock.pixels import pixel_hash
        from seedlock.replay.determinism import deterministic_mode
        from seedlock.replay.environment import environment

        pipe = self.pipeline(recipe.model)
        family = pipe._seedlock_family
        width = recipe.width or NATIVE_SIZE[family]
        height = recipe.height or NATIVE_SIZE[family]
        if width % 8 or height % 8:
            raise ReplayRefused(f"size {width}x{height} is not a multiple of 8")
        try:
            if recipe.scheduler_config:
                scheduler = scheduler_from_config(recipe.scheduler_config)
                sched_cfg = effective_config(scheduler)
            else:
                scheduler, sched_cfg = scheduler_for(recipe.sampler, recipe.schedule)
        except UnmappedScheduler as exc:
            raise ReplayRefused(str(exc)) from None
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
                latents = torch.randn(
                    (1, 4, height // 8, width // 8),
                    generator=torch.Generator("cpu").manual_seed(seed),
                    dtype=torch.float32,
                )
                tr: dict[str, Any] = {"noise": _thash(latents), "latents": []}
                step_noise = torch.Generator("cpu").manual_seed(seed)

                def on_step(_pipe: Any, step: int, _t: Any, kw: dict[str, Any]) -> dict[str, Any]:
                    if step == 0 and "prompt_embeds" in kw:
                        tr["prompt_embeds"] = _thash(kw["prompt_embeds"])
                    tr["latents"].append(_thash(kw["latents"]))
                    return {}

                out = pipe(
                    prompt=recipe.prompt,
                    negative_prompt=recipe.negative_prompt,
                    num_inference_steps=recipe.steps,
                    guidance_scale=recipe.cfg_scale,
                    width=width,
                    height=height,
                    latents=latents.to(s.device, getattr(torch, s.dtype)),
                    generator=step_noise,
                    clip_skip=(recipe.clip_skip - 1) if recipe.clip_skip and recipe.clip_skip > 1 else None,
                    output_type="np",
                    callback_on_step_end=on_step if trace else None,
                    callback_on_step_end_tensor_inputs=["latents", "prompt_embeds"] if trace else ["latents"],
                )
        finally:
            if names:
                pipe.unload_lora_weights()
        image = np.asarray(out.images[0], dtype=np.float32)
        # diffusers' own quantiser (round, not truncate)
        pixels = (image * 255).round().clip(0, 255).astype(np.uint8)
        digest = pixel_hash(pixels)
        seconds = time.perf_counter() - started
        env = environment(s.device, s.dtype, settings)
        if trace:
            tr["image"] = digest
        record = _record(recipe, width, height, sched_cfg, env, digest, tr if trace else None)
        return RunResult(pixels, digest, record, seconds, tr if trace else None)


def _thash(t: Any) -> str:
    return hashlib.sha256(t.detach().float().cpu().contiguous().numpy().tobytes()).hexdigest()[:32]


def _record(
    recipe: Recipe,
    width: int,
    height: int,
    sched_cfg: Mapping[str, Any],
    env: Mapping[str, Any],
    digest: str,
    trace: Mapping[str, Any] | None,
) -> GenerationRecord:
    block: dict[str, Any] = {
        "scheduler": dict(sched_cfg),
        "noise": NOISE_RECIPE,
        "environment": dict(env),
        "pixel_sha256": digest,
        "approximate": list(recipe.approximate),
    }
    if trace is not None:
        block["trace"] = dict(trace)
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
    return GenerationRecord(
        generator=Generator.SEEDLOCK,
        generator_name="seedlock",
        generator_version=__version__,
        prompt=recipe.prompt,
        negative_prompt=recipe.negative_prompt,
        seed=recipe.seed,
        seed_type="int",
        rng="CPU",
        sampler=recipe.sampler,
        scheduler=recipe.schedule,
        canonical_sampler=recipe.sampler,
        canonical_scheduler=recipe.schedule,
        steps=recipe.steps,
        cfg_scale=recipe.cfg_scale,
        width=width,
        height=height,
        final_width=width,
        final_height=height,
        clip_skip=recipe.clip_skip,
        model=ModelRef(name=model_stem(recipe.model), hashes=dict(recipe.model_hashes)),
        adapters=tuple(
            Adapter(
                kind="lora",
                name=lo.name,
                hashes={"autov3": lo.hashes.get("autov3", "")[:12]} if lo.hashes.get("autov3") else {},
                weight=lo.weight,
            )
            for lo in recipe.loras
        ),
        passes=(p,),
        batch_size=recipe.batch_size,
        batch_index=recipe.batch_index,
        extra={"seedlock": block},
    )


# -- commands' building blocks -------------------------------------------------------------


def save_outputs(result: RunResult, out: str | os.PathLike[str]) -> dict[str, str]:
    """The image with its record embedded, a JSON sidecar, and the prompts as exact bytes."""
    from PIL import Image

    from seedlock.record import canonical_json
    from seedlock.writer import atomic_write_bytes, write

    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.fromarray(result.pixels).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
    write(result.record, path)
    sidecar = path.with_suffix(".json")
    atomic_write_bytes(sidecar, (canonical_json(result.record.to_dict(include_raw=False)) + "\n").encode("utf-8"))
    prompt = path.with_suffix(".prompt.txt")
    negative = path.with_suffix(".negative.txt")
    atomic_write_bytes(prompt, (result.record.prompt or "").encode("utf-8"))
    atomic_write_bytes(negative, (result.record.negative_prompt or "").encode("utf-8"))
    return {"image": str(path), "record": str(sidecar), "prompt": str(prompt), "negative": str(negative)}


def curl_quotes(text: str) -> str:
    """The invisible edit users make by pasting through a word processor."""
    if '"' in text:
        return text.replace('"', "\u201c", 1)
    if "'" in text:
        return text.replace("'", "\u2019", 1)
    return "\u201c" + text + "\u201d"


@dataclass(frozen=True)
class Check:
    name: str
    changed: str
    pixel_sha256: str
    passed: bool


def verify(engine: Engine, recipe: Recipe, progress: Callable[[str], None] | None = None) -> list[Check]:
    """Repeat must match; each single-knob change must move the hash."""
    base = engine.run(recipe)
    again = engine.run(recipe)
    checks = [
        Check("repeat", "nothing (fresh generators)", again.pixel_sha256, again.pixel_sha256 == base.pixel_sha256)
    ]
    other = "dpmpp_2m" if recipe.sampler != "dpmpp_2m" else "euler"
    perturbations = [
        (
            "cfg +0.5",
            f"cfg {recipe.cfg_scale} -> {recipe.cfg_scale + 0.5}",
            recipe.with_(cfg_scale=recipe.cfg_scale + 0.5),
        ),
        ("steps +1", f"steps {recipe.steps} -> {recipe.steps + 1}", recipe.with_(steps=recipe.steps + 1)),
        ("sampler", f"sampler {recipe.sampler} -> {other}", recipe.with_(sampler=other, scheduler_config=None)),
        ("seed +1", f"seed {recipe.seed} -> {recipe.seed + 1}", recipe.with_(seed=recipe.seed + 1)),
        ("curly quote", "one straight quote curled in the prompt", recipe.with_(prompt=curl_quotes(recipe.prompt))),
    ]
    for name, what, changed in perturbations:
        if progress:
            progress(name)
        r = engine.run(changed)
        checks.append(Check(name, what, r.pixel_sha256, r.pixel_sha256 != base.pixel_sha256))
    return [Check("base", "the recipe as given", base.pixel_sha256, True), *checks]
