"""Benchmark ``seedlock read`` against its peers on one corpus, side by side.

Builds (once, cached in bench/.corpus/read) 5,000 images of 512x512 with real-looking
content: PNG with A1111 infotext, PNG with ComfyUI prompt+workflow graphs, JPEG and WebP
with A1111 EXIF UserComment, and one file in 250 whose metadata survives only in the
alpha LSBs (stealth pnginfo: A1111 infotext or NovelAI JSON, no text chunk left). Then
times, on the same files with a warm page cache:

* seedlock in-process (``seedlock.read`` per file, full parse into a record)
* a bare PNG chunk walker (the ceiling: finds the text, parses nothing)
* sd-parsers and sd-prompt-reader in-process, each in its own venv (bench/.venvs)
* exiftool batch mode (``exiftool -j -r``), and the ``seedlock read -r --jsonl`` command

and prints files/s, the ratio to seedlock, and how many files each read correctly
(the seed it reports equals the one written). Peers that are not installed are
reported as such; set them up with ``python bench/read_bench.py --setup``.

usage: python bench/read_bench.py [--files 5000] [--rounds 5] [--setup]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / ".corpus" / "read"
VENVS = HERE / ".venvs"
#: one file in this many carries its metadata only in the pixels (stealth pnginfo)
STEALTH_EVERY = 250
WORDS = [
    "masterpiece",
    "best",
    "quality",
    "portrait",
    "landscape",
    "cat",
    "dog",
    "castle",
    "forest",
    "neon",
    "city",
    "rain",
    "night",
    "sunset",
    "watercolor",
    "oil",
    "painting",
    "detailed",
    "eyes",
    "(smile:1.2)",
    "[blurry]",
    "cinematic",
    "lighting",
    "テスト",
    "“quoted”",
]
SAMPLERS = [
    ("DPM++ 2M", "Karras"),
    ("Euler a", "Automatic"),
    ("Euler", "Normal"),
    ("DPM++ SDE", "Karras"),
    ("DDIM", "Uniform"),
]


def _base_images(n: int) -> list:
    import numpy as np
    from PIL import Image, ImageFilter

    out = []
    rng = np.random.default_rng(0)
    for _ in range(n):
        small = (rng.random((16, 16, 3)) * 255).astype("uint8")
        img = Image.fromarray(small).resize((512, 512), Image.BICUBIC)
        noise = (rng.normal(0, 6, (512, 512, 3))).astype("int16")
        arr = np.clip(np.asarray(img).astype("int16") + noise, 0, 255).astype("uint8")
        out.append(Image.fromarray(arr).filter(ImageFilter.SMOOTH))
    return out


def _prompt(r: random.Random) -> str:
    return ", ".join(r.choice(WORDS) for _ in range(r.randint(8, 40)))


def _a1111(r: random.Random, seed: int) -> str:
    sampler, sched = r.choice(SAMPLERS)
    text = _prompt(r)
    if r.random() < 0.3:
        text += f" <lora:style{r.randint(1, 9)}:{r.choice(['0.6', '0.8', '1'])}>"
    params = (
        f"Steps: {r.randint(15, 40)}, Sampler: {sampler}, Schedule type: {sched}, CFG scale: {r.choice([5, 6.5, 7])}, "
        f"Seed: {seed}, Size: 512x512, Model hash: {r.getrandbits(40):010x}, Model: model_v{r.randint(1, 5)}"
    )
    if r.random() < 0.3:
        params += ", Denoising strength: 0.4, Hires upscale: 2, Hires upscaler: Latent"
    params += ", Version: v1.10.1"
    return f"{text}\nNegative prompt: {_prompt(r)}\n{params}"


def _comfy(r: random.Random, seed: int) -> tuple[str, str]:
    g = {
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": seed,
                "steps": 20,
                "cfg": 7.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
                "model": ["10", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": f"model_v{r.randint(1, 5)}.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": _prompt(r), "clip": ["10", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": _prompt(r), "clip": ["10", 1]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
        "10": {
            "class_type": "LoraLoader",
            "inputs": {
                "lora_name": "style.safetensors",
                "strength_model": 0.8,
                "strength_clip": 0.8,
                "model": ["4", 0],
                "clip": ["4", 1],
            },
        },
    }
    workflow = {
        "last_node_id": 10,
        "nodes": [{"id": int(k), "type": v["class_type"], "widgets_values": []} for k, v in g.items()],
    }
    return json.dumps(g), json.dumps(workflow)


def _png_with(base: bytes, chunks: list[tuple[str, str]]) -> bytes:
    idat = base.index(b"IDAT") - 4
    extra = b""
    for key, value in chunks:
        try:
            data = b"tEXt", key.encode() + b"\x00" + value.encode("latin-1")
        except UnicodeEncodeError:
            data = b"iTXt", key.encode() + b"\x00\x00\x00\x00\x00" + value.encode("utf-8")
        extra += struct.pack(">I", len(data[1])) + data[0] + data[1] + struct.pack(">I", zlib.crc32(data[0] + data[1]))
    return base[:idat] + extra + base[idat:]


def _stealth_png(img, text: str, compressed: bool) -> bytes:
    """Hide ``text`` in the alpha LSBs, column-major, as the stealth-pnginfo extension and
    NovelAI do (metadata-formats.md §1.6), and save with no text chunk at all: what is
    left after a site strips chunks from a lossless upload."""
    import gzip

    import numpy as np
    from PIL import Image

    payload = gzip.compress(text.encode("utf-8")) if compressed else text.encode("utf-8")
    sig = b"stealth_pngcomp" if compressed else b"stealth_pnginfo"
    data = sig + (len(payload) * 8).to_bytes(4, "big") + payload
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
    rgba = np.asarray(img.convert("RGBA")).copy()
    h, w = rgba.shape[:2]
    alpha = np.full(h * w, 255, dtype=np.uint8)
    alpha[: bits.size] = 254 | bits
    rgba[..., 3] = alpha.reshape(w, h).T  # column-major: x outer, y inner
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, "PNG")
    return buf.getvalue()


def _novelai_fields(r: random.Random, seed: int) -> str:
    comment = {
        "prompt": _prompt(r),
        "uc": _prompt(r),
        "steps": 28,
        "height": 512,
        "width": 512,
        "scale": 5.0,
        "seed": seed,
        "sampler": "k_euler_ancestral",
        "noise_schedule": "karras",
    }
    return json.dumps(
        {
            "Description": comment["prompt"],
            "Software": "NovelAI",
            "Source": "NovelAI Diffusion V4 4F6D8C8E",
            "Comment": json.dumps(comment),
        }
    )


def build_corpus(n: int) -> dict[str, int]:
    manifest = CORPUS / "manifest-v2.json"
    if manifest.exists():
        truth = json.loads(manifest.read_text())
        if len(truth) == n:
            return truth
    from PIL import Image

    shutil.rmtree(CORPUS, ignore_errors=True)
    CORPUS.mkdir(parents=True)
    bases = _base_images(12)
    pngs = []
    for img in bases:
        buf = io.BytesIO()
        img.save(buf, "PNG")
        pngs.append(buf.getvalue())
    r = random.Random(1)
    truth: dict[str, int] = {}
    for i in range(n):
        seed = r.randrange(2**32)
        kind = "png-a1111" if i % 20 < 14 else "png-comfy" if i % 20 < 18 else "jpeg" if i % 20 == 18 else "webp"
        if i % STEALTH_EVERY == STEALTH_EVERY - 1:
            kind = "png-stealth"
        sub = CORPUS / f"batch{i // 500:02d}"
        sub.mkdir(exist_ok=True)
        if kind == "png-a1111":
            path = sub / f"{i:05d}.png"
            path.write_bytes(_png_with(r.choice(pngs), [("parameters", _a1111(r, seed))]))
        elif kind == "png-stealth":
            path = sub / f"{i:05d}.png"
            if (i // STEALTH_EVERY) % 2:
                path.write_bytes(_stealth_png(r.choice(bases), _novelai_fields(r, seed), compressed=True))
            else:
                path.write_bytes(_stealth_png(r.choice(bases), _a1111(r, seed), compressed=False))
        elif kind == "png-comfy":
            path = sub / f"{i:05d}.png"
            prompt, wf = _comfy(r, seed)
            path.write_bytes(_png_with(r.choice(pngs), [("prompt", prompt), ("workflow", wf)]))
        else:
            exif = Image.Exif()
            exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + _a1111(r, seed).encode("utf-16-be")
            path = sub / f"{i:05d}.{'jpg' if kind == 'jpeg' else 'webp'}"
            r.choice(bases).save(path, "JPEG" if kind == "jpeg" else "WEBP", exif=exif, quality=85)
        truth[str(path)] = seed
    manifest.write_text(json.dumps(truth))
    return truth


# --- contenders ----------------------------------------------------------------------


def bare_walker(files: list[str], truth: dict[str, int]) -> tuple[float, int]:
    """The ceiling: walk PNG chunks, collect text, parse nothing."""
    t = time.perf_counter()
    ok = 0
    for path in files:
        texts = []
        with open(path, "rb", buffering=0) as f:
            fd = f.fileno()
            head = os.pread(fd, 65536, 0)
            if head[:8] != b"\x89PNG\r\n\x1a\n":
                continue
            pos = 8
            while True:
                hdr = head[pos : pos + 8] if pos + 8 <= len(head) else os.pread(fd, 8, pos)
                if len(hdr) < 8:
                    break
                length, kind = struct.unpack(">I4s", hdr)
                if kind in (b"tEXt", b"iTXt"):
                    body = (
                        head[pos + 8 : pos + 8 + length]
                        if pos + 8 + length <= len(head)
                        else os.pread(fd, length, pos + 8)
                    )
                    texts.append(body)
                elif kind == b"IEND":
                    break
                pos += 12 + length
        seed = str(truth[path]).encode()
        if any(seed in t for t in texts):
            ok += 1
    return time.perf_counter() - t, ok


def seedlock_inprocess(files: list[str], truth: dict[str, int]) -> tuple[float, int]:
    import seedlock  # as installed: a regular install compiles the read path (hatch_build.py)

    t = time.perf_counter()
    ok = 0
    for path in files:
        try:
            if seedlock.read(path).seed == truth[path]:
                ok += 1
        except Exception:
            pass
    return time.perf_counter() - t, ok


PEER_WORKER = r"""
import json, sys, time
files = json.load(open(sys.argv[2])); truth = json.load(open(sys.argv[3]))
kind = sys.argv[1]
if kind == "sd-parsers":
    from sd_parsers import ParserManager
    pm = ParserManager()
    def seed_of(p):
        info = pm.parse(p)
        return info.samplers[0].parameters.get("seed") if info and info.samplers else None
