"""Images from hosted services whose files carry little: Midjourney and Ideogram.

A Midjourney PNG downloaded from midjourney.com keeps the prompt with its parameters and
the job id in a ``Description`` text chunk (``a fox --ar 2:1 --v 6 Job ID: a7421d2f-…``)
and the account in ``Author``; the model version is only the ``--v`` token, so a prompt
without one names whatever Midjourney's default was that day. Ideogram marks its files
with EXIF ``Make: Ideogram AI`` and nothing more: the record names the provider, and says
that neither the seed nor the model version is in the file.
"""

from __future__ import annotations

import re
from typing import ClassVar

from seedlock.extract.raw import EXIF_MAKE, XMP, RawMetadata
from seedlock.readers._base import fail, seed_of, to_float
from seedlock.record import GenerationRecord, Generator, ModelRef, SamplingPass

__all__ = ["IdeogramReader", "MidjourneyReader"]

_JOB = re.compile(r"\s*Job ID:\s*([0-9a-fA-F-]{8,})\s*$")
_PARAM = re.compile(r"\s--([a-z]+)(?:\s+([^-\s][^\s]*(?:\s+[^-\s][^\s]*)*?))?(?=\s--|\s*$)")
#: Midjourney's short parameter names
_ALIASES = {"version": "v", "s": "stylize", "c": "chaos", "q": "quality", "ar": "aspect", "aspect": "aspect"}
_DIGITAL_SOURCE = "trainedAlgorithmicMedia"


class MidjourneyReader:
    """PNG ``Description`` with ``Job ID:`` or ``--v`` (midjourney.com downloads)."""

    name: ClassVar[str] = "midjourney"
    carriers: ClassVar[frozenset[str]] = frozenset({"Description"})

    def accept(self, raw: RawMetadata) -> bool:
        text = raw.fields.get("Description", "")
        return "Job ID:" in text or " --v " in text or text.rstrip().endswith((" --v", "--niji"))

    def parse(self, raw: RawMetadata) -> GenerationRecord:
        text = raw.fields["Description"].strip()
        job = None
        m = _JOB.search(text)
        if m:
            job = m.group(1)
            text = text[: m.start()].rstrip()
        cut = text.find(" --")
        prompt = text if cut < 0 else text[:cut]
        params: dict[str, str] = {}
        for name, value in _PARAM.findall(" " + text[len(prompt) :] if cut >= 0 else ""):
            params[_ALIASES.get(name, name)] = (value or "").strip()
        if not prompt and not params:
            raise fail(self.name, "Description holds no prompt")
        version = params.get("v") or (f"niji {params['niji']}".strip() if "niji" in params else None)
        seed, seed_type = seed_of(params.get("seed"))
        warnings: tuple[str, ...] = ()
        if version is None:
            warnings = ("no --v in the prompt: the model is whatever Midjourney's default version was that day",)
        shaping = ("stylize", "chaos", "quality", "style", "weird")
        extra: dict[str, object] = {k: v for k, v in params.items() if k not in ("v", "seed", "no", *shaping)}
        if job:
            extra["job_id"] = job
        if raw.fields.get("Author"):
            extra["author"] = raw.fields["Author"]
        if _DIGITAL_SOURCE in raw.fields.get(XMP, ""):
            extra["digital_source_type"] = _DIGITAL_SOURCE
        p = SamplingPass(seed=seed)
        return GenerationRecord.from_passes(
            (p,),
            generator=Generator.MIDJOURNEY,
            generator_name="Midjourney",
            generator_version=version,
            prompt=prompt,
            negative_prompt=params.get("no"),
            seed_type=seed_type,
            model=ModelRef(name="midjourney", version=version),
            precision={k: params[k] for k in shaping if k in params},
            extra=extra | ({"image_weight": to_float(params["iw"])} if "iw" in params else {}),
            raw=dict(raw.fields),
            warnings=warnings,
        )


class IdeogramReader:
    """EXIF ``Make: Ideogram AI``: the provider is known, the recipe is not in the file."""

    name: ClassVar[str] = "ideogram"
    carriers: ClassVar[frozenset[str]] = frozenset({EXIF_MAKE})

    def accept(self, raw: RawMetadata) -> bool:
        return raw.fields.get(EXIF_MAKE, "").strip().lower().startswith("ideogram")

    def parse(self, raw: RawMetadata) -> GenerationRecord:
        return GenerationRecord(
            generator=Generator.IDEOGRAM,
            generator_name="Ideogram",
            model=ModelRef(name="ideogram"),
            raw=dict(raw.fields),
            warnings=("Ideogram files carry no seed, prompt or model version; keep the API response for those",),
        )
