"""Hugging Face Spaces (SDXL demo style): ``parameters`` JSON with ``resolution``,
``guidance_scale``, ``num_inference_steps`` and an A1111 sampler label."""

from __future__ import annotations

from typing import ClassVar

from seedlock.extract.raw import RawMetadata
from seedlock.readers._base import fail, hash_forms, load_json, seed_of, size_of, to_float, to_int
from seedlock.record import GenerationRecord, Generator, ModelRef, SamplingPass
from seedlock.samplers import canonical_pair


class HFSpaceReader:
    name: ClassVar[str] = "hf-space"
    carriers: ClassVar[frozenset[str]] = frozenset({"parameters"})

    def accept(self, raw: RawMetadata) -> bool:
        text = raw.fields.get("parameters", "")
        return text.lstrip().startswith("{") and '"num_inference_steps"' in text and '"guidance_scale"' in text

    def parse(self, raw: RawMetadata) -> GenerationRecord:
        m = load_json(raw.fields["parameters"], self.name, "parameters")
        if not isinstance(m, dict):
            raise fail(self.name, "parameters is not a JSON object")
        seed, seed_type = seed_of(m.get("seed"))
        w, h = size_of(m.get("resolution"))
        cs, csch = canonical_pair(m.get("sampler"), None, style="a1111", version="v1.8")
        p = SamplingPass(
            seed=seed,
            steps=to_int(m.get("num_inference_steps")),
            cfg_scale=to_float(m.get("guidance_scale")),
            sampler=m.get("sampler"),
            canonical_sampler=cs,
            canonical_scheduler=csch,
            width=w,
            height=h,
        )
        mapped = {
            "prompt",
            "negative_prompt",
            "resolution",
            "guidance_scale",
            "num_inference_steps",
            "seed",
            "sampler",
            "Model",
            "Model hash",
        }
        return GenerationRecord.from_passes(
            (p,),
            generator=Generator.HF_SPACE,
            generator_name="Hugging Face Space",
            prompt=m.get("prompt"),
            negative_prompt=m.get("negative_prompt"),
            seed_type=seed_type,
            final_width=w,
            final_height=h,
            model=ModelRef(name=m.get("Model"), hashes=hash_forms(m.get("Model hash"))),
            extra={k: v for k, v in m.items() if k not in mapped},
            raw=dict(raw.fields),
        )
