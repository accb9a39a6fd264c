"""Fooocus (``fooocus_scheme`` JSON or A1111 scheme), Fooocus-MRE (``Comment`` JSON)
and RuinedFooocus (``parameters`` JSON with ``software: RuinedFooocus``)."""

from __future__ import annotations

import ast
from typing import Any, ClassVar

from seedlock.extract.raw import EXIF_MAKER_NOTE, EXIF_USER_COMMENT, JPEG_COMMENT, RawMetadata
from seedlock.readers._base import fail, hash_forms, load_json, maybe_json, seed_of, size_of, to_float, to_int
from seedlock.readers.a1111 import record_from_infotext
from seedlock.record import Adapter, GenerationRecord, Generator, ModelRef, SamplingPass
from seedlock.samplers import canonical_pair


def _carrier(raw: RawMetadata) -> tuple[str, str] | None:
    f = raw.fields
    scheme = f.get("fooocus_scheme") or f.get(EXIF_MAKER_NOTE)
    if scheme in ("fooocus", "a1111"):
        text = f.get("parameters") or f.get(EXIF_USER_COMMENT)
        if text:
            return scheme, text
    text = f.get("parameters") or f.get(EXIF_USER_COMMENT) or ""
    if '"full_prompt"' in text and '"base_model"' in text:
        return "fooocus", text
    return None


def _join(value: Any) -> str | None:
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return value if isinstance(value, str) else None


class FooocusReader:
    name: ClassVar[str] = "fooocus"
    carriers: ClassVar[frozenset[str]] = frozenset(
        {"fooocus_scheme", "parameters", "Comment", EXIF_MAKER_NOTE, EXIF_USER_COMMENT, JPEG_COMMENT}
    )

    def accept(self, raw: RawMetadata) -> bool:
        if _carrier(raw) is not None:
            return True
        mre = maybe_json(raw.fields.get("Comment", "") or raw.fields.get(JPEG_COMMENT, ""))
        return isinstance(mre, dict) and "MRE" in str(mre.get("software", ""))

    def parse(self, raw: RawMetadata) -> GenerationRecord:
        found = _carrier(raw)
        if found is None:
            return self._mre(raw)
        scheme, text = found
        if scheme == "a1111":
            rec = record_from_infotext(text, raw, generator=Generator.FOOOCUS)
            return rec.replace(generator_name="Fooocus")
        m = load_json(text, self.name, "Fooocus parameters")
        if not isinstance(m, dict):
            raise fail(self.name, "parameters is not a JSON object")
        seed, seed_type = seed_of(m.get("seed"))
        w, h = size_of(m.get("resolution"))
        cs, csch = canonical_pair(m.get("sampler"), m.get("scheduler"))
        loras = []
        for item in m.get("loras") or []:
            if isinstance(item, (list, tuple)) and item:
                loras.append(
                    Adapter(
                        kind="lora",
                        name=str(item[0]),
                        weight=to_float(item[1]) if len(item) > 1 else None,
                        hashes=hash_forms(item[2]) if len(item) > 2 else {},
                    )
                )
        if m.get("refiner_model") and m.get("refiner_model") != "None":
            loras.append(
                Adapter(
                    kind="refiner", name=str(m["refiner_model"]), params={"switch": to_float(m.get("refiner_switch"))}
                )
            )
        p = SamplingPass(
            seed=seed,
            steps=to_int(m.get("steps")),
            cfg_scale=to_float(m.get("guidance_scale")),
            sampler=m.get("sampler"),
            scheduler=m.get("scheduler"),
            canonical_sampler=cs,
            canonical_scheduler=csch,
            width=w,
            height=h,
        )
        mapped = {
            "seed",
            "resolution",
            "sampler",
            "scheduler",
            "loras",
            "steps",
            "guidance_scale",
            "prompt",
            "negative_prompt",
            "full_prompt",
            "full_negative_prompt",
            "base_model",
            "base_model_hash",
            "clip_skip",
            "version",
            "vae",
        }
        return GenerationRecord.from_passes(
            (p,),
            generator=Generator.FOOOCUS,
            generator_name="Fooocus",
            generator_version=m.get("version"),
            prompt=m.get("prompt"),
            negative_prompt=m.get("negative_prompt"),
            encoded_prompt=_join(m.get("full_prompt")),
            encoded_negative_prompt=_join(m.get("full_negative_prompt")),
            seed_type=seed_type,
            final_width=w,
            final_height=h,
            clip_skip=to_int(m.get("clip_skip")),
            model=ModelRef(name=m.get("base_model"), hashes=hash_forms(m.get("base_model_hash"))),
            vae=ModelRef(name=str(m["vae"])) if m.get("vae") and m.get("vae") != "Default (model)" else None,
            adapters=tuple(loras),
            precision={k: str(m[k]) for k in ("sharpness", "adm_guidance", "adaptive_cfg") if k in m},
            extra={k: v for k, v in m.items() if k not in mapped},
            raw=dict(raw.fields),
        )

    def _mre(self, raw: RawMetadata) -> GenerationRecord:
        m = maybe_json(raw.fields.get("Comment", "") or raw.fields.get(JPEG_COMMENT, ""))
        if not isinstance(m, dict):
            raise fail(self.name, "Fooocus-MRE Comment is not JSON")
        seed, seed_type = seed_of(m.get("seed"))
        cs, csch = canonical_pair(m.get("sampler"), m.get("scheduler"))
        loras = [
            Adapter(kind="lora", name=str(m[f"l{i}"]), weight=to_float(m.get(f"w{i}")))
            for i in range(1, 6)
            if m.get(f"l{i}") not in (None, "None", "")
        ]
        w, h = to_int(m.get("width")), to_int(m.get("height"))
        p = SamplingPass(
            seed=seed,
            steps=to_int(m.get("steps")),
            cfg_scale=to_float(m.get("cfg")),
            sampler=m.get("sampler"),
            scheduler=m.get("scheduler"),
            canonical_sampler=cs,
            canonical_scheduler=csch,
            width=w,
            height=h,
        )
        return GenerationRecord.from_passes(
            (p,),
            generator=Generator.FOOOCUS,
            generator_name="Fooocus-MRE",
            generator_version=m.get("software"),
            prompt=m.get("prompt"),
            negative_prompt=m.get("negative_prompt"),
            encoded_prompt=m.get("p_txt"),
            encoded_negative_prompt=m.get("n_txt"),
            seed_type=seed_type,
            final_width=w,
            final_height=h,
            clip_skip=to_int(m.get("base_clip_skip")),
            model=ModelRef(name=m.get("base_model")),
            adapters=tuple(loras),
            extra=m,
            raw=dict(raw.fields),
        )


