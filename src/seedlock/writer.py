"""Embed a record into an image without touching its pixels.

PNG gets two chunks before the first IDAT: seedlock's own iTXt ``seedlock`` (the full
record as JSON) and an A1111-compatible ``parameters`` chunk so other tools read it too.
JPEG and WebP get an EXIF block: UserComment holds the infotext (``UNICODE`` + UTF-16BE,
as A1111 writes it) and MakerNote holds ``seedlock:`` + JSON. Only metadata chunks
and segments are rewritten; image data is copied byte for byte. Writes are atomic:
a temporary file in the same folder, then a rename.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seedlock.errors import ImageFormatError, InvalidSpec, MetadataTooLarge
from seedlock.extract import sniff_format
from seedlock.extract.raw import EXIF_USER_COMMENT, RawMetadata
from seedlock.files import atomic_write_bytes
from seedlock.readers.seedlock_format import EXIF_PREFIX, PNG_KEY
from seedlock.record import GenerationRecord, Generator
from seedlock.samplers import A1111_SAMPLERS

__all__ = ["OTHER_CARRIERS", "WriteResult", "format_infotext", "write", "write_record"]

_A1111_LABEL = {v: k for k, v in reversed(list(A1111_SAMPLERS.items()))}
_A1111_LABEL_CASE = {
    "euler a": "Euler a",
    "euler": "Euler",
    "lms": "LMS",
    "heun": "Heun",
    "dpm2": "DPM2",
    "dpm2 a": "DPM2 a",
    "dpm++ 2s a": "DPM++ 2S a",
    "dpm++ 2m": "DPM++ 2M",
    "dpm++ sde": "DPM++ SDE",
    "dpm++ 2m sde": "DPM++ 2M SDE",
    "dpm++ 2m sde heun": "DPM++ 2M SDE Heun",
    "dpm++ 3m sde": "DPM++ 3M SDE",
    "dpm fast": "DPM fast",
    "dpm adaptive": "DPM adaptive",
    "restart": "Restart",
    "ddim": "DDIM",
    "ddim cfg++": "DDIM CFG++",
    "plms": "PLMS",
    "unipc": "UniPC",
    "lcm": "LCM",
    "heunpp2": "HeunPP2",
    "ipndm": "IPNDM",
    "ipndm_v": "IPNDM_V",
    "deis": "DEIS",
    "ddpm": "DDPM",
    "euler ancestral": "Euler a",
}
_SCHEDULE_LABEL = {
    "uniform": "Uniform",
    "karras": "Karras",
    "exponential": "Exponential",
    "polyexponential": "Polyexponential",
    "sgm_uniform": "SGM Uniform",
    "kl_optimal": "KL Optimal",
    "align_your_steps": "Align Your Steps",
    "simple": "Simple",
    "normal": "Normal",
    "ddim_uniform": "DDIM",
    "beta": "Beta",
    "turbo": "Turbo",
}
_REMOVE_PNG_KEYS = {PNG_KEY.encode(), b"parameters"}
#: PNG text keys that other tools read a recipe from; after a write they would contradict it
OTHER_CARRIERS = (
    "prompt",
    "workflow",
    "invokeai_metadata",
    "invokeai_graph",
    "sd-metadata",
    "Dream",
    "generation_data",
    "smproj",
    "parameters-json",
    "Comment",
    "sui_image_params",
)


def _quote(value: str) -> str:
    # A1111's quote(): JSON-encode values that hold a comma, colon or newline
    if any(c in value for c in ",:\n"):
        return json.dumps(value, ensure_ascii=False)
    return value


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def _fresh_items(rec: GenerationRecord) -> list[tuple[str, str]]:
    """The parameter items seedlock states for a record (without Version)."""
    items: list[tuple[str, str]] = []
    if rec.steps is not None:
        items.append(("Steps", str(rec.steps)))
    if rec.canonical_sampler:
        label = _A1111_LABEL.get(rec.canonical_sampler)
        items.append(
            (
                "Sampler",
                _A1111_LABEL_CASE.get(label, rec.sampler or rec.canonical_sampler)
                if label
                else rec.sampler or rec.canonical_sampler,
            )
        )
        if rec.canonical_scheduler:
            items.append(("Schedule type", _SCHEDULE_LABEL.get(rec.canonical_scheduler, rec.canonical_scheduler)))
    elif rec.sampler:
        items.append(("Sampler", rec.sampler))
    if rec.cfg_scale is not None:
        items.append(("CFG scale", _num(rec.cfg_scale)))
    if rec.seed is not None:
        items.append(("Seed", str(rec.seed)))
    if rec.width and rec.height:
        items.append(("Size", f"{rec.width}x{rec.height}"))
    if rec.model:
        h = rec.model.hashes
        short = h.get("autov2") or (h["sha256"][:10] if "sha256" in h else None)
        if short:
            items.append(("Model hash", short))
        if rec.model.name:
            items.append(("Model", rec.model.name))
    if rec.vae and rec.vae.name:
        items.append(("VAE", rec.vae.name))
    if rec.variation_seed is not None and rec.variation_strength:
        items.append(("Variation seed", str(rec.variation_seed)))
        items.append(("Variation seed strength", _num(rec.variation_strength)))
    if rec.denoise is not None and rec.denoise != 1.0:
        items.append(("Denoising strength", _num(rec.denoise)))
    hires = next((p for p in rec.passes[1:] if p.kind == "hires"), None)
    if hires is not None:
        if hires.denoise is not None:
            items.append(("Denoising strength", _num(hires.denoise)))
        if hires.width and hires.height:
            items += [("Hires resize-1", str(hires.width)), ("Hires resize-2", str(hires.height))]
        if hires.steps is not None:
            items.append(("Hires steps", str(hires.steps)))
        if hires.upscaler:
            items.append(("Hires upscaler", hires.upscaler))
    if rec.clip_skip and rec.clip_skip > 1:
        items.append(("Clip skip", str(rec.clip_skip)))
    if rec.ensd:
        items.append(("ENSD", str(rec.ensd)))
    if rec.rng and rec.rng != "GPU":
        items.append(("RNG", rec.rng))
    for a in rec.adapters:
        if a.kind == "refiner":
            short = a.hashes.get("autov2")
            items.append(("Refiner", f"{a.name} [{short}]" if short else a.name))
            if a.params.get("switch_at") is not None:
                items.append(("Refiner switch at", _num(float(a.params["switch_at"]))))
    loras = [a for a in rec.adapters if a.kind in ("lora", "lycoris") and a.hashes.get("autov3")]
    if loras:
        items.append(
            (
                "Lora hashes",
                ", ".join(f"{a.name.replace(':', '').replace(',', '')}: {a.hashes['autov3'][:12]}" for a in loras),
            )
        )
    for k, v in rec.precision.items():
        items.append((k, str(v)))
    return items


def _source_params(rec: GenerationRecord) -> tuple[dict[str, Any], GenerationRecord] | None:
    """The parameter line the record was read from (A1111 family), and the record it gave."""
    if rec.generator in (Generator.SEEDLOCK, Generator.NONE, Generator.UNKNOWN):
        return None
    from seedlock.readers.a1111 import record_from_infotext
    from seedlock.readers.infotext import looks_like_infotext, split_infotext

    for key in ("parameters", EXIF_USER_COMMENT):
        text = rec.raw.get(key)
        if text and looks_like_infotext(text):
            _, _, params = split_infotext(text)
            if not params:
                return None
            try:
                before = record_from_infotext(text, RawMetadata(format="png", fields={"parameters": text}))
            except ValueError:
                return None
            return params, before
    return None


def _value_text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return _quote(str(value))


def format_infotext(rec: GenerationRecord) -> str:
    """A1111 infotext for a record, so A1111/Forge/Civitai and other readers understand it.

    A record read from A1111-style text keeps that text's parameter line: only the items
    whose meaning the record changed are rewritten, so fields seedlock does not model
    (``Mask blur``, SD.Next's ``App`` and ``Pipeline``, the source's ``Version``) survive.
    """
    fresh = _fresh_items(rec)
    source = _source_params(rec)
    if source is None:
        items = [(k, _quote(v)) for k, v in fresh] + [("Version", _quote(f"seedlock {_version()}"))]
    else:
        params, before = source
        old, new = dict(_fresh_items(before)), dict(fresh)
        merged = {k: _value_text(v) for k, v in params.items()}
        for key in [*old, *(k for k in new if k not in old)]:
            if old.get(key) == new.get(key):
                continue
            if key in new:
                merged[key] = _quote(new[key])
            else:
                merged.pop(key, None)
        items = list(merged.items())
    text = rec.prompt or ""
    if rec.negative_prompt:
        text += "\nNegative prompt: " + rec.negative_prompt
    return (text + "\n" + ", ".join(f"{k}: {v}" for k, v in items)).strip()


def _version() -> str:
    from seedlock._version import __version__

    return __version__


def _record_json(rec: GenerationRecord) -> str:
    return json.dumps(rec.to_dict(include_raw=False), ensure_ascii=False, sort_keys=True, separators=(",", ":"))


# --- PNG ---------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _itxt(key: str, text: str, compress: bool) -> bytes:
    body = text.encode("utf-8")
    if compress:
        body = zlib.compress(body, 9)
    return _png_chunk(b"iTXt", key.encode("latin-1") + b"\x00" + bytes([int(compress), 0]) + b"\x00\x00" + body)


def _text_chunk(key: str, text: str) -> bytes:
    try:
        return _png_chunk(b"tEXt", key.encode("latin-1") + b"\x00" + text.encode("latin-1"))
    except UnicodeEncodeError:
        return _itxt(key, text, compress=False)


def _png_key(kind: bytes, data: bytes) -> bytes | None:
    if kind in (b"tEXt", b"zTXt", b"iTXt"):
        return data.split(b"\x00", 1)[0]
    return None


def _rewrite_png(data: bytes, rec: GenerationRecord, replace: Mapping[bytes, bytes | None] | None = None) -> bytes:
    """The PNG with seedlock's two chunks in front of the image data; ``replace`` maps another
    carrier's key to new chunk bytes (or None to drop it)."""
    replace = replace or {}
    out = [data[:8]]
    pos = 8
    inserted = False
    new = _itxt(PNG_KEY, _record_json(rec), compress=True) + _text_chunk("parameters", format_infotext(rec))
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > len(data):
            raise ImageFormatError(f"truncated PNG: chunk {kind!r} at offset {pos} runs past the end")
        if not inserted and kind in (b"IDAT", b"IEND"):
            out.append(new)
            inserted = True
        key = _png_key(kind, data[pos + 8 : pos + 8 + length])
        if key is not None and key in replace:
            chunk = replace[key]
            if chunk is not None:
                out.append(chunk)
        elif key not in _REMOVE_PNG_KEYS:
            out.append(data[pos:end])
        pos = end
        if kind == b"IEND":
            break
    if not inserted:
        raise ImageFormatError("PNG has no IDAT/IEND chunk")
    return b"".join(out)


