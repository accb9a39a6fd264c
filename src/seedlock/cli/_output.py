"""How commands print: record summaries, comparisons and JSON, in one place."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from seedlock.record import GenerationRecord, Generator

if TYPE_CHECKING:
    # diff pulls in numpy; read and hash print without it
    from seedlock.diff.compare import Comparison
    from seedlock.diff.prompt import PromptDiff


def progress_bar(label: str, *columns: Any) -> Any:
    """A transient rich progress bar on stderr with the given columns after the label and the bar."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn(label), BarColumn(), *columns, TimeRemainingColumn(), console=Console(stderr=True), transient=True
    )


@contextmanager
def byte_progress(total: int, label: str) -> Iterator[Callable[[int], None] | None]:
    """A bytes/s progress bar on stderr when it is a terminal (and the work is large); None otherwise."""
    if total < (64 << 20) or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import DownloadColumn, TransferSpeedColumn

    bar = progress_bar(label, DownloadColumn(), TransferSpeedColumn())
    task = bar.add_task(label, total=total)
    with bar:
        yield lambda n: bar.advance(task, n)


@contextmanager
def count_progress(total: int, label: str, *, minimum: int = 2) -> Iterator[Callable[[], None] | None]:
    """A counted progress bar (files, steps) on stderr when it is a terminal; None otherwise (and in --json runs)."""
    if total < minimum or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import MofNCompleteColumn

    bar = progress_bar(label, MofNCompleteColumn())
    task = bar.add_task(label, total=total)
    with bar:
        yield lambda: bar.advance(task)


@contextmanager
def live_progress(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr (a terminal only) fed with (done, total) as the work learns its size."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import MofNCompleteColumn

    bar = progress_bar(label, MofNCompleteColumn())
    task = bar.add_task(label, total=None)
    with bar:
        yield lambda done, total: bar.update(task, completed=done, total=total)


def console() -> Any:
    """A rich console for stdout: terminal width on a terminal; unwrapped lines when piped."""
    from rich.console import Console

    if sys.stdout.isatty():
        return Console(highlight=False)
    return Console(highlight=False, soft_wrap=True, width=1000)


def emit_json(obj: Any) -> None:
    """One indented JSON document on stdout (the ``--json`` output of every command)."""
    json.dump(obj, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def summary_lines(path: str, rec: GenerationRecord) -> list[str]:
    """A short human summary of one record."""
    if rec.generator in (Generator.NONE, Generator.C2PA):
        lines = [f"{path}: no generation metadata"]
        lines.extend(f"  warning      {w}" for w in rec.warnings)
        if rec.provenance:
            lines.append(
                f"  C2PA provenance: {rec.provenance.get('claim_generator')} "
                f"({rec.provenance.get('software_agent') or 'unknown agent'})"
            )
            check = rec.provenance.get("validation")
            if isinstance(check, dict):
                failed = ", ".join(str(c.get("code")) for c in check.get("codes") or [])
                lines.append(
                    f"  C2PA signature: {check.get('state')}"
                    + (f", signed by {check['signer']}" if check.get("signer") else "")
                    + (f" ({failed})" if failed else "")
                )
        return lines
    tool = rec.generator_name or rec.generator.value
    if rec.generator_version:
        tool += f" {rec.generator_version}"
    lines = [f"{path}: {rec.generator.value} ({tool})"]

    def add(label: str, value: Any) -> None:
        if value not in (None, "", (), []):
            lines.append(f"  {label:<12} {value}")

    add("prompt", _one_line(rec.prompt))
    add("negative", _one_line(rec.negative_prompt))
    if rec.model:
        hashes = ", ".join(f"{k}={v}" for k, v in sorted(rec.model.hashes.items()))
        add("model", f"{rec.model.name or '?'}" + (f" [{hashes}]" if hashes else ""))
    for i, p in enumerate(rec.passes or ()):
        pair = f"{p.sampler or '?'}" + (f" / {p.scheduler}" if p.scheduler else "")
        canon = f"{p.canonical_sampler}+{p.canonical_scheduler}" if p.canonical_sampler else ""
        size = f"{p.width}x{p.height}" if p.width else "?"
        denoise = f" denoise {p.denoise}" if p.denoise not in (None, 1.0) else ""
        model = f" model {p.model}" if p.model else ""
        add(
            f"pass {i + 1}" if len(rec.passes) > 1 else "sampling",
            f"{p.kind}: seed {p.seed} steps {p.steps} cfg {p.cfg_scale} {pair} ({canon}) {size}{denoise}{model}",
        )
    add("clip skip", rec.clip_skip)
    for a in rec.adapters:
        w = f" w={a.weight:g}" if a.weight is not None else ""
        add(a.kind, f"{a.name}{w}")
    for pp in rec.postprocessing:
        add("post", f"{pp.kind} {pp.name or ''}".strip())
    add("fingerprint", rec.fingerprint[:16])
    for w in rec.warnings:
        add("warning", w)
    return lines


def _one_line(text: str | None, limit: int = 100) -> str | None:
    if text is None:
        return None
    one = text.replace("\r", "\\r").replace("\n", "\\n")
    return one if len(one) <= limit else one[: limit - 1] + "…"


def render_comparison(c: Comparison) -> None:
    from rich.table import Table
    from rich.text import Text

    from seedlock.diff.pixels import changed_text

    con = console()
    if c.pixels:
        p = c.pixels
        style = {"bit-identical": "bold green", "visually indistinguishable": "bold yellow"}.get(p.verdict, "bold red")
        con.print(Text(f"pixels: {p.verdict}", style=style))
        if p.verdict != "bit-identical":
            psnr = "inf" if p.psnr == float("inf") else f"{p.psnr:.2f} dB"
            con.print(
                f"  max |diff| {p.max_abs_diff}/255, mean {p.mean_abs_diff:.3f}, PSNR {psnr}, "
                f"SSIM {p.ssim:.4f}, {changed_text(p)}"
            )
        con.print(f"  pixel sha256 A {p.hash_a[:16]}…  B {p.hash_b[:16]}…")
        if p.note:
            con.print(f"  note: {p.note}")
    con.print(Text(f"records: {c.diff.verdict()}", style="bold"))
    if c.causes:
        con.print(Text("likely causes, most likely first:", style="bold"))
        for i, cause in enumerate(c.causes, 1):
            con.print(f" {i}. [{cause.rank}] {cause.title}: {cause.field}")
            con.print(f"    A: {_clip(cause.a)}")
            con.print(f"    B: {_clip(cause.b)}")
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
            t.add_row(f.field, _clip(f.a, 50), _clip(f.b, 50))
        con.print(t)


def _render_prompt(con: object, label: str, pd: PromptDiff) -> None:
    from rich.console import Console

    assert isinstance(con, Console)
    con.print(f"{label} bytes: {pd.summary()}", style="bold")
    for ch in pd.changes[:20]:
        con.print(f"  @{ch.a_pos}: {_clip(ch.a_text, 120)!r} -> {_clip(ch.b_text, 120)!r}", markup=False)
        names = ", ".join(ch.a_names) or "nothing"
        new = ", ".join(ch.b_names) or "nothing"
        if len(ch.a_text) <= 4 and len(ch.b_text) <= 4:
            con.print(f"      {names} -> {new}", style="dim", markup=False)


def _clip(v: object, limit: int = 90) -> str:
    s = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
    from seedlock.diff.prompt import visible

    s = visible(s[: limit * 2]).replace("\n", "\\n")
    return s if len(s) <= limit else s[: limit - 1] + "…"
