"""``comfy lint``: what in a ComfyUI graph keeps its image from coming back, before anything runs.

Each finding names the node, says why it matters, and gives the fix in ComfyUI's terms:
a seed widget set to randomize, a seed of -1 stored by a custom sampler, ancestral and SDE
samplers (their per-step noise comes from the device's generator), batches, fp8 weights or
``--fast``, model files the image names without a hash, and custom nodes known not to be
deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from seedlock.comfyui.graph import LORA_LOADERS, SAMPLER_TYPES, is_link

__all__ = ["NONDETERMINISTIC_NODES", "LintFinding", "LintReport", "lint_graph"]

#: node types reported not deterministic (local-apis.md §1.8, with the report)
NONDETERMINISTIC_NODES: Mapping[str, str] = {
    "OneButtonPrompt": "ignores its seed input (AIrjen/OneButtonPrompt #130)",
    "HyperTile": "drew from Python's random before ComfyUI PR #2207",
    "CADS": "non-deterministic noise (asagi4/ComfyUI-CADS #3)",
    "Fluxtapoz": "non-deterministic results (logtd/ComfyUI-Fluxtapoz #10)",
    "PPM": "non-deterministic results (pamparamm/ComfyUI-ppm #9)",
    "RandomNoiseUnseeded": "adds noise with no seed",
}
_ANCESTRAL = ("_ancestral", "_sde", "ddpm", "lcm", "er_sde", "seeds_")


@dataclass(frozen=True)
class LintFinding:
    severity: str
    kind: str
    node: str
    message: str
    fix: str

    def to_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "kind": self.kind, "node": self.node, "message": self.message, "fix": self.fix}


@dataclass(frozen=True)
class LintReport:
    source: str
    findings: tuple[LintFinding, ...]

    @property
    def worst(self) -> str | None:
        order = ("info", "warning", "error")
        ranks = [order.index(f.severity) for f in self.findings]
        return order[max(ranks)] if ranks else None

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "worst": self.worst, "findings": [f.to_dict() for f in self.findings]}


def _widget_controls(workflow: Mapping[str, Any] | None) -> dict[str, str]:
    """node id -> control_after_generate value, from the UI workflow's widget values."""
    out: dict[str, str] = {}
    if not workflow:
        return out
    for node in workflow.get("nodes") or []:
        values = node.get("widgets_values")
        if not isinstance(values, list):
            continue
        for i, v in enumerate(values):
            if v in ("randomize", "increment", "decrement") and i > 0 and isinstance(values[i - 1], int):
                out[str(node.get("id"))] = str(v)
    return out


def lint_graph(
    graph: Mapping[str, Mapping[str, Any]],
    workflow: Mapping[str, Any] | None = None,
    *,
    source: str = "",
    argv: tuple[str, ...] = (),
    hashed_models: frozenset[str] = frozenset(),
) -> LintReport:
    """Every determinism risk in ``graph`` (and its UI workflow, which alone keeps the seed widget's mode)."""
    found: list[LintFinding] = []
    for nid, mode in sorted(_widget_controls(workflow).items()):
        sev = "error" if mode == "randomize" else "warning"
        found.append(LintFinding(sev, "seed-control", nid, f"the seed widget is set to {mode}: the next queue runs another seed",
                                 "set control_after_generate to fixed"))  # fmt: skip
    for nid, n in sorted(graph.items()):
        ct, ins = str(n.get("class_type")), n.get("inputs") or {}
        for key in ("seed", "noise_seed"):
            if ins.get(key) == -1 or (isinstance(ins.get(key), int) and ins[key] < 0):
                found.append(LintFinding("error", "unseeded", nid, f"{ct} stores {key} {ins[key]}: it draws a random seed "
                                         "that the image does not record", f"set {key} to a fixed number"))  # fmt: skip
        sampler = ins.get("sampler_name")
        if isinstance(sampler, str) and any(t in sampler for t in _ANCESTRAL):
            found.append(LintFinding("warning", "device-noise", nid, f"sampler {sampler} adds fresh noise each step from the "
                                     "device's generator: results differ across devices and ComfyUI versions",
                                     "use a deterministic sampler (euler, dpmpp_2m, heun, ...) or replay on the same "
                                     "device and version"))  # fmt: skip
        if ct in SAMPLER_TYPES and ins.get("add_noise") in ("disable", False) and isinstance(sampler, str) and any(
            t in sampler for t in _ANCESTRAL
        ):
            found.append(LintFinding("warning", "device-noise", nid, "add_noise disabled with an ancestral sampler is "
                                     "reported non-deterministic (ComfyUI #2841)", "use a non-ancestral sampler here"))  # fmt: skip
        batch = ins.get("batch_size")
        if isinstance(batch, int) and batch > 1:
            found.append(LintFinding("warning", "batch", nid, f"batch_size {batch}: batch size changes results slightly "
                                     "(ComfyUI #2799), and each image's noise depends on its place",
                                     "replay with the same batch size, or generate with batch_size 1"))  # fmt: skip
        dtype = ins.get("weight_dtype")
        if isinstance(dtype, str) and "fp8" in dtype:
            found.append(LintFinding("warning", "precision", nid, f"weights loaded as {dtype}: fp8 kernels differ across "
                                     "GPUs", "load with weight_dtype default"))  # fmt: skip
        for name, why in NONDETERMINISTIC_NODES.items():
            if name.lower() in ct.lower():
                found.append(LintFinding("error", "non-deterministic-node", nid, f"{ct}: {why}",
                                         "remove the node, or replace it with a seeded one"))  # fmt: skip
        for key in ("ckpt_name", "lora_name", "unet_name", "vae_name"):
            v = ins.get(key)
            if isinstance(v, str) and v and v not in hashed_models:
                found.append(LintFinding("info", "unhashed-model", nid, f"{v} is named without a hash: a file of that "
                                         "name with other bytes gives other pixels",
                                         "pin it: seedlock lock IMAGE --models DIR (or comfy verify --models DIR, "
                                         "which records the hashes)"))  # fmt: skip
        if ct in LORA_LOADERS and is_link(ins.get("strength_model")):
            found.append(LintFinding("info", "driven-weight", nid, "the LoRA weight comes from another node",
                                     "check that node is deterministic"))  # fmt: skip
    if any(a == "--fast" or a.startswith("--fast=") for a in argv):
        found.append(LintFinding("warning", "precision", "server", "the server runs with --fast (fp16 accumulation, fp8 "
                                 "matrix multiplication): not bit-reproducible across GPUs", "restart without --fast"))  # fmt: skip
    return LintReport(source, tuple(found))
