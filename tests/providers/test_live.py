"""Live smoke tests: one real call per provider, only where its key is in the environment.

Everything else in tests/providers talks to local stand-ins; these prove the same code path
against the real service. Each request is the cheapest pinned (or least unpinned) one the
provider offers; outputs go to a temporary folder and are checked for a readable record.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import seedlock
from seedlock.cli import cli

LIVE: list[tuple[str, str, str, dict[str, Any], dict[str, str]]] = [
    ("replicate", "REPLICATE_API_TOKEN", "https://api.replicate.com/v1/models/black-forest-labs/flux-schnell/predictions",
     {"input": {"prompt": "a red cube", "seed": 42, "go_fast": False, "output_format": "png"}}, {"Prefer": "wait"}),
    ("stability", "STABILITY_API_KEY", "https://api.stability.ai/v2beta/stable-image/generate/core",
     {"prompt": "a red cube", "seed": 42, "output_format": "png"}, {"Accept": "image/*"}),
    ("fal", "FAL_KEY", "https://queue.fal.run/fal-ai/flux/schnell", {"prompt": "a red cube", "seed": 42}, {}),
    ("openai", "OPENAI_API_KEY", "https://api.openai.com/v1/images/generations",
     {"model": "gpt-image-2-2026-04-21", "prompt": "a red cube", "quality": "low", "size": "1024x1024"}, {}),
    ("bfl", "BFL_API_KEY", "https://api.bfl.ai/v1/flux-pro-1.1", {"prompt": "a red cube", "seed": 42, "prompt_upsampling": False}, {}),
    ("ideogram", "IDEOGRAM_API_KEY", "https://api.ideogram.ai/v1/ideogram-v3/generate",
     {"prompt": "a red cube", "seed": 42, "magic_prompt": "OFF", "rendering_speed": "TURBO"}, {}),
    ("leonardo", "LEONARDO_API_KEY", "https://cloud.leonardo.ai/api/rest/v1/generations",
     {"prompt": "a red cube", "modelId": "b2614463-296c-462a-9586-aafdb8f00e36", "seed": 42, "width": 512, "height": 512, "num_images": 1}, {}),
    ("together", "TOGETHER_API_KEY", "https://api.together.xyz/v1/images/generations",
     {"model": "black-forest-labs/FLUX.1-schnell-Free", "prompt": "a red cube", "seed": 42, "steps": 4, "response_format": "b64_json"}, {}),
    ("fireworks", "FIREWORKS_API_KEY",
     "https://api.fireworks.ai/inference/v1/workflows/accounts/fireworks/models/flux-1-schnell-fp8/text_to_image",
     {"prompt": "a red cube", "seed": 42}, {"Accept": "image/png"}),
    ("huggingface", "HF_TOKEN", "https://router.huggingface.co/hf-inference/models/black-forest-labs/FLUX.1-schnell",
     {"inputs": "a red cube", "parameters": {"seed": 42}}, {}),
    ("imagen", "GOOGLE_ACCESS_TOKEN", os.environ.get("SEEDLOCK_LIVE_IMAGEN_URL", ""),
     {"instances": [{"prompt": "a red cube"}], "parameters": {"sampleCount": 1, "seed": 42, "addWatermark": False, "enhancePrompt": False}}, {}),
    ("firefly", "FIREFLY_ACCESS_TOKEN", "https://firefly-api.adobe.io/v3/images/generate-async",
     {"prompt": "a red cube", "seeds": [42], "numVariations": 1}, {"x-model-version": "image4_standard"}),
    ("a1111", "SEEDLOCK_LIVE_A1111_URL", os.environ.get("SEEDLOCK_LIVE_A1111_URL", "") + "/sdapi/v1/txt2img",
     {"prompt": "a red cube", "seed": 42, "steps": 4, "width": 256, "height": 256}, {}),
]  # fmt: skip


@pytest.mark.parametrize(("provider", "env", "url", "body", "headers"), LIVE, ids=[c[0] for c in LIVE])
def test_live_call(
    tmp_path: Path, provider: str, env: str, url: str, body: dict[str, Any], headers: dict[str, str]
) -> None:
    if not os.environ.get(env):
        pytest.skip(f"live {provider} check: ${env} is not set (the stand-in tests cover the shapes)")
    if not url.startswith("http"):
        pytest.skip(f"live {provider} check: no URL configured")
    req = tmp_path / "request.json"
    req.write_text(json.dumps({"method": "POST", "url": url, "headers": headers, "body": body}))
    res = CliRunner().invoke(
        cli, ["api", "run", str(req), "-o", str(tmp_path / "out"), "--allow-unpinned", "--no-catalog", "--json"]
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    rec = seedlock.read(Path(report["images"][0]))
    assert rec.extra["hosted"]["provider"] == provider
    secret = os.environ[env]
    for f in (tmp_path / "out").iterdir():
        assert secret.encode() not in f.read_bytes()
