"""Easy Diffusion: one PNG text chunk per request field (values are Python ``str()``),
or the same dict as JSON in EXIF UserComment; display-label keys when "txt" is on."""

from __future__ import annotations

from typing import Any, ClassVar

from seedlock.extract.raw import EXIF_USER_COMMENT, RawMetadata
from seedlock.readers._base import fail, maybe_json, seed_of, to_float, to_int
from seedlock.record import Adapter, GenerationRecord, Generator, ModelRef, PostProcess, SamplingPass
from seedlock.samplers import canonical_pair

_LABELS = {
    "Prompt": "prompt",
    "Negative Prompt": "negative_prompt",
    "Seed": "seed",
    "Stable Diffusion model": "use_stable_diffusion_model",
    "Clip Skip": "clip_skip",
    "VAE model": "use_vae_model",
    "Sampler": "sampler_name",
    "Width": "width",
    "Height": "height",
    "Steps": "num_inference_steps",
    "Guidance Scale": "guidance_scale",
    "Prompt Strength": "prompt_strength",
    "LoRA model": "use_lora_model",
    "LoRA Strength": "lora_alpha",
    "Hypernetwork model": "use_hypernetwork_model",
    "Hypernetwork Strength": "hypernetwork_strength",
    "Face Correction": "use_face_correction",
    "Upscaling": "use_upscale",
}
_MAPPED = set(_LABELS.values()) | {"upscale_amount"}


def _fields(raw: RawMetadata) -> dict[str, Any] | None:
    f = raw.fields
    if "use_stable_diffusion_model" in f or "Stable Diffusion model" in f:
        return {_LABELS.get(k, k): v for k, v in f.items()}
    data = maybe_json(f.get(EXIF_USER_COMMENT, ""))
    if isinstance(data, dict) and ("use_stable_diffusion_model" in data or "Stable Diffusion model" in data):
        return {_LABELS.get(str(k), str(k)): v for k, v in data.items()}
    return None


def _none(v: Any) -> Any:
    return None if v in (None, "None", "", "none") else v


class EasyDiffusionReader:
    name: ClassVar[str] = "easydiffusion"
    carriers: ClassVar[frozenset[str]] = frozenset(
        {"use_stable_diffusion_model", "Stable Diffusion model", EXIF_USER_COMMENT}
    )

    def accept(self, raw: RawMetadata) -> bool:
        return _fields(raw) is not None

    def parse(self, raw: RawMetadata) -> GenerationRecord:
        m = _fields(raw)
        if m is None:
            raise fail(self.name, "no Easy Diffusion fields")
        seed, seed_type = seed_of(m.get("seed"))
        sampler = _none(m.get("sampler_name"))
        cs, csch = canonical_pair(sampler, None)
        w, h = to_int(m.get("width")), to_int(m.get("height"))
        strength = to_float(_none(m.get("prompt_strength")))
        adapters: list[Adapter] = []
        lora = _none(m.get("use_lora_model"))
        if lora:
            names = lora if isinstance(lora, list) else [s.strip(" '\"") for s in str(lora).strip("[]").split(",")]
            alphas = m.get("lora_alpha")
            weights = (
                alphas
                if isinstance(alphas, list)
                else [to_float(a.strip(" '\"")) for a in str(alphas or "").strip("[]").split(",")]
            )
            for i, n in enumerate(names):
                if n:
                    adapters.append(Adapter(kind="lora", name=n, weight=weights[i] if i < len(weights) else None))
        hn = _none(m.get("use_hypernetwork_model"))
        if hn:
            adapters.append(Adapter(kind="hypernetwork", name=str(hn), weight=to_float(m.get("hypernetwork_strength"))))
        post = []
        if _none(m.get("use_face_correction")):
            post.append(PostProcess(kind="face_restore", name=str(m["use_face_correction"])))
        if _none(m.get("use_upscale")):
            post.append(
                PostProcess(kind="upscale", name=str(m["use_upscale"]), params={"amount": m.get("upscale_amount")})
            )
        p = SamplingPass(
            seed=seed,
            steps=to_int(m.get("num_inference_steps")),
            cfg_scale=to_float(m.get("guidance_scale")),
            sampler=sampler,
            canonical_sampler=cs,
            canonical_scheduler=csch,
            width=w,
            height=h,
            denoise=strength,
            kind="img2img" if strength else "txt2img",
        )
        vae = _none(m.get("use_vae_model"))
        return GenerationRecord.from_passes(
            (p,),
            generator=Generator.EASYDIFFUSION,
            generator_name="Easy Diffusion",
            prompt=m.get("prompt"),
            negative_prompt=m.get("negative_prompt"),
            seed_type=seed_type,
            final_width=w,
            final_height=h,
            clip_skip=2
            if str(m.get("clip_skip")) == "True"
            else to_int(m.get("clip_skip"))
            if str(m.get("clip_skip")).isdigit()
            else None,
            model=ModelRef(name=str(m["use_stable_diffusion_model"]))
            if _none(m.get("use_stable_diffusion_model"))
            else None,
            vae=ModelRef(name=str(vae)) if vae else None,
            adapters=tuple(adapters),
            postprocessing=tuple(post),
            extra={k: v for k, v in m.items() if k not in _MAPPED},
            raw=dict(raw.fields),
        )
