"""diff: each cause detected and ranked; naming-only differences report nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import seedlock
from seedlock.diff.compare import compare
from seedlock.diff.fields import diff_records
from seedlock.diff.pixels import compare_arrays
from seedlock.diff.prompt import diff_prompts, lint_prompt, normalize_prompt
from seedlock.diff.rules import diagnose
from seedlock.extract import RawMetadata
from seedlock.readers import parse_raw, read
from seedlock.record import Adapter, ModelRef, PostProcess

from .conftest import needs_fixtures

WEBUI = "sd-metadata/png/sd-webui.png"


def _infotext(text: str):
    return parse_raw(RawMetadata(format="png", fields={"parameters": text}))


def _edit_pass(rec, **changes):
    p = rec.passes[0].__class__(**{**rec.passes[0].to_dict(), **changes})
    top = {
        k: v
        for k, v in changes.items()
        if k
        in (
            "seed",
            "steps",
            "cfg_scale",
            "denoise",
            "width",
            "height",
            "canonical_sampler",
            "canonical_scheduler",
            "sampler",
            "scheduler",
        )
    }
    return rec.replace(passes=(p, *rec.passes[1:]), **top)


def test_naming_only_differences_report_nothing() -> None:
    base = "a cat\nNegative prompt: dog\n"
    a = _infotext(
        base
        + "Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 42, Size: 512x768, Model hash: 45a21ea00a, Model: wai_v1"
    )
    b = _infotext(
        base
        + "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.0, Seed: 42, Size: 512x768, Model hash: 45a21ea00a, Model: wai_v1.safetensors"
    )
    d = diff_records(a, b.replace(generator_name=a.generator_name, generator_version=a.generator_version))
    assert d.fields == (), d.fields
    # the same recipe written by ComfyUI: sampler names and hash forms differ, meaning does not
    c = a.replace(model=ModelRef(name="models/wai_v1.safetensors", hashes={"sha256": "45a21ea00a" + "0" * 54}))
    assert diff_records(a, c).fields == ()


def test_legacy_plain_label_is_uniform_not_karras() -> None:
    old = _infotext("x\nSteps: 20, Sampler: DPM++ 2M, CFG scale: 7, Seed: 1, Size: 64x64")
    new = _infotext(
        "x\nSteps: 20, Sampler: DPM++ 2M, Schedule type: Automatic, CFG scale: 7, Seed: 1, Size: 64x64, Version: v1.10.1"
    )
    d = diff_records(old, new)
    assert [f.field for f in d.fields if f.category == "scheduler"] == ["scheduler"]


@needs_fixtures
@pytest.mark.parametrize(
    ("edit", "category", "rank"),
    [
        (lambda r: r.replace(model=ModelRef(name=r.model.name, hashes={"autov2": "ffffffffff"})), "model", 1),
        (lambda r: r.replace(model=ModelRef(name="other_model", hashes=r.model.hashes)), "model", 1),
        (lambda r: _edit_pass(r, canonical_sampler="euler", sampler="Euler"), "sampler", 2),
        (lambda r: _edit_pass(r, canonical_scheduler="exponential", scheduler="Exponential"), "scheduler", 2),
        (lambda r: _edit_pass(r, steps=21), "steps", 3),
        (lambda r: _edit_pass(r, cfg_scale=7.5), "cfg", 3),
        (lambda r: _edit_pass(r, width=1024, height=1032), "size", 3),
        (lambda r: r.replace(clip_skip=2), "clip_skip", 3),
        (lambda r: r.replace(adapters=(Adapter(kind="lora", name="detail", weight=0.7),)), "adapter", 4),
        (lambda r: _edit_pass(r, seed=r.seed + 1), "seed", 5),
        (lambda r: r.replace(rng="CPU"), "rng", 5),
        (lambda r: r.replace(ensd=31337), "rng", 5),
        (lambda r: r.replace(prompt=r.prompt.replace(",", "\uff0c", 1)), "prompt", 6),
        (lambda r: r.replace(prompt=r.prompt + "\u200b"), "prompt", 6),
        (lambda r: r.replace(precision={"FP8 weight": "Enable"}), "precision", 7),
        (lambda r: r.replace(generator_version="v1.9.0"), "version", 7),
        (
            lambda r: r.replace(postprocessing=(PostProcess(kind="face_restore", name="CodeFormer"),)),
            "postprocessing",
            8,
        ),
    ],
)
def test_each_cause_detected_and_ranked(images: Path, edit, category: str, rank: int) -> None:
    a = read(images / WEBUI)
    b = edit(a)
    causes = diagnose(diff_records(a, b))
    assert [c.category for c in causes] == [category]
    assert causes[0].rank == rank


@needs_fixtures
def test_ranking_orders_several_causes(images: Path) -> None:
    a = read(images / WEBUI)
    b = _edit_pass(a, steps=30, canonical_sampler="euler").replace(
        prompt=a.prompt + " ", model=ModelRef(name="v2", hashes={})
    )
    assert [c.category for c in diagnose(diff_records(a, b))] == ["model", "sampler", "steps", "prompt"]


@needs_fixtures
def test_real_pairs(images: Path) -> None:
    # same model file, different tools: A1111 PNG vs A1111 JPEG of another seed
    c = compare(images / WEBUI, images / "sd-metadata/jpg/sd-webui.jpg")
    cats = [x.category for x in c.causes]
    assert "seed" in cats and "cfg" in cats and "model" not in cats
    assert c.pixels is not None and c.pixels.verdict == "different"
    # a file and itself: identical
    same = compare(images / WEBUI, images / WEBUI)
    assert same.identical and same.pixels is not None and same.pixels.verdict == "bit-identical"
    # the model in SwarmUI (AutoV3) and Stability Matrix (sha256) cannot be compared by hash: not reported
    sw = read(images / "sd-metadata/png/swarmui.png")
    sm = read(images / "sd-metadata/png/stability-matrix.png")
    assert not [f for f in diff_records(sw, sm).fields if f.field == "model.hash"]


def test_unrecorded_cause_when_only_pixels_differ(tmp_path: Path) -> None:
    rec = seedlock.GenerationRecord(generator=seedlock.Generator.A1111, prompt="x", seed=1, steps=2)
    for name, seed in (("a.png", 1), ("b.png", 2)):
        Image.fromarray((np.random.default_rng(seed).random((16, 16, 3)) * 255).astype("uint8")).save(tmp_path / name)
        seedlock.write(rec, tmp_path / name)
    c = compare(tmp_path / "a.png", tmp_path / "b.png")
    assert c.diff.equivalent and [x.category for x in c.causes] == ["unrecorded"]
    assert "nondeterminism" in c.causes[0].explanation


def test_pixel_verdicts() -> None:
    a = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype("uint8")
    assert compare_arrays(a, a.copy()).verdict == "bit-identical"
    b = a.copy()
    b[10, 10, 0] ^= 1
    r = compare_arrays(a, b)
    assert r.verdict == "visually indistinguishable" and r.max_abs_diff == 1
    c = 255 - a
    assert compare_arrays(a, c).verdict == "different"
    small = a[:32, :32]
    r = compare_arrays(a, small)
    assert r.verdict == "different" and "sizes differ" in r.note


def _reference_ssim(a: np.ndarray, b: np.ndarray, k: int = 7) -> float:
    """Per-window SSIM straight from Wang et al.'s formula, in float64, one window at a time."""
    from numpy.lib.stride_tricks import sliding_window_view

    w = np.array([0.299, 0.587, 0.114])
    la, lb = a[..., :3].astype(np.float64) @ w, b[..., :3].astype(np.float64) @ w
    wa, wb = sliding_window_view(la, (k, k)), sliding_window_view(lb, (k, k))
    mu_a, mu_b = wa.mean(axis=(2, 3)), wb.mean(axis=(2, 3))
    var_a, var_b = wa.var(axis=(2, 3)), wb.var(axis=(2, 3))
    cov = ((wa - mu_a[..., None, None]) * (wb - mu_b[..., None, None])).mean(axis=(2, 3))
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(s.mean())


