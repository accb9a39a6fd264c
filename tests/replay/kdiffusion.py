"""The real ``k-diffusion`` package for the A1111 sampling tests, installed into the test cache.

Only its sampling code is run, so the package goes in without its training-time dependencies
(clean-fid, CLIP, wandb...): ``pip install --no-deps --target``, with torchdiffeq, which
``k_diffusion.sampling`` imports, and torchvision, which ``k_diffusion.utils`` imports. The
registry's torchvision is a CUDA build whose custom ops do not load; its fake-op registrations
are made conditional, as the ComfyUI test setup does, in the test cache's copy only.
Nothing is installed into the environment under test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PINS = ("k-diffusion==0.1.1.post1", "torchdiffeq==0.2.5", "torchvision==0.28.0")


def ensure_kdiffusion(cache: Path) -> Path:
    """The folder to put on ``PYTHONPATH`` for ``k_diffusion``; installed once per cache."""
    root = cache / "kdiffusion"
    site = root / "site"
    stamp = root / ("ready-" + "-".join(p.replace("==", "_") for p in PINS))
    if stamp.exists():
        return site
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--upgrade", "--target", str(site),
                    *PINS], check=True)  # fmt: skip
    meta = site / "torchvision" / "_meta_registrations.py"
    src = meta.read_text()
    for op in ("nms", "qnms"):
        old = f'@torch.library.register_fake("torchvision::{op}")'
        src = src.replace(old, f"@({old[1:]} if torchvision.extension._has_ops() else (lambda f: f))")
    if "import torchvision\n" not in src:
        src = "import torchvision\n" + src
    meta.write_text(src)
    stamp.touch()
    return site
