"""TensorArt: ``generation_data`` JSON plus the ComfyUI graph that ran. The JSON's seed
can be ``"-1"``; the graph holds the real one, so the graph wins for sampling fields."""

from __future__ import annotations

from typing import Any, ClassVar

from seedlock.extract.raw import RawMetadata
from seedlock.readers._base import fail, hash_forms, load_json, seed_of, to_float, to_int
from seedlock.readers.comfyui import graph_from, record_from_graph
from seedlock.record import GenerationRecord, Generator, ModelRef, SamplingPass
from seedlock.samplers import canonical_pair


class TensorArtReader:
    name: ClassVar[str] = "tensorart"
    carriers: ClassVar[frozenset[str]] = frozenset({"generation_data"})

    def accept(self, raw: RawMetadata) -> bool:
        return "generation_data" in raw.fields

    def parse(self, raw: RawMetadata) -> GenerationRecord:
        m = load_json(raw.fields["generation_data"], self.name, "generation_data")
        if not isinstance(m, dict):
            raise fail(self.name, "generation_data is not a JSON object")
        base: dict[str, Any] = m["baseModel"] if isinstance(m.get("baseModel"), dict) else {}
        model = ModelRef(
            name=base.get("modelFileName") or base.get("label"),
            hashes=hash_forms(base.get("hash")),
            version=str(base["modelFileId"]) if base.get("modelFileId") else None,
        )
        if "prompt" in raw.fields:
            rec = record_from_graph(graph_from(raw.fields["prompt"]), raw, generator=Generator.TENSORART)
        else:
            seed, seed_type = seed_of(m.get("seed"))
            cs, csch = canonical_pair(m.get("ksamplerName"), m.get("schedule"))
            w, h = to_int(m.get("width")), to_int(m.get("height"))
            p = SamplingPass(
                seed=seed,
                steps=to_int(m.get("steps")),
                cfg_scale=to_float(m.get("cfgScale")),
                sampler=m.get("ksamplerName"),
                scheduler=m.get("schedule"),
                canonical_sampler=cs,
                canonical_scheduler=csch,
                width=w,
                height=h,
            )
            rec = GenerationRecord.from_passes(
                (p,),
                generator=Generator.TENSORART,
                seed_type=seed_type,
                raw=dict(raw.fields),
            )
        graph_model = rec.model.name if rec.model else None
        return rec.replace(
            generator_name="TensorArt",
            prompt=m.get("prompt", rec.prompt),
            negative_prompt=m.get("negativePrompt", rec.negative_prompt),
            model=model if model.name else rec.model,
            clip_skip=to_int(m.get("clipSkip")) or rec.clip_skip,
            ensd=to_int(m.get("etaNoiseSeedDelta")),
            rng="GPU (A1111 emulation)" if "A1111" in raw.fields.get("prompt", "") else rec.rng,
            extra=dict(rec.extra) | {"generation_data": m, "graph_model": graph_model},
        )
