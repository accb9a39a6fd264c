"""write(): the record goes in, pixels stay the same, other tools can read it back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import seedlock
from seedlock.errors import ImageFormatError, MetadataTooLarge
from seedlock.extract import extract
from seedlock.readers import parse_raw, read
from seedlock.record import Adapter, GenerationRecord, Generator, ModelRef, SamplingPass

from .conftest import needs_fixtures


def _record(prompt: str = "a “quoted” cat, テスト\nsecond line") -> GenerationRecord:
    p = SamplingPass(
        seed=1234,
        steps=20,
        cfg_scale=6.5,
        sampler="DPM++ 2M",
        scheduler="Karras",
        canonical_sampler="dpmpp_2m",
        canonical_scheduler="karras",
        width=64,
        height=96,
    )
    return GenerationRecord(
        generator=Generator.A1111,
        prompt=prompt,
        negative_prompt="blurry, lowres",
        seed=1234,
        steps=20,
        cfg_scale=6.5,
        sampler="DPM++ 2M",
        scheduler="Karras",
        canonical_sampler="dpmpp_2m",
        canonical_scheduler="karras",
        width=64,
        height=96,
        clip_skip=2,
        model=ModelRef(name="tiny", hashes={"sha256": "ab" * 32}),
        adapters=(Adapter(kind="lora", name="style", weight=0.8, weight_clip=0.8),),
        passes=(p,),
    )


def _pixels(path: Path) -> bytes:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA")).tobytes()


@pytest.mark.parametrize(
    ("fmt", "kw", "mode"),
    [
        ("PNG", {}, "RGB"),
        ("PNG", {}, "RGBA"),
        ("JPEG", {"quality": 90}, "RGB"),
        ("WEBP", {"lossless": True}, "RGBA"),
        ("WEBP", {"quality": 70}, "RGB"),
    ],
)
def test_round_trip_keeps_pixels_and_fingerprint(tmp_path: Path, fmt: str, kw: dict[str, object], mode: str) -> None:
    arr = (np.random.default_rng(0).random((40, 30, len(mode))) * 255).astype("uint8")
    path = tmp_path / f"img.{fmt.lower()}"
    Image.fromarray(arr, mode).save(path, fmt, **kw)
    before = _pixels(path)
    rec = _record()
    seedlock.write(rec, path)
    assert _pixels(path) == before
    back = read(path)
    assert back.generator is Generator.SEEDLOCK
    assert back.fingerprint == rec.fingerprint
    assert back.prompt == rec.prompt
    # the A1111-compatible copy alone gives the same recipe
    raw = extract(path)
    raw.fields.pop("seedlock", None)
    raw.fields.pop("Exif.MakerNote", None)
    alt = parse_raw(raw)
    assert alt.generator is Generator.A1111
    assert (alt.seed, alt.steps, alt.cfg_scale, alt.canonical_sampler, alt.canonical_scheduler) == (
        1234,
        20,
        6.5,
        "dpmpp_2m",
        "karras",
    )
    assert alt.prompt == rec.prompt and alt.negative_prompt == rec.negative_prompt


def test_write_to_other_path_leaves_source(tmp_path: Path) -> None:
    src = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(src)
    data = src.read_bytes()
    out = seedlock.write(_record(), src, tmp_path / "b.png")
    assert src.read_bytes() == data and read(out).generator is Generator.SEEDLOCK


def test_rewrite_replaces_old_record(tmp_path: Path) -> None:
    p = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(p)
    seedlock.write(_record("first"), p)
    seedlock.write(_record("second"), p)
    raw = extract(p)
    assert [k for k in raw.fields if k.startswith("seedlock")] == ["seedlock"]
    assert read(p).prompt == "second"


def test_jpeg_too_long_is_refused_cleanly(tmp_path: Path) -> None:
    p = tmp_path / "a.jpg"
    Image.new("RGB", (8, 8)).save(p)
    before = p.read_bytes()
    with pytest.raises(MetadataTooLarge):
        seedlock.write(_record("x" * 40000), p)
    assert p.read_bytes() == before


def test_write_refuses_non_image(tmp_path: Path) -> None:
    p = tmp_path / "a.png"
    p.write_bytes(b"nope")
    with pytest.raises(ImageFormatError):
        seedlock.write(_record(), p)
    assert p.read_bytes() == b"nope"


@needs_fixtures
def test_rewrite_real_image_keeps_other_chunks(tmp_path: Path, images: Path) -> None:
    src = images / "sd-metadata/png/sd-webui.png"
    dst = tmp_path / "x.png"
    rec = read(src)
    seedlock.write(rec, src, dst)
    assert _pixels(dst) == _pixels(src)
    assert read(dst).fingerprint == rec.fingerprint
