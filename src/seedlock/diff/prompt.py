"""Prompt bytes: invisible and look-alike characters, and a character-level diff that names them.

Two prompts that look the same can encode differently: a curly quote, an en dash, a
no-break space or a zero-width joiner becomes a different CLIP token (the Hugging Face
CLIP tokenizer does not un-curl quotes the way the original ftfy-based one did), so
the conditioning, and the image, change. This module finds those characters and says
what each is, by Unicode name and code point.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

__all__ = ["CharChange", "Hazard", "PromptDiff", "diff_prompts", "lint_prompt", "normalize_prompt"]

#: look-alike -> what the user almost certainly meant
_REPLACEMENTS = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u201f": '"',
    "\u2033": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2015": "-",
    "\u2212": "-",
    "\u00a0": " ",
    "\u2007": " ",
    "\u202f": " ",
    "\u2002": " ",
    "\u2003": " ",
    "\u2009": " ",
    "\u200a": " ",
    "\u3000": " ",
    "\u2026": "...",
    "\uff0c": ",",
    "\u3001": ",",
    "\uff08": "(",
    "\uff09": ")",
    "\uff1a": ":",
}
_INVISIBLE = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e", "\u2061", "\u2062", "\u2063"}
#: Cyrillic and Greek letters that render like Latin ones
_HOMOGLYPHS = {
    "\u0430": "a",
    "\u0435": "e",
    "\u043e": "o",
    "\u0440": "p",
    "\u0441": "c",
    "\u0445": "x",
    "\u0443": "y",
    "\u0456": "i",
    "\u0458": "j",
    "\u0410": "A",
    "\u0412": "B",
    "\u0415": "E",
    "\u041a": "K",
    "\u041c": "M",
    "\u041d": "H",
    "\u041e": "O",
    "\u0420": "P",
    "\u0421": "C",
    "\u0422": "T",
    "\u0425": "X",
    "\u03bf": "o",
    "\u03b1": "a",
    "\u039f": "O",
    "\u0391": "A",
    "\u0392": "B",
    "\u0395": "E",
}


def char_name(ch: str) -> str:
    """``U+201C LEFT DOUBLE QUOTATION MARK`` (control characters get their escape)."""
    if ch == "\n":
        return "U+000A LINE FEED"
    if ch == "\r":
        return "U+000D CARRIAGE RETURN"
    if ch == "\t":
        return "U+0009 CHARACTER TABULATION"
    return f"U+{ord(ch):04X} {unicodedata.name(ch, 'UNNAMED')}"


def _visible_pattern() -> Any:
    import regex

    explicit = "".join(sorted(_INVISIBLE | set(_REPLACEMENTS) | set(_HOMOGLYPHS) | {"\r", "\u2028", "\u2029"}))
    # control and format characters except newline and tab, plus every listed look-alike
    return regex.compile("[" + regex.escape(explicit) + r"\p{Cf}" + r"\x00-\x08\x0b-\x1f\x7f-\x9f" + "]")


_VISIBLE = _visible_pattern()


def visible(text: str) -> str:
    """Show invisible and look-alike characters as ``⟦U+00A0⟧`` so a person can see them (linear, in C)."""
    out: str = _VISIBLE.sub(lambda m: f"⟦U+{ord(m.group()):04X}⟧", text)
    return out


@dataclass(frozen=True)
class Hazard:
    """One character (or run) in a prompt that is likely not what the author meant."""

    kind: str
    position: int
    char: str
    name: str
    #: the text to put in its place ("" with ``action`` remove)
    replacement: str = ""
    #: ``replace``, ``remove`` or ``normalise``
    action: str = "remove"

    @property
    def suggestion(self) -> str:
        """How a person reads the fix: ``replace with "``, ``remove``, ``normalise to NFC``."""
        if self.action == "replace":
            shown = self.replacement.replace("\n", "\\n")
            return f"replace with {shown}"
        if self.action == "normalise":
            return "normalise to NFC"
        return "remove"

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "position": self.position,
            "char": self.char,
            "name": self.name,
            "action": self.action,
            "replacement": self.replacement,
            "suggestion": self.suggestion,
        }


