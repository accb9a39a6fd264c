"""``seedlock replay --profile a1111``: A1111's prompt parsing and chunking against its documented
behaviour, and A1111 records run end to end with its numerics, deterministic across processes."""

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
from seedlock.errors import ReplayRefused
from seedlock.replay.a1111_text import chunk_tokens, parse_prompt_attention

# modules/prompt_parser.py's docstring examples
DOCUMENTED = [
    ("normal text", [("normal text", 1.0)]),
    ("an (important) word", [("an ", 1.0), ("important", 1.1), (" word", 1.0)]),
    ("(unbalanced", [("unbalanced", 1.1)]),
    ("\\(literal\\]", [("(literal]", 1.0)]),
    ("(unnecessary)(parens)", [("unnecessaryparens", 1.1)]),
    ("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
     [("a ", 1.0), ("house", 1.5730000000000004), (" ", 1.1), ("on", 1.0), (" a ", 1.1), ("hill", 0.55),
      (", sun, ", 1.1), ("sky", 1.4641000000000006), (".", 1.1)]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), DOCUMENTED)
def test_emphasis_is_parsed_as_a1111_documents_it(text: str, expected: list[tuple[str, float]]) -> None:
    assert parse_prompt_attention(text) == expected


def _chunks(words: list[str]) -> list[list[int]]:
    """Chunks of a prompt whose every word is one token (ids: word index + 10; ',' is 1)."""
    ids = {w: i + 10 for i, w in enumerate(dict.fromkeys(words))}
    ids[","] = 1
    tokenize = lambda texts: [[ids[w] for w in t.split()] for t in texts]  # noqa: E731
    return [c.tokens for c in chunk_tokens(" ".join(words), tokenize, start=0, end=2, comma=1)]


def test_prompts_are_cut_into_75_token_chunks_at_a_nearby_comma() -> None:
    assert _chunks([]) == [[0] + [2] * 76]
    words = [f"w{i}" for i in range(80)]
    first, second = _chunks(words)
    assert len(first) == len(second) == 77 and first[-1] == 2 and first[75] == 10 + 74 and second[1] == 10 + 75
    # a comma 10 tokens before the end: what follows it moves to the next chunk, the rest is padded
    words = [f"w{i}" for i in range(65)] + [","] + [f"v{i}" for i in range(20)]
    first, second = _chunks(words)
    assert first[66] == 1 and first[67:] == [2] * 10
    assert second[1] == 10 + 66 and second[20] == 10 + 85 and second[21] == 2  # v0..v19, then padding
    assert len(_chunks(["a", "BREAK", "b"])) == 2


def test_a_prompt_that_edits_itself_is_refused() -> None:
    for text in ("a [cat:dog:0.5]", "a [cat|dog]", "a [dog:5]"):
        with pytest.raises(ReplayRefused, match="edits itself"):
            _chunks(text.split())


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny SD-1 model with a biased final text norm: A1111 rescales emphasised encodings by their
    mean, which a zero-bias norm leaves at zero."""
    import torch
    from safetensors.torch import save_file

    from seedlock.replay.tiny import build_tiny_state

    state = build_tiny_state()
    key = "cond_stage_model.transformer.text_model.final_layer_norm.bias"
    state[key] = torch.randn(state[key].shape, generator=torch.Generator().manual_seed(5)) * 0.5 + 0.3
    path = tmp_path_factory.mktemp("a1111p") / "tiny-biased.safetensors"
    save_file(state, str(path), metadata={"seedlock.family": "tiny-sd1"})
    return path


def _a1111_png(path: Path, parameters: str, pixels: np.ndarray | None = None) -> None:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", parameters)
    Image.fromarray(np.zeros((64, 64, 3), np.uint8) if pixels is None else pixels).save(path, pnginfo=info)


CASES = {
    "cpu, emphasis, karras": "a (red:1.3) fox, [snow], ((night))\nNegative prompt: blurry\nSteps: 6, "
                             "Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 11, Size: 64x64, RNG: CPU",
    "nv, ensd, ancestral": "a fox\nSteps: 6, Sampler: Euler a, CFG scale: 7, Seed: 12, Size: 64x64, ENSD: 31337, RNG: NV",
    "dpm++ 2s a (no diffusers equivalent), exponential": "a fox\nSteps: 5, Sampler: DPM++ 2S a, "
                                                          "Schedule type: Exponential, CFG scale: 7, Seed: 14, Size: 64x64",
    "long prompt vs short negative": ", ".join(["a red fox in deep snow"] * 16) + "\nNegative prompt: x\nSteps: 5, "
                                     "Sampler: Euler, CFG scale: 6, Seed: 13, Size: 64x64, Clip skip: 2, RNG: CPU",
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_an_a1111_record_replays_under_its_numerics_the_same_in_another_process(case: str, model: Path,
                                                                                tmp_path: Path) -> None:  # fmt: skip
    from PIL import Image

    stand_in, made = tmp_path / "stand-in.png", tmp_path / "made.png"
    _a1111_png(stand_in, CASES[case])
    res = CliRunner().invoke(cli, ["replay", str(stand_in), "--model", str(model), "--profile", "a1111",
                                   "-o", str(made), "--json"])  # fmt: skip
    assert res.exit_code == 1, res.output  # ran; the stand-in's black pixels differ
    assert json.loads(res.output)["profile"] == "a1111"
    with Image.open(made) as im:
        pixels = np.asarray(im.convert("RGB"))
    assert pixels.std() > 1  # an image, not a flat fill
    image = tmp_path / "a1111.png"
    _a1111_png(image, CASES[case], pixels)
    proc = subprocess.run([sys.executable, "-m", "seedlock", "replay", str(image), "--model", str(model),
                           "--profile", "a1111", "--json"], capture_output=True, text=True, env={**os.environ})  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert json.loads(proc.stdout)["verdict"] == "bit-identical"
    # the profile matters: diffusers' numerics (the seedlock profile) give other pixels, or have no such sampler
    res = CliRunner().invoke(cli, ["replay", str(image), "--model", str(model), "--profile", "seedlock", "--json"])
    assert res.exit_code == 1 or (res.exit_code == 2 and "no diffusers equivalent" in res.output), res.output


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ("Sampler: DPM++ SDE, Steps: 5, Seed: 1, Size: 64x64", "not mirrored under the a1111 profile"),
        ("Sampler: Euler, Steps: 5, Seed: 1, Size: 64x64, Denoising strength: 0.5, Hires upscale: 2",
         "single-pass txt2img"),
        ("Sampler: Euler, Steps: 5, Seed: 1, Size: 64x64, Schedule type: Align Your Steps", "schedule"),
    ],
)  # fmt: skip
def test_what_the_a1111_profile_does_not_mirror_is_refused(parameters: str, message: str, model: Path,
                                                           tmp_path: Path) -> None:  # fmt: skip
    image = tmp_path / "a.png"
    _a1111_png(image, f"a fox\n{parameters}")
    res = CliRunner().invoke(cli, ["replay", str(image), "--model", str(model), "--profile", "a1111"])
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output
