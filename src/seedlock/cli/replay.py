"""``seedlock generate | replay | verify | trace-diff`` and ``seedlock model build-tiny``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from seedlock.cli._errors import handle_errors
from seedlock.cli._output import count_progress, emit_json
from seedlock.files import check_output


def _need_extra() -> None:
    from seedlock.replay import require_extra

    require_extra()


def run_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The recipe flags shared by generate and verify; each overrides the recipe's field."""
    options = [
        click.argument("recipe", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)),
        click.option(
            "--model",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Checkpoint file (safetensors).",
        ),
        click.option("--prompt", help="Prompt text (exact bytes are kept)."),
        click.option("--negative", help="Negative prompt."),
        click.option("--seed", type=int),
        click.option("--steps", type=click.IntRange(1, 1000)),
        click.option("--cfg", type=float),
        click.option("--sampler", help="Sampler in any tool's words: 'Euler a', 'DPM++ 2M Karras', dpmpp_2m, ..."),
        click.option("--width", type=click.IntRange(8, 4096)),
        click.option("--height", type=click.IntRange(8, 4096)),
        click.option("--clip-skip", type=click.IntRange(1, 12), help="A1111 convention: 2 = penultimate layer."),
        click.option(
            "--lora",
            "loras",
            multiple=True,
            metavar="NAME=PATH[:WEIGHT]",
            help="A LoRA file for the recipe's LoRA NAME (or a new one).",
        ),
        click.option("--batch-index", type=click.IntRange(0, 10_000), help="Make image k of a batch alone (seed + k)."),
        click.option(
            "--rng",
            type=click.Choice(["CPU", "NV"], case_sensitive=False),
            help="Initial noise: CPU (torch's CPU generator) or NV (A1111's emulation of CUDA's generator).",
        ),
        click.option(
            "--hires-scale",
            type=click.FloatRange(1.0, 8.0),
            help="Add a hires fix (or change it): upscale the first pass by this factor and denoise it again.",
        ),
        click.option("--hires-steps", type=click.IntRange(1, 1000), help="Steps of the hires pass (default: --steps)."),
        click.option(
            "--hires-denoise",
            type=click.FloatRange(0.0, 1.0, min_open=True),
            help="Denoising strength of the hires pass (default 0.7).",
        ),
        click.option(
            "--hires-upscaler",
            metavar="NAME",
            help="Latent (default), 'Latent (bicubic)', 'Latent (nearest)', ... or Lanczos, Nearest; latent-bicubic works too.",
        ),
        click.option(
            "--refiner",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="An SDXL refiner that takes over the base's latents (or the file for the recipe's refiner).",
        ),
        click.option(
            "--refiner-switch",
            type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
            help="Fraction of the schedule after which the refiner takes over (default 0.8).",
        ),
        click.option(
            "--allow-other-model",
            is_flag=True,
            help="Run a model whose hash differs from the record's (result marked approximate).",
        ),
        click.option("--device", default="cpu", show_default=True),
        click.option(
            "--dtype", type=click.Choice(["float32", "float16", "bfloat16"]), default="float32", show_default=True
        ),
        click.option("--threads", type=click.IntRange(1, 256), default=1, show_default=True),
        click.option(
            "--attention",
            type=click.Choice(["math", "efficient", "flash", "cudnn", "auto"]),
            default="math",
            show_default=True,
        ),
        click.option("--no-deterministic", is_flag=True, help="Leave torch's determinism flags as they are."),
        click.option("--json", "as_json", is_flag=True),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


