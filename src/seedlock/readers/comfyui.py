"""ComfyUI: walk the executed API graph (``prompt``) from each sampler to its inputs.

ComfyUI stores graphs, not parameters (metadata-formats.md §2.2). For every sampler
node (KSampler, KSamplerAdvanced, SamplerCustom, SamplerCustomAdvanced and custom
nodes of the same shape) the reader follows links: ``model`` through LoRA/patch/merge
nodes to the loader, ``positive``/``negative`` through conditioning nodes to the text
encoders (whose text may itself be a link), ``latent_image`` to the empty latent,
an encoded image or a previous sampler (hires, refiner, multi-stage). Every sampler
becomes one pass, ordered by how many samplers precede it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar

from seedlock.extract.raw import (
    EXIF_IMAGE_DESCRIPTION,
    EXIF_MAKE,
    EXIF_MODEL,
    EXIF_USER_COMMENT,
    RawMetadata,
)
from seedlock.readers._base import fail, load_json, maybe_json, seed_of, to_float, to_int
from seedlock.readers.comfyui_nodes import OUTPUTS, PIPE_INPUTS
from seedlock.readers.comfyui_workflow import workflow_to_graph
from seedlock.readers.infotext import looks_like_infotext
from seedlock.record import Adapter, GenerationRecord, Generator, ModelRef, PostProcess, SamplingPass
from seedlock.samplers import canonical_pair

_SAMPLERS = {"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"}
_COND_INPUTS = {"conditioning", "cond", "positive", "negative", "conditioning_to", "conditioning_from", "base_cond"}
_LATENT_INPUTS = (
    "latent_image",
    "samples",
    "latent",
    "latents",
    "samples_to",
    "destination",
    "samples_from",
    "source",
    "pixels",
    "image",
    "images",
    "init_image",
)
_TEXT_KEYS = (
    "populated_text",
    "text",
    "text_g",
    "t5xxl",
    "clip_l",
    "text_l",
    "prompt",
    "string",
    "value",
    "positive",
    "text_positive",
    "wildcard_text",
    "wildcard",
)
#: inputs of string nodes that are settings, never part of the text
_TEXT_SETTINGS = frozenset(
    {"delimiter", "separator", "clip", "action", "tidy_tags", "mode", "clean_whitespace", "seed", "style", "log_prompt"}
)
#: inputs of a detailer (a second sampling on crops of the image): post-processing, not a pass
_DETAILER_INPUTS = frozenset({"guide_size", "bbox_detector", "segm_detector_opt", "bbox_threshold", "detailer_pipe"})
#: what a sampler samples: a model, conditioning, a latent, or a bundle of them
_SUBJECT_SET = frozenset({"model", "positive", "latent_image", "latent", "samples", *PIPE_INPUTS})
#: node types whose output is the image and nothing to interpret
_SINKS = frozenset(
    {"SaveImage", "PreviewImage", "VAEDecode", "VAEDecodeTiled", "SaveAnimatedWEBP", "SaveAnimatedPNG", "Image Save"}
)
_SCALAR_KEYS = ("seed", "noise_seed", "value", "int", "float", "number", "steps", "cfg", "Value")
_MAX_WALK = 10_000
#: (width, height) input pairs of latent-size and loader nodes
_SIZE_KEYS = (
    ("width", "height"),
    ("empty_latent_width", "empty_latent_height"),
    ("image_width", "image_height"),
    ("latent_width", "latent_height"),
)
_GENERATED_TEXT = re.compile(
    r"LLM|Ollama|GPT|Gemini|Florence|Caption|Llama|Qwen|Groq|Claude|OpenAI|Tagger|Interrogat|Img2Txt|Image2Text",
    re.IGNORECASE,
)
_DIMENSIONS = re.compile(r"(\d{2,5})\s*[x×]\s*(\d{2,5})")
_EMBEDDING = re.compile(r"embedding:([^\s,()]+)")


@lru_cache(maxsize=1024)
def _generates_text(class_type: str) -> bool:
    return _GENERATED_TEXT.search(class_type) is not None


def _is_link(value: Any) -> bool:
    # exact type checks: JSON gives plain list/str/int, and bool (an int subclass) is no link
    return type(value) is list and len(value) == 2 and type(value[1]) is int and type(value[0]) in (str, int)


@dataclass
class _Pass:
    node: str
    seed: int | None = None
    seed_type: str | None = None
    add_noise: bool | None = None
    steps: int | None = None
    cfg: float | None = None
    sampler: str | None = None
    scheduler: str | None = None
    denoise: float | None = None
    start: int | None = None
    end: int | None = None
    model: str | None = None
    model_hashes: dict[str, str] = field(default_factory=dict)
    positive: list[str] = field(default_factory=list)
    negative: list[str] = field(default_factory=list)
    width: int | None = None
    height: int | None = None
    upstream: str | None = None
    kind: str = "txt2img"
    batch_size: int | None = None
    #: field -> id of the node that gave it (seedlock read --explain names them)
    sources: dict[str, str] = field(default_factory=dict)


class Graph:
    """An API graph with link-following helpers; every walk is bounded."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.nodes: dict[str, dict[str, Any]] = {
            str(k): v
            for k, v in data.items()
            if isinstance(v, dict) and isinstance(v.get("class_type"), str) and isinstance(v.get("inputs", {}), dict)
        }
        self.order = {k: i for i, k in enumerate(self.nodes)}
        self.adapters: list[Adapter] = []
        self.clip_skip: int | None = None
        self.guidance: float | None = None
        self.budget = _MAX_WALK
        self.sampler_ids: set[str] = set()
        #: node ids some walk looked at (the rest are named in the record's note)
        self.visited: set[str] = set()
        #: text encoder nodes, in the order their text was taken
        self.text_nodes: list[str] = []
        #: record field -> id of the node that gave it (seedlock read --explain)
        self.explained: dict[str, str] = {}
        #: node types whose text output is made at run time (so the prompt is not in the graph)
        self.generated_text: list[str] = []

    def _tick(self) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise fail("comfyui", "graph walk exceeded its bound (cyclic or huge graph)")

    def node(self, link: Any) -> tuple[str, dict[str, Any], int] | None:
        if not _is_link(link):
            return None
        nid = str(link[0])
        n = self.nodes.get(nid)
        if n is None:
            return None
        self.visited.add(nid)
        return nid, n, link[1]

    def role(self, nid: str, slot: int) -> str | None:
        """The name of output ``slot`` of a bundle node (seedlock.readers.comfyui_nodes.OUTPUTS)."""
        outputs = OUTPUTS.get(self.nodes[nid]["class_type"])
        return outputs[slot] if outputs is not None and 0 <= slot < len(outputs) else None

    def bundled(self, ins: dict[str, Any], name: str, depth: int = 0) -> Any:
        """``ins[name]``, or the same input of the node a pipe/context input comes from."""
        if name in ins or depth > 16:
            return ins.get(name)
        for key in PIPE_INPUTS:
            found = self.node(ins.get(key))
            if found is not None:
                self._tick()
                value = self.bundled(self.inputs(found[0]), name, depth + 1)
                if value is not None:
                    return value
        return None

    def inputs(self, nid: str) -> dict[str, Any]:
        ins = self.nodes[nid].get("inputs")
        return ins if isinstance(ins, dict) else {}

    def scalar(self, value: Any, name: str, depth: int = 0) -> Any:
        """Resolve a widget value that may be a link to a primitive/seed/math node."""
        while _is_link(value) and depth < 32:
            self._tick()
            found = self.node(value)
            if found is None:
                return None
            nid, _, _ = found
            ins = self.inputs(nid)
            nxt = None
            for key in (name, *_SCALAR_KEYS):
                if key in ins:
                    nxt = ins[key]
                    break
            else:
                literals = [v for v in ins.values() if isinstance(v, (int, float, str)) and not isinstance(v, bool)]
                nxt = literals[0] if len(literals) == 1 else None
            value = nxt
            depth += 1
        return value

    def text(self, value: Any, depth: int = 0) -> str | None:
        """Resolve a text input: a literal, or a link to a string/primitive/concat node."""
        if isinstance(value, str):
            return value
        found = self.node(value)
        if found is None or depth > 32:
            return None
        self._tick()
        nid, n, slot = found
        if _generates_text(n["class_type"]):
            # a language model or captioner writes this text when the graph runs: it is not in the file
            self.generated_text.append(n["class_type"])
            return None
        ins = self.inputs(nid)
        role = self.role(nid, slot)
        if role is not None and role in ins:
            return self.text(ins[role], depth + 1)
        for key in _TEXT_KEYS:
            if key in ins:
                resolved = self.text(ins[key], depth + 1)
                if resolved:
                    return resolved
        parts = [self.text(v, depth + 1) for k, v in ins.items() if k not in _TEXT_SETTINGS]
        strings = [p for p in parts if p]
        if strings:
            sep = ins.get("delimiter", ins.get("separator", ""))
            return (sep if isinstance(sep, str) else "").join(strings)
        return None

    def walk_model(self, link: Any, p: _Pass) -> None:
        seen: set[str] = set()
        while True:
            found = self.node(link)
            if found is None:
                return
            nid = found[0]
            if nid in seen:
                return
            seen.add(nid)
            self._tick()
            ins = self.inputs(nid)
            self._loras(nid, ins)
            stack = self.node(ins.get("lora_stack"))
            seen_stacks = 0
            while stack is not None and seen_stacks < 16:
                seen_stacks += 1
                sins = self.inputs(stack[0])
                self._loras(stack[0], sins)
                stack = self.node(sins.get("lora_stack"))
            if "hypernetwork_name" in ins:
                self.adapters.append(
                    Adapter(
                        kind="hypernetwork",
                        name=str(ins["hypernetwork_name"]),
                        weight=to_float(ins.get("strength")),
                        params={"node": nid},
                    )
                )
            for key in ("ckpt_name", "unet_name", "model_path", "base_ckpt_name", "model_name"):
                if key in ins and not (key == "model_name" and "model" in ins):
                    p.model = str(self.scalar(ins[key], key))
                    p.sources.setdefault("model", nid)
                    return
            if "model1" in ins and "model2" in ins:
                other = _Pass(node="")
                self.walk_model(ins["model2"], other)
                if other.model:
                    self.adapters.append(
                        Adapter(kind="merge", name=other.model, weight=to_float(ins.get("ratio")), params={"node": nid})
                    )
                link = ins["model1"]
                continue
            nxt = ins.get("model")
            if not _is_link(nxt):
                nxt = next((v for k, v in ins.items() if k.startswith("model") and _is_link(v)), None)
            if nxt is None:
                nxt = self.bundled(ins, "model")
            if nxt is None:
                return
            link = nxt

    def _loras(self, nid: str, ins: dict[str, Any]) -> None:
        """LoRAs named on a node: a LoRA loader, a loader with a built-in LoRA, or a LoRA stack."""
        slots: list[tuple[Any, Any, Any]] = []
        if "lora_name" in ins:
            model_w = ins.get("strength_model", ins.get("lora_model_strength", ins.get("lora_strength", 1.0)))
            slots.append((ins["lora_name"], model_w, ins.get("strength_clip", ins.get("lora_clip_strength"))))
        for i in range(1, 50):
            name = ins.get(f"lora_name_{i}")
            if name is None:
                if i > 1:
                    break
                continue
            if ins.get(f"switch_{i}") in ("Off", False):
                continue
            simple = ins.get(f"lora_wt_{i}", ins.get(f"strength_{i}"))
            model_w = ins.get(f"model_str_{i}", ins.get(f"model_weight_{i}", simple))
            clip_w = ins.get(f"clip_str_{i}", ins.get(f"clip_weight_{i}", simple))
            if ins.get("input_mode") == "simple" and simple is not None:
                model_w = clip_w = simple
            slots.append((name, model_w, clip_w))
        count = to_int(ins.get("lora_count"))
        if count is not None and any(k.startswith("lora_name_") for k in ins):
            slots = slots[:count]
        for name, model_w, clip_w in slots:
            resolved = self.scalar(name, "lora_name")
            if not isinstance(resolved, str) or resolved in ("None", ""):
                continue
            self.adapters.append(
                Adapter(
                    kind="lora",
                    name=resolved,
                    weight=to_float(self.scalar(model_w if model_w is not None else 1.0, "strength_model")),
                    weight_clip=to_float(self.scalar(clip_w, "strength_clip")),
                    params={"node": nid},
                )
            )

    def walk_clip(self, link: Any) -> None:
        seen: set[str] = set()
        while True:
            found = self.node(link)
            if found is None:
                return
            nid, _n, _ = found
            if nid in seen:
                return
            seen.add(nid)
            self._tick()
            ins = self.inputs(nid)
            if "stop_at_clip_layer" in ins and self.clip_skip is None:
                layer = to_int(self.scalar(ins["stop_at_clip_layer"], "stop_at_clip_layer"))
                if layer is not None:
                    self.clip_skip = -layer
            link = ins.get("clip")
            if not _is_link(link):
                return

    def walk_conditioning(self, link: Any, out: list[str]) -> None:
        stack = [link]
        seen: set[tuple[str, int]] = set()
        while stack:
            found = self.node(stack.pop())
            if found is None:
                continue
            nid, n, slot = found
            if (nid, slot) in seen:
                continue
            seen.add((nid, slot))
            self._tick()
            ins = self.inputs(nid)
            ct = n["class_type"]
            role = self.role(nid, slot)
            if role in ("positive", "negative") and role in ins:
                value = ins[role]
                if _is_link(value):
                    stack.append(value)
                else:
                    text = self.text(value)
                    if text is not None:
                        out.append(text)
                        self.text_nodes.append(nid)
                continue
            if "guidance" in ins and "conditioning" in ins:
                self.guidance = to_float(self.scalar(ins["guidance"], "guidance"))
            if "TextEncode" in ct or ("clip" in ins and any(k in ins for k in _TEXT_KEYS)):
                for key in _TEXT_KEYS:
                    if key in ins and not (key == "populated_text" and not ins[key]):
                        text = self.text(ins[key])
                        if text is not None:
                            out.append(text)
                            self.text_nodes.append(nid)
                            break
                if "clip" in ins:
                    self.walk_clip(ins["clip"])
                continue
            if "control_net" in ins:
                cn = self.node(ins["control_net"])
                name = None
                if cn:
                    cins = self.inputs(cn[0])
                    name = cins.get("control_net_name") or cins.get("model_name")
                self.adapters.append(
                    Adapter(
                        kind="controlnet",
                        name=str(name or ct),
                        weight=to_float(ins.get("strength")),
                        params={
                            k: v for k, v in ins.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)
                        },
                    )
                )
            if "positive" in ins and "negative" in ins:
                stack.append(ins["positive"] if slot == 0 else ins["negative"])
                continue
            for key, value in ins.items():
                if _is_link(value) and (key in _COND_INPUTS or "conditioning" in key or key.startswith("cond")):
                    stack.append(value)

    def walk_latent(self, link: Any, p: _Pass) -> None:
        """Find the size and the upstream sampler of a sampler's latent input."""
        scale = 1.0
        seen: set[str] = set()
        while True:
            found = self.node(link)
            if found is None:
                return
            nid, n, _ = found
            if nid in seen:
                return
            seen.add(nid)
            self._tick()
            ins = self.inputs(nid)
            ct = n["class_type"]
            if nid in self.sampler_ids:
                p.upstream = nid
                if p.kind == "txt2img":
                    p.kind = "pass"
                return
            size_keys = next(
                ((wk, hk) for wk, hk in _SIZE_KEYS if wk in ins and hk in ins),
                None,
            )
            if size_keys is not None and p.width is None:
                w = to_int(self.scalar(ins[size_keys[0]], "width"))
                h = to_int(self.scalar(ins[size_keys[1]], "height"))
                if w and h:
                    p.width, p.height = int(w * scale), int(h * scale)
                    p.sources.setdefault("size", nid)
                if "batch_size" in ins:
                    p.batch_size = to_int(self.scalar(ins["batch_size"], "batch_size"))
                if "Upscale" in ct or "Scale" in ct:
                    p.kind = "hires"
            elif isinstance(ins.get("dimensions"), str) and p.width is None:
                m = _DIMENSIONS.search(ins["dimensions"])
                if m:
                    p.width, p.height = int(int(m.group(1)) * scale), int(int(m.group(2)) * scale)
                    p.sources.setdefault("size", nid)
            elif "scale_by" in ins:
                scale *= to_float(self.scalar(ins["scale_by"], "scale_by")) or 1.0
                p.kind = "hires"
            if ct.startswith("VAEEncode"):
                p.kind = "inpaint" if "Inpaint" in ct or "mask" in ins else "img2img"
            if ct == "LoadImage" or ct.startswith("LoadImage"):
                if p.kind == "txt2img":
                    p.kind = "img2img"
                return
            nxt = next((ins[k] for k in _LATENT_INPUTS if _is_link(ins.get(k))), None)
            if nxt is None:
                nxt = self.bundled(ins, "latent")
            if nxt is None:
                return
            link = nxt


