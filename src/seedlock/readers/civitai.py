"""Civitai's on-site generator: A1111 infotext with ``Civitai resources`` (model
versions by id, no model name), or a ComfyUI graph with ``extraMetadata``/AIR URNs."""

from __future__ import annotations

from typing import Any, ClassVar

from seedlock.extract.raw import EXIF_USER_COMMENT, RawMetadata
from seedlock.readers._base import fail, maybe_json, to_float
from seedlock.readers.a1111 import carrier, record_from_infotext
from seedlock.readers.comfyui import graph_from, record_from_graph
from seedlock.record import Adapter, GenerationRecord, Generator, ModelRef


def _resources(res: Any) -> tuple[ModelRef | None, list[Adapter]]:
    model = None
    adapters: list[Adapter] = []
    for r in res if isinstance(res, list) else []:
        if not isinstance(r, dict):
            continue
        kind = str(r.get("type") or "").lower()
        name = r.get("modelName") or r.get("name") or str(r.get("modelVersionId"))
        version = r.get("modelVersionId") or r.get("air")
        if kind == "checkpoint" and model is None:
            model = ModelRef(
                name=f"{name} {r.get('modelVersionName', '')}".strip(), version=str(version) if version else None
            )
        else:
            adapters.append(
                Adapter(
                    kind=kind or "resource",
                    name=str(name),
                    weight=to_float(r.get("weight") or r.get("strength")),
                    params={"modelVersionId": version},
                )
            )
    return model, adapters


class CivitaiReader:
    name: ClassVar[str] = "civitai"
    carriers: ClassVar[frozenset[str]] = frozenset({EXIF_USER_COMMENT, "parameters"})

    def accept(self, raw: RawMetadata) -> bool:
        text = raw.fields.get(EXIF_USER_COMMENT, "") or raw.fields.get("parameters", "")
        return "Civitai resources:" in text or '"extraMetadata"' in text or "urn:air:" in text[:5000]

    def parse(self, raw: RawMetadata) -> GenerationRecord:
        text = raw.fields.get(EXIF_USER_COMMENT, "") or raw.fields.get("parameters", "")
        if text.lstrip().startswith("{"):
            graph = graph_from(text, self.name)
            rec = record_from_graph(graph, raw, generator=Generator.CIVITAI)
            meta = graph.get("extraMetadata")
            meta = maybe_json(meta) if isinstance(meta, str) else meta
            changes: dict[str, Any] = {"generator_name": "Civitai (ComfyUI)"}
            if isinstance(meta, dict):
                changes["extra"] = dict(rec.extra) | {"extraMetadata": meta}
                if rec.model and rec.model.name and rec.model.name.startswith("urn:air:"):
                    changes["model"] = ModelRef(name=rec.model.name, version=rec.model.name)
            return rec.replace(**changes)
        found = carrier(raw)
        if found is None:
            raise fail(self.name, "no infotext")
        rec = record_from_infotext(found[1], raw, generator=Generator.CIVITAI)
        model, adapters = _resources(rec.extra.get("Civitai resources"))
        return rec.replace(
            generator_name="Civitai",
            model=model if model and not rec.model else rec.model,
            adapters=tuple(rec.adapters) + tuple(adapters),
        )
