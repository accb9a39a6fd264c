"""ComfyUI's image and latent plumbing: LoadImage, its upscalers, and the VAE encode input.

Each follows ComfyUI's own float arithmetic: LoadImage divides 8-bit values by 255 in
float32 and takes the mask as ``1 - alpha``; upscaling is ``torch.nn.functional.interpolate``
(lanczos through Pillow on 8-bit truncated pixels); the VAE sees pixels centre-cropped to
a multiple of 8 and mapped to ``2x - 1``.
"""

from __future__ import annotations

import os
from typing import Any

from seedlock.errors import ReplayRefused

__all__ = ["encode_for_inpaint", "load_image", "upscale", "vae_encode"]

TORCH_MODES = frozenset({"nearest-exact", "bilinear", "area", "bicubic"})


def load_image(path: str | os.PathLike[str]) -> tuple[Any, Any]:
    """(image 1xHxWx3, mask 1xHxW) as ComfyUI's LoadImage gives them (first frame)."""
    import numpy as np
    import torch
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            frame = ImageOps.exif_transpose(im)
    except (OSError, UnidentifiedImageError) as exc:
        raise ReplayRefused(f"the graph's input image cannot be read ({exc})", path=str(path)) from None
    if frame.mode == "I":
        frame = frame.point(lambda v: v * (1 / 255))
    image = torch.from_numpy(np.array(frame.convert("RGB")).astype(np.float32) / 255.0)[None,]
    if "A" in frame.getbands():
        mask = 1.0 - torch.from_numpy(np.array(frame.getchannel("A")).astype(np.float32) / 255.0)
    elif frame.mode == "P" and "transparency" in frame.info:
        mask = 1.0 - torch.from_numpy(np.array(frame.convert("RGBA").getchannel("A")).astype(np.float32) / 255.0)
    else:
        mask = torch.zeros((64, 64), dtype=torch.float32, device="cpu")
    return image, mask.unsqueeze(0)


def _lanczos(samples: Any, width: int, height: int) -> Any:
    import numpy as np
    import torch
    from PIL import Image

    out = []
    for image in samples:
        arr = np.clip(255.0 * image.movedim(0, -1).cpu().numpy(), 0, 255).astype(np.uint8)
        pil = Image.fromarray(arr).resize((width, height), resample=Image.Resampling.LANCZOS)
        out.append(torch.from_numpy(np.array(pil).astype(np.float32) / 255.0).movedim(-1, 0))
    return torch.stack(out).to(samples.device, samples.dtype)


def upscale(samples: Any, width: int, height: int, method: str, crop: str, where: str) -> Any:
    """ComfyUI's common_upscale on an NCHW tensor (centre crop to the new aspect first if asked)."""
    import torch

    if crop == "center":
        old_w, old_h = samples.shape[-1], samples.shape[-2]
        old_aspect, new_aspect = old_w / old_h, width / height
        x = y = 0
        if old_aspect > new_aspect:
            x = round((old_w - old_w * (new_aspect / old_aspect)) / 2)
        elif old_aspect < new_aspect:
            y = round((old_h - old_h * (old_aspect / new_aspect)) / 2)
        samples = samples.narrow(-2, y, old_h - y * 2).narrow(-1, x, old_w - x * 2)
    elif crop != "disabled":
        raise ReplayRefused(f"crop={crop} ({where}) is not mirrored")
    if method == "lanczos":
        if samples.shape[1] != 3:
            raise ReplayRefused(f"lanczos upscaling of a latent ({where}) is not mirrored")
        return _lanczos(samples, width, height)
    if method not in TORCH_MODES:
        raise ReplayRefused(f"upscale method {method} ({where}) is not mirrored")
    return torch.nn.functional.interpolate(samples, size=(height, width), mode=method)


def _crop8(size: int) -> tuple[int, int]:
    """(offset, length) of ComfyUI's centre crop of one side to a multiple of 8."""
    return (size % 8) // 2, (size // 8) * 8


def vae_encode(vae: Any, pixels: Any) -> Any:
    """VAEEncode: NHWC pixels in [0, 1] -> the latent mean (not yet multiplied by the scale factor)."""
    for d, size in enumerate(pixels.shape[1:-1]):
        offset, keep = _crop8(size)
        if keep != size:
            pixels = pixels.narrow(d + 1, offset, keep)
    x = pixels.movedim(-1, 1) * 2.0 - 1.0
    return vae.encode(x).latent_dist.mode().float()


def encode_for_inpaint(vae: Any, pixels: Any, mask: Any, grow: int) -> dict[str, Any]:
    """VAEEncodeForInpaint: masked pixels set to grey, the mask grown by ``grow`` pixels as the noise mask."""
    import math

    import torch

    (x_off, x), (y_off, y) = _crop8(pixels.shape[1]), _crop8(pixels.shape[2])
    mask = torch.nn.functional.interpolate(mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1])),
                                           size=(pixels.shape[1], pixels.shape[2]), mode="bilinear")  # fmt: skip
    pixels = pixels[:, x_off : x + x_off, y_off : y + y_off, :].clone()
    mask = mask[:, :, x_off : x + x_off, y_off : y + y_off]
    if grow == 0:
        grown = mask
    else:
        kernel = torch.ones((1, 1, grow, grow))
        grown = torch.clamp(torch.nn.functional.conv2d(mask.round(), kernel, padding=math.ceil((grow - 1) / 2)), 0, 1)
    keep = (1.0 - mask.round()).squeeze(1)
    for i in range(3):
        pixels[:, :, :, i] -= 0.5
        pixels[:, :, :, i] *= keep
        pixels[:, :, :, i] += 0.5
    return {"samples": vae_encode(vae, pixels), "noise_mask": grown[:, :, :x, :y].round()}