def _is_sampler(n: dict[str, Any]) -> bool:
    """A sampling pass by class name, or by shape: a seed, steps and a sampler or CFG, plus
    something to sample (a model, conditioning, a latent or a pipe bundle), and no detailer inputs."""
    ct = n["class_type"]
    if ct in _SAMPLERS:
        return True
    ins = n.get("inputs", {})
    # every sampler has steps; most nodes do not, so this one test settles them
    if "steps" not in ins or ct == "KSamplerSelect" or not _DETAILER_INPUTS.isdisjoint(ins):
        return False
    if "KSampler" in ct and ("latent_image" in ins or "latent" in ins):
        return True
    if "sampler_name" in ins and ("latent_image" in ins or "latent" in ins):
        return True
    has_seed = "seed" in ins or "noise_seed" in ins
    has_knobs = "cfg" in ins or "sampler_name" in ins
    return has_seed and has_knobs and not _SUBJECT_SET.isdisjoint(ins)


def _read_sampler(g: Graph, nid: str) -> _Pass:
    ins = g.inputs(nid)
    p = _Pass(node=nid)
    seed_input = ins.get("seed", ins.get("noise_seed"))
    if seed_input is None:
        seed_input = g.bundled(ins, "seed")
    seed_value = g.scalar(seed_input, "seed")
    add_noise = ins.get("add_noise")
    guider = g.node(ins.get("guider"))
    gins = g.inputs(guider[0]) if guider else {}
    noise = g.node(ins.get("noise"))
    if noise:
        nins = g.inputs(noise[0])
        seed_value = g.scalar(nins.get("noise_seed", nins.get("seed")), "seed")
        if noise[1]["class_type"] == "DisableNoise":
            add_noise = False
    p.seed, p.seed_type = seed_of(seed_value)
    if isinstance(add_noise, str):
        p.add_noise = add_noise == "enable"
    elif isinstance(add_noise, bool):
        p.add_noise = add_noise
    p.steps = to_int(g.scalar(ins.get("steps"), "steps"))
    p.cfg = to_float(g.scalar(ins.get("cfg"), "cfg"))
    p.sampler = _name(g.scalar(ins.get("sampler_name"), "sampler_name"))
    p.scheduler = _name(g.scalar(ins.get("scheduler"), "scheduler"))
    p.denoise = to_float(g.scalar(ins.get("denoise"), "denoise"))
    p.start = to_int(ins.get("start_at_step"))
    p.end = to_int(ins.get("end_at_step"))
    sampler_node = g.node(ins.get("sampler"))
    if sampler_node:
        sins = g.inputs(sampler_node[0])
        p.sampler = (
            _name(g.scalar(sins.get("sampler_name"), "sampler_name"))
            or re.sub(r"^Sampler", "", sampler_node[1]["class_type"]).lower()
        )
    sigmas = g.node(ins.get("sigmas"))
    if sigmas:
        sig_ins = g.inputs(sigmas[0])
        ct = sigmas[1]["class_type"]
        p.steps = to_int(g.scalar(sig_ins.get("steps"), "steps"))
        p.denoise = to_float(g.scalar(sig_ins.get("denoise"), "denoise"))
        p.scheduler = _name(g.scalar(sig_ins.get("scheduler"), "scheduler")) or re.sub(r"Scheduler$", "", ct).lower()
    if guider:
        if "cfg" in gins:
            p.cfg = to_float(g.scalar(gins["cfg"], "cfg"))
        elif "cfg_conds" in gins:
            p.cfg = to_float(g.scalar(gins["cfg_conds"], "cfg_conds"))
        elif guider[1]["class_type"] == "BasicGuider":
            p.cfg = 1.0
    model_link = ins.get("model", gins.get("model"))
    if model_link is None:
        model_link = g.bundled(ins, "model")
    g.walk_model(model_link, p)
    pos = ins.get("positive", gins.get("positive", gins.get("conditioning")))
    neg = ins.get("negative", gins.get("negative"))
    if pos is None:
        pos = g.bundled(ins, "positive")
    if neg is None:
        neg = g.bundled(ins, "negative")
    first_text = len(g.text_nodes)
    g.walk_conditioning(pos, p.positive)
    if len(g.text_nodes) > first_text:
        p.sources.setdefault("prompt", g.text_nodes[first_text])
    if neg is not None:
        first_text = len(g.text_nodes)
        g.walk_conditioning(neg, p.negative)
        if len(g.text_nodes) > first_text:
            p.sources.setdefault("negative_prompt", g.text_nodes[first_text])
    latent = ins.get("latent_image", ins.get("latent", ins.get("samples")))
    if latent is None:
        latent = g.bundled(ins, "latent")
    g.walk_latent(latent, p)
    # node ids only: the readable "node 3 (KSampler)" is made when someone asks (read --explain)
    p.sources.setdefault("sampling", nid)
    return p


