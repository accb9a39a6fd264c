"""``seedlock diff`` and ``seedlock lint-prompt``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from seedlock.cli._errors import handle_errors
from seedlock.compare import Comparison, compare
from seedlock.prompt_diff import PromptDiff, lint_prompt, normalize_prompt, visible


def _render(c: Comparison) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    con = Console(highlight=False)
    if c.pixels:
        p = c.pixels
        style = {"bit-identical": "bold green", "visually indistinguishable": "bold yellow"}.get(p.verdict, "bold red")
        con.print(Text(f"pixels: {p.verdict}", style=style))
        if p.verdict != "bit-identical":
            psnr = "inf" if p.psnr == float("inf") else f"{p.psnr:.2f} dB"
            con.print(
                f"  max |diff| {p.max_abs_diff}/255, mean {p.mean_abs_diff:.3f}, PSNR {psnr}, "
                f"SSIM {p.ssim:.4f}, {p.changed_share:.1%} of pixels changed"
            )
        con.print(f"  pixel sha256 A {p.hash_a[:16]}…  B {p.hash_b[:16]}…")
        if p.note:
            con.print(f"  note: {p.note}")
    con.print(
        Text(
            "records: equivalent" if c.diff.equivalent else f"records: {len(c.diff.fields)} difference(s)", style="bold"
        )
    )
    if c.causes:
        con.print(Text("likely causes, most likely first:", style="bold"))
        for i, cause in enumerate(c.causes, 1):
            con.print(f" {i}. [{cause.rank}] {cause.title}: {cause.field}")
            con.print(f"    A: {_short(cause.a)}")
            con.print(f"    B: {_short(cause.b)}")
            con.print(f"    why: {cause.explanation}", style="dim")
            con.print(f"    fix: {cause.fix}", style="dim")
    for label, pd in (("prompt", c.diff.prompt), ("negative prompt", c.diff.negative)):
        if not pd.equal:
            _render_prompt(con, label, pd)
            if label == "prompt" and c.tokens:
                tk = c.tokens
                con.print(
                    f"  CLIP tokens: {tk.a_count} -> {tk.b_count}; removed {', '.join(tk.removed) or 'none'}; "
                    f"added {', '.join(tk.added) or 'none'}",
                    markup=False,
                )
                if tk.crosses_chunk or max(tk.a_count, tk.b_count) > 75:
                    con.print(
                        f"  75-token chunks: {tk.a_chunks} vs {tk.b_chunks} (A1111 splits at 75; diffusers "
                        "truncates at 77 with BOS/EOS)",
                        style="yellow",
                    )
            elif label == "prompt" and c.tokens_note:
                con.print(f"  (no token view: {c.tokens_note})", style="dim", markup=False)
    if c.diff.fields:
        t = Table(title="field differences", show_lines=False)
        t.add_column("field")
        t.add_column("A")
        t.add_column("B")
        for f in c.diff.fields:
            t.add_row(f.field, _short(f.a, 50), _short(f.b, 50))
        con.print(t)


def _render_prompt(con: object, label: str, pd: PromptDiff) -> None:
    from rich.console import Console

    assert isinstance(con, Console)
    con.print(f"{label} bytes: {pd.summary()}", style="bold")
    for ch in pd.changes[:20]:
        con.print(f"  @{ch.a_pos}: {visible(ch.a_text)!r} -> {visible(ch.b_text)!r}", markup=False)
        names = ", ".join(ch.a_names) or "nothing"
        new = ", ".join(ch.b_names) or "nothing"
        if len(ch.a_text) <= 4 and len(ch.b_text) <= 4:
            con.print(f"      {names} -> {new}", style="dim", markup=False)


def _short(v: object, limit: int = 90) -> str:
    s = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
    s = visible(s).replace("\n", "\\n")
    return s if len(s) <= limit else s[: limit - 1] + "…"


@click.command("diff")
@click.argument("a", type=click.Path(exists=True, dir_okay=False))
@click.argument("b", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the full comparison as JSON.")
@click.option("--no-pixels", is_flag=True, help="Compare records only.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False), help="Also write a self-contained HTML report.")
@handle_errors
def diff_cmd(a: str, b: str, as_json: bool, no_pixels: bool, html_out: str | None) -> None:
    """Explain why two "same seed" images (or record JSON files) differ.

    Exit status: 0 when the records are equivalent and the pixels bit-identical,
    1 when they differ, 2 on error.
    """
    c = compare(a, b, pixels=not no_pixels, keep_decoded=bool(html_out))
    if html_out:
        from seedlock.report import write_html

        write_html(c, html_out)
        click.echo(f"report: {html_out}", err=True)
    if as_json:
        sys.stdout.write(json.dumps(c.to_dict(), ensure_ascii=False, indent=2, default=str) + "\n")
    else:
        _render(c)
    raise SystemExit(0 if c.identical else 1)


@click.command("lint-prompt")
@click.argument("text")
@click.option("--normalize", is_flag=True, help="Print the prompt with every hazard replaced.")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def lint_cmd(text: str, normalize: bool, as_json: bool) -> None:
    """Report invisible and look-alike characters in a prompt (TEXT, or a file path).

    Exit status: 0 when clean, 1 when hazards were found.
    """
    p = Path(text)
    if len(text) < 4096 and p.is_file():
        text = p.read_bytes().decode("utf-8", errors="replace")
    hazards = lint_prompt(text)
    if as_json:
        out = {"hazards": [h.to_dict() for h in hazards], "normalized": normalize_prompt(text)}
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=2) + "\n")
    elif normalize:
        sys.stdout.write(normalize_prompt(text))
    else:
        for h in hazards:
            pos = f"@{h.position}" if h.position >= 0 else ""
            click.echo(f"{h.kind}{pos}: {h.name} -> {h.suggestion}")
        click.echo(f"{len(hazards)} hazard(s)" if hazards else "clean")
    raise SystemExit(1 if hazards else 0)
