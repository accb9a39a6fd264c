"""Old InvokeAI records: Dream lines with values attached to their flags, and 1.x model_id."""

from __future__ import annotations

import json

from seedlock.extract import RawMetadata
from seedlock.readers import parse_raw


def test_dream_flags_with_attached_values() -> None:
    rec = parse_raw(
        RawMetadata(format="png", fields={"Dream": '"a castle [blurry]" -s50 -W512 -H640 -C7.5 -Ak_lms -S777'})
    )
    assert (rec.seed, rec.steps, rec.width, rec.height, rec.cfg_scale) == (777, 50, 512, 640, 7.5)
    assert rec.canonical_sampler == "lms" and rec.prompt == "a castle" and rec.negative_prompt == "blurry"


def test_dream_flags_with_separate_and_long_values() -> None:
    rec = parse_raw(RawMetadata(format="png", fields={"Dream": '"a dog" -s 30 --width=640 -H 512 -S 5 -cf 0.5'}))
    assert (rec.seed, rec.steps, rec.width, rec.height) == (5, 30, 640, 512)


def test_invokeai_1x_model_id_names_the_model() -> None:
    meta = {
        "model": "stable diffusion",
        "model_id": "stable-diffusion-1.4",
        "model_hash": "fe4efff1e174c627256e44ec2991ba279b3816e364b49f9be2abc0b3ff3f8556",
        "app_id": "lstein/stable-diffusion",
        "app_version": "v1.15",
        "image": {"prompt": [{"prompt": "a cat", "weight": 1}], "steps": 50, "cfg_scale": 7.5, "seed": 42,
                  "width": 512, "height": 512, "sampler": "k_lms", "type": "txt2img"},
    }  # fmt: skip
    rec = parse_raw(RawMetadata(format="png", fields={"sd-metadata": json.dumps(meta)}))
    assert rec.model is not None and rec.model.name == "stable-diffusion-1.4"