def _name(value: Any) -> str | None:
    """A sampler or scheduler name: a non-empty string, else nothing (a hostile graph may hold anything)."""
    return value if isinstance(value, str) and value else None


def _where(g: Graph, nid: str) -> str:
    return f"node {nid} ({g.nodes[nid]['class_type']})"


def _depth(passes: dict[str, _Pass], nid: str) -> int:
    d = 0
    seen = {nid}
    while passes[nid].upstream and passes[nid].upstream in passes and d < 1000:
        nid = passes[nid].upstream  # type: ignore[assignment]
        if nid in seen:
            break
        seen.add(nid)
        d += 1
    return d


def record_from_graph(
    graph: dict[str, Any], raw: RawMetadata, *, generator: Generator = Generator.COMFYUI
) -> GenerationRecord:
    """Build a record from a ComfyUI API graph (also used by SwarmUI/TensorArt/Civitai).

    Every graph gives a record: without a recognisable sampler, the values its nodes carry.
    """
    return _walk_graph(graph, raw, generator)[0]


def _walk_graph(graph: dict[str, Any], raw: RawMetadata, generator: Generator) -> tuple[GenerationRecord, Graph]:
    """The record, and the walked graph (which node gave which field)."""
    g = Graph(graph)
    g.sampler_ids = {nid for nid, n in g.nodes.items() if _is_sampler(n)}
    if not g.sampler_ids:
        return _partial_record(g, raw, generator), g
    passes = {nid: _read_sampler(g, nid) for nid in sorted(g.sampler_ids, key=g.order.__getitem__)}
    # sizes flow down chains (a refiner pass works at its upstream's size)
    for nid in sorted(passes, key=lambda k: _depth(passes, k)):
        p = passes[nid]
        if p.width is None and p.upstream in passes:
            up = passes[p.upstream]  # type: ignore[index]
            p.width, p.height = up.width, up.height
    ordered = sorted(passes.values(), key=lambda p: (_depth(passes, p.node), g.order[p.node]))
    first = ordered[0]
    out_passes = []
    for p in ordered:
        cs, csch = canonical_pair(p.sampler, p.scheduler)
        out_passes.append(
            SamplingPass(
                kind=p.kind,
                seed=p.seed,
                steps=p.steps,
                cfg_scale=p.cfg,
                sampler=p.sampler,
                scheduler=p.scheduler,
                canonical_sampler=cs,
                canonical_scheduler=csch,
                denoise=p.denoise,
                width=p.width,
                height=p.height,
                start_step=p.start,
                end_step=p.end,
                add_noise=p.add_noise,
                model=p.model if p.model != first.model else None,
                prompt="\n".join(p.positive) if p.positive != first.positive else None,
                negative_prompt="\n".join(p.negative) if p.negative != first.negative else None,
                node=p.node,
            )
        )
    adapters: list[Adapter] = []
    seen_adapters: set[tuple[Any, ...]] = set()
    for a in g.adapters:
        key = (a.kind, a.name, a.weight, a.weight_clip, a.params.get("node"))
        if key not in seen_adapters:
            seen_adapters.add(key)
            adapters.append(a)
    prompt_texts = first.positive
    for text in prompt_texts + first.negative:
        for name in _EMBEDDING.findall(text) if "embedding:" in text else ():
            adapters.append(Adapter(kind="embedding", name=name.rstrip(".,")))
    vae = None
    post: list[PostProcess] = []
    for nid, n in g.nodes.items():
        ins = g.inputs(nid)
        if n["class_type"] == "VAELoader" and vae is None:
            vae = ModelRef(name=str(ins.get("vae_name")))
        elif "UpscaleModel" in n["class_type"] and "model_name" in ins:
            post.append(PostProcess(kind="upscale", name=str(ins["model_name"])))
        elif "FaceDetailer" in n["class_type"] or "FaceRestore" in n["class_type"]:
            post.append(PostProcess(kind="face_restore", name=n["class_type"]))
    last = out_passes[-1]
    extra: dict[str, Any] = {}
    if g.guidance is not None:
        extra["guidance"] = g.guidance
    g.explained = dict(first.sources)
    warnings = _uninterpreted(g)
    if g.generated_text:
        kinds = ", ".join(sorted(set(g.generated_text)))
        warnings += (f"part of the prompt is written at run time by {kinds}; it is not in the graph",)
    rec = GenerationRecord.from_passes(
        tuple(out_passes),
        generator=generator,
        generator_name="ComfyUI",
        prompt="\n".join(first.positive) if first.positive else None,
        negative_prompt="\n".join(first.negative) if first.negative else None,
        seed_type=first.seed_type,
        rng="CPU",
        final_width=last.width,
        final_height=last.height,
        clip_skip=g.clip_skip,
        model=ModelRef(name=first.model) if first.model else None,
        vae=vae,
        adapters=tuple(adapters),
        postprocessing=tuple(post),
        batch_size=first.batch_size,
        extra=extra,
        raw=dict(raw.fields),
        warnings=warnings,
    )
    return rec, g