# --- EXIF (JPEG, WebP) --------------------------------------------------------------


def _exif_blob(rec: GenerationRecord) -> bytes:
    """A big-endian TIFF with IFD0 -> ExifIFD {UserComment, MakerNote}."""
    comment = b"UNICODE\x00" + format_infotext(rec).encode("utf-16-be")
    note = (EXIF_PREFIX + _record_json(rec)).encode("utf-8")
    # layout: header(8) IFD0(2+12+4) ExifIFD(2+2*12+4) then data
    ifd0_off = 8
    exif_off = ifd0_off + 2 + 12 + 4
    data_off = exif_off + 2 + 2 * 12 + 4
    comment_off = data_off
    note_off = comment_off + len(comment)
    out = b"MM\x00\x2a" + struct.pack(">I", ifd0_off)
    out += struct.pack(">H", 1) + struct.pack(">HHII", 0x8769, 4, 1, exif_off) + struct.pack(">I", 0)
    out += struct.pack(">H", 2)
    out += struct.pack(">HHII", 0x927C, 7, len(note), note_off)
    out += struct.pack(">HHII", 0x9286, 7, len(comment), comment_off)
    out += struct.pack(">I", 0)
    return out + comment + note


def _rewrite_jpeg(data: bytes, rec: GenerationRecord) -> bytes:
    payload = b"Exif\x00\x00" + _exif_blob(rec)
    if len(payload) + 2 > 0xFFFF:
        raise MetadataTooLarge(
            f"record is {len(payload)} bytes; a JPEG EXIF segment holds at most 65533 (use PNG for long prompts)"
        )
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    out = [data[:2]]
    pos = 2
    inserted = False
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ImageFormatError(f"corrupt JPEG: expected a marker at offset {pos}")
        code = data[pos + 1]
        if code == 0xDA or code == 0xD9:
            if not inserted:
                out.append(segment)
            out.append(data[pos:])
            return b"".join(out)
        (length,) = struct.unpack_from(">H", data, pos + 2)
        end = pos + 2 + length
        if end > len(data):
            raise ImageFormatError(f"truncated JPEG: segment at offset {pos} runs past the end")
        is_exif = code == 0xE1 and data[pos + 4 : pos + 10] == b"Exif\x00\x00"
        if not inserted and code != 0xE0:
            # right after JFIF (APP0), where EXIF readers expect APP1
            out.append(segment)
            inserted = True
        if not is_exif:
            out.append(data[pos:end])
        pos = end
    raise ImageFormatError("JPEG has no image data (no SOS marker)")


