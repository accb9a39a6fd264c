"""What seedlock knows about ComfyUI node types: widget order, output slots, roles.

A UI-format workflow stores each node's widget values as a list; their names come from
the node's ``INPUT_TYPES`` (required, then optional, in order), with one extra value
after every seed widget for the frontend's ``control_after_generate``. Newer frontends
also list every widget as an input socket (``"widget": {"name": ...}``), which names
them for any node; this table covers the core nodes and the most used custom-node packs
for files written by older frontends. Entries are taken from each pack's published node
definitions; docs/readers.md lists them. Anything not listed is still read by shape
(a node whose inputs look like a sampler's is a sampling pass).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["CONTROL_VALUES", "NOTE_TYPES", "OUTPUTS", "PIPE_INPUTS", "SAMPLER_OUTPUT_TYPES", "WIDGETS", "widget_names"]

#: the frontend's control_after_generate values, stored after a seed widget
CONTROL_VALUES = frozenset({"fixed", "increment", "decrement", "randomize"})

_C = "control_after_generate"

#: node type -> widget names in widgets_values order
WIDGETS: Mapping[str, tuple[str, ...]] = {
    # core samplers and sampling pieces
    "KSampler": ("seed", _C, "steps", "cfg", "sampler_name", "scheduler", "denoise"),
    "KSamplerAdvanced": (
        "add_noise",
        "noise_seed",
        _C,
        "steps",
        "cfg",
        "sampler_name",
        "scheduler",
        "start_at_step",
        "end_at_step",
        "return_with_leftover_noise",
    ),
    "SamplerCustom": ("add_noise", "noise_seed", _C, "cfg"),
    "RandomNoise": ("noise_seed", _C),
    "KSamplerSelect": ("sampler_name",),
    "BasicScheduler": ("scheduler", "steps", "denoise"),
    "KarrasScheduler": ("steps", "sigma_max", "sigma_min", "rho"),
    "ExponentialScheduler": ("steps", "sigma_max", "sigma_min"),
    "SDTurboScheduler": ("steps", "denoise"),
    "AlignYourStepsScheduler": ("model_type", "steps", "denoise"),
    "BetaSamplingScheduler": ("steps", "alpha", "beta"),
    "CFGGuider": ("cfg",),
    "DualCFGGuider": ("cfg_conds", "cfg_cond2_negative"),
    "FluxGuidance": ("guidance",),
    # loaders
    "CheckpointLoaderSimple": ("ckpt_name",),
    "CheckpointLoader": ("config_name", "ckpt_name"),
    "ImageOnlyCheckpointLoader": ("ckpt_name",),
    "unCLIPCheckpointLoader": ("ckpt_name",),
    "UNETLoader": ("unet_name", "weight_dtype"),
    "CLIPLoader": ("clip_name", "type", "device"),
    "DualCLIPLoader": ("clip_name1", "clip_name2", "type", "device"),
    "TripleCLIPLoader": ("clip_name1", "clip_name2", "clip_name3"),
    "VAELoader": ("vae_name",),
    "LoraLoader": ("lora_name", "strength_model", "strength_clip"),
    "LoraLoaderModelOnly": ("lora_name", "strength_model"),
    "HypernetworkLoader": ("hypernetwork_name", "strength"),
    "ControlNetLoader": ("control_net_name",),
    "DiffControlNetLoader": ("control_net_name",),
    "UpscaleModelLoader": ("model_name",),
    "CLIPSetLastLayer": ("stop_at_clip_layer",),
    "ModelMergeSimple": ("ratio",),
    "ModelSamplingDiscrete": ("sampling", "zsnr"),
    "ModelSamplingSD3": ("shift",),
    "ModelSamplingFlux": ("max_shift", "base_shift", "width", "height"),
    # text
    "CLIPTextEncode": ("text",),
    "CLIPTextEncodeSDXL": ("width", "height", "crop_w", "crop_h", "target_width", "target_height", "text_g", "text_l"),
    "CLIPTextEncodeSDXLRefiner": ("ascore", "width", "height", "text"),
    "CLIPTextEncodeSD3": ("clip_l", "clip_g", "t5xxl", "empty_padding"),
    "CLIPTextEncodeFlux": ("clip_l", "t5xxl", "guidance"),
    "ConditioningSetArea": ("width", "height", "x", "y", "strength"),
    "ConditioningSetAreaPercentage": ("width", "height", "x", "y", "strength"),
    "ConditioningSetTimestepRange": ("start", "end"),
    "ConditioningCombine": (),
    "ControlNetApply": ("strength",),
    "ControlNetApplyAdvanced": ("strength", "start_percent", "end_percent"),
    # latents and images
    "EmptyLatentImage": ("width", "height", "batch_size"),
    "EmptySD3LatentImage": ("width", "height", "batch_size"),
    "StableCascade_EmptyLatentImage": ("width", "height", "compression", "batch_size"),
    "EmptyHunyuanLatentVideo": ("width", "height", "length", "batch_size"),
    "EmptyMochiLatentVideo": ("width", "height", "length", "batch_size"),
    "LatentUpscale": ("upscale_method", "width", "height", "crop"),
    "LatentUpscaleBy": ("upscale_method", "scale_by"),
    "ImageScale": ("upscale_method", "width", "height", "crop"),
    "ImageScaleBy": ("upscale_method", "scale_by"),
    "VAEEncodeForInpaint": ("grow_mask_by",),
    "LoadImage": ("image", "upload"),
    "SaveImage": ("filename_prefix",),
    "PrimitiveNode": ("value", _C),
    # Efficiency Nodes (jags111/efficiency-nodes-comfyui)
    "KSampler (Efficient)": (
        "seed",
        _C,
        "steps",
        "cfg",
        "sampler_name",
        "scheduler",
        "denoise",
        "preview_method",
        "vae_decode",
    ),
    "KSampler Adv. (Efficient)": (
        "add_noise",
        "noise_seed",
        _C,
        "steps",
        "cfg",
        "sampler_name",
        "scheduler",
        "start_at_step",
        "end_at_step",
        "return_with_leftover_noise",
        "preview_method",
        "vae_decode",
    ),
    "KSampler SDXL (Eff.)": (
        "noise_seed",
        _C,
        "steps",
        "cfg",
        "sampler_name",
        "scheduler",
        "start_at_step",
        "refine_at_step",
        "preview_method",
        "vae_decode",
    ),
    "Efficient Loader": (
        "ckpt_name",
        "vae_name",
        "clip_skip",
        "lora_name",
        "lora_model_strength",
        "lora_clip_strength",
        "positive",
        "negative",
        "token_normalization",
        "weight_interpretation",
        "empty_latent_width",
        "empty_latent_height",
        "batch_size",
    ),
    "Eff. Loader SDXL": (
        "base_ckpt_name",
        "base_clip_skip",
        "refiner_ckpt_name",
        "refiner_clip_skip",
        "positive_ascore",
        "negative_ascore",
        "vae_name",
        "positive",
        "negative",
        "token_normalization",
        "weight_interpretation",
        "empty_latent_width",
        "empty_latent_height",
        "batch_size",
    ),
    # Impact Pack (ltdrdata/ComfyUI-Impact-Pack)
    "ImpactKSamplerBasicPipe": ("seed", _C, "steps", "cfg", "sampler_name", "scheduler", "denoise"),
    "ImpactKSamplerAdvancedBasicPipe": (
        "add_noise",
        "noise_seed",
        _C,
        "steps",
        "cfg",
        "sampler_name",
        "scheduler",
        "start_at_step",
        "end_at_step",
        "return_with_leftover_noise",
    ),
    "ImpactWildcardProcessor": ("wildcard_text", "populated_text", "mode", "seed", _C, "Select to add Wildcard"),
    "ImpactWildcardEncode": (
        "wildcard_text",
        "populated_text",
        "mode",
        "Select to add LoRA",
        "Select to add Wildcard",
        "seed",
        _C,
    ),
    # rgthree (rgthree/rgthree-comfy)
    "Seed (rgthree)": ("seed",),
    "SDXL Empty Latent Image (rgthree)": ("dimensions", "clip_scale", "batch_size"),
    # WAS Node Suite and pysssss custom scripts
    "Text Multiline": ("text",),
    "Text String": ("text", "text_b", "text_c", "text_d"),
    "Text Concatenate": ("delimiter", "clean_whitespace"),
    "StringFunction|pysssss": ("action", "tidy_tags", "text_a", "text_b", "text_c"),
    # Comfyroll (Suzie1/ComfyUI_Comfyroll_CustomNodes)
    "CR Seed": ("seed", _C),
    "CR SDXL Aspect Ratio": ("width", "height", "aspect_ratio", "swap_dimensions", "upscale_factor", "batch_size"),
}

#: node type -> its output slots by name (lower-case role), for nodes whose outputs are a bundle
OUTPUTS: Mapping[str, tuple[str, ...]] = {
    "Efficient Loader": ("model", "positive", "negative", "latent", "vae", "clip", "dependencies"),
    "Eff. Loader SDXL": ("sdxl_tuple", "latent", "vae", "dependencies"),
    "FromBasicPipe": ("model", "clip", "vae", "positive", "negative"),
    "FromBasicPipe_v2": ("basic_pipe", "model", "clip", "vae", "positive", "negative"),
    "Context (rgthree)": ("context", "model", "clip", "vae", "positive", "negative", "latent", "image", "seed"),
    "Context Big (rgthree)": (
        "context",
        "model",
        "clip",
        "vae",
        "positive",
        "negative",
        "latent",
        "image",
        "seed",
        "steps",
        "step_refiner",
        "cfg",
        "ckpt_name",
        "sampler",
        "scheduler",
    ),
    "ControlNetApplyAdvanced": ("positive", "negative"),
    "SDXLPromptStyler": ("text_positive", "text_negative"),
    "ImpactWildcardEncode": ("model", "clip", "conditioning", "populated_text"),
    "CR SDXL Aspect Ratio": ("width", "height", "upscale_factor", "batch_size", "empty_latent"),
}

#: input names that carry a bundle (pipe, context, tuple) rather than one value
PIPE_INPUTS = ("basic_pipe", "pipe", "base_ctx", "ctx", "context", "sdxl_tuple", "bus")

#: output types that mark a sampling node's result in a UI workflow
SAMPLER_OUTPUT_TYPES = frozenset({"LATENT"})

#: node types that carry text for people, never a prompt
NOTE_TYPES = frozenset({"Note", "MarkdownNote", "PrimitiveStringMultiline (Note)", "Label (rgthree)"})


def widget_names(node_type: str, input_widgets: list[str], count: int) -> list[str] | None:
    """Names for a node's ``count`` widget values: the table's, else those the inputs list names.

    Returns None when neither knows the node (the caller reads it by shape).
    """
    known = WIDGETS.get(node_type)
    if known is not None:
        return list(known)
    if input_widgets:
        return input_widgets
    return None
