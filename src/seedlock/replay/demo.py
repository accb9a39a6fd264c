"""The built-in example: two images whose records differ the way users' images do.

With the ``generate`` extra: build the tiny model (cached), generate a pinned image,
replay it (bit-identical), make a drifted twin (sampler swapped, a curly quote in the
prompt), diff the two and write the HTML report. Without it the pixels are a seeded
pattern, not a diffusion image; the records, the embedding, the reading and the diff are
the real thing.
"""

from __future__ import annotations

import importlib.util
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from seedlock.diff.compare import Comparison, compare
from seedlock.diff.report import write_html
from seedlock.files import atomic_write_bytes
from seedlock.record import Adapter, GenerationRecord, Generator, ModelRef, SamplingPass
from seedlock.writer import write

PROMPT = 'a "happy" cat sitting on a red chair, soft light'
NEGATIVE = "blurry, lowres"


def demo_record(
    prompt: str = PROMPT,
    sampler: tuple[str, str, str, str] = ("DPM++ 2M", "Karras", "dpmpp_2m", "karras"),
    seed: int = 42,
) -> GenerationRecord:
    """The pinned recipe of the demo (an A1111-style record)."""
    label, sched, cs, csch = sampler
    p = SamplingPass(
        seed=seed,
        steps=20,
        cfg_scale=7.0,
        sampler=label,
        scheduler=sched,
        canonical_sampler=cs,
        canonical_scheduler=csch,
        width=64,
        height=64,
    )
    return GenerationRecord.from_passes(
        (p,),
        generator=Generator.A1111,
        generator_name="seedlock demo",
        prompt=prompt,
        negative_prompt=NEGATIVE,
        seed_type="int",
        model=ModelRef(name="tiny-sd", hashes={"autov2": "0123456789"}),
        adapters=(Adapter(kind="lora", name="demo-style", weight=0.8, weight_clip=0.8),),
    )


def _pattern(seed: int, path: Path) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    base = rng.random((8, 8, 3))
    img = np.kron(base, np.ones((8, 8, 1)))
    buf = io.BytesIO()
    Image.fromarray((img * 255).astype("uint8"), "RGB").save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def make_demo_images(folder: Path) -> tuple[Path, Path]:
    """Write ``pinned.png`` and ``drifted.png`` (sampler swapped, curly quotes) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    pinned, drifted = folder / "pinned.png", folder / "drifted.png"
    _pattern(42, pinned)
    _pattern(43, drifted)
    write(demo_record(), pinned)
    write(
        demo_record(
            prompt=PROMPT.replace('"happy"', "“happy”"), sampler=("Euler a", "Automatic", "euler_ancestral", "uniform")
        ),
        drifted,
    )
    return pinned, drifted


@dataclass(frozen=True)
class DemoResult:
    """What the demo made: both images, the replay verdict (None without the extra), the diff and the report."""

    pinned: Path
    drifted: Path
    comparison: Comparison
    report: Path
    #: "bit-identical" or "different" (None when the generate extra is absent)
    replay_verdict: str | None = None
    diffusion: bool = False


def has_generate_extra() -> bool:
    return all(importlib.util.find_spec(p) is not None for p in ("torch", "diffusers", "transformers"))


def _diffusion_demo(out: Path, say: Callable[[str], None]) -> tuple[Path, Path, str]:
    from seedlock.paths import home
    from seedlock.pin.hashing import hash_file
    from seedlock.replay.recipe import Recipe
    from seedlock.replay.replay import replay
    from seedlock.replay.run import Engine, quiet_libraries, save_outputs
    from seedlock.replay.tiny import build_tiny

    quiet_libraries()
    t0 = time.perf_counter()
    model = home() / "models" / "seedlock-tiny-sd1.safetensors"
    if not model.exists():
        build_tiny(model)
        say(f"built the tiny model: {model}")
    else:
        say(f"tiny model (cached): {model}")
    h = hash_file(model, "default").hashes
    pinned_recipe = Recipe(
        model=str(model),
        prompt=PROMPT,
        negative_prompt=NEGATIVE,
        seed=42,
        steps=20,
        cfg_scale=7.0,
        sampler="dpmpp_2m",
        schedule="karras",
        width=64,
        height=64,
        model_hashes={"sha256": h["sha256"], "autov2": h["autov2"], "autov3": h["autov3"]},
    )
    engine = Engine()
    pinned = out / "pinned.png"
    save_outputs(engine.run(pinned_recipe, trace=True), pinned)
    say(f"generated {pinned}")
    rep = replay(pinned, model=model, engine=engine)
    verdict = "bit-identical" if rep.identical else "different"
    say(f"replayed it: {verdict} (pixel sha256 {rep.result.pixel_sha256[:16]}…, expected {rep.promise})")
    drifted_recipe = pinned_recipe.with_(
        prompt=PROMPT.replace('"happy"', "\u201chappy\u201d"), sampler="euler_ancestral", schedule=None
    )
    drifted = out / "drifted.png"
    save_outputs(engine.run(drifted_recipe, trace=True), drifted)
    say(
        f"generated the drifted twin {drifted} (sampler swapped, curly quotes) in {time.perf_counter() - t0:.1f} s total"
    )
    return pinned, drifted, verdict


def run_demo(folder: Path, say: Callable[[str], None] = lambda _line: None) -> DemoResult:
    """The whole demo, offline: images (a real diffusion run where the extra is installed), diff and report."""
    folder.mkdir(parents=True, exist_ok=True)
    verdict: str | None = None
    diffusion = has_generate_extra()
    if diffusion:
        pinned, drifted, verdict = _diffusion_demo(folder, say)
    else:
        say("(the 'generate' extra is not installed: records on pattern images, no diffusion run)")
        pinned, drifted = make_demo_images(folder)
    comparison = compare(pinned, drifted)
    report = write_html(comparison, folder / "report.html")
    return DemoResult(pinned, drifted, comparison, Path(report), verdict, diffusion)
