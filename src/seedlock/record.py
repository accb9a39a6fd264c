"""The canonical generation record: one typed answer to "what exactly made this image?".

Every reader, whatever tool wrote the file, produces a :class:`GenerationRecord`.
Records are frozen so they can be hashed, diffed and cached without defensive copies.
``to_dict`` gives the stable JSON shape documented in docs/record.md; ``fingerprint``
hashes only the fields that change pixels, so two tools that wrote the same recipe
give the same fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from functools import cached_property, lru_cache
from typing import Any

from seedlock._fast_init import dict_init
from seedlock.errors import RecordFormatError

__all__ = [
    "Adapter",
    "GenerationRecord",
    "Generator",
    "ModelRef",
    "PostProcess",
    "RunBlock",
    "SamplingPass",
    "Trace",
    "canonical_json",
    "model_stem",
    "record_from_dict",
]

SCHEMA_VERSION = 1


class Generator(str, Enum):
    """Lower-case generator family; forks share their parent's family (Forge is ``a1111``)."""

    A1111 = "a1111"
    COMFYUI = "comfyui"
    INVOKEAI = "invokeai"
    NOVELAI = "novelai"
    FOOOCUS = "fooocus"
    RUINEDFOOOCUS = "ruinedfooocus"
    SWARMUI = "swarmui"
    EASYDIFFUSION = "easydiffusion"
    DRAWTHINGS = "drawthings"
    STABILITY_MATRIX = "stability-matrix"
    TENSORART = "tensorart"
    HF_SPACE = "hf-space"
    CIVITAI = "civitai"
    MIDJOURNEY = "midjourney"
    IDEOGRAM = "ideogram"
    #: a hosted API call made by ``seedlock api run`` (the provider is ``generator_name``)
    HOSTED = "hosted"
    SEEDLOCK = "seedlock"
    C2PA = "c2pa"
    UNKNOWN = "unknown"
    NONE = "none"

    def __str__(self) -> str:
        return self.value


@dict_init
@dataclass(frozen=True)
class ModelRef:
    """A model file as the source named it.

    ``hashes`` maps a hash form to its hex value, lower-case, possibly a prefix:
    ``sha256`` (whole file), ``autov1`` (legacy 8-hex window hash), ``autov2`` (first
    10 hex of sha256), ``autov3`` (sha256 of the safetensors tensor data; A1111 LoRA
    hashes are its 12-hex prefix), ``blake3``, ``crc32``, ``name`` (Forge's hash of the
    file *name*, which identifies nothing). Values are claims copied from metadata.
    """

    name: str | None = None
    hashes: Mapping[str, str] = field(default_factory=dict)
    #: hosted version identity: a Civitai modelVersionId, an AIR URN, a hub revision
    version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "hashes": dict(sorted(self.hashes.items())), "version": self.version}


@dict_init
@dataclass(frozen=True)
class Adapter:
    """Anything applied on top of the checkpoint: LoRA/LyCORIS, embedding, hypernetwork,
    ControlNet, IP-Adapter, T2I-Adapter, refiner model."""

    kind: str
    name: str
    hashes: Mapping[str, str] = field(default_factory=dict)
    #: model (UNet) weight, or the single weight where the tool has one
    weight: float | None = None
    #: text-encoder weight where it differs from the model weight (LoRA ``strength_clip``)
    weight_clip: float | None = None
    #: start/end fractions, preprocessor, per-block weights and other settings
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "hashes": dict(sorted(self.hashes.items())),
            "weight": self.weight,
            "weight_clip": self.weight_clip,
            "params": _plain(self.params),
        }


