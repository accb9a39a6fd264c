"""``compare(a, b)``: records, field diff, ranked causes and pixel verdict for two inputs.

An input is an image (any format ``read`` handles) or a record JSON file as printed by
``seedlock read --json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedlock.diff.fields import RecordDiff, diff_records
from seedlock.diff.pixels import PixelReport, compare_arrays, decode_pair
from seedlock.diff.rules import Cause, diagnose
from seedlock.diff.tokens import TokenDiff, diff_tokens
from seedlock.errors import MissingExtra
from seedlock.readers import load_record

__all__ = ["Comparison", "compare"]


@dataclass(frozen=True)
class Comparison:
    a_path: str
    b_path: str
    diff: RecordDiff
    causes: tuple[Cause, ...]
    pixels: PixelReport | None
    #: CLIP token view of the prompt change (None when the prompts are equal or no vocabulary is installed)
    tokens: TokenDiff | None = None
    tokens_note: str = ""
    #: both images as decoded for the verdict, kept only when asked (the HTML report draws them)
    decoded: tuple[Any, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def identical(self) -> bool:
        """Records equivalent and (when both are images) pixels bit-identical."""
        return self.diff.equivalent and (self.pixels is None or self.pixels.verdict == "bit-identical")

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a_path,
            "b": self.b_path,
            "identical": self.identical,
            "pixels": self.pixels.to_dict() if self.pixels else None,
            "tokens": self.tokens.to_dict() if self.tokens else None,
            "tokens_note": self.tokens_note,
            "causes": [c.to_dict() for c in self.causes],
            **self.diff.to_dict(),
            "fingerprint_a": self.diff.a.fingerprint,
            "fingerprint_b": self.diff.b.fingerprint,
        }


def compare(
    a: str | Path,
    b: str | Path,
    *,
    pixels: bool = True,
    keep_decoded: bool = False,
    max_pixels: int | None = None,
) -> Comparison:
    """Everything ``seedlock diff`` reports, as data.

    ``keep_decoded`` keeps both decoded images on the result, so that a report drawing
    them does not decode the files a second time. ``max_pixels`` is the per-image pixel
    budget (seedlock.diff.pixels.MAX_PIXELS by default; 0 for none).
    """
    ra, a_img = load_record(a)
    rb, b_img = load_record(b)
    d = diff_records(ra, rb)
    px, decoded = None, None
    if pixels and a_img and b_img:
        arr_a, arr_b, hashes = decode_pair(a, b, max_pixels=max_pixels)
        px = compare_arrays(arr_a, arr_b, hashes=hashes)
        decoded = (arr_a, arr_b) if keep_decoded else None
    tokens, note = None, ""
    if not d.prompt.equal:
        try:
            tokens = diff_tokens(d.prompt.a, d.prompt.b)
        except MissingExtra as exc:
            note = str(exc)
        except ValueError as exc:
            note = str(exc)
    return Comparison(str(a), str(b), d, tuple(diagnose(d, px)), px, tokens, note, decoded)
