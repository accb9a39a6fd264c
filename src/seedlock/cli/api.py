"""``seedlock api``: hosted API requests linted, sent and captured, and re-sent to find drift."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from seedlock.cli._errors import error, handle_errors
from seedlock.cli._output import emit_json


@click.group("api")
def api_group() -> None:
    """Hosted image APIs: lint a request, send it with everything captured, re-send it to find drift."""


@api_group.command("lint")
@click.argument("request", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--provider", help="For a bare request body: replicate, stability, fal, openai, bfl, imagen, ...")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def lint_cmd(request: Path, provider: str | None, as_json: bool) -> None:
    """Lint REQUEST.json ({"method", "url", "headers", "body"}, or a bare body with --provider).

    Exit 0 when nothing of warning severity or above is found, 1 when something is, 2 on error.
    """
    from seedlock.providers.lint import lint, load_request

    req, prov = load_request(request, provider)
    report = lint(req, prov)
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(f"{prov.title}: model {report.model or '?'} ({report.pin}); best reachable: {report.grade}")
        for f in report.findings:
            click.echo(f"  {f.severity:<8}{f.field}: {f.message}")
            if f.fix:
                click.echo(f"  {'':<8}fix: {f.fix}")
        if not report.findings:
            click.echo("  no finding")
    raise SystemExit(1 if report.worst in ("warning", "error") else 0)


def _options(endpoint: str | None, allow_unpinned: bool, timeout: float, poll_interval: float) -> Any:
    from seedlock.providers.run import RunOptions

    return RunOptions(endpoint=endpoint, allow_unpinned=allow_unpinned, timeout=timeout, poll_interval=poll_interval)


def _log(images: tuple[Path, ...], no_catalog: bool, db: Path | None) -> None:
    if not no_catalog:
        from seedlock.catalog.index import log_images

        log_images(images, db)


_send_options = [
    click.option("--endpoint", metavar="URL", help="Call this origin instead of the request's (a local stand-in or a proxy)."),
    click.option("--timeout", type=float, default=600.0, show_default=True, help="Seconds to wait for the images, polling included."),
    click.option("--poll-interval", type=float, default=1.0, show_default=True, help="Seconds between polls of an asynchronous job."),
    click.option("--no-catalog", is_flag=True, help="Do not log the images in the catalog."),
    click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help="Catalog file to log into."),
    click.option("--json", "as_json", is_flag=True),
]


def send_options(func: Any) -> Any:
    for option in reversed(_send_options):
        func = option(func)
    return func


@contextmanager
def _spinner(label: str, quiet: bool) -> Iterator[Callable[[str], None] | None]:
    """A status line on stderr while the provider works (a terminal only)."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console

    with Console(stderr=True).status(label) as status:
        yield lambda text: status.update(f"{label}: {text}")


@api_group.command("run")
@click.argument("request", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--provider", help="For a bare request body: the provider's name.")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("seedlock-api"),
              show_default=True, help="Folder for the images and the exchange sidecar.")
@click.option("--allow-unpinned", is_flag=True, help="Send a request with an unpinned model or a hidden pass on.")
@send_options
@handle_errors
def run_cmd(
    request: Path, provider: str | None, out_dir: Path, allow_unpinned: bool, endpoint: str | None, timeout: float,
    poll_interval: float, no_catalog: bool, db: Path | None, as_json: bool,
) -> None:
    """Send REQUEST.json and keep everything at once: images with their records, the redacted exchange.

    The key is read from the provider's environment variable (REPLICATE_API_TOKEN, FAL_KEY, ...)
    and never written anywhere. Exit 0 on success, 1 when the provider filtered the output, 2 on error.
    """
    from seedlock.errors import ContentFiltered
    from seedlock.providers.lint import load_request
    from seedlock.providers.run import run_request

    req, prov = load_request(request, provider)
    try:
        with _spinner(f"{prov.title}", as_json) as status:
            result = run_request(req, prov, out_dir, options=_options(endpoint, allow_unpinned, timeout, poll_interval),
                                 on_status=status)
    except ContentFiltered as exc:
        error(str(exc))
        raise SystemExit(1) from None
    _log(result.images, no_catalog, db)
    ex = result.exchange
    if as_json:
        emit_json({"images": [str(p) for p in result.images], "sidecar": str(result.sidecar), **ex.to_dict()})
        return
    click.echo(f"{prov.title}: {len(result.images)} image(s) in {ex.seconds:.2f} s; version {ex.version or 'not named'}")
    for path, o in zip(result.images, ex.outputs):
        click.echo(f"  {path}  seed {o.seed if o.seed is not None else '?'}  pixel sha256 {o.pixel_sha256[:16]}")
        if o.prompt_used is not None and o.prompt_used != req.body.get("prompt"):
            click.echo(f"    prompt used: {o.prompt_used}")
    click.echo(f"  exchange: {result.sidecar}")


@api_group.command("drift")
@click.argument("logged", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the new images (default: beside the logged exchange).")
@send_options
@handle_errors
def drift_cmd(
    logged: Path, out_dir: Path | None, endpoint: str | None, timeout: float, poll_interval: float,
    no_catalog: bool, db: Path | None, as_json: bool,
) -> None:
    """Send a logged request (its sidecar JSON, or an image api run saved) again and rank what changed.

    Exit 0 when the version, the seed and every pixel are the same, 1 when something moved, 2 on error.
    """
    from seedlock.providers.drift import drift

    with _spinner("sending again", as_json):
        report = drift(logged, out_dir, options=_options(endpoint, False, timeout, poll_interval))
    _log(tuple(Path(p) for p in report.new_images), no_catalog, db)
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(f"{report.provider}: {'changed' if report.changed else 'unchanged'}; pixels {', '.join(report.pixels)}")
        for c in report.causes:
            click.echo(f"  {c.rank}. {c.message}")
            if c.kind in ("version", "seed"):
                click.echo(f"     before {c.before!r}, now {c.after!r}")
        click.echo(f"  new exchange: {report.new_sidecar}")
    raise SystemExit(1 if report.changed else 0)
