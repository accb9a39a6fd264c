"""Rebuild a GenerationRecord from its JSON shape (``seedlock read --json`` output)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from seedlock.errors import RecordFormatError
from seedlock.record import Adapter, GenerationRecord, Generator, ModelRef, PostProcess, SamplingPass

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
