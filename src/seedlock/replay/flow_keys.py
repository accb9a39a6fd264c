"""Original (SD3 / Flux single-file) <-> diffusers key layouts for the flow-matching transformers.

Real SD3 and Flux files keep the reference implementations' names (``joint_blocks.*``;
``double_blocks.*``, ``single_blocks.*``) with fused q/k/v and shift-before-scale
modulation. diffusers converts SD3 at any width, but its Flux converter assumes Flux's
3072-wide model, so a narrower Flux would not load; :func:`flux_to_diffusers` splits by
the shapes it finds, as ComfyUI does.

The tiny models are written in the original layout by running a converter backwards:
:func:`invert` feeds it tensors whose elements are their own positions, so every element
of the converted state says which original element it came from. That works for any
converter that only renames, splits, joins and reorders, and it refuses one that drops or
duplicates an element, so the file and the loader cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Shapes = dict[str, tuple[int, ...]]

#: the width of the sinusoidal timestep / guidance embedding both families feed their MLPs
FREQ = 256


def sd3_shapes(*, hidden: int, layers: int, context: int, pooled: int, max_pos: int,
               channels: int = 16, patch: int = 2) -> Shapes:  # fmt: skip
    """Every tensor of an SD3 (MMDiT, 3.0 medium layout) transformer, by original name."""
    h = hidden
    s: Shapes = {
        "pos_embed": (1, max_pos * max_pos, h),
        "x_embedder.proj.weight": (h, channels, patch, patch),
        "x_embedder.proj.bias": (h,),
        "t_embedder.mlp.0.weight": (h, FREQ),
        "t_embedder.mlp.0.bias": (h,),
        "t_embedder.mlp.2.weight": (h, h),
        "t_embedder.mlp.2.bias": (h,),
        "y_embedder.mlp.0.weight": (h, pooled),
        "y_embedder.mlp.0.bias": (h,),
        "y_embedder.mlp.2.weight": (h, h),
        "y_embedder.mlp.2.bias": (h,),
        "context_embedder.weight": (h, context),
        "context_embedder.bias": (h,),
        "final_layer.linear.weight": (patch * patch * channels, h),
        "final_layer.linear.bias": (patch * patch * channels,),
        "final_layer.adaLN_modulation.1.weight": (2 * h, h),
        "final_layer.adaLN_modulation.1.bias": (2 * h,),
    }
    for i in range(layers):
        last = i == layers - 1
        for part in ("x_block", "context_block"):
            p = f"joint_blocks.{i}.{part}."
            s[p + "attn.qkv.weight"] = (3 * h, h)
            s[p + "attn.qkv.bias"] = (3 * h,)
            # the last context block only feeds attention: no output projection, no MLP
            pre_only = last and part == "context_block"
            mod = 2 * h if pre_only else 6 * h
            s[p + "adaLN_modulation.1.weight"] = (mod, h)
            s[p + "adaLN_modulation.1.bias"] = (mod,)
            if pre_only:
                continue
            s[p + "attn.proj.weight"] = (h, h)
            s[p + "attn.proj.bias"] = (h,)
            s[p + "mlp.fc1.weight"] = (4 * h, h)
            s[p + "mlp.fc1.bias"] = (4 * h,)
            s[p + "mlp.fc2.weight"] = (h, 4 * h)
            s[p + "mlp.fc2.bias"] = (h,)
    return s


def flux_shapes(*, hidden: int, heads: int, double: int, single: int, context: int, pooled: int,
                guidance: bool, channels: int = 64) -> Shapes:  # fmt: skip
    """Every tensor of a Flux transformer (dev with ``guidance``, else schnell), by original name."""
    h, d = hidden, hidden // heads
    s: Shapes = {
        "img_in.weight": (h, channels),
        "img_in.bias": (h,),
        "txt_in.weight": (h, context),
        "txt_in.bias": (h,),
        "final_layer.linear.weight": (channels, h),
        "final_layer.linear.bias": (channels,),
        "final_layer.adaLN_modulation.1.weight": (2 * h, h),
        "final_layer.adaLN_modulation.1.bias": (2 * h,),
    }
    embedders = {"time_in": FREQ, "vector_in": pooled, **({"guidance_in": FREQ} if guidance else {})}
    for name, width in embedders.items():
        s.update({f"{name}.in_layer.weight": (h, width), f"{name}.in_layer.bias": (h,),
                  f"{name}.out_layer.weight": (h, h), f"{name}.out_layer.bias": (h,)})  # fmt: skip
    for i in range(double):
        for side in ("img", "txt"):
            p = f"double_blocks.{i}.{side}_"
            s.update({
                p + "mod.lin.weight": (6 * h, h), p + "mod.lin.bias": (6 * h,),
                p + "attn.qkv.weight": (3 * h, h), p + "attn.qkv.bias": (3 * h,),
                p + "attn.norm.query_norm.scale": (d,), p + "attn.norm.key_norm.scale": (d,),
                p + "attn.proj.weight": (h, h), p + "attn.proj.bias": (h,),
                p + "mlp.0.weight": (4 * h, h), p + "mlp.0.bias": (4 * h,),
                p + "mlp.2.weight": (h, 4 * h), p + "mlp.2.bias": (h,),
            })  # fmt: skip
    for i in range(single):
        p = f"single_blocks.{i}."
        s.update({
            p + "linear1.weight": (7 * h, h), p + "linear1.bias": (7 * h,),
            p + "linear2.weight": (h, 5 * h), p + "linear2.bias": (h,),
            p + "norm.query_norm.scale": (d,), p + "norm.key_norm.scale": (d,),
            p + "modulation.lin.weight": (3 * h, h), p + "modulation.lin.bias": (3 * h,),
        })  # fmt: skip
    return s


def _swap_halves(t: Any) -> Any:
    """Original modulation is (shift, scale); diffusers' is (scale, shift)."""
    import torch

    shift, scale = t.chunk(2, dim=0)
    return torch.cat([scale, shift], dim=0)


