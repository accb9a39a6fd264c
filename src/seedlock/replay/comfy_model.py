"""An SD-1 checkpoint loaded so that each stage computes what ComfyUI computes on the CPU.

The family comes from the weights (keys and shapes, as ComfyUI decides it), never the file
name. The UNet and VAE are diffusers modules built from a config read off the tensors (so
non-standard widths and depths load), with two attention processors that follow ComfyUI's
CPU kernels: the UNet's sub-quadratic attention (one ``baddbmm``, softmax, ``bmm`` while a
chunk holds everything) and the VAE's 1x1-convolution projections with sliced attention.
The text encoder is ComfyUI's CLIP arithmetic: fp16-stored weights cast to float32, einsum
attention with a causal mask of ``-finfo.max``, quick-GELU, the final layer norm.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from seedlock.errors import ReplayRefused
from seedlock.replay.family import UNET, detect_family

__all__ = ["ComfyModel", "load_comfy_model"]

VAE = "first_stage_model."
CLIP_PREFIXES = ("cond_stage_model.transformer.text_model.", "cond_stage_model.transformer.")


def _unet_layout(shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
    """The LDM UNet parameters (as in its original config) read off the tensor shapes."""
    model_channels = shapes[f"{UNET}input_blocks.0.0.weight"][0]
    blocks: dict[int, dict[str, Any]] = {}
    for key, shape in shapes.items():
        if not key.startswith(f"{UNET}input_blocks."):
            continue
        idx = int(key.split(".")[3])
        b = blocks.setdefault(idx, {"res": None, "attn": False, "down": False})
        rest = key.split(".", 4)[4] if len(key.split(".")) > 4 else ""
        if rest.startswith("0.out_layers.3.weight"):
            b["res"] = shape[0]
        if rest.startswith("1.transformer_blocks"):
            b["attn"] = True
        if rest.startswith("0.op.weight"):
            b["down"] = True
    channel_mult: list[int] = []
    res_per_level: list[int] = []
    attn_levels: set[int] = set()
    level, count = 0, 0
    for idx in sorted(blocks)[1:]:
        b = blocks[idx]
        if b["down"]:
            res_per_level.append(count)
            level, count = level + 1, 0
            continue
        if count == 0:
            channel_mult.append(b["res"] // model_channels)
        count += 1
        if b["attn"]:
            attn_levels.add(level)
    res_per_level.append(count)
    if len(set(res_per_level)) != 1:
        raise ReplayRefused(f"UNet levels have different res-block counts {res_per_level}: not an SD-1 layout")
    heads_key = next(k for k in shapes if k.startswith(UNET) and k.endswith("attn2.to_k.weight"))
    return {
        "image_size": 32,
        "in_channels": shapes[f"{UNET}input_blocks.0.0.weight"][1],
        "out_channels": shapes[f"{UNET}out.2.weight"][0],
        "model_channels": model_channels,
        "attention_resolutions": sorted((2**lv for lv in attn_levels), reverse=True),
        "num_res_blocks": res_per_level[0],
        "channel_mult": channel_mult,
        "num_heads": 8,
        "use_spatial_transformer": True,
        "transformer_depth": 1,
        "context_dim": shapes[heads_key][1],
        "use_checkpoint": False,
        "legacy": False,
    }


_VAE_DDCONFIG = {
    "double_z": True,
    "z_channels": 4,
    "resolution": 256,
    "in_channels": 3,
    "out_ch": 3,
    "ch": 128,
    "ch_mult": [1, 2, 4, 4],
    "num_res_blocks": 2,
    "attn_resolutions": [],
    "dropout": 0.0,
}


class _SubQuadAttention:
    """ComfyUI's ``attention_sub_quad`` on the CPU while one chunk holds the whole product
    (``baddbmm`` with the scale as alpha, softmax, ``bmm``), with its exact reshapes."""

    def __call__(self, attn: Any, hidden_states: Any, encoder_hidden_states: Any = None, attention_mask: Any = None,
                 temb: Any = None, **kw: Any) -> Any:  # fmt: skip
        import torch

        ctx = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        q, k, v = attn.to_q(hidden_states), attn.to_k(ctx), attn.to_v(ctx)
        heads = attn.heads
        b, _, inner = q.shape
        dh = inner // heads
        q = q.unsqueeze(3).reshape(b, -1, heads, dh).permute(0, 2, 1, 3).reshape(b * heads, -1, dh)
        v = v.unsqueeze(3).reshape(b, -1, heads, dh).permute(0, 2, 1, 3).reshape(b * heads, -1, dh)
        k = k.unsqueeze(3).reshape(b, -1, heads, dh).permute(0, 2, 3, 1).reshape(b * heads, dh, -1)
        if q.shape[1] > 4096 or k.shape[2] > 4096:
            raise ReplayRefused("images above 512x512 use ComfyUI's chunked attention, which seedlock does not mirror yet")
        scores = torch.baddbmm(torch.empty(1, 1, 1, dtype=q.dtype), q, k, alpha=dh**-0.5, beta=0)
        out = torch.bmm(scores.softmax(dim=-1).to(v.dtype), v)
        out = out.unflatten(0, (-1, heads)).transpose(1, 2).flatten(start_dim=2)
        return attn.to_out[1](attn.to_out[0](out))


class _VaeSliceAttention:
    """ComfyUI's VAE attention block: 1x1 convolutions for q, k, v and out, ``slice_attention``."""

    def __call__(self, attn: Any, hidden_states: Any, encoder_hidden_states: Any = None, attention_mask: Any = None,
                 temb: Any = None, **kw: Any) -> Any:  # fmt: skip
        import torch
        import torch.nn.functional as F

        residual = hidden_states
        b, c, h, w = hidden_states.shape
        x = attn.group_norm(hidden_states)

        def conv(lin: Any, t: Any) -> Any:
            return F.conv2d(t, lin.weight.view(lin.weight.shape[0], lin.weight.shape[1], 1, 1), lin.bias)

        q = conv(attn.to_q, x).reshape(b, c, -1).permute(0, 2, 1)
        k = conv(attn.to_k, x).reshape(b, c, -1)
        v = conv(attn.to_v, x).reshape(b, c, -1)
        r1 = torch.zeros_like(k)
        s1 = torch.bmm(q, k) * (int(q.shape[-1]) ** (-0.5))
        r1[:, :, :] = torch.bmm(v, torch.nn.functional.softmax(s1, dim=2).permute(0, 2, 1))
        out = conv(attn.to_out[0], r1.reshape(b, c, h, w))
        return residual + out if attn.residual_connection else out


