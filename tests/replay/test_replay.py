"""Generate, replay and verify on the built-in tiny model, on the CPU.

Pixel hashes depend on the torch/diffusers/transformers versions, so every test
compares runs with each other, never with a hard-coded hash.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the 'generate' extra (torch, diffusers, transformers) is not installed")
pytest.importorskip("diffusers", reason="the 'generate' extra is not installed")

from click.testing import CliRunner

from seedlock.cli import cli
from seedlock.errors import ReplayRefused, UnmappedScheduler
from seedlock.record import Adapter, GenerationRecord, Generator, ModelRef, SamplingPass
from seedlock.replay.recipe import Recipe, recipe_from_record
from seedlock.replay.run import Engine
from seedlock.replay.schedulers import SAMPLERS, SCHEDULES, scheduler_for


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine()


def base(models: dict[str, Path], **kw: object) -> Recipe:
    r = Recipe(model=str(models["tiny"]), prompt='a "happy" cat', negative_prompt="blurry", seed=42, steps=8)
    return r.with_(**kw)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_tiny_build_is_byte_reproducible(models: dict[str, Path], tmp_path: Path) -> None:
    code = "import sys; from seedlock.replay.tiny import build_tiny; build_tiny(sys.argv[1])"
    other = tmp_path / "again.safetensors"
    subprocess.run([sys.executable, "-c", code, str(other)], check=True, capture_output=True)
    assert other.read_bytes() == models["tiny"].read_bytes()


def test_generate_then_replay_in_another_process(models: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "a.png"
    code, text = run(
        "generate",
        "--model",
        str(models["tiny"]),
        "--prompt",
        'a "happy" cat',
        "--seed",
        "7",
        "--steps",
        "10",
        "--sampler",
        "DPM++ 2M Karras",
        "-o",
        str(out),
    )
    assert code == 0, text
    for f in ("a.png", "a.json", "a.prompt.txt", "a.negative.txt"):
        assert (tmp_path / f).exists()
    assert (tmp_path / "a.prompt.txt").read_bytes() == b'a "happy" cat'
    proc = subprocess.run(
        [sys.executable, "-m", "seedlock", "replay", str(out), "--model", str(models["tiny"]), "--json"],
        capture_output=True,
        text=True,
        env={**os.environ},
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    rep = json.loads(proc.stdout)
    assert rep["verdict"] == "bit-identical" and rep["promise"] == "bitwise"
    rec = json.loads((tmp_path / "a.json").read_text())
    sched = rec["extra"]["seedlock"]["scheduler"]
    assert sched["_class_name"] == "DPMSolverMultistepScheduler" and sched["use_karras_sigmas"] is True
    env = rec["extra"]["seedlock"]["environment"]
    assert env["threads"] == 1 and env["deterministic"] is True and env["torch"]


def test_replay_detects_an_edited_image(models: dict[str, Path], tmp_path: Path) -> None:
    from PIL import Image

    from seedlock.writer import write

    out = tmp_path / "a.png"
    assert run("generate", "--model", str(models["tiny"]), "--prompt", "x", "--steps", "4", "-o", str(out))[0] == 0
    rec = __import__("seedlock").read(out)
    img = Image.open(out).convert("RGB")
    img.putpixel((3, 3), (0, 0, 0))
    edited = tmp_path / "edited.png"
    img.save(edited)
    write(rec, edited)
    code, text = run("replay", str(edited), "--model", str(models["tiny"]), "--json")
    assert code == 1
    rep = json.loads(text)
    assert rep["verdict"] == "different" and rep["pixels"]["verdict"] in ("visually indistinguishable", "different")
    assert any(
        c["rank"] == 10 or "unrecorded" in c["title"].lower() or "nothing" in c["title"].lower() for c in rep["causes"]
    )


def test_verify_passes_and_each_perturbation_moves(models: dict[str, Path]) -> None:
    code, text = run("verify", "--model", str(models["tiny"]), "--prompt", 'a "happy" cat', "--steps", "6", "--json")
    assert code == 0, text
    rep = json.loads(text)
    names = [c["name"] for c in rep["checks"]]
    assert names == ["base", "repeat", "cfg +0.5", "steps +1", "sampler", "seed +1", "curly quote"]
    assert all(c["passed"] for c in rep["checks"])
    hashes = [c["pixel_sha256"] for c in rep["checks"]]
    assert hashes[0] == hashes[1] and len(set(hashes[1:])) == 6


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_every_sampler_row_runs_and_repeats(models: dict[str, Path], engine: Engine, sampler: str) -> None:
    sch, cfg = scheduler_for(sampler, None)
    assert cfg["_class_name"] == SAMPLERS[sampler][0] == type(sch).__name__
    for key, value in SAMPLERS[sampler][1].items():
        assert cfg[key] == value
    r = base(models, sampler=sampler, steps=4)
    assert engine.run(r).pixel_sha256 == engine.run(r).pixel_sha256


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
def test_every_schedule_row(models: dict[str, Path], engine: Engine, schedule: str) -> None:
    _, cfg = scheduler_for("dpmpp_2m", schedule)
    for key, value in SCHEDULES[schedule].items():
        assert cfg[key] == value
    r = base(models, sampler="dpmpp_2m", schedule=schedule, steps=4)
    assert engine.run(r).pixel_sha256 == engine.run(r).pixel_sha256


def test_scheduler_options_never_leak(models: dict[str, Path]) -> None:
    scheduler_for("dpmpp_2m", "karras")
    _, euler = scheduler_for("euler", None)
    assert euler["use_karras_sigmas"] is False
    with pytest.raises(UnmappedScheduler, match="no 'karras' schedule"):
        scheduler_for("ddim", "karras")
    with pytest.raises(UnmappedScheduler, match="no diffusers equivalent"):
        scheduler_for("dpm_adaptive", None)


def test_lora_weight_and_clip_skip_move_the_image(models: dict[str, Path], engine: Engine) -> None:
    from seedlock.replay.recipe import LoraSpec

    plain = engine.run(base(models)).pixel_sha256
    w8 = engine.run(base(models, loras=(LoraSpec("style", str(models["lora"]), 0.8),))).pixel_sha256
    w4 = engine.run(base(models, loras=(LoraSpec("style", str(models["lora"]), 0.4),))).pixel_sha256
    assert len({plain, w8, w4}) == 3
    # the LoRA is unloaded after each run: the plain recipe is unchanged
    assert engine.run(base(models)).pixel_sha256 == plain
    assert engine.run(base(models, clip_skip=2)).pixel_sha256 != plain
    assert engine.run(base(models, clip_skip=1)).pixel_sha256 == plain


def test_batch_image_k_alone(models: dict[str, Path], engine: Engine) -> None:
    assert engine.run(base(models, batch_index=1)).pixel_sha256 == engine.run(base(models, seed=43)).pixel_sha256


def a1111_record(models: dict[str, Path], **kw: object) -> GenerationRecord:
    from seedlock.pin.hashing import hash_file

    h = hash_file(models["tiny"], "sha256").hashes
    rec = GenerationRecord(
        generator=Generator.A1111,
        prompt='a "happy" cat <lora:style:0.7>',
        negative_prompt="blurry",
        seed=5,
        steps=6,
        cfg_scale=6.5,
        sampler="Euler a",
        canonical_sampler="euler_ancestral",
        width=64,
        height=64,
        clip_skip=2,
        rng="CPU",
        model=ModelRef(name="tiny", hashes={"autov2": h["autov2"]}),
        adapters=(Adapter(kind="lora", name="style", weight=0.7),),
    )
    return rec.replace(**kw)


def test_a1111_style_record_replays(models: dict[str, Path], tmp_path: Path) -> None:
    from PIL import Image, PngImagePlugin

    from seedlock.writer import format_infotext

    img = tmp_path / "a1111.png"
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", format_infotext(a1111_record(models)))
    Image.new("RGB", (64, 64), (9, 9, 9)).save(img, pnginfo=info)
    assert __import__("seedlock").read(img).generator == Generator.A1111
    # the model is found by its A1111 hash through the index; the LoRA by name on the command line
    assert run("model", "scan", str(models["tiny"]))[0] == 0
    lora = f"style={models['lora']}"
    code, text = run("generate", str(img), "--lora", lora, "-o", str(tmp_path / "r1.png"), "--json")
    assert code == 0, text
    out = json.loads(text)
    assert out["record"]["prompt"] == 'a "happy" cat '  # the LoRA tag is applied, not encoded
    assert out["record"]["clip_skip"] == 2 and out["record"]["cfg_scale"] == 6.5
    assert out["record"]["adapters"][0]["weight"] == 0.7
    assert out["approximate"] == []  # RNG: CPU noise is what seedlock draws
    _, text2 = run("generate", str(img), "--lora", lora, "-o", str(tmp_path / "r2.png"), "--json")
    assert json.loads(text2)["pixel_sha256"] == out["pixel_sha256"]
    # replaying the A1111 image itself runs, says it differs, and says why it cannot promise bits
    code, text = run("replay", str(img), "--lora", lora, "--json")
    assert code == 1
    rep = json.loads(text)
    assert rep["verdict"] == "different" and rep["promise"] == "numerically close"
    # GPU noise is marked approximate, never silently changed
    gpu = recipe_from_record(a1111_record(models, rng=None), model=models["tiny"], loras={"style": str(models["lora"])})
    assert any("GPU noise" in n for n in gpu.approximate)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"canonical_sampler": "dpm_adaptive", "sampler": "DPM adaptive"}, "no diffusers equivalent"),
        ({"passes": (SamplingPass(seed=1), SamplingPass(seed=1, denoise=0.5))}, "2 sampling passes"),
        ({"passes": (SamplingPass(kind="img2img", seed=1, denoise=0.5),)}, "its input image is not recorded"),
        ({"passes": (SamplingPass(seed=1), SamplingPass(kind="refiner", seed=1))}, "one and a hires fix"),
        ({"model": ModelRef(name="tiny", hashes={"autov2": "0000000000"})}, "is not the record's model"),
        ({"adapters": (Adapter(kind="lora", name="gone", weight=1.0),)}, "LoRA 'gone' is not on disk"),
        ({"adapters": (Adapter(kind="controlnet", name="canny"),)}, "controlnet adapters are not replayed"),
        ({"seed": None}, "no seed"),
    ],
)
def test_refusals_name_their_reason(models: dict[str, Path], change: dict[str, object], reason: str) -> None:
    with pytest.raises(ReplayRefused, match=reason):
        recipe_from_record(a1111_record(models, **change), model=models["tiny"], loras={"style": str(models["lora"])})


def test_refusal_is_one_line_exit_2(models: dict[str, Path], tmp_path: Path) -> None:
    rec = tmp_path / "r.json"
    rec.write_text(json.dumps(a1111_record(models, canonical_sampler="dpm_adaptive").to_dict()))
    code, text = run("generate", str(rec), "--model", str(models["tiny"]), "-o", str(tmp_path / "x.png"))
    assert code == 2 and "no diffusers equivalent" in text and "Traceback" not in text
    pickle = tmp_path / "m.ckpt"
    pickle.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    code, text = run("generate", "--model", str(pickle), "--prompt", "x", "-o", str(tmp_path / "y.png"))
    assert code == 2 and "pickle checkpoints are never loaded" in text


def test_deterministic_mode_restores_global_state() -> None:
    import torch

    from seedlock.replay.determinism import deterministic_mode, snapshot

    torch.set_num_threads(2)
    before = snapshot()
    with deterministic_mode(threads=1) as settings:
        assert torch.are_deterministic_algorithms_enabled() and torch.get_num_threads() == 1
        assert settings["cudnn_allow_tf32"] is False and os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert snapshot() == before
    with pytest.raises(RuntimeError), deterministic_mode(threads=1):
        raise RuntimeError("boom")
    assert snapshot() == before


def test_trace_diff_names_the_first_divergence(models: dict[str, Path], tmp_path: Path) -> None:
    common = ["--model", str(models["tiny"]), "--seed", "3", "--steps", "5", "--trace"]
    a, b, c, d = (tmp_path / f"{n}.png" for n in "abcd")
    assert run("generate", *common, "--prompt", 'say "hi"', "-o", str(a))[0] == 0
    assert run("generate", *common, "--prompt", 'say "hi"', "-o", str(b))[0] == 0
    assert run("generate", *common, "--prompt", 'say \u201chi"', "-o", str(c))[0] == 0
    assert run("generate", *common, "--prompt", 'say "hi"', "--sampler", "DPM++ 2M", "-o", str(d))[0] == 0
    code, text = run("trace-diff", str(a), str(b))
    assert code == 0 and text.startswith("Identical")
    code, text = run("trace-diff", str(a), str(c), "--json")
    assert code == 1 and json.loads(text)["stage"] == "prompt_embeds"
    code, text = run("trace-diff", str(a), str(d))
    assert code == 1 and "noise equal, latents differ from step 1" in text


def test_no_network_is_touched(models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("network access")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    fresh = Engine()
    assert len(fresh.run(base(models, steps=2)).pixel_sha256) == 64