else:
    import logging
    logging.disable(logging.CRITICAL)
    from sd_prompt_reader.image_data_reader import ImageDataReader
    def seed_of(p):
        return ImageDataReader(p).parameter.get("seed")
ok = 0
t = time.perf_counter()
for p in files:
    try:
        s = seed_of(p)
        if s is not None and str(s).strip() == str(truth[p]):
            ok += 1
    except Exception:
        pass
print(json.dumps({"seconds": time.perf_counter() - t, "ok": ok}))
"""


def peer(kind: str, venv: str, files: list[str], truth: dict[str, int]) -> tuple[float, int] | None:
    py = VENVS / venv / "bin" / "python"
    if not py.exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "w.py").write_text(PEER_WORKER)
        (Path(tmp) / "f.json").write_text(json.dumps(files))
        (Path(tmp) / "t.json").write_text(json.dumps(truth))
        out = subprocess.run(
            [str(py), str(Path(tmp) / "w.py"), kind, str(Path(tmp) / "f.json"), str(Path(tmp) / "t.json")],
            capture_output=True,
            text=True,
        )
    if out.returncode != 0:
        print(f"  {kind} failed: {out.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return res["seconds"], res["ok"]


def exiftool(files: list[str], truth: dict[str, int]) -> tuple[float, int] | None:
    if not shutil.which("exiftool"):
        return None
    t = time.perf_counter()
    out = subprocess.run(["exiftool", "-j", "-r", "-q", "-q", str(CORPUS)], capture_output=True, text=True)
    seconds = time.perf_counter() - t
    ok = 0
    for entry in json.loads(out.stdout or "[]"):
        path = str(Path(entry.get("SourceFile", "")).resolve())
        seed = truth.get(path)
        if seed is not None and any(isinstance(v, str) and str(seed) in v for v in entry.values()):
            ok += 1
    return seconds, ok


def seedlock_cli(files: list[str], truth: dict[str, int], jobs: int = 0) -> tuple[float, int]:
    exe = shutil.which("seedlock") or str(Path(sys.executable).parent / "seedlock")
    t = time.perf_counter()
    out = subprocess.run([exe, "read", "-r", "--jsonl", "-j", str(jobs), str(CORPUS)], capture_output=True, text=True)
    seconds = time.perf_counter() - t
    ok = sum(1 for line in out.stdout.splitlines() if (o := json.loads(line)) and o.get("seed") == truth.get(o["path"]))
    return seconds, ok


def median_of(rounds: int, *runs: Callable[[], tuple[float, int] | None]) -> list[tuple[float, int] | None]:
    """Run each contender ``rounds`` times, interleaved, and keep its median time."""
    times: list[list[float]] = [[] for _ in runs]
    oks: list[int] = [0] * len(runs)
    for _ in range(rounds):
        for i, run in enumerate(runs):
            res = run()
            if res is not None:
                times[i].append(res[0])
                oks[i] = res[1]
    return [(statistics.median(t), ok) if t else None for t, ok in zip(times, oks)]


def setup() -> None:
    for venv, pkg in (("sdparsers", "sd-parsers"), ("sdpr", "sd-prompt-reader")):
        if not (VENVS / venv / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENVS / venv)], check=True)
            subprocess.run([str(VENVS / venv / "bin" / "pip"), "install", "-q", pkg], check=True)
    if not shutil.which("exiftool"):
        print("exiftool: apt-get install libimage-exiftool-perl", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--setup", action="store_true", help="create the peers' venvs first")
    ap.add_argument("--rounds", type=int, default=5, help="rounds per in-process contender (median kept)")
    a = ap.parse_args()
    if a.setup:
        setup()
    truth = build_corpus(a.files)
    files = sorted(truth)
    for p in files:  # warm the page cache
        Path(p).read_bytes()
    n = len(files)
    png_n = sum(1 for f in files if f.endswith(".png"))
    text_pngs = [f for f in files if f.endswith(".png") and not _is_stealth(f)]
    rows: list[tuple[str, tuple[float, int] | None, str, int]] = []
    import seedlock
    from seedlock._compiled import build_label

    print(f"seedlock {seedlock.__version__} ({build_label()}); medians of {a.rounds} interleaved rounds")
    sl, walker, same = median_of(
        a.rounds,
        lambda: seedlock_inprocess(files, truth),
        lambda: bare_walker(files, truth),
        lambda: seedlock_inprocess(text_pngs, truth),
    )
    assert sl is not None and walker is not None and same is not None
    rows.append(("seedlock (in-process)", sl, f"{n} files", n))
    rows.append(("bare PNG walker (ceiling)", walker, f"{png_n} PNG; finds text, parses nothing", png_n))
    rows.append(("seedlock, text-chunk PNGs only", same, "the files the walker can read", len(text_pngs)))
    rows.append(("sd-parsers (in-process)", peer("sd-parsers", "sdparsers", files, truth), "one round", n))
    rows.append(("sd-prompt-reader (in-process)", peer("sd-prompt-reader", "sdpr", files, truth), "one round", n))
    ex, cli, cli1 = median_of(
        max(3, a.rounds // 2),
        lambda: exiftool(files, truth),
        lambda: seedlock_cli(files, truth),
        lambda: seedlock_cli(files, truth, jobs=1),
    )
    rows.append(("exiftool -j -r (batch)", ex, "whole command", n))
    assert cli is not None and cli1 is not None
    rows.append(("seedlock read -r --jsonl", cli, f"whole command, {os.cpu_count()} processes", n))
    rows.append(("seedlock read -r --jsonl -j 1", cli1, "whole command, one process", n))
    base = n / sl[0]
    print(f"{'contender':32s} {'files/s':>10s} {'x seedlock':>11s} {'correct':>12s}  note")
    for name, res, note, count in rows:
        if res is None:
            print(f"{name:32s} {'not installed':>10s}")
            continue
        seconds, ok = res
        rate = count / seconds
        print(f"{name:32s} {rate:10.0f} {rate / base:10.2f}x {ok:6d}/{count:<5d}  {note}")

    def goal(text: str, met: bool) -> None:
        print(f"goal: {text}: {'met' if met else 'NOT met'}")

    sdp = rows[3][1]
    if sdp:
        goal(f"in-process >= 2x sd-parsers ({sdp[0] / sl[0]:.1f}x)", sdp[0] / sl[0] >= 2)
    like = (png_n / walker[0]) / (len(text_pngs) / same[0])
    goal(f"within 2.5x of the walker on the files it reads ({like:.2f}x)", like <= 2.5)
    if ex:
        goal(f"seedlock read -r --jsonl >= 10x exiftool batch ({ex[0] / cli[0]:.1f}x)", ex[0] / cli[0] >= 10)
        print(f"      (in one process, -j 1: {ex[0] / cli1[0]:.1f}x)")
    best_peer = max(r[1][1] for r in rows[3:6] if r[1] is not None)
    goal(f"strictly more files read correctly than any peer ({sl[1]} vs {best_peer})", sl[1] > best_peer)


def _is_stealth(path: str) -> bool:
    return int(Path(path).stem) % STEALTH_EVERY == STEALTH_EVERY - 1


if __name__ == "__main__":
    main()