@dict_init
@dataclass(frozen=True)
class SamplingPass:
    """One run of a sampler: the base pass, a hires-fix pass, a refiner pass, or one
    sampler node of a ComfyUI graph."""

    #: ``txt2img``, ``img2img``, ``hires``, ``refiner``, ``inpaint`` or ``pass``
    kind: str = "txt2img"
    seed: int | None = None
    steps: int | None = None
    cfg_scale: float | None = None
    #: sampler and scheduler in the source's own words
    sampler: str | None = None
    scheduler: str | None = None
    #: the same as a canonical (ComfyUI-vocabulary) pair, see seedlock.samplers
    canonical_sampler: str | None = None
    canonical_scheduler: str | None = None
    denoise: float | None = None
    width: int | None = None
    height: int | None = None
    #: first and last step of a partial pass (KSamplerAdvanced, refiner switch)
    start_step: int | None = None
    end_step: int | None = None
    #: False when the pass adds no fresh noise (refiner continuation); its seed is then irrelevant
    add_noise: bool | None = None
    #: model used by this pass when it differs from the record's model
    model: str | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    #: graph node id (ComfyUI) or other locator in the source
    node: str | None = None
    #: a hires pass's upscaler in the source's words (A1111 ``Latent``, ``Lanczos``, ``R-ESRGAN 4x+``)
    upscaler: str | None = None

    def to_dict(self) -> dict[str, Any]:
        # dict_init fills __dict__ with exactly the fields, in declaration order
        return dict(self.__dict__)


@dict_init
@dataclass(frozen=True)
class PostProcess:
    """A step after sampling that changes pixels: face restore, upscale, ADetailer."""

    kind: str
    name: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "params": _plain(self.params)}


