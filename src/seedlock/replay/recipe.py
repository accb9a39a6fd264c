"""A record -> a recipe resolved to files on this machine, or a refusal with the reason.

The model and every LoRA are found by content (``seedlock model scan``'s index) or given
as files, and their bytes are checked against the record's hash claims before use; what
cannot be reproduced faithfully is either refused or listed in ``approximate``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from seedlock import claims
from seedlock.errors import InvalidSpec, ReplayRefused
from seedlock.pin.cache import HashCache
from seedlock.pin.index import Wanted, resolve_one
from seedlock.readers import load_record
from seedlock.readers.infotext import strip_extra_networks
from seedlock.record import Adapter, GenerationRecord, Generator
from seedlock.replay.schedulers import SAMPLERS, STOCHASTIC
from seedlock.samplers import canonical_pair

__all__ = [
    "LoraOverride",
    "LoraSpec",
    "Overrides",
    "Recipe",
    "apply_overrides",
    "parse_lora_spec",
    "recipe_for",
    "recipe_from_record",
]


@dataclass(frozen=True)
class LoraSpec:
    name: str
    path: str
    weight: float
    hashes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Hires:
    """A hires-fix second pass: upscale to ``width`` x ``height`` (or by ``scale``), then img2img."""

    width: int | None = None
    height: int | None = None
    scale: float | None = None
    steps: int | None = None
    denoise: float = 0.7
    #: in A1111's words (``Latent``, ``Latent (bicubic)``, ``Lanczos``)
    upscaler: str = "Latent"
    #: canonical sampler and schedule of the pass; None: the first pass's
    sampler: str | None = None
    schedule: str | None = None
    cfg_scale: float | None = None
    #: a stored effective scheduler config; wins over (sampler, schedule) when set
    scheduler_config: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Refiner:
    """An SDXL refiner taking over the base model's latents at ``switch_at`` of the schedule."""

    path: str
    name: str
    switch_at: float = 0.8
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
    hires: Hires | None = None
    refiner: Refiner | None = None
    #: the initial noise: ``cpu`` (torch's CPU generator) or ``nv`` (A1111's Philox emulation of CUDA's)
    noise: str = "cpu"

    def with_(self, **changes: Any) -> Recipe:
        return replace(self, **changes)

    def sampling_steps(self) -> int:
        """UNet steps of the whole run (an img2img pass runs ``int(steps * denoise)`` of its steps)."""
        if self.hires is None:
            return self.steps
        return self.steps + int((self.hires.steps or self.steps) * self.hires.denoise)


_EMPHASIS = re.compile(r"(?<!\\)[\(\[][^\)\]]*(?::\s*[\d.]+)?(?<!\\)[\)\]]")


