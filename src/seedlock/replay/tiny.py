"""The built-in tiny models: SD-1.x-, SDXL-, SD3- and Flux-architecture checkpoints from seeded random weights.

Same topology as SD 1.5 (4-level UNet with cross-attention, 4-level VAE, CLIP text
encoder with the real 49,408-token vocabulary) at tiny widths, so it is loaded through
exactly the path a real checkpoint takes (``from_single_file`` with a local config
folder) and makes a 64x64 image in about half a second on one CPU thread.

The weights are random, so its images are coloured noise that the seed dominates. The
cross-attention output of every UNet attention block is scaled by ``TEXT_GAIN`` so
that prompt edits visibly change the image. The file is byte-identical each time it
is built with the same torch/diffusers/transformers versions (random initialisation
differs between library versions, which is why tests compare runs with each other and
never against a hard-coded hash).

``tiny-sdxl`` has SDXL's topology (three UNet levels, attention in the last two with
transformer depth, the size/crop embedding, two text encoders, the second in OpenCLIP's
layout with a projection) and is written in SDXL's single-file layout
(``conditioner.embedders.*``), so it loads through the path an SDXL checkpoint takes.
``tiny-sd3`` and ``tiny-flux`` are described in :mod:`seedlock.replay.flow_models`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from seedlock.replay.configs import FAMILIES
from seedlock.replay.flow_models import FLOW, build_flow_state
from seedlock.replay.ldm_keys import (
    REFINER_ATTENTION,
    SDXL_ATTENTION,
    open_clip_to_ldm,
    text_to_ldm,
    unet_to_ldm,
    vae_to_ldm,
)

TEXT_GAIN = 10.0
FAMILY = "tiny-sd1"
#: what ``seedlock model build-tiny --family`` offers: family name -> the tiny model's family
TINY = {"sd1": "tiny-sd1", "sd2": "tiny-sd2", "sdxl": "tiny-sdxl", "sdxl-refiner": "tiny-sdxl-refiner", "sd3": "tiny-sd3",
        "flux": "tiny-flux"}  # fmt: skip


def build_tiny_state(family: str = FAMILY) -> dict[str, Any]:
    """The tiny model's single-file state dict (seeded: 0 UNet, 1 VAE, 2 and 3 text encoders)."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    if family in FLOW:
        return build_flow_state(family)
    spec = FAMILIES[family]
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**spec["unet"])
    with torch.no_grad():
        for name, p in unet.named_parameters():
            if name.endswith("attn2.to_out.0.weight"):
                p.mul_(TEXT_GAIN)
    torch.manual_seed(1)
    vae = AutoencoderKL(**spec["vae"])
    state: dict[str, Any] = {}
    state.update(vae_to_ldm(vae.state_dict()))
    if "text_encoder" not in spec:
        # the refiner: OpenCLIP alone, as the first embedder
        torch.manual_seed(3)
        te2 = CLIPTextModelWithProjection(CLIPTextConfig(**spec["text_encoder_2"]))
        state.update(unet_to_ldm(unet.state_dict(), REFINER_ATTENTION))
        state.update(open_clip_to_ldm(te2.state_dict(), "conditioner.embedders.0.model."))
        return {k: v.detach().contiguous().clone() for k, v in state.items()}
    if family == "tiny-sd2":
        # OpenCLIP-H's layout, as SD-2 files keep it (fused q/k/v, a transposed projection)
        torch.manual_seed(2)
        te_h = CLIPTextModelWithProjection(CLIPTextConfig(**spec["text_encoder"]))
        state.update(unet_to_ldm(unet.state_dict()))
        state.update(open_clip_to_ldm(te_h.state_dict(), "cond_stage_model.model."))
        return {k: v.detach().contiguous().clone() for k, v in state.items()}
    torch.manual_seed(2)
    te = CLIPTextModel(CLIPTextConfig(**spec["text_encoder"]))
    if "text_encoder_2" in spec:
        torch.manual_seed(3)
        te2 = CLIPTextModelWithProjection(CLIPTextConfig(**spec["text_encoder_2"]))
        state.update(unet_to_ldm(unet.state_dict(), SDXL_ATTENTION))
        state.update(text_to_ldm(te.state_dict(), "conditioner.embedders.0.transformer."))
        state.update(open_clip_to_ldm(te2.state_dict(), "conditioner.embedders.1.model."))
    else:
        state.update(unet_to_ldm(unet.state_dict()))
        state.update(text_to_ldm(te.state_dict()))
    return {k: v.detach().contiguous().clone() for k, v in state.items()}


def build_tiny(path: str | os.PathLike[str], family: str = FAMILY) -> Path:
    """Write the tiny checkpoint of ``family`` (``tiny-sd1``, ``tiny-sdxl``, ``tiny-sd3``, ``tiny-flux``)
    to ``path`` atomically."""
    from safetensors.torch import save

    from seedlock.files import atomic_write_bytes

    state = build_tiny_state(family)
    # one metadata key: safetensors writes its metadata map in hash order, which varies per process
    data = save(state, metadata={"seedlock.family": family})
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, data)
    return out


def build_tiny_lora(path: str | os.PathLike[str], *, rank: int = 4, seed: int = 3) -> Path:
    """A kohya-format LoRA for the tiny model (the format A1111 users have), seeded."""
    import torch
    from safetensors.torch import save

    from seedlock.files import atomic_write_bytes

    spec = FAMILIES[FAMILY]["unet"]
    g = torch.Generator().manual_seed(seed)
    state: dict[str, Any] = {}
    chans = spec["block_out_channels"]
    cross = spec["cross_attention_dim"]
    targets: list[tuple[str, int]] = []
    for i in range(3):
        for j in range(2):
            targets.append((f"down_blocks_{i}_attentions_{j}_transformer_blocks_0", chans[i]))
    for i in range(1, 4):
        for j in range(3):
            targets.append((f"up_blocks_{i}_attentions_{j}_transformer_blocks_0", chans[3 - i]))
    for block, dim in targets:
        for attn in ("attn1", "attn2"):
            for proj in ("to_q", "to_k", "to_v", "to_out_0"):
                d_in = cross if attn == "attn2" and proj in ("to_k", "to_v") else dim
                base = f"lora_unet_{block}_{attn}_{proj}"
                state[f"{base}.lora_down.weight"] = torch.randn(rank, d_in, generator=g) * 0.5
                state[f"{base}.lora_up.weight"] = torch.randn(dim, rank, generator=g) * 0.5
                state[f"{base}.alpha"] = torch.tensor(float(rank))
    data = save(state, metadata={"ss_network_module": "networks.lora"})
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, data)
    return out
