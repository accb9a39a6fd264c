"""The reader contract and the value coercions every reader shares."""

from __future__ import annotations

import json
import math
import re
from typing import Any, ClassVar, Protocol

from seedlock.errors import ReaderError
from seedlock.extract.raw import RawMetadata
from seedlock.record import GenerationRecord

#: JSON nested deeper than this is refused before parsing (a hostile file, not a recipe)
MAX_JSON_DEPTH = 200


class Reader(Protocol):
    """A generator dialect: ``accept`` sniffs keys cheaply, ``parse`` builds the record."""

    name: ClassVar[str]
    #: Optional, so not declared here: a class attribute ``carriers: ClassVar[frozenset[str]]``
    #: naming the only fields accept() looks at. A file with none of them skips the reader;
    #: a reader without it is always tried.

    def accept(self, raw: RawMetadata) -> bool: ...

    def parse(self, raw: RawMetadata) -> GenerationRecord: ...


def fail(reader: str, message: str) -> ReaderError:
    return ReaderError(message, reader=reader)


def _depth_ok(text: str) -> bool:
    """Reject pathological nesting cheaply: json.loads would recurse once per level."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return True
    depth = deepest = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH:
                    return False
        elif ch in "]}":
            depth -= 1
    return True


def load_json(text: str, reader: str, what: str) -> Any:
    """Parse JSON with a nesting bound; raise ReaderError with a one-line reason."""
    if not _depth_ok(text):
        raise fail(reader, f"{what}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text.strip().rstrip("\x00"))
    except (ValueError, RecursionError) as exc:
        raise fail(reader, f"{what}: invalid JSON ({exc})") from None


def maybe_json(text: str) -> Any:
    """JSON value of ``text`` if it looks like a JSON object and parses; else None."""
    t = text.lstrip()
    if not t.startswith("{") or not _depth_ok(t):
        return None
    try:
        return json.loads(t.rstrip().rstrip("\x00"))
    except (ValueError, RecursionError):
        return None


def to_int(value: Any) -> int | None:
    """Integer from int/float/str ("42", "42.0", " 42 "); None when not a number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    try:
        s = str(value).strip()
        return int(s) if s.lstrip("-").isdigit() else int(float(s))
    except (ValueError, OverflowError):
        return None


def to_float(value: Any) -> float | None:
    """Float from int/float/str; None when not a finite number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def seed_of(value: Any) -> tuple[int | None, str | None]:
    """Seed as an int plus the type the source used (``int``, ``str`` or ``float``)."""
    if value is None or isinstance(value, bool):
        return None, None
    kind = "str" if isinstance(value, str) else "float" if isinstance(value, float) else "int"
    return to_int(value), kind


_SIZE = re.compile(r"^\s*(\d+)\s*[x×,]\s*(\d+)\s*$")


def size_of(value: Any) -> tuple[int | None, int | None]:
    """``"512x768"``, ``"(512, 768)"``, ``"512 x 768"`` -> (512, 768)."""
    if not isinstance(value, str):
        return None, None
    m = _SIZE.match(value.strip().strip("()[]"))
    if not m:
        return None, None
    return int(m.group(1)), int(m.group(2))


_HEX = re.compile(r"^(?:0x)?([0-9a-fA-F]+)$")
#: hex length -> hash form (a 12-digit checkpoint hash is a sha256 prefix)
_HASH_BY_LENGTH = {64: "sha256", 10: "autov2", 8: "autov1", 12: "sha256"}


def hash_forms(value: Any, *, lora: bool = False) -> dict[str, str]:
    """Classify a model hash string by its length: 64 hex = sha256, 10 = AutoV2,
    8 = legacy AutoV1 (checkpoints), 12 = AutoV3 prefix (A1111 LoRA hashes)."""
    if not isinstance(value, str):
        return {}
    v = value.strip()
    if v.lower().startswith("blake3:"):
        return {"blake3": v[7:].lower()}
    m = _HEX.match(v)
    if not m:
        return {"other": v} if v else {}
    h = m.group(1).lower()
    if lora and len(h) == 12:
        return {"autov3": h}
    return {_HASH_BY_LENGTH.get(len(h), "other"): h}
