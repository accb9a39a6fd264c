"""``seedlock hash``, ``seedlock lock``, ``seedlock check-lock`` and ``seedlock model scan|resolve``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from seedlock.cli._errors import error, handle_errors, message_for
from seedlock.cli._output import byte_progress, count_progress
from seedlock.files import check_output


def _open_cache(no_cache: bool) -> Any:
    if no_cache:
        return None
    from seedlock.pin.cache import HashCache

    return HashCache()


SHOWN = ("sha256", "autov1", "autov2", "autov3", "blake3", "crc32", "crc32_civitai")


@click.command("hash")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--forms",
    default="default",
    show_default=True,
    help="sha256 | default (sha256, AutoV1/V2, tensor-data AutoV3) | all (adds BLAKE3, CRC32) | a comma list.",
)
@click.option("--all", "all_forms", is_flag=True, help="Same as --forms all.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.option("--no-cache", is_flag=True, help="Read every byte again; do not consult or update the cache.")
@handle_errors
def hash_cmd(paths: tuple[Path, ...], forms: str, all_forms: bool, as_json: bool, no_cache: bool) -> None:
    """Hash model files (or every model file under folders) in every form the ecosystem uses.

    Exit 0 when every file hashed cleanly, 1 when a safetensors header is invalid or an
    embedded hash claim does not match the bytes, 2 on errors.
    """
    from seedlock.pin.hashing import hash_file, resolve_forms
    from seedlock.pin.index import iter_model_files

    want = resolve_forms("all" if all_forms else forms)
    targets: list[Path] = []
    for p in paths:
        if p.is_dir():
            targets.extend(f for f, _ in iter_model_files([p]))
        else:
            targets.append(p)
    cache = _open_cache(no_cache)
    results: list[dict[str, Any]] = []
    status = 0
    try:
        for path in targets:
            try:
                size = path.stat().st_size
                with byte_progress(size, path.name) as progress:
                    r = hash_file(path, want, cache=cache, progress=progress)
            except OSError as exc:
                error(message_for(exc))
                status = 2
                continue
            d = r.to_dict()
            if r.safetensors_error:
                error(f"{r.path}: {r.safetensors_error} (hashed as opaque bytes)")
                status = max(status, 1)
            bad = [k for k, c in r.claims.items() if c.get("matches") is False]
            if bad:
                error(f"{r.path}: embedded {', '.join(bad)} does not match the file's bytes")
                status = max(status, 1)
            if as_json:
                results.append(d)
            else:
                _print_hashes(r)
    finally:
        if cache is not None:
            cache.close()
    if as_json:
        json.dump(results, sys.stdout, indent=2)
        sys.stdout.write("\n")
    raise SystemExit(status)


def _print_hashes(r: Any) -> None:
    speed = f"{r.size / r.seconds / 1e9:.2f} GB/s" if r.seconds > 0 else "cached"
    click.echo(f"{r.path}  ({r.size:,} bytes, {speed})")
    for form in SHOWN:
        if form in r.hashes:
            value = r.hashes[form]
            shown = value.upper() if form in ("autov1", "autov2", "crc32_civitai") else value
            click.echo(f"  {form:<14}{shown}")
    if r.safetensors:
        st = r.safetensors
        dtypes = ", ".join(f"{k}x{v}" for k, v in sorted(st.dtypes.items()))
        click.echo(f"  safetensors   {st.tensor_count} tensors ({dtypes}), header {st.header_len} bytes")
        if st.metadata:
            click.echo(f"  metadata keys {', '.join(sorted(st.metadata))}")
    for key, c in sorted(r.claims.items()):
        verdict = {True: "matches", False: "DOES NOT MATCH", None: "not checked"}[c.get("matches")]
        click.echo(f"  claim         {key} = {c['value']} ({c['form']}): {verdict}")


_models_option = click.option(
    "--models",
    "model_dirs",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Scan these folders first (cached).",
)


@click.command("scan")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--forms", default="all", show_default=True, help="Hash forms to compute (see seedlock hash).")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def scan_cmd(paths: tuple[Path, ...], forms: str, as_json: bool) -> None:
    """Hash every model file under PATHS (cached) into the local model index."""
    from seedlock.pin.cache import HashCache
    from seedlock.pin.index import iter_model_files, scan

    total = sum(1 for _ in iter_model_files(paths))
    with HashCache() as cache, count_progress(total, "hashing") as advance:
        result = scan(paths, cache, forms=forms, on_file=(lambda _p: advance()) if advance else None)
    for msg in result.errors:
        error(msg)
    if as_json:
        out = [{**r.to_dict(), "kind": result.kinds[r.path]} for r in result.files]
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        cached = sum(r.cached for r in result.files)
        click.echo(f"indexed {len(result.files)} file(s) ({cached} from cache)")
    raise SystemExit(2 if result.errors else 0)


@click.command("resolve")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_models_option
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def resolve_cmd(source: Path, model_dirs: tuple[Path, ...], as_json: bool) -> None:
    """Find the local files for every model and adapter in an image or record JSON.

    Exit 0 when every file was found by hash, 1 when something is missing, matched by
    name only, or has the right name but different weights.
    """
    from seedlock.pin.cache import HashCache
    from seedlock.pin.index import resolve, scan
    from seedlock.readers import load_record

    record, _ = load_record(source)
    with HashCache() as cache:
        if model_dirs:
            scan(model_dirs, cache)
        res = resolve(record, cache)
    if as_json:
        json.dump({"source": str(source), "files": [r.to_dict() for r in res]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        if not res:
            click.echo("the record names no model files")
        for r in res:
            w = r.wanted
            claims = ", ".join(f"{k}={v}" for k, v in sorted(w.claims.items())) or "no hash"
            click.echo(f"{r.status:<14}{w.role:<11}{w.name}  [{claims}]")
            if r.path:
                click.echo(f"{'':<25}-> {r.path}" + (f" (by {r.matched_by})" if r.matched_by else ""))
            if r.note:
                click.echo(f"{'':<25}{r.note}")
    raise SystemExit(0 if all(r.status == "found" for r in res) else 1)


@click.command("lock")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("seedlock.lock"), show_default=True
)
@_models_option
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Store paths relative to this folder (default: the lock file's folder).",
)
@click.option("--force", is_flag=True, help="Replace an existing output file even if it holds another kind of file.")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def lock_cmd(
    source: Path, output: Path, model_dirs: tuple[Path, ...], root: Path | None, force: bool, as_json: bool
) -> None:
    """Write a TOML lock of every model file the recipe in SOURCE needs.

    Exit 0 when every file was found, 1 when the lock was written with missing entries.
    """
    from seedlock.pin.cache import HashCache
    from seedlock.pin.index import resolve, scan
    from seedlock.pin.lock import build_lock, write_lock
    from seedlock.readers import load_record

    record, _ = load_record(source)
    with HashCache() as cache:
        if model_dirs:
            scan(model_dirs, cache)
        res = resolve(record, cache)
        check_output(output, [source, *(r.path for r in res if r.path)], kind="toml", force=force)
        lock = build_lock(record, res, output, cache, root=root, source=source.name)
    write_lock(lock, output)
    missing = [e for e in lock.entries if e.path is None]
    if as_json:
        json.dump(
            {"lock": str(output), "fingerprint": lock.fingerprint, "files": [e.to_toml() for e in lock.entries]},
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
    else:
        click.echo(f"wrote {output}: {len(lock.entries)} file(s), fingerprint {lock.fingerprint[:16]}…")
        for r in res:
            if r.status != "found":
                click.echo(f"  {r.status}: {r.wanted.role} {r.wanted.name}" + (f" ({r.note})" if r.note else ""))
    raise SystemExit(1 if missing else 0)


@click.command("check-lock")
@click.argument("lockfile", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--rehash", is_flag=True, help="Read every byte again instead of trusting the cache.")
@click.option(
    "--allow-outside", is_flag=True, help="Also check files that lie outside the lock's root (absolute paths, ..)."
)
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def check_lock_cmd(lockfile: Path, rehash: bool, allow_outside: bool, as_json: bool) -> None:
    """Recompute every file in a lock: ok / changed / missing. Exit 0 only when all are ok."""
    from seedlock.pin.lock import check_lock, read_lock

    lock = read_lock(lockfile)
    cache = _open_cache(rehash)
    try:
        checks = check_lock(lock, lockfile, cache, allow_outside=allow_outside)
    finally:
        if cache is not None:
            cache.close()
    if as_json:
        json.dump({"lock": str(lockfile), "files": [c.to_dict() for c in checks]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for c in checks:
            click.echo(f"{c.status:<8}{c.entry.role:<11}{c.entry.name}  {c.path or ''}")
            for form, (locked, now) in c.differences.items():
                click.echo(f"{'':<8}{form}: locked {locked}, now {now}")
            if c.note:
                click.echo(f"{'':<8}{c.note}")
        bad = sum(c.status != "ok" for c in checks)
        click.echo(f"{len(checks) - bad} ok, {bad} not ok")
    raise SystemExit(0 if all(c.status == "ok" for c in checks) else 1)
