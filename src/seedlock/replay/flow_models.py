"""The built-in tiny SD3 and Flux models: flow-matching transformers of each family's shape.

Written in the single-file layout ComfyUI saves (``model.diffusion_model.*`` in the
reference names, ``first_stage_model.*``, ``text_encoders.{clip_l,clip_g,t5xxl}.transformer.*``)
and loaded back from that layout, key by key with nothing left over, into diffusers'
``StableDiffusion3Pipeline`` / ``FluxPipeline``.

- ``tiny-sd3``: MMDiT (3.0 medium layout: joint blocks, the last one context-pre-only),
  CLIP-L and CLIP-G (the pooled projections concatenated), T5, a 16-channel VAE,
  shifted flow-matching schedule (shift 3).
- ``tiny-flux``: Flux dev layout (double and single blocks, guidance embedding, 2x2
  packed latents, RoPE), CLIP-L pooled, T5, a 16-channel VAE, resolution-dependent shift.

T5's SentencePiece vocabulary is not shipped with any package, so the tiny models use
ByT5's byte-level tokenizer (which needs no vocabulary file) at the same place in the
pipeline; a real SD3 or Flux file is therefore detected but not generated from.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from seedlock.replay.configs import _CLIP_TEXT, _GELU_TEXT, _VAE_LAYOUT, FAMILIES, write_tokenizer
from seedlock.replay.flow_keys import flux_shapes, flux_to_diffusers, invert, sd3_shapes
from seedlock.replay.ldm_keys import VAE_PREFIX, text_to_ldm, vae_to_ldm

__all__ = ["FLOW", "build_flow_state", "load_flow_pipeline"]

TRANSFORMER = "model.diffusion_model."
CLIP_L = "text_encoders.clip_l.transformer."
CLIP_G = "text_encoders.clip_g.transformer."
T5 = "text_encoders.t5xxl.transformer."

_VAE16: dict[str, Any] = {
    **_VAE_LAYOUT,
    "block_out_channels": [32, 32, 64, 64],
    "latent_channels": 16,
    "use_quant_conv": False,
    "use_post_quant_conv": False,
    "sample_size": 64,
}
_T5: dict[str, Any] = {
    "vocab_size": 384,  # ByT5: 256 bytes, 3 specials, 125 sentinels
    "d_kv": 16,
    "num_layers": 2,
    "num_heads": 4,
    "feed_forward_proj": "gated-gelu",
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "is_encoder_decoder": False,
    "use_cache": False,
}

#: tiny family -> its transformer, VAE, encoders and scheduler (what a real file's widths would be read into)
FLOW: dict[str, dict[str, Any]] = {
    "tiny-sd3": {
        "pipeline": "StableDiffusion3Pipeline",
        "transformer": {
            "sample_size": 8,
            "patch_size": 2,
            "in_channels": 16,
            "out_channels": 16,
            "num_layers": 2,
            "attention_head_dim": 16,
            "num_attention_heads": 2,
            # T5's width; CLIP-L + CLIP-G hidden states (32 + 48) are zero-padded up to it
            "joint_attention_dim": 96,
            "caption_projection_dim": 32,
            "pooled_projection_dim": 32 + 48,
            "pos_embed_max_size": 32,
        },
        "vae": {**_VAE16, "scaling_factor": 1.5305, "shift_factor": 0.0609},
        "clip_l": FAMILIES["tiny-sd1"]["text_encoder"],
        "clip_g": {
            **_GELU_TEXT,
            "hidden_size": 48,
            "intermediate_size": 96,
            "num_hidden_layers": 3,
            "num_attention_heads": 4,
            "projection_dim": 48,
        },
        "t5": {**_T5, "d_model": 96, "d_ff": 128},
        "scheduler": {"num_train_timesteps": 1000, "shift": 3.0},
    },
    "tiny-flux": {
        "pipeline": "FluxPipeline",
        "transformer": {
            "patch_size": 1,
            "in_channels": 64,
            "num_layers": 2,
            "num_single_layers": 2,
            "attention_head_dim": 16,
            "num_attention_heads": 2,
            "joint_attention_dim": 48,
            "pooled_projection_dim": 32,
            "guidance_embeds": True,
            "axes_dims_rope": [4, 6, 6],
        },
        "vae": {**_VAE16, "scaling_factor": 0.3611, "shift_factor": 0.1159},
        "clip_l": {**_CLIP_TEXT, **FAMILIES["tiny-sd1"]["text_encoder"]},
        "t5": {**_T5, "d_model": 48, "d_ff": 96},
        "scheduler": {
            "num_train_timesteps": 1000,
            "shift": 3.0,
            "use_dynamic_shifting": True,
            "base_shift": 0.5,
            "max_shift": 1.15,
            "base_image_seq_len": 256,
            "max_image_seq_len": 4096,
        },
    },
}


def _transformer(family: str) -> Any:
    import diffusers

    cls = diffusers.FluxTransformer2DModel if family == "tiny-flux" else diffusers.SD3Transformer2DModel
    return cls(**FLOW[family]["transformer"])


def _original_shapes(family: str) -> dict[str, tuple[int, ...]]:
    t = FLOW[family]["transformer"]
    hidden = t["attention_head_dim"] * t["num_attention_heads"]
    if family == "tiny-flux":
        return flux_shapes(hidden=hidden, heads=t["num_attention_heads"], double=t["num_layers"],
                           single=t["num_single_layers"], context=t["joint_attention_dim"],
                           pooled=t["pooled_projection_dim"], guidance=t["guidance_embeds"])  # fmt: skip
    return sd3_shapes(hidden=hidden, layers=t["num_layers"], context=t["joint_attention_dim"],
                      pooled=t["pooled_projection_dim"], max_pos=t["pos_embed_max_size"])  # fmt: skip


def _to_diffusers(family: str, state: dict[str, Any]) -> dict[str, Any]:
    """The transformer's original-layout tensors in diffusers' names (SD3 by diffusers' own converter)."""
    if family == "tiny-flux":
        return flux_to_diffusers(state)
    from diffusers.loaders.single_file_utils import convert_sd3_transformer_checkpoint_to_diffusers

    rest = dict(state)
    out = dict(convert_sd3_transformer_checkpoint_to_diffusers(rest))
    if rest:  # diffusers' converter leaves what it does not know behind, silently
        raise KeyError(sorted(rest)[0])
    return out


def _text_encoders(family: str) -> dict[str, Any]:
    """prefix -> (model class, config) of each text encoder, in the order they are seeded."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, T5Config, T5EncoderModel

    spec = FLOW[family]
    if family == "tiny-flux":
        return {
            CLIP_L: (CLIPTextModel, CLIPTextConfig(**spec["clip_l"])),
            T5: (T5EncoderModel, T5Config(**spec["t5"])),
        }
    return {
        CLIP_L: (CLIPTextModelWithProjection, CLIPTextConfig(**spec["clip_l"])),
        CLIP_G: (CLIPTextModelWithProjection, CLIPTextConfig(**spec["clip_g"])),
        T5: (T5EncoderModel, T5Config(**spec["t5"])),
    }


def _sd3_pos_embed(family: str) -> Any:
    """SD3's fixed 2-D sin-cos position table, as diffusers lays it out, with scalar libm trigonometry.

    torch's vectorised sin/cos give last-bit differences depending on where a tensor's memory
    starts, which would make two builds of the same model differ.
    """
    import math

    import torch

    t = FLOW[family]["transformer"]
    size, hidden = t["pos_embed_max_size"], t["attention_head_dim"] * t["num_attention_heads"]
    base = t["sample_size"] // t["patch_size"]
    axis = torch.arange(size, dtype=torch.float32) / (size / base)
    rows, cols = torch.meshgrid(axis, axis, indexing="ij")
    half = hidden // 2
    omega = 1.0 / 10000 ** (torch.arange(half // 2, dtype=torch.float64) / (half / 2.0))

    def table(pos: Any) -> Any:
        angles = torch.outer(pos.reshape(-1).double(), omega)
        flat = angles.reshape(-1).tolist()
        sin = torch.tensor([math.sin(a) for a in flat], dtype=torch.float64).reshape(angles.shape)
        cos = torch.tensor([math.cos(a) for a in flat], dtype=torch.float64).reshape(angles.shape)
        return torch.cat([sin, cos], dim=1)

    return torch.cat([table(cols), table(rows)], dim=1).float().unsqueeze(0)


def build_flow_state(family: str) -> dict[str, Any]:
    """The tiny model's single-file state (seeded: 0 transformer, 1 VAE, 2.. text encoders)."""
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    transformer = _transformer(family)
    state: dict[str, Any] = {}
    original = invert(lambda s: _to_diffusers(family, s), _original_shapes(family), transformer.state_dict())
    if family == "tiny-sd3":
        original["pos_embed"] = _sd3_pos_embed(family)
    state.update({TRANSFORMER + k: v for k, v in original.items()})
    torch.manual_seed(1)
    state.update(vae_to_ldm(AutoencoderKL(**FLOW[family]["vae"]).state_dict()))
    for seed, (prefix, (cls, config)) in enumerate(_text_encoders(family).items(), start=2):
        torch.manual_seed(seed)
        encoder = cls(config)
        weights = encoder.state_dict()
        if prefix == T5:
            state.update({prefix + k: v for k, v in weights.items() if k != "encoder.embed_tokens.weight"})
        else:
            if prefix == CLIP_L and family == "tiny-sd3":
                # SD3 files carry no CLIP-L projection: the loader uses the identity, as diffusers and ComfyUI do
                weights = {k: v for k, v in weights.items() if not k.startswith("text_projection.")}
            state.update(text_to_ldm(weights, prefix))
    return {k: v.detach().contiguous().clone() for k, v in state.items()}


def _take(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix) :]: state.pop(k) for k in [k for k in state if k.startswith(prefix)]}


