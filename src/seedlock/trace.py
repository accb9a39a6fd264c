"""Where two traced runs part: prompt embeddings, initial noise, then step by step.

``seedlock generate --trace`` stores short hashes of the text-encoder output, the
initial latent and the latents after every step; comparing two such records names the
first stage that differs, which says what kind of cause to look for (a prompt edit
changes the embeddings; a seed or RNG change the noise; a kernel or thread difference
shows up first in the latents of some step).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seedlock.record import GenerationRecord


def _trace(record: GenerationRecord) -> Mapping[str, Any] | None:
    block = record.extra.get("seedlock") if isinstance(record.extra, Mapping) else None
    trace = block.get("trace") if isinstance(block, Mapping) else None
    return trace if isinstance(trace, Mapping) else None


def first_divergence(a: GenerationRecord, b: GenerationRecord) -> dict[str, Any]:
    """A report: ``identical``, ``stage`` (first differing stage or None) and a one-line ``summary``."""
    ta, tb = _trace(a), _trace(b)
    if ta is None or tb is None:
        missing = "A" if ta is None else "B"
        return {
            "identical": False,
            "stage": None,
            "step": None,
            "summary": f"{missing} has no trace: generate it with --trace",
        }
    equal: list[str] = []
    for stage, label in (("prompt_embeds", "prompt embeddings"), ("noise", "noise")):
        if ta.get(stage) != tb.get(stage):
            before = (", ".join(equal) + " equal, ") if equal else ""
            return {"identical": False, "stage": stage, "step": None, "summary": f"{before}{label} differ".capitalize()}
        equal.append(label)
    la, lb = list(ta.get("latents") or []), list(tb.get("latents") or [])
    for i, (x, y) in enumerate(zip(la, lb)):
        if x != y:
            return {
                "identical": False,
                "stage": "latents",
                "step": i + 1,
                "summary": f"Prompt embeddings equal, noise equal, latents differ from step {i + 1}",
            }
    if len(la) != len(lb):
        n = min(len(la), len(lb))
        return {
            "identical": False,
            "stage": "steps",
            "step": n + 1,
            "summary": f"Prompt embeddings equal, noise equal, latents equal for {n} steps; "
            f"then the runs have {len(la)} vs {len(lb)} steps",
        }
    if ta.get("image") != tb.get("image"):
        return {
            "identical": False,
            "stage": "decode",
            "step": None,
            "summary": f"Every latent equal ({len(la)} steps); the decoded images differ (VAE or quantisation)",
        }
    return {
        "identical": True,
        "stage": None,
        "step": None,
        "summary": f"Identical: prompt embeddings, noise, {len(la)} steps of latents and the image",
    }
