"""``comfy strip``: make the base stable, then re-add each pass after it, in order, and check each.

The base is the first sampler's output decoded and saved directly (hires passes, refiners,
upscalers, detailers, face restorers and image filters stripped). Each stage adds the next
pass of the chain that leads to the saved image and is run cold twice; the first stage whose
two runs differ names the pass that is not seedable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from seedlock.comfyui.client import ComfyClient, Environment
from seedlock.comfyui.graph import LoadedGraph, Pass, output_chain, with_passes
from seedlock.comfyui.runs import cold_run

__all__ = ["Stage", "StripReport", "strip"]


@dataclass(frozen=True)
class Stage:
    name: str
    #: the pass this stage adds (None for the base)
    added: Pass | None
    seedable: bool
    hashes: tuple[tuple[str, ...], tuple[str, ...]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "added": self.added.to_dict() if self.added else None,
            "seedable": self.seedable,
            "hashes": [list(self.hashes[0]), list(self.hashes[1])],
        }


@dataclass(frozen=True)
class StripReport:
    source: str
    environment: Environment
    passes: tuple[Pass, ...]
    stages: tuple[Stage, ...]
    seconds: float

    @property
    def first_unseedable(self) -> Stage | None:
        return next((s for s in self.stages if not s.seedable), None)

    @property
    def ok(self) -> bool:
        return self.first_unseedable is None

    def to_dict(self) -> dict[str, Any]:
        bad = self.first_unseedable
        return {
            "source": self.source,
            "ok": self.ok,
            "environment": self.environment.to_dict(),
            "passes": [p.to_dict() for p in self.passes],
            "stages": [s.to_dict() for s in self.stages],
            "first_unseedable": bad.to_dict() if bad else None,
            "seconds": round(self.seconds, 3),
        }


def strip(
    client: ComfyClient,
    loaded: LoadedGraph,
    *,
    stop_at_first: bool = False,
    on_stage: Callable[[], None] | None = None,
) -> StripReport:
    """Verify the base, then each pass added in order (``on_stage`` is called after each stage)."""
    t0 = time.perf_counter()
    env = client.environment()
    _, _, chain = output_chain(loaded.graph)
    # a decode straight after the first sampler belongs to the base
    start = 1 if chain and chain[0].class_type == "VAEDecode" else 0
    passes = tuple(chain[start:])
    stages: list[Stage] = []
    for n in range(start, len(chain) + 1):
        added = chain[n - 1] if n > start else None
        graph = with_passes(loaded.graph, n)
        a = cold_run(client, graph)
        b = cold_run(client, graph)
        ok = bool(a.hashes) and a.hashes == b.hashes and not a.cached_samplers and not b.cached_samplers
        name = "base" if added is None else f"+ {added.kind} (node {added.node}, {added.class_type})"
        stages.append(Stage(name, added, ok, (a.hashes, b.hashes)))
        if on_stage:
            on_stage()
        if not ok and stop_at_first:
            break
    return StripReport(loaded.source, env, passes, tuple(stages), time.perf_counter() - t0)
