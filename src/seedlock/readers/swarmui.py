"""SwarmUI: ``sui_image_params`` JSON in PNG ``parameters`` or EXIF UserComment
(UTF-16LE), legacy JSON in EXIF Model; a ComfyUI backend graph may sit beside it."""

from __future__ import annotations

from typing import Any, ClassVar

from seedlock.extract.raw import EXIF_MODEL, EXIF_USER_COMMENT, RawMetadata
from seedlock.readers._base import fail, load_json, seed_of, to_float, to_int
from seedlock.record import Adapter, GenerationRecord, Generator, ModelRef, SamplingPass
from seedlock.samplers import canonical_pair

_MAPPED = {
    "prompt",
    "negativeprompt",
    "model",
    "seed",
    "steps",
    "cfgscale",
    "width",
    "height",
    "sampler",
    "scheduler",
    "loras",
    "loraweights",
    "vae",
    "initimagecreativity",
    "variationseed",
    "variationseedstrength",
    "swarm_version",
    "clipstopatlayer",
    "batchsize",
}


def _carrier(raw: RawMetadata) -> str | None:
    for key in ("parameters", EXIF_USER_COMMENT, EXIF_MODEL):
        text = raw.fields.get(key, "")
        if "sui_image_params" in text[:200]:
            return key
    return None


def _sui_hash(value: Any) -> dict[str, str]:
    # SwarmUI writes the ModelSpec tensor hash: sha256 of the tensor data (AutoV3), 0x-prefixed
    if isinstance(value, str) and value.lower().startswith("0x") and len(value) == 66:
        return {"autov3": value[2:].lower()}
    return {}


class SwarmUIReader:
    name: ClassVar[str] = "swarmui"
    carriers: ClassVar[frozenset[str]] = frozenset({"parameters", EXIF_USER_COMMENT, EXIF_MODEL})

    def accept(self, raw: RawMetadata) -> bool:
        return _carrier(raw) is not None

    def parse(self, raw: RawMetadata) -> GenerationRecord:
        key = _carrier(raw)
        if key is None:
            raise fail(self.name, "no sui_image_params")
        data = load_json(raw.fields[key], self.name, key)
        if not isinstance(data, dict) or not isinstance(data.get("sui_image_params"), dict):
            raise fail(self.name, "sui_image_params is not an object")
        m = data["sui_image_params"]
        extra_data: dict[str, Any] = data["sui_extra_data"] if isinstance(data.get("sui_extra_data"), dict) else {}
        models: list[Any] = data["sui_models"] if isinstance(data.get("sui_models"), list) else []
        hashes: dict[str, dict[str, str]] = {}
        for item in models:
            if isinstance(item, dict):
                hashes[str(item.get("param"))] = _sui_hash(item.get("hash"))
        seed, seed_type = seed_of(m.get("seed"))
        cs, csch = canonical_pair(m.get("sampler"), m.get("scheduler"))
        w, h = to_int(m.get("width")), to_int(m.get("height"))
        loras = m.get("loras") or []
        weights = m.get("loraweights") or []
        adapters = tuple(
            Adapter(kind="lora", name=str(name), weight=to_float(weights[i]) if i < len(weights) else None)
            for i, name in enumerate(loras if isinstance(loras, list) else [])
        )
        creativity = to_float(m.get("initimagecreativity"))
        p = SamplingPass(
            seed=seed,
            steps=to_int(m.get("steps")),
            cfg_scale=to_float(m.get("cfgscale")),
            sampler=m.get("sampler"),
            scheduler=m.get("scheduler"),
            canonical_sampler=cs,
            canonical_scheduler=csch,
            width=w,
            height=h,
            denoise=creativity,
            kind="img2img" if creativity else "txt2img",
        )
        model = ModelRef(name=m.get("model"), hashes=hashes.get("model", {}))
        original = extra_data.get("original_prompt", m.get("original_prompt"))
        clip = to_int(m.get("clipstopatlayer"))
        return GenerationRecord.from_passes(
            (p,),
            generator=Generator.SWARMUI,
            generator_name="SwarmUI",
            generator_version=m.get("swarm_version"),
            prompt=original if isinstance(original, str) else m.get("prompt"),
            negative_prompt=m.get("negativeprompt"),
            encoded_prompt=m.get("prompt") if isinstance(original, str) and original != m.get("prompt") else None,
            seed_type=seed_type,
            variation_seed=to_int(m.get("variationseed")),
            variation_strength=to_float(m.get("variationseedstrength")),
            final_width=w,
            final_height=h,
            clip_skip=-clip if clip and clip < 0 else None,
            model=model,
            vae=ModelRef(name=str(m["vae"])) if m.get("vae") else None,
            adapters=adapters,
            batch_size=to_int(m.get("batchsize")),
            extra={k: v for k, v in m.items() if k not in _MAPPED} | {"sui_extra_data": extra_data},
            raw=dict(raw.fields),
        )
