"""``seedlock catalog serve``: the catalog as a local web page (Starlette, served by uvicorn).

Bound to 127.0.0.1 unless told otherwise: a catalog holds people's prompts and file paths.
The page shows thumbnails with their recipe, filters on the recorded fields, full-text
prompt search, the drift groups, and any two images opened in ``diff``'s HTML report.
Everything is rendered on the server; the page needs no script beyond picking two images.
"""

from __future__ import annotations

import html
import io
import os
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from seedlock.catalog.drift import drift
from seedlock.catalog.query import Filters, query
from seedlock.catalog.store import Catalog
from seedlock.errors import CatalogError, SeedlockError

__all__ = ["make_app", "serve"]

PAGE_SIZE = 48
THUMB = 192
_FILTERS = ("generator", "model", "sampler", "scheduler", "seed", "steps", "size", "lora", "prompt")

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d1d1f}
header{background:#1f2328;color:#fff;padding:10px 20px;display:flex;gap:24px;align-items:center}
header a{color:#fff} h1{font-size:18px;margin:0}
form.filters{display:flex;flex-wrap:wrap;gap:8px;padding:12px 20px;background:#fff;border-bottom:1px solid #d0d7de}
form.filters input{width:120px;padding:4px} form.filters input[name=prompt]{width:260px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:12px;padding:16px 20px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:8px;font-size:12px}
.card img{width:100%;height:192px;object-fit:contain;background:#eee;image-rendering:pixelated}
.card .path{word-break:break-all;color:#57606a} .card .recipe{font-family:ui-monospace,monospace}
.pager{padding:0 20px 20px} .drift{padding:0 20px 20px} .drift li{margin-bottom:6px}
.err{color:#cf222e}
"""


def _row_html(r: dict[str, Any]) -> str:
    recipe = (
        f"{r['generator'] or 'none'} · {html.escape(str(r['model_name'] or '-'))}<br>"
        f"seed {r['seed']} · {html.escape(str(r['sampler'] or '?'))}/{html.escape(str(r['scheduler'] or '?'))}"
        f" · {r['steps'] or '?'} steps · cfg {r['cfg']}"
    )
    image_id = r["id"]
    prompt = html.escape((r["prompt"] or "")[:160])
    err = f"<div class=err>{html.escape(r['error'])}</div>" if r.get("error") else ""
    return (
        f"<div class=card><label><input type=checkbox name=pick value={image_id}> pick</label>"
        f"<img loading=lazy src='/thumb/{image_id}' alt='{html.escape(os.path.basename(r['path']))}'>"
        f"<div class=recipe>{recipe}</div><div>{prompt}</div>"
        f"<div class=path>{html.escape(r['path'])}</div>{err}</div>"
    )


def _filters(params: Mapping[str, str]) -> Filters:
    """The query's filters from the page's form fields (numbers that are not numbers match nothing)."""
    kwargs: dict[str, Any] = {}
    for k in _FILTERS:
        v = params.get(k, "")
        if v:
            kwargs[k] = (int(v) if v.lstrip("-").isdigit() else -(2**63)) if k in ("seed", "steps") else v
    return Filters(**kwargs)


def _page(catalog: Catalog, params: dict[str, str]) -> str:
    values = {k: params.get(k, "") for k in _FILTERS}
    raw_page = params.get("page", "0")
    page = int(raw_page) if raw_page.isdigit() else 0
    error = ""
    try:
        rows = list(query(catalog, _filters(params), sort="mtime", descending=True, limit=PAGE_SIZE,
                          offset=page * PAGE_SIZE))  # fmt: skip
    except CatalogError as exc:
        rows, error = [], exc.message
    (total,) = catalog.db.execute("SELECT COUNT(*) FROM images").fetchone()
    inputs = "".join(
        f"<input name={k} placeholder={k} value='{html.escape(v, quote=True)}'>" for k, v in values.items()
    )
    cards = "".join(_row_html(r) for r in rows)
    nav = []
    if page > 0:
        nav.append(f"<a href='/?{urlencode({**params, 'page': page - 1})}'>previous</a>")
    if len(rows) == PAGE_SIZE:
        nav.append(f"<a href='/?{urlencode({**params, 'page': page + 1})}'>next</a>")
    return f"""<!doctype html><html lang=en><head><meta charset=utf-8><title>seedlock catalog</title>
<style>{_CSS}</style></head><body>
<header><h1>seedlock catalog</h1><span>{total} image(s)</span><a href='/drift'>drift</a></header>
<form class=filters method=get action='/'>{inputs}<button>filter</button></form>
{f"<p class=err style='padding:0 20px'>{html.escape(error)}</p>" if error else ""}
<form method=get action='/diff'><div class=grid>{cards or "<p>no image matches</p>"}</div>
<div class=pager><button>diff the two picked images</button> {" · ".join(nav)}</div></form>
</body></html>"""


def _drift_page(catalog: Catalog) -> str:
    report = drift(catalog, limit=50)

    def image_id(path: str) -> int:
        return int(catalog.db.execute("SELECT id FROM images WHERE path = ?", (path,)).fetchone()[0])

    groups = []
    for g in report.recipes:
        firsts = [paths[0] for paths in g.variants.values()][:2]
        link = f"/diff?pick={image_id(firsts[0])}&pick={image_id(firsts[1])}" if len(firsts) == 2 else ""
        causes = "; ".join(f"{c.title} ({c.field})" for c in g.causes[:3]) or "nothing recorded differs"
        groups.append(
            f"<li>recipe {g.fingerprint[:16]}…: {len(g.variants)} pixel variants — {html.escape(causes)} "
            f"<a href='{link}'>diff</a></li>"
        )
    dups = "".join(f"<li>{html.escape(', '.join(d.paths[:4]))}</li>" for d in report.duplicates)
    batches = "".join(
        f"<li>{html.escape(b.before)} → {html.escape(b.after)}: {html.escape(', '.join(b.changes))}</li>"
        for b in report.batches
    )
    return f"""<!doctype html><html lang=en><head><meta charset=utf-8><title>seedlock drift</title>
<style>{_CSS}</style></head><body><header><h1>drift</h1><a href='/'>catalog</a></header>
<div class=drift><h2>Same recipe, different pixels</h2><ul>{"".join(groups) or "<li>none</li>"}</ul>
<h2>Batch changes</h2><ul>{batches or "<li>none</li>"}</ul>
<h2>Duplicates</h2><ul>{dups or "<li>none</li>"}</ul></div></body></html>"""


def make_app(db: str | os.PathLike[str]) -> Any:
    """The Starlette application over the catalog file ``db`` (opened per request, read-only use)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    thumbs: OrderedDict[int, bytes] = OrderedDict()

    def opened() -> Catalog:
        return Catalog(db)

    async def index(request: Request) -> Response:
        with opened() as cat:
            return HTMLResponse(_page(cat, dict(request.query_params)))

    async def drift_view(request: Request) -> Response:
        with opened() as cat:
            return HTMLResponse(_drift_page(cat))

    async def api_images(request: Request) -> Response:
        params = dict(request.query_params)
        limit = params.get("limit", "")
        with opened() as cat:
            try:
                rows = list(query(cat, _filters(params), limit=int(limit) if limit.isdigit() else PAGE_SIZE))
            except CatalogError as exc:
                return JSONResponse({"error": exc.message}, status_code=400)
        return JSONResponse(rows)

    def _path_of(cat: Catalog, image_id: int) -> str | None:
        row = cat.db.execute("SELECT path FROM images WHERE id = ?", (image_id,)).fetchone()
        return row[0] if row else None

    async def thumb(request: Request) -> Response:
        image_id = int(request.path_params["image_id"])
        if image_id in thumbs:
            thumbs.move_to_end(image_id)
            return Response(thumbs[image_id], media_type="image/png")
        with opened() as cat:
            path = _path_of(cat, image_id)
        if path is None or not Path(path).is_file():
            return Response(status_code=404)
        from seedlock.diff.pixels import open_image

        try:
            img = open_image(path)
        except SeedlockError:
            return Response(status_code=415)
        img.thumbnail((THUMB, THUMB))
        buf = io.BytesIO()
        img.save(buf, "PNG")
        thumbs[image_id] = buf.getvalue()
        if len(thumbs) > 2048:
            thumbs.popitem(last=False)
        return Response(thumbs[image_id], media_type="image/png")

    async def diff_view(request: Request) -> Response:
        picks = [int(v) for v in request.query_params.getlist("pick") if v.isdigit()][:2]
        if len(picks) != 2:
            return HTMLResponse("<p>pick two images on the catalog page</p>", status_code=400)
        with opened() as cat:
            paths = [_path_of(cat, i) for i in picks]
        if None in paths:
            return HTMLResponse("<p>no such image</p>", status_code=404)
        from seedlock.diff.compare import compare
        from seedlock.diff.report import render_html

        try:
            return HTMLResponse(render_html(compare(paths[0], paths[1], keep_decoded=True)))  # type: ignore[arg-type]
        except SeedlockError as exc:
            return HTMLResponse(f"<p>{html.escape(str(exc))}</p>", status_code=422)

    return Starlette(
        routes=[
            Route("/", index),
            Route("/drift", drift_view),
            Route("/api/images", api_images),
            Route("/thumb/{image_id:int}", thumb),
            Route("/diff", diff_view),
        ]
    )


def serve(db: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Run the page until interrupted."""
    import uvicorn

    with Catalog(db):
        pass  # refuse a file that is not a catalog before the server starts
    uvicorn.run(make_app(db), host=host, port=port, log_level="warning")