def recipe_from_record(
    record: GenerationRecord,
    *,
    model: str | os.PathLike[str] | None = None,
    loras: Mapping[str, str | os.PathLike[str]] | None = None,
    allow_other_model: bool = False,
    cache: HashCache | None = None,
    refiner: str | os.PathLike[str] | None = None,
    samplers: Collection[str] = SAMPLERS.keys(),
    unmapped: str = "has no diffusers equivalent (unmapped)",
) -> Recipe:
    """Resolve a record to a runnable recipe, or refuse with the reason.

    The model is the given file, or the indexed file whose hash matches the record
    (``seedlock model scan``); either way its bytes are checked against the record's
    hash claims before use.
    """
    from seedlock.pin.hashing import hash_file

    notes: list[str] = []
    first = record.first_pass()
    if first.kind in ("img2img", "inpaint") or (first.denoise is not None and first.denoise < 1.0):
        # the source image (and mask) of an img2img run is not part of the record
        raise ReplayRefused(
            f"the record is an {first.kind} pass (denoise {first.denoise}); its input image is not recorded"
        )
    hires = _hires_of(record, notes)
    if record.seed is None:
        raise ReplayRefused("the record has no seed")
    sampler = record.canonical_sampler or "euler"
    run = record.run
    stored_scheduler = run.scheduler if run else None
    if not stored_scheduler and sampler not in samplers:
        raise ReplayRefused(f"sampler {record.sampler or sampler!r} {unmapped}")
    path = Path(model) if model is not None else _find_model(record, cache)
    if not path.is_file():
        raise ReplayRefused(f"model file {path} does not exist", needs="model")
    got = hash_file(path, "default", cache=cache).hashes
    model_claims = claims.checkable(dict(record.model.hashes) if record.model else {})
    if claims.match_any(model_claims, got) is False:
        msg = f"{path.name} is not the record's model (record: {_fmt(model_claims)}; file: autov2={got['autov2']})"
        if not allow_other_model:
            raise ReplayRefused(msg, needs="other-model")
        notes.append(msg)

    lora_specs: list[LoraSpec] = []
    given = {k: str(v) for k, v in (loras or {}).items()}
    refiner_spec = None
    for a in record.adapters:
        if a.kind == "refiner":
            refiner_spec = _refiner_of(record, a, refiner, allow_other_model, cache, notes)
            continue
        if a.kind != "lora":
            raise ReplayRefused(f"{a.kind} adapters are not replayed ({a.name})")
        lp = given.get(a.name) or _find_adapter(a, cache)
        if lp is None:
            raise ReplayRefused(f"LoRA {a.name!r} is not on disk", needs=f"lora:{a.name}")
        lora_hashes = hash_file(lp, "default", cache=cache).hashes
        lora_claims = claims.checkable(dict(a.hashes))
        if claims.match_any(lora_claims, lora_hashes) is False:
            msg = f"LoRA file {Path(lp).name} is not the record's {a.name!r} (record: {_fmt(lora_claims)})"
            if not allow_other_model:
                raise ReplayRefused(msg, needs="other-model")
            notes.append(msg)
        pinned = {"sha256": lora_hashes["sha256"], "autov3": lora_hashes["autov3"]}
        lora_specs.append(LoraSpec(a.name, lp, 1.0 if a.weight is None else a.weight, pinned))
        if a.weight_clip is not None and a.weight is not None and a.weight_clip != a.weight:
            notes.append(f"LoRA {a.name}: separate text-encoder weight {a.weight_clip} applied as {a.weight}")

    prompt = record.prompt or ""
    negative = record.negative_prompt or ""
    from_a1111 = record.generator not in (Generator.SEEDLOCK, Generator.NONE)
    if from_a1111:
        prompt = strip_extra_networks(prompt)
        negative = strip_extra_networks(negative)
        if _EMPHASIS.search(prompt) or _EMPHASIS.search(negative):
            notes.append("prompt uses (emphasis:1.2) syntax, which diffusers encodes literally")
        rng = (record.rng or ("GPU" if record.generator == Generator.A1111 else "CPU")).upper()
        if rng not in ("CPU", "NV"):
            notes.append(f"the source drew {rng} noise; seedlock draws portable CPU noise")
        elif rng == "NV" and sampler in STOCHASTIC:
            notes.append(f"the initial noise is A1111's NV noise; {sampler}'s per-step noise comes from the CPU generator")
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
        scheduler_config=stored_scheduler,
        approximate=tuple(notes),
        model_hashes={"sha256": got["sha256"], "autov2": got["autov2"], "autov3": got["autov3"]},
        hires=hires,
        refiner=refiner_spec,
        noise="nv" if (record.rng or "").upper() == "NV" else "cpu",
    )


def _refiner_of(record: GenerationRecord, a: Adapter, given: str | os.PathLike[str] | None, allow_other_model: bool,
                cache: HashCache | None, notes: list[str]) -> Refiner:  # fmt: skip
    """The record's refiner resolved to a file whose bytes match its hash claims."""
    from seedlock.pin.hashing import hash_file

    path = str(given) if given is not None else _find_adapter(replace(a, kind="checkpoint"), cache)
    if path is None or not Path(path).is_file():
        raise ReplayRefused(f"refiner {a.name!r} is not on disk", needs="refiner")
    got = hash_file(path, "default", cache=cache).hashes
    wanted = claims.checkable(dict(a.hashes))
    if claims.match_any(wanted, got) is False:
        msg = f"{Path(path).name} is not the record's refiner {a.name!r} (record: {_fmt(wanted)})"
        if not allow_other_model:
            raise ReplayRefused(msg, needs="other-model")
        notes.append(msg)
    switch = a.params.get("switch_at")
    if record.generator not in (Generator.SEEDLOCK, Generator.NONE):
        notes.append("the refiner takes over as diffusers' base + refiner split does, not inside one sampler run")
    return Refiner(
        path=path,
        name=a.name,
        switch_at=0.8 if switch is None else float(switch),
        hashes={"sha256": got["sha256"], "autov2": got["autov2"]},
    )


