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
from seedlock.diff.pixels import Pixels, changed_text, decode_pair, rows, shape_of, strips
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
const A=document.getElementById('imga'),B=document.getElementById('imgb');
if(A){document.querySelectorAll('.same-a').forEach(e=>{e.src=A.src});
document.querySelectorAll('.same-b').forEach(e=>{e.src=B.src});}
const s=document.getElementById('slide'),t=document.getElementById('top');
if(s){s.addEventListener('input',()=>{t.style.clipPath='inset(0 '+(100-s.value)+'% 0 0)'});}
const b=document.getElementById('blink'),bi=document.getElementById('blinkimg');let on=false,timer=null;
if(b){b.addEventListener('click',()=>{if(timer){clearInterval(timer);timer=null;b.textContent='blink';return;}
timer=setInterval(()=>{on=!on;bi.src=on?B.src:A.src;},500);b.textContent='stop';});}
"""


#: longest side of an image as drawn in the report; larger images are shown reduced (statistics stay full-size)
DISPLAY_MAX = 1024


def _png_uri(img: Any) -> str:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _factor(x: Pixels) -> int:
    h, w, _ = shape_of(x)
    return max(1, -(-max(h, w) // DISPLAY_MAX))


def _display(x: Pixels, factor: int) -> Any:
    """The image as drawn: itself, or reduced by ``factor`` (box average) when it is large.

    A large array is reduced a strip at a time (strips start on multiples of the factor,
    so the result equals reducing the whole image), never copied whole into Pillow.
    """
    from PIL import Image

    if not isinstance(x, np.ndarray):
        return x if factor == 1 else x.reduce(factor)
    mode = "RGBA" if x.shape[2] == 4 else "RGB"
    if factor == 1:
        return Image.fromarray(x, mode)
    h, w = x.shape[:2]
    out = Image.new(mode, (-(-w // factor), -(-h // factor)))
    for y0, y1 in strips(h, factor * max(1, 256 // factor)):
        out.paste(Image.fromarray(x[y0:y1], mode).reduce(factor), (0, y0 // factor))
    return out


def _ramp(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Inferno-like colour ramp for values in 0..1."""
    r = np.clip(1.6 * x, 0, 1)
    g = np.clip(1.6 * x - 0.6, 0, 1)
    bl = np.clip(0.5 - np.abs(x - 0.3) * 1.5, 0, 1) + np.clip(2 * x - 1.6, 0, 1)
    out = np.stack([r, g, np.clip(bl, 0, 1)], axis=2)
    return (out * 255).astype(np.uint8)


def _heatmap(a: Pixels, b: Pixels, factor: int) -> Any:
    """Largest channel difference per displayed pixel (a factor x factor block), brightest = largest.

    Computed strip by strip, so a large pair costs no full-size temporary.
    """
    from PIL import Image

    h, w, _ = shape_of(a)
    oh, ow = -(-h // factor), -(-w // factor)
    out = np.zeros((oh, ow), dtype=np.uint8)
    step = factor * max(1, 256 // factor)
    for y0, y1 in strips(h, step):
        ra, rb = rows(a, y0, y1)[..., :3], rows(b, y0, y1)[..., :3]
        d = np.maximum(ra, rb)
        d -= np.minimum(ra, rb)
        m = d.max(axis=2)
        if factor > 1:
            ph, pw = -(-m.shape[0] // factor) * factor, ow * factor
            padded = np.zeros((ph, pw), dtype=np.uint8)
            padded[: m.shape[0], : m.shape[1]] = m
            m = padded.reshape(ph // factor, factor, ow, factor).max(axis=(1, 3))
        out[y0 // factor : y0 // factor + m.shape[0]] = m
    peak = int(out.max())
    x = out.astype(np.float64) / peak if peak > 0 else out.astype(np.float64)
    return Image.fromarray(_ramp(x), "RGB")


def _prompt_html(pd: PromptDiff) -> str:
    if pd.equal:
        return "<p class=dim>identical bytes</p>"
    parts = []

    def esc(text: str) -> str:
        out = html.escape(visible(text))
        return out.replace("⟦", "<span class=inv>").replace("⟧", "</span>")

    # the same runs the field diff found, so the page and the command line agree
    pos = 0
    for ch in pd.changes:
        parts.append(esc(pd.a[pos : ch.a_pos]))
        if ch.a_text:
            parts.append(f"<span class=del>{esc(ch.a_text)}</span>")
        if ch.b_text:
            parts.append(f"<span class=ins>{esc(ch.b_text)}</span>")
        pos = ch.a_pos + len(ch.a_text)
    parts.append(esc(pd.a[pos:]))
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
        a, b = c.decoded if c.decoded is not None else decode_pair(c.a_path, c.b_path, max_pixels=0)[:2]
        factor = _factor(a)
        ua, ub = (
            _png_uri(_display(a, factor)),
            _png_uri(_display(b, factor if shape_of(b) == shape_of(a) else _factor(b))),
        )
        heat = _png_uri(_heatmap(a, b, factor)) if shape_of(a) == shape_of(b) else None
        p = c.pixels
        psnr = "inf" if p.psnr == float("inf") else f"{p.psnr:.2f} dB"
        shown = f" &middot; shown reduced {factor}x" if factor > 1 else ""
        heat_fig = (
            f'<figure><img class=pix src="{heat}" alt="difference heatmap"><figcaption>difference heatmap '
            f"(brightest = largest)</figcaption></figure>"
            if heat
            else "<figure><figcaption>no difference heatmap: the sizes differ</figcaption></figure>"
        )
        # each image is inlined once; the slider and blink views take it from there
        images = f"""
<h2>Images</h2>
<p class=dim>max |diff| {p.max_abs_diff}/255 &middot; mean {p.mean_abs_diff:.3f} &middot; PSNR {psnr} &middot;
SSIM {p.ssim:.4f} &middot; {html.escape(changed_text(p))}{shown}{(" &middot; " + html.escape(p.note)) if p.note else ""}</p>
<div class=imgs>
<figure><img id=imga class=pix src="{ua}" alt="A"><figcaption>A: {html.escape(c.a_path)}<br>sha256 {p.hash_a[:16]}…</figcaption></figure>
<figure><img id=imgb class=pix src="{ub}" alt="B"><figcaption>B: {html.escape(c.b_path)}<br>sha256 {p.hash_b[:16]}…</figcaption></figure>
{heat_fig}
</div>
<h2>Compare</h2>
<div class=imgs>
<figure><div class=slider><img class="pix same-b" alt="B under"><img id=top class="pix top same-a" alt="A over"></div>
<input id=slide type=range min=0 max=100 value=50 style="width:320px" aria-label="slider A/B"><figcaption>slider: A left, B right</figcaption></figure>
<figure><img id=blinkimg class="pix same-a" alt="blink"><br><button id=blink>blink</button>
<figcaption>blink between A and B</figcaption></figure>
</div>"""
    causes = (
        "".join(
            f"<li><b>{html.escape(x.title)}</b> <span class=dim>(rank {x.rank}, {html.escape(x.field)})</span><br>"
            f"A: <code>{_cell(x.a)}</code><br>B: <code>{_cell(x.b)}</code><br>"
            f"<span class=dim>why: {html.escape(x.explanation)}<br>fix: {html.escape(x.fix)}</span></li>"
            for x in c.causes
        )
        or f"<li>none: {html.escape(c.diff.verdict())}</li>"
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
&nbsp; records: {html.escape(c.diff.verdict())}</p>
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
