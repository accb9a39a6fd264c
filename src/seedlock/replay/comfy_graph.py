"""A ComfyUI API graph run by seedlock, without ComfyUI, for the node set it mirrors exactly.

Supported: CheckpointLoaderSimple, CLIPSetLastLayer, CLIPTextEncode, EmptyLatentImage,
KSampler, KSamplerAdvanced, LatentUpscale, LatentUpscaleBy, VAEDecode, SaveImage and
PreviewImage. Anything else is refused with the node named, rather than run
approximately. The saved image's pixels are what ComfyUI's SaveImage writes: the decoded
image clamped, scaled by 255 and truncated.
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
    "CheckpointLoaderSimple", "CLIPSetLastLayer", "CLIPTextEncode", "EmptyLatentImage", "KSampler",
    "KSamplerAdvanced", "LatentUpscale", "LatentUpscaleBy", "VAEDecode", "SaveImage", "PreviewImage",
})  # fmt: skip
_UPSCALE_MODES = {"nearest-exact": "nearest-exact", "bilinear": "bilinear", "area": "area", "bicubic": "bicubic"}


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
    resolve_model: Callable[[str], str | os.PathLike[str]],
    *,
    threads: int | None = None,
    on_step: Callable[[str, int], None] | None = None,
) -> GraphRun:
    """Evaluate every SaveImage/PreviewImage of ``graph``.

    Args:
        resolve_model: a checkpoint name in the graph -> its file.
        threads: torch CPU threads (ComfyUI's result depends on the count it ran with).

    Raises:
        ReplayRefused: a node type outside :data:`SUPPORTED`, or a model family not mirrored.
    """
    import torch

    from seedlock.replay import comfy_sampling as cs
    from seedlock.replay.comfy_model import load_comfy_model
    from seedlock.replay.comfy_text import encode_prompt

    unknown = sorted({f"{n['class_type']} (node {nid})" for nid, n in graph.items() if n["class_type"] not in SUPPORTED})
    if unknown:
        raise ReplayRefused(f"no exact replay for {', '.join(unknown)}")
    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    trace: dict[str, str] = {}
    cache: dict[str, tuple[Any, ...]] = {}
    models: dict[str, Any] = {}
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
                models[name] = _cached_model(resolve_model(name), load_comfy_model)
            m = models[name]
            out = (m, (m, -1), m)
        elif ct == "CLIPSetLastLayer":
            m, _ = ins["clip"]
            out = ((m, int(ins["stop_at_clip_layer"])),)
        elif ct == "CLIPTextEncode":
            m, layer = ins["clip"]
            key = (id(m), str(ins["text"]), layer)
            cond = _ENCODED.get(key)
            if cond is None:
                cond = encode_prompt(m, str(ins["text"]), tokenizer(), layer)
                _ENCODED[key] = cond
                while len(_ENCODED) > 32:
                    _ENCODED.pop(next(iter(_ENCODED)))
            trace[f"text:{nid}"] = _sha(cond)
            out = (cond,)
        elif ct == "EmptyLatentImage":
            out = (torch.zeros([int(ins["batch_size"]), 4, int(ins["height"]) // 8, int(ins["width"]) // 8]),)
        elif ct in ("LatentUpscale", "LatentUpscaleBy"):
            s = ins["samples"]
            if ct == "LatentUpscale":
                w, h = int(ins["width"]) // 8, int(ins["height"]) // 8
                if w == 0 or h == 0:
                    w = w or max(1, round(s.shape[3] * h / s.shape[2]))
                    h = h or max(1, round(s.shape[2] * w / s.shape[3]))
                if ins.get("crop", "disabled") != "disabled":
                    raise ReplayRefused(f"LatentUpscale crop={ins.get('crop')} (node {nid}) is not mirrored")
            else:
                w, h = round(s.shape[3] * float(ins["scale_by"])), round(s.shape[2] * float(ins["scale_by"]))
            mode = str(ins["upscale_method"])
            if mode not in _UPSCALE_MODES:
                raise ReplayRefused(f"upscale method {mode} (node {nid}) is not mirrored")
            out = (torch.nn.functional.interpolate(s, size=(h, w), mode=_UPSCALE_MODES[mode]),)
        elif ct in ("KSampler", "KSamplerAdvanced"):
            out = (_ksampler(nid, ct, ins, ms, trace, on_step),)
        elif ct == "VAEDecode":
            m = ins["vae"]
            img = m.vae.decode(ins["samples"]).sample
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


def _ksampler(
    nid: str,
    ct: str,
    ins: dict[str, Any],
    ms: Any,
    trace: dict[str, str],
    on_step: Callable[[str, int], None] | None,
) -> Any:
    import torch

    from seedlock.replay import comfy_sampling as cs

    m = ins["model"]
    sampler, scheduler = str(ins["sampler_name"]), str(ins["scheduler"])
    if sampler not in cs.SAMPLERS:
        raise ReplayRefused(f"sampler {sampler} (node {nid}) is not mirrored yet (mirrored: {', '.join(sorted(cs.SAMPLERS))})")
    if scheduler not in cs.SCHEDULERS:
        raise ReplayRefused(f"scheduler {scheduler} (node {nid}) is not mirrored yet")
    steps, cfg = int(ins["steps"]), float(ins["cfg"])
    latent = ins["latent_image"]
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
    noise = cs.prepare_noise(tuple(latent.shape), seed) if add_noise else torch.zeros(latent.shape)
    trace[f"noise:{nid}"] = _sha(noise)
    cond, uncond = ins["positive"], ins["negative"]
    model = m.unet

    def denoise_fn(x: Any, sigma: Any) -> Any:
        xc = ms.calculate_input(sigma, x)
        t = ms.timestep(sigma).float()
        if math.isclose(cfg, 1.0):  # ComfyUI skips the negative prompt at cfg 1
            eps = model(xc, t, encoder_hidden_states=cond).sample.float()
            return ms.calculate_denoised(sigma, eps, x)
        longest = math.lcm(cond.shape[1], uncond.shape[1])
        if longest // min(cond.shape[1], uncond.shape[1]) <= 4:
            # ComfyUI batches prompts of different lengths by repeating each up to their lcm
            ctx = torch.cat([c.repeat(1, longest // c.shape[1], 1) if c.shape[1] < longest else c for c in (cond, uncond)])
            eps = model(torch.cat([xc, xc]), torch.cat([t, t]), encoder_hidden_states=ctx).sample.float()
            den = ms.calculate_denoised(torch.cat([sigma, sigma]), eps, torch.cat([x, x]))
            c, u = den.chunk(2)
        else:  # too far apart to pad: ComfyUI runs them apart
            c = ms.calculate_denoised(sigma, model(xc, t, encoder_hidden_states=cond).sample.float(), x)
            u = ms.calculate_denoised(sigma, model(xc, t, encoder_hidden_states=uncond).sample.float(), x)
        return u + (c - u) * cfg

    def step(i: int, out: Any) -> None:
        trace[f"step:{nid}:{i}"] = _sha(out)
        if on_step:
            on_step(nid, i)

    x = cs.sample(denoise_fn, ms, sampler, sigmas, noise, latent * m.scale_factor, seed, step)
    x = x / m.scale_factor
    trace[f"latent:{nid}"] = _sha(x)
    return x
