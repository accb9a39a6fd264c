"""The seed's own procedure on seedlock's engine: a repeat must match, each single-knob change must move the hash."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from seedlock.replay.recipe import Recipe
from seedlock.replay.run import Engine

__all__ = ["Check", "curl_quotes", "verify"]


def curl_quotes(text: str) -> str:
    """The invisible edit users make by pasting through a word processor."""
    if '"' in text:
        return text.replace('"', "\u201c", 1)
    if "'" in text:
        return text.replace("'", "\u2019", 1)
    return "\u201c" + text + "\u201d"


def _curl_note(text: str) -> str:
    if '"' in text or "'" in text:
        return "one straight quote curled in the prompt"
    return "the prompt wrapped in curly quotes (it has no straight quote to curl)"


@dataclass(frozen=True)
class Check:
    """One check of :func:`verify`: what was changed, the pixel hash it gave, and whether it passed."""

    name: str
    changed: str
    pixel_sha256: str
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "changed": self.changed, "pixel_sha256": self.pixel_sha256, "passed": self.passed}


def verify(engine: Engine, recipe: Recipe, progress: Callable[[str], None] | None = None) -> list[Check]:
    """Repeat must match; each single-knob change must move the hash."""
    base = engine.run(recipe)
    again = engine.run(recipe)
    checks = [
        Check("repeat", "nothing (fresh generators)", again.pixel_sha256, again.pixel_sha256 == base.pixel_sha256)
    ]
    from seedlock.replay.flow_models import FLOW

    if engine.pipeline(recipe.model)._seedlock_family in FLOW:
        # SD3 and Flux have one sampler (flow-matching Euler): the sigma schedule is the knob to turn
        shape = "normal" if recipe.schedule == "karras" else "karras"
        knob = ("schedule", f"schedule {recipe.schedule or 'automatic'} -> {shape}",
                recipe.with_(schedule=shape, scheduler_config=None))  # fmt: skip
    else:
        other = "dpmpp_2m" if recipe.sampler != "dpmpp_2m" else "euler"
        knob = ("sampler", f"sampler {recipe.sampler} -> {other}", recipe.with_(sampler=other, scheduler_config=None))
    perturbations = [
        (
            "cfg +0.5",
            f"cfg {recipe.cfg_scale} -> {recipe.cfg_scale + 0.5}",
            recipe.with_(cfg_scale=recipe.cfg_scale + 0.5),
        ),
        ("steps +1", f"steps {recipe.steps} -> {recipe.steps + 1}", recipe.with_(steps=recipe.steps + 1)),
        knob,
        ("seed +1", f"seed {recipe.seed} -> {recipe.seed + 1}", recipe.with_(seed=recipe.seed + 1)),
        ("curly quote", _curl_note(recipe.prompt), recipe.with_(prompt=curl_quotes(recipe.prompt))),
    ]
    for name, what, changed in perturbations:
        if progress:
            progress(name)
        r = engine.run(changed)
        checks.append(Check(name, what, r.pixel_sha256, r.pixel_sha256 != base.pixel_sha256))
    return [Check("base", "the recipe as given", base.pixel_sha256, True), *checks]
