"""The software and hardware a run happened on: what bit-identity depends on.

Bitwise equality is only promised for the same GPU model and SM count, the same
CUDA/cuDNN, the same torch/diffusers/transformers versions, dtype, attention backend,
thread count and determinism flags. :func:`seedlock.diff.fields.environment_differences` names the parts that differ, so a
replay can say "numerically close expected, because torch 2.13 vs 2.14" instead of
promising what it cannot.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from typing import Any


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: str, dtype: str, settings: dict[str, Any]) -> dict[str, Any]:
    """A flat, JSON-able description of this run's stack."""
    import torch

    env: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "diffusers": _version("diffusers"),
        "transformers": _version("transformers"),
        "safetensors": _version("safetensors"),
        "peft": _version("peft"),
        "device": device,
        "cpu": _cpu_model(),
        "dtype": dtype,
        "attention": settings.get("attention"),
        "threads": settings.get("threads"),
        "deterministic": bool(settings.get("deterministic_algorithms")),
        "determinism": {k: v for k, v in sorted(settings.items())},
        "cuda": torch.version.cuda,
        "cudnn": None,
        "gpu_name": None,
        "gpu_sm_count": None,
        "gpu_capability": None,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(torch.device(device))
        env.update(
            cudnn=torch.backends.cudnn.version(),
            gpu_name=props.name,
            gpu_sm_count=props.multi_processor_count,
            gpu_capability=f"{props.major}.{props.minor}",
        )
    return env