_FLUX_DIRECT = {
    "img_in.": "x_embedder.",
    "txt_in.": "context_embedder.",
    "time_in.in_layer.": "time_text_embed.timestep_embedder.linear_1.",
    "time_in.out_layer.": "time_text_embed.timestep_embedder.linear_2.",
    "vector_in.in_layer.": "time_text_embed.text_embedder.linear_1.",
    "vector_in.out_layer.": "time_text_embed.text_embedder.linear_2.",
    "guidance_in.in_layer.": "time_text_embed.guidance_embedder.linear_1.",
    "guidance_in.out_layer.": "time_text_embed.guidance_embedder.linear_2.",
    "final_layer.linear.": "proj_out.",
}
_FLUX_DOUBLE = {
    "img_mod.lin.": "norm1.linear.",
    "txt_mod.lin.": "norm1_context.linear.",
    "img_attn.norm.query_norm.scale": "attn.norm_q.weight",
    "img_attn.norm.key_norm.scale": "attn.norm_k.weight",
    "txt_attn.norm.query_norm.scale": "attn.norm_added_q.weight",
    "txt_attn.norm.key_norm.scale": "attn.norm_added_k.weight",
    "img_attn.proj.": "attn.to_out.0.",
    "txt_attn.proj.": "attn.to_add_out.",
    "img_mlp.0.": "ff.net.0.proj.",
    "img_mlp.2.": "ff.net.2.",
    "txt_mlp.0.": "ff_context.net.0.proj.",
    "txt_mlp.2.": "ff_context.net.2.",
}
_FLUX_SINGLE = {
    "modulation.lin.": "norm.linear.",
    "norm.query_norm.scale": "attn.norm_q.weight",
    "norm.key_norm.scale": "attn.norm_k.weight",
    "linear2.": "proj_out.",
}


def _renamed(rest: str, table: Mapping[str, str]) -> str | None:
    for old, new in table.items():
        if rest.startswith(old):
            return new + rest[len(old) :]
    return None