class RuinedFooocusReader:
    name: ClassVar[str] = "ruinedfooocus"
    carriers: ClassVar[frozenset[str]] = frozenset({"parameters", EXIF_USER_COMMENT})

    def accept(self, raw: RawMetadata) -> bool:
        text = raw.fields.get("parameters") or raw.fields.get(EXIF_USER_COMMENT) or ""
        return text.lstrip().startswith("{") and "RuinedFooocus" in text

    def parse(self, raw: RawMetadata) -> GenerationRecord:
        m = load_json(raw.fields.get("parameters") or raw.fields[EXIF_USER_COMMENT], self.name, "parameters")
        if not isinstance(m, dict):
            raise fail(self.name, "parameters is not a JSON object")
        seed, seed_type = seed_of(m.get("seed"))
        cs, csch = canonical_pair(m.get("sampler_name"), m.get("scheduler"))
        loras = []
        for item in m.get("loras") or []:
            if isinstance(item, (list, tuple)) and item:
                loras.append(
                    Adapter(kind="lora", name=str(item[0]), weight=to_float(item[1]) if len(item) > 1 else None)
                )
            elif isinstance(item, dict):
                loras.append(Adapter(kind="lora", name=str(item.get("name")), weight=to_float(item.get("weight"))))
            elif isinstance(item, str):
                try:
                    parsed = ast.literal_eval(item)
                except (ValueError, SyntaxError):
                    parsed = None
                if isinstance(parsed, (list, tuple)) and parsed:
                    loras.append(
                        Adapter(
                            kind="lora", name=str(parsed[0]), weight=to_float(parsed[1]) if len(parsed) > 1 else None
                        )
                    )
        w, h = to_int(m.get("width")), to_int(m.get("height"))
        p = SamplingPass(
            seed=seed,
            steps=to_int(m.get("steps")),
            cfg_scale=to_float(m.get("cfg")),
            sampler=m.get("sampler_name"),
            scheduler=m.get("scheduler"),
            canonical_sampler=cs,
            canonical_scheduler=csch,
            denoise=to_float(m.get("denoise")),
            width=w,
            height=h,
            start_step=to_int(m.get("start_step")),
        )
        mapped = {
            "Prompt",
            "Negative",
            "steps",
            "cfg",
            "width",
            "height",
            "seed",
            "sampler_name",
            "scheduler",
            "base_model_name",
            "base_model_hash",
            "loras",
            "denoise",
            "clip_skip",
            "start_step",
            "software",
        }
        return GenerationRecord.from_passes(
            (p,),
            generator=Generator.RUINEDFOOOCUS,
            generator_name="RuinedFooocus",
            prompt=m.get("Prompt"),
            negative_prompt=m.get("Negative"),
            seed_type=seed_type,
            final_width=w,
            final_height=h,
            clip_skip=to_int(m.get("clip_skip")),
            model=ModelRef(name=m.get("base_model_name"), hashes=hash_forms(m.get("base_model_hash"))),
            adapters=tuple(loras),
            extra={k: v for k, v in m.items() if k not in mapped},
            raw=dict(raw.fields),
        )
