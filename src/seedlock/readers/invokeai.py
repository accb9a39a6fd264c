"""InvokeAI, all three generations: ``invokeai_metadata`` (3.x+), ``sd-metadata`` (2.x
JSON) and ``Dream`` (the 1.x/2.x command line)."""

from __future__ import annotations

import re
import shlex
from typing import Any, ClassVar

from seedlock.extract.raw import RawMetadata
from seedlock.readers._base import fail, hash_forms, load_json, seed_of, to_float, to_int
from seedlock.record import Adapter, GenerationRecord, Generator, ModelRef, PostProcess, SamplingPass
from seedlock.samplers import canonical_pair

_CORE = {
    "generation_mode",
    "positive_prompt",
    "negative_prompt",
    "width",
    "height",
    "seed",
    "rand_device",
    "cfg_scale",
    "steps",
    "scheduler",
    "model",
    "vae",
    "loras",
    "clip_skip",
    "strength",
    "app_version",
    "controlnets",
    "ipAdapters",
    "t2iAdapters",
}


def _model(value: Any) -> ModelRef | None:
    if isinstance(value, dict):
        name = value.get("name") or value.get("model_name")
        return ModelRef(name=name, hashes=hash_forms(value.get("hash")) if value.get("hash") else {})
    if isinstance(value, str):
        return ModelRef(name=value)
    return None


def _split_negative(prompt: str) -> tuple[str, str]:
    """InvokeAI 2.x kept the negative prompt inside the prompt as [bracketed] text."""
    negatives = re.findall(r"\[([^\[\]]*)\]", prompt)
    positive = re.sub(r"\s*\[[^\[\]]*\]", "", prompt).strip()
    return positive, ", ".join(n.strip() for n in negatives)


#: Dream's two-letter short options, which are not a one-letter flag with its value attached
_DREAM_LONG_SHORT = frozenset({"-cf", "-ft", "-tm", "-hr"})