#: node types read by the scans of the whole graph (VAE, post-processing), not by a walk
_SCANNED = ("VAELoader", "UpscaleModel", "FaceDetailer", "FaceRestore")


def _uninterpreted(g: Graph) -> tuple[str, ...]:
    """One plain note naming the node types no walk looked at (an unknown node is never an error)."""
    names = sorted(
        {
            n["class_type"]
            for nid, n in g.nodes.items()
            if nid not in g.visited
            and nid not in g.sampler_ids
            and n["class_type"] not in _SINKS
            and not any(s in n["class_type"] for s in _SCANNED)
        }
    )
    if not names:
        return ()
    shown = ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")
    return (f"graph nodes not interpreted (they may not change the recipe): {shown}",)


def _partial_record(g: Graph, raw: RawMetadata, generator: Generator) -> GenerationRecord:
    """No node looks like a sampler: every value the graph carries, gathered node by node.

    The graph stays in ``raw``; a note says that no sampling pass was recognised.
    """
    found: dict[str, Any] = {}
    texts: list[str] = []
    model: str | None = None
    for nid, n in g.nodes.items():
        ins = g.inputs(nid)
        ct = n["class_type"]
        g._loras(nid, ins)
        for key in ("ckpt_name", "unet_name", "base_ckpt_name"):
            if model is None and isinstance(ins.get(key), str):
                model = ins[key]
                g.explained["model"] = nid
        if ("TextEncode" in ct or "clip" in ins) and ct not in _SINKS:
            for key in _TEXT_KEYS:
                text = g.text(ins.get(key)) if key in ins else None
                if text:
                    texts.append(text)
                    g.explained.setdefault("prompt" if len(texts) == 1 else "negative_prompt", nid)
                    break
        for key, name in (("seed", "seed"), ("noise_seed", "seed"), ("steps", "steps"), ("cfg", "cfg"),
                          ("sampler_name", "sampler"), ("scheduler", "scheduler"), ("denoise", "denoise")):  # fmt: skip
            value = ins.get(key)
            if name not in found and value is not None and not _is_link(value):
                found[name] = value
                g.explained[{"cfg": "cfg_scale"}.get(name, name)] = nid
        for wk, hk in _SIZE_KEYS:
            if "width" not in found and isinstance(ins.get(wk), int) and isinstance(ins.get(hk), int):
                found["width"], found["height"] = ins[wk], ins[hk]
                g.explained["size"] = nid
    seed, seed_type = seed_of(found.get("seed"))
    found["sampler"], found["scheduler"] = _name(found.get("sampler")), _name(found.get("scheduler"))
    cs, csch = canonical_pair(found["sampler"], found["scheduler"])
    p = SamplingPass(
        seed=seed,
        steps=to_int(found.get("steps")),
        cfg_scale=to_float(found.get("cfg")),
        sampler=found.get("sampler"),
        scheduler=found.get("scheduler"),
        canonical_sampler=cs,
        canonical_scheduler=csch,
        denoise=to_float(found.get("denoise")),
        width=to_int(found.get("width")),
        height=to_int(found.get("height")),
    )
    types = sorted({n["class_type"] for n in g.nodes.values()})
    note = "no node of the graph was recognised as a sampler; values gathered from the nodes that carry them"
    return GenerationRecord.from_passes(
        (p,),
        generator=generator,
        generator_name="ComfyUI",
        prompt=texts[0] if texts else None,
        negative_prompt=texts[1] if len(texts) > 1 else None,
        seed_type=seed_type,
        final_width=p.width,
        final_height=p.height,
        rng="CPU",
        model=ModelRef(name=model) if model else None,
        adapters=tuple(g.adapters),
        raw=dict(raw.fields),
        warnings=(note + f" (node types: {', '.join(types[:20])})",),
    )


