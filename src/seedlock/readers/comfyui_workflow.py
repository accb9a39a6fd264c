"""A ComfyUI UI workflow (``workflow`` chunk) turned into an API graph the graph walk reads.

The UI format keeps nodes with positional ``widgets_values`` and a separate links table;
the API format that ComfyUI executes keeps named inputs, each a literal or a
``[node, slot]`` link. Converting first means one walk serves both, so a workflow-only
file reads as well as one with a ``prompt`` chunk: positive and negative come from the
links (not from the order of the text nodes), reroutes and bypassed nodes pass their
input through, primitives give their value, and group-node and subgraph definitions
contribute their inner nodes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from seedlock.readers.comfyui_nodes import CONTROL_VALUES, NOTE_TYPES, widget_names
from seedlock.samplers import COMFY_SAMPLERS, COMFY_SCHEDULERS

__all__ = ["Converted", "workflow_to_graph"]

_SEEDISH = ("seed", "noise_seed")
#: the frontend strips /* */ and // comments from prompt widgets before queueing a graph
_COMMENT = re.compile(r"/\*[\s\S]*?\*/|//.*")
_PROMPT_WIDGETS = ("text", "text_g", "text_l", "clip_l", "clip_g", "t5xxl")
_PASS_THROUGH = ("Reroute", "Reroute (rgthree)")
_MAX_HOPS = 256


@dataclass
class Converted:
    """The API graph, and what the conversion could not name."""

    graph: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: node types whose widgets were read by shape (no table entry, no named inputs)
    by_shape: list[str] = field(default_factory=list)
    #: node types that gave nothing
    skipped: list[str] = field(default_factory=list)


def _links(raw: Any) -> dict[int, tuple[str, int, str]]:
    """link id -> (origin node id, origin slot, type), from the list or the object form."""
    out: dict[int, tuple[str, int, str]] = {}
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, list) and len(item) >= 5 and isinstance(item[0], int):
            out[item[0]] = (
                str(item[1]),
                item[2] if isinstance(item[2], int) else 0,
                str(item[5]) if len(item) > 5 else "",
            )
        elif isinstance(item, dict) and isinstance(item.get("id"), int):
            slot = item.get("origin_slot")
            out[item["id"]] = (
                str(item.get("origin_id")),
                slot if isinstance(slot, int) else 0,
                str(item.get("type", "")),
            )
    return out


def _is_control(value: Any) -> bool:
    # old frontends stored the control as a boolean ("randomize" on or off)
    return isinstance(value, bool) or (isinstance(value, str) and value in CONTROL_VALUES)


def _align(names: list[str], values: list[Any]) -> dict[str, Any]:
    """Widget names to values, skipping the control_after_generate value after each seed."""
    out: dict[str, Any] = {}
    vi = 0
    for i, name in enumerate(names):
        if vi >= len(values):
            break
        value = values[vi]
        if name == "control_after_generate":
            if _is_control(value):
                vi += 1
            continue
        out[name] = value
        vi += 1
        nxt = names[i + 1] if i + 1 < len(names) else None
        if nxt != "control_after_generate" and vi < len(values) and _is_control(values[vi]) and name in _SEEDISH:
            vi += 1
    return out


def _by_shape(values: list[Any], node_type: str) -> dict[str, Any]:
    """Name the widgets of an unknown node from their shape: a sampler's or a text node's."""
    for i, v in enumerate(values):
        if isinstance(v, str) and v in COMFY_SAMPLERS:
            out: dict[str, Any] = {"sampler_name": v}
            if i + 1 < len(values) and isinstance(values[i + 1], str) and values[i + 1] in COMFY_SCHEDULERS:
                out["scheduler"] = values[i + 1]
                if i + 2 < len(values) and isinstance(values[i + 2], float) and 0 < values[i + 2] <= 1:
                    out["denoise"] = values[i + 2]
            before = [x for x in values[:i] if isinstance(x, (int, float)) and not isinstance(x, bool)]
            if len(before) >= 3:
                out["seed"], out["steps"], out["cfg"] = before[-3], before[-2], before[-1]
            elif len(before) == 2:
                out["steps"], out["cfg"] = before
            return out
    texts = [v for v in values if isinstance(v, str) and len(v) > 3 and v not in CONTROL_VALUES]
    if texts and any(word in node_type.lower() for word in ("text", "prompt", "string", "encode", "wildcard")):
        return {"text": texts[0]}
    return {}


def _collect(wf: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[int, tuple[str, int, str]]]:
    """Every node (top level, group-node and subgraph definitions) and every link."""
    nodes: list[dict[str, Any]] = [n for n in wf.get("nodes") or [] if isinstance(n, dict)]
    links = _links(wf.get("links"))
    extra = wf.get("extra") if isinstance(wf.get("extra"), dict) else {}
    groups = extra.get("groupNodes") if isinstance(extra, dict) else None
    for gname, gdef in (groups or {}).items() if isinstance(groups, dict) else ():
        if not isinstance(gdef, dict):
            continue
        inner = [n for n in gdef.get("nodes") or [] if isinstance(n, dict)]
        # group definitions number their nodes by index and link them by index
        for n in inner:
            nid = n.get("index", n.get("id"))
            nodes.append({**n, "id": f"group:{gname}:{nid}", "inputs": []})
        for item in gdef.get("links") or []:
            if isinstance(item, list) and len(item) >= 4:
                # [from index, from slot, to index, to slot, ...]: attach as synthetic links
                lid = -len(links) - 1
                links[lid] = (f"group:{gname}:{item[0]}", item[1] if isinstance(item[1], int) else 0, "")
                for n in nodes:
                    if n.get("id") == f"group:{gname}:{item[2]}":
                        n["inputs"] = [*n["inputs"], {"name": f"in{item[3]}", "link": lid, "slot": item[3]}]
    definitions = wf.get("definitions") if isinstance(wf.get("definitions"), dict) else {}
    subgraphs = definitions.get("subgraphs") if isinstance(definitions, dict) else None
    for sg in subgraphs if isinstance(subgraphs, list) else []:
        if not isinstance(sg, dict):
            continue
        sid = str(sg.get("id", "subgraph"))
        sub_links = _links(sg.get("links"))
        remap = {lid: (f"sub:{sid}:{o}", slot, t) for lid, (o, slot, t) in sub_links.items()}
        offset = 10_000_000 * (len(links) // 10_000_000 + 1)
        for lid, target in remap.items():
            links[offset + lid] = target
        for n in sg.get("nodes") or []:
            if isinstance(n, dict):
                ins = [
                    {**i, "link": offset + i["link"]} if isinstance(i, dict) and isinstance(i.get("link"), int) else i
                    for i in n.get("inputs") or []
                ]
                nodes.append({**n, "id": f"sub:{sid}:{n.get('id')}", "inputs": ins})
    return nodes, links


def workflow_to_graph(wf: dict[str, Any]) -> Converted:
    """The API graph of a UI workflow (muted nodes left out), and what could not be named."""
    nodes, links = _collect(wf)
    # the API graph ComfyUI saves lists nodes by id; keep that order so "the first sampler" agrees
    nodes.sort(key=lambda n: (0, n["id"], "") if isinstance(n.get("id"), int) else (1, 0, str(n.get("id"))))
    by_id = {str(n.get("id")): n for n in nodes}
    out = Converted()

    def origin(link_id: Any, hops: int = 0) -> Any:
        """A link id -> a literal, an API link [node, slot], or None."""
        if not isinstance(link_id, int) or link_id not in links or hops > _MAX_HOPS:
            return None
        oid, slot, ltype = links[link_id]
        n = by_id.get(oid)
        if n is None:
            return None
        ntype = str(n.get("type", ""))
        if ntype in _PASS_THROUGH or n.get("mode") == 4:
            # a reroute, or a bypassed node: follow its input of the same type
            for i in n.get("inputs") or []:
                if (
                    isinstance(i, dict)
                    and i.get("link") is not None
                    and (ntype in _PASS_THROUGH or not ltype or i.get("type") == ltype)
                ):
                    return origin(i["link"], hops + 1)
            return None
        if ntype == "PrimitiveNode" or ntype.startswith("Primitive"):
            values = n.get("widgets_values")
            return values[0] if isinstance(values, list) and values else None
        return [oid, slot]

    for n in nodes:
        ntype = n.get("type")
        if not isinstance(ntype, str) or n.get("mode") in (2, 4) or ntype in _PASS_THROUGH or ntype in NOTE_TYPES:
            continue
        if ntype == "PrimitiveNode" or ntype.startswith("Primitive"):
            continue
        inputs: dict[str, Any] = {}
        values = n.get("widgets_values")
        socket_widgets = [
            str(i["widget"]["name"])
            for i in n.get("inputs") or []
            if isinstance(i, dict) and isinstance(i.get("widget"), dict) and "name" in i["widget"]
        ]
        if isinstance(values, dict):
            inputs.update({str(k): v for k, v in values.items() if isinstance(v, (str, int, float, bool))})
        elif isinstance(values, list) and values:
            names = widget_names(ntype, socket_widgets, len(values))
            if names is not None:
                inputs.update(_align(names, values))
            else:
                shaped = _by_shape(values, ntype)
                if shaped:
                    out.by_shape.append(ntype)
                    inputs.update(shaped)
        if "TextEncode" in ntype:
            for key in _PROMPT_WIDGETS:
                if isinstance(inputs.get(key), str) and ("/*" in inputs[key] or "//" in inputs[key]):
                    inputs[key] = _COMMENT.sub("", inputs[key])
        for i in n.get("inputs") or []:
            if not isinstance(i, dict) or i.get("link") is None or not isinstance(i.get("name"), str):
                continue
            value = origin(i["link"])
            if value is not None:
                inputs[i["name"]] = value
        if not inputs and ntype not in ("VAEDecode", "PreviewImage", "SaveImage"):
            out.skipped.append(ntype)
        out.graph[str(n.get("id"))] = {"class_type": ntype, "inputs": inputs}
    return out
