"""Field diff of two records, normalised first so that naming differences vanish.

Compared on meaning, not spelling: samplers by their canonical (sampler, schedule) pair,
sizes as integers, seeds as ints, clip skip with 1 = none, models by file stem plus every
hash form both sides share (AutoV2 is the sha256 prefix, A1111 LoRA hashes the AutoV3
prefix), adapters by (kind, stem). Unmapped ``extra`` keys are diffed too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from seedlock import claims
from seedlock.diff.prompt import PromptDiff, diff_prompts
from seedlock.readers.infotext import strip_extra_networks
from seedlock.record import Adapter, GenerationRecord, Generator, ModelRef, RunBlock, SamplingPass, model_stem

__all__ = ["BITWISE_KEYS", "FieldDiff", "RecordDiff", "diff_records", "environment_differences", "hashes_agree"]

#: default RNG source per generator family when the record does not say
_DEFAULT_RNG = {
    "a1111": "GPU",
    "civitai": "GPU",
    "comfyui": "CPU",
    "swarmui": "CPU",
    "invokeai": "CPU",
    "stability-matrix": "CPU",
    "fooocus": "GPU",
}
#: unmapped keys listed one by one; past this a file with thousands of text chunks gets one summary line
MAX_EXTRA_LISTED = 200
#: keys in ``extra`` that say nothing about the image (dates, timings, file names)
_IGNORED_EXTRA = {
    "sui_extra_data",
    "Created Date",
    "Generation time",
    "generation_time",
    "date",
    "prep_time",
    "epoch_time",
    "signed_hash",
    "request_type",
    "Title",
    "parameters-json",
    "generation_data",
    "graph_model",
    "created_by",
    "metadata_scheme",
}


@dataclass(frozen=True)
class FieldDiff:
    """One differing field: its dotted path, both values, and a category for ranking."""

    field: str
    category: str
    a: Any
    b: Any
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "category": self.category,
            "a": jsonable(self.a),
            "b": jsonable(self.b),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class RecordDiff:
    a: GenerationRecord
    b: GenerationRecord
    fields: tuple[FieldDiff, ...] = ()
    prompt: PromptDiff = field(default_factory=lambda: PromptDiff("", ""))
    negative: PromptDiff = field(default_factory=lambda: PromptDiff("", ""))

    #: "A", "B" or "both" when that side carries no generation record (nothing to compare)
    missing: str | None = None

    @property
    def equivalent(self) -> bool:
        return not self.fields and self.missing is None

    def verdict(self) -> str:
        """One line for people: equivalent, how many differences, or which side has no record."""
        if self.missing == "both":
            return "neither file has a generation record"
        if self.missing:
            return f"{self.missing} has no generation record"
        return "equivalent" if self.equivalent else f"{len(self.fields)} difference(s)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "equivalent": self.equivalent,
            "missing_record": self.missing,
            "verdict": self.verdict(),
            "fields": [f.to_dict() for f in self.fields],
            "prompt": self.prompt.to_dict(),
            "negative_prompt": self.negative.to_dict(),
        }


def jsonable(v: Any) -> Any:
    if isinstance(v, (ModelRef, Adapter, SamplingPass)):
        return v.to_dict()
    if isinstance(v, tuple):
        return [jsonable(x) for x in v]
    return v


def hashes_agree(a: Mapping[str, str] | Any, b: Mapping[str, str] | Any) -> bool | None:
    """True/False when the two hash sets share a comparable form, None when they cannot be compared."""
    return claims.agree(dict(a), dict(b))


def _rng(rec: GenerationRecord) -> str:
    if rec.rng:
        return rec.rng.upper()
    return _DEFAULT_RNG.get(rec.generator.value, "unrecorded")


def _norm_clip(v: int | None) -> int:
    return v if v and v > 1 else 1


def _cmp_float(x: float | None, y: float | None) -> bool:
    if x is None or y is None:
        return x is y
    return abs(float(x) - float(y)) < 1e-6


def _pass_diffs(i: int, pa: SamplingPass, pb: SamplingPass, out: list[FieldDiff]) -> None:
    prefix = "" if i == 0 else f"passes[{i}]."
    for name in ("sampler", "scheduler"):
        ca, cb = getattr(pa, f"canonical_{name}"), getattr(pb, f"canonical_{name}")
        if ca != cb:
            shown_a, shown_b = getattr(pa, name) or ca, getattr(pb, name) or cb
            out.append(FieldDiff(prefix + name, name, shown_a, shown_b, f"canonical {ca} vs {cb}"))
    if pa.steps != pb.steps:
        out.append(FieldDiff(prefix + "steps", "steps", pa.steps, pb.steps))
    if not _cmp_float(pa.cfg_scale, pb.cfg_scale):
        out.append(FieldDiff(prefix + "cfg_scale", "cfg", pa.cfg_scale, pb.cfg_scale))
    if (pa.width, pa.height) != (pb.width, pb.height):
        out.append(FieldDiff(prefix + "size", "size", f"{pa.width}x{pa.height}", f"{pb.width}x{pb.height}"))
    da = 1.0 if pa.denoise is None else pa.denoise
    db = 1.0 if pb.denoise is None else pb.denoise
    if not _cmp_float(da, db):
        out.append(FieldDiff(prefix + "denoise", "denoise", pa.denoise, pb.denoise))
    noise_a = pa.add_noise is not False
    noise_b = pb.add_noise is not False
    if (noise_a or noise_b) and pa.seed != pb.seed:
        out.append(FieldDiff(prefix + "seed", "seed", pa.seed, pb.seed))
    if (pa.start_step or 0, pa.end_step) != (pb.start_step or 0, pb.end_step):
        out.append(
            FieldDiff(
                prefix + "step_range", "steps", f"{pa.start_step}-{pa.end_step}", f"{pb.start_step}-{pb.end_step}"
            )
        )
    if model_stem(pa.model) != model_stem(pb.model) and i > 0:
        out.append(FieldDiff(prefix + "model", "model", pa.model, pb.model))
    if (pa.upscaler or "").lower() != (pb.upscaler or "").lower():
        out.append(FieldDiff(prefix + "upscaler", "upscaler", pa.upscaler, pb.upscaler))


def _adapter_key(a: Adapter) -> tuple[str, str]:
    kind = "lora" if a.kind in ("lora", "lycoris") else a.kind
    return kind, model_stem(a.name)


#: generators that take ``<lora:...>`` tags out of the prompt before encoding it
_STRIPS_EXTRA_NETWORKS = frozenset({Generator.A1111, Generator.CIVITAI})


def encoded_text(rec: GenerationRecord, encoded: str | None, stored: str | None) -> str | None:
    """The text the tool's encoder saw: its own expansion where recorded, else the stored
    prompt (extra-network tags removed for the tools that remove them)."""
    if encoded is not None:
        return encoded
    if stored is not None and rec.generator in _STRIPS_EXTRA_NETWORKS:
        return strip_extra_networks(stored)
    return stored


def _has_record(rec: GenerationRecord) -> bool:
    return rec.generator not in (Generator.NONE, Generator.C2PA)


def diff_records(a: GenerationRecord, b: GenerationRecord) -> RecordDiff:
    """Every output-affecting difference between two records, normalised.

    A side without a generation record is not "equal": the diff says which side it is
    (``missing``) and lists no causes, since nothing recorded can be compared.
    """
    if not _has_record(a) or not _has_record(b):
        missing = "both" if not _has_record(a) and not _has_record(b) else ("A" if not _has_record(a) else "B")
        return RecordDiff(
            a, b, (), diff_prompts(a.prompt, b.prompt), diff_prompts(a.negative_prompt, b.negative_prompt), missing
        )
    out: list[FieldDiff] = []
    # model identity
    ma, mb = a.model, b.model
    if model_stem(ma.name if ma else None) != model_stem(mb.name if mb else None):
        out.append(FieldDiff("model.name", "model", ma.name if ma else None, mb.name if mb else None))
    if ma and mb:
        agree = hashes_agree(ma.hashes, mb.hashes)
        if agree is False:
            out.append(
                FieldDiff(
                    "model.hash",
                    "model",
                    dict(ma.hashes),
                    dict(mb.hashes),
                    "same hash form, different value: different weights",
                )
            )
        if ma.version and mb.version and ma.version != mb.version:
            out.append(FieldDiff("model.version", "model", ma.version, mb.version))
    va, vb = a.vae, b.vae
    if model_stem(va.name if va else None) != model_stem(vb.name if vb else None):
        out.append(FieldDiff("vae", "model", va.name if va else None, vb.name if vb else None))
    elif va and vb and hashes_agree(va.hashes, vb.hashes) is False:
        out.append(FieldDiff("vae.hash", "model", dict(va.hashes), dict(vb.hashes)))
    # sampling passes
    pa_list = a.passes or (a.first_pass(),)
    pb_list = b.passes or (b.first_pass(),)
    for i, (pa, pb) in enumerate(zip(pa_list, pb_list)):
        _pass_diffs(i, pa, pb, out)
    if len(pa_list) != len(pb_list):
        out.append(
            FieldDiff(
                "passes",
                "passes",
                [p.kind for p in pa_list],
                [p.kind for p in pb_list],
                "a sampling pass (hires fix, refiner, second stage) was added or removed",
            )
        )
    if _norm_clip(a.clip_skip) != _norm_clip(b.clip_skip):
        out.append(FieldDiff("clip_skip", "clip_skip", _norm_clip(a.clip_skip), _norm_clip(b.clip_skip)))
    if (
        (a.final_width, a.final_height) != (b.final_width, b.final_height)
        and len(pa_list) == len(pb_list) == 1
        and (a.final_width and b.final_width)
    ):
        out.append(
            FieldDiff("final_size", "size", f"{a.final_width}x{a.final_height}", f"{b.final_width}x{b.final_height}")
        )
    # noise
    if _rng(a) != _rng(b):
        out.append(FieldDiff("rng", "rng", _rng(a), _rng(b)))
    if (a.ensd or 0) != (b.ensd or 0):
        out.append(FieldDiff("ensd", "rng", a.ensd, b.ensd))
    if (a.variation_seed, a.variation_strength or 0) != (b.variation_seed, b.variation_strength or 0) and (
        a.variation_strength or b.variation_strength
    ):
        out.append(
            FieldDiff(
                "variation",
                "rng",
                f"{a.variation_seed}@{a.variation_strength}",
                f"{b.variation_seed}@{b.variation_strength}",
            )
        )
    if (a.batch_index or 0) != (b.batch_index or 0) or (a.batch_size or 1) != (b.batch_size or 1):
        out.append(
            FieldDiff(
                "batch",
                "batch",
                f"{a.batch_index or 0}/{a.batch_size or 1}",
                f"{b.batch_index or 0}/{b.batch_size or 1}",
            )
        )
    # adapters
    ad_a = {_adapter_key(x): x for x in a.adapters}
    ad_b = {_adapter_key(x): x for x in b.adapters}
    for akey in sorted(ad_a.keys() | ad_b.keys()):
        x, y = ad_a.get(akey), ad_b.get(akey)
        name = f"adapters.{akey[0]}:{akey[1]}"
        if x is None or y is None:
            out.append(FieldDiff(name, "adapter", x, y, "added" if x is None else "removed"))
            continue
        # no separate text-encoder weight means the one weight applies to both
        clip_x = x.weight if x.weight_clip is None else x.weight_clip
        clip_y = y.weight if y.weight_clip is None else y.weight_clip
        if not _cmp_float(x.weight, y.weight) or not _cmp_float(clip_x, clip_y):
            out.append(FieldDiff(name, "adapter", (x.weight, x.weight_clip), (y.weight, y.weight_clip), "re-weighted"))
        if hashes_agree(x.hashes, y.hashes) is False:
            out.append(FieldDiff(name + ".hash", "adapter", dict(x.hashes), dict(y.hashes), "different file"))
    # prompts (bytes of the text actually encoded)
    pa_text, pb_text = encoded_text(a, a.encoded_prompt, a.prompt), encoded_text(b, b.encoded_prompt, b.prompt)
    prompt = diff_prompts(pa_text, pb_text)
    negative = diff_prompts(
        encoded_text(a, a.encoded_negative_prompt, a.negative_prompt),
        encoded_text(b, b.encoded_negative_prompt, b.negative_prompt),
    )
    if not prompt.equal:
        out.append(FieldDiff("prompt", "prompt", pa_text, pb_text, prompt.summary()))
    if not negative.equal:
        out.append(FieldDiff("negative_prompt", "prompt", negative.a, negative.b, negative.summary()))
    if tuple(a.character_prompts) != tuple(b.character_prompts):
        out.append(FieldDiff("character_prompts", "prompt", list(a.character_prompts), list(b.character_prompts)))
    # precision knobs and tool version
    for key in sorted(set(a.precision) | set(b.precision)):
        if a.precision.get(key) != b.precision.get(key):
            out.append(FieldDiff(f"precision.{key}", "precision", a.precision.get(key), b.precision.get(key)))
    if (a.generator_name, a.generator_version) != (b.generator_name, b.generator_version):
        out.append(
            FieldDiff(
                "tool",
                "version",
                f"{a.generator_name or a.generator.value} {a.generator_version or ''}".strip(),
                f"{b.generator_name or b.generator.value} {b.generator_version or ''}".strip(),
            )
        )
    # hidden post-processing
    post_a = sorted((p.kind, p.name or "") for p in a.postprocessing)
    post_b = sorted((p.kind, p.name or "") for p in b.postprocessing)
    if post_a != post_b:
        out.append(FieldDiff("postprocessing", "postprocessing", post_a, post_b))
    # unmapped keys
    listed = 0
    unlisted = 0
    for key in sorted((set(a.extra) | set(b.extra)) - _IGNORED_EXTRA):
        if key == "seedlock":
            out.extend(_seedlock_block_diff(a.extra.get(key), b.extra.get(key)))
        elif a.extra.get(key) != b.extra.get(key):
            if listed < MAX_EXTRA_LISTED:
                out.append(FieldDiff(f"extra.{key}", "extra", a.extra.get(key), b.extra.get(key)))
                listed += 1
            else:
                unlisted += 1
    if unlisted:
        out.append(FieldDiff("extra.*", "extra", None, None, f"{unlisted:,} more unmapped keys differ (not listed)"))
    return RecordDiff(a, b, tuple(out), prompt, negative)


#: run-block environment keys whose difference breaks the bitwise promise (same GPU model
#: and SM count, CUDA/cuDNN, library versions, dtype, attention backend, threads, flags)
BITWISE_KEYS = (
    "torch",
    "diffusers",
    "transformers",
    "device",
    "gpu_name",
    "gpu_sm_count",
    "gpu_capability",
    "cuda",
    "cudnn",
    "cpu",
    "dtype",
    "attention",
    "threads",
    "deterministic",
)


def environment_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Keys that break the bitwise promise and differ between two recorded environments."""
    return {k: (a.get(k), b.get(k)) for k in BITWISE_KEYS if a.get(k) != b.get(k)}


def _seedlock_block_diff(a: Any, b: Any) -> list[FieldDiff]:
    """seedlock's own run block: the environment key by key; pixel hashes and traces are results, not causes."""
    ra, rb = RunBlock.from_extra({"seedlock": a}), RunBlock.from_extra({"seedlock": b})
    if ra is None or rb is None:
        return [] if a == b else [FieldDiff("extra.seedlock", "extra", a, b)]
    out: list[FieldDiff] = []
    for k, (va, vb) in environment_differences(ra.environment, rb.environment).items():
        out.append(FieldDiff(f"environment.{k}", "extra", va, vb))
    if ra.noise != rb.noise:
        out.append(FieldDiff("extra.seedlock.noise", "extra", ra.noise, rb.noise))
    return out
