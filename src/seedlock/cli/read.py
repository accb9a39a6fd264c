"""``seedlock read``: print the generation record of images."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from typing import Any

import click
import orjson

from seedlock.cli._errors import EXIT_ERROR, error, handle_errors, message_for
from seedlock.cli._output import progress_bar, summary_lines
from seedlock.files import find_images, usable_cpus
from seedlock.readers import read
from seedlock.record import Generator


def _line(obj: dict[str, Any]) -> str:
    """One JSON Lines record, compact UTF-8. orjson is several times faster than json on
    records this size; json takes what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(obj).decode() + "\n"
    except TypeError:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


def _one(
    path: str, stealth: str, raw: bool, mode: str, explain: bool = False, check_c2pa: bool = False
) -> tuple[str | None, dict[str, Any] | None, int, str | None]:
    """Read one file: (text output, JSON object for --json, status 0/1/2, error message).

    With ``explain``, each field also names its source (the graph node of a ComfyUI file).
    """
    sources: dict[str, str] = {}
    try:
        if explain:
            from seedlock.readers import explain as explain_file

            found = explain_file(path, stealth=stealth)
            rec, sources = found.record, found.sources
        else:
            rec = read(path, stealth=stealth, check_c2pa=check_c2pa)
    except Exception as exc:
        msg = message_for(exc)
        err: dict[str, Any] = {"path": path, "generator": "none", "error": msg}
        return (_line(err) if mode == "jsonl" else None), err, 2, msg
    status = 1 if rec.generator in (Generator.NONE, Generator.C2PA) else 0
    if mode == "text":
        lines = summary_lines(path, rec)
        if explain:
            lines += _explained(sources)
        return "\n".join(lines) + "\n", None, status, None
    obj = rec.to_dict(include_raw=raw)
    obj["path"] = path
    obj["error"] = None
    if explain:
        obj["explain"] = sources
    if mode == "jsonl":
        return _line(obj), None, status, None
    return None, obj, status, None


def _explained(sources: dict[str, str]) -> list[str]:
    if not sources:
        return ["  explained:   (no graph: every field comes from the file's own text)"]
    return ["  explained:", *(f"    {field:<16} <- {source}" for field, source in sources.items())]


def _chunk(
    args: tuple[list[str], str, bool, str, bool, bool],
) -> list[tuple[str | None, dict[str, Any] | None, int, str | None]]:
    files, stealth, raw, mode, explain, check_c2pa = args
    return [_one(p, stealth, raw, mode, explain, check_c2pa) for p in files]


#: below this many files a second process costs more than it saves
PARALLEL_MIN_FILES = 400
_CHUNK = 128


def _results(
    files: list[str], stealth: str, raw: bool, mode: str, jobs: int, explain: bool, check_c2pa: bool = False
) -> Iterator[tuple[str | None, dict[str, Any] | None, int, str | None]]:
    """Per-file results in input order; large batches use a process per core."""
    if jobs > 1 and len(files) >= PARALLEL_MIN_FILES:
        import multiprocessing as mp

        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        chunks = [(files[i : i + _CHUNK], stealth, raw, mode, explain, check_c2pa) for i in range(0, len(files), _CHUNK)]
        with ctx.Pool(jobs) as pool:
            for batch in pool.imap(_chunk, chunks):
                yield from batch
        return
    for path in files:
        yield _one(path, stealth, raw, mode, explain, check_c2pa)


@click.command("read")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("-r", "--recursive", is_flag=True, help="Descend into sub-folders.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document: a list of records (one object for one file).")
@click.option("--jsonl", is_flag=True, help="One JSON object per line, streamed.")
@click.option("--raw", is_flag=True, help="Include the source text of every carrier.")
@click.option(
    "--stealth",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="Scan pixel LSBs: only when nothing else is found, always, or never.",
)
@click.option("-j", "--jobs", type=int, default=0, help="Worker processes for large batches (default: one per core).")
@click.option("--explain", is_flag=True, help="Also say which graph node gave each field (ComfyUI files).")
@click.option(
    "--check-c2pa", is_flag=True, help="Validate C2PA signatures with the official SDK (pip install 'seedlock[c2pa]')."
)
@handle_errors
def read_cmd(
    paths: tuple[str, ...],
    recursive: bool,
    as_json: bool,
    jsonl: bool,
    raw: bool,
    stealth: str,
    jobs: int,
    explain: bool,
    check_c2pa: bool,
) -> None:
    """Read the generation record embedded in images (PNG, JPEG, WebP) or folders of them.

    Exit status: 0 when every file had a record, 1 when some had no generation
    metadata, 2 when some could not be read (each gets one line on stderr).
    """
    listing = find_images(paths, recursive)
    files = list(listing.files)
    for problem in listing.problems:
        error(problem)
    for folder in listing.empty:
        has_sub = not recursive and any(e.is_dir() for e in os.scandir(folder))
        error(f"{folder}: no images in this folder" + (" (sub-folders are read with -r)" if has_sub else ""))
    if not files:
        raise SystemExit(EXIT_ERROR if listing.problems else 1)
    mode = "jsonl" if jsonl else "json" if as_json else "text"
    jobs = jobs or min(usable_cpus(), 8)
    worst = 1 if listing.empty else 0
    out = sys.stdout
    collected: list[dict[str, Any]] = []
    progress = None
    task = None
    if len(files) > 1 and sys.stderr.isatty():
        from rich.progress import MofNCompleteColumn

        progress = progress_bar("reading", MofNCompleteColumn())
        progress.start()
        task = progress.add_task("read", total=len(files))
    try:
        for text, obj, status, msg in _results(files, stealth, raw, mode, jobs, explain, check_c2pa):
            worst = max(worst, status)
            if msg is not None:
                if progress:
                    progress.console.print(f"seedlock: error: {msg}", markup=False, highlight=False)
                else:
                    error(msg)
            if text is not None:
                out.write(text)
            elif obj is not None:
                collected.append(obj)
            if progress is not None and task is not None:
                progress.advance(task)
    finally:
        if progress is not None:
            progress.stop()
    if as_json:
        single = len(paths) == 1 and len(collected) == 1 and not os.path.isdir(paths[0])
        out.write(json.dumps(collected[0] if single else collected, ensure_ascii=False, indent=2) + "\n")
    out.flush()
    if worst == 2 or listing.problems:
        raise SystemExit(EXIT_ERROR)
    if worst == 1:
        raise SystemExit(1)
