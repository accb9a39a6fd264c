"""AUTOMATIC1111 and its forks (Forge, reForge, EasyReforge, Forge Classic/Neo, SD.Next),
plus every tool that writes A1111-style infotext (ComfyUI savers, PaddleNLP).

Carriers: PNG ``parameters``, JPEG/WebP EXIF UserComment, JPEG COM, stealth LSB text.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from seedlock.extract.raw import EXIF_USER_COMMENT, JPEG_COMMENT, STEALTH, RawMetadata
from seedlock.readers._base import fail, hash_forms, maybe_json, seed_of, size_of, to_float, to_int
from seedlock.readers.infotext import EXTRA_NETWORK, looks_like_infotext, parse_params, split_infotext
from seedlock.record import (
    Adapter,
    GenerationRecord,
    Generator,
    ModelRef,
    PostProcess,
    SamplingPass,
)
from seedlock.samplers import canonical_pair

_CARRIERS = ("parameters", EXIF_USER_COMMENT, STEALTH, JPEG_COMMENT)
_CONTROLNET = re.compile(r"^ControlNet( \d+)?$")
_FORGE = re.compile(r"^f\d")
_EASYREFORGE = re.compile(r"^f1\.[3-9]\.\d+-v")
_DECIMAL = re.compile(r"-?\d+")
_HIRES_KEYS = frozenset({"Hires upscale", "Hires resize-1", "Hires steps", "Hires upscaler", "Hires size-1"})
_PRECISION_KEYS = (
    "FP8 weight",
    "Cache FP16 weight for LoRA",
    "Diffusion in Low Bits",
    "Token merging ratio",
    "Token merging ratio hr",
    "Emphasis",
    "Pad conds",
    "Pad conds v0",
    "NGMS",
    "Skip Early CFG",
    "VAE Encoder",
    "VAE Decoder",
    "Downcast alphas_cumprod",
    "Old prompt editing timelines",
    "Refiner switch by sampling steps",
    "Tiling",
)
_PRECISION_SET = frozenset(_PRECISION_KEYS)
#: keys consumed into typed fields (everything else goes to ``extra``)
_MAPPED = {
    "Steps",
    "Sampler",
    "Schedule type",
    "CFG scale",
    "Seed",
    "Size-1",
    "Size-2",
    "Size",
    "Model hash",
    "Model",
    "VAE hash",
    "VAE",
    "Variation seed",
    "Variation seed strength",
    "Denoising strength",
    "Clip skip",
    "ENSD",
    "RNG",
    "Face restoration",
    "Version",
    "Hires upscale",
    "Hires resize-1",
    "Hires resize-2",
    "Hires steps",
    "Hires upscaler",
    "Hires sampler",
    "Hires schedule type",
    "Hires CFG Scale",
    "Hires checkpoint",
    "Hires prompt",
    "Hires negative prompt",
    "Lora hashes",
    "TI hashes",
    "Hashes",
    "App",
    "Sampler sigma",
    "Hires size-1",
    "Hires size-2",
    "Hires scale",
    "Batch size",
    "Batch pos",
    "Refiner",
    "Refiner switch at",
    "Model name",
    "width",
    "height",
    "model_name",
    *_PRECISION_KEYS,
}


def carrier(raw: RawMetadata) -> tuple[str, str] | None:
    """The first field that holds infotext, as (key, text)."""
    for key in _CARRIERS:
        text = raw.fields.get(key)
        if text and looks_like_infotext(text) and not (text.lstrip().startswith("{") and maybe_json(text) is not None):
            return key, text
    return None


def _tool_name(params: dict[str, Any]) -> tuple[str | None, str | None]:
    version = params.get("Version")
    app = params.get("App")
    if app:
        return str(app), version
    if not isinstance(version, str):
        return None, None
    if version == "ComfyUI":
        return "ComfyUI", None
    if version in ("classic", "neo"):
        return f"Forge {version.capitalize()}", version
    if _FORGE.match(version):
        if "v2-" in version or ("RC-latest" in version and version.startswith("f1.0.0v2")):
            return "reForge", version
        if _EASYREFORGE.match(version):
            return "EasyReforge", version
        return "Forge", version
    if version.startswith("v"):
        return "AUTOMATIC1111", version
    return None, version


def _adapters(prompt: str, params: dict[str, Any]) -> list[Adapter]:
    lora_hashes: dict[str, str] = {}
    raw_hashes = params.get("Lora hashes")
    if isinstance(raw_hashes, str):
        for item in raw_hashes.split(","):
            name, _, h = item.rpartition(":")
            if name.strip():
                lora_hashes[name.strip()] = h.strip()
    civitai_hashes = params.get("Hashes") if isinstance(params.get("Hashes"), dict) else {}
    out: list[Adapter] = []
    seen: set[str] = set()
    for kind, name, args in EXTRA_NETWORK.findall(prompt) if "<" in prompt else ():
        weights = [to_float(a) for a in args.split(":")[1:] if a and "=" not in a]
        named = dict(a.split("=", 1) for a in args.split(":")[1:] if "=" in a)
        w_te = weights[0] if weights else to_float(named.get("te", 1.0))
        w_unet = weights[1] if len(weights) > 1 else to_float(named.get("unet", w_te))
        hashes = hash_forms(lora_hashes.get(name, ""), lora=True)
        ch = civitai_hashes.get(f"lora:{name}") if isinstance(civitai_hashes, dict) else None
        if ch:
            hashes.update(hash_forms(ch, lora=True))
        akind = {"lora": "lora", "lyco": "lycoris", "hypernet": "hypernetwork"}[kind]
        out.append(Adapter(kind=akind, name=name, hashes=hashes, weight=w_unet, weight_clip=w_te))
        seen.add(name)
    for name, h in lora_hashes.items():
        if name not in seen:
            out.append(Adapter(kind="lora", name=name, hashes=hash_forms(h, lora=True)))
    ti = params.get("TI hashes")
    if isinstance(ti, str):
        for item in ti.split(","):
            name, _, h = item.rpartition(":")
            if name.strip():
                out.append(Adapter(kind="embedding", name=name.strip(), hashes=hash_forms(h.strip())))
    elif isinstance(params.get("TI"), str):
        for name in params["TI"].split(","):
            if name.strip():
                out.append(Adapter(kind="embedding", name=name.strip()))
    if params.get("Refiner"):
        name = str(params["Refiner"])
        m = re.match(r"^(.*?)\s*\[([0-9a-fA-F]+)\]$", name)
        out.append(
            Adapter(
                kind="refiner",
                name=m.group(1) if m else name,
                hashes=hash_forms(m.group(2)) if m else {},
                params={"switch_at": to_float(params.get("Refiner switch at"))},
            )
        )
    for key, value in params.items():
        if key.startswith("ControlNet") and _CONTROLNET.match(key) and isinstance(value, str):
            cn = parse_params(value)
            out.append(
                Adapter(
                    kind="controlnet",
                    name=str(cn.get("Model") or cn.get("model") or key),
                    weight=to_float(cn.get("Weight") or cn.get("weight")),
                    params=cn,
                )
            )
    return out


def _postprocessing(params: dict[str, Any], raw: RawMetadata) -> list[PostProcess]:
    out: list[PostProcess] = []
    if params.get("Face restoration"):
        out.append(PostProcess(kind="face_restore", name=str(params["Face restoration"])))
    ad = {k: v for k, v in params.items() if k.startswith("ADetailer")}
    if ad:
        out.append(PostProcess(kind="adetailer", name=str(ad.get("ADetailer model")), params=ad))
    for key in ("extras", "postprocessing"):
        text = raw.fields.get(key)
        if not text:
            continue
        for line in text.replace("\r\n", "\n").strip().split("\n"):
            p = parse_params(line.replace("model:", "model: "))
            if not p:
                continue
            upscaler = p.get("model") or p.get("Postprocess upscaler") or p.get("Upscaler 1")
            kind = "upscale" if ("Upscale" in p or "Postprocess upscale by" in p or upscaler) else "postprocess"
            out.append(PostProcess(kind=kind, name=str(upscaler) if upscaler else None, params=p))
    return out


def record_from_infotext(
    text: str,
    raw: RawMetadata,
    *,
    generator: Generator = Generator.A1111,
    carrier_key: str = "parameters",
) -> GenerationRecord:
    """Build a record from A1111-style infotext (used by several readers)."""
    prompt, negative, params = split_infotext(text)
    if not params:
        raise fail("a1111", "no parameter line (Steps/Sampler/Seed) found")
    get = params.get
    name, version = _tool_name(params)
    seed, seed_type = seed_of(get("Seed"))
    if seed_type == "str" and _DECIMAL.fullmatch(str(get("Seed")).strip()):
        seed_type = "int"  # infotext is all text; a plain decimal is how A1111 writes an int
    width = to_int(get("Size-1"))
    height = to_int(get("Size-2"))
    if width is None:
        width, height = size_of(get("Size"))
    steps = to_int(get("Steps"))
    cfg = to_float(get("CFG scale"))
    sampler = get("Sampler")
    schedule = get("Schedule type") or get("Sampler sigma")
    style = "a1111" if not get("Sampler sigma") else "sdnext"
    cs, csch = canonical_pair(sampler, schedule, style=style, version=version)
    if style == "sdnext" and csch is None:
        csch = "default"
    denoise = to_float(get("Denoising strength"))
    hires = not _HIRES_KEYS.isdisjoint(params)
    passes = [
        SamplingPass(
            kind="txt2img" if hires or denoise is None else "img2img",
            seed=seed,
            steps=steps,
            cfg_scale=cfg,
            sampler=sampler,
            scheduler=schedule,
            canonical_sampler=cs,
            canonical_scheduler=csch,
            denoise=None if hires else denoise,
            width=width,
            height=height,
        )
    ]
    final_w, final_h = width, height
    if hires and width and height:
        hw = to_int(get("Hires resize-1")) or to_int(get("Hires size-1"))
        hh = to_int(get("Hires resize-2")) or to_int(get("Hires size-2"))
        scale = to_float(get("Hires upscale") or get("Hires scale"))
        if not hw and scale:
            hw, hh = int(width * scale), int(height * scale)
        h_sampler = get("Hires sampler")
        if not h_sampler or h_sampler == "Use same sampler":
            h_sampler = sampler
        h_sched = get("Hires schedule type") or schedule
        hcs, hcsch = canonical_pair(h_sampler, h_sched, style=style, version=version)
        h_model = get("Hires checkpoint")
        passes.append(
            SamplingPass(
                kind="hires",
                seed=seed,
                steps=to_int(get("Hires steps")) or steps,
                cfg_scale=to_float(get("Hires CFG Scale")) or cfg,
                sampler=h_sampler,
                scheduler=h_sched,
                canonical_sampler=hcs,
                canonical_scheduler=hcsch,
                denoise=denoise,
                width=hw,
                height=hh,
                model=None if not h_model or h_model == "Use same checkpoint" else str(h_model),
                prompt=get("Hires prompt") or None,
                negative_prompt=get("Hires negative prompt") or None,
                upscaler=str(get("Hires upscaler")) if get("Hires upscaler") else None,
            )
        )
        final_w, final_h = hw, hh
    model_hashes = hash_forms(get("Model hash"))
    civitai = get("Hashes") if isinstance(get("Hashes"), dict) else {}
    if isinstance(civitai, dict) and civitai.get("model"):
        model_hashes.update(hash_forms(civitai["model"]))
    model_name = get("Model") or get("model_name")
    model = (
        ModelRef(name=str(model_name) if model_name else None, hashes=model_hashes)
        if (model_name or model_hashes)
        else None
    )
    vae = None
    if get("VAE") or get("VAE hash"):
        vae = ModelRef(name=get("VAE"), hashes=hash_forms(get("VAE hash")))
    precision = {k: str(v) for k, v in params.items() if k in _PRECISION_SET}
    extra = {k: v for k, v in params.items() if k not in _MAPPED}
    raw_text = dict(raw.fields)
    clip_skip = to_int(get("Clip skip"))
    return GenerationRecord.from_passes(
        tuple(passes),
        generator=generator,
        generator_name=name,
        generator_version=version,
        prompt=prompt,
        negative_prompt=negative if negative is not None else "",
        seed_type=seed_type,
        variation_seed=to_int(get("Variation seed")),
        variation_strength=to_float(get("Variation seed strength")),
        rng=get("RNG"),
        ensd=to_int(get("ENSD")),
        final_width=final_w,
        final_height=final_h,
        clip_skip=clip_skip,
        model=model,
        vae=vae,
        adapters=tuple(_adapters(prompt, params)),
        postprocessing=tuple(_postprocessing(params, raw)),
        precision=precision,
        batch_size=to_int(get("Batch size")),
        batch_index=to_int(get("Batch pos")),
        extra=extra,
        raw=raw_text,
    )


class A1111Reader:
    """A1111-family infotext in any carrier."""

    name: ClassVar[str] = "a1111"
    carriers: ClassVar[frozenset[str]] = frozenset(_CARRIERS)

    def accept(self, raw: RawMetadata) -> bool:
        return carrier(raw) is not None

    def parse(self, raw: RawMetadata) -> GenerationRecord:
        found = carrier(raw)
        if found is None:
            raise fail(self.name, "no infotext found")
        return record_from_infotext(found[1], raw, carrier_key=found[0])


class PaddleReader:
    """PaddleNLP/ppdiffusers: A1111-looking text, but one parameter per line."""

    name: ClassVar[str] = "paddlenlp"
    carriers: ClassVar[frozenset[str]] = frozenset({"parameters"})

    def accept(self, raw: RawMetadata) -> bool:
        return raw.fields.get("Software", "").startswith("PaddleNLP") and "parameters" in raw.fields

    def parse(self, raw: RawMetadata) -> GenerationRecord:
        text = raw.fields["parameters"].replace("\r\n", "\n").strip()
        lines = text.split("\n")
        params: dict[str, str] = {}
        while lines and re.match(r"^[\w \-]+: ", lines[-1]) and not lines[-1].startswith("Negative prompt:"):
            key, _, value = lines.pop().partition(": ")
            params[key.strip()] = value.strip()
        if not params:
            raise fail(self.name, "no parameter lines")
        params = dict(reversed(list(params.items())))
        infotext = "\n".join(lines) + "\n" + ", ".join(f"{k}: {v}" for k, v in params.items() if "," not in v)
        rec = record_from_infotext(infotext, raw)
        width, height = to_int(params.get("width")), to_int(params.get("height"))
        first = rec.passes[0].__class__(**{**rec.passes[0].to_dict(), "width": width, "height": height})
        return rec.replace(
            generator_name="PaddleNLP",
            width=width,
            height=height,
            final_width=width,
            final_height=height,
            passes=(first, *rec.passes[1:]),
        )
