"""Cold runs on a ComfyUI server, their pixel hashes, and their outputs logged with a record.

A warm server answers an identical graph from its node cache, so running a graph twice
proves nothing unless the cache is dropped first; a run in which a sampler was served
from cache is reported as such and never counted as a pass. Each saved output gets the
record ``read`` gives for it, plus the environment and the graph the server ran.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedlock.comfyui.client import ComfyClient, Environment, RunOutcome
from seedlock.comfyui.graph import SAMPLER_TYPES

__all__ = ["ColdRun", "cold_run", "model_files", "save_outputs"]

#: graph inputs that name a model file, and the kind seedlock's model index gives it
MODEL_INPUTS = {
    "ckpt_name": "checkpoint",
    "lora_name": "lora",
    "vae_name": "vae",
    "unet_name": "checkpoint",
    "clip_name": "clip",
    "control_net_name": "controlnet",
    "model_name": "upscaler",
}


@dataclass(frozen=True)
class ColdRun:
    outcome: RunOutcome
    #: pixel sha256 of each saved image, in node order
    hashes: tuple[str, ...]
    #: sampler nodes the server served from its cache (a run that proves nothing)
    cached_samplers: tuple[str, ...] = field(default=())
    #: runs discarded because the server answered them from its cache despite the free
    discarded: int = 0


def pixel_hashes(outcome: RunOutcome) -> tuple[str, ...]:
    from seedlock.diff.pixels import open_image, pixel_hash

    out = []
    for im in outcome.images:
        img = open_image(io.BytesIO(im.data))
        try:
            import numpy as np

            out.append(pixel_hash(np.asarray(img)))
        finally:
            img.close()
    return tuple(out)


def cold_run(
    client: ComfyClient,
    graph: Mapping[str, Any],
    workflow: Mapping[str, Any] | None = None,
    *,
    free: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
) -> ColdRun:
    """Run ``graph`` after dropping the server's cache; note any sampler served from cache anyway.

    ComfyUI's worker applies a ``/free`` only after the prompt it is about to run when one is
    already queued, so a run just after a free can still be served from cache. Such a run is
    never counted: the cache is dropped again (by then the flag has been applied) and the
    graph run again, up to ``tries`` times; what stays cached is reported.
    """
    discarded = 0
    while True:
        if free:
            client.free()
        outcome = client.run(graph, workflow, on_progress=on_progress)
        cached = tuple(n for n in outcome.cached if n in graph and graph[n]["class_type"] in SAMPLER_TYPES)
        if not cached or not free or discarded == 2:
            break
        discarded += 1
    return ColdRun(outcome, pixel_hashes(outcome), cached, discarded)


def model_files(graph: Mapping[str, Any], models: str | os.PathLike[str] | None = None) -> dict[str, dict[str, Any]]:
    """Each model file the graph names, with its sha256 where seedlock's model index knows the file.

    ``models`` is a folder to index first (the server's models folder, when the server is
    local); otherwise what ``seedlock model scan`` indexed is used. Hashes come from the
    hash cache, so a file that did not change costs a stat.
    """
    names: dict[str, str] = {}
    for n in graph.values():
        for key, kind in MODEL_INPUTS.items():
            v = n.get("inputs", {}).get(key)
            if isinstance(v, str) and v:
                names[v] = kind
    if not names:
        return {}
    from seedlock.pin.cache import HashCache
    from seedlock.pin.hashing import hash_file
    from seedlock.pin.index import find_by_name, scan

    out: dict[str, dict[str, Any]] = {}
    with HashCache() as cache:
        if models is not None:
            scan([models], cache, forms="sha256")
        for name, kind in sorted(names.items()):
            hit = find_by_name(cache, name)
            entry: dict[str, Any] = {"kind": kind, "path": hit, "sha256": None}
            if hit is not None and Path(hit).is_file():
                entry["sha256"] = hash_file(hit, ("sha256",), cache=cache).hashes.get("sha256")
            out[name] = entry
    return out


def save_outputs(
    run: ColdRun,
    out_dir: str | os.PathLike[str],
    stem: str,
    *,
    server: str,
    environment: Environment,
    graph_sent: Mapping[str, Any],
    models: Mapping[str, Any] | None = None,
    check: str | None = None,
) -> list[Path]:
    """Write each image of a run, its record embedded with the run's facts; the server's own chunks stay."""
    from seedlock.files import atomic_write_bytes
    from seedlock.readers import read
    from seedlock.writer import write_record

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for i, (im, h) in enumerate(zip(run.outcome.images, run.hashes)):
        path = out / (f"{stem}.png" if len(run.outcome.images) == 1 else f"{stem}-{i}.png")
        atomic_write_bytes(path, im.data)
        rec = read(path)
        facts: dict[str, Any] = {
            "server": server,
            "prompt_id": run.outcome.prompt_id,
            "node": im.node,
            "environment": environment.to_dict(),
            "pixel_sha256": h,
            "server_seconds": run.outcome.server_seconds,
            "cached_nodes": list(run.outcome.cached),
            "graph_rewritten": dict(run.outcome.graph_run) != dict(graph_sent),
            "graph_run": dict(run.outcome.graph_run),
        }
        if models:
            facts["model_files"] = dict(models)
        if check:
            facts["check"] = check
        write_record(rec.replace(extra={**rec.extra, "comfyui_run": facts}), path, others="keep")
        paths.append(path)
    return paths
