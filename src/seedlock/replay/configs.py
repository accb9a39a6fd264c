"""The diffusers-format config folders that ``from_single_file`` would otherwise fetch
from a hub, written locally (configs and a tokenizer, no weights).

The real families (``sd1`` SD-1.5, ``sd2`` / ``sd2-v`` SD-2.1 base and 768-v, ``sdxl`` SDXL base
1.0, ``sdxl-refiner`` its refiner) and seedlock's built-in test models (``tiny-*``, each of its
family's topology at tiny widths). The tokenizer is OpenAI's CLIP BPE from the vocabulary seedlock
ships, written as ``vocab.json`` + ``merges.txt``, which every transformers version loads
alike (transformers 5 would save only ``tokenizer.json``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from seedlock.files import atomic_write_bytes
from seedlock.paths import home

#: the public SD-1.x scheduler config: the pristine base every scheduler is built from
SD1_SCHEDULER: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
}

#: what every SD-1.x family shares; a family adds only its widths
_UNET_LAYOUT: dict[str, Any] = {
    "layers_per_block": 2,
    "attention_head_dim": 8,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}
_VAE_LAYOUT: dict[str, Any] = {
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "layers_per_block": 2,
    "latent_channels": 4,
    "in_channels": 3,
    "out_channels": 3,
    "scaling_factor": 0.18215,
}
_CLIP_TEXT: dict[str, Any] = {"vocab_size": 49408, "max_position_embeddings": 77, "hidden_act": "quick_gelu"}

FAMILIES: dict[str, dict[str, Any]] = {
    "tiny-sd1": {
        "unet": {**_UNET_LAYOUT, "block_out_channels": [32, 32, 64, 64], "cross_attention_dim": 32, "sample_size": 8},
        "vae": {**_VAE_LAYOUT, "block_out_channels": [32, 32, 64, 64], "sample_size": 64},
        "text_encoder": {
            **_CLIP_TEXT,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 3,
            "num_attention_heads": 4,
            "projection_dim": 32,
            "bos_token_id": 49406,
            "eos_token_id": 49407,
            "pad_token_id": 49407,
        },
    },
    "sd1": {
        "unet": {
            **_UNET_LAYOUT,
            "block_out_channels": [320, 640, 1280, 1280],
            "cross_attention_dim": 768,
            "sample_size": 64,
        },
        "vae": {**_VAE_LAYOUT, "block_out_channels": [128, 256, 512, 512], "sample_size": 512},
        "text_encoder": {
            **_CLIP_TEXT,
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "projection_dim": 768,
            "bos_token_id": 0,
            "eos_token_id": 2,
            "pad_token_id": 1,
        },
    },
}


_SDXL_UNET: dict[str, Any] = {
    "layers_per_block": 2,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "use_linear_projection": True,
    "addition_embed_type": "text_time",
}
_GELU_TEXT: dict[str, Any] = {**_CLIP_TEXT, "hidden_act": "gelu", "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1}

FAMILIES["tiny-sdxl"] = {
    "pipeline": "StableDiffusionXLPipeline",
    "unet": {
        **_SDXL_UNET,
        "block_out_channels": [32, 64, 64],
        "attention_head_dim": [2, 4, 4],
        "transformer_layers_per_block": [1, 1, 2],
        # the two encoders' widths differ, as in SDXL (768 and 1280): loaders tell them apart by width
        "cross_attention_dim": 32 + 48,
        "addition_time_embed_dim": 8,
        "projection_class_embeddings_input_dim": 6 * 8 + 48,
        "sample_size": 8,
    },
    "vae": {**_VAE_LAYOUT, "block_out_channels": [32, 32, 64, 64], "sample_size": 64, "scaling_factor": 0.13025},
    "text_encoder": FAMILIES["tiny-sd1"]["text_encoder"],
    "text_encoder_2": {
        **_GELU_TEXT,
        "hidden_size": 48,
        "intermediate_size": 96,
        "num_hidden_layers": 3,
        "num_attention_heads": 4,
        "projection_dim": 48,
    },
}
FAMILIES["sdxl"] = {
    "pipeline": "StableDiffusionXLPipeline",
    "unet": {
        **_SDXL_UNET,
        "block_out_channels": [320, 640, 1280],
        "attention_head_dim": [5, 10, 20],
        "transformer_layers_per_block": [1, 2, 10],
        "cross_attention_dim": 2048,
        "addition_time_embed_dim": 256,
        "projection_class_embeddings_input_dim": 2816,
        "sample_size": 128,
    },
    "vae": {**_VAE_LAYOUT, "block_out_channels": [128, 256, 512, 512], "sample_size": 1024, "scaling_factor": 0.13025},
    "text_encoder": FAMILIES["sd1"]["text_encoder"],
    "text_encoder_2": {
        **_GELU_TEXT,
        "hidden_size": 1280,
        "intermediate_size": 5120,
        "num_hidden_layers": 32,
        "num_attention_heads": 20,
        "projection_dim": 1280,
    },
}


#: SDXL's refiner: OpenCLIP only, four UNet levels with attention in the middle two, and an
#: aesthetic-score embedding in place of the target size (five time ids instead of six)
_REFINER_UNET: dict[str, Any] = {
    **_SDXL_UNET,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
}
FAMILIES["tiny-sdxl-refiner"] = {
    "pipeline": "StableDiffusionXLImg2ImgPipeline",
    "unet": {
        **_REFINER_UNET,
        "block_out_channels": [32, 64, 64, 96],
        "attention_head_dim": [2, 4, 4, 4],
        "transformer_layers_per_block": [1, 2, 2, 1],
        "cross_attention_dim": 48,
        "addition_time_embed_dim": 8,
        "projection_class_embeddings_input_dim": 5 * 8 + 48,
        "sample_size": 8,
    },
    "vae": FAMILIES["tiny-sdxl"]["vae"],
    "text_encoder_2": FAMILIES["tiny-sdxl"]["text_encoder_2"],
}
_SD2_UNET: dict[str, Any] = {**_UNET_LAYOUT, "use_linear_projection": True}
#: SD-2's text encoder is OpenCLIP-H in OpenCLIP's layout; the tokenizer pads with "!"
_SD2_TEXT: dict[str, Any] = {**_GELU_TEXT}
#: SD-2 768-v predicts velocity; its 512 base (and the tiny model's sibling) predicts noise
V_PREDICTION: dict[str, Any] = {"prediction_type": "v_prediction"}
FAMILIES["tiny-sd2"] = {
    "unet": {**_SD2_UNET, "block_out_channels": [32, 32, 64, 64], "attention_head_dim": [2, 2, 4, 4],
             "cross_attention_dim": 48, "sample_size": 8},
    "vae": FAMILIES["tiny-sd1"]["vae"],
    "text_encoder": {**_SD2_TEXT, "hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 3,
                     "num_attention_heads": 4, "projection_dim": 48},
    "scheduler": V_PREDICTION,
    "pad_token": "!",
}
_SD2_REAL: dict[str, Any] = {
    "unet": {**_SD2_UNET, "block_out_channels": [320, 640, 1280, 1280], "attention_head_dim": [5, 10, 20, 20],
             "cross_attention_dim": 1024, "sample_size": 96},
    "vae": FAMILIES["sd1"]["vae"],
    # OpenCLIP-H has 24 layers; SD-2 uses the penultimate one, so diffusers builds 23
    "text_encoder": {**_SD2_TEXT, "hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 23,
                     "num_attention_heads": 16, "projection_dim": 512},
    "pad_token": "!",
}
FAMILIES["sd2"] = {**_SD2_REAL, "scheduler": {}}
FAMILIES["sd2-v"] = {**_SD2_REAL, "scheduler": V_PREDICTION}
FAMILIES["sdxl-refiner"] = {
    "pipeline": "StableDiffusionXLImg2ImgPipeline",
    "unet": {
        **_REFINER_UNET,
        "block_out_channels": [384, 768, 1536, 1536],
        "attention_head_dim": [6, 12, 24, 24],
        "transformer_layers_per_block": 4,
        "cross_attention_dim": 1280,
        "addition_time_embed_dim": 256,
        "projection_class_embeddings_input_dim": 2560,
        "sample_size": 128,
    },
    "vae": FAMILIES["sdxl"]["vae"],
    "text_encoder_2": FAMILIES["sdxl"]["text_encoder_2"],
}


def _json(path: Path, obj: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def write_tokenizer(folder: Path, pad_token: str = "<|endoftext|>") -> None:
    """vocab.json + merges.txt rebuilt from OpenAI's BPE file (shipped in seedlock/diff/data).

    SDXL's second tokenizer pads with ``!`` where the first pads with the end token.
    """
    from seedlock.diff.tokens import tokenizer

    tok = tokenizer()
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(folder / "vocab.json", json.dumps(tok.encoder, ensure_ascii=False).encode("utf-8"))
    merges = "#version: 0.2\n" + "\n".join(" ".join(p) for p in sorted(tok.ranks, key=tok.ranks.__getitem__)) + "\n"
    atomic_write_bytes(folder / "merges.txt", merges.encode("utf-8"))
    _json(
        folder / "tokenizer_config.json",
        {
            "tokenizer_class": "CLIPTokenizer",
            "model_max_length": 77,
            "bos_token": "<|startoftext|>",
            "eos_token": "<|endoftext|>",
            "unk_token": "<|endoftext|>",
            "pad_token": pad_token,
            "do_lower_case": True,
        },
    )


def config_folder(family: str) -> Path:
    """The local diffusers-format folder for a family, written once into the seedlock home."""
    if family not in FAMILIES:
        raise KeyError(family)
    import hashlib

    # the folder is named by its content, so a changed configuration never meets a stale folder
    digest = hashlib.sha256(json.dumps(FAMILIES[family], sort_keys=True).encode()).hexdigest()[:12]
    folder = home() / "configs" / f"{family}-{digest}"
    marker = folder / "model_index.json"
    if marker.exists():
        return folder
    spec = FAMILIES[family]
    if spec.get("pipeline") in ("StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline"):
        _sdxl_folder(folder, spec)
        return folder
    _json(folder / "unet" / "config.json", {"_class_name": "UNet2DConditionModel", **spec["unet"]})
    _json(folder / "vae" / "config.json", {"_class_name": "AutoencoderKL", **spec["vae"]})
    _json(
        folder / "text_encoder" / "config.json",
        {"architectures": ["CLIPTextModel"], "model_type": "clip_text_model", **spec["text_encoder"]},
    )
    _json(
        folder / "scheduler" / "scheduler_config.json",
        {"_class_name": "PNDMScheduler", **SD1_SCHEDULER, **spec.get("scheduler", {})},
    )
    write_tokenizer(folder / "tokenizer", pad_token=spec.get("pad_token", "<|endoftext|>"))
    _json(
        marker,
        {
            "_class_name": "StableDiffusionPipeline",
            "feature_extractor": [None, None],
            "safety_checker": [None, None],
            "requires_safety_checker": False,
            "scheduler": ["diffusers", "PNDMScheduler"],
            "text_encoder": ["transformers", "CLIPTextModel"],
            "tokenizer": ["transformers", "CLIPTokenizer"],
            "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"],
        },
    )
    return folder


def _sdxl_folder(folder: Path, spec: dict[str, Any]) -> None:
    """SDXL base, or the refiner (no first text encoder, aesthetic score)."""
    refiner = "text_encoder" not in spec
    _json(folder / "unet" / "config.json", {"_class_name": "UNet2DConditionModel", **spec["unet"]})
    _json(folder / "vae" / "config.json", {"_class_name": "AutoencoderKL", "force_upcast": True, **spec["vae"]})
    if not refiner:
        _json(
            folder / "text_encoder" / "config.json",
            {"architectures": ["CLIPTextModel"], "model_type": "clip_text_model", **spec["text_encoder"]},
        )
        write_tokenizer(folder / "tokenizer")
    _json(
        folder / "text_encoder_2" / "config.json",
        {"architectures": ["CLIPTextModelWithProjection"], "model_type": "clip_text_model", **spec["text_encoder_2"]},
    )
    _json(folder / "scheduler" / "scheduler_config.json", {"_class_name": "EulerDiscreteScheduler", **SD1_SCHEDULER})
    write_tokenizer(folder / "tokenizer_2", pad_token="!")
    none: list[None] = [None, None]
    _json(
        folder / "model_index.json",
        {
            "_class_name": spec["pipeline"],
            "force_zeros_for_empty_prompt": not refiner,
            **({"requires_aesthetics_score": True} if refiner else {}),
            "scheduler": ["diffusers", "EulerDiscreteScheduler"],
            "text_encoder": none if refiner else ["transformers", "CLIPTextModel"],
            "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
            "tokenizer": none if refiner else ["transformers", "CLIPTokenizer"],
            "tokenizer_2": ["transformers", "CLIPTokenizer"],
            "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"],
        },
    )