def _overrides(kw: dict[str, Any]) -> Any:
    from seedlock.replay.recipe import Overrides, parse_lora_spec

    return Overrides(
        prompt=kw.get("prompt"),
        negative_prompt=kw.get("negative"),
        seed=kw.get("seed"),
        steps=kw.get("steps"),
        cfg_scale=kw.get("cfg"),
        width=kw.get("width"),
        height=kw.get("height"),
        clip_skip=kw.get("clip_skip"),
        batch_index=kw.get("batch_index"),
        sampler=kw.get("sampler") or None,
        rng=kw["rng"].upper() if kw.get("rng") else None,
        loras=tuple(parse_lora_spec(spec) for spec in kw.get("loras") or ()),
        hires_scale=kw.get("hires_scale"),
        hires_steps=kw.get("hires_steps"),
        hires_denoise=kw.get("hires_denoise"),
        hires_upscaler=kw.get("hires_upscaler"),
        refiner=str(kw["refiner"]) if kw.get("refiner") else None,
        refiner_switch=kw.get("refiner_switch"),
    )


def _recipe(kw: dict[str, Any]) -> Any:
    from seedlock.replay.recipe import recipe_for

    return recipe_for(kw["recipe"], _overrides(kw), model=kw.get("model"), allow_other_model=kw["allow_other_model"])


def _engine(kw: dict[str, Any]) -> Any:
    from seedlock.replay.run import Engine, RunSettings, quiet_libraries

    quiet_libraries()
    return Engine(
        RunSettings(
            device=kw["device"],
            dtype=kw["dtype"],
            deterministic=not kw["no_deterministic"],
            threads=kw["threads"],
            attention=kw["attention"],
        )
    )


@click.command("generate")
@run_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--trace", is_flag=True, help="Store hashes of prompt embeddings, noise and every step's latents.")
@click.option("--force", is_flag=True, help="Replace existing output files even if they hold another kind of file.")
@click.option("--no-catalog", is_flag=True, help="Do not log the output in the catalog.")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help="Catalog file to log into.")
@handle_errors
def generate_cmd(output: Path, trace: bool, force: bool, no_catalog: bool, db: Path | None, **kw: Any) -> None:
    """Generate an image from a recipe (record JSON or image) and/or flags, deterministically.

    Writes OUT.png with the full record embedded, OUT.json (the record), and the prompt
    and negative prompt as exact bytes (OUT.prompt.txt, OUT.negative.txt).
    """
    _need_extra()
    from seedlock.replay.recipe import parse_lora_spec
    from seedlock.replay.run import output_paths, save_outputs

    loras = [parse_lora_spec(spec).path for spec in kw.get("loras") or ()]
    inputs = [p for p in (kw.get("recipe"), kw.get("model"), kw.get("refiner")) if p] + loras
    for kind, path in output_paths(output).items():
        check_output(path, inputs, kind="png" if kind == "image" else "text", force=force)
    recipe = _recipe(kw)
    engine = _engine(kw)
    with count_progress(recipe.sampling_steps(), "sampling") as advance:
        result = engine.run(recipe, trace=trace, on_step=advance)
    files = save_outputs(result, output)
    if not no_catalog:
        from seedlock.catalog.index import log_images

        log_images([files["image"]], db)
    approximate = list(result.record.run.approximate) if result.record.run else []
    if kw["as_json"]:
        emit_json(
            {
                "files": files,
                "pixel_sha256": result.pixel_sha256,
                "seconds": round(result.seconds, 3),
                "approximate": approximate,
                "record": result.record.to_dict(include_raw=False),
            }
        )
    else:
        click.echo(f"wrote {files['image']} ({result.seconds:.2f} s), pixel sha256 {result.pixel_sha256}")
        click.echo(f"  record {files['record']}; prompt bytes {files['prompt']}")
        for note in approximate:
            click.echo(f"  approximate: {note}")


