"""A random-weight SD-1.x checkpoint that ComfyUI detects and loads (run with ComfyUI's venv).

ComfyUI loads only a checkpoint it recognises: UNet model_channels 320 with context 768,
a full SD-1 VAE and a CLIP-L text tower, in the original LDM key layout. The modules are
ComfyUI's own classes (so every key is where its loader looks), with every tensor drawn
from one seeded generator in sorted key order and stored as fp16: the file is the same
bytes on every machine. Channel multipliers (1, 1, 1, 1) and one res block keep it small.

Usage: python build_checkpoint.py COMFYUI_DIR OUT.safetensors [--lora OUT_LORA.safetensors]
"""

from __future__ import annotations

import math
import sys
from pathlib import Path


def main() -> None:
    comfy_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    lora_out = Path(sys.argv[sys.argv.index("--lora") + 1]) if "--lora" in sys.argv else None
    sys.path.insert(0, str(comfy_dir))
    sys.argv = [sys.argv[0], "--cpu"]  # ComfyUI reads its own flags at import: no GPU probing
    import comfy.options

    comfy.options.enable_args_parsing()
    import comfy.ops
    import torch
    from comfy.ldm.models.autoencoder import AutoencoderKL
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel
    from safetensors.torch import save_file
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    with torch.device("meta"):
        unet = UNetModel(
            image_size=32, in_channels=4, model_channels=320, out_channels=4, num_res_blocks=1,
            channel_mult=(1, 1, 1, 1), num_heads=8, use_spatial_transformer=True,
            transformer_depth=[1, 1, 1, 0], transformer_depth_middle=1, transformer_depth_output=[1, 1, 1, 1, 1, 1, 0, 0],
            context_dim=768, use_linear_in_transformer=False, legacy=False,
            operations=comfy.ops.disable_weight_init,
        )
        ddconfig = {"double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
                    "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0}
        vae = AutoencoderKL(ddconfig=ddconfig, embed_dim=4)
        clip = CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                            num_attention_heads=12, max_position_embeddings=77, vocab_size=49408,
                                            projection_dim=768))
    shapes: dict[str, tuple[int, ...]] = {}
    for prefix, module in (("model.diffusion_model.", unet), ("first_stage_model.", vae),
                           ("cond_stage_model.transformer.", clip)):
        for k, v in module.state_dict().items():
            shapes[prefix + k] = tuple(v.shape)
    shapes.pop("cond_stage_model.transformer.text_model.embeddings.position_ids", None)
    gen = torch.Generator().manual_seed(20261206)
    sd: dict[str, torch.Tensor] = {}
    for key in sorted(shapes):
        shape = shapes[key]
        name = key.rsplit(".", 1)[-1]
        if name == "bias" or name == "beta":
            t = torch.zeros(shape)
        elif len(shape) == 1 and ("norm" in key or "ln" in key or name in ("weight", "gamma")):
            t = torch.ones(shape)
        else:
            fan_in = math.prod(shape[1:]) if len(shape) > 1 else shape[0]
            t = torch.randn(shape, generator=gen) / math.sqrt(max(fan_in, 1))
            if "embedding" in key:
                t = t * 0.02 * math.sqrt(max(fan_in, 1))
        sd[key] = t.to(torch.float16).contiguous()
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(sd, str(out), metadata={"format": "pt"})
    if lora_out is not None:
        # a LoRA on every UNet cross-attention query and every text-encoder query, in the kohya layout ComfyUI maps
        lora: dict[str, torch.Tensor] = {}
        g2 = torch.Generator().manual_seed(7)
        te = "cond_stage_model.transformer."
        for key in sorted(sd):
            if key.startswith("model.diffusion_model.") and key.endswith("attn2.to_q.weight"):
                base = "lora_unet_" + key[len("model.diffusion_model."):-len(".weight")].replace(".", "_")
            elif key.startswith(te) and key.endswith("self_attn.q_proj.weight"):
                rest = key[len(te) : -len(".weight")]
                # newer transformers drop the text_model level; ComfyUI and kohya names keep it
                rest = rest if rest.startswith("text_model.") else "text_model." + rest
                base = "lora_te_" + rest.replace(".", "_")
            else:
                continue
            o, i = sd[key].shape
            lora[f"{base}.lora_down.weight"] = (torch.randn((4, i), generator=g2) * 0.1).to(torch.float16)
            lora[f"{base}.lora_up.weight"] = (torch.randn((o, 4), generator=g2) * 0.1).to(torch.float16)
            lora[f"{base}.alpha"] = torch.tensor(4.0, dtype=torch.float16)
        lora_out.parent.mkdir(parents=True, exist_ok=True)
        save_file(lora, str(lora_out))
    print(out)


if __name__ == "__main__":
    main()
