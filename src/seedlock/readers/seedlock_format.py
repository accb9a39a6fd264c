"""seedlock's own format: the full record as JSON in PNG iTXt ``seedlock`` or, in
JPEG/WebP, in EXIF MakerNote behind a ``seedlock:`` prefix."""

from __future__ import annotations

from typing import ClassVar

from seedlock.extract.raw import EXIF_MAKER_NOTE, RawMetadata
from seedlock.readers._base import fail, load_json
from seedlock.record import GenerationRecord, Generator

PNG_KEY = "seedlock"
EXIF_PREFIX = "seedlock:"


def _text(raw: RawMetadata) -> str | None:
    if PNG_KEY in raw.fields:
        return raw.fields[PNG_KEY]
    note = raw.fields.get(EXIF_MAKER_NOTE, "")
    return note[len(EXIF_PREFIX) :] if note.startswith(EXIF_PREFIX) else None


class SeedlockReader:
    name: ClassVar[str] = "seedlock"
    carriers: ClassVar[frozenset[str]] = frozenset({PNG_KEY, EXIF_MAKER_NOTE})

    def accept(self, raw: RawMetadata) -> bool:
        return _text(raw) is not None

    def parse(self, raw: RawMetadata) -> GenerationRecord:
        text = _text(raw)
        if text is None:
            raise fail(self.name, "no seedlock record")
        data = load_json(text, self.name, "seedlock record")
        if not isinstance(data, dict):
            raise fail(self.name, "seedlock record is not a JSON object")
        rec = GenerationRecord.from_dict(data)
        # a hosted call's record keeps its family: the provider made the pixels, seedlock only wrote them down
        kept = rec.generator if rec.generator is Generator.HOSTED else Generator.SEEDLOCK
        return rec.replace(generator=kept, raw=dict(raw.fields))
