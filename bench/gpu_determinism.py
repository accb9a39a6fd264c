"""CUDA: bitwise repeatability and the speed cost of deterministic mode, per attention backend.

A random-weight UNet of real SD-1.5 and SDXL shape (fp16) runs a 10-step denoising loop
with classifier-free guidance (batch 2) at 512 and 1024 px. For every attention backend,
with seedlock's deterministic mode on and off, the loop runs twice from the same input:
"bitwise" means the two outputs are byte-identical. Prints ms per step and the cost of
deterministic mode against the same backend without it.

    python bench/gpu_determinism.py [--steps 10] [--json OUT]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import sys
import time
from pathlib import Path

import torch

_spec = importlib.util.spec_from_file_location(
    "determinism", Path(__file__).resolve().parents[1] / "src" / "seedlock" / "replay" / "determinism.py"
)
assert _spec and _spec.loader
det = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(det)

SD15 = dict(
    block_out_channels=(320, 640, 1280, 1280),
    layers_per_block=2,
    cross_attention_dim=768,
    attention_head_dim=8,
    sample_size=64,
)
SDXL = dict(
    block_out_channels=(320, 640, 1280),
    layers_per_block=2,
    cross_attention_dim=2048,
    attention_head_dim=(5, 10, 20),
    transformer_layers_per_block=(1, 2, 10),
    use_linear_projection=True,
    addition_embed_type="text_time",
    addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2816,
    sample_size=128,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
)


def build(kind: str):
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(**(SD15 if kind == "sd15" else SDXL))
    return unet.to("cuda", torch.float16).eval()


def loop(unet, kind: str, size: int, steps: int):
    g = torch.Generator("cpu").manual_seed(42)
    lat = size // 8
    x = torch.randn((1, 4, lat, lat), generator=g).to("cuda", torch.float16)
    ctx_dim = 768 if kind == "sd15" else 2048
    ctx = torch.randn((2, 77, ctx_dim), generator=g).to("cuda", torch.float16)
    extra = {}
    if kind == "sdxl":
        extra = {
            "added_cond_kwargs": {
                "text_embeds": torch.randn((2, 1280), generator=g).to("cuda", torch.float16),
                "time_ids": torch.tensor([[size, size, 0, 0, size, size]] * 2, dtype=torch.float16, device="cuda"),
            }
        }
    with torch.no_grad():
        for i in range(steps):
            t = torch.tensor([999 - i * (999 // steps)] * 2, device="cuda")
            eps = unet(torch.cat([x, x]), t, encoder_hidden_states=ctx, **extra).sample
            uncond, cond = eps.chunk(2)
            x = x - 0.05 * (uncond + 7.0 * (cond - uncond))
    torch.cuda.synchronize()
    return hashlib.sha256(x.float().cpu().numpy().tobytes()).hexdigest()[:16]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    props = torch.cuda.get_device_properties(0)
    print(
        f"{props.name}, {props.multi_processor_count} SMs, torch {torch.__version__}, CUDA {torch.version.cuda}, "
        f"cuDNN {torch.backends.cudnn.version()}",
        flush=True,
    )
    rows = []
    for kind, sizes in (("sd15", (512, 1024)), ("sdxl", (512, 1024))):
        unet = build(kind)
        for size in sizes:
            for backend in ("auto", "math", "efficient", "flash", "cudnn"):
                for on in (False, True):
                    try:
                        with det.deterministic_mode(on, threads=None, attention=backend):
                            loop(unet, kind, size, 2)  # warm-up
                            t = time.perf_counter()
                            h1 = loop(unet, kind, size, args.steps)
                            dt = (time.perf_counter() - t) / args.steps
                            h2 = loop(unet, kind, size, args.steps)
                        row = dict(
                            model=kind,
                            size=size,
                            attention=backend,
                            deterministic=on,
                            ms_per_step=round(dt * 1000, 2),
                            bitwise=h1 == h2,
                            hash=h1,
                        )
                    except Exception as exc:  # a backend may not support a shape or mode
                        row = dict(model=kind, size=size, attention=backend, deterministic=on, error=str(exc)[:120])
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        del unet
        torch.cuda.empty_cache()
    print("\nmodel size attention   off ms/step  on ms/step  cost   bitwise off/on")
    for r_off in rows:
        if r_off["deterministic"] or "error" in r_off:
            continue
        r_on = next(
            (
                r
                for r in rows
                if r["deterministic"]
                and r["model"] == r_off["model"]
                and r["size"] == r_off["size"]
                and r["attention"] == r_off["attention"]
            ),
            None,
        )
        if r_on is None or "error" in r_on:
            print(
                f"{r_off['model']:<5} {r_off['size']:<4} {r_off['attention']:<10} {r_off['ms_per_step']:>9}  (on: error)"
            )
            continue
        cost = r_on["ms_per_step"] / r_off["ms_per_step"] - 1
        print(
            f"{r_off['model']:<5} {r_off['size']:<4} {r_off['attention']:<10} {r_off['ms_per_step']:>9}  "
            f"{r_on['ms_per_step']:>10}  {cost:+6.1%}  {r_off['bitwise']}/{r_on['bitwise']}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    sys.exit(main())