def _hires_of(record: GenerationRecord, notes: list[str]) -> Hires | None:
    """The record's hires pass as a recipe part; any other second pass is refused by kind."""
    from seedlock.replay.hires import canonical_upscaler

    passes = record.passes
    if len(passes) <= 1:
        return None
    second = passes[1]
    if len(passes) > 2 or second.kind != "hires":
        kinds = ", ".join(p.kind for p in passes)
        raise ReplayRefused(
            f"the record has {len(passes)} sampling passes ({kinds}); seedlock replays one pass, or one and a hires fix"
        )
    if second.model:
        raise ReplayRefused(f"the hires pass uses another checkpoint ({second.model}), which is not replayed")
    if (second.prompt and second.prompt != record.prompt) or (
        second.negative_prompt and second.negative_prompt != record.negative_prompt
    ):
        raise ReplayRefused("the hires pass has a prompt of its own, which is not replayed")
    if not second.width or not second.height:
        raise ReplayRefused("the hires pass states no size")
    if second.canonical_sampler and second.canonical_sampler not in SAMPLERS:
        raise ReplayRefused(f"hires sampler {second.sampler!r} has no diffusers equivalent (unmapped)")
    label = second.upscaler or "Latent"
    try:
        upscaler = canonical_upscaler(label)
    except InvalidSpec:
        notes.append(f"hires upscaler {label!r} is not shipped with seedlock; Lanczos was used")
        upscaler = "Lanczos"
    run = record.run
    if record.generator not in (Generator.SEEDLOCK, Generator.NONE):
        notes.append("the hires pass's noise follows seedlock's rule (a fresh generator at the seed), not the source's")
    return Hires(
        width=second.width,
        height=second.height,
        steps=second.steps or record.steps,
        denoise=0.7 if second.denoise is None else second.denoise,
        upscaler=upscaler,
        sampler=second.canonical_sampler,
        schedule=second.canonical_scheduler,
        cfg_scale=second.cfg_scale,
        scheduler_config=run.hires_scheduler if run else None,
    )


def _fmt(hashes: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(hashes.items()))


def _find_model(record: GenerationRecord, cache: HashCache | None) -> Path:
    if record.model is None or cache is None:
        raise ReplayRefused("no model file given or indexed", needs="model")
    r = resolve_one(Wanted("checkpoint", record.model.name or "", dict(record.model.hashes)), cache)
    if r.status != "found" or r.path is None:
        raise ReplayRefused(
            f"model {record.model.name!r} ({_fmt(record.model.hashes) or 'no hash'}) is not on disk: {r.status}"
            + (f", {r.note}" if r.note else ""),
            needs="model",
        )
    return Path(r.path)


def _find_adapter(a: Adapter, cache: HashCache | None) -> str | None:
    if cache is None or not a.hashes:
        return None
    r = resolve_one(Wanted(a.kind, a.name, dict(a.hashes)), cache)
    # a same-named file with other bytes is returned too: the caller's hash check then
    # says "not the record's LoRA" instead of "not on disk"
    return r.path if r.status in ("found", "hash-mismatch") else None


# -- a record changed by the user's overrides ------------------------------------------------


@dataclass(frozen=True)
class LoraOverride:
    """A LoRA file for the recipe's adapter ``name`` (or a new adapter), with an optional weight."""

    name: str
    path: str
    weight: float | None = None


def parse_lora_spec(spec: str) -> LoraOverride:
    """``NAME=PATH[:WEIGHT]`` -> a LoraOverride; a path may itself hold colons.

    Raises:
        InvalidSpec: no ``=``, an empty name or an empty path.
    """
    name, sep, rest = spec.partition("=")
    if not sep or not name.strip() or not rest:
        raise InvalidSpec(f"LoRA spec {spec!r} is not NAME=PATH[:WEIGHT]", value=spec)
    path, weight = rest, None
    head, colon, tail = rest.rpartition(":")
    if colon and head:
        try:
            weight = float(tail)
            path = head
        except ValueError:
            pass
    return LoraOverride(name.strip(), path, weight)


@dataclass(frozen=True)
class Overrides:
    """Fields the user sets on top of a recipe (None: keep the recipe's value)."""

    prompt: str | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    steps: int | None = None
    cfg_scale: float | None = None
    width: int | None = None
    height: int | None = None
    clip_skip: int | None = None
    batch_index: int | None = None
    #: a sampler in any tool's words ("Euler a", "DPM++ 2M Karras", dpmpp_2m)
    sampler: str | None = None
    #: the noise source in A1111's words: CPU or NV
    rng: str | None = None
    loras: tuple[LoraOverride, ...] = ()
    #: a hires fix added to the recipe, or its settings changed
    hires_scale: float | None = None
    hires_steps: int | None = None
    hires_denoise: float | None = None
    hires_upscaler: str | None = None
    #: an SDXL refiner file (added to the recipe, or the file for the record's refiner) and its switch
    refiner: str | None = None
    refiner_switch: float | None = None


