"""ComfyUI API graphs as seedlock changes them: where they come from, their samplers, their
prompts and LoRAs (the knobs a check turns), and the passes after the first sampler.

A PNG's ``prompt`` chunk is already the ``prompt`` field of a ``POST /prompt`` body; a UI
workflow (the ``workflow`` chunk, or a saved .json) is converted with the readers' own
converter. Graphs are plain dicts ``{node_id: {"class_type", "inputs"}}``, copied before
any change.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seedlock.errors import RecordFormatError

__all__ = [
    "Knob",
    "LoadedGraph",
    "Pass",
    "base_graph",
    "is_link",
    "knobs",
    "load_graph",
    "output_chain",
    "samplers",
    "with_passes",
]

SAMPLER_TYPES = frozenset({"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"})
TEXT_ENCODERS = frozenset({"CLIPTextEncode", "CLIPTextEncodeSDXL", "CLIPTextEncodeSDXLRefiner", "CLIPTextEncodeFlux"})
LORA_LOADERS = frozenset({"LoraLoader", "LoraLoaderModelOnly"})
SAVERS = frozenset({"SaveImage"})
#: samplers whose other choice moves the image, for the "sampler swapped" knob
_SWAP = {"euler": "heun", "heun": "euler"}


def is_link(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) and isinstance(v[1], int)


@dataclass(frozen=True)
class LoadedGraph:
    """A runnable API graph, the UI workflow that came with it (if any), and where it came from."""

    graph: dict[str, dict[str, Any]]
    workflow: dict[str, Any] | None
    source: str
    #: the image it came from (for a replay's pixel comparison), else None
    image: str | None = None


def load_graph(path: str | os.PathLike[str]) -> LoadedGraph:
    """The API graph in an image (its ``prompt`` chunk, else its workflow) or a graph/workflow JSON file.

    Raises:
        RecordFormatError: no ComfyUI graph in it.
    """
    p = Path(path)
    head = p.read_bytes()[:16]
    if head.lstrip()[:1] in (b"{", b"["):
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise RecordFormatError(f"not JSON ({exc})", path=p) from None
        if isinstance(doc, dict) and isinstance(doc.get("prompt"), dict):  # a saved POST /prompt body
            wf = ((doc.get("extra_data") or {}).get("extra_pnginfo") or {}).get("workflow")
            return LoadedGraph(_api(doc["prompt"], p), wf if isinstance(wf, dict) else None, str(p))
        if isinstance(doc, dict) and "nodes" in doc and "links" in doc:
            return LoadedGraph(_from_workflow(doc, p), doc, str(p))
        return LoadedGraph(_api(doc, p), None, str(p))
    from seedlock.extract import extract

    raw = extract(p, stealth="never")
    wf = _maybe_json(raw.fields.get("workflow"))
    prompt = _maybe_json(raw.fields.get("prompt"))
    if isinstance(prompt, dict) and prompt:
        return LoadedGraph(_api(prompt, p), wf if isinstance(wf, dict) else None, str(p), str(p))
    if isinstance(wf, dict):
        return LoadedGraph(_from_workflow(wf, p), wf, str(p), str(p))
    raise RecordFormatError("no ComfyUI graph in this image (no prompt or workflow chunk)", path=p)


def _maybe_json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _api(doc: Any, p: Path) -> dict[str, dict[str, Any]]:
    if not isinstance(doc, dict) or not doc or not all(isinstance(n, dict) and "class_type" in n for n in doc.values()):
        raise RecordFormatError("not a ComfyUI API graph ({node_id: {class_type, inputs}})", path=p)
    return {str(k): {"class_type": v["class_type"], "inputs": dict(v.get("inputs") or {})} for k, v in doc.items()}


def _from_workflow(wf: dict[str, Any], p: Path) -> dict[str, dict[str, Any]]:
    from seedlock.readers.comfyui_workflow import workflow_to_graph

    conv = workflow_to_graph(wf)
    if not conv.graph:
        raise RecordFormatError("the workflow converts to an empty graph", path=p)
    return _api(conv.graph, p)


def samplers(graph: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Sampler node ids, upstream first (a hires pass's sampler after the one it refines)."""
    ids = [nid for nid, n in graph.items() if n["class_type"] in SAMPLER_TYPES]
    return sorted(ids, key=lambda nid: (_depth(graph, nid), _num(nid)))


def _num(nid: str) -> tuple[int, str]:
    return (int(nid), "") if nid.isdigit() else (1 << 30, nid)


