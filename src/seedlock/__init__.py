"""seedlock: read, diff, pin and replay the recipe behind a diffusion image.

``import seedlock`` stays light: the public names below load on first use (PEP 562), so
importing the package, or any one module of it, loads neither the readers nor torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from seedlock._version import __version__

if TYPE_CHECKING:
    from seedlock.errors import SeedlockError
    from seedlock.readers import load_record, read
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
    "__version__",
    "load_record",
    "read",
    "write",
]

#: public name -> the module that defines it
_WHERE = {
    "Adapter": "seedlock.record",
    "GenerationRecord": "seedlock.record",
    "Generator": "seedlock.record",
    "ModelRef": "seedlock.record",
    "PostProcess": "seedlock.record",
    "SamplingPass": "seedlock.record",
    "SeedlockError": "seedlock.errors",
    "load_record": "seedlock.readers",
    "read": "seedlock.readers",
    "write": "seedlock.writer",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'seedlock' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