@dataclass
class ComfyModel:
    """The three stages of an SD-1 checkpoint, computing as ComfyUI does on the CPU."""

    family: str
    unet: Any
    vae: Any
    clip: dict[str, Any]
    clip_layers: int
    scale_factor: float = 0.18215
    #: UNet parameter name -> its key in the checkpoint (the names ComfyUI's LoRA mapping starts from)
    unet_keys: dict[str, str] = field(default_factory=dict)
    #: text-encoder weights patched by LoRAs, summed in float32 before ComfyUI's one rounding to fp16
    clip_patched: dict[str, Any] = field(default_factory=dict)

    def encode_tokens(self, batch: Any, layer: int = -1) -> Any:
        """ComfyUI's CLIP over a batch of 77-token rows; ``layer`` -1 is the last (CLIPSetLastLayer)."""
        import torch
        import torch.nn.functional as F

        w = self.clip

        def ln(x: Any, name: str) -> Any:
            return F.layer_norm(x, (x.shape[-1],), w[name + ".weight"], w[name + ".bias"], 1e-5)

        def lin(x: Any, name: str) -> Any:
            return F.linear(x, w[name + ".weight"], w[name + ".bias"])

        x = F.embedding(batch, w["embeddings.token_embedding.weight"]) + w["embeddings.position_embedding.weight"]
        n, heads = x.shape[1], 12
        mask = torch.full((n, n), -torch.finfo(x.dtype).max, dtype=x.dtype).triu_(1)
        stop = self.clip_layers + layer if layer < 0 else layer
        inter = None
        for i in range(self.clip_layers):
            p = f"encoder.layers.{i}."
            h = ln(x, p + "layer_norm1")
            q, k, v = lin(h, p + "self_attn.q_proj"), lin(h, p + "self_attn.k_proj"), lin(h, p + "self_attn.v_proj")
            b, _, inner = q.shape
            dh = inner // heads
            q, k, v = (t.unsqueeze(3).reshape(b, -1, heads, dh).permute(0, 2, 1, 3).reshape(b * heads, -1, dh).contiguous()
                       for t in (q, k, v))  # fmt: skip
            sim = torch.einsum("b i d, b j d -> b i j", q, k) * (dh**-0.5)
            sim.add_(mask.reshape(1, -1, n, n).expand(b, heads, -1, -1).reshape(-1, n, n))
            out = torch.einsum("b i j, b j d -> b i d", sim.softmax(dim=-1).to(v.dtype), v)
            out = out.unsqueeze(0).reshape(b, heads, -1, dh).permute(0, 2, 1, 3).reshape(b, -1, heads * dh)
            x += lin(out, p + "self_attn.out_proj")
            h = lin(ln(x, p + "layer_norm2"), p + "mlp.fc1")
            x += lin(h * torch.sigmoid(1.702 * h), p + "mlp.fc2")
            if i == stop:
                inter = x.clone()
        if inter is not None and stop != self.clip_layers - 1:
            return ln(inter, "final_layer_norm")
        return ln(x, "final_layer_norm")


