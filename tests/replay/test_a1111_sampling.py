"""A1111's sampling math against the real k-diffusion package, on the tiny model.

Every sampler seedlock maps for A1111, under every k-diffusion schedule A1111 offers, with
A1111's noise (the image's CPU seed, ancestral noise from the per-image generator, ENSD): the
final latents must equal the package's. The package is installed into the test cache on first
use (tests/replay/kdiffusion.py), never into the environment under test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.replay.kdiffusion import ensure_kdiffusion

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    from seedlock.replay.tiny import build_tiny

    site = ensure_kdiffusion(Path(os.environ.get("SEEDLOCK_TEST_CACHE") or ROOT / ".test-cache"))
    model = build_tiny(tmp_path_factory.mktemp("a1111") / "tiny.safetensors")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT / "src")])}
    proc = subprocess.run([sys.executable, str(ROOT / "tests/replay/kdiffusion_check.py"), str(site), str(model)],
                          capture_output=True, text=True, env=env, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return list(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_every_sampler_and_schedule_equals_k_diffusion(cases: list[dict[str, object]]) -> None:
    from seedlock.replay.a1111_sampling import SAMPLERS, SCHEDULES

    assert len(cases) == len(SAMPLERS) * len(SCHEDULES) + 3
    for case in cases:
        assert case["sigmas_equal"], case
        # "float tolerance" is the bar; on one CPU thread the two are the same operations
        assert float(case["max_diff"]) <= 1e-6 * float(case["scale"]), case  # type: ignore[arg-type]
    assert all(case["identical"] for case in cases)


def test_the_rules_that_set_a1111_apart_are_the_ones_measured() -> None:
    """The sigma table is float32 arithmetic (ComfyUI's is float64), the UNet sees fractional
    timesteps, and ENSD re-seeds only the ancestral noise."""
    import torch

    from seedlock.replay.a1111_sampling import CompVisSchedule, a1111_sigmas, initial_noise, step_noise
    from seedlock.replay.comfy_sampling import ModelSampling

    table = CompVisSchedule()
    assert not torch.equal(table.sigmas, ModelSampling().sigmas.float())
    t = table.sigma_to_t(a1111_sigmas("euler", None, 20, table)[3:4])
    assert t.item() != round(t.item())
    assert len(a1111_sigmas("dpm_2", None, 10, table)) == 11  # one step more, the next-to-last dropped
    shape = (1, 4, 8, 8)
    assert torch.equal(step_noise(shape, 5)(), initial_noise(shape, 5))  # no ENSD: the stream restarts
    assert not torch.equal(step_noise(shape, 5, ensd=31337)(), initial_noise(shape, 5))
