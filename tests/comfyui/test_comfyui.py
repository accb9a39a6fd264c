"""seedlock against a real ComfyUI server (started by conftest.py): verify, replay, strip, lint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from tests.comfyui.conftest import LORA, txt2img

import seedlock
from seedlock.cli import cli
from seedlock.comfyui.client import ComfyClient
from seedlock.comfyui.graph import LoadedGraph
from seedlock.comfyui.runs import cold_run

pytestmark = pytest.mark.comfyui


def comfy(*args: str) -> Any:
    return CliRunner().invoke(cli, ["comfy", *args], catch_exceptions=False)


def graph_file(tmp_path: Path, graph: dict[str, Any], name: str = "graph.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(graph))
    return p


def test_verify_passes_a_deterministic_txt2img_graph(comfy_server: str, tmp_path: Path) -> None:
    res = comfy("verify", str(graph_file(tmp_path, txt2img())), "--server", comfy_server, "-o", str(tmp_path / "out"),
                "--no-catalog", "--json")  # fmt: skip
    report = json.loads(res.stdout)
    assert res.exit_code == 0, report
    names = [c["name"] for c in report["checks"]]
    assert names[0] == "repeat: same pixels"
    assert {"seed +1", "cfg +0.5", "steps +1", "sampler swapped"} <= set(names)
    assert sum("quote curled" in n for n in names) == 2  # each text encoder's prompt
    env = report["environment"]
    assert env["comfyui_version"] and env["pytorch_version"].startswith("2.13") and env["device_type"] == "cpu"
    assert "--cpu" in env["argv"]
    # every output carries the record: the graph run, the environment, the model file hashes
    rec = seedlock.read(report["outputs"][0])
    run = rec.extra["comfyui_run"]
    assert run["environment"]["comfyui_version"] == env["comfyui_version"]
    assert run["graph_run"]["3"]["class_type"] == "KSampler"
    assert rec.seed == 42 and rec.steps == 6


def test_verify_passes_a_two_pass_hires_graph_with_a_lora(comfy_server: str, models_dir: Path, tmp_path: Path) -> None:
    g = txt2img(lora=0.8, hires=True)
    res = comfy("verify", str(graph_file(tmp_path, g)), "--server", comfy_server, "-o", str(tmp_path / "out"),
                "--models", str(models_dir), "--db", str(tmp_path / "cat.db"), "--json")  # fmt: skip
    report = json.loads(res.stdout)
    assert res.exit_code == 0, [c for c in report["checks"] if not c["passed"]]
    names = {c["name"] for c in report["checks"]}
    assert f"LoRA {LORA} strength_model +0.1" in names and f"LoRA {LORA} strength_clip +0.1" in names
    assert report["models"][LORA]["sha256"] and len(report["models"][LORA]["sha256"]) == 64
    q = CliRunner().invoke(cli, ["catalog", "query", "--db", str(tmp_path / "cat.db"), "--json"])
    assert q.exit_code == 0 and len(json.loads(q.stdout)) == len(report["outputs"])


def test_a_cached_run_is_detected_and_not_counted(comfy_server: str) -> None:
    g = txt2img(seed=7)
    with ComfyClient(comfy_server) as client:
        cold_run(client, g)
        warm = cold_run(client, g, free=False)  # the naive "run it again"
        assert warm.cached_samplers == ("3",)
        cold = cold_run(client, g)
        assert cold.cached_samplers == ()


def test_a_knob_the_graph_ignores_fails_verify(comfy_server: str, tmp_path: Path) -> None:
    from seedlock.comfyui.verify import verify

    g = txt2img(seed=5)
    g["7"]["inputs"]["text"] = "blurry"
    # the negative encoder feeds nothing: curling its quote cannot move pixels; and with the same
    # conditioning on both sides, classifier-free guidance has nothing to scale, so cfg is ignored too
    g["3"]["inputs"]["negative"] = ["6", 0]
    with ComfyClient(comfy_server) as client:
        report = verify(client, LoadedGraph(g, None, "ignored.json"), tmp_path)
    failed = [c.name for c in report.checks if not c.passed]
    assert failed == ["cfg +0.5", "quote curled in node 7 text"], failed


def test_strip_finds_the_planted_unseeded_node_and_passes_the_base(comfy_server: str, tmp_path: Path) -> None:
    g = txt2img(seed=3, hires=True, post="SeedlockUnseededNoise")
    res = comfy("strip", str(graph_file(tmp_path, g)), "--server", comfy_server, "--json")
    report = json.loads(res.stdout)
    assert res.exit_code == 1
    stages = {s["name"]: s["seedable"] for s in report["stages"]}
    assert report["stages"][0]["name"] == "base" and report["stages"][0]["seedable"]
    assert report["first_unseedable"]["added"]["class_type"] == "SeedlockUnseededNoise"
    assert [p["kind"] for p in report["passes"]] == ["latent upscale", "second sampling pass", "decode", "image filter"]
    assert all(v for k, v in stages.items() if "SeedlockUnseededNoise" not in k)


def test_replay_of_a_server_png_is_bit_identical_then_a_changed_lora_is_the_cause(
    comfy_server: str, models_dir: Path, tmp_path: Path
) -> None:
    lora = models_dir / "loras" / LORA
    original = lora.read_bytes()
    g = txt2img(seed=11, lora=1.0)
    res = comfy("verify", str(graph_file(tmp_path, g)), "--server", comfy_server, "-o", str(tmp_path / "made"),
                "--models", str(models_dir), "--no-knobs", "--no-catalog", "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    png = json.loads(res.stdout)["outputs"][0]
    res = comfy("replay", png, "--server", comfy_server, "-o", str(tmp_path / "again"), "--models", str(models_dir),
                "--no-catalog", "--json")  # fmt: skip
    first = json.loads(res.stdout)
    assert res.exit_code == 0 and first["verdict"] == "bit-identical", first
    try:
        from safetensors.numpy import load_file, save_file

        tensors = load_file(str(lora))
        key = sorted(k for k in tensors if k.endswith("lora_up.weight"))[0]
        tensors[key] = tensors[key] * 3
        save_file(tensors, str(lora))
        res = comfy("replay", png, "--server", comfy_server, "-o", str(tmp_path / "again"), "--models", str(models_dir),
                    "--no-catalog", "--json")  # fmt: skip
        changed = json.loads(res.stdout)
    finally:
        lora.write_bytes(original)
    assert res.exit_code == 1 and changed["verdict"] != "bit-identical"
    assert changed["causes"][0]["kind"] == "model" and LORA in changed["causes"][0]["message"]


def test_lint_flags_a_randomize_seed_and_an_ancestral_sampler(tmp_path: Path) -> None:
    g = txt2img(sampler="euler_ancestral")
    workflow = {"nodes": [{"id": 3, "type": "KSampler", "widgets_values": [42, "randomize", 6, 7.0, "euler_ancestral",
                                                                           "normal", 1.0]}], "links": []}  # fmt: skip
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"prompt": g, "extra_data": {"extra_pnginfo": {"workflow": workflow}}}))
    res = comfy("lint", str(body), "--json")
    report = json.loads(res.stdout)
    assert res.exit_code == 1
    kinds = {(f["kind"], f["node"]) for f in report["findings"]}
    assert ("seed-control", "3") in kinds and ("device-noise", "3") in kinds
    assert any(f["kind"] == "unhashed-model" for f in report["findings"])


def test_lint_passes_a_clean_graph_and_names_a_stored_random_seed(tmp_path: Path) -> None:
    res = comfy("lint", str(graph_file(tmp_path, txt2img())), "--json")
    assert res.exit_code == 0, res.output
    g = txt2img()
    g["3"]["inputs"]["seed"] = -1
    res = comfy("lint", str(graph_file(tmp_path, g, "neg.json")), "--json")
    assert res.exit_code == 1 and any(f["kind"] == "unseeded" for f in json.loads(res.stdout)["findings"])


def test_errors_are_one_line(comfy_server: str, tmp_path: Path) -> None:
    g = txt2img()
    g["4"]["inputs"]["ckpt_name"] = "missing.safetensors"
    res = CliRunner().invoke(cli, ["comfy", "verify", str(graph_file(tmp_path, g)), "--server", comfy_server, "--no-catalog"])
    assert res.exit_code == 2 and "node 4 (CheckpointLoaderSimple)" in res.stderr and res.stderr.count("\n") == 1
    g = txt2img()
    g["20"] = {"class_type": "NoSuchNodePack", "inputs": {}}
    res = CliRunner().invoke(cli, ["comfy", "verify", str(graph_file(tmp_path, g, "x.json")), "--server", comfy_server])
    assert res.exit_code == 2 and "NoSuchNodePack" in res.stderr
    res = CliRunner().invoke(cli, ["comfy", "verify", str(graph_file(tmp_path, g, "y.json")), "--server", "http://127.0.0.1:9"])
    assert res.exit_code == 2 and "no ComfyUI server answers" in res.stderr