def load_comfy_model(path: str | os.PathLike[str]) -> ComfyModel:
    """Load a single-file checkpoint for ComfyUI-faithful replay.

    Raises:
        ReplayRefused: a family seedlock does not replay with ComfyUI's numerics yet.
    """
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.loaders import single_file_utils as sfu
    from safetensors import safe_open

    with safe_open(os.fspath(path), "pt") as f:
        keys = list(f.keys())
        shapes = {k: tuple(f.get_slice(k).get_shape()) for k in keys}
        family = detect_family(shapes)
        if family != "sd1":
            raise ReplayRefused(f"a {family} checkpoint: ComfyUI-faithful replay covers SD-1 checkpoints so far",
                                path=str(path))  # fmt: skip
        ckpt = {k: f.get_tensor(k).float() for k in keys}
    original = {
        "model": {
            "params": {
                "linear_start": 0.00085,
                "linear_end": 0.012,
                "timesteps": 1000,
                "scale_factor": 0.18215,
                "unet_config": {"params": _unet_layout(shapes)},
                "first_stage_config": {"params": {"embed_dim": 4, "ddconfig": _VAE_DDCONFIG}},
            }
        }
    }
    ucfg = sfu.create_unet_diffusers_config_from_ldm(original, ckpt)
    unet = UNet2DConditionModel(**ucfg)
    converted = sfu.convert_ldm_unet_checkpoint(ckpt, ucfg)
    # the converter moves tensors without copying them: a storage address names the original key
    by_storage = {(v.untyped_storage().data_ptr(), tuple(v.shape)): k for k, v in ckpt.items() if k.startswith(UNET)}
    unet_keys = {dk: by_storage[key] for dk, v in converted.items()
                 if (key := (v.untyped_storage().data_ptr(), tuple(v.shape))) in by_storage}  # fmt: skip
    unet.load_state_dict(converted, strict=True)
    del converted
    vcfg = sfu.create_vae_diffusers_config_from_ldm(original, ckpt)
    vae = AutoencoderKL(**vcfg)
    vae.load_state_dict(sfu.convert_ldm_vae_checkpoint(ckpt, vcfg), strict=True)
    unet.set_attn_processor(_SubQuadAttention())
    vae.set_attn_processor(_VaeSliceAttention())
    unet.eval()
    vae.eval()
    clip: dict[str, Any] = {}
    for k, v in ckpt.items():
        for prefix in CLIP_PREFIXES:
            if k.startswith(prefix) and not k.endswith("position_ids"):
                clip.setdefault(k[len(prefix) :], v)
                break
    layers = 1 + max(int(k.split(".")[2]) for k in clip if k.startswith("encoder.layers."))
    del ckpt
    return ComfyModel(family, unet, vae, clip, layers, unet_keys=unet_keys)