@dict_init
@dataclass(frozen=True)
class GenerationRecord:
    """Everything the metadata says about how an image was made.

    Top-level sampling fields (seed, steps, cfg_scale, sampler, scheduler, width,
    height, denoise) describe the first pass; ``passes`` lists every pass.
    Unknown keys go to ``extra`` and the source text to ``raw``: nothing is dropped.
    """

    #: generator family (Forge and SD.Next are ``a1111``)
    generator: Generator = Generator.NONE
    #: the precise tool where known: "Forge", "SD.Next", "ComfyUI", "PaddleNLP"
    generator_name: str | None = None
    generator_version: str | None = None
    #: prompt and negative prompt exactly as stored (no whitespace trimmed)
    prompt: str | None = None
    negative_prompt: str | None = None
    #: the text actually encoded where the tool expands it (styles, wildcards, Fooocus
    #: expansion); None when equal to the prompt
    encoded_prompt: str | None = None
    encoded_negative_prompt: str | None = None
    #: NovelAI V4 character prompts, in order
    character_prompts: tuple[str, ...] = ()
    seed: int | None = None
    #: how the source wrote the seed: ``int``, ``str`` or ``float``
    seed_type: str | None = None
    variation_seed: int | None = None
    variation_strength: float | None = None
    #: initial-noise RNG: ``GPU``, ``CPU`` or ``NV`` (A1111 Philox)
    rng: str | None = None
    #: eta noise seed delta (A1111 ENSD)
    ensd: int | None = None
    sampler: str | None = None
    scheduler: str | None = None
    canonical_sampler: str | None = None
    canonical_scheduler: str | None = None
    steps: int | None = None
    cfg_scale: float | None = None
    #: first-pass size (A1111 "Size"); final_* is the size after hires fix/upscale
    width: int | None = None
    height: int | None = None
    final_width: int | None = None
    final_height: int | None = None
    denoise: float | None = None
    #: A1111 convention: 1 = last layer (no skip), 2 = penultimate
    clip_skip: int | None = None
    model: ModelRef | None = None
    vae: ModelRef | None = None
    adapters: tuple[Adapter, ...] = ()
    passes: tuple[SamplingPass, ...] = ()
    postprocessing: tuple[PostProcess, ...] = ()
    #: precision and speed knobs that change pixels: FP8 weight, token merging, emphasis mode
    precision: Mapping[str, str] = field(default_factory=dict)
    batch_size: int | None = None
    batch_index: int | None = None
    #: C2PA manifest summary, when present
    provenance: Mapping[str, Any] | None = None
    #: every source key the reader did not map, with its value
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: the source text per carrier (PNG keyword, Exif.UserComment, ...)
    raw: Mapping[str, str] = field(default_factory=dict)
    #: non-fatal problems met while reading
    warnings: tuple[str, ...] = ()

    def to_dict(self, *, include_raw: bool = True) -> dict[str, Any]:
        """The stable JSON shape (docs/record.md), plus ``fingerprint``."""
        out: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "generator": self.generator.value,
            "generator_name": self.generator_name,
            "generator_version": self.generator_version,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "encoded_prompt": self.encoded_prompt,
            "encoded_negative_prompt": self.encoded_negative_prompt,
            "character_prompts": list(self.character_prompts),
            "seed": self.seed,
            "seed_type": self.seed_type,
            "variation_seed": self.variation_seed,
            "variation_strength": self.variation_strength,
            "rng": self.rng,
            "ensd": self.ensd,
            "sampler": self.sampler,
            "scheduler": self.scheduler,
            "canonical_sampler": self.canonical_sampler,
            "canonical_scheduler": self.canonical_scheduler,
            "steps": self.steps,
            "cfg_scale": self.cfg_scale,
            "width": self.width,
            "height": self.height,
            "final_width": self.final_width,
            "final_height": self.final_height,
            "denoise": self.denoise,
            "clip_skip": self.clip_skip,
            "model": self.model.to_dict() if self.model else None,
            "vae": self.vae.to_dict() if self.vae else None,
            "adapters": [a.to_dict() for a in self.adapters],
            "passes": [p.to_dict() for p in self.passes],
            "postprocessing": [p.to_dict() for p in self.postprocessing],
            "precision": dict(self.precision),
            "batch_size": self.batch_size,
            "batch_index": self.batch_index,
            "provenance": _plain(self.provenance) if self.provenance else None,
            "extra": _plain(self.extra),
            "warnings": list(self.warnings),
            "fingerprint": self.fingerprint if self.generator not in (Generator.NONE, Generator.C2PA) else None,
        }
        if include_raw:
            out["raw"] = dict(self.raw)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenerationRecord:
        """Rebuild a record from ``to_dict`` output (a ``seedlock read --json`` object)."""
        return record_from_dict(data)

    @classmethod
    def from_passes(cls, passes: tuple[SamplingPass, ...], **values: Any) -> GenerationRecord:
        """A record whose top-level sampling fields come from its first pass.

        The one place where a pass's seed, steps, CFG, sampler, scheduler, denoise and size
        become the record's top-level fields, so readers and engines state each value once.
        A field given explicitly wins; the final size (after upscaling) is the caller's to say.
        """
        if passes:
            first = passes[0]
            for name in _PASS_FIELDS:
                if name not in values:
                    values[name] = getattr(first, name)
        return cls(passes=tuple(passes), **values)

    def first_pass(self) -> SamplingPass:
        """The first sampling pass, or one made of the top-level fields when none is listed."""
        if self.passes:
            return self.passes[0]
        return SamplingPass(**{name: getattr(self, name) for name in _PASS_FIELDS})

    @property
    def run(self) -> RunBlock | None:
        """seedlock's own run block (``extra["seedlock"]``), typed; None when absent or not a mapping."""
        return RunBlock.from_extra(self.extra)

    def recipe(self) -> dict[str, Any]:
        """The output-affecting fields only, normalised so naming differences vanish."""
        passes = self.passes or (self.first_pass(),)
        return {
            "model": model_stem(self.model.name) if self.model else None,
            "vae": model_stem(self.vae.name) if self.vae else None,
            "prompt": self.encoded_prompt if self.encoded_prompt is not None else (self.prompt or ""),
            "negative_prompt": (
                self.encoded_negative_prompt
                if self.encoded_negative_prompt is not None
                else (self.negative_prompt or "")
            ),
            "character_prompts": list(self.character_prompts),
            "variation_seed": self.variation_seed if self.variation_strength else None,
            "variation_strength": self.variation_strength or None,
            "rng": self.rng,
            "ensd": self.ensd or None,
            "clip_skip": self.clip_skip if self.clip_skip and self.clip_skip > 1 else None,
            "adapters": sorted([a.kind, model_stem(a.name), a.weight, a.weight_clip] for a in self.adapters),
            "passes": [
                {
                    "seed": p.seed if p.add_noise is not False else None,
                    "steps": p.steps,
                    "cfg_scale": p.cfg_scale,
                    "sampler": p.canonical_sampler,
                    "scheduler": p.canonical_scheduler,
                    "denoise": None if p.denoise in (None, 1.0) else p.denoise,
                    "width": p.width,
                    "height": p.height,
                    "start_step": p.start_step or None,
                    "end_step": p.end_step if p.end_step is not None and p.end_step < (p.steps or 0) else None,
                    "model": model_stem(p.model) if p.model else None,
                }
                for p in passes
            ],
            "postprocessing": sorted([p.kind, p.name or ""] for p in self.postprocessing),
            "precision": dict(sorted(self.precision.items())),
            "batch_index": self.batch_index or None,
        }

    @cached_property
    def fingerprint(self) -> str:
        """sha256 of the canonical JSON of :meth:`recipe` (computed once per record)."""
        return hashlib.sha256(canonical_json(self.recipe(), plain=True).encode("utf-8")).hexdigest()

    def replace(self, **changes: Any) -> GenerationRecord:
        """A copy with some fields changed (records are frozen)."""
        return replace(self, **changes)


