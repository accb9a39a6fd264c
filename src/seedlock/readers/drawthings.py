"""Draw Things: XMP with ``xmp:CreatorTool`` "Draw Things" and a JSON object in
``exif:UserComment`` (keys ``c``, ``uc``, ``seed``, ``size``, ``scale``, ...)."""

from __future__ import annotations

import html
import re
from typing import ClassVar

from seedlock.extract.raw import XMP, RawMetadata
from seedlock.readers._base import fail, load_json, seed_of, size_of, to_float, to_int
from seedlock.record import Adapter, GenerationRecord, Generator, ModelRef, SamplingPass
from seedlock.samplers import canonical_pair

_JSON = re.compile(r"<exif:UserComment>.*?<rdf:li[^>]*>(.*?)</rdf:li>", re.S)


class DrawThingsReader:
    name: ClassVar[str] = "drawthings"
    carriers: ClassVar[frozenset[str]] = frozenset({XMP})

    def accept(self, raw: RawMetadata) -> bool:
        return "Draw Things" in raw.fields.get(XMP, "")

    def parse(self, raw: RawMetadata) -> GenerationRecord:
        m = _JSON.search(raw.fields[XMP])
        if not m:
            raise fail(self.name, "XMP has no exif:UserComment JSON")
        d = load_json(html.unescape(m.group(1)), self.name, "exif:UserComment")
        if not isinstance(d, dict):
            raise fail(self.name, "exif:UserComment is not a JSON object")
        seed, seed_type = seed_of(d.get("seed"))
        w, h = size_of(d.get("size"))
        cs, csch = canonical_pair(d.get("sampler"), None)
        strength = to_float(d.get("strength"))
        loras = tuple(
            Adapter(kind="lora", name=str(x.get("model")), weight=to_float(x.get("weight")))
            for x in d.get("lora") or []
            if isinstance(x, dict)
        )
        p = SamplingPass(
            seed=seed,
            steps=to_int(d.get("steps")),
            cfg_scale=to_float(d.get("scale")),
            sampler=d.get("sampler"),
            canonical_sampler=cs,
            canonical_scheduler=csch,
            width=w,
            height=h,
            denoise=strength if strength and strength < 1 else None,
        )
        mapped = {"c", "uc", "seed", "size", "sampler", "strength", "lora", "model", "scale", "steps"}
        return GenerationRecord.from_passes(
            (p,),
            generator=Generator.DRAWTHINGS,
            generator_name="Draw Things",
            prompt=d.get("c"),
            negative_prompt=d.get("uc"),
            seed_type=seed_type,
            rng=d.get("seed_mode"),
            final_width=w,
            final_height=h,
            model=ModelRef(name=d.get("model")) if d.get("model") else None,
            adapters=loras,
            extra={k: v for k, v in d.items() if k not in mapped},
            raw=dict(raw.fields),
        )
