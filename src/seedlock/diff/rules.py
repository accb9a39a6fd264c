"""Rules: a RecordDiff (and a pixel verdict) becomes a ranked list of causes.

Rank follows how often each culprit explains "same seed, different image" in the
users' reports (metadata-formats.md §6, hashing-determinism.md §3): model weights first,
then sampler/schedule, the numeric knobs, adapters, noise recipe, prompt bytes,
precision and tool version, and hidden post-processing last.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from seedlock.diff.fields import FieldDiff, RecordDiff
from seedlock.diff.pixels import PixelReport

__all__ = ["Cause", "Moved", "diagnose", "ranked"]

#: category -> (rank, title, explanation, how to confirm / fix)
RULES: dict[str, tuple[int, str, str, str]] = {
    "model": (
        1,
        "model weights differ",
        "a different checkpoint (or VAE) file, or the same name rolled forward to new weights",
        "hash both files (seedlock hash) and compare with the record; pin them with seedlock lock",
    ),
    "sampler": (
        2,
        "sampler differs",
        "a different sampling algorithm walks a different path from the same noise",
        "set the sampler back; for A1111 check the Sampler label, for ComfyUI sampler_name",
    ),
    "scheduler": (
        2,
        "noise schedule differs",
        "the same sampler with another sigma schedule (A1111 1.9 gave samplers default schedules: a "
        "pre-1.9 'DPM++ 2M' means Uniform, a 1.9+ one Karras)",
        "set Schedule type explicitly (A1111) or the scheduler input (ComfyUI)",
    ),
    "steps": (
        3,
        "step count differs",
        "one step more or less changes the sigma grid and every step after it",
        "copy Steps (and the start/end steps of partial passes)",
    ),
    "cfg": (
        3,
        "CFG scale differs",
        "guidance strength scales the conditional/unconditional difference each step",
        "copy CFG scale exactly (7 vs 7.5 is visible)",
    ),
    "size": (
        3,
        "size differs",
        "a different latent shape gives different noise and composition",
        "copy width/height of the first pass and the hires size",
    ),
    "denoise": (
        3,
        "denoise differs",
        "img2img/hires strength decides how much noise is added back",
        "copy Denoising strength",
    ),
    "clip_skip": (
        3,
        "clip skip differs",
        "text is encoded from a different CLIP layer",
        "copy Clip skip (A1111) / CLIPSetLastLayer (ComfyUI)",
    ),
    "passes": (
        3,
        "a sampling pass was added or removed",
        "hires fix, a refiner or a second stage re-samples the image",
        "enable/disable the same hires fix or refiner pass",
    ),
    "upscaler": (
        3,
        "hires upscaler differs",
        "the second pass starts from a differently upscaled image or latent",
        "use the same hires upscaler (Latent, Latent (bicubic), Lanczos...)",
    ),
    "adapter": (
        4,
        "adapter added, removed or re-weighted",
        "LoRA, embedding, ControlNet or refiner changes what the model computes",
        "match the adapter list, weights and files (hashes)",
    ),
    "seed": (5, "seed differs", "different initial noise", "copy the seed of the pass"),
    "rng": (
        5,
        "noise recipe differs",
        "RNG source (A1111 GPU/CPU/NV, ComfyUI CPU), ENSD or variation seed change the noise for the same seed",
        "use the same RNG source setting; ENSD 31337 is the NovelAI-style convention",
    ),
    "batch": (
        5,
        "batch position differs",
        "A1111 gives image i of a batch seed+i; ComfyUI draws one noise tensor for the whole batch",
        "regenerate with the same batch size and index",
    ),
    "prompt": (
        6,
        "prompt bytes differ",
        "a different character is a different token, so different conditioning",
        "compare the byte-level prompt diff below; seedlock lint-prompt shows hidden characters",
    ),
    "precision": (
        7,
        "precision or speed knob differs",
        "FP8 weights, token merging, emphasis mode and similar knobs change the numerics",
        "match the precision settings listed",
    ),
    "version": (
        7,
        "tool or version differs",
        "samplers, defaults and numerics change between releases (and between forks)",
        "regenerate with the same tool version, or accept 'numerically close'",
    ),
    "postprocessing": (
        8,
        "hidden post-processing differs",
        "face restoration, upscaling or ADetailer change pixels after sampling",
        "disable or match the post-processing steps",
    ),
    "extra": (
        9,
        "other recorded setting differs",
        "a setting seedlock does not model explicitly",
        "check the named key in both tools",
    ),
}

_UNRECORDED = (
    "every recorded field matches, but pixels differ: look at what metadata cannot show: "
    "GPU/kernel nondeterminism (attention backend, TF32, cuDNN benchmark), thread count and weight-memory "
    "alignment on CPU, software versions that were not recorded, hidden post-processing, or an edited file"
)


@dataclass(frozen=True)
class Moved:
    """One thing that moved between a run and its re-run (a backend's version, a model file, the
    pixels), ranked with the others: the shape ``comfy replay`` and ``api drift`` report."""

    rank: int
    kind: str
    message: str
    before: Any = None
    after: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "kind": self.kind, "message": self.message, "before": self.before, "after": self.after}


def ranked(moved: list[Moved]) -> tuple[Moved, ...]:
    """The same causes numbered 1.. in the order given (most likely first)."""
    return tuple(Moved(i + 1, m.kind, m.message, m.before, m.after) for i, m in enumerate(moved))


@dataclass(frozen=True)
class Cause:
    rank: int
    category: str
    title: str
    field: str
    a: Any
    b: Any
    explanation: str
    fix: str

    def to_dict(self) -> dict[str, Any]:
        from seedlock.diff.fields import jsonable

        return {
            "rank": self.rank,
            "category": self.category,
            "title": self.title,
            "field": self.field,
            "a": jsonable(self.a),
            "b": jsonable(self.b),
            "explanation": self.explanation,
            "fix": self.fix,
        }


def _cause(d: FieldDiff) -> Cause:
    rank, title, why, fix = RULES.get(d.category, RULES["extra"])
    explanation = why + (f" ({d.detail})" if d.detail else "")
    return Cause(rank, d.category, title, d.field, d.a, d.b, explanation, fix)


def diagnose(diff: RecordDiff, pixels: PixelReport | None = None) -> list[Cause]:
    """Ranked causes, most likely first; stable within a rank (field order).

    A side without a generation record gives no causes: nothing recorded can be compared.
    """
    if diff.missing:
        return []
    causes = [_cause(d) for d in diff.fields]
    causes.sort(key=lambda c: c.rank)
    if not causes and pixels is not None and pixels.verdict != "bit-identical":
        causes.append(
            Cause(
                10,
                "unrecorded",
                "nothing recorded differs",
                "pixels",
                pixels.hash_a,
                pixels.hash_b,
                _UNRECORDED,
                "replay both recipes in seedlock's deterministic mode (seedlock replay) and compare environments",
            )
        )
    return causes
