"""A self-contained HTML report of a comparison: both images, a difference heatmap, a
slider and a blink toggle, the ranked causes, the field table and the prompt diff with
invisible characters made visible. One file, no network: images are inlined."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from seedlock.diff.compare import Comparison
from seedlock.diff.pixels import decode_pair
from seedlock.diff.prompt import PromptDiff, visible
from seedlock.files import atomic_write_bytes

__all__ = ["render_html", "write_html"]

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1d1d1f;background:#fafafa}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:24px 0 8px}
.verdict{display:inline-block;padding:4px 10px;border-radius:6px;font-weight:600;color:#fff}
.v-bit-identical{background:#1a7f37}.v-visually-indistinguishable{background:#9a6700}.v-different{background:#cf222e}
.v-none{background:#57606a}
.imgs{display:flex;gap:16px;flex-wrap:wrap;align-items:flex-start}
figure{margin:0} figcaption{font-size:12px;color:#57606a;word-break:break-all;max-width:320px}
.pix{image-rendering:pixelated;width:320px;height:auto;border:1px solid #d0d7de;background:#fff}
.slider{position:relative;width:320px} .slider img{display:block;width:320px}
.slider .top{position:absolute;top:0;left:0;clip-path:inset(0 50% 0 0)}
table{border-collapse:collapse;background:#fff} td,th{border:1px solid #d0d7de;padding:4px 8px;vertical-align:top;text-align:left}
td{font-family:ui-monospace,monospace;font-size:12px;max-width:420px;word-break:break-word}
ol li{margin-bottom:8px} .dim{color:#57606a;font-size:12px}
.inv{background:#ffebe9;color:#cf222e;border-radius:3px;padding:0 2px;font-family:ui-monospace,monospace}
.del{background:#ffebe9;text-decoration:line-through} .ins{background:#dafbe1}
pre{white-space:pre-wrap;background:#fff;border:1px solid #d0d7de;padding:8px;font-size:12px}
button{font:inherit;padding:4px 10px}
"""

_JS = """
const s=document.getElementById('slide'),t=document.getElementById('top');
if(s){s.addEventListener('input',()=>{t.style.clipPath='inset(0 '+(100-s.value)+'% 0 0)'});}
const b=document.getElementById('blink'),bi=document.getElementById('blinkimg');let on=false,timer=null;
if(b){b.addEventListener('click',()=>{if(timer){clearInterval(timer);timer=null;b.textContent='blink';return;}
timer=setInterval(()=>{on=!on;bi.src=on?bi.dataset.b:bi.dataset.a;},500);b.textContent='stop';});}
"""


