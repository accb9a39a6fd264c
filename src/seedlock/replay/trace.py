"""Where two traced runs part: prompt embeddings, initial noise, then step by step.

``seedlock generate --trace`` stores short hashes of the text-encoder output, the
initial latent and the latents after every step; comparing two such records names the
first stage that differs, which says what kind of cause to look for (a prompt edit
changes the embeddings; a seed or RNG change the noise; a kernel or thread difference
shows up first in the latents of some step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from seedlock.record import GenerationRecord, Trace

__all__ = ["Divergence", "first_divergence"]


@dataclass(frozen=True)
class Divergence:
    """The first stage at which two traced runs differ (``stage`` None when identical or untraced)."""

    identical: bool
    stage: str | None
    step: int | None
    summary: str
    #: "A" or "B" when that side carries no trace (nothing could be compared)
    missing_trace: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"identical": self.identical, "stage": self.stage, "step": self.step, "summary": self.summary}


def _trace(record: GenerationRecord) -> Trace | None:
    run = record.run
    return run.trace if run else None


def first_divergence(a: GenerationRecord, b: GenerationRecord) -> Divergence:
    """Compare the stage hashes of two traced runs and name the first stage that differs."""
    ta, tb = _trace(a), _trace(b)
    if ta is None or tb is None:
        missing = "A" if ta is None else "B"
        return Divergence(False, None, None, f"{missing} has no trace (it was generated without tracing)", missing)
    equal: list[str] = []
    for stage, label in (("prompt_embeds", "prompt embeddings"), ("noise", "noise")):
        if getattr(ta, stage) != getattr(tb, stage):
            before = (", ".join(equal) + " equal, ") if equal else ""
            return Divergence(False, stage, None, f"{before}{label} differ".capitalize())
        equal.append(label)
    la, lb = ta.latents, tb.latents
    for i, (x, y) in enumerate(zip(la, lb)):
        if x != y:
            return Divergence(
                False, "latents", i + 1, f"Prompt embeddings equal, noise equal, latents differ from step {i + 1}"
            )
    if len(la) != len(lb):
        n = min(len(la), len(lb))
        return Divergence(
            False,
            "steps",
            n + 1,
            f"Prompt embeddings equal, noise equal, latents equal for {n} steps; "
            f"then the runs have {len(la)} vs {len(lb)} steps",
        )
    if ta.image != tb.image:
        return Divergence(
            False,
            "decode",
            None,
            f"Every latent equal ({len(la)} steps); the decoded images differ (VAE or quantisation)",
        )
    return Divergence(
        True, None, None, f"Identical: prompt embeddings, noise, {len(la)} steps of latents and the image"
    )
