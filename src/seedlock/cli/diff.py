"""``seedlock diff`` and ``seedlock lint-prompt``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from seedlock.cli._errors import handle_errors
from seedlock.cli._output import emit_json, render_comparison
from seedlock.diff.compare import compare
from seedlock.diff.pixels import MAX_PIXELS
from seedlock.diff.prompt import lint_prompt, normalize_prompt
from seedlock.files import check_output


@click.command("diff")
@click.argument("a", type=click.Path(exists=True, dir_okay=False))
@click.argument("b", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the full comparison as JSON.")
@click.option("--no-pixels", is_flag=True, help="Compare records only.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False), help="Also write a self-contained HTML report.")
@click.option(
    "--max-pixels",
    type=click.IntRange(0),
    default=MAX_PIXELS,
    show_default=True,
    help="Refuse images with more pixels than this (0: no limit).",
)
@click.option("--force", is_flag=True, help="Replace an existing --html file even if it holds another kind of file.")
@handle_errors
def diff_cmd(
    a: str, b: str, as_json: bool, no_pixels: bool, html_out: str | None, max_pixels: int, force: bool
) -> None:
    """Explain why two "same seed" images (or record JSON files) differ.

    Exit status: 0 when the records are equivalent and the pixels bit-identical,
    1 when they differ, 2 on error.
    """
    if html_out:
        check_output(html_out, [a, b], kind="html", force=force)
    c = compare(a, b, pixels=not no_pixels, keep_decoded=bool(html_out), max_pixels=max_pixels)
    if html_out:
        from seedlock.diff.report import write_html

        write_html(c, html_out)
        click.echo(f"report: {html_out}", err=True)
    if as_json:
        emit_json(c.to_dict())
    else:
        render_comparison(c)
    raise SystemExit(0 if c.identical else 1)


@click.command("lint-prompt")
@click.argument("text")
@click.option("--normalize", is_flag=True, help="Print the prompt with every hazard replaced.")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def lint_cmd(text: str, normalize: bool, as_json: bool) -> None:
    """Report invisible and look-alike characters in a prompt (TEXT, a file path, or - for standard input).

    Exit status: 0 when clean, 1 when hazards were found.
    """
    p = Path(text)
    if text == "-":
        text = sys.stdin.buffer.read().decode("utf-8", errors="replace")
    elif len(text) < 4096 and p.is_file():
        text = p.read_bytes().decode("utf-8", errors="replace")
    hazards = lint_prompt(text)
    if as_json:
        emit_json({"hazards": [h.to_dict() for h in hazards], "normalized": normalize_prompt(text)})
    elif normalize:
        sys.stdout.write(normalize_prompt(text))
    else:
        for h in hazards:
            pos = f"@{h.position}" if h.position >= 0 else ""
            click.echo(f"{h.kind}{pos}: {h.name} -> {h.suggestion}")
        click.echo(f"{len(hazards)} hazard(s)" if hazards else "clean")
    raise SystemExit(1 if hazards else 0)
