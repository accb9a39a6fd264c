"""A ComfyUI API graph run by seedlock, without ComfyUI, for the node set it mirrors exactly.

Supported: CheckpointLoaderSimple, LoraLoader, LoraLoaderModelOnly, CLIPSetLastLayer,
CLIPTextEncode, EmptyLatentImage, LoadImage, ImageScale, ImageScaleBy, VAEEncode,
VAEEncodeForInpaint, SetLatentNoiseMask, KSampler, KSamplerAdvanced, LatentUpscale,
LatentUpscaleBy, VAEDecode, SaveImage and PreviewImage: txt2img, img2img, inpainting,
LoRAs, and hires passes in latent or pixel space; and the custom-sampling set SamplerCustom,
KSamplerSelect, BasicScheduler, KarrasScheduler and ExponentialScheduler. Anything else is refused with the node
named, rather than run approximately. Latents travel as ComfyUI's LATENT dicts
(``samples`` and an optional ``noise_mask``). The saved image's pixels are what
ComfyUI's SaveImage writes: the decoded image clamped, scaled by 255 and truncated.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from seedlock.errors import ReplayRefused

__all__ = ["SUPPORTED", "GraphRun", "run_graph"]

SUPPORTED = frozenset({
    "CheckpointLoaderSimple", "LoraLoader", "LoraLoaderModelOnly", "CLIPSetLastLayer", "CLIPTextEncode",
    "EmptyLatentImage", "LoadImage", "ImageScale", "ImageScaleBy", "VAEEncode", "VAEEncodeForInpaint",
    "SetLatentNoiseMask", "KSampler", "KSamplerAdvanced", "LatentUpscale", "LatentUpscaleBy", "VAEDecode",
    "SaveImage", "PreviewImage", "SamplerCustom", "KSamplerSelect", "BasicScheduler", "KarrasScheduler",
    "ExponentialScheduler",
})  # fmt: skip
#: what a graph names that lives outside it: a checkpoint, a LoRA, an input image
Resolve = Callable[[str, str], "str | os.PathLike[str]"]


@dataclass
class GraphRun:
    """The pixels of each saved image (HxWx3 uint8), and the stage trace of the run."""

    images: dict[str, Any]
    #: stage -> sha256 of its tensor bytes: text embeddings, noise, each step's model output, latents, decode
    trace: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


#: the last checkpoint loaded, by (path, size, mtime): a batch of replays loads it once
_LOADED: dict[tuple[str, int, int], Any] = {}
#: prompt encodings of the loaded checkpoint, as ComfyUI keeps a text encoder's output for
#: unchanged inputs (a pure function of the weights, the text and the layer)
_ENCODED: dict[tuple[int, str, int], Any] = {}
_TOKENIZER: list[Any] = []


def _cached_model(path: str | os.PathLike[str], load: Callable[[str | os.PathLike[str]], Any]) -> Any:
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    if key not in _LOADED:
        _LOADED.clear()
        _ENCODED.clear()
        _LOADED[key] = load(path)
    return _LOADED[key]


def _sha(t: Any) -> str:
    import hashlib

    return hashlib.sha256(t.detach().contiguous().numpy().tobytes()).hexdigest()


def run_graph(
    graph: Mapping[str, Mapping[str, Any]],
    resolve: Resolve,
    *,
    threads: int | None = None,
    on_step: Callable[[str, int], None] | None = None,
) -> GraphRun:
    """Evaluate every SaveImage/PreviewImage of ``graph``.

    Args:
        resolve: (kind, name in the graph) -> its file; kind is checkpoint, lora or input.
        threads: torch CPU threads (ComfyUI's result depends on the count it ran with).

    Raises:
        ReplayRefused: a node type outside :data:`SUPPORTED`, or a model family not mirrored.
    """
    import torch

    from seedlock.replay import comfy_sampling as cs
    from seedlock.replay.comfy_images import encode_for_inpaint, load_image, upscale, vae_encode
    from seedlock.replay.comfy_lora import apply_lora, read_lora
    from seedlock.replay.comfy_model import load_comfy_model
    from seedlock.replay.comfy_text import encode_prompt

    unknown = sorted({f"{n['class_type']} (node {nid})" for nid, n in graph.items() if n["class_type"] not in SUPPORTED})
    if unknown:
        raise ReplayRefused(f"no exact replay for {', '.join(unknown)}")
    for node in graph.values():
        for v in node["inputs"].values():
            if isinstance(v, list) and len(v) == 2 and v[1] == 1 and graph.get(str(v[0]), {}).get("class_type") == "SamplerCustom":
                raise ReplayRefused(f"SamplerCustom's denoised_output (node {v[0]}) is not mirrored")
    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    trace: dict[str, str] = {}
    cache: dict[str, tuple[Any, ...]] = {}
    models: dict[str, Any] = {}
    run_encoded: dict[tuple[int, str, int], Any] = {}
    ms = cs.ModelSampling()
    def tokenizer() -> Any:
        if not _TOKENIZER:
            from transformers import CLIPTokenizer

            from seedlock.replay.configs import config_folder

            _TOKENIZER.append(CLIPTokenizer.from_pretrained(str(config_folder("sd1") / "tokenizer")))
        return _TOKENIZER[0]

    def value(v: Any) -> Any:
        if isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) and isinstance(v[1], int):
            return run(v[0])[v[1]]
        return v

    def run(nid: str) -> tuple[Any, ...]:
        if nid in cache:
            return cache[nid]
        node = graph[nid]
        ct, ins = node["class_type"], {k: value(v) for k, v in node["inputs"].items()}
        out: tuple[Any, ...]
        if ct == "CheckpointLoaderSimple":
            name = str(ins["ckpt_name"])
            if name not in models:
                models[name] = _cached_model(resolve("checkpoint", name), load_comfy_model)
            m = models[name]
            out = (m, (m, -1), m)
        elif ct in ("LoraLoader", "LoraLoaderModelOnly"):
            lora = read_lora(resolve("lora", str(ins["lora_name"])))
            clip_in = ins.get("clip", (ins["model"], -1))
            s_model, s_clip = float(ins["strength_model"]), float(ins.get("strength_clip", 0.0))
            unet_m, clip_m = apply_lora(_with_clip(ins["model"], clip_in[0]), lora, s_model, s_clip)
            out = (unet_m, (clip_m, clip_in[1])) if ct == "LoraLoader" else (unet_m,)
        elif ct == "CLIPSetLastLayer":
            m, _ = ins["clip"]
            out = ((m, int(ins["stop_at_clip_layer"])),)
        elif ct == "CLIPTextEncode":
            m, layer = ins["clip"]
            # the loaded checkpoint's encoder outlives the run; a LoRA-patched copy lives for this run only,
            # so its encodings are kept in the run's own table (an address may be reused after it)
            kept = _ENCODED if any(m.clip is lm.clip for lm in _LOADED.values()) else run_encoded
            key = (id(m.clip), str(ins["text"]), layer)
            cond = kept.get(key)
            if cond is None:
                cond = encode_prompt(m, str(ins["text"]), tokenizer(), layer)
                kept[key] = cond
                while len(_ENCODED) > 32:
                    _ENCODED.pop(next(iter(_ENCODED)))
            trace[f"text:{nid}"] = _sha(cond)
            out = (cond,)
        elif ct == "EmptyLatentImage":
            out = ({"samples": torch.zeros([int(ins["batch_size"]), 4, int(ins["height"]) // 8, int(ins["width"]) // 8])},)
        elif ct == "LoadImage":
            out = load_image(resolve("input", str(ins["image"])))
        elif ct in ("ImageScale", "ImageScaleBy"):
            img = ins["image"]
            w, h = _new_size(ct, ins, img.shape[2], img.shape[1])
            where = f"node {nid}"
            scaled = img if (w, h) == (0, 0) else upscale(img.movedim(-1, 1), w, h, str(ins["upscale_method"]),
                                                          str(ins.get("crop", "disabled")), where).movedim(1, -1)  # fmt: skip
            out = (scaled,)
        elif ct == "VAEEncode":
            latent = vae_encode(ins["vae"].vae, ins["pixels"][:, :, :, :3])
            trace[f"encode:{nid}"] = _sha(latent)
            out = ({"samples": latent},)
        elif ct == "VAEEncodeForInpaint":
            out = (encode_for_inpaint(ins["vae"].vae, ins["pixels"], ins["mask"], int(ins.get("grow_mask_by", 6))),)
            trace[f"encode:{nid}"] = _sha(out[0]["samples"])
        elif ct == "SetLatentNoiseMask":
            mask = ins["mask"]
            out = ({**ins["samples"], "noise_mask": mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1]))},)
        elif ct in ("LatentUpscale", "LatentUpscaleBy"):
            s = ins["samples"]["samples"]
            w, h = _new_size(ct, ins, s.shape[3] * 8, s.shape[2] * 8)
            if ct == "LatentUpscale":
                w, h = w // 8, h // 8
            scaled = s if (w, h) == (0, 0) else upscale(s, w, h, str(ins["upscale_method"]),
                                                        str(ins.get("crop", "disabled")), f"node {nid}")  # fmt: skip
            out = ({**ins["samples"], "samples": scaled},)
        elif ct in ("KSampler", "KSamplerAdvanced"):
            out = ({**ins["latent_image"], "samples": _ksampler(nid, ct, ins, ms, trace, on_step)},)
        elif ct == "KSamplerSelect":
            out = (_Sampler(str(ins["sampler_name"])),)
        elif ct == "BasicScheduler":
            _mirrored(nid, scheduler=str(ins["scheduler"]))
            out = (cs.basic_scheduler_sigmas(ms, str(ins["scheduler"]), int(ins["steps"]), float(ins["denoise"])),)
        elif ct == "KarrasScheduler":
            out = (cs.karras_sigmas(int(ins["steps"]), float(ins["sigma_min"]), float(ins["sigma_max"]), float(ins["rho"])),)
        elif ct == "ExponentialScheduler":
            out = (cs.exponential_sigmas(int(ins["steps"]), float(ins["sigma_min"]), float(ins["sigma_max"])),)
        elif ct == "SamplerCustom":
            seed = int(ins["noise_seed"])
            samples = _sample(nid, ins, ins["sampler"].name, ins["sigmas"], seed, bool(ins["add_noise"]), ms, trace,
                              on_step)  # fmt: skip
            out = ({**ins["latent_image"], "samples": samples},)
        elif ct == "VAEDecode":
            m = ins["vae"]
            img = m.vae.decode(ins["samples"]["samples"]).sample
            img = torch.clamp((img + 1.0) / 2.0, min=0.0, max=1.0).movedim(1, -1)
            trace[f"decode:{nid}"] = _sha(img)
            out = (img,)
        else:  # SaveImage / PreviewImage
            import numpy as np

            imgs = ins["images"]
            out = tuple(np.clip(255.0 * imgs[i].cpu().numpy(), 0, 255).astype(np.uint8) for i in range(imgs.shape[0]))
        cache[nid] = out
        return out

    images: dict[str, Any] = {}
    with torch.no_grad():
        for nid, node in sorted(graph.items()):
            if node["class_type"] in ("SaveImage", "PreviewImage"):
                for i, arr in enumerate(run(nid)):
                    images[nid if i == 0 else f"{nid}:{i}"] = arr
    return GraphRun(images, trace, time.perf_counter() - t0)


def _with_clip(model: Any, clip_from: Any) -> Any:
    """The model a LoraLoader patches, carrying the text-encoder weights of its clip input."""
    from dataclasses import replace

    return model if clip_from is model else replace(model, clip=clip_from.clip, clip_patched=clip_from.clip_patched)


def _new_size(ct: str, ins: dict[str, Any], width: int, height: int) -> tuple[int, int]:
    """The (width, height) in pixels an upscale node asks for; (0, 0) keeps the input as it is."""
    if ct.endswith("By"):
        scale = float(ins["scale_by"])
        return round(width * scale), round(height * scale)
    w, h = int(ins["width"]), int(ins["height"])
    if w == 0 and h == 0:
        return 0, 0
    if w == 0:
        w = max(1, round(width * h / height))
    elif h == 0:
        h = max(1, round(height * w / width))
    return w, h


def _reshape_mask(mask: Any, shape: tuple[int, ...]) -> Any:
    """ComfyUI's reshape_mask: bilinear to the latent's size, repeated over channels and batch."""
    import torch

    mask = mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1]))
    mask = torch.nn.functional.interpolate(mask, size=shape[2:], mode="bilinear")
    if mask.shape[1] < shape[1]:
        mask = mask.repeat((1, shape[1], 1, 1))[:, : shape[1]]
    if mask.shape[0] < shape[0]:
        mask = mask.repeat((math.ceil(shape[0] / mask.shape[0]), 1, 1, 1))[: shape[0]]
    return mask


@dataclass(frozen=True)
class _Sampler:
    """KSamplerSelect's SAMPLER: a sampler by name."""

    name: str


def _mirrored(nid: str, sampler: str | None = None, scheduler: str | None = None) -> None:
    from seedlock.replay import comfy_sampling as cs

    if sampler is not None and sampler not in cs.SAMPLERS:
        raise ReplayRefused(f"sampler {sampler} (node {nid}) is not mirrored yet (mirrored: {', '.join(sorted(cs.SAMPLERS))})")
    if scheduler is not None and scheduler not in cs.SCHEDULERS:
        raise ReplayRefused(f"scheduler {scheduler} (node {nid}) is not mirrored yet")


def _ksampler(
    nid: str,
    ct: str,
    ins: dict[str, Any],
    ms: Any,
    trace: dict[str, str],
    on_step: Callable[[str, int], None] | None,
) -> Any:
    """KSampler / KSamplerAdvanced: the sigmas from the node's settings, then :func:`_sample`."""
    from seedlock.replay import comfy_sampling as cs

    sampler, scheduler = str(ins["sampler_name"]), str(ins["scheduler"])
    _mirrored(nid, sampler, scheduler)
    steps = int(ins["steps"])
    latent = ins["latent_image"]["samples"]
    if ct == "KSampler":
        seed, denoise, add_noise = int(ins["seed"]), float(ins["denoise"]), True
        sigmas = cs.ksampler_sigmas(ms, sampler, scheduler, steps, denoise)
    else:
        seed, add_noise = int(ins["noise_seed"]), ins["add_noise"] == "enable"
        start, end = int(ins["start_at_step"]), int(ins["end_at_step"])
        sigmas = cs.ksampler_sigmas(ms, sampler, scheduler, steps)
        if end < len(sigmas) - 1:
            sigmas = sigmas[: end + 1]
            if ins.get("return_with_leftover_noise") != "enable":
                sigmas[-1] = 0
        if start < len(sigmas) - 1:
            sigmas = sigmas[start:]
        else:
            return latent
    return _sample(nid, ins, sampler, sigmas, seed, add_noise, ms, trace, on_step)


def _sample(
    nid: str,
    ins: dict[str, Any],
    sampler: str,
    sigmas: Any,
    seed: int,
    add_noise: bool,
    ms: Any,
    trace: dict[str, str],
    on_step: Callable[[str, int], None] | None,
) -> Any:
    """One sampler run as ComfyUI's CFGGuider + KSAMPLER make it (KSampler's path and SamplerCustom's)."""
    import torch

    from seedlock.replay import comfy_sampling as cs

    _mirrored(nid, sampler)
    m, cfg = ins["model"], float(ins["cfg"])
    latent = ins["latent_image"]["samples"]
    noise_mask = ins["latent_image"].get("noise_mask")
    noise = cs.prepare_noise(tuple(latent.shape), seed) if add_noise else torch.zeros(latent.shape)
    trace[f"noise:{nid}"] = _sha(noise)
    cond, uncond = ins["positive"], ins["negative"]
    model = m.unet

    def guided(x: Any, sigma: Any) -> Any:
        xc = ms.calculate_input(sigma, x)
        t = ms.timestep(sigma).float()
        # each prompt is repeated over the latent batch (ComfyUI draws a batch's noise at once)
        batch = x.shape[0]
        pos, neg = (p.repeat(batch, 1, 1) if p.shape[0] < batch else p for p in (cond, uncond))
        if math.isclose(cfg, 1.0):  # ComfyUI skips the negative prompt at cfg 1
            eps = model(xc, t, encoder_hidden_states=pos).sample.float()
            return ms.calculate_denoised(sigma, eps, x)
        longest = math.lcm(pos.shape[1], neg.shape[1])
        if longest // min(pos.shape[1], neg.shape[1]) <= 4:
            # ComfyUI batches prompts of different lengths by repeating each up to their lcm
            ctx = torch.cat([c.repeat(1, longest // c.shape[1], 1) if c.shape[1] < longest else c for c in (pos, neg)])
            eps = model(torch.cat([xc, xc]), torch.cat([t, t]), encoder_hidden_states=ctx).sample.float()
            den = ms.calculate_denoised(torch.cat([sigma, sigma]), eps, torch.cat([x, x]))
            c, u = den.chunk(2)
        else:  # too far apart to pad: ComfyUI runs them apart
            c = ms.calculate_denoised(sigma, model(xc, t, encoder_hidden_states=pos).sample.float(), x)
            u = ms.calculate_denoised(sigma, model(xc, t, encoder_hidden_states=neg).sample.float(), x)
        return u + (c - u) * cfg

    scaled = latent * m.scale_factor
    denoise_fn = guided
    if noise_mask is not None:
        # ComfyUI's KSamplerX0Inpaint: outside the mask the latent is held at the input's, noised to each sigma
        mask = _reshape_mask(noise_mask, tuple(noise.shape))
        keep = 1.0 - mask
        inpaint_noise = noise
        if sampler == "ddim":  # ComfyUI's ddim draws its own inpaint noise from seed + 1
            inpaint_noise = torch.randn(noise.shape, generator=torch.manual_seed(seed + 1), device="cpu")

        def inpainting(x: Any, sigma: Any) -> Any:
            sig = sigma.reshape([sigma.shape[0]] + [1] * (len(inpaint_noise.shape) - 1))
            x = x * mask + ms.noise_scaling(sig, inpaint_noise, scaled, False) * keep
            return guided(x, sigma) * mask + scaled * keep

        denoise_fn = inpainting

    def step(i: int, out: Any) -> None:
        trace[f"step:{nid}:{i}"] = _sha(out)
        if on_step:
            on_step(nid, i)

    x = cs.sample(denoise_fn, ms, sampler, sigmas, noise, scaled, seed, step)
    x = x / m.scale_factor
    trace[f"latent:{nid}"] = _sha(x)
    return x
