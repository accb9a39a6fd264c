"""The hires fix: upscale the first pass, then denoise it again at the new size (A1111's rule).

Upscalers are named as A1111 names them. The latent ones interpolate the first pass's latents
(``torch.nn.functional.interpolate`` with A1111's mode and antialias flag); the pixel ones
decode, quantise to 8 bits by truncation (as A1111 hands the image to its upscaler), resize with
Pillow and let the second pass encode the result, drawing the VAE's posterior sample from the
pass's seeded generator. The second pass is an img2img run of ``steps`` at ``denoise``
strength; its noise comes from a fresh CPU generator seeded with the image's seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from seedlock.errors import InvalidSpec

__all__ = ["LATENT_MODES", "PIXEL_FILTERS", "canonical_upscaler", "upscale"]

#: A1111 label (lower case) -> (interpolate mode, antialias)
LATENT_MODES: dict[str, tuple[str, bool]] = {
    "latent": ("bilinear", False),
    "latent (antialiased)": ("bilinear", True),
    "latent (bicubic)": ("bicubic", False),
    "latent (bicubic antialiased)": ("bicubic", True),
    "latent (nearest)": ("nearest", False),
    "latent (nearest-exact)": ("nearest-exact", False),
}
#: A1111 label (lower case) -> Pillow filter name
PIXEL_FILTERS = {"lanczos": "LANCZOS", "nearest": "NEAREST"}
_SHORT = {"latent-bicubic": "latent (bicubic)", "latent-nearest": "latent (nearest)",
          "latent-nearest-exact": "latent (nearest-exact)", "latent-antialiased": "latent (antialiased)",
          "latent-bicubic-antialiased": "latent (bicubic antialiased)"}  # fmt: skip


def canonical_upscaler(name: str) -> str:
    """An upscaler in A1111's words (``Latent (bicubic)``) or seedlock's short form (``latent-bicubic``),
    as the A1111 label seedlock records.

    Raises:
        InvalidSpec: a name seedlock cannot run (model upscalers such as ESRGAN are not shipped).
    """
    key = _SHORT.get(name.strip().lower(), name.strip().lower())
    if key not in LATENT_MODES and key not in PIXEL_FILTERS:
        known = ", ".join(sorted({*LATENT_MODES, *PIXEL_FILTERS, *_SHORT}))
        raise InvalidSpec(f"upscaler {name!r} is not one seedlock runs ({known})", value=name)
    if key in PIXEL_FILTERS:
        return key.capitalize()
    return "Latent" + key[len("latent") :]


@dataclass(frozen=True)
class Upscaled:
    """What the second pass starts from: 4-channel latents, or an RGB image for it to encode."""

    latents: Any = None
    image: Any = None


def upscale(pipe: Any, latents: Any, upscaler: str, width: int, height: int) -> Upscaled:
    """The first pass's latents (scaled, as the sampler leaves them) taken to ``width`` x ``height``."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    key = upscaler.lower()
    if key in LATENT_MODES:
        mode, antialias = LATENT_MODES[key]
        return Upscaled(latents=F.interpolate(latents, size=(height // 8, width // 8), mode=mode, antialias=antialias))
    from PIL import Image

    vae = pipe.vae
    with torch.no_grad():
        decoded = vae.decode(latents.to(vae.dtype) / vae.config.scaling_factor, return_dict=False)[0]
    pixels = torch.clamp((decoded.float() + 1.0) / 2.0, 0.0, 1.0)[0]
    # A1111 truncates to 8 bits before its upscaler sees the image
    array = (255.0 * np.moveaxis(pixels.cpu().numpy(), 0, 2)).astype(np.uint8)
    image = Image.fromarray(array).resize((width, height), getattr(Image.Resampling, PIXEL_FILTERS[key]))
    return Upscaled(image=image)