#: the sampling fields a record states at top level for its first pass
_PASS_FIELDS = (
    "seed",
    "steps",
    "cfg_scale",
    "sampler",
    "scheduler",
    "canonical_sampler",
    "canonical_scheduler",
    "denoise",
    "width",
    "height",
)


@dataclass(frozen=True)
class RunBlock:
    """What seedlock's own engine records about a run, under ``extra["seedlock"]``.

    Written by the engine, read by replay, diff and trace-diff: this class is the one
    parser and the one serialiser of that block.
    """

    #: the effective scheduler config, every key explicit
    scheduler: Mapping[str, Any] | None = None
    #: the noise recipe's name (``seedlock-cpu-1``)
    noise: str | None = None
    #: the software and hardware stack (seedlock.replay.environment)
    environment: Mapping[str, Any] = field(default_factory=dict)
    pixel_sha256: str | None = None
    #: why the run may differ from its source, when it is not faithful
    approximate: tuple[str, ...] = ()
    #: stage hashes of a traced run
    trace: Trace | None = None
    #: the hires pass's effective scheduler config, when the run has one
    hires_scheduler: Mapping[str, Any] | None = None

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any] | Any) -> RunBlock | None:
        block = extra.get("seedlock") if isinstance(extra, Mapping) else None
        if not isinstance(block, Mapping):
            return None
        env = block.get("environment")
        sched = block.get("scheduler")
        approx = block.get("approximate")
        return cls(
            scheduler=dict(sched) if isinstance(sched, Mapping) else None,
            noise=block.get("noise") if isinstance(block.get("noise"), str) else None,
            environment=dict(env) if isinstance(env, Mapping) else {},
            pixel_sha256=block.get("pixel_sha256") if isinstance(block.get("pixel_sha256"), str) else None,
            approximate=tuple(str(a) for a in approx) if isinstance(approx, (list, tuple)) else (),
            trace=Trace.from_dict(block.get("trace")),
            hires_scheduler=dict(hires) if isinstance(hires := block.get("hires_scheduler"), Mapping) else None,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "scheduler": dict(self.scheduler) if self.scheduler is not None else None,
            "noise": self.noise,
            "environment": dict(self.environment),
            "pixel_sha256": self.pixel_sha256,
            "approximate": list(self.approximate),
        }
        if self.trace is not None:
            out["trace"] = self.trace.to_dict()
        if self.hires_scheduler is not None:
            out["hires_scheduler"] = dict(self.hires_scheduler)
        return out