def _depth(graph: Mapping[str, Mapping[str, Any]], nid: str, seen: frozenset[str] = frozenset()) -> int:
    if nid in seen or nid not in graph:
        return 0
    ups = [v[0] for v in graph[nid]["inputs"].values() if is_link(v)]
    return 1 + max((_depth(graph, u, seen | {nid}) for u in ups), default=0)


def upstream(graph: Mapping[str, Mapping[str, Any]], nid: str) -> set[str]:
    """Every node ``nid`` depends on, itself included."""
    out: set[str] = set()
    stack = [nid]
    while stack:
        cur = stack.pop()
        if cur in out or cur not in graph:
            continue
        out.add(cur)
        stack.extend(v[0] for v in graph[cur]["inputs"].values() if is_link(v))
    return out


@dataclass(frozen=True)
class Knob:
    """One turned knob: a graph that must give other pixels than the base."""

    name: str
    node: str
    field: str
    before: Any
    after: Any
    graph: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "node": self.node, "field": self.field, "before": self.before, "after": self.after}


def _turned(graph: Mapping[str, Any], nid: str, field: str, value: Any) -> dict[str, dict[str, Any]]:
    g = copy.deepcopy(dict(graph))
    g[nid]["inputs"][field] = value
    return g


def _curl(text: str) -> str:
    """One straight quote made curly: the invisible edit that copy-paste makes."""
    for straight, curly in (('"', "\u201c"), ("'", "\u2019")):
        if straight in text:
            return text.replace(straight, curly, 1)
    return text + " \u201c"


def knobs(graph: Mapping[str, Mapping[str, Any]]) -> Iterator[Knob]:
    """Each knob of the procedure, once: seed +1, cfg +0.5, steps +1, sampler swapped, a quote
    curled in each text encoder's prompt, each LoRA weight +0.1."""
    first = next(iter(samplers(graph)), None)
    if first is not None:
        ins = graph[first]["inputs"]
        seed_field = "seed" if "seed" in ins else "noise_seed" if "noise_seed" in ins else None
        if seed_field and isinstance(ins[seed_field], int):
            v = ins[seed_field]
            yield Knob("seed +1", first, seed_field, v, v + 1, _turned(graph, first, seed_field, v + 1))
        if isinstance(ins.get("cfg"), (int, float)):
            v = ins["cfg"]
            yield Knob("cfg +0.5", first, "cfg", v, v + 0.5, _turned(graph, first, "cfg", v + 0.5))
        if isinstance(ins.get("steps"), int):
            v = ins["steps"]
            yield Knob("steps +1", first, "steps", v, v + 1, _turned(graph, first, "steps", v + 1))
        if isinstance(ins.get("sampler_name"), str):
            v = ins["sampler_name"]
            other = _SWAP.get(v, "euler")
            yield Knob("sampler swapped", first, "sampler_name", v, other, _turned(graph, first, "sampler_name", other))
    for nid, n in sorted(graph.items(), key=lambda kv: _num(kv[0])):
        if n["class_type"] in TEXT_ENCODERS:
            for f in ("text", "text_g", "text_l", "clip_l", "t5xxl"):
                v = n["inputs"].get(f)
                if isinstance(v, str):
                    yield Knob(f"quote curled in node {nid} {f}", nid, f, v, _curl(v), _turned(graph, nid, f, _curl(v)))
        if n["class_type"] in LORA_LOADERS:
            for f in ("strength_model", "strength_clip"):
                v = n["inputs"].get(f)
                if isinstance(v, (int, float)) and (f == "strength_model" or n["class_type"] == "LoraLoader"):
                    after = round(v + 0.1, 6)
                    yield Knob(f"LoRA {n['inputs'].get('lora_name')} {f} +0.1", nid, f, v, after,
                               _turned(graph, nid, f, after))  # fmt: skip


# -- passes after the first sampler ---------------------------------------------------------------

#: node types that change an image or latent after the first sampler, by what they are
_KINDS: tuple[tuple[str, str], ...] = (
    ("UpscaleModel", "upscale model"),
    ("ImageUpscale", "pixel upscale"),
    ("ImageScale", "pixel upscale"),
    ("LatentUpscale", "latent upscale"),
    ("Detailer", "face detailer"),
    ("FaceRestore", "face restore"),
    ("FaceDetailer", "face detailer"),
    ("VAEEncode", "re-encode"),
    ("VAEDecode", "decode"),
    ("KSampler", "second sampling pass"),
    ("SamplerCustom", "second sampling pass"),
    ("Blur", "image filter"),
    ("Sharpen", "image filter"),
    ("Blend", "image filter"),
)


