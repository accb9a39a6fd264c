"""``comfy verify``: the seed procedure on the user's own server.

Two cold runs of the graph must give the same pixel hash (a run whose sampler came from the
server's cache proves nothing and fails the check); then each knob turned alone (seed +1,
cfg +0.5, steps +1, sampler swapped, a quote curled in each prompt, each LoRA weight +0.1)
must move the hash, or the pipeline is not responding to it (a cached or ignored input).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedlock.comfyui.client import ComfyClient, Environment
from seedlock.comfyui.graph import LoadedGraph, knobs
from seedlock.comfyui.runs import ColdRun, cold_run, model_files, save_outputs

__all__ = ["Check", "VerifyReport", "verify"]


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str
    hashes: tuple[str, ...] = ()
    server_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "detail": self.detail,
            "hashes": list(self.hashes),
            "server_seconds": self.server_seconds,
        }


@dataclass(frozen=True)
class VerifyReport:
    source: str
    environment: Environment
    checks: tuple[Check, ...]
    outputs: tuple[str, ...]
    seconds: float
    #: the server's own execution time summed over every run the checks needed
    server_seconds: float
    models: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "ok": self.ok,
            "environment": self.environment.to_dict(),
            "checks": [c.to_dict() for c in self.checks],
            "outputs": list(self.outputs),
            "seconds": round(self.seconds, 3),
            "server_seconds": round(self.server_seconds, 3),
            "models": self.models,
        }


def _short(hashes: tuple[str, ...]) -> str:
    return ",".join(h[:12] for h in hashes) or "no image"


def verify(
    client: ComfyClient,
    loaded: LoadedGraph,
    out_dir: str | os.PathLike[str],
    *,
    turn_knobs: bool = True,
    models: str | os.PathLike[str] | None = None,
    on_check: Callable[[str], None] | None = None,
) -> VerifyReport:
    """Run the checks; outputs are saved in ``out_dir`` with their records."""
    t0 = time.perf_counter()
    env = client.environment()
    files = model_files(loaded.graph, models)
    stem = Path(loaded.source).stem + "-verify"
    checks: list[Check] = []
    outputs: list[str] = []
    server = 0.0

    def note(r: ColdRun) -> None:
        nonlocal server
        server += r.outcome.server_seconds or 0.0

    def save(r: ColdRun, suffix: str, check: str) -> None:
        outputs.extend(
            str(p)
            for p in save_outputs(
                r, out_dir, f"{stem}-{suffix}", server=client.server, environment=env, graph_sent=loaded.graph,
                models=files, check=check,
            )
        )

    if on_check:
        on_check("cold run 1")
    a = cold_run(client, loaded.graph, loaded.workflow)
    note(a)
    save(a, "a", "cold run 1")
    if on_check:
        on_check("cold run 2")
    b = cold_run(client, loaded.graph, loaded.workflow)
    note(b)
    save(b, "b", "cold run 2")
    for name, r in (("cold run 1", a), ("cold run 2", b)):
        if r.cached_samplers:
            checks.append(Check(f"{name} not cached", False,
                                f"sampler node(s) {', '.join(r.cached_samplers)} were served from the server's cache",
                                r.hashes, r.outcome.server_seconds))  # fmt: skip
    if not a.hashes:
        checks.append(Check("repeat", False, "the graph saved no image"))
    else:
        same = a.hashes == b.hashes
        detail = f"pixel sha256 {_short(a.hashes)} twice" if same else f"{_short(a.hashes)} then {_short(b.hashes)}"
        checks.append(Check("repeat: same pixels", same, detail, a.hashes, b.outcome.server_seconds))
    if turn_knobs and a.hashes:
        for k in knobs(loaded.graph):
            if on_check:
                on_check(k.name)
            # a changed input invalidates the sampler's cache entry by itself: no need to drop the cache
            r = cold_run(client, k.graph, loaded.workflow, free=False)
            note(r)
            save(r, k.name.replace(" ", "_").replace("+", "plus").replace("/", "_"), k.name)
            moved = bool(r.hashes) and r.hashes != a.hashes
            if r.cached_samplers:
                checks.append(Check(k.name, False, "the sampler was served from cache: the knob did not reach it",
                                    r.hashes, r.outcome.server_seconds))  # fmt: skip
            else:
                detail = (f"{k.field} {k.before!r} -> {k.after!r}: " +
                          ("pixels moved" if moved else "same pixels: the graph ignores this input"))  # fmt: skip
                checks.append(Check(k.name, moved, detail, r.hashes, r.outcome.server_seconds))
    return VerifyReport(loaded.source, env, tuple(checks), tuple(outputs), time.perf_counter() - t0, server, files)
