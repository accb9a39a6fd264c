"""The built-in example: two images whose records differ the way users' images do.

Without the ``generate`` extra the pixels are a seeded pattern, not a diffusion image;
the records, the embedding and the reading are the real thing.
"""

from __future__ import annotations

from pathlib import Path

from seedlock.record import Adapter, GenerationRecord, Generator, ModelRef, SamplingPass
from seedlock.writer import write

PROMPT = 'a "happy" cat sitting on a red chair, soft light'
NEGATIVE = "blurry, lowres"


def demo_record(
    prompt: str = PROMPT,
    sampler: tuple[str, str, str, str] = ("DPM++ 2M", "Karras", "dpmpp_2m", "karras"),
    seed: int = 42,
) -> GenerationRecord:
    """The pinned recipe of the demo (an A1111-style record)."""
    label, sched, cs, csch = sampler
    p = SamplingPass(
        seed=seed,
        steps=20,
        cfg_scale=7.0,
        sampler=label,
        scheduler=sched,
        canonical_sampler=cs,
        canonical_scheduler=csch,
        width=64,
        height=64,
    )
    return GenerationRecord(
        generator=Generator.A1111,
        generator_name="seedlock demo",
        prompt=prompt,
        negative_prompt=NEGATIVE,
        seed=seed,
        seed_type="int",
        steps=20,
        cfg_scale=7.0,
        sampler=label,
        scheduler=sched,
        canonical_sampler=cs,
        canonical_scheduler=csch,
        width=64,
        height=64,
        final_width=64,
        final_height=64,
        model=ModelRef(name="tiny-sd", hashes={"autov2": "0123456789"}),
        adapters=(Adapter(kind="lora", name="demo-style", weight=0.8, weight_clip=0.8),),
        passes=(p,),
    )


def _pattern(seed: int, path: Path) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    base = rng.random((8, 8, 3))
    img = np.kron(base, np.ones((8, 8, 1)))
    Image.fromarray((img * 255).astype("uint8"), "RGB").save(path)


def make_demo_images(folder: Path) -> tuple[Path, Path]:
    """Write ``pinned.png`` and ``drifted.png`` (sampler swapped, curly quotes) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    pinned, drifted = folder / "pinned.png", folder / "drifted.png"
    _pattern(42, pinned)
    _pattern(43, drifted)
    write(demo_record(), pinned)
    write(
        demo_record(
            prompt=PROMPT.replace('"happy"', "“happy”"), sampler=("Euler a", "Automatic", "euler_ancestral", "uniform")
        ),
        drifted,
    )
    return pinned, drifted