def _data_uri(arr: np.ndarray[Any, Any]) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _heatmap(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Per-pixel max channel difference, scaled so the largest difference is bright (inferno-like ramp)."""
    d = np.abs(a[..., :3].astype(np.int16) - b[..., :3].astype(np.int16)).max(axis=2).astype(np.float64)
    peak = d.max()
    x = d / peak if peak > 0 else d
    r = np.clip(1.6 * x, 0, 1)
    g = np.clip(1.6 * x - 0.6, 0, 1)
    bl = np.clip(0.5 - np.abs(x - 0.3) * 1.5, 0, 1) + np.clip(2 * x - 1.6, 0, 1)
    out = np.stack([r, g, np.clip(bl, 0, 1)], axis=2)
    return (out * 255).astype(np.uint8)


def _prompt_html(pd: PromptDiff) -> str:
    if pd.equal:
        return "<p class=dim>identical bytes</p>"
    import difflib

    parts = []
    sm = difflib.SequenceMatcher(None, pd.a, pd.b, autojunk=False)

    def esc(text: str) -> str:
        out = html.escape(visible(text))
        return out.replace("⟦", "<span class=inv>").replace("⟧", "</span>")

    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            parts.append(esc(pd.a[i1:i2]))
            continue
        if i2 > i1:
            parts.append(f"<span class=del>{esc(pd.a[i1:i2])}</span>")
        if j2 > j1:
            parts.append(f"<span class=ins>{esc(pd.b[j1:j2])}</span>")
    notes = "".join(
        f"<li>@{c.a_pos}: {html.escape(', '.join(c.a_names) or 'nothing')} &rarr; "
        f"{html.escape(', '.join(c.b_names) or 'nothing')}</li>"
        for c in pd.changes[:40]
    )
    return f"<p>{html.escape(pd.summary())}</p><pre>{''.join(parts)}</pre><ul class=dim>{notes}</ul>"


def _tokens_html(c: Comparison) -> str:
    if not c.tokens:
        return f"<p class=dim>{html.escape(c.tokens_note)}</p>" if c.tokens_note else ""
    t = c.tokens
    warn = " &middot; <b>crosses the 75-token chunk boundary</b>" if t.crosses_chunk else ""
    return (
        f"<p class=dim>CLIP tokens {t.a_count} &rarr; {t.b_count}{warn}<br>removed: "
        f"{html.escape(', '.join(t.removed) or 'none')}<br>added: {html.escape(', '.join(t.added) or 'none')}</p>"
    )


def _cell(v: Any) -> str:
    s = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
    return html.escape(visible(s)).replace("⟦", "<span class=inv>").replace("⟧", "</span>")


def render_html(c: Comparison) -> str:
    """The report as one HTML string."""
    verdict = c.pixels.verdict if c.pixels else "records only"
    vclass = "v-" + (c.pixels.verdict.replace(" ", "-") if c.pixels else "none")
    images = ""
    if c.pixels:
        a, b = c.decoded if c.decoded is not None else decode_pair(c.a_path, c.b_path)[:2]
        ua, ub = _data_uri(a), _data_uri(b)
        heat = _data_uri(_heatmap(a, b)) if a.shape == b.shape else ua
        p = c.pixels
        psnr = "inf" if p.psnr == float("inf") else f"{p.psnr:.2f} dB"
        images = f"""
<h2>Images</h2>
<p class=dim>max |diff| {p.max_abs_diff}/255 &middot; mean {p.mean_abs_diff:.3f} &middot; PSNR {psnr} &middot;
SSIM {p.ssim:.4f} &middot; {p.changed_share:.1%} of pixels changed{(" &middot; " + html.escape(p.note)) if p.note else ""}</p>
<div class=imgs>
<figure><img class=pix src="{ua}" alt="A"><figcaption>A: {html.escape(c.a_path)}<br>sha256 {p.hash_a[:16]}…</figcaption></figure>
<figure><img class=pix src="{ub}" alt="B"><figcaption>B: {html.escape(c.b_path)}<br>sha256 {p.hash_b[:16]}…</figcaption></figure>
<figure><img class=pix src="{heat}" alt="difference heatmap"><figcaption>difference heatmap (brightest = largest)</figcaption></figure>
</div>
<h2>Compare</h2>
<div class=imgs>
<figure><div class=slider><img class=pix src="{ub}" alt="B under"><img id=top class="pix top" src="{ua}" alt="A over"></div>
<input id=slide type=range min=0 max=100 value=50 style="width:320px" aria-label="slider A/B"><figcaption>slider: A left, B right</figcaption></figure>
<figure><img id=blinkimg class=pix src="{ua}" data-a="{ua}" data-b="{ub}" alt="blink"><br><button id=blink>blink</button>
<figcaption>blink between A and B</figcaption></figure>
</div>"""
    causes = (
        "".join(
            f"<li><b>{html.escape(x.title)}</b> <span class=dim>(rank {x.rank}, {html.escape(x.field)})</span><br>"
            f"A: <code>{_cell(x.a)}</code><br>B: <code>{_cell(x.b)}</code><br>"
            f"<span class=dim>why: {html.escape(x.explanation)}<br>fix: {html.escape(x.fix)}</span></li>"
            for x in c.causes
        )
        or "<li>none: the records are equivalent</li>"
    )
    rows = (
        "".join(
            f"<tr><th>{html.escape(f.field)}</th><td>{_cell(f.a)}</td><td>{_cell(f.b)}</td></tr>" for f in c.diff.fields
        )
        or "<tr><td colspan=3>no differences</td></tr>"
    )
    return f"""<!doctype html><html lang=en><head><meta charset=utf-8><title>seedlock diff</title>
<style>{_CSS}</style></head><body>
<h1>seedlock diff</h1>
<p><span class="verdict {vclass}">{html.escape(verdict)}</span>
&nbsp; records: {"equivalent" if c.diff.equivalent else f"{len(c.diff.fields)} difference(s)"}</p>
{images}
<h2>Likely causes</h2><ol>{causes}</ol>
<h2>Prompt</h2>{_prompt_html(c.diff.prompt)}{_tokens_html(c)}
<h2>Negative prompt</h2>{_prompt_html(c.diff.negative)}
<h2>Fields</h2><table><tr><th>field</th><th>A</th><th>B</th></tr>{rows}</table>
<p class=dim>fingerprint A {c.diff.a.fingerprint[:16]} &middot; B {c.diff.b.fingerprint[:16]}</p>
<script>{_JS}</script></body></html>"""


def write_html(c: Comparison, path: str | Path) -> Path:
    """Write the report atomically and return its path."""
    p = Path(path)
    atomic_write_bytes(p, render_html(c).encode("utf-8"))
    return p