def find_graph(raw: RawMetadata) -> tuple[str, str] | None:
    """Locate a ComfyUI API graph among the carriers: (key, json text)."""
    text = raw.fields.get("prompt")
    if text and '"class_type"' in text:
        return "prompt", text
    for key, prefix in ((EXIF_MODEL, "prompt:"), (EXIF_MAKE, "Prompt:"), (EXIF_IMAGE_DESCRIPTION, "Prompt:")):
        value = raw.fields.get(key, "")
        if value.startswith(prefix) and '"class_type"' in value:
            return key, value[len(prefix) :]
    uc = raw.fields.get(EXIF_USER_COMMENT, "")
    if uc.lstrip().startswith("{") and '"class_type"' in uc:
        return EXIF_USER_COMMENT, uc
    return None


def graph_from(text: str, reader: str = "comfyui") -> dict[str, Any]:
    data = load_json(text, reader, "prompt graph")
    if not isinstance(data, dict):
        raise fail(reader, "prompt graph is not a JSON object")
    # ComfyUI SaveImagePlus wraps the graph: {"prompt": graph-or-json-string, "workflow": ...}
    if isinstance(data.get("prompt"), (dict, str)):
        inner = data["prompt"]
        if isinstance(inner, str):
            inner = maybe_json(inner) or {}
        if isinstance(inner, dict) and any(isinstance(v, dict) and "class_type" in v for v in inner.values()):
            return inner
    return data


