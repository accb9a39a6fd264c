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
from typing import Any, ClassVar

from seedlock.extract.raw import (
    EXIF_IMAGE_DESCRIPTION,
    EXIF_MAKE,
    EXIF_MODEL,
    EXIF_USER_COMMENT,
    RawMetadata,
)
from seedlock.readers._base import fail, load_json, maybe_json, seed_of, to_float, to_int
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
_TEXT_KEYS = ("text", "text_g", "t5xxl", "clip_l", "text_l", "prompt", "string", "value", "positive")
_SCALAR_KEYS = ("seed", "noise_seed", "value", "int", "float", "number", "steps", "cfg", "Value")
_MAX_WALK = 10_000
_EMBEDDING = re.compile(r"embedding:([^\s,()]+)")


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

    def _tick(self) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise fail("comfyui", "graph walk exceeded its bound (cyclic or huge graph)")

    def node(self, link: Any) -> tuple[str, dict[str, Any], int] | None:
        if not _is_link(link):
            return None
        nid = str(link[0])
        n = self.nodes.get(nid)
        return (nid, n, link[1]) if n is not None else None

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
        nid, _, _ = found
        ins = self.inputs(nid)
        for key in _TEXT_KEYS:
            if key in ins:
                resolved = self.text(ins[key], depth + 1)
                if resolved is not None:
                    return resolved
        parts = [self.text(v, depth + 1) for k, v in ins.items() if k not in ("delimiter", "separator", "clip")]
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
            if "lora_name" in ins:
                self.adapters.append(
                    Adapter(
                        kind="lora",
                        name=str(self.scalar(ins["lora_name"], "lora_name")),
                        weight=to_float(self.scalar(ins.get("strength_model", 1.0), "strength_model")),
                        weight_clip=to_float(self.scalar(ins.get("strength_clip"), "strength_clip")),
                        params={"node": nid},
                    )
                )
            elif "hypernetwork_name" in ins:
                self.adapters.append(
                    Adapter(
                        kind="hypernetwork",
                        name=str(ins["hypernetwork_name"]),
                        weight=to_float(ins.get("strength")),
                        params={"node": nid},
                    )
                )
            for key in ("ckpt_name", "unet_name", "model_path"):
                if key in ins:
                    p.model = str(self.scalar(ins[key], key))
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
                return
            link = nxt

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
            if "guidance" in ins and "conditioning" in ins:
                self.guidance = to_float(self.scalar(ins["guidance"], "guidance"))
            if "TextEncode" in ct or ("clip" in ins and any(k in ins for k in _TEXT_KEYS)):
                for key in _TEXT_KEYS:
                    if key in ins:
                        text = self.text(ins[key])
                        if text is not None:
                            out.append(text)
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
            if "width" in ins and "height" in ins and p.width is None:
                w = to_int(self.scalar(ins["width"], "width"))
                h = to_int(self.scalar(ins["height"], "height"))
                if w and h:
                    p.width, p.height = int(w * scale), int(h * scale)
                if "batch_size" in ins:
                    p.batch_size = to_int(self.scalar(ins["batch_size"], "batch_size"))
                if "Upscale" in ct or "Scale" in ct:
                    p.kind = "hires"
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
                return
            link = nxt


def _is_sampler(n: dict[str, Any]) -> bool:
    ct = n["class_type"]
    ins = n.get("inputs", {})
    if ct in _SAMPLERS:
        return True
    if ct == "KSamplerSelect":
        return False
    return ("sampler_name" in ins and "steps" in ins and ("latent_image" in ins or "latent" in ins)) or (
        "KSampler" in ct and "latent_image" in ins
    )