_SIMPLE_OVERRIDES = (
    "prompt",
    "negative_prompt",
    "seed",
    "steps",
    "cfg_scale",
    "width",
    "height",
    "clip_skip",
    "batch_index",
    "rng",
)


def apply_overrides(record: GenerationRecord, ov: Overrides) -> tuple[GenerationRecord, dict[str, str]]:
    """The record with the overrides applied, and the LoRA files given by name."""
    changes: dict[str, Any] = {k: getattr(ov, k) for k in _SIMPLE_OVERRIDES if getattr(ov, k) is not None}
    if ov.sampler:
        cs, csch = canonical_pair(ov.sampler, None)
        changes.update(sampler=ov.sampler, canonical_sampler=cs, canonical_scheduler=csch)
        # a changed sampler must not inherit the stored scheduler config
        run = record.run
        if run is not None and run.scheduler is not None:
            extra = dict(record.extra)
            extra["seedlock"] = replace(run, scheduler=None, hires_scheduler=None).to_dict()
            changes["extra"] = extra
    if changes:
        # the changed record is the new recipe: its passes follow the top-level fields, and a
        # hires pass is kept (with the new seed)
        hires = [p for p in record.passes[1:2] if p.kind == "hires"]
        base = record.replace(**changes, passes=()).first_pass()
        follow = {k: changes[k] for k in ("seed", "cfg_scale", "sampler", "canonical_sampler", "canonical_scheduler")
                  if k in changes}  # fmt: skip
        if hires and follow:
            hires = [replace(hires[0], **follow)]
        changes["passes"] = (base, *hires) if hires else ()
    paths: dict[str, str] = {}
    adapters = list(record.adapters)
    for lo in ov.loras:
        paths[lo.name] = lo.path
        if any(a.name == lo.name for a in adapters):
            if lo.weight is not None:
                adapters = [
                    a if a.name != lo.name else Adapter(kind="lora", name=lo.name, hashes=a.hashes, weight=lo.weight)
                    for a in adapters
                ]
        else:
            adapters.append(Adapter(kind="lora", name=lo.name, weight=1.0 if lo.weight is None else lo.weight))
    changes["adapters"] = tuple(adapters)
    return record.replace(**changes), paths


def recipe_for(
    source: str | os.PathLike[str] | None,
    overrides: Overrides = Overrides(),
    *,
    model: str | os.PathLike[str] | None = None,
    allow_other_model: bool = False,
) -> Recipe:
    """A runnable recipe from an image or record JSON (or nothing: a default record) and overrides."""
    record = load_record(source)[0] if source else GenerationRecord(seed=0)
    record, lora_paths = apply_overrides(record, overrides)
    if overrides.refiner is not None and not any(a.kind == "refiner" for a in record.adapters):
        refiner = Adapter(kind="refiner", name=Path(overrides.refiner).stem)
        record = record.replace(adapters=(*record.adapters, refiner))
    if overrides.refiner_switch is not None:
        if not any(a.kind == "refiner" for a in record.adapters):
            raise InvalidSpec("a refiner switch was given, but the recipe has no refiner", value=str(overrides.refiner_switch))
        record = record.replace(adapters=tuple(
            replace(a, params={**a.params, "switch_at": overrides.refiner_switch}) if a.kind == "refiner" else a
            for a in record.adapters
        ))  # fmt: skip
    with HashCache() as cache:
        recipe = recipe_from_record(
            record,
            model=model,
            loras=lora_paths,
            allow_other_model=allow_other_model,
            cache=cache,
            refiner=overrides.refiner,
        )
    return _with_hires_overrides(recipe, overrides)


def _with_hires_overrides(recipe: Recipe, ov: Overrides) -> Recipe:
    from seedlock.replay.hires import canonical_upscaler

    given: dict[str, Any] = {}
    if ov.hires_scale is not None:
        given.update(scale=ov.hires_scale, width=None, height=None)
    if ov.hires_steps is not None:
        given["steps"] = ov.hires_steps
    if ov.hires_denoise is not None:
        given["denoise"] = ov.hires_denoise
    if ov.hires_upscaler is not None:
        given["upscaler"] = canonical_upscaler(ov.hires_upscaler)
    if not given:
        return recipe
    base = recipe.hires or Hires(scale=2.0)
    return recipe.with_(hires=replace(base, **given))
