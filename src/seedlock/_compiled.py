"""Which modules the build compiles with mypyc (see hatch_build.py), and whether they are.

A regular install compiles the per-file path of ``seedlock read`` to C extensions; an
editable install, or ``SEEDLOCK_PURE_PYTHON=1``, keeps it pure Python. Both run the same
source; ``seedlock --version`` says which one is running.
"""

from __future__ import annotations

import importlib

#: the modules on the per-file path of ``seedlock read``
READ_PATH = (
    "seedlock.extract.png",
    "seedlock.extract.exif",
    "seedlock.extract.jpeg",
    "seedlock.extract.webp",
    "seedlock.extract.c2pa",
    "seedlock.readers._base",
    "seedlock.readers.infotext",
    "seedlock.readers.a1111",
    "seedlock.readers.comfyui",
    "seedlock.readers.civitai",
    "seedlock.readers.fooocus",
    "seedlock.readers.swarmui",
    "seedlock.samplers",
)


def compiled_modules() -> list[str]:
    """The modules of :data:`READ_PATH` that were loaded from a compiled extension."""
    found = []
    for name in READ_PATH:
        path = getattr(importlib.import_module(name), "__file__", None) or ""
        if not path.endswith(".py"):
            found.append(name)
    return found


def build_label() -> str:
    """``compiled read path`` or ``pure Python`` (or a partial count, which is a broken build)."""
    n = len(compiled_modules())
    if n == len(READ_PATH):
        return "compiled read path"
    if n == 0:
        return "pure Python"
    return f"partly compiled read path ({n}/{len(READ_PATH)} modules)"
