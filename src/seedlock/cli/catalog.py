"""``seedlock catalog index | query | drift | stale | export``."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

import click

from seedlock.cli._errors import error, handle_errors
from seedlock.cli._output import emit_json, live_progress

_db_option = click.option(
    "--db", "db", type=click.Path(dir_okay=False, path_type=Path), help="Catalog file (default: the user data folder)."
)


def _open(db: Path | None) -> Any:
    from seedlock.catalog.store import Catalog

    return Catalog(db)


@click.group("catalog")
def catalog_group() -> None:
    """Log every generation, find images by content and recipe, detect drift."""


@catalog_group.command("index")
@click.argument("folders", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@_db_option
@click.option("-j", "--jobs", type=click.IntRange(0, 256), default=0, help="Worker processes (default: one per core).")
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="ray: read and hash on a Ray cluster into Parquet shards (load them with catalog import).",
)
@click.option("--shards", type=click.Path(file_okay=False, path_type=Path), help="With --engine ray: the shard folder.")
@click.option(
    "--ray-address", help="With --engine ray: a running cluster (auto, ray://head:10001); default: a local one."
)
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def index_cmd(
    folders: tuple[Path, ...],
    db: Path | None,
    jobs: int,
    engine: str,
    shards: Path | None,
    ray_address: str | None,
    as_json: bool,
) -> None:
    """Index the images under FOLDERS: new and changed files read, moved ones followed, deleted ones dropped.

    Exit 0 when every file was read, 2 when some could not be (each named on stderr).
    """
    from seedlock.catalog.index import index_folders

    if engine == "ray":
        from seedlock.catalog.distributed import index_with_ray

        if shards is None:
            raise click.UsageError("--engine ray needs --shards FOLDER")
        n = index_with_ray(list(folders), shards, address=ray_address)
        if as_json:
            emit_json({"engine": "ray", "files": n, "shards": str(shards)})
        else:
            click.echo(f"{n} image(s) read on Ray into {shards}; load them with: seedlock catalog import {shards}")
        return

    with _open(db) as cat, live_progress("indexing") as progress:
        summary = index_folders(list(folders), cat, jobs=jobs, progress=progress)
    for line in summary.errors:
        error(line)
    if as_json:
        emit_json(summary.to_dict())
    else:
        click.echo(
            f"{summary.seen} image(s): {summary.added} added, {summary.updated} updated, {summary.moved} moved, "
            f"{summary.unchanged} unchanged, {summary.deleted} deleted ({summary.seconds:.1f} s)"
        )
    raise SystemExit(2 if summary.errors else 0)


@catalog_group.command("query")
@_db_option
@click.option("--generator")
@click.option("--model", help="Model name (file stem) or a hash prefix of any form.")
@click.option("--sampler", help="Canonical sampler (euler, dpmpp_2m, ...).")
@click.option("--scheduler")
@click.option("--seed", type=int)
@click.option("--steps", type=int)
@click.option("--cfg", type=float)
@click.option("--size", help="WxH")
@click.option("--lora", help="LoRA name (file stem).")
@click.option("--prompt", "prompt_text", help="Full-text search in prompts (SQLite FTS5 syntax).")
@click.option("--fingerprint", help="Recipe fingerprint (a prefix is enough).")
@click.option("--pixels", "pixel_sha256", help="Pixel sha256 (a prefix is enough).")
@click.option("--since", type=click.DateTime(), help="Files modified at or after this date.")
@click.option("--folder", type=click.Path(path_type=Path))
@click.option("--errors", "errors_only", is_flag=True, help="Only files that could not be read.")
@click.option(
    "--sort",
    type=click.Choice(["auto", "path", "mtime", "seed", "steps", "model", "indexed"]),
    default="auto",
    show_default=True,
    help="auto: path order, or index order for a --prompt search (fast on huge catalogs).",
)
@click.option("--desc", is_flag=True, help="Sort descending.")
@click.option("--limit", type=click.IntRange(0), default=100, show_default=True, help="0: no limit.")
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
@click.option("--jsonl", is_flag=True, help="One JSON object per line.")
@click.option("--csv", "as_csv", is_flag=True)
@handle_errors
def query_cmd(db: Path | None, sort: str, desc: bool, limit: int, offset: int, as_json: bool, jsonl: bool,
              as_csv: bool, since: Any, folder: Path | None, prompt_text: str | None, **kw: Any) -> None:  # fmt: skip
    """Find catalogued images by any recorded field, by prompt text, or by content hash.

    Exit 0 when something matched, 1 when nothing did.
    """
    import json

    from seedlock.catalog.query import RESULT_COLUMNS, Filters, query

    filters = Filters(
        **kw,
        prompt=prompt_text,
        since=since.timestamp() if since else None,
        folder=str(folder.resolve()) if folder else None,
    )
    with _open(db) as cat:
        rows = list(query(cat, filters, sort=sort, descending=desc, limit=limit or None, offset=offset))
    if as_json:
        emit_json(rows)
    elif jsonl:
        for r in rows:
            sys.stdout.write(json.dumps(r, ensure_ascii=False) + "\n")
    elif as_csv:
        w = csv.DictWriter(sys.stdout, fieldnames=list(RESULT_COLUMNS))
        w.writeheader()
        w.writerows(rows)
    else:
        for r in rows:
            recipe = f"seed {r['seed']} {r['sampler'] or '?'} {r['steps'] or '?'} steps cfg {r['cfg']}"
            click.echo(f"{r['path']}  {r['generator'] or 'none'}  {r['model_name'] or '-'}  {recipe}")
        click.echo(f"{len(rows)} match(es)")
    raise SystemExit(0 if rows else 1)


@catalog_group.command("drift")
@_db_option
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True, help="Groups of each kind.")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def drift_cmd(db: Path | None, limit: int, as_json: bool) -> None:
    """Same recipe with different pixels (explained), batches whose settings changed, duplicate images.

    Exit 0 when no recipe group drifted, 1 when one did.
    """
    from seedlock.catalog.drift import drift

    with _open(db) as cat:
        report = drift(cat, limit=limit)
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(f"same recipe, different pixels: {len(report.recipes)} group(s)")
        for g in report.recipes:
            click.echo(f"  fingerprint {g.fingerprint[:16]}…: {len(g.variants)} pixel variants")
            for px, paths in g.variants.items():
                click.echo(
                    f"    {px[:16]}…  {', '.join(paths[:3])}" + (f" (+{len(paths) - 3})" if len(paths) > 3 else "")
                )
            for c in g.causes[:5]:
                click.echo(f"    cause [{c.rank}] {c.title}: {c.field}")
            if not g.causes:
                click.echo("    nothing recorded differs: environment or nondeterminism (replay both to see)")
        click.echo(f"batch changes: {len(report.batches)}")
        for b in report.batches:
            changed = ", ".join(f"{k} {a} -> {v}" for k, (a, v) in b.changes.items())
            click.echo(f"  {b.before} -> {b.after}: {changed}")
        click.echo(f"duplicates (same pixels): {len(report.duplicates)} group(s)")
        for d in report.duplicates:
            click.echo(f"  {d.pixel_sha256[:16]}…  {', '.join(d.paths[:4])}")
    raise SystemExit(1 if report.recipes else 0)


@catalog_group.command("stale")
@_db_option
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def stale_cmd(db: Path | None, as_json: bool) -> None:
    """Images whose model or adapter files match no file seedlock model scan knows (not reproducible here).

    Exit 0 when none is stale, 1 when some are.
    """
    from seedlock.catalog.stale import stale
    from seedlock.pin.cache import HashCache

    with _open(db) as cat, HashCache() as cache:
        found = list(stale(cat, cache))
    if as_json:
        emit_json([s.to_dict() for s in found])
    else:
        for s in found:
            click.echo(s.path)
            for role, name, hashes, status in s.missing:
                shown = ", ".join(f"{k}={v}" for k, v in sorted(hashes.items())) or "no hash"
                click.echo(f"  {status:<14}{role:<11}{name}  [{shown}]")
        click.echo(f"{len(found)} stale image(s)")
    raise SystemExit(1 if found else 0)


@catalog_group.command("export")
@_db_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "parquet"]), default=None, help="Default: from the file name."
)
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def export_cmd(db: Path | None, output: Path, fmt: str | None, as_json: bool) -> None:
    """Write the tuple log: one row per image (path, file, pixel and recipe hashes, the record), JSONL or Parquet."""
    from seedlock.catalog.export import export_jsonl, export_parquet
    from seedlock.files import check_output

    fmt = fmt or ("parquet" if output.suffix.lower() == ".parquet" else "jsonl")
    with _open(db) as cat:
        check_output(output, [cat.path], kind="text")
        n = (export_parquet if fmt == "parquet" else export_jsonl)(cat, output)
    if as_json:
        emit_json({"output": str(output), "lines": n})
    else:
        click.echo(f"wrote {output}: {n} line(s)")


@catalog_group.command("serve")
@_db_option
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to bind (the catalog holds your prompts)."
)
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@handle_errors
def serve_cmd(db: Path | None, host: str, port: int) -> None:
    """Browse the catalog in a local web page: thumbnails, filters, prompt search, drift, diffs."""
    import importlib.util

    from seedlock.catalog.store import default_db
    from seedlock.errors import MissingExtra

    for pkg in ("starlette", "uvicorn"):
        if importlib.util.find_spec(pkg) is None:
            raise MissingExtra("serve", pkg)
    from seedlock.catalog.serve import serve

    click.echo(f"serving {db or default_db()} on http://{host}:{port}/ (Ctrl-C to stop)", err=True)
    serve(db or default_db(), host=host, port=port)


@catalog_group.command("import")
@click.argument("shards", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_db_option
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def import_cmd(shards: Path, db: Path | None, as_json: bool) -> None:
    """Load the Parquet shards of an index --engine ray run into the catalog."""
    from seedlock.catalog.distributed import import_shards

    with _open(db) as cat:
        n = import_shards(cat, shards)
    if as_json:
        emit_json({"rows": n, "shards": str(shards)})
    else:
        click.echo(f"imported {n} row(s) from {shards}")
