"""``seedlock demo``: the built-in example, end to end, offline (seedlock.replay.demo)."""

from __future__ import annotations

from pathlib import Path

import click

from seedlock.cli._errors import handle_errors
from seedlock.cli._output import render_comparison, summary_lines


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
    from seedlock.readers import read
    from seedlock.replay.demo import run_demo

    result = run_demo(Path(out), click.echo)
    for path in (result.pinned, result.drifted):
        click.echo("\n".join(summary_lines(str(path), read(path))))
    click.echo(f"\nseedlock diff {result.pinned} {result.drifted}")
    render_comparison(result.comparison)
    click.echo(
        f"\nwrote {result.pinned}, {result.drifted} (each with .json record and prompt bytes) "
        f"and the HTML report {result.report}"
    )