class InvokeAIReader:
    name: ClassVar[str] = "invokeai"
    carriers: ClassVar[frozenset[str]] = frozenset({"invokeai_metadata", "sd-metadata", "Dream"})

    def accept(self, raw: RawMetadata) -> bool:
        f = raw.fields
        return "invokeai_metadata" in f or "sd-metadata" in f or "Dream" in f

    def parse(self, raw: RawMetadata) -> GenerationRecord:
        f = raw.fields
        if "invokeai_metadata" in f:
            return self._v3(load_json(f["invokeai_metadata"], self.name, "invokeai_metadata"), raw)
        if "sd-metadata" in f:
            return self._v2(load_json(f["sd-metadata"], self.name, "sd-metadata"), raw)
        return self._dream(f["Dream"], raw)

    def _v3(self, m: Any, raw: RawMetadata) -> GenerationRecord:
        if not isinstance(m, dict):
            raise fail(self.name, "invokeai_metadata is not a JSON object")
        seed, seed_type = seed_of(m.get("seed"))
        sched = m.get("scheduler")
        cs, csch = canonical_pair(sched, None, style="invokeai")
        adapters: list[Adapter] = []
        for lora in m.get("loras") or []:
            if isinstance(lora, dict):
                mr = _model(lora.get("model") or lora.get("lora"))
                adapters.append(
                    Adapter(
                        kind="lora",
                        name=(mr.name if mr else None) or "?",
                        hashes=mr.hashes if mr else {},
                        weight=to_float(lora.get("weight")),
                    )
                )
        for key, kind, model_key in (
            ("controlnets", "controlnet", "control_model"),
            ("ipAdapters", "ip-adapter", "ip_adapter_model"),
            ("t2iAdapters", "t2i-adapter", "t2i_adapter_model"),
        ):
            for item in m.get(key) or []:
                if isinstance(item, dict):
                    mr = _model(item.get(model_key))
                    adapters.append(
                        Adapter(
                            kind=kind,
                            name=(mr.name if mr else None) or "?",
                            hashes=mr.hashes if mr else {},
                            weight=to_float(item.get("weight") or item.get("control_weight")),
                            params={k: v for k, v in item.items() if k in ("begin_step_percent", "end_step_percent")},
                        )
                    )
        if m.get("refiner_model"):
            rm = _model(m.get("refiner_model"))
            if rm and rm.name:
                adapters.append(
                    Adapter(
                        kind="refiner",
                        name=rm.name,
                        hashes=rm.hashes,
                        params={"start": to_float(m.get("refiner_start"))},
                    )
                )
        strength = to_float(m.get("strength"))
        mode = str(m.get("generation_mode") or "txt2img")
        p = SamplingPass(
            kind="img2img" if "img2img" in mode else "inpaint" if "inpaint" in mode else "txt2img",
            seed=seed,
            steps=to_int(m.get("steps")),
            cfg_scale=to_float(m.get("cfg_scale")),
            sampler=sched,
            canonical_sampler=cs,
            canonical_scheduler=csch,
            denoise=strength if "txt2img" not in mode else None,
            width=to_int(m.get("width")),
            height=to_int(m.get("height")),
        )
        passes = [p]
        if m.get("hrf_enabled"):
            passes.append(
                SamplingPass(
                    kind="hires",
                    seed=seed,
                    steps=p.steps,
                    cfg_scale=p.cfg_scale,
                    sampler=sched,
                    canonical_sampler=cs,
                    canonical_scheduler=csch,
                    denoise=to_float(m.get("hrf_strength")),
                )
            )
        rand = m.get("rand_device")
        style_pos, style_neg = m.get("positive_style_prompt"), m.get("negative_style_prompt")
        clip_skip = to_int(m.get("clip_skip"))
        return GenerationRecord.from_passes(
            tuple(passes),
            generator=Generator.INVOKEAI,
            generator_name="InvokeAI",
            generator_version=m.get("app_version"),
            prompt=m.get("positive_prompt"),
            negative_prompt=m.get("negative_prompt"),
            encoded_prompt=None,
            encoded_negative_prompt=None,
            seed_type=seed_type,
            rng=str(rand).upper().replace("CUDA", "GPU") if rand else None,
            final_width=p.width,
            final_height=p.height,
            # InvokeAI counts skipped layers; A1111's convention counts from 1
            clip_skip=clip_skip + 1 if clip_skip else None,
            model=_model(m.get("model")),
            vae=_model(m.get("vae")),
            adapters=tuple(adapters),
            precision={"cfg_rescale_multiplier": str(m["cfg_rescale_multiplier"])}
            if m.get("cfg_rescale_multiplier")
            else {},
            extra={k: v for k, v in m.items() if k not in _CORE}
            | ({"positive_style_prompt": style_pos} if style_pos else {})
            | ({"negative_style_prompt": style_neg} if style_neg else {}),
            raw=dict(raw.fields),
        )

    def _v2(self, m: Any, raw: RawMetadata) -> GenerationRecord:
        if not isinstance(m, dict) or not isinstance(m.get("image"), dict):
            raise fail(self.name, "sd-metadata has no image object")
        img = m["image"]
        prompts = img.get("prompt")
        text = (
            prompts[0].get("prompt", "")
            if isinstance(prompts, list) and prompts and isinstance(prompts[0], dict)
            else str(prompts or "")
        )
        positive, negative = _split_negative(text)
        seed, seed_type = seed_of(img.get("seed"))
        cs, csch = canonical_pair(img.get("sampler"), None, style="invokeai")
        post = []
        for pp in img.get("postprocessing") or []:
            if isinstance(pp, dict):
                kind = {"gfpgan": "face_restore", "codeformer": "face_restore", "esrgan": "upscale"}.get(
                    str(pp.get("type")), "postprocess"
                )
                post.append(PostProcess(kind=kind, name=str(pp.get("type")), params=pp))
        w, h = to_int(img.get("width")), to_int(img.get("height"))
        final_w, final_h = w, h
        for pp in post:
            scale = to_float(pp.params.get("scale"))
            if pp.kind == "upscale" and scale and w and h:
                final_w, final_h = int(w * scale), int(h * scale)
        p = SamplingPass(
            kind=str(img.get("type") or "txt2img"),
            seed=seed,
            steps=to_int(img.get("steps")),
            cfg_scale=to_float(img.get("cfg_scale")),
            sampler=img.get("sampler"),
            canonical_sampler=cs,
            canonical_scheduler=csch,
            denoise=to_float(img.get("strength")),
            width=w,
            height=h,
        )
        return GenerationRecord.from_passes(
            (p,),
            generator=Generator.INVOKEAI,
            generator_name="InvokeAI",
            generator_version=m.get("app_version"),
            prompt=positive,
            negative_prompt=negative,
            encoded_prompt=text,
            seed_type=seed_type,
            final_width=final_w,
            final_height=final_h,
            # InvokeAI 1.x names the model only by model_id
            model=ModelRef(name=m.get("model_weights") or m.get("model_id"), hashes=hash_forms(m.get("model_hash"))),
            postprocessing=tuple(post),
            extra={
                k: v
                for k, v in img.items()
                if k
                not in (
                    "prompt",
                    "seed",
                    "steps",
                    "cfg_scale",
                    "sampler",
                    "width",
                    "height",
                    "postprocessing",
                    "type",
                    "strength",
                )
            },
            raw=dict(raw.fields),
        )

    def _dream(self, text: str, raw: RawMetadata) -> GenerationRecord:
        try:
            args = shlex.split(text)
        except ValueError as exc:
            raise fail(self.name, f"Dream line does not parse ({exc})") from None
        if not args:
            raise fail(self.name, "empty Dream line")
        prompt = args[0]
        opts: dict[str, list[str]] = {}
        key = None
        for a in args[1:]:
            if a.startswith("--") and "=" in a:
                # --steps=50
                name, _, value = a.partition("=")
                opts[name] = [value]
                key = None
            elif re.match(r"^-{1,2}[A-Za-z]", a):
                if not a.startswith("--") and len(a) > 2 and a not in _DREAM_LONG_SHORT:
                    # old Dream lines attach the value: -s50 -W512 -Ak_lms -S777
                    key = a[:2]
                    opts[key] = [a[2:]]
                    continue
                key = a
                opts[key] = []
            elif key:
                opts[key].append(a)

        def one(*names: str) -> str | None:
            for n in names:
                if opts.get(n):
                    return opts[n][0]
            return None

        positive, negative = _split_negative(prompt)
        seed, seed_type = seed_of(one("-S", "--seed"))
        w, h = to_int(one("-W", "--width")), to_int(one("-H", "--height"))
        sampler = one("-A", "--sampler")
        cs, csch = canonical_pair(sampler, None, style="invokeai")
        post = []
        if one("-G", "--gfpgan_strength"):
            post.append(
                PostProcess(
                    kind="face_restore",
                    name="gfpgan",
                    params={"strength": to_float(one("-G")), "codeformer_fidelity": to_float(one("-cf"))},
                )
            )
        final_w, final_h = w, h
        if opts.get("-U"):
            scale = to_float(opts["-U"][0])
            post.append(
                PostProcess(
                    kind="upscale",
                    name="esrgan",
                    params={"scale": scale, "strength": to_float(opts["-U"][1]) if len(opts["-U"]) > 1 else None},
                )
            )
            if scale and w and h:
                final_w, final_h = int(w * scale), int(h * scale)
        p = SamplingPass(
            seed=seed,
            steps=to_int(one("-s", "--steps")),
            cfg_scale=to_float(one("-C", "--cfg_scale")),
            sampler=sampler,
            canonical_sampler=cs,
            canonical_scheduler=csch,
            denoise=to_float(one("-f", "--strength")),
            width=w,
            height=h,
            kind="img2img" if one("-I", "--init_img") else "txt2img",
        )
        return GenerationRecord.from_passes(
            (p,),
            generator=Generator.INVOKEAI,
            generator_name="InvokeAI (Dream)",
            prompt=positive,
            negative_prompt=negative,
            encoded_prompt=prompt,
            seed_type=seed_type,
            final_width=final_w,
            final_height=final_h,
            postprocessing=tuple(post),
            variation_strength=to_float(one("-v", "--variation_amount")),
            extra={
                k: v for k, v in opts.items() if k not in ("-S", "-W", "-H", "-A", "-s", "-C", "-G", "-cf", "-U", "-f")
            },
            raw=dict(raw.fields),
        )
