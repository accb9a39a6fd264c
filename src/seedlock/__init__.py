"""seedlock: read, diff, pin and replay the recipe behind a diffusion image.

``import seedlock`` stays light: it never imports torch or diffusers.
"""

from __future__ import annotations

from seedlock.errors import SeedlockError
from seedlock.readers import read
from seedlock.record import Adapter, GenerationRecord, Generator, ModelRef, PostProcess, SamplingPass
from seedlock.writer import write

__all__ = [
    "Adapter",
    "GenerationRecord",
    "Generator",
    "ModelRef",
    "PostProcess",
    "SamplingPass",
    "SeedlockError",
    "read",
    "write",
]

__version__ = "0.1.0"
