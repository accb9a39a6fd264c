"""``seedlock replay`` of a ComfyUI image: its own graph run by seedlock, compared with its pixels.

The graph is the image's ``prompt`` chunk. Checkpoints are found by ``--model`` or, by file
name, in seedlock's model index (``seedlock model scan``). The verdict is bit-identical,
within N levels (the largest difference of any channel, with PSNR), or different.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedlock.errors import ReplayRefused

__all__ = ["ComfyReplay", "comfy_graph_of", "replay_comfy"]


@dataclass
class ComfyReplay:
    image: str
    verdict: str
    max_abs_diff: int
    psnr: float
    seconds: float
    pixels: Any = field(repr=False, default=None)
    trace: dict[str, str] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    #: whose numerics were followed: comfyui, or a1111 (which reuses this report)
    profile: str = "comfyui"
    #: why the result may differ from the source, when it is not faithful
    approximate: tuple[str, ...] = ()
    #: which image of the graph's batch the PNG is, when the graph makes several
    batch_index: int | None = None

    @property
    def identical(self) -> bool:
        return self.verdict == "bit-identical"

    @property
    def summary(self) -> str:
        if self.identical:
            return "bit-identical"
        if self.verdict == "different":
            return f"different (max difference {self.max_abs_diff}/255, PSNR {self.psnr:.1f} dB)"
        return f"within {self.max_abs_diff} level{'s' if self.max_abs_diff != 1 else ''} (PSNR {self.psnr:.1f} dB)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "profile": self.profile,
            "identical": self.identical,
            "verdict": self.verdict,
            "summary": self.summary,
            "max_abs_diff": self.max_abs_diff,
            "psnr": None if self.psnr == float("inf") else round(self.psnr, 4),
            "seconds": round(self.seconds, 3),
            "models": self.models,
            "trace": self.trace,
            "approximate": list(self.approximate),
            "batch_index": self.batch_index,
        }


def comfy_graph_of(image: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The API graph an image carries (PNG ``prompt`` chunk, or the EXIF places ComfyUI forks use), or None."""
    from seedlock.errors import ReaderError
    from seedlock.extract import extract
    from seedlock.readers.comfyui import find_graph, graph_from

    found = find_graph(extract(image, stealth="never"))
    if found is None:
        return None
    try:
        graph = graph_from(found[1])
    except ReaderError:
        return None
    if not isinstance(graph, dict) or not all(isinstance(n, dict) and "class_type" in n for n in graph.values()):
        return None
    return graph


def _resolver(
    model: str | os.PathLike[str] | None,
    loras: Mapping[str, str | os.PathLike[str]],
    input_dirs: Sequence[str | os.PathLike[str]],
    found: dict[str, str],
) -> Any:
    """(kind, name) -> file: the given model or LoRA files, the input folders, else the model index."""

    def resolve(kind: str, name: str) -> str:
        if kind == "input":
            for folder in input_dirs:
                candidate = Path(folder) / name
                # a graph names files inside ComfyUI's input folder (subfolders allowed), never outside it
                if not candidate.resolve().is_relative_to(Path(folder).resolve()):
                    raise ReplayRefused(f"input image {name!r} points outside its folder", needs="input")
                if candidate.is_file():
                    found[name] = os.fspath(candidate)
                    return found[name]
            where = ", ".join(os.fspath(d) for d in input_dirs)
            raise ReplayRefused(f"input image {name} is not in {where}", needs="input")
        given = model if kind == "checkpoint" else loras.get(name, loras.get(Path(name).stem))
        if given is not None:
            found[name] = os.fspath(given)
            return found[name]
        from seedlock.pin.cache import HashCache
        from seedlock.pin.index import find_by_name

        with HashCache() as cache:
            hit = find_by_name(cache, name)
        if hit is None or not Path(hit).is_file():
            needs = "model" if kind == "checkpoint" else f"lora:{Path(name).stem}"
            raise ReplayRefused(f"{kind} {name} is not in the model index", needs=needs)
        found[name] = hit
        return hit

    return resolve


def replay_comfy(
    image: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | None = None,
    loras: Mapping[str, str | os.PathLike[str]] | None = None,
    input_dirs: Sequence[str | os.PathLike[str]] = (),
    threads: int | None = None,
) -> ComfyReplay:
    """Run the image's graph with ComfyUI's numerics and compare with its pixels.

    Args:
        loras: a LoRA's name in the graph (or its stem) -> its file; others come from the model index.
        input_dirs: where LoadImage's files are looked for (the image's own folder is searched last).

    Raises:
        ReplayRefused: no graph in the image, a node or sampler not mirrored, a file not found.
    """
    from seedlock.diff.pixels import compare_arrays, decode
    from seedlock.replay.comfy_graph import run_graph

    graph = comfy_graph_of(image)
    if graph is None:
        raise ReplayRefused("the image carries no ComfyUI graph (prompt chunk)", path=str(image))
    found: dict[str, str] = {}
    dirs = [*input_dirs, Path(image).parent]
    run = run_graph(graph, _resolver(model, loras or {}, dirs, found), threads=threads)
    if not run.images:
        raise ReplayRefused("the graph saves no image", path=str(image))
    original = decode(Path(image), "RGB")
    # a batch saves one PNG per image, each with the same graph: the PNG is whichever image it matches
    candidates = [run.images[k] for k in sorted(run.images, key=_image_order) if run.images[k].shape == original.shape]
    if not candidates:
        candidates = [run.images[sorted(run.images, key=_image_order)[0]]]
    reports = [compare_arrays(original, c) for c in candidates]
    best = min(range(len(reports)), key=lambda i: (reports[i].max_abs_diff, -reports[i].psnr))
    px = reports[best]
    verdict = px.verdict
    if verdict == "visually indistinguishable":
        verdict = "within levels"
    rep = ComfyReplay(str(image), verdict, px.max_abs_diff, px.psnr, run.seconds, candidates[best], run.trace, found)
    rep.batch_index = best if len(candidates) > 1 else None
    return rep


def _image_order(key: str) -> tuple[str, int]:
    """Saved images by node, then by their index in the batch (``node`` is 0, ``node:k`` is k)."""
    node, _, index = key.partition(":")
    return node, int(index or 0)