@dataclass(frozen=True)
class Trace:
    """Short hashes of a run's stages: text embeddings, initial noise, each step's latent, the image."""

    prompt_embeds: str | None = None
    noise: str | None = None
    latents: tuple[str, ...] = ()
    image: str | None = None

    @classmethod
    def from_dict(cls, d: Any) -> Trace | None:
        if not isinstance(d, Mapping):
            return None
        lat = d.get("latents")
        return cls(
            prompt_embeds=d.get("prompt_embeds"),
            noise=d.get("noise"),
            latents=tuple(str(x) for x in lat) if isinstance(lat, (list, tuple)) else (),
            image=d.get("image"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"noise": self.noise, "latents": list(self.latents)}
        if self.prompt_embeds is not None:
            out["prompt_embeds"] = self.prompt_embeds
        if self.image is not None:
            out["image"] = self.image
        return out


_EXT = re.compile(r"\.(safetensors|ckpt|pt|pth|bin|gguf|sft|onnx)$", re.IGNORECASE)


@lru_cache(maxsize=4096)
def model_stem(name: str | None) -> str:
    """File stem of a model name, lower-cased: ``models/SD/foo.safetensors`` -> ``foo``."""
    if not name:
        return ""
    stem = name.replace("\\", "/").rsplit("/", 1)[-1]
    return _EXT.sub("", stem).strip().lower()


def _plain(value: Any) -> Any:
    """Convert mappings/tuples to JSON-ready dicts/lists (recursively)."""
    t = type(value)
    if t is str or t is int or value is None or t is bool:
        return value
    if t is dict:
        return {str(k): _plain(v) for k, v in value.items()}
    if t is list or t is tuple:
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def canonical_json(value: Any, *, plain: bool = False) -> str:
    """Stable serialisation: sorted keys, no spaces, UTF-8, shortest round-trip floats.

    ``plain=True`` skips the conversion of tuples/mappings for values built of dicts and
    lists only (the fingerprint's recipe), which is the hot path of ``read --jsonl``.
    """
    return json.dumps(value if plain else _plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# -- JSON in: the inverse of to_dict ------------------------------------------------------

_SIMPLE = {f.name for f in fields(GenerationRecord)} - {
    "generator",
    "model",
    "vae",
    "adapters",
    "passes",
    "postprocessing",
    "character_prompts",
    "warnings",
}


def _model(d: Any) -> ModelRef | None:
    if not isinstance(d, Mapping):
        return None
    return ModelRef(name=d.get("name"), hashes=dict(d.get("hashes") or {}), version=d.get("version"))


def record_from_dict(data: Mapping[str, Any]) -> GenerationRecord:
    """Inverse of ``GenerationRecord.to_dict``; unknown keys are ignored, bad types refused."""
    if not isinstance(data, Mapping):
        raise RecordFormatError("a record must be a JSON object")
    try:
        generator = Generator(data.get("generator") or "unknown")
    except ValueError:
        generator = Generator.UNKNOWN
    kwargs: dict[str, Any] = {k: data[k] for k in _SIMPLE if k in data and data[k] is not None}
    try:
        pass_names = {f.name for f in fields(SamplingPass)}
        return GenerationRecord(
            generator=generator,
            model=_model(data.get("model")),
            vae=_model(data.get("vae")),
            adapters=tuple(
                Adapter(
                    kind=a["kind"],
                    name=a["name"],
                    hashes=dict(a.get("hashes") or {}),
                    weight=a.get("weight"),
                    weight_clip=a.get("weight_clip"),
                    params=dict(a.get("params") or {}),
                )
                for a in data.get("adapters") or []
            ),
            passes=tuple(
                SamplingPass(**{k: v for k, v in p.items() if k in pass_names}) for p in data.get("passes") or []
            ),
            postprocessing=tuple(
                PostProcess(kind=p["kind"], name=p.get("name"), params=dict(p.get("params") or {}))
                for p in data.get("postprocessing") or []
            ),
            character_prompts=tuple(data.get("character_prompts") or ()),
            warnings=tuple(data.get("warnings") or ()),
            **kwargs,
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise RecordFormatError(f"record JSON has an unexpected shape ({exc})") from None
