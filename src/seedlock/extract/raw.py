"""The container-neutral result of walking an image file: text fields, no generator logic."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Upper bound for one decoded metadata value. Real prompts plus graphs stay far
#: below this; anything above is a compression bomb or a hostile file.
MAX_TEXT_BYTES = 32 * 1024 * 1024

#: Keys used for values that do not come from PNG text chunks.
EXIF_USER_COMMENT = "Exif.UserComment"
EXIF_IMAGE_DESCRIPTION = "Exif.ImageDescription"
EXIF_MAKE = "Exif.Make"
EXIF_MODEL = "Exif.Model"
EXIF_SOFTWARE = "Exif.Software"
EXIF_ARTIST = "Exif.Artist"
EXIF_MAKER_NOTE = "Exif.MakerNote"
JPEG_COMMENT = "JPEG.COM"
XMP = "XMP"
STEALTH = "Stealth"


@dataclass
class C2PAInfo:
    """Content Credentials found in the file: presence and what the manifest names."""

    container: str
    claim_generator: str | None = None
    software_agent: str | None = None
    digital_source_type: str | None = None
    actions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "container": self.container,
            "claim_generator": self.claim_generator,
            "software_agent": self.software_agent,
            "digital_source_type": self.digital_source_type,
            "actions": list(self.actions),
        }


@dataclass
class RawMetadata:
    """Key/value text found in one image, plus facts about the container.

    ``fields`` maps PNG text keywords verbatim (``parameters``, ``prompt``) and
    EXIF/XMP carriers under the ``Exif.*``/``XMP`` names defined above, so that
    readers sniff keys without knowing which container they came from.
    """

    format: str
    fields: dict[str, str] = field(default_factory=dict)
    #: where each field came from, e.g. ``png:iTXt`` or ``exif:ExifIFD`` (for diagnostics)
    sources: dict[str, str] = field(default_factory=dict)
    width: int | None = None
    height: int | None = None
    #: PNG colour type has an alpha channel / WebP VP8X alpha flag
    has_alpha: bool = False
    c2pa: C2PAInfo | None = None
    stealth_kind: str | None = None
    warnings: list[str] = field(default_factory=list)

    def add(self, key: str, value: str, source: str) -> None:
        """Keep the first value seen for a key; a later duplicate goes under ``key#2``."""
        if key in self.fields:
            n = 2
            while f"{key}#{n}" in self.fields:
                n += 1
            key = f"{key}#{n}"
        self.fields[key] = value
        self.sources[key] = source