@click.command("replay")
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--lora", "loras", multiple=True, metavar="NAME=PATH")
@click.option(
    "--refiner",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The file of the record's SDXL refiner.",
)
@click.option("--allow-other-model", is_flag=True)
@click.option("--device", default="cpu", show_default=True)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Also save the regenerated image."
)
@click.option(
    "--profile",
    type=click.Choice(["auto", "comfyui", "a1111", "seedlock"]),
    default="auto",
    show_default=True,
    help="Whose numerics to follow: auto picks comfyui for an image with a ComfyUI graph; a1111 runs "
    "A1111's prompt weighting, k-diffusion samplers and noise on an A1111 record.",
)
@click.option("--threads", type=int, help="CPU threads (ComfyUI's bits depend on the count it ran with).")
@click.option(
    "--input-dir",
    "input_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Where a ComfyUI graph's LoadImage files are (searched before the image's own folder).",
)
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def replay_cmd(
    image: Path,
    model: Path | None,
    loras: tuple[str, ...],
    refiner: Path | None,
    allow_other_model: bool,
    device: str,
    output: Path | None,
    profile: str,
    threads: int | None,
    input_dirs: tuple[Path, ...],
    as_json: bool,
) -> None:
    """Regenerate IMAGE from its embedded record and compare pixels.

    Exit 0 only when the new pixels are bit-identical to the image's; 1 when they
    differ (with the explanation), 2 when the record cannot be replayed (with the reason).
    """
    _need_extra()
    if profile == "a1111":
        _replay_profile("a1111", image, model, loras, allow_other_model, input_dirs, output, threads, as_json)
        return
    if profile != "seedlock":
        from seedlock.replay.comfy_replay import comfy_graph_of

        if profile == "comfyui" or comfy_graph_of(image) is not None:
            _replay_profile("comfyui", image, model, loras, allow_other_model, input_dirs, output, threads, as_json)
            return
    from seedlock.replay.recipe import parse_lora_spec
    from seedlock.replay.replay import replay
    from seedlock.replay.run import quiet_libraries

    quiet_libraries()
    lora_map = {lo.name: lo.path for lo in (parse_lora_spec(spec) for spec in loras)}
    if output:
        from seedlock.replay.run import output_paths

        for kind, path in output_paths(output).items():
            check_output(
                path,
                [image, *(p for p in (model, refiner) if p), *lora_map.values()],
                kind="png" if kind == "image" else "text",
            )
    rep = replay(image, model=model, loras=lora_map, refiner=refiner, allow_other_model=allow_other_model, device=device)
    if output:
        from seedlock.replay.run import save_outputs

        save_outputs(rep.result, output)
    if as_json:
        emit_json(rep.to_dict())
    else:
        click.echo(rep.render())
    raise SystemExit(0 if rep.identical else 1)


def _replay_profile(
    profile: str,
    image: Path,
    model: Path | None,
    loras: tuple[str, ...],
    allow_other_model: bool,
    input_dirs: tuple[Path, ...],
    output: Path | None,
    threads: int | None,
    as_json: bool,
) -> None:
    """Replay with another tool's numerics (comfyui or a1111); write the pixels when asked, print
    the verdict, exit 0 only when bit-identical."""
    from seedlock.replay.recipe import parse_lora_spec
    from seedlock.replay.run import quiet_libraries

    quiet_libraries()
    lora_map = {lo.name: lo.path for lo in (parse_lora_spec(spec) for spec in loras)}
    if output:
        check_output(output, [image, *(p for p in (model,) if p), *lora_map.values()], kind="png")
    rep: Any
    if profile == "a1111":
        from seedlock.replay.a1111_replay import replay_a1111

        rep = replay_a1111(image, model=model, loras=lora_map, allow_other_model=allow_other_model,
                           threads=threads or 1)  # fmt: skip
    else:
        from seedlock.replay.comfy_replay import replay_comfy

        rep = replay_comfy(image, model=model, loras=lora_map, input_dirs=input_dirs, threads=threads)
    if output:
        import io

        from PIL import Image

        from seedlock.files import atomic_write_bytes

        buf = io.BytesIO()
        Image.fromarray(rep.pixels, "RGB").save(buf, "PNG")
        atomic_write_bytes(output, buf.getvalue())
    if as_json:
        emit_json(rep.to_dict())
    else:
        click.echo(f"{image}: {rep.summary} ({rep.profile} numerics, {rep.seconds:.1f} s)")
        for name, path in rep.models.items():
            click.echo(f"  {name}: {path}")
        for note in rep.approximate:
            click.echo(f"  approximate: {note}")
    raise SystemExit(0 if rep.identical else 1)


