"""Replay an image from its own record and say whether, and why, the pixels differ."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedlock.diff.fields import diff_records, environment_differences
from seedlock.diff.pixels import PixelReport, compare_arrays, decode, pixel_hash
from seedlock.diff.rules import Cause, diagnose
from seedlock.pin.cache import HashCache
from seedlock.readers import read
from seedlock.replay.recipe import recipe_from_record
from seedlock.replay.run import Engine, RunResult, RunSettings

__all__ = ["ReplayReport", "replay"]


@dataclass(frozen=True)
class Mismatch:
    """How the replayed pixels differ from the image's, and the ranked causes from the two records."""

    pixels: PixelReport
    causes: tuple[Cause, ...]

    def to_dict(self) -> dict[str, Any]:
        p = self.pixels
        return {
            "pixels": {
                "verdict": p.verdict,
                "max_abs_diff": p.max_abs_diff,
                "psnr": None if p.psnr == float("inf") else round(p.psnr, 4),
                "ssim": round(p.ssim, 6),
            },
            "causes": [
                {"rank": c.rank, "title": c.title, "field": c.field, "explanation": c.explanation} for c in self.causes
            ],
        }


@dataclass
class ReplayReport:
    image: str
    original_sha256: str
    result: RunResult
    #: "bitwise" when the environment matches the recorded one, else "numerically close"
    promise: str
    env_differences: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    approximate: tuple[str, ...] = ()
    mismatch: Mismatch | None = None

    @property
    def identical(self) -> bool:
        return self.result.pixel_sha256 == self.original_sha256

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "image": self.image,
            "verdict": "bit-identical" if self.identical else "different",
            "original_pixel_sha256": self.original_sha256,
            "replayed_pixel_sha256": self.result.pixel_sha256,
            "promise": self.promise,
            "environment_differences": {k: {"recorded": a, "now": b} for k, (a, b) in self.env_differences.items()},
            "approximate": list(self.approximate),
            "seconds": round(self.result.seconds, 3),
        }
        if self.mismatch is not None:
            out.update(self.mismatch.to_dict())
        return out

    def render(self) -> str:
        lines = [
            f"replay: {'bit-identical' if self.identical else 'DIFFERENT'} "
            f"({self.result.seconds:.2f} s; expected: {self.promise})",
            f"  original pixels {self.original_sha256[:16]}…  replayed {self.result.pixel_sha256[:16]}…",
        ]
        for k, (a, b) in self.env_differences.items():
            lines.append(f"  environment differs: {k}: recorded {a!r}, now {b!r}")
        for note in self.approximate:
            lines.append(f"  approximate: {note}")
        if self.mismatch is not None:
            p = self.mismatch.pixels
            psnr = "inf" if p.psnr == float("inf") else f"{p.psnr:.2f} dB"
            lines.append(f"  pixels: {p.verdict}, max |diff| {p.max_abs_diff}, PSNR {psnr}")
            for c in self.mismatch.causes:
                lines.append(f"  cause [{c.rank}] {c.title}: {c.field}")
        return "\n".join(lines)


def replay(
    image: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | None = None,
    loras: Mapping[str, str] | None = None,
    refiner: str | os.PathLike[str] | None = None,
    allow_other_model: bool = False,
    device: str = "cpu",
    engine: Engine | None = None,
) -> ReplayReport:
    """Regenerate ``image`` under the settings its record names and compare pixel hashes.

    ``engine`` is reused (its loaded pipelines with it) when its settings are the recorded ones.
    """
    record = read(image)
    original = decode(Path(image), "RGB")
    with HashCache() as cache:
        recipe = recipe_from_record(
            record, model=model, loras=loras, allow_other_model=allow_other_model, cache=cache, refiner=refiner
        )
    recorded = record.run
    recorded_env = dict(recorded.environment) if recorded else {}
    det = recorded_env.get("determinism") or {}
    settings = RunSettings(
        device=device,
        dtype=str(recorded_env.get("dtype") or "float32"),
        deterministic=bool(det.get("enabled", True)),
        threads=int(det.get("threads") or 1),
        attention=str(det.get("attention") or "math"),
    )
    if engine is None or engine.settings != settings:
        engine = Engine(settings)
    result = engine.run(recipe)
    now = result.record.run
    env_now = dict(now.environment) if now else {}
    env_diff = (
        environment_differences(recorded_env, env_now)
        if recorded_env
        else {"environment": ("not recorded", "this machine")}
    )
    report = ReplayReport(
        image=str(Path(image)),
        original_sha256=pixel_hash(original),
        result=result,
        promise="bitwise" if not env_diff and not recipe.approximate else "numerically close",
        env_differences=env_diff,
        approximate=recipe.approximate,
    )
    if not report.identical:
        px = compare_arrays(original, result.pixels)
        report.mismatch = Mismatch(px, tuple(diagnose(diff_records(record, result.record), px)))
    return report
