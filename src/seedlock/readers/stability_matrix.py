"""Stability Matrix: ``parameters`` (A1111-like, CRLF), ``parameters-json``, ``smproj``
and the ComfyUI graph it ran; the infotext and JSON are merged into one record."""

from __future__ import annotations

from typing import ClassVar

from seedlock.extract.raw import RawMetadata
from seedlock.readers._base import hash_forms, maybe_json, to_int
from seedlock.readers.a1111 import record_from_infotext
from seedlock.readers.comfyui import graph_from, record_from_graph
from seedlock.record import GenerationRecord, Generator, ModelRef


class StabilityMatrixReader:
    name: ClassVar[str] = "stability-matrix"
    carriers: ClassVar[frozenset[str]] = frozenset({"smproj", "parameters-json"})

    def accept(self, raw: RawMetadata) -> bool:
        return "smproj" in raw.fields or "parameters-json" in raw.fields

    def parse(self, raw: RawMetadata) -> GenerationRecord:
        f = raw.fields
        pj = maybe_json(f.get("parameters-json", "")) or {}
        if "parameters" in f and not f["parameters"].lstrip().startswith("{"):
            rec = record_from_infotext(f["parameters"], raw, generator=Generator.STABILITY_MATRIX)
        elif "prompt" in f:
            rec = record_from_graph(graph_from(f["prompt"]), raw, generator=Generator.STABILITY_MATRIX)
        else:
            rec = GenerationRecord(generator=Generator.STABILITY_MATRIX, raw=dict(f))
        changes: dict[str, object] = {"generator_name": "Stability Matrix"}
        if isinstance(pj, dict):
            # parameters-json keeps the exact prompt bytes (CRLF included); infotext lost nothing else
            if isinstance(pj.get("PositivePrompt"), str):
                changes["prompt"] = pj["PositivePrompt"]
            if isinstance(pj.get("NegativePrompt"), str):
                changes["negative_prompt"] = pj["NegativePrompt"]
            if pj.get("ModelName") or pj.get("ModelHash"):
                changes["model"] = ModelRef(
                    name=pj.get("ModelName") or (rec.model.name if rec.model else None),
                    hashes=hash_forms(pj.get("ModelHash")),
                    version=str(pj["ModelVersionId"]) if pj.get("ModelVersionId") else None,
                )
            if rec.width is None and to_int(pj.get("Width")):
                changes["width"], changes["height"] = to_int(pj.get("Width")), to_int(pj.get("Height"))
            changes["extra"] = dict(rec.extra) | {"parameters-json": pj}
        if "prompt" in f and rec.clip_skip is None:
            try:
                graph_rec = record_from_graph(graph_from(f["prompt"]), raw)
                changes["clip_skip"] = graph_rec.clip_skip
            except ValueError:
                pass
        return rec.replace(**changes)