@click.command("verify")
@run_options
@handle_errors
def verify_cmd(**kw: Any) -> None:
    """Prove the pipeline is deterministic and responsive: a repeat must match, and each of
    CFG +0.5, steps +1, another sampler, seed +1 and a curly quote must change the hash.

    Exit 0 only when every check passed.
    """
    _need_extra()
    from seedlock.replay.verify import verify

    recipe = _recipe(kw)
    engine = _engine(kw)
    checks = verify(engine, recipe)
    ok = all(c.passed for c in checks)
    if kw["as_json"]:
        emit_json({"passed": ok, "checks": [c.to_dict() for c in checks]})
    else:
        for c in checks:
            mark = "ok  " if c.passed else "FAIL"
            expect = "" if c.name == "base" else ("  (must match)" if c.name == "repeat" else "  (must change)")
            click.echo(f"{mark} {c.name:<12} {c.pixel_sha256[:16]}  {c.changed}{expect}")
        click.echo("verified: deterministic and responsive" if ok else "NOT verified")
    raise SystemExit(0 if ok else 1)


@click.command("trace-diff")
@click.argument("a", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("b", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def trace_diff_cmd(a: Path, b: Path, as_json: bool) -> None:
    """Name the first point where two traced runs part (images or record JSON from --trace).

    Exit 0 when the traces are identical, 1 when they part, 2 when one carries no trace.
    """
    from seedlock.readers import load_record
    from seedlock.replay.trace import first_divergence

    report = first_divergence(load_record(a)[0], load_record(b)[0])
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(report.summary)
    if report.missing_trace:
        # nothing could be compared: a refusal, like every other command's
        click.echo("hint: make both runs with seedlock generate --trace", err=True)
        raise SystemExit(2)
    raise SystemExit(0 if report.identical else 1)


@click.command("build-tiny")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option(
    "--family",
    type=click.Choice(["sd1", "sd2", "sdxl", "sdxl-refiner", "sd3", "flux"]),
    default="sd1",
    show_default=True,
    help="Whose topology: SD-1.x; SD-2 (OpenCLIP-H layout, v-prediction); SDXL (two text encoders, size embedding); the SDXL refiner (OpenCLIP only, "
    "aesthetic score); SD3 (MMDiT, CLIP-L/G and T5); "
    "Flux (dev: double and single blocks, guidance embedding). Each in its family's single-file layout.",
)
@click.option(
    "--lora", "lora_out", type=click.Path(dir_okay=False, path_type=Path), help="Also write a tiny LoRA for it."
)
@click.option("--force", is_flag=True, help="Replace an existing file even if it holds another kind of file.")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def build_tiny_cmd(output: Path, family: str, lora_out: Path | None, force: bool, as_json: bool) -> None:
    """Write a built-in tiny checkpoint (seeded random weights, real CLIP vocabulary; ByT5 bytes for T5)."""
    _need_extra()
    if lora_out is not None and family != "sd1":
        raise click.UsageError("--lora: the tiny LoRA is made for the sd1 family")
    for path in (output, lora_out):
        if path is not None:
            check_output(path, [], kind="safetensors", force=force)
    from seedlock.pin.hashing import hash_file
    from seedlock.replay.run import quiet_libraries

    quiet_libraries()
    from seedlock.replay.tiny import TINY, build_tiny, build_tiny_lora

    paths = [build_tiny(output, TINY[family])]
    if lora_out:
        paths.append(build_tiny_lora(lora_out))
    out: list[dict[str, Any]] = [
        {"path": str(p), "size": p.stat().st_size, "sha256": hash_file(p, "sha256").hashes["sha256"]} for p in paths
    ]
    if as_json:
        emit_json(out)
    else:
        for d in out:
            click.echo(f"wrote {d['path']} ({d['size']:,} bytes, sha256 {d['sha256'][:16]}…)")
