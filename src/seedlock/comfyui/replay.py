"""``comfy replay``: send an image's own graph to today's server and say whether the pixels came back.

The verdict is ``diff``'s: bit-identical, visually indistinguishable, or different. When they
differ, the causes are ranked from what the image recorded when seedlock logged it (model
file hashes, ComfyUI and torch versions, device, launch flags) against what the server says
now, then the graph the server actually ran, then nodes known not to be deterministic.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedlock.comfyui.client import ComfyClient, Environment
from seedlock.comfyui.graph import LoadedGraph
from seedlock.comfyui.lint import lint_graph
from seedlock.comfyui.runs import cold_run, model_files, save_outputs
from seedlock.diff.rules import Moved, ranked
from seedlock.errors import RecordFormatError

__all__ = ["ReplayReport", "replay"]

#: launch flags that change pixels (local-apis.md §1.8)
_PIXEL_FLAGS = ("--deterministic", "--force-fp32", "--force-fp16", "--fp16-unet", "--bf16-unet", "--fp8_e4m3fn-unet",
                "--fp8_e5m2-unet", "--fp16-vae", "--bf16-vae", "--fp32-vae", "--cpu-vae", "--fast", "--cpu",
                "--use-split-cross-attention", "--use-quad-cross-attention", "--use-pytorch-cross-attention",
                "--use-sage-attention", "--use-flash-attention", "--force-upcast-attention", "--dont-upcast-attention",
                "--force-channels-last", "--fp16-intermediates")  # fmt: skip


@dataclass(frozen=True)
class ReplayReport:
    image: str
    new_image: str
    verdict: str
    max_diff: int
    psnr: float
    environment: Environment
    causes: tuple[Moved, ...] = field(default=())
    seconds: float = 0.0

    @property
    def identical(self) -> bool:
        return self.verdict == "bit-identical"

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "new_image": self.new_image,
            "verdict": self.verdict,
            "max_diff": self.max_diff,
            "psnr": None if self.psnr == float("inf") else round(self.psnr, 3),
            "environment": self.environment.to_dict(),
            "causes": [c.to_dict() for c in self.causes],
            "seconds": round(self.seconds, 3),
        }


def replay(
    client: ComfyClient,
    loaded: LoadedGraph,
    out_dir: str | os.PathLike[str],
    *,
    models: str | os.PathLike[str] | None = None,
) -> ReplayReport:
    """Resubmit the image's graph cold, compare pixels, and rank the causes of any difference."""
    if loaded.image is None:
        raise RecordFormatError("replay needs an image made by ComfyUI (its pixels are what is compared)", path=loaded.source)
    from seedlock.diff.pixels import compare_images
    from seedlock.readers import read

    t0 = time.perf_counter()
    env = client.environment()
    old = read(loaded.image)
    found = old.extra.get("comfyui_run")
    facts: dict[str, Any] = dict(found) if isinstance(found, dict) else {}
    files_now = model_files(loaded.graph, models)
    run = cold_run(client, loaded.graph, loaded.workflow)
    if not run.outcome.images:
        raise RecordFormatError("the graph saved no image", path=loaded.source)
    stem = Path(loaded.image).stem + "-replay"
    n = 1
    while (Path(out_dir) / f"{stem}{n}.png").exists():
        n += 1
    paths = save_outputs(run, out_dir, f"{stem}{n}", server=client.server, environment=env, graph_sent=loaded.graph,
                         models=files_now, check="replay")  # fmt: skip
    px = compare_images(loaded.image, paths[0])
    causes: list[Moved] = []
    if px.verdict != "bit-identical":
        causes = _causes(facts, env, files_now, run.outcome.graph_run, loaded)
    return ReplayReport(loaded.image, str(paths[0]), px.verdict, px.max_abs_diff, px.psnr, env, ranked(causes),
                        time.perf_counter() - t0)  # fmt: skip


def _causes(
    facts: dict[str, Any], env: Environment, files_now: dict[str, Any], graph_run: Any, loaded: LoadedGraph
) -> list[Moved]:
    out: list[Moved] = []
    before_files = facts.get("model_files") or {}
    for name, now in sorted(files_now.items()):
        was = (before_files.get(name) or {}).get("sha256")
        if was and now.get("sha256") and was != now["sha256"]:
            out.append(Moved(0, "model", f"model file {name} changed: its bytes differ from when the image was made",
                             was, now["sha256"]))  # fmt: skip
        elif was and not now.get("sha256"):
            out.append(Moved(0, "model", f"model file {name} could not be found to compare (pass the models folder)",
                             was, None))  # fmt: skip
    old_env = Environment.from_dict(facts.get("environment") or {}) if facts.get("environment") else None
    if old_env is None:
        out.append(Moved(0, "environment", "the image carries no environment record: versions, device and model "
                                           "hashes at creation are unknown (images seedlock logged carry them)"))  # fmt: skip
    else:
        for attr, label in (("comfyui_version", "ComfyUI version"), ("pytorch_version", "torch version"),
                            ("device", "device"), ("python_version", "Python version")):  # fmt: skip
            a, b = getattr(old_env, attr), getattr(env, attr)
            if a != b:
                out.append(Moved(0, attr, f"{label} changed", a, b))
        flags_a = sorted(f for f in old_env.argv if f.split("=")[0] in _PIXEL_FLAGS)
        flags_b = sorted(f for f in env.argv if f.split("=")[0] in _PIXEL_FLAGS)
        if flags_a != flags_b:
            out.append(Moved(0, "flags", "launch flags that change pixels differ", flags_a, flags_b))
    if isinstance(graph_run, dict) and graph_run != loaded.graph:
        out.append(Moved(0, "graph", "the server rewrote the graph before running it (node replacements)"))
    for f in lint_graph(loaded.graph, loaded.workflow).findings:
        if f.kind in ("device-noise", "non-deterministic-node", "unseeded"):
            out.append(Moved(0, "nondeterministic", f"{f.message} (node {f.node})"))
    if not out:
        out.append(Moved(0, "unexplained", "same model files, versions, device and graph: the server is not "
                                           "deterministic at this thread count or attention setting"))  # fmt: skip
    return out
