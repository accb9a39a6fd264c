"""After a write, every carrier in the file agrees with the record or is gone, and nothing
seedlock does not model is lost from A1111 text."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from seedlock.extract import extract
from seedlock.readers import read
from seedlock.readers.comfyui import record_from_graph
from seedlock.readers.infotext import split_infotext
from seedlock.writer import write, write_record

from ..conftest import needs_fixtures


def _fixture(images: Path, rel: str, tmp_path: Path) -> Path:
    dst = tmp_path / Path(rel).name
    shutil.copyfile(images / rel, dst)
    return dst


@needs_fixtures
def test_comfyui_graph_is_stripped_by_default(images: Path, tmp_path: Path) -> None:
    p = _fixture(images, "sd-metadata/png/comfyui.png", tmp_path)
    rec = read(p)
    assert rec.generator.value == "comfyui"
    result = write_record(rec.replace(seed=43), p)
    assert set(result.removed) >= {"prompt", "workflow"}
    raw = extract(p)
    assert "prompt" not in raw.fields and "workflow" not in raw.fields
    assert read(p).seed == 43


@needs_fixtures
def test_comfyui_graph_seed_is_updated_on_request(images: Path, tmp_path: Path) -> None:
    p = _fixture(images, "sd-metadata/png/comfyui.png", tmp_path)
    rec = read(p)
    result = write_record(rec.replace(seed=43), p, others="update")
    assert any(u.startswith("prompt") for u in result.updated)
    raw = extract(p)
    graph = json.loads(raw.fields["prompt"])
    assert record_from_graph(graph, raw).seed == 43  # the graph itself now says 43
    if "workflow" in raw.fields:
        assert "43" in raw.fields["workflow"]
    assert read(p).seed == 43


@needs_fixtures
def test_invokeai_metadata_does_not_survive_with_the_old_seed(images: Path, tmp_path: Path) -> None:
    p = _fixture(images, "sd-metadata/png/invokeai.png", tmp_path)
    rec = read(p)
    result = write(rec.replace(seed=(rec.seed or 0) + 1), p)
    raw = extract(result)
    assert "invokeai_metadata" not in raw.fields and "invokeai_graph" not in raw.fields
    assert read(p).seed == (rec.seed or 0) + 1


@needs_fixtures
@pytest.mark.parametrize(
    "rel", ["sd-metadata/png/sd-next.png", "sd-metadata/png/sd-webui.png", "sd-metadata/png/forge.png"]
)
def test_a1111_fields_seedlock_does_not_model_survive_a_round_trip(images: Path, tmp_path: Path, rel: str) -> None:
    p = _fixture(images, rel, tmp_path)
    rec = read(p)
    _, _, before = split_infotext(rec.raw["parameters"])
    write(rec.replace(seed=43), p)
    _, _, after = split_infotext(read(p).raw["parameters"])
    assert after.pop("Seed") == "43" and before.pop("Seed") != "43"
    assert after == before  # App, Pipeline, Operations, Version, legacy Model hash: all kept as written


def test_a_symlink_is_written_through(tmp_path: Path) -> None:
    from .build import INFOTEXT, png_with_text

    real = png_with_text(tmp_path / "real.png", {"parameters": INFOTEXT})
    link = tmp_path / "link.png"
    link.symlink_to(real)
    write(read(link).replace(seed=7), link)
    assert link.is_symlink() and read(real).seed == 7


def test_stealth_bits_are_reported_as_stale(tmp_path: Path) -> None:
    import gzip

    import numpy as np
    from PIL import Image

    from .build import INFOTEXT

    payload = gzip.compress(INFOTEXT.encode())
    bits = "".join(f"{b:08b}" for b in b"stealth_pngcomp") + f"{len(payload) * 8:032b}"
    bits += "".join(f"{b:08b}" for b in payload)
    side = 64
    arr = np.full((side, side, 4), 200, np.uint8)
    flat = arr[..., 3].T.reshape(-1)  # column-major, as the stealth format reads alpha
    flat[: len(bits)] = (flat[: len(bits)] & 0xFE) | np.array([int(c) for c in bits], np.uint8)
    arr[..., 3] = flat.reshape(side, side).T
    p = tmp_path / "s.png"
    Image.fromarray(arr, "RGBA").save(p)
    rec = read(p)
    assert rec.seed == 42
    result = write_record(rec.replace(seed=43), p)
    assert result.stale and "pixel LSBs" in result.stale[0]
    assert read(p).seed == 43  # the text carriers are read first
