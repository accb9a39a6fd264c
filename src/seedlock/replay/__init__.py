"""Deterministic generation, replay and verification (the ``generate`` extra).

The only package in seedlock that imports torch, diffusers or transformers; nothing
outside it imports it at module level.
"""

from __future__ import annotations

import importlib.util

from seedlock.errors import MissingExtra

__all__ = ["require_extra"]


def require_extra() -> None:
    """Raise MissingExtra unless the ``generate`` extra's packages are importable (without importing them)."""
    for pkg in ("torch", "diffusers", "transformers", "safetensors"):
        if importlib.util.find_spec(pkg) is None:
            raise MissingExtra("generate", pkg)
