"""A1111's ``RNG: NV`` noise: the Philox emulation against its documented output, and NV runs
generated, recorded and replayed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from seedlock.cli import cli
from seedlock.replay.nv_noise import NvGenerator


def test_seed_0_gives_the_documented_numbers() -> None:
    # A1111's rng_philox docstring (shared/specs/hashing-determinism.md): CUDA's torch.randn(3, 4) at
    # seed 0. A1111's emulation does Box-Muller in float64 where CUDA uses float32: within 3e-7.
    first_row = NvGenerator(0).randn((3, 4))[0]
    assert first_row.dtype == np.float32
    assert np.allclose(first_row, [-0.92466259, -0.42534415, -2.6438457, 0.14518388], rtol=0, atol=1e-6)


def test_each_call_advances_the_stream_and_a_seed_restarts_it() -> None:
    g = NvGenerator(1234)
    a, b = g.randn((4, 8, 8)), g.randn((4, 8, 8))
    assert not np.array_equal(a, b)
    assert np.array_equal(NvGenerator(1234).randn((4, 8, 8)), a)
    assert np.array_equal(NvGenerator(-1).randn((5,)), NvGenerator((1 << 64) - 1).randn((5,)))
    big = NvGenerator(7).randn((200_000,))
    assert abs(float(big.mean())) < 0.01 and abs(float(big.std()) - 1.0) < 0.01


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from seedlock.replay.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("nv") / "tiny.safetensors")


def test_an_nv_run_starts_from_the_nv_latent_and_replays_bit_for_bit(model: Path, tmp_path: Path) -> None:
    import hashlib

    out = tmp_path / "nv.png"
    res = CliRunner().invoke(cli, ["generate", "--model", str(model), "--prompt", "a fox", "--seed", "11", "--steps",
                                   "5", "--rng", "NV", "--trace", "-o", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["rng"] == "NV" and record["extra"]["seedlock"]["noise"] == "seedlock-nv-1"
    latent = NvGenerator(11).randn((4, 8, 8))[None]
    assert record["extra"]["seedlock"]["trace"]["noise"] == hashlib.sha256(latent.tobytes()).hexdigest()[:32]
    proc = subprocess.run([sys.executable, "-m", "seedlock", "replay", str(out), "--model", str(model), "--json"],
                          capture_output=True, text=True, env={**os.environ})  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert json.loads(proc.stdout)["verdict"] == "bit-identical"


@pytest.mark.parametrize(("sampler", "note"), [("Euler", None), ("Euler a", "per-step noise comes from the CPU")])
def test_an_a1111_nv_record_keeps_its_noise(sampler: str, note: str | None, model: Path, tmp_path: Path) -> None:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", f"a fox\nSteps: 5, Sampler: {sampler}, CFG scale: 7, Seed: 11, Size: 64x64, RNG: NV")
    image = tmp_path / "a1111.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(image, pnginfo=info)
    res = CliRunner().invoke(cli, ["replay", str(image), "--model", str(model), "--json"])
    assert res.exit_code == 1, res.output  # ran; the stand-in pixels differ
    notes = json.loads(res.output)["approximate"]
    assert not any("portable CPU noise" in n for n in notes)
    assert any(note in n for n in notes) if note else not any("NV" in n for n in notes)
