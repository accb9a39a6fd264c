"""NovelAI: PNG text chunks (``Software: NovelAI`` + ``Comment`` JSON), WebP EXIF JSON,
and the stealth alpha copy (gzip JSON of the text fields)."""

from __future__ import annotations

from typing import Any, ClassVar

from seedlock.extract.raw import EXIF_SOFTWARE, EXIF_USER_COMMENT, STEALTH, RawMetadata
from seedlock.readers._base import fail, load_json, maybe_json, seed_of, to_float, to_int
from seedlock.record import GenerationRecord, Generator, ModelRef, SamplingPass
from seedlock.samplers import canonical_pair

_MAPPED = {
    "prompt",
    "steps",
    "height",
    "width",
    "scale",
    "seed",
    "sampler",
    "uc",
    "strength",
    "noise_schedule",
    "v4_prompt",
    "v4_negative_prompt",
    "n_samples",
}


def _fields(raw: RawMetadata) -> dict[str, Any] | None:
    """The NovelAI text fields (Title, Description, Software, Source, Comment) from any carrier."""
    f = raw.fields
    if f.get("Software", "").startswith("NovelAI") or ("Comment" in f and '"uc"' in f.get("Comment", "")):
        return dict(f)
    for key in (EXIF_USER_COMMENT, STEALTH):
        data = maybe_json(f.get(key, ""))
        if (
            isinstance(data, dict)
            and "Comment" in data
            and (
                str(data.get("Software", "")).startswith("NovelAI")
                or f.get(EXIF_SOFTWARE, "").startswith("NovelAI")
                or '"uc"' in str(data.get("Comment"))
            )
        ):
            return {k: v for k, v in data.items() if isinstance(k, str)}
    return None


class NovelAIReader:
    name: ClassVar[str] = "novelai"
    carriers: ClassVar[frozenset[str]] = frozenset({"Software", "Comment", EXIF_USER_COMMENT, STEALTH})

    def accept(self, raw: RawMetadata) -> bool:
        return _fields(raw) is not None

    def parse(self, raw: RawMetadata) -> GenerationRecord:
        fields = _fields(raw)
        if fields is None or "Comment" not in fields:
            raise fail(self.name, "no NovelAI Comment field")
        comment = fields["Comment"]
        c = comment if isinstance(comment, dict) else load_json(str(comment), self.name, "Comment")
        if not isinstance(c, dict):
            raise fail(self.name, "Comment is not a JSON object")
        prompt = c.get("prompt") if isinstance(c.get("prompt"), str) else fields.get("Description")
        chars: list[str] = []
        v4 = c.get("v4_prompt")
        if isinstance(v4, dict) and isinstance(v4.get("caption"), dict):
            for cc in v4["caption"].get("char_captions") or []:
                if isinstance(cc, dict) and isinstance(cc.get("char_caption"), str):
                    chars.append(cc["char_caption"])
        negative = c.get("uc")
        v4n = c.get("v4_negative_prompt")
        if negative is None and isinstance(v4n, dict) and isinstance(v4n.get("caption"), dict):
            negative = v4n["caption"].get("base_caption")
        seed, seed_type = seed_of(c.get("seed"))
        sampler = c.get("sampler")
        schedule = c.get("noise_schedule")
        cs, csch = canonical_pair(sampler, schedule if isinstance(schedule, str) else "native")
        w, h = to_int(c.get("width")), to_int(c.get("height"))
        strength = to_float(c.get("strength")) if c.get("request_type") == "Img2ImgRequest" or "image" in c else None
        p = SamplingPass(
            seed=seed,
            steps=to_int(c.get("steps")),
            cfg_scale=to_float(c.get("scale")),
            sampler=sampler,
            scheduler=schedule,
            canonical_sampler=cs,
            canonical_scheduler=csch,
            width=w,
            height=h,
            denoise=strength,
            kind="img2img" if strength else "txt2img",
        )
        source = fields.get("Source")
        return GenerationRecord.from_passes(
            (p,),
            generator=Generator.NOVELAI,
            generator_name="NovelAI",
            generator_version=c.get("version") and str(c.get("version")),
            prompt=prompt,
            negative_prompt=negative,
            character_prompts=tuple(chars),
            seed_type=seed_type,
            final_width=w,
            final_height=h,
            model=ModelRef(name=str(source)) if source else None,
            batch_size=to_int(c.get("n_samples")),
            extra={k: v for k, v in c.items() if k not in _MAPPED}
            | {k: v for k, v in fields.items() if k in ("Title", "Generation time")},
            raw=dict(raw.fields),
        )
