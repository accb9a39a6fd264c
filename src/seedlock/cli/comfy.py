"""``seedlock comfy``: verify, replay, strip and lint a workflow on a real ComfyUI server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from seedlock.cli._errors import handle_errors
from seedlock.cli._output import count_progress, emit_json

_DEFAULT_SERVER = os.environ.get("SEEDLOCK_COMFYUI", "http://127.0.0.1:8188")


@click.group("comfy")
def comfy_group() -> None:
    """A workflow on your own ComfyUI server: is it reproducible, which node breaks it, does it still give the same image."""


def _server_options(func: Any) -> Any:
    for option in reversed(
        [
            click.option("--server", default=_DEFAULT_SERVER, show_default=True, metavar="URL",
                         help="The ComfyUI server (or set SEEDLOCK_COMFYUI)."),
            click.option("--timeout", type=float, default=600.0, show_default=True, help="Seconds to wait for one run."),
            click.option("--json", "as_json", is_flag=True),
        ]
    ):
        func = option(func)
    return func


def _log_options(func: Any) -> Any:
    for option in reversed(
        [
            click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
                         default=Path("seedlock-comfy"), show_default=True, help="Folder for the outputs, records embedded."),
            click.option("--models", type=click.Path(exists=True, file_okay=False, path_type=Path),
                         help="The server's models folder (when local): its files are hashed into the records."),
            click.option("--no-catalog", is_flag=True, help="Do not log the outputs in the catalog."),
            click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help="Catalog file to log into."),
        ]
    ):
        func = option(func)
    return func


def _catalog(paths: list[str] | tuple[str, ...], no_catalog: bool, db: Path | None) -> None:
    if not no_catalog:
        from seedlock.catalog.index import log_images

        log_images(paths, db)


@comfy_group.command("verify")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--no-knobs", is_flag=True, help="Only the two cold runs, no knob turned.")
@_server_options
@_log_options
@handle_errors
def verify_cmd(source: Path, no_knobs: bool, server: str, timeout: float, as_json: bool, out_dir: Path,
               models: Path | None, no_catalog: bool, db: Path | None) -> None:  # fmt: skip
    """Run IMAGE|GRAPH.json cold twice (same pixels?), then turn each knob (pixels must move).

    Exit 0 when every check passes, 1 when one fails, 2 on error.
    """
    from seedlock.comfyui.client import ComfyClient
    from seedlock.comfyui.graph import knobs, load_graph
    from seedlock.comfyui.verify import verify

    loaded = load_graph(source)
    total = 2 + (0 if no_knobs else sum(1 for _ in knobs(loaded.graph)))
    with ComfyClient(server, timeout=timeout) as client, count_progress(total, "verify", minimum=1) as advance:
        started: list[str] = []

        def on_check(name: str) -> None:
            if started and advance:
                advance()
            started.append(name)

        report = verify(client, loaded, out_dir, turn_knobs=not no_knobs, models=models, on_check=on_check)
    _catalog(report.outputs, no_catalog, db)
    if as_json:
        emit_json(report.to_dict())
    else:
        e = report.environment
        click.echo(f"{source}: {'reproducible' if report.ok else 'NOT reproducible'} on ComfyUI {e.comfyui_version}, "
                   f"torch {e.pytorch_version}, {e.device}")  # fmt: skip
        for c in report.checks:
            click.echo(f"  {'ok  ' if c.passed else 'FAIL'} {c.name}: {c.detail}")
        click.echo(f"  {len(report.outputs)} outputs in {out_dir} ({report.seconds:.1f} s, server {report.server_seconds:.1f} s)")
    raise SystemExit(0 if report.ok else 1)


@comfy_group.command("replay")
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_server_options
@_log_options
@handle_errors
def replay_cmd(image: Path, server: str, timeout: float, as_json: bool, out_dir: Path, models: Path | None,
               no_catalog: bool, db: Path | None) -> None:  # fmt: skip
    """Resubmit IMAGE's own graph cold and compare the new pixels with the image's; rank the causes.

    Exit 0 when bit-identical, 1 otherwise, 2 on error.
    """
    from seedlock.comfyui.client import ComfyClient
    from seedlock.comfyui.graph import load_graph
    from seedlock.comfyui.replay import replay

    loaded = load_graph(image)
    with ComfyClient(server, timeout=timeout) as client:
        report = replay(client, loaded, out_dir, models=models)
    _catalog([report.new_image], no_catalog, db)
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(f"{image}: {report.verdict} (max difference {report.max_diff}/255); new image {report.new_image}")
        for c in report.causes:
            click.echo(f"  {c.rank}. {c.message}")
            if c.before is not None or c.after is not None:
                click.echo(f"     before {c.before!r}, now {c.after!r}")
    raise SystemExit(0 if report.identical else 1)


@comfy_group.command("strip")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_server_options
@handle_errors
def strip_cmd(source: Path, server: str, timeout: float, as_json: bool) -> None:
    """Strip every pass after the first sampler, verify the base, then re-add each pass in order.

    Exit 0 when every stage is seedable, 1 when one is not (it is named), 2 on error.
    """
    from seedlock.comfyui.client import ComfyClient
    from seedlock.comfyui.graph import load_graph, output_chain
    from seedlock.comfyui.strip import strip

    loaded = load_graph(source)
    _, _, chain = output_chain(loaded.graph)
    stages = len(chain) + 1 - (1 if chain and chain[0].class_type == "VAEDecode" else 0)
    with ComfyClient(server, timeout=timeout) as client, count_progress(stages, "strip", minimum=1) as advance:
        report = strip(client, loaded, on_stage=advance)
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(f"{source}: {len(report.passes)} pass(es) after the first sampler")
        for s in report.stages:
            click.echo(f"  {'seedable    ' if s.seedable else 'NOT seedable'} {s.name}")
        bad = report.first_unseedable
        if bad is not None:
            click.echo(f"  the first pass that is not seedable: {bad.name}")
    raise SystemExit(0 if report.ok else 1)


@comfy_group.command("lint")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--server", default=None, metavar="URL", help="Also check the server's launch flags (--fast).")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def lint_cmd(source: Path, server: str | None, as_json: bool) -> None:
    """Find what keeps IMAGE|GRAPH.json from coming back, before running anything.

    Exit 0 when nothing of warning severity or above is found, 1 when something is, 2 on error.
    """
    from seedlock.comfyui.graph import load_graph
    from seedlock.comfyui.lint import lint_graph

    loaded = load_graph(source)
    argv: tuple[str, ...] = ()
    if server:
        from seedlock.comfyui.client import ComfyClient

        with ComfyClient(server) as client:
            argv = client.environment().argv
    hashed: frozenset[str] = frozenset()
    if loaded.image:
        from seedlock.readers import read

        facts = read(loaded.image).extra.get("comfyui_run")
        if isinstance(facts, dict):
            hashed = frozenset(k for k, v in (facts.get("model_files") or {}).items() if v.get("sha256"))
    report = lint_graph(loaded.graph, loaded.workflow, source=str(source), argv=argv, hashed_models=hashed)
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(f"{source}: {len(report.findings)} finding(s)")
        for f in report.findings:
            click.echo(f"  {f.severity:<8}node {f.node}: {f.message}")
            click.echo(f"  {'':<8}fix: {f.fix}")
    raise SystemExit(1 if report.worst in ("warning", "error") else 0)