def _hazard_kind(ch: str) -> str | None:
    if ch in _INVISIBLE:
        return "zero-width or invisible"
    if ch in (
        "\u2018",
        "\u2019",
        "\u201c",
        "\u201d",
        "\u201a",
        "\u201e",
        "\u201b",
        "\u201f",
        "\u00ab",
        "\u00bb",
        "\u2032",
        "\u2033",
    ):
        return "curly quote"
    if ch in ("\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015", "\u2212"):
        return "dash look-alike"
    if ch in ("\u00a0", "\u2007", "\u202f", "\u2002", "\u2003", "\u2009", "\u200a", "\u3000"):
        return "non-ASCII space"
    if ch in _HOMOGLYPHS:
        return "homoglyph"
    if "\uff01" <= ch <= "\uff5e":
        return "full-width form"
    if ch in _REPLACEMENTS:
        return "look-alike punctuation"
    if ch == "\r":
        return "carriage return (CRLF)"
    if ch in ("\u2028", "\u2029"):
        return "Unicode line or paragraph separator"
    if unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\n\t":
        return "control character"
    return None


def lint_prompt(text: str) -> list[Hazard]:
    """Every invisible or look-alike character, plus trailing whitespace and non-NFC text."""
    hazards: list[Hazard] = []
    for i, ch in enumerate(text):
        kind = _hazard_kind(ch)
        if kind:
            fix = _REPLACEMENTS.get(ch, _HOMOGLYPHS.get(ch, ""))
            if "\uff01" <= ch <= "\uff5e" and not fix:
                fix = chr(ord(ch) - 0xFEE0)
            if ch in ("\u2028", "\u2029"):
                fix = "\n"
            hazards.append(Hazard(kind, i, ch, char_name(ch), fix, "replace" if fix else "remove"))
    stripped = text.rstrip(" \t")
    if stripped != text and not text.endswith(("\n", "\r\n")):
        hazards.append(Hazard("trailing whitespace", len(stripped), text[len(stripped) :], "trailing spaces/tabs"))
    for line_no, line in enumerate(text.split("\n")):
        if line != line.rstrip(" \t") and line_no < text.count("\n"):
            hazards.append(
                Hazard("trailing whitespace on a line", -1, line[len(line.rstrip(" \t")) :], f"line {line_no + 1}")
            )
    if unicodedata.normalize("NFC", text) != text:
        hazards.append(Hazard("not NFC-normalised", -1, "", "decomposed characters (NFD)", "", "normalise"))
    return hazards


def _normalize_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {ord(k): v for k, v in {**_HOMOGLYPHS, **_REPLACEMENTS}.items()}
    table.update({ord(ch): None for ch in _INVISIBLE})
    table.update({c: chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)})
    table.update({0x2028: "\n", 0x2029: "\n"})
    return table


_NORMALIZE = _normalize_table()