def _load_strict(module: Any, weights: dict[str, Any], what: str, path: str) -> None:
    from seedlock.errors import ReplayRefused

    missing, unexpected = module.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise ReplayRefused(
            f"{Path(path).name}: the {what} does not match the {module.__class__.__name__} layout "
            f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})"
        )


def load_flow_pipeline(path: str | os.PathLike[str], family: str, dtype: Any) -> Any:
    """Load a tiny SD3 / Flux single file into its diffusers pipeline, every tensor accounted for."""
    import diffusers
    import torch
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint
    from safetensors.torch import load_file
    from transformers import ByT5Tokenizer, CLIPTokenizer

    from seedlock.errors import ReplayRefused
    from seedlock.paths import home

    spec = FLOW[family]
    state = load_file(str(path))
    transformer = _transformer(family)
    try:
        weights = _to_diffusers(family, _take(state, TRANSFORMER))
    except (KeyError, IndexError, RuntimeError) as exc:
        raise ReplayRefused(f"{Path(path).name}: the transformer is not in the {family} layout ({exc})") from None
    _load_strict(transformer, weights, "transformer", str(path))
    vae = diffusers.AutoencoderKL(**spec["vae"])
    vae_state = {k: v for k, v in state.items() if k.startswith(VAE_PREFIX)}
    for k in vae_state:
        state.pop(k)
    _load_strict(vae, convert_ldm_vae_checkpoint(vae_state, spec["vae"]), "VAE", str(path))
    encoders: list[Any] = []
    for prefix, (cls, config) in _text_encoders(family).items():
        model = cls(config)
        weights = _take(state, prefix)
        if prefix != T5 and not hasattr(model, "text_model"):
            weights = {k.removeprefix("text_model."): v for k, v in weights.items()}
        if prefix == T5:
            weights.setdefault("encoder.embed_tokens.weight", weights.get("shared.weight"))
        if prefix == CLIP_L and hasattr(model, "text_projection") and "text_projection.weight" not in weights:
            weights["text_projection.weight"] = torch.eye(config.hidden_size)
        _load_strict(model, weights, prefix.split(".")[1], str(path))
        encoders.append(model.eval())
    if state:
        raise ReplayRefused(f"{Path(path).name}: tensors no {family} component takes: {sorted(state)[:3]}")
    folder = home() / "configs" / family
    if not (folder / "tokenizer" / "merges.txt").exists():
        write_tokenizer(folder / "tokenizer")
        write_tokenizer(folder / "tokenizer_2", pad_token="!")
    clip_tok = CLIPTokenizer.from_pretrained(str(folder / "tokenizer"))
    t5_tok = ByT5Tokenizer()
    scheduler = diffusers.FlowMatchEulerDiscreteScheduler(**spec["scheduler"])
    if family == "tiny-flux":
        pipe = diffusers.FluxPipeline(scheduler=scheduler, vae=vae, text_encoder=encoders[0], tokenizer=clip_tok,
                                      text_encoder_2=encoders[1], tokenizer_2=t5_tok, transformer=transformer)  # fmt: skip
    else:
        pipe = diffusers.StableDiffusion3Pipeline(
            transformer=transformer, scheduler=scheduler, vae=vae,
            text_encoder=encoders[0], tokenizer=clip_tok,
            text_encoder_2=encoders[1], tokenizer_2=CLIPTokenizer.from_pretrained(str(folder / "tokenizer_2")),
            text_encoder_3=encoders[2], tokenizer_3=t5_tok,
        )  # fmt: skip
    return pipe if dtype == torch.float32 else pipe.to(dtype=dtype)
