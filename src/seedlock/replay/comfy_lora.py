"""ComfyUI's LoraLoader, mirrored: which weights a LoRA file patches, and the patch arithmetic.

ComfyUI names each patched weight by its key in the checkpoint and accepts a LoRA in the
kohya layout under either the checkpoint's names (``lora_unet_input_blocks_1_1_...``) or
diffusers' (``lora_unet_down_blocks_0_attentions_0_...``), and in the diffusers/PEFT
layout (``lora_A``/``lora_B``). Each weight becomes, in float32,
``W + (strength * alpha / rank) * (up @ down)``, then is stored back in the weight's own
dtype: the UNet computes in float32 on the CPU, the text encoder keeps fp16 weights, so
a patched text-encoder weight is rounded to fp16 before it is used, once, after every
chained LoRA's patch is summed.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, replace
from typing import Any

from seedlock.errors import ReplayRefused

__all__ = ["LoraFile", "apply_lora", "read_lora"]

_UNET = "model.diffusion_model."


@dataclass(frozen=True)
class LoraFile:
    """A LoRA's low-rank pairs by the name ComfyUI's mapping gives them: name -> (up, down, alpha or None)."""

    path: str
    pairs: dict[str, tuple[Any, Any, float | None]]


def read_lora(path: str | os.PathLike[str]) -> LoraFile:
    """Read a kohya or diffusers/PEFT LoRA; other adapter kinds (LoHa, LoKr, DoRA) are refused."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(os.fspath(path))
    except (OSError, SafetensorError) as exc:
        raise ReplayRefused(f"not a readable LoRA file ({exc})", path=str(path)) from None
    pairs: dict[str, tuple[Any, Any, float | None]] = {}
    for key in state:
        for up_s, down_s in ((".lora_up.weight", ".lora_down.weight"), (".lora_B.weight", ".lora_A.weight")):
            if key.endswith(up_s):
                base = key[: -len(up_s)]
                alpha = state.get(base + ".alpha")
                pairs[base] = (state[key], state[base + down_s], None if alpha is None else float(alpha.item()))
    odd = sorted({k.rsplit(".", 2)[-2] for k in state if any(t in k for t in ("hada_", "lokr_", "dora_scale"))})
    if odd:
        raise ReplayRefused(f"LoRA weights of kind {', '.join(odd)} are not mirrored", path=str(path))
    if not pairs:
        raise ReplayRefused("no LoRA weight pairs (lora_up/lora_down or lora_A/lora_B) in the file", path=str(path))
    return LoraFile(str(path), pairs)


def _unet_names(param: str, ldm_key: str) -> list[str]:
    ldm = ldm_key[len(_UNET) : -len(".weight")]
    dif = param[: -len(".weight")]
    return ["lora_unet_" + ldm.replace(".", "_"), "lora_unet_" + dif.replace(".", "_"), "diffusion_model." + ldm,
            "unet." + dif, _UNET + ldm]  # fmt: skip


def _clip_names(key: str) -> list[str]:
    name = key[: -len(".weight")]
    return ["lora_te_text_model_" + name.replace(".", "_"), "text_encoder.text_model." + name,
            "lora_te1_text_model_" + name.replace(".", "_"), "text_encoders.clip_l.transformer.text_model." + name]  # fmt: skip


def _delta(weight: Any, pair: tuple[Any, Any, float | None], strength: float) -> Any:
    import torch

    up, down, alpha = pair
    mat1, mat2 = up.to(torch.float32), down.to(torch.float32)
    scale = alpha / mat2.shape[0] if alpha is not None else 1.0
    diff = torch.mm(mat1.flatten(start_dim=1), mat2.flatten(start_dim=1)).reshape(weight.shape)
    return ((strength * scale) * diff).type(torch.float32)


def apply_lora(model: Any, lora: LoraFile, strength_model: float, strength_clip: float) -> tuple[Any, Any]:
    """The (model, clip) LoraLoader returns: patched copies of the UNet and the text-encoder weights.

    Raises:
        ReplayRefused: the LoRA matches no weight of this checkpoint (another family's LoRA).
    """
    import torch

    if strength_model == 0 and strength_clip == 0:  # ComfyUI returns both unchanged
        return model, model
    used: set[str] = set()
    unet_patches = {}
    for param, ldm_key in model.unet_keys.items():
        name = next((n for n in _unet_names(param, ldm_key) if n in lora.pairs), None)
        if name is not None:
            used.add(name)
            unet_patches[param] = lora.pairs[name]
    unet_model = model
    if strength_model != 0:  # a zero strength adds zeros: the weights stay as they are
        unet = copy.deepcopy(model.unet)
        params = dict(unet.named_parameters())
        with torch.no_grad():
            for param, pair in unet_patches.items():
                w = params[param]
                w += _delta(w, pair, strength_model)
        unet_model = replace(model, unet=unet)
    clip, exact = dict(model.clip), dict(model.clip_patched)
    for key, w in model.clip.items():
        name = next((n for n in _clip_names(key) if n in lora.pairs), None) if key.endswith(".weight") else None
        if name is None:
            continue
        used.add(name)
        # ComfyUI sums every LoRA's patch in float32 onto the fp16-held weight, then rounds once to fp16
        base = exact.get(key, w)
        exact[key] = base + _delta(base, lora.pairs[name], strength_clip)
        clip[key] = exact[key].to(torch.float16).to(torch.float32)
    if not used:
        raise ReplayRefused("the LoRA patches no weight of this checkpoint (made for another model family?)",
                            path=lora.path)  # fmt: skip
    return unet_model, replace(unet_model, clip=clip, clip_patched=exact)
