"""``seedlock api lint``: hosted API requests checked for what keeps their images from repeating."""

from __future__ import annotations

from pathlib import Path

import click

from seedlock.cli._errors import handle_errors
from seedlock.cli._output import emit_json


@click.group("api")
def api_group() -> None:
    """Hosted image APIs: find unpinned models, random seeds and hidden passes in a request."""


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