def _read_sampler(g: Graph, nid: str) -> _Pass:
    ins = g.inputs(nid)
    p = _Pass(node=nid)
    seed_value = g.scalar(ins.get("seed", ins.get("noise_seed")), "seed")
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
    p.sampler = g.scalar(ins.get("sampler_name"), "sampler_name")
    p.scheduler = g.scalar(ins.get("scheduler"), "scheduler")
    p.denoise = to_float(g.scalar(ins.get("denoise"), "denoise"))
    p.start = to_int(ins.get("start_at_step"))
    p.end = to_int(ins.get("end_at_step"))
    sampler_node = g.node(ins.get("sampler"))
    if sampler_node:
        sins = g.inputs(sampler_node[0])
        p.sampler = (
            g.scalar(sins.get("sampler_name"), "sampler_name")
            or re.sub(r"^Sampler", "", sampler_node[1]["class_type"]).lower()
        )
    sigmas = g.node(ins.get("sigmas"))
    if sigmas:
        sig_ins = g.inputs(sigmas[0])
        ct = sigmas[1]["class_type"]
        p.steps = to_int(g.scalar(sig_ins.get("steps"), "steps"))
        p.denoise = to_float(g.scalar(sig_ins.get("denoise"), "denoise"))
        p.scheduler = g.scalar(sig_ins.get("scheduler"), "scheduler") or re.sub(r"Scheduler$", "", ct).lower()
    if guider:
        if "cfg" in gins:
            p.cfg = to_float(g.scalar(gins["cfg"], "cfg"))
        elif "cfg_conds" in gins:
            p.cfg = to_float(g.scalar(gins["cfg_conds"], "cfg_conds"))
        elif guider[1]["class_type"] == "BasicGuider":
            p.cfg = 1.0
    model_link = ins.get("model", gins.get("model"))
    g.walk_model(model_link, p)
    pos = ins.get("positive", gins.get("positive", gins.get("conditioning")))
    neg = ins.get("negative", gins.get("negative"))
    g.walk_conditioning(pos, p.positive)
    if neg is not None:
        g.walk_conditioning(neg, p.negative)
    g.walk_latent(ins.get("latent_image", ins.get("latent")), p)
    return p


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
    """Build a record from a ComfyUI API graph (also used by SwarmUI/TensorArt/Civitai)."""
    g = Graph(graph)
    if not g.nodes:
        raise fail("comfyui", "graph has no nodes")
    g.sampler_ids = {nid for nid, n in g.nodes.items() if _is_sampler(n)}
    if not g.sampler_ids:
        raise fail("comfyui", "graph has no sampler node")
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
    return GenerationRecord.from_passes(
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
        found = find_graph(raw)
        if found is None:
            return _from_workflow(raw)
        return record_from_graph(graph_from(found[1]), raw)


def _from_workflow(raw: RawMetadata) -> GenerationRecord:
    """UI workflow only (no API graph): read sampler widgets positionally."""
    wf = load_json(raw.fields["workflow"], "comfyui", "workflow")
    nodes = wf.get("nodes") if isinstance(wf, dict) else None
    if not isinstance(nodes, list):
        raise fail("comfyui", "workflow has no node list")
    rec: dict[str, Any] = {}
    texts: list[str] = []
    for n in nodes:
        if not isinstance(n, dict) or n.get("mode") in (2, 4):
            continue
        w = n.get("widgets_values") or []
        t = n.get("type", "")
        if t == "KSampler" and len(w) >= 7 and "seed" not in rec:
            rec.update(seed=w[0], steps=w[2], cfg=w[3], sampler=w[4], scheduler=w[5], denoise=w[6])
        elif t.startswith("CheckpointLoader") and w:
            rec.setdefault("model", w[-1])
        elif t == "EmptyLatentImage" and len(w) >= 2:
            rec.setdefault("width", w[0])
            rec.setdefault("height", w[1])
        elif t == "CLIPTextEncode" and w and isinstance(w[0], str):
            texts.append(w[0])
    if "seed" not in rec:
        raise fail("comfyui", "workflow has no KSampler node")
    seed, seed_type = seed_of(rec["seed"])
    cs, csch = canonical_pair(rec.get("sampler"), rec.get("scheduler"))
    return GenerationRecord(
        generator=Generator.COMFYUI,
        generator_name="ComfyUI",
        prompt=texts[0] if texts else None,
        negative_prompt=texts[1] if len(texts) > 1 else None,
        seed=seed,
        seed_type=seed_type,
        steps=to_int(rec.get("steps")),
        cfg_scale=to_float(rec.get("cfg")),
        sampler=rec.get("sampler"),
        scheduler=rec.get("scheduler"),
        canonical_sampler=cs,
        canonical_scheduler=csch,
        denoise=to_float(rec.get("denoise")),
        width=to_int(rec.get("width")),
        height=to_int(rec.get("height")),
        model=ModelRef(name=str(rec["model"])) if rec.get("model") else None,
        warnings=("parameters read from the UI workflow (no API graph); prompt order is a guess",),
        raw=dict(raw.fields),
    )