class ComfyUIReader:
    """ComfyUI API graphs in PNG ``prompt``, WebP/JPEG EXIF (Make/Model/UserComment)."""

    name: ClassVar[str] = "comfyui"
    carriers: ClassVar[frozenset[str]] = frozenset(
        {"prompt", "workflow", EXIF_MODEL, EXIF_MAKE, EXIF_IMAGE_DESCRIPTION, EXIF_USER_COMMENT}
    )

    def accept(self, raw: RawMetadata) -> bool:
        return find_graph(raw) is not None or '"nodes"' in raw.fields.get("workflow", "")[:2000]

    def parse(self, raw: RawMetadata) -> GenerationRecord:
        return parse_with_sources(raw)[0]


def parse_with_sources(raw: RawMetadata) -> tuple[GenerationRecord, dict[str, str]]:
    """The record of a ComfyUI file, and for each field the node that gave it.

    The API graph (``prompt``) is read when present; otherwise the UI workflow is converted
    to one first. An A1111 ``parameters`` chunk written beside the graph (by save nodes
    made for sharing sites) fills what the graph walk could not resolve.
    """
    found = find_graph(raw)
    note: tuple[str, ...] = ()
    if found is not None:
        graph = graph_from(found[1])
    else:
        wf = load_json(raw.fields["workflow"], "comfyui", "workflow")
        if not isinstance(wf, dict) or not isinstance(wf.get("nodes"), list):
            raise fail("comfyui", "workflow has no node list")
        converted = workflow_to_graph(wf)
        graph = converted.graph
        note = ("read from the UI workflow (no API graph in the file)",)
        if converted.by_shape:
            note += (f"widgets read by their shape for: {', '.join(sorted(set(converted.by_shape)))}",)
    g_record, sources = _record_and_sources(graph, raw)
    rec = _fill_from_infotext(g_record, raw)
    if note:
        rec = rec.replace(warnings=note + tuple(rec.warnings))
    return rec, sources