def normalize_prompt(text: str) -> str:
    """Replace look-alikes with ASCII, drop invisibles, NFC-normalise, LF line ends."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n")).translate(_NORMALIZE)
    return "\n".join(line.rstrip(" \t") for line in text.split("\n"))


@dataclass(frozen=True)
class CharChange:
    """One changed run: what A had, what B has, at which offsets, and the names of the characters."""

    op: str
    a_pos: int
    b_pos: int
    a_text: str
    b_text: str
    a_names: tuple[str, ...] = ()
    b_names: tuple[str, ...] = ()
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "op": self.op,
            "a_pos": self.a_pos,
            "b_pos": self.b_pos,
            "a": self.a_text,
            "b": self.b_text,
            "a_names": list(self.a_names),
            "b_names": list(self.b_names),
            "note": self.note,
        }


@dataclass(frozen=True)
class PromptDiff:
    """Character-level difference of two prompts."""

    a: str
    b: str
    changes: tuple[CharChange, ...] = field(default_factory=tuple)
    #: True when the diff hit its time bound and the rest is one coarse run
    bounded: bool = False

    @property
    def equal(self) -> bool:
        return self.a == self.b

    @cached_property
    def invisible_only(self) -> bool:
        """True when the prompts differ but read the same to a person."""
        return not self.equal and normalize_prompt(self.a) == normalize_prompt(self.b)

    def summary(self) -> str:
        if self.equal:
            return "identical bytes"
        notes = [c.note for c in self.changes if c.note][:10]
        kind = "invisible/look-alike change" if self.invisible_only else "text change"
        text = f"{kind}: " + "; ".join(notes or [f"{len(self.changes)} changed run(s)"])
        if self.bounded:
            text += f" (diff coarsened after {DIFF_TIMEOUT:g} s: the prompts differ throughout)"
        return text

    def to_dict(self) -> dict[str, object]:
        return {
            "equal": self.equal,
            "invisible_only": self.invisible_only,
            "summary": self.summary(),
            "bounded": self.bounded,
            "changes": [c.to_dict() for c in self.changes],
        }


def _note(a: str, b: str) -> str:
    if ("\r" in a or "\r" in b) and a.replace("\r", "") == b.replace("\r", ""):
        return "CRLF vs LF line ends"
    if unicodedata.normalize("NFC", a) == unicodedata.normalize("NFC", b):
        return "same text, different Unicode normalisation (NFC vs NFD)"
    if not a.strip() and not b.strip():
        return f"whitespace: {', '.join(char_name(c) for c in a) or 'nothing'} -> {', '.join(char_name(c) for c in b) or 'nothing'}"
    if normalize_prompt(a) == normalize_prompt(b):
        parts = [f"{char_name(x)} -> {char_name(y)}" for x, y in zip(a, b) if x != y] if len(a) == len(b) else []
        if not parts:
            parts = [
                f"{', '.join(char_name(c) for c in a) or 'nothing'} -> {', '.join(char_name(c) for c in b) or 'nothing'}"
            ]
        return "; ".join(parts)
    return ""


#: the diff's time bound: past it the remaining middle is reported as one changed run
DIFF_TIMEOUT = 0.5


def _opcodes(a: str, b: str) -> tuple[list[tuple[str, int, int, int, int]], bool]:
    """(op, i1, i2, j1, j2) runs of a character diff, and whether the time bound cut it short.

    Myers' O(ND) diff (diff-match-patch), which first strips the common prefix and suffix,
    so a small edit in a long prompt costs linear time; a diff of two unrelated long texts
    stops at :data:`DIFF_TIMEOUT` and reports what is left as one replaced run.
    """
    import time

    from diff_match_patch import diff_match_patch

    dmp = diff_match_patch()
    dmp.Diff_Timeout = DIFF_TIMEOUT
    started = time.perf_counter()
    diffs = dmp.diff_main(a, b, checklines=False)
    bounded = time.perf_counter() - started >= DIFF_TIMEOUT
    out: list[tuple[str, int, int, int, int]] = []
    i = j = 0
    pending_a = pending_b = 0
    for op, text in [*diffs, (0, "")]:
        if op == 0:
            if pending_a or pending_b:
                kind = "replace" if pending_a and pending_b else ("delete" if pending_a else "insert")
                out.append((kind, i, i + pending_a, j, j + pending_b))
                i, j = i + pending_a, j + pending_b
                pending_a = pending_b = 0
            i += len(text)
            j += len(text)
        elif op < 0:
            pending_a += len(text)
        else:
            pending_b += len(text)
    return out, bounded


def diff_prompts(a: str | None, b: str | None) -> PromptDiff:
    """Code-point diff of two prompts with every changed character named."""
    a = a or ""
    b = b or ""
    if a == b:
        return PromptDiff(a, b)
    runs, bounded = _opcodes(a, b)
    changes = []
    for op, i1, i2, j1, j2 in runs:
        at, bt = a[i1:i2], b[j1:j2]
        changes.append(
            CharChange(
                op=op,
                a_pos=i1,
                b_pos=j1,
                a_text=at,
                b_text=bt,
                a_names=tuple(char_name(c) for c in at[:20]),
                b_names=tuple(char_name(c) for c in bt[:20]),
                note=_note(at, bt) if len(at) + len(bt) <= 100_000 else "",
            )
        )
    return PromptDiff(a, b, tuple(changes), bounded)