def _rewrite_webp(data: bytes, rec: GenerationRecord) -> bytes:
    exif = _exif_blob(rec)
    chunks: list[tuple[bytes, bytes]] = []
    pos = 12
    while pos + 8 <= len(data):
        kind, length = struct.unpack_from("<4sI", data, pos)
        body = data[pos + 8 : pos + 8 + length]
        if len(body) < length:
            raise ImageFormatError(f"truncated WebP: chunk {kind!r} at offset {pos} runs past the end")
        chunks.append((kind, body))
        pos += 8 + length + (length & 1)
    kinds = [k for k, _ in chunks]
    if b"VP8X" not in kinds:
        width = height = 0
        alpha = False
        for kind, body in chunks:
            if kind == b"VP8L" and len(body) >= 5:
                bits = int.from_bytes(body[1:5], "little")
                width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
                alpha = bool((bits >> 28) & 1)
            elif kind == b"VP8 " and len(body) >= 10:
                width = int.from_bytes(body[6:8], "little") & 0x3FFF
                height = int.from_bytes(body[8:10], "little") & 0x3FFF
        if not width:
            raise ImageFormatError("WebP has no VP8/VP8L image chunk")
        vp8x = (
            bytes([0x10 if alpha else 0, 0, 0, 0])
            + (width - 1).to_bytes(3, "little")
            + (height - 1).to_bytes(3, "little")
        )
        chunks.insert(0, (b"VP8X", vp8x))
    out_chunks: list[tuple[bytes, bytes]] = []
    for kind, body in chunks:
        if kind == b"EXIF":
            continue
        if kind == b"VP8X":
            body = bytes([body[0] | 0x08]) + body[1:]
        out_chunks.append((kind, body))
    out_chunks.append((b"EXIF", exif))
    payload = b"WEBP" + b"".join(
        k + struct.pack("<I", len(b)) + b + (b"\x00" if len(b) & 1 else b"") for k, b in out_chunks
    )
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