@dataclass(frozen=True)
class Pass:
    """One step of the chain from the first sampler to the saved image."""

    node: str
    class_type: str
    kind: str
    #: the input that carries the image or latent along the chain
    via: str

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "class_type": self.class_type, "kind": self.kind}


def _kind(class_type: str, graph: Mapping[str, Any], nid: str, first_model: Any) -> str:
    if class_type in SAMPLER_TYPES and graph[nid]["inputs"].get("model") != first_model:
        return "refiner pass"
    for needle, kind in _KINDS:
        if needle.lower() in class_type.lower():
            return kind
    return "image filter"


def output_chain(graph: Mapping[str, Mapping[str, Any]]) -> tuple[str, str, list[Pass]]:
    """(saver node, first sampler, the passes between them in run order).

    The chain is followed from the saver's ``images`` input back along each node's image or
    latent input to the first sampler.

    Raises:
        RecordFormatError: no saver, or no sampler upstream of it.
    """
    savers = [nid for nid, n in graph.items() if n["class_type"] in SAVERS]
    order = samplers(graph)
    if not savers or not order:
        raise RecordFormatError("the graph has no SaveImage fed by a sampler")
    saver = sorted(savers, key=_num)[-1]
    first = order[0]
    first_model = graph[first]["inputs"].get("model")
    chain: list[Pass] = []
    link = graph[saver]["inputs"].get("images")
    guard = 0
    while is_link(link) and link[0] != first and guard < 1000:
        guard += 1
        nid = link[0]
        node = graph.get(nid)
        if node is None:
            break
        via = next(
            (k for k in ("image", "images", "samples", "latent_image", "latent", "pixels", "image1") if is_link(node["inputs"].get(k))),
            None,
        )
        if via is None:
            break
        chain.append(Pass(nid, node["class_type"], _kind(node["class_type"], graph, nid, first_model), via))
        link = node["inputs"][via]
    if not (is_link(link) and link[0] == first):
        raise RecordFormatError("the saved image is not fed from the first sampler through one chain")
    chain.reverse()
    return saver, first, chain


def _trim(graph: Mapping[str, Mapping[str, Any]], keep_for: str) -> dict[str, dict[str, Any]]:
    keep = upstream(graph, keep_for)
    return {nid: copy.deepcopy(dict(n)) for nid, n in graph.items() if nid in keep}


def with_passes(graph: Mapping[str, Mapping[str, Any]], n: int) -> dict[str, dict[str, Any]]:
    """The graph with only the first ``n`` passes after the first sampler (0: the base), decoded and saved.

    A chain cut after a latent step gets a VAE decode with the graph's own VAE; every
    node that no longer feeds the saver is dropped.
    """
    saver, first, chain = output_chain(graph)
    g = copy.deepcopy({k: dict(v) for k, v in graph.items()})
    for k in g:
        g[k]["inputs"] = dict(g[k]["inputs"])
    kept = [p for p in chain[:n]]
    tail = kept[-1].node if kept else first
    if _is_latent(g, tail):
        vae = _first_vae(g)
        if vae is None:
            raise RecordFormatError("no VAE decode in the graph to decode a cut chain with")
        g["seedlock_decode"] = {"class_type": "VAEDecode", "inputs": {"samples": [tail, 0], "vae": vae}}
        tail = "seedlock_decode"
    g[saver]["inputs"]["images"] = [tail, 0]
    return _trim(g, saver)


def base_graph(graph: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The first sampler's output decoded and saved directly: every later pass stripped."""
    return with_passes(graph, 0) if not _base_is_decode(graph) else with_passes(graph, 1)


def _base_is_decode(graph: Mapping[str, Mapping[str, Any]]) -> bool:
    _, _, chain = output_chain(graph)
    return bool(chain) and chain[0].class_type == "VAEDecode"


def _is_latent(graph: Mapping[str, Mapping[str, Any]], nid: str) -> bool:
    ct = graph[nid]["class_type"]
    return ct in SAMPLER_TYPES or ct.startswith("Latent") or ct == "VAEEncode"


def _first_vae(graph: Mapping[str, Mapping[str, Any]]) -> Any:
    for _, n in sorted(graph.items(), key=lambda kv: _num(kv[0])):
        if n["class_type"] == "VAEDecode" and is_link(n["inputs"].get("vae")):
            return n["inputs"]["vae"]
    for nid, n in graph.items():
        if n["class_type"] in ("CheckpointLoaderSimple", "CheckpointLoader"):
            return [nid, 2]
    return None
