"""``seedlock demo``: the built-in example, end to end, offline."""

from __future__ import annotations

from pathlib import Path

import click

from seedlock.cli._errors import handle_errors
from seedlock.cli.read import summary_lines
from seedlock.demo import make_demo_images
from seedlock.readers import read


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
    """Make two images with embedded records (one pinned, one drifted), read them back and diff them."""
    pinned, drifted = make_demo_images(Path(out))
    for path in (pinned, drifted):
        click.echo("\n".join(summary_lines(str(path), read(path))))
    from seedlock.cli.diff import _render
    from seedlock.compare import compare

    click.echo(f"\nseedlock diff {pinned} {drifted}")
    comparison = compare(pinned, drifted)
    _render(comparison)
    from seedlock.report import write_html

    report = write_html(comparison, Path(out) / "report.html")
    click.echo(f"\nwrote {pinned}, {drifted} and the HTML report {report}")
