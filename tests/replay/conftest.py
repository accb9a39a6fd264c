"""The tiny model and LoRA, built once per session for every replay test."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from seedlock.replay.tiny import build_tiny, build_tiny_lora

    d = tmp_path_factory.mktemp("models")
    return {"tiny": build_tiny(d / "tiny.safetensors"), "lora": build_tiny_lora(d / "Lora" / "style.safetensors")}
