"""``seedlock demo``: the built-in example, end to end, offline.

With the ``generate`` extra: build the tiny model (cached), generate a pinned image,
replay it (bit-identical), make a drifted twin (sampler swapped, a curly quote in the
prompt), diff the two and write the HTML report. Without it, the same records on
seeded pattern images, so reading and diffing can still be tried.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import click

from seedlock.cli._errors import handle_errors
from seedlock.cli.read import summary_lines
from seedlock.readers import read

PROMPT = 'a "happy" cat sitting on a red chair, soft light'


def _has_extra() -> bool:
    return all(importlib.util.find_spec(p) is not None for p in ("torch", "diffusers", "transformers"))


def _real_demo(out: Path) -> tuple[Path, Path]:
    from seedlock.cli.replay import _quiet
    from seedlock.paths import home
    from seedlock.replay.replay import replay
    from seedlock.replay.run import Engine, Recipe, save_outputs
    from seedlock.replay.tiny import build_tiny

    _quiet()
    t0 = time.perf_counter()
    model = home() / "models" / "seedlock-tiny-sd1.safetensors"
    if not model.exists():
        build_tiny(model)
        click.echo(f"built the tiny model: {model}")
    else:
        click.echo(f"tiny model (cached): {model}")
    engine = Engine()
    pinned_recipe = Recipe(
        model=str(model),
        prompt=PROMPT,
        negative_prompt="blurry, lowres",
        seed=42,
        steps=20,
        cfg_scale=7.0,
        sampler="dpmpp_2m",
        schedule="karras",
        width=64,
        height=64,
    )
    from seedlock.hashing import hash_file

    h = hash_file(model, "default").hashes
    pinned_recipe = pinned_recipe.with_(
        model_hashes={"sha256": h["sha256"], "autov2": h["autov2"], "autov3": h["autov3"]}
    )
    pinned = out / "pinned.png"
    save_outputs(engine.run(pinned_recipe, trace=True), pinned)
    click.echo(f"generated {pinned}")
    rep = replay(pinned, model=model, engine=engine)
    click.echo(
        f"replayed it: {'bit-identical' if rep.identical else 'DIFFERENT'} "
        f"(pixel sha256 {rep.result.pixel_sha256[:16]}…, expected {rep.promise})"
    )
    drifted_recipe = pinned_recipe.with_(
        prompt=PROMPT.replace('"happy"', "\u201chappy\u201d"), sampler="euler_ancestral", schedule=None
    )
    drifted = out / "drifted.png"
    save_outputs(engine.run(drifted_recipe, trace=True), drifted)
    click.echo(
        f"generated the drifted twin {drifted} (sampler swapped, curly quotes) in {time.perf_counter() - t0:.1f} s total"
    )
    return pinned, drifted


@click.command("demo")
@click.option(
    "-o",
    "--out",
    "out",
    type=click.Path(file_okay=False),
    default="seedlock-demo",
    show_default=True,
    help="Folder for the demo files.",
)
@handle_errors
def demo_cmd(out: str) -> None:
    """Generate a pinned image and a drifted twin, replay, read them back and diff them."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    if _has_extra():
        pinned, drifted = _real_demo(folder)
    else:
        from seedlock.demo import make_demo_images

        click.echo("(the 'generate' extra is not installed: records on pattern images, no diffusion run)")
        pinned, drifted = make_demo_images(folder)
    for path in (pinned, drifted):
        click.echo("\n".join(summary_lines(str(path), read(path))))
    from seedlock.cli.diff import _render
    from seedlock.compare import compare

    click.echo(f"\nseedlock diff {pinned} {drifted}")
    comparison = compare(pinned, drifted)
    _render(comparison)
    from seedlock.report import write_html

    report = write_html(comparison, folder / "report.html")
    click.echo(f"\nwrote {pinned}, {drifted} (each with .json record and prompt bytes) and the HTML report {report}")