def flux_to_diffusers(state: Mapping[str, Any]) -> dict[str, Any]:
    """An original-layout Flux transformer state -> diffusers' ``FluxTransformer2DModel`` names.

    Widths come from the tensors (``img_in`` gives the hidden size), never from Flux's own
    3072. A key this does not know raises ``KeyError`` naming it.
    """
    import torch

    state = {k.removeprefix("model.diffusion_model."): v for k, v in state.items()}
    hidden = int(state["img_in.weight"].shape[0])
    out: dict[str, Any] = {}
    for key, value in state.items():
        if key.startswith("final_layer.adaLN_modulation.1."):
            out["norm_out.linear." + key.rsplit(".", 1)[1]] = _swap_halves(value)
            continue
        new = _renamed(key, _FLUX_DIRECT)
        if new is not None:
            out[new] = value
            continue
        head, _, tail = key.partition(".")
        index, _, rest = tail.partition(".")
        kind = rest.rsplit(".", 1)[-1]
        if head == "double_blocks":
            p = f"transformer_blocks.{index}."
            if rest.startswith(("img_attn.qkv.", "txt_attn.qkv.")):
                names = ("to_q", "to_k", "to_v") if rest.startswith("img") else ("add_q_proj", "add_k_proj", "add_v_proj")
                for name, part in zip(names, torch.chunk(value, 3, dim=0), strict=True):
                    out[f"{p}attn.{name}.{kind}"] = part
                continue
            new = _renamed(rest, _FLUX_DOUBLE)
        elif head == "single_blocks":
            p = f"single_transformer_blocks.{index}."
            if rest.startswith("linear1."):
                q, k, v, mlp = torch.split(value, (hidden, hidden, hidden, value.shape[0] - 3 * hidden), dim=0)
                for name, part in (("attn.to_q", q), ("attn.to_k", k), ("attn.to_v", v), ("proj_mlp", mlp)):
                    out[f"{p}{name}.{kind}"] = part
                continue
            new = _renamed(rest, _FLUX_SINGLE)
        else:
            p = ""
        if new is None:
            raise KeyError(key)
        out[p + new] = value
    return out


def invert(convert: Callable[[dict[str, Any]], Mapping[str, Any]], shapes: Shapes,
           target: Mapping[str, Any]) -> dict[str, Any]:  # fmt: skip
    """The original-layout state that ``convert`` turns into ``target`` (a diffusers state dict).

    Raises:
        ValueError: the converter's keys or shapes differ from ``target``'s, or it drops or
            repeats an original element (then no original state converts to ``target``).
    """
    import torch

    ids: dict[str, Any] = {}
    offset = 0
    for key, shape in shapes.items():
        n = 1
        for dim in shape:
            n *= dim
        # float64 holds every integer below 2**53 exactly, so positions survive the converter
        ids[key] = torch.arange(offset, offset + n, dtype=torch.float64).reshape(shape)
        offset += n
    mapped = convert(dict(ids))
    if set(mapped) != set(target):
        missing, extra = sorted(set(target) - set(mapped)), sorted(set(mapped) - set(target))
        raise ValueError(f"converter and model disagree: missing {missing[:3]}, unexpected {extra[:3]}")
    flat = torch.empty(offset, dtype=torch.float32)
    seen = torch.zeros(offset, dtype=torch.int32)
    for key, positions in mapped.items():
        value = target[key]
        if tuple(positions.shape) != tuple(value.shape):
            raise ValueError(f"{key}: converter gives {tuple(positions.shape)}, model has {tuple(value.shape)}")
        index = positions.reshape(-1).long()
        flat[index] = value.detach().reshape(-1).float()
        seen[index] += 1
    if not bool((seen == 1).all()):
        raise ValueError("the converter drops or repeats original elements")
    out: dict[str, Any] = {}
    offset = 0
    for key, shape in shapes.items():
        n = int(ids[key].numel())
        out[key] = flat[offset : offset + n].reshape(shape).clone()
        offset += n
    return out
