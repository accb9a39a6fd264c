"""``api run`` and ``api drift`` against local stand-ins of each provider (standin.py: the
documented request checks and answer shapes, on 127.0.0.1; recorded shapes, not live calls)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

import seedlock
from seedlock.cli import cli
from tests.providers.standin import FILTER_WORD, StandIn

HEX = "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa"
KEY = "sk-test-4f2a9c1d8e7b6a5f"
ENVS = (
    "REPLICATE_API_TOKEN",
    "STABILITY_API_KEY",
    "FAL_KEY",
    "OPENAI_API_KEY",
    "BFL_API_KEY",
    "GOOGLE_ACCESS_TOKEN",
    "FIREFLY_ACCESS_TOKEN",
    "FIREFLY_CLIENT_ID",
    "IDEOGRAM_API_KEY",
    "LEONARDO_API_KEY",
    "TOGETHER_API_KEY",
    "FIREWORKS_API_KEY",
    "HF_TOKEN",
)

# (provider, url, body, headers, allow_unpinned, expected seed or None)
CASES: list[tuple[str, str, dict[str, Any], dict[str, str], bool, int | None]] = [
    ("replicate", "https://api.replicate.com/v1/predictions",
     {"version": f"stability-ai/sdxl:{HEX}", "input": {"prompt": "a fox", "seed": 42, "apply_watermark": False,
                                                       "output_format": "png"}}, {}, False, 42),
    ("replicate", "https://api.replicate.com/v1/models/black-forest-labs/flux-schnell/predictions",
     {"input": {"prompt": "a fox", "go_fast": False}}, {}, True, 68235),
    ("stability", "https://api.stability.ai/v2beta/stable-image/generate/core",
     {"prompt": "a fox", "seed": 7, "output_format": "png"}, {"Accept": "image/*"}, True, 7),
    ("stability", "https://api.stability.ai/v2beta/stable-image/generate/sd3",
     {"prompt": "a fox", "seed": 8, "model": "sd3.5-large", "output_format": "webp"}, {"Accept": "application/json"}, True, 8),
    ("fal", "https://queue.fal.run/fal-ai/flux/dev", {"prompt": "a fox", "seed": 9, "enable_safety_checker": False},
     {}, True, 9),
    ("openai", "https://api.openai.com/v1/images/generations", {"model": "gpt-image-2-2026-04-21", "prompt": "a fox"},
     {}, False, None),
    ("bfl", "https://api.bfl.ai/v1/flux-pro-1.1", {"prompt": "a fox", "seed": 42, "prompt_upsampling": False}, {}, True, 42),
    ("imagen", "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/publishers/google/models/imagen-3.0-generate-002:predict",
     {"instances": [{"prompt": "a fox"}], "parameters": {"sampleCount": 1, "seed": 11, "addWatermark": False,
                                                          "enhancePrompt": False, "language": "en"}}, {}, False, 11),
    ("firefly", "https://firefly-api.adobe.io/v3/images/generate-async", {"prompt": "a fox", "seeds": [5], "numVariations": 1},
     {"x-model-version": "image4_standard"}, False, 5),
    ("ideogram", "https://api.ideogram.ai/v1/ideogram-v3/generate", {"prompt": "a fox", "seed": 3, "magic_prompt": "OFF"},
     {}, True, 3),
    ("leonardo", "https://cloud.leonardo.ai/api/rest/v1/generations",
     {"prompt": "a fox", "modelId": "de7d3faf-762f-48e0-b3b7-9d0ac3a3fcf3", "seed": 5, "width": 512, "height": 512},
     {}, False, 5),
    ("together", "https://api.together.xyz/v1/images/generations",
     {"model": "black-forest-labs/FLUX.1-schnell-Free", "prompt": "a fox", "seed": 4, "response_format": "b64_json"},
     {}, True, 4),
    ("fireworks", "https://api.fireworks.ai/inference/v1/workflows/accounts/fireworks/models/flux-1-schnell-fp8/text_to_image",
     {"prompt": "a fox", "seed": 6}, {}, True, 6),
    ("huggingface", "https://my-sdxl.us-east-1.aws.endpoints.huggingface.cloud/",
     {"inputs": "a fox", "parameters": {"seed": 12}}, {}, False, 12),
    ("a1111", "http://127.0.0.1:7860/sdapi/v1/txt2img",
     {"prompt": "a fox", "seed": 1234, "steps": 20, "override_settings": {"sd_model_checkpoint": "v1-5.safetensors [6ce0161689]"}},
     {}, False, 1234),
]  # fmt: skip


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENVS:
        monkeypatch.setenv(name, KEY)


def captured(tmp_path: Path, url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Path:
    p = tmp_path / "request.json"
    p.write_text(json.dumps({"method": "POST", "url": url, "headers": headers or {}, "body": body}))
    return p


def api(*args: str) -> Any:
    return CliRunner().invoke(cli, ["api", *args], catch_exceptions=False)


def run(standin: StandIn, req: Path, out: Path, *extra: str) -> Any:
    return api(
        "run",
        str(req),
        "-o",
        str(out),
        "--endpoint",
        standin.base,
        "--poll-interval",
        "0.01",
        "--db",
        str(out / "catalog.db"),
        "--json",
        *extra,
    )


def no_secret_in(folder: Path) -> None:
    for f in folder.rglob("*"):
        if f.is_file():
            assert KEY.encode() not in f.read_bytes(), f


@pytest.mark.parametrize(
    ("provider", "url", "body", "headers", "allow", "seed"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_run_stores_a_complete_redacted_exchange_and_a_readable_image(
    tmp_path: Path,
    provider: str,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    allow: bool,
    seed: int | None,
) -> None:
    out = tmp_path / "out"
    with StandIn(provider) as s:
        res = run(
            s,
            captured(tmp_path, url, body, {**headers, "Authorization": f"Bearer {KEY}"}),
            out,
            *(["--allow-unpinned"] if allow else []),
        )
        assert res.exit_code == 0, res.output
        report = json.loads(res.stdout)
        assert s.state.requests, "the stand-in was called"
    image = Path(report["images"][0])
    rec = seedlock.read(image)
    assert rec.generator.value == "hosted"
    assert rec.extra["hosted"]["provider"] == provider
    if seed is not None:
        assert rec.seed == seed
        assert report["outputs"][0]["seed"] == seed
    if provider == "a1111":
        assert rec.steps == 20 and rec.model is not None and rec.model.name == "v1-5"
    sidecar = json.loads(Path(report["sidecar"]).read_text())
    assert sidecar["provider"] == provider
    assert sidecar["outputs"][0]["pixel_sha256"] == report["outputs"][0]["pixel_sha256"]
    assert {step["purpose"] for step in sidecar["steps"]} >= {"submit"}
    assert rec.extra["hosted"]["exchange"] == Path(report["sidecar"]).name
    no_secret_in(out)


def test_replicate_polls_retries_429_and_recovers_a_random_seed_from_logs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with StandIn("replicate") as s:
        s.state.rate_limited = 1
        s.state.polls = 3
        req = captured(
            tmp_path,
            "https://api.replicate.com/v1/models/black-forest-labs/flux-schnell/predictions",
            {"input": {"prompt": "a fox", "go_fast": False}},
        )
        t0 = time.monotonic()
        res = run(s, req, out, "--allow-unpinned")
        assert res.exit_code == 0, res.output
        assert time.monotonic() - t0 >= 1.0, "Retry-After was honoured"
    report = json.loads(res.stdout)
    purposes = [(st["purpose"], st["status"]) for st in report["steps"]]
    assert purposes[:2] == [("submit", 429), ("submit", 201)]
    assert sum(1 for p, _ in purposes if p == "poll") == 3
    assert report["version"] == "hidden"
    rec = seedlock.read(Path(report["images"][0]))
    assert rec.seed == 68235  # from "Using seed: 68235" in the logs
    assert any("hidden" in w for w in rec.warnings)
    assert rec.model is not None and rec.model.version is None


def test_unpinned_or_hidden_pass_requests_are_refused_without_consent(tmp_path: Path) -> None:
    with StandIn("replicate") as s:
        req = captured(
            tmp_path,
            "https://api.replicate.com/v1/models/black-forest-labs/flux-schnell/predictions",
            {"input": {"prompt": "a fox", "seed": 1}},
        )
        res = run(s, req, tmp_path / "out")
        assert res.exit_code == 2
        assert "go_fast" in res.stderr and "--allow-unpinned" in res.stderr
        assert s.state.requests == []


def test_missing_key_is_named_and_nothing_is_sent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BFL_API_KEY")
    with StandIn("bfl") as s:
        res = run(
            s,
            captured(
                tmp_path, "https://api.bfl.ai/v1/flux-pro-1.1", {"prompt": "x", "seed": 1, "prompt_upsampling": False}
            ),
            tmp_path / "out",
            "--allow-unpinned",
        )
        assert res.exit_code == 2 and "BFL_API_KEY" in res.stderr
        assert s.state.requests == []


def test_expiring_urls_are_downloaded_at_once(tmp_path: Path) -> None:
    with StandIn("bfl") as s:
        s.state.url_ttl = 0.5
        res = run(
            s,
            captured(
                tmp_path, "https://api.bfl.ai/v1/flux-pro-1.1", {"prompt": "x", "seed": 1, "prompt_upsampling": False}
            ),
            tmp_path / "out",
            "--allow-unpinned",
        )
        assert res.exit_code == 0, res.output
        report = json.loads(res.stdout)
        sample = next(st for st in report["steps"] if st["purpose"] == "poll" and st["response"]["status"] == "Ready")
        # the stored URL has its signature redacted; the live one no longer works either
        assert "sig=<redacted>" in sample["response"]["result"]["sample"]
        time.sleep(0.6)
        assert httpx.get(s.issued[-1]).status_code == 403
    assert Path(report["images"][0]).stat().st_size > 0


def test_prompt_rewrite_is_recorded_as_the_prompt_used(tmp_path: Path) -> None:
    with StandIn("bfl") as s:
        res = run(
            s,
            captured(tmp_path, "https://api.bfl.ai/v1/flux-2-pro", {"prompt": "a fox", "seed": 2}),
            tmp_path / "out",
            "--allow-unpinned",
        )
        assert res.exit_code == 0, res.output
    rec = seedlock.read(Path(json.loads(res.stdout)["images"][0]))
    assert rec.prompt == "a fox"
    assert rec.extra["hosted"]["prompt_used"].startswith("a fox, cinematic")
    assert any(p.name == "prompt_upsampling" for p in rec.postprocessing)
    assert any("rewrote the prompt" in w for w in rec.warnings)


@pytest.mark.parametrize("provider", ["stability", "bfl"])
def test_content_filtered_results_exit_1_and_keep_the_exchange(tmp_path: Path, provider: str) -> None:
    url, body = {
        "stability": (
            "https://api.stability.ai/v2beta/stable-image/generate/core",
            {"prompt": f"a {FILTER_WORD} fox", "seed": 3},
        ),
        "bfl": (
            "https://api.bfl.ai/v1/flux-pro-1.1",
            {"prompt": f"a {FILTER_WORD} fox", "seed": 3, "prompt_upsampling": False},
        ),
    }[provider]
    out = tmp_path / "out"
    with StandIn(provider) as s:
        res = run(s, captured(tmp_path, url, body), out, "--allow-unpinned")
    assert res.exit_code == 1
    assert "withheld" in res.stderr
    sidecars = list(out.glob("*.exchange.json"))
    assert len(sidecars) == 1 and json.loads(sidecars[0].read_text())["filtered"] is True


def test_provider_errors_are_one_line_with_the_key_redacted(tmp_path: Path) -> None:
    with StandIn("imagen") as s:
        url = "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/l/publishers/google/models/imagen-3.0-generate-002:predict"
        res = run(
            s,
            captured(
                tmp_path, url, {"instances": [{"prompt": "x"}], "parameters": {"seed": 1, "enhancePrompt": False}}
            ),
            tmp_path / "out",
            "--allow-unpinned",
        )
    assert res.exit_code == 2
    assert "Seed is not supported when watermark is enabled" in res.stderr
    assert KEY not in res.stderr and res.stderr.count("\n") == 1


def test_server_down_is_a_clear_error(tmp_path: Path) -> None:
    res = api(
        "run",
        str(
            captured(
                tmp_path,
                "https://api.openai.com/v1/images/generations",
                {"model": "gpt-image-2-2026-04-21", "prompt": "x"},
            )
        ),
        "-o",
        str(tmp_path / "o"),
        "--endpoint",
        "http://127.0.0.1:9",
        "--no-catalog",
    )
    assert res.exit_code == 2 and "cannot reach" in res.stderr


def test_run_logs_into_the_catalog(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with StandIn("fal") as s:
        res = run(
            s,
            captured(tmp_path, "https://queue.fal.run/fal-ai/flux/dev", {"prompt": "a fox", "seed": 9}),
            out,
            "--allow-unpinned",
        )
    assert res.exit_code == 0, res.output
    q = CliRunner().invoke(cli, ["catalog", "query", "--db", str(out / "catalog.db"), "--json"])
    assert q.exit_code == 0, q.output
    assert "a fox" in q.stdout


def _drift(s: StandIn, logged: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    res = api("drift", str(logged), "--endpoint", s.base, "--poll-interval", "0.01", "--no-catalog", "--json", *extra)
    assert res.exit_code in (0, 1), res.output
    return res.exit_code, json.loads(res.stdout)


def test_drift_reports_nothing_then_a_version_roll_then_a_pixel_change(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with StandIn("replicate") as s:
        req = captured(
            tmp_path,
            "https://api.replicate.com/v1/deployments/acme/sdxl/predictions",
            {"input": {"prompt": "a fox", "seed": 42, "output_format": "png"}},
        )
        res = run(s, req, out, "--allow-unpinned")
        assert res.exit_code == 0, res.output
        first = json.loads(res.stdout)
        code, same = _drift(s, Path(first["sidecar"]))
        assert code == 0 and same["pixels"] == ["bit-identical"] and same["causes"] == []
        s.state.version = "9" * 64  # the deployment is moved to a new version
        code, rolled = _drift(s, Path(first["images"][0]))  # from the image: its record names the sidecar
        assert code == 1
        assert rolled["causes"][0]["kind"] == "version" and rolled["causes"][0]["after"] == "9" * 64
        assert rolled["pixels"] == ["different"]
        s.state.version = HEX
        s.state.salt = 1  # same version and seed, other pixels: a non-deterministic server
        code, noisy = _drift(s, Path(first["sidecar"]))
        assert code == 1
        assert [c["kind"] for c in noisy["causes"]] == ["pixels"]
        assert noisy["pixels"] == ["visually indistinguishable"]
        assert "does not run deterministically" in noisy["causes"][0]["message"]


def test_diff_ranks_the_hosted_version_first(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with StandIn("replicate") as s:
        req = captured(
            tmp_path,
            "https://api.replicate.com/v1/deployments/acme/sdxl/predictions",
            {"input": {"prompt": "a fox", "seed": 42, "output_format": "png"}},
        )
        a = json.loads(run(s, req, out, "--allow-unpinned").stdout)["images"][0]
        s.state.version = "8" * 64
        b = json.loads(run(s, req, out, "--allow-unpinned").stdout)["images"][0]
    res = CliRunner().invoke(cli, ["diff", "--json", a, b])
    causes = json.loads(res.stdout)["causes"]
    assert "version" in causes[0]["field"] or "version" in causes[0]["title"].lower(), causes[0]
