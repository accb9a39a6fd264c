"""``api lint`` on the request shapes the providers document (hosted-providers.md, local-apis.md):
every documented hidden toggle and unpinned model is found; a fully pinned request passes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from seedlock.cli import cli
from seedlock.providers.lint import lint, load_request, redact
from seedlock.providers.model import PROVIDERS, detect

HEX = "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa"


def captured(tmp_path: Path, url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Path:
    p = tmp_path / "req.json"
    p.write_text(json.dumps({"method": "POST", "url": url, "headers": headers or {}, "body": body}))
    return p


def run_lint(
    tmp_path: Path, url: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(cli, ["api", "lint", "--json", str(captured(tmp_path, url, body, headers))])
    return result.exit_code, json.loads(result.stdout)


def fields(report: dict[str, Any], severity: str | None = None) -> set[str]:
    return {f["field"] for f in report["findings"] if severity is None or f["severity"] == severity}


CASES = [
    # (url, body, headers, fields that must be flagged)
    ("https://api.replicate.com/v1/models/black-forest-labs/flux-schnell/predictions",
     {"input": {"prompt": "a fox", "seed": 42}}, None, {"model", "input.go_fast"}),
    ("https://api.replicate.com/v1/deployments/acme/sdxl/predictions",
     {"input": {"prompt": "a fox", "seed": 1}}, None, {"model"}),
    ("https://api.stability.ai/v2beta/stable-image/generate/core",
     {"prompt": "a fox", "seed": 0, "style_preset": "enhance"}, None, {"model", "seed", "style_preset"}),
    ("https://queue.fal.run/fal-ai/flux/dev", {"prompt": "a fox"}, None, {"model", "seed"}),
    ("https://api.openai.com/v1/images/generations", {"prompt": "a fox"}, None, {"model", "seed"}),
    ("https://api.bfl.ai/v1/flux-2-pro", {"prompt": "ein fantastisches bild", "seed": 42}, None,
     {"model", "prompt_upsampling"}),
    ("https://api.bfl.ai/v1/flux-pro", {"prompt": "ein fantastisches bild", "width": 1024, "height": 768, "steps": 40,
     "prompt_upsampling": False, "seed": 42, "guidance": 2.5, "safety_tolerance": 2}, None, {"model"}),
    ("https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/publishers/google/models/imagen-4.0-generate-001:predict",
     {"instances": [{"prompt": "a fox"}], "parameters": {"sampleCount": 1, "seed": 7}}, None,
     {"parameters.addWatermark", "parameters.enhancePrompt"}),
    ("https://firefly-api.adobe.io/v3/images/generate-async", {"prompt": "a fox", "seeds": [1, 2], "numVariations": 3},
     None, {"model", "seeds"}),
    ("https://api.ideogram.ai/v1/ideogram-v3/generate", {"prompt": "a fox", "seed": 3}, None, {"model", "magic_prompt"}),
    ("https://cloud.leonardo.ai/api/rest/v1/generations",
     {"prompt": "a fox", "modelId": "de7d3faf-762f-48e0-b3b7-9d0ac3a3fcf3", "seed": 5, "alchemy": True,
      "photoReal": True, "promptMagic": True}, None, {"alchemy", "photoReal", "promptMagic"}),
    ("https://api.together.xyz/v1/images/generations", {"model": "black-forest-labs/FLUX.1-schnell-Free", "prompt": "x"},
     None, {"model", "seed"}),
    ("https://api.fireworks.ai/inference/v1/workflows/accounts/fireworks/models/flux-1-schnell-fp8/text_to_image",
     {"prompt": "x", "seed": 0}, None, {"model", "seed"}),
    ("https://api-inference.huggingface.co/models/stabilityai/sdxl", {"inputs": "x", "parameters": {"seed": "12"}},
     None, {"model", "parameters.seed"}),
    ("http://127.0.0.1:7860/sdapi/v1/txt2img", {"prompt": "x", "seed": -1, "restore_faces": True}, None,
     {"model", "seed", "restore_faces"}),
    ("http://127.0.0.1:7860/sdapi/v1/options", {"sd_model_checkpoint": "x"}, None, {"POST /sdapi/v1/options"}),
]  # fmt: skip


@pytest.mark.parametrize(("url", "body", "headers", "flagged"), CASES)
def test_documented_toggles_and_unpinned_models_are_found(
    tmp_path: Path, url: str, body: dict[str, Any], headers: dict[str, str] | None, flagged: set[str]
) -> None:
    code, report = run_lint(tmp_path, url, body, headers)
    assert code == 1
    assert flagged <= fields(report), (flagged - fields(report), report)


def test_every_provider_has_a_case() -> None:
    named = {p.name for url, *_ in CASES if (p := detect(url)) is not None}
    assert named == set(PROVIDERS)


PINNED = [
    ("https://api.replicate.com/v1/predictions",
     {"version": f"fofr/sdxl-reference:{HEX}", "input": {"prompt": "a fox", "seed": 42, "apply_watermark": False}},
     None, "bitwise"),
    ("https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/publishers/google/models/imagen-3.0-generate-002:predict",
     {"instances": [{"prompt": "a fox"}],
      "parameters": {"seed": 7, "addWatermark": False, "enhancePrompt": False, "language": "en"}}, None, "bitwise"),
    ("http://127.0.0.1:7860/sdapi/v1/txt2img",
     {"prompt": "x", "seed": 1234, "override_settings": {"sd_model_checkpoint": "sd_xl_base_1.0.safetensors [31e35c80fc]",
      "randn_source": "CPU"}, "override_settings_restore_afterwards": True}, None, "bitwise"),
    ("https://firefly-api.adobe.io/v3/images/generate-async", {"prompt": "a fox", "seeds": [1], "numVariations": 1},
     {"x-model-version": "image4_standard", "x-api-key": "secret-value"}, "same version and seed, no determinism promise"),
]  # fmt: skip


@pytest.mark.parametrize(("url", "body", "headers", "grade"), PINNED)
def test_a_fully_pinned_request_passes(
    tmp_path: Path, url: str, body: dict[str, Any], headers: dict[str, str] | None, grade: str
) -> None:
    code, report = run_lint(tmp_path, url, body, headers)
    assert code == 0, report
    assert report["pin"] == "pinned" and report["grade"] == grade
    assert not fields(report, "warning") and not fields(report, "error")


def test_openai_can_never_be_bitwise(tmp_path: Path) -> None:
    _, report = run_lint(tmp_path, "https://api.openai.com/v1/images/generations",
                         {"model": "gpt-image-2-2026-04-21", "prompt": "x", "quality": "high"})  # fmt: skip
    assert report["pin"] == "pinned" and report["grade"] == "not reproducible"


def test_a_bare_body_needs_its_provider_and_secrets_are_redacted(tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"prompt": "x", "seed": 4}))
    result = CliRunner().invoke(cli, ["api", "lint", str(body)])
    assert result.exit_code == 2 and "provider" in result.stderr
    result = CliRunner().invoke(cli, ["api", "lint", "--provider", "bfl", "--json", str(body)])
    assert json.loads(result.stdout)["provider"] == "bfl"
    assert CliRunner().invoke(cli, ["api", "lint", "--provider", "nope", str(body)]).exit_code == 2
    assert redact({"Authorization": "Bearer sk-123", "x-key": "k", "Accept": "image/png"}) == {
        "Authorization": "<redacted>", "x-key": "<redacted>", "Accept": "image/png"}  # fmt: skip
    req, prov = load_request(captured(tmp_path, "https://api.bfl.ai/v1/flux-pro", {"prompt": "x", "seed": 4}))
    assert lint(req, prov).grade == "same version and seed, no determinism promise"
