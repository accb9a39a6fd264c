"""Diffusers -> original (CompVis/LDM, SGM) key names for SD-1.x and SDXL checkpoints.

A single-file checkpoint as users have them keeps the original key layout
(``model.diffusion_model.*``, ``first_stage_model.*``, ``cond_stage_model.transformer.*``;
SDXL's ``conditioner.embedders.0.transformer.*`` and the OpenCLIP ``...1.model.*``);
diffusers' ``from_single_file`` converts it back. The tiny models are written in that
layout so that they are loaded by exactly the path a real checkpoint takes. The UNet
tables follow the LDM layout: 2 resnets down and 3 up per level, attention where the
level has it (SD-1.x: the first three of four; SDXL: the last two of three), SDXL's
size/crop embedding as ``label_emb``, and a 4-level VAE.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_PREFIX = "cond_stage_model.transformer."

_UNET_DIRECT = {
    "time_embedding.linear_1.": "time_embed.0.",
    "time_embedding.linear_2.": "time_embed.2.",
    "conv_in.": "input_blocks.0.0.",
    "conv_norm_out.": "out.0.",
    "conv_out.": "out.2.",
    "add_embedding.linear_1.": "label_emb.0.0.",
    "add_embedding.linear_2.": "label_emb.0.2.",
}
#: which UNet levels have attention: SD-1.x, and SDXL
SD1_ATTENTION = (True, True, True, False)
SDXL_ATTENTION = (False, True, True)
REFINER_ATTENTION = (False, True, True, False)
_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}


def _unet_layers(attention: tuple[bool, ...]) -> list[tuple[str, str]]:
    """(diffusers prefix, LDM prefix) for every block of a UNet with these levels."""
    out: list[tuple[str, str]] = []
    levels = len(attention)
    for i in range(levels):
        up_attn = attention[levels - 1 - i]
        for j in range(2):
            out.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{3 * i + j + 1}.0."))
            if attention[i]:
                out.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{3 * i + j + 1}.1."))
        for j in range(3):
            out.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{3 * i + j}.0."))
            if up_attn:
                out.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{3 * i + j}.1."))
        if i < levels - 1:
            out.append((f"down_blocks.{i}.downsamplers.0.conv.", f"input_blocks.{3 * (i + 1)}.0.op."))
            out.append((f"up_blocks.{i}.upsamplers.0.", f"output_blocks.{3 * i + 2}.{2 if up_attn else 1}."))
    out.append(("mid_block.attentions.0.", "middle_block.1."))
    for j in range(2):
        out.append((f"mid_block.resnets.{j}.", f"middle_block.{2 * j}."))
    return out


def unet_to_ldm(state: Mapping[str, Any], attention: tuple[bool, ...] = SD1_ATTENTION) -> dict[str, Any]:
    layers = _unet_layers(attention)
    out: dict[str, Any] = {}
    for key, value in state.items():
        new = key
        for hf, sd in _UNET_DIRECT.items():
            if new.startswith(hf):
                new = sd + new[len(hf) :]
        for hf, sd in layers:
            if new.startswith(hf):
                rest = new[len(hf) :]
                if ".resnets." in hf:
                    for a, b in _UNET_RESNET.items():
                        if rest.startswith(a + "."):
                            rest = b + rest[len(a) :]
                new = sd + rest
                break
        if new == key and not key.startswith(tuple(_UNET_DIRECT.values())):
            raise KeyError(f"no LDM name for UNet key {key}")
        out[UNET_PREFIX + new] = value
    return out


def _vae_layers() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for i in range(4):
        for j in range(2):
            out.append((f"encoder.down_blocks.{i}.resnets.{j}.", f"encoder.down.{i}.block.{j}."))
        if i < 3:
            out.append((f"encoder.down_blocks.{i}.downsamplers.0.", f"encoder.down.{i}.downsample."))
            out.append((f"decoder.up_blocks.{i}.upsamplers.0.", f"decoder.up.{3 - i}.upsample."))
        for j in range(3):
            out.append((f"decoder.up_blocks.{i}.resnets.{j}.", f"decoder.up.{3 - i}.block.{j}."))
    for part in ("encoder", "decoder"):
        for j in range(2):
            out.append((f"{part}.mid_block.resnets.{j}.", f"{part}.mid.block_{j + 1}."))
        out.append((f"{part}.mid_block.attentions.0.", f"{part}.mid.attn_1."))
        out.append((f"{part}.conv_norm_out.", f"{part}.norm_out."))
    return out


_VAE_ATTN = {"group_norm.": "norm.", "to_q.": "q.", "to_k.": "k.", "to_v.": "v.", "to_out.0.": "proj_out."}


def vae_to_ldm(state: Mapping[str, Any]) -> dict[str, Any]:
    layers = _vae_layers()
    out: dict[str, Any] = {}
    for key, value in state.items():
        new = key
        for hf, sd in layers:
            if new.startswith(hf):
                rest = new[len(hf) :]
                if ".attentions." in hf:
                    for a, b in _VAE_ATTN.items():
                        if rest.startswith(a):
                            rest = b + rest[len(a) :]
                            if rest.endswith(".weight") and b != "norm." and value.ndim == 2:
                                # LDM's VAE attention is made of 1x1 convolutions
                                value = value.reshape(*value.shape, 1, 1)
                new = sd + rest
                break
        new = new.replace("conv_shortcut", "nin_shortcut")
        out[VAE_PREFIX + new] = value
    return out


def text_to_ldm(state: Mapping[str, Any], prefix: str = TEXT_PREFIX) -> dict[str, Any]:
    """transformers >= 5.6 dropped the ``text_model.`` level; real checkpoints have it."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        if key.endswith("position_ids"):
            continue
        k = key if key.startswith(("text_model.", "text_projection.")) else "text_model." + key
        out[prefix + k] = value
    return out


_OPENCLIP = {
    "embeddings.position_embedding.weight": "positional_embedding",
    "embeddings.token_embedding.weight": "token_embedding.weight",
    "final_layer_norm.weight": "ln_final.weight",
    "final_layer_norm.bias": "ln_final.bias",
}
_OPENCLIP_LAYER = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj",
                   "self_attn.out_proj": "attn.out_proj"}  # fmt: skip


def open_clip_to_ldm(state: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """A CLIPTextModelWithProjection in OpenCLIP's layout (SDXL's second encoder): fused q/k/v, transposed projection."""
    import torch

    s = {k.removeprefix("text_model."): v for k, v in state.items() if not k.endswith("position_ids")}
    out: dict[str, Any] = {prefix + "text_projection": s.pop("text_projection.weight").T.contiguous()}
    for hf, oc in _OPENCLIP.items():
        out[prefix + oc] = s.pop(hf)
    layers = sorted({int(k.split(".")[2]) for k in s if k.startswith("encoder.layers.")})
    for i in layers:
        hf, oc = f"encoder.layers.{i}.", f"{prefix}transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            qkv = [s.pop(f"{hf}self_attn.{p}_proj.{kind}") for p in ("q", "k", "v")]
            out[f"{oc}attn.in_proj_{kind}"] = torch.cat(qkv, dim=0)
            for a, b in _OPENCLIP_LAYER.items():
                out[f"{oc}{b}.{kind}"] = s.pop(f"{hf}{a}.{kind}")
    if s:
        raise KeyError(f"no OpenCLIP name for {sorted(s)[:3]}")
    return out