def _record_and_sources(graph: dict[str, Any], raw: RawMetadata) -> tuple[GenerationRecord, dict[str, str]]:
    rec, g = _walk_graph(graph, raw, Generator.COMFYUI)
    sources: dict[str, str] = {}
    for name, nid in g.explained.items():
        if nid not in g.nodes:
            continue
        if name == "sampling":
            for field_name in ("seed", "steps", "cfg_scale", "sampler", "scheduler", "denoise"):
                if getattr(rec, field_name) is not None:
                    sources.setdefault(field_name, _where(g, nid))
        else:
            sources[name] = _where(g, nid)
    return rec, sources


def _fill_from_infotext(rec: GenerationRecord, raw: RawMetadata) -> GenerationRecord:
    """Fields the graph walk left empty, and model hashes, from an A1111 text written beside the graph."""
    text = raw.fields.get("parameters")
    if not text or not looks_like_infotext(text):
        return rec
    from seedlock.readers.a1111 import record_from_infotext

    try:
        a = record_from_infotext(text, raw)
    except ValueError:  # not A1111 text after all; a reader bug would surface, not hide here
        return rec
    changes: dict[str, Any] = {}
    for name in ("prompt", "negative_prompt", "seed", "steps", "cfg_scale", "sampler", "scheduler", "width", "height"):
        if getattr(rec, name) in (None, "") and getattr(a, name) not in (None, ""):
            changes[name] = getattr(a, name)
    if "sampler" in changes or "scheduler" in changes:
        changes["canonical_sampler"], changes["canonical_scheduler"] = a.canonical_sampler, a.canonical_scheduler
    if a.model and a.model.hashes:
        model_name = rec.model.name if rec.model and rec.model.name else a.model.name
        changes["model"] = ModelRef(
            name=model_name, hashes={**(rec.model.hashes if rec.model else {}), **a.model.hashes}
        )
    if changes:
        changes["warnings"] = (*rec.warnings, "fields the graph left open filled from its A1111 parameters text")
    return rec.replace(**changes) if changes else rec


def explain(raw: RawMetadata) -> dict[str, str]:
    """For a ComfyUI file: which node gave each field of the record."""
    return parse_with_sources(raw)[1]