@dataclass(frozen=True)
class WriteResult:
    """What a write did to the file's other carriers, so the caller can tell the user."""

    path: Path
    #: other tools' carriers taken out (they held the old recipe)
    removed: tuple[str, ...] = ()
    #: other carriers brought in line with the record (the ComfyUI graph's seed, ...)
    updated: tuple[str, ...] = ()
    #: carriers that still hold the old recipe and could not be changed (pixel LSBs are never touched)
    stale: tuple[str, ...] = ()


_SEED_INPUTS = ("seed", "noise_seed")


def _seed_widget(node_type: Any) -> int | None:
    """Where a node type keeps its seed in a UI workflow's widgets_values (the readers' widget table)."""
    from seedlock.readers.comfyui_nodes import WIDGETS

    names = WIDGETS.get(node_type, ()) if isinstance(node_type, str) else ()
    return next((i for i, name in enumerate(names) if name in _SEED_INPUTS), None)


def _png_text_fields(data: bytes) -> dict[bytes, str]:
    """The text of each other tool's carrier in a PNG (OTHER_CARRIERS), decoded as the extractor decodes it."""
    from seedlock.extract.png import parse_text_chunk

    out: dict[bytes, str] = {}
    raw = RawMetadata(format="png")
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        body = data[pos + 8 : pos + 8 + length]
        key = _png_key(kind, body)
        if key is not None and key.decode("latin-1") in OTHER_CARRIERS:
            raw.fields.clear()
            with contextlib.suppress(ImageFormatError):
                parse_text_chunk(kind, body, raw)
            if raw.fields:
                out[key] = next(iter(raw.fields.values()))
        pos += 12 + length
        if kind == b"IEND":
            break
    return out