@pytest.mark.parametrize(
    "shape,region",
    [
        ((300, 90, 3), (slice(None), slice(None))),  # dense: two threaded bands, several strips
        ((300, 90, 3), (slice(140, 150), slice(20, 30))),  # local: only the grown box is computed
        ((70, 200, 4), (slice(0, 70), slice(199, 200))),  # edge column, RGBA (alpha ignored)
        ((7, 7, 3), (slice(3, 4), slice(3, 4))),  # a single window
    ],
)
def test_ssim_matches_the_textbook_formula(shape: tuple[int, int, int], region: tuple[slice, slice]) -> None:
    from seedlock.diff.pixels import ssim

    rng = np.random.default_rng(7)
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    b = a.copy()
    noise = rng.integers(-20, 21, b[region].shape)
    b[region] = np.clip(b[region].astype(int) + noise, 0, 255).astype(np.uint8)
    assert ssim(a, b) == pytest.approx(_reference_ssim(a, b), abs=1e-12)
    assert ssim(a, a.copy()) == 1.0


def test_difference_sums_are_exact() -> None:
    rng = np.random.default_rng(11)
    a = rng.integers(0, 256, (200, 150, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (200, 150, 3), dtype=np.uint8)
    r = compare_arrays(a, b)
    d = np.abs(a.astype(np.int64) - b.astype(np.int64))
    assert r.max_abs_diff == int(d.max())
    assert r.mean_abs_diff == pytest.approx(d.sum() / d.size, rel=1e-15)
    assert r.psnr == pytest.approx(10 * np.log10(255.0**2 / (d**2).mean()), rel=1e-12)
    assert r.changed_share == pytest.approx(np.count_nonzero((a != b).any(axis=2)) / (200 * 150))


def test_rgb_against_rgba_compares_with_opaque_alpha(tmp_path: Path) -> None:
    from seedlock.diff.pixels import compare_images, decode, pixel_hash

    arr = (np.random.default_rng(5).random((20, 30, 3)) * 255).astype("uint8")
    Image.fromarray(arr).save(tmp_path / "rgb.png")
    Image.fromarray(arr).convert("RGBA").save(tmp_path / "rgba.png")
    r = compare_images(tmp_path / "rgb.png", tmp_path / "rgba.png")
    assert r.verdict == "bit-identical"
    assert r.hash_a == pixel_hash(decode(tmp_path / "rgba.png"))
    assert compare_images(tmp_path / "rgba.png", tmp_path / "rgb.png").hash_b == r.hash_a


def test_png_and_lossless_webp_hash_alike(tmp_path: Path) -> None:
    from seedlock.diff.pixels import compare_images

    arr = (np.random.default_rng(3).random((20, 30, 3)) * 255).astype("uint8")
    Image.fromarray(arr).save(tmp_path / "a.png")
    Image.fromarray(arr).save(tmp_path / "a.webp", lossless=True)
    assert compare_images(tmp_path / "a.png", tmp_path / "a.webp").verdict == "bit-identical"


def test_prompt_hazards_are_named() -> None:
    d = diff_prompts('a "b" c', "a \u201cb\u201d c")
    assert d.invisible_only
    assert "U+201C LEFT DOUBLE QUOTATION MARK" in d.summary()
    assert diff_prompts("x\r\ny", "x\ny").changes[0].note == "CRLF vs LF line ends"
    assert (
        "NFC" in diff_prompts("caf\u00e9", "cafe\u0301").changes[0].note
        or diff_prompts("caf\u00e9", "cafe\u0301").invisible_only
    )
    kinds = {h.kind for h in lint_prompt("a\u00a0b \u2014 c\u200bd \uff41 \u0430 end ")}
    assert {
        "non-ASCII space",
        "dash look-alike",
        "zero-width or invisible",
        "full-width form",
        "homoglyph",
        "trailing whitespace",
    } <= kinds
    assert normalize_prompt("“a”\u00a0–\u200b b ") == '"a" - b'


def test_cli_diff_and_lint(tmp_path: Path) -> None:
    from seedlock.replay.demo import make_demo_images

    a, b = make_demo_images(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "seedlock", "diff", "--json", str(a), str(b)], capture_output=True, text=True
    )
    assert out.returncode == 1
    doc = json.loads(out.stdout)
    assert [c["category"] for c in doc["causes"]] == ["sampler", "scheduler", "prompt"]
    assert doc["pixels"]["verdict"] == "different"
    same = subprocess.run([sys.executable, "-m", "seedlock", "diff", str(a), str(a)], capture_output=True, text=True)
    assert same.returncode == 0 and "bit-identical" in same.stdout
    rec_json = tmp_path / "a.json"
    rec_json.write_text(
        subprocess.run(
            [sys.executable, "-m", "seedlock", "read", "--json", str(a)], capture_output=True, text=True
        ).stdout
    )
    vs_json = subprocess.run(
        [sys.executable, "-m", "seedlock", "diff", str(rec_json), str(a)], capture_output=True, text=True
    )
    assert vs_json.returncode == 0, vs_json.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "seedlock", "diff", str(a), str(tmp_path / "nope.png")], capture_output=True, text=True
    )
    assert bad.returncode == 2
    lint = subprocess.run(
        [sys.executable, "-m", "seedlock", "lint-prompt", "a \u201cb\u201d"], capture_output=True, text=True
    )
    assert lint.returncode == 1 and "U+201C" in lint.stdout


def test_clip_tokens_match_the_real_tokenizer() -> None:
    pytest.importorskip("regex")
    from seedlock.diff.tokens import diff_tokens, tokenizer
    from seedlock.errors import MissingExtra

    try:
        tok = tokenizer()
    except MissingExtra:
        pytest.skip("CLIP vocabulary missing from this installation")
    # well-known ids of OpenAI CLIP / transformers CLIPTokenizer
    assert tok.encode("a photo of a cat") == [49406, 320, 1125, 539, 320, 2368, 49407]
    # straight quote is one token, a curly quote two byte-level pieces (no ftfy un-curling)
    assert tok.encode('a "happy" cat')[2] == 257
    assert tok.encode("a \u201chappy\u201d cat")[2:4] == [728, 506]
    d = diff_tokens('a "happy" cat', "a \u201chappy\u201d cat")
    assert d.a_count == 5 and d.b_count == 7 and any("#728" in t for t in d.added)
    long = ", ".join(["masterpiece"] * 40)
    assert diff_tokens(long, long + ", cat").crosses_chunk is False
    assert diff_tokens(", ".join(["cat"] * 38), ", ".join(["cat"] * 39)).crosses_chunk
