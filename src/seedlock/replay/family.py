"""Which model family a single-file checkpoint is, decided as ComfyUI decides it: from the
weights' keys and shapes, never the file name (a renamed SDXL file is still SDXL).

Both the generate engine (which pipeline and config to load) and the ComfyUI replay (which
numerics it mirrors) ask this one function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["UNET", "detect_family", "unet_width"]

UNET = "model.diffusion_model."


def unet_width(shapes: Mapping[str, Sequence[int]]) -> int:
    """The UNet's base channel count (320 for SD-1.x, SD-2.x and SDXL base; 384 for the refiner), 0 if none."""
    return int(shapes.get(f"{UNET}input_blocks.0.0.weight", (0,))[0])


def detect_family(shapes: Mapping[str, Sequence[int]]) -> str:
    """The model family of a single-file checkpoint, from its keys and shapes.

    ``sd1``, ``sd2`` (1024-wide context), ``sdxl`` / ``sdxl-refiner`` (label embedding),
    ``sd3`` (joint blocks), ``flux`` (double blocks), else ``unknown``.
    """
    if any(k.startswith(("double_blocks.", "model.diffusion_model.double_blocks.")) for k in shapes):
        return "flux"
    if any(k.startswith(("joint_blocks.", "model.diffusion_model.joint_blocks.")) for k in shapes):
        return "sd3"
    if f"{UNET}label_emb.0.0.weight" in shapes:
        # the refiner's only text encoder is OpenCLIP, as the first embedder
        refiner = unet_width(shapes) == 384 or "conditioner.embedders.0.model.text_projection" in shapes
        return "sdxl-refiner" if refiner else "sdxl"
    ctx = next((v[1] for k, v in shapes.items() if k.startswith(UNET) and k.endswith("attn2.to_k.weight")), None)
    if ctx == 768:
        return "sd1"
    if ctx == 1024:
        return "sd2"
    return "unknown"