def _set_graph_seed(graph: Any, seed: int, node: str | None) -> bool:
    """Set the seed of the record's sampler node (or every sampler's, when unnamed) in a ComfyUI graph."""
    changed = False
    if isinstance(graph, dict) and "nodes" in graph and isinstance(graph["nodes"], list):  # UI workflow
        for n in graph["nodes"]:
            i = _seed_widget(n.get("type")) if isinstance(n, dict) else None
            if i is None or (node is not None and str(n.get("id")) != node):
                continue
            widgets = n.get("widgets_values")
            if isinstance(widgets, list) and len(widgets) > i and isinstance(widgets[i], int):
                widgets[i] = seed
                changed = True
        return changed
    if isinstance(graph, dict):  # API prompt
        for nid, n in graph.items():
            if not isinstance(n, dict) or (node is not None and str(nid) != node):
                continue
            inputs = n.get("inputs")
            if not isinstance(inputs, dict):
                continue
            for name in _SEED_INPUTS:
                if isinstance(inputs.get(name), int) and not isinstance(inputs.get(name), bool):
                    inputs[name] = seed
                    changed = True
    return changed


def _carrier_plan(
    data: bytes, record: GenerationRecord, others: str
) -> tuple[dict[bytes, bytes | None], list[str], list[str], list[str]]:
    """What to do with each other carrier: (replacements, removed, updated, kept as they are)."""
    fields = _png_text_fields(data)
    replace: dict[bytes, bytes | None] = {}
    removed: list[str] = []
    updated: list[str] = []
    kept: list[str] = []
    seed_node = record.passes[0].node if record.passes else None
    for key, text in fields.items():
        name = key.decode("latin-1")
        if others == "keep":
            kept.append(name)
            continue
        if others == "update" and name in ("prompt", "workflow") and record.seed is not None:
            try:
                graph = json.loads(text)
            except ValueError:
                graph = None
            if graph is not None and _set_graph_seed(graph, record.seed, seed_node):
                replace[key] = _itxt(name, json.dumps(graph, ensure_ascii=False), compress=False)
                updated.append(f"{name} (sampler seed set to {record.seed})")
                continue
        replace[key] = None
        removed.append(name)
    return replace, removed, updated, kept


def write_record(
    record: GenerationRecord,
    image: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    others: str = "strip",
) -> WriteResult:
    """Embed ``record`` in ``image`` (in place, or into ``out``), atomically, and say what became of the rest.

    Args:
        others: what to do with other tools' recipe carriers (a ComfyUI graph, InvokeAI
            metadata, ...), which would contradict the new record: ``strip`` removes them,
            ``update`` sets the ComfyUI graphs' sampler seed to the record's and removes
            the others, ``keep`` leaves them (and lists them as stale).

    Raises:
        ImageFormatError: not a PNG, JPEG or WebP, or a damaged one.
        MetadataTooLarge: the record does not fit a JPEG EXIF segment.
        InvalidSpec: ``others`` is none of the three.
    """
    if others not in ("strip", "update", "keep"):
        raise InvalidSpec(f"others must be strip, update or keep, not {others!r}", value=others)
    src = Path(image)
    dst = Path(out) if out is not None else src
    data = src.read_bytes()
    fmt = sniff_format(data[:12])
    removed: list[str] = []
    updated: list[str] = []
    stale: list[str] = []
    try:
        if fmt == "png":
            replace, removed, updated, stale = _carrier_plan(data, record, others)
            new = _rewrite_png(data, record, replace)
        elif fmt == "jpeg":
            new = _rewrite_jpeg(data, record)
        elif fmt == "webp":
            new = _rewrite_webp(data, record)
        else:
            raise ImageFormatError("not a PNG, JPEG or WebP file")
    except ImageFormatError as exc:
        exc.path = exc.path or str(src)
        raise
    if fmt in ("png", "webp"):
        from seedlock.extract.stealth import read_stealth

        found = read_stealth(str(src))
        if found:
            # pixels are never changed; the text carriers written now are what readers take first
            stale.append(f"pixel LSBs ({found[0]})")
    atomic_write_bytes(dst, new)
    return WriteResult(dst, tuple(removed), tuple(updated), tuple(stale))


def write(record: GenerationRecord, image: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> Path:
    """Embed ``record`` in ``image`` (in place, or into ``out``), atomically; other tools' recipe
    carriers, which would contradict it, are removed (:func:`write_record` says which, and can
    update a ComfyUI graph's seed instead).

    Returns:
        The path written.

    Raises:
        ImageFormatError: not a PNG, JPEG or WebP, or a damaged one.
        MetadataTooLarge: the record does not fit a JPEG EXIF segment.
    """
    return write_record(record, image, out).path
