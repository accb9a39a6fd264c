"""Does a hash claim from metadata match a file, or another claim? One rule, one place.

Metadata carries hashes in many forms and lengths: a full sha256, AutoV2 (its first 10
hex), A1111 LoRA hashes (the first 12 hex of AutoV3, the tensor-data hash), AutoV1 (8 hex
of a legacy window hash), BLAKE3, CRC32 (Civitai writes it byte-reversed), and Forge's
hash of the file *name*, which identifies nothing. A claim is a prefix of the full hash
of its form; a prefix shorter than the form's minimum means nothing and matches nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["COLUMN", "MIN_PREFIX", "STRENGTH", "agree", "checkable", "matches", "normalize"]

#: claim form -> the full hash it is a prefix of
COLUMN: Mapping[str, str] = {
    "sha256": "sha256",
    "autov2": "sha256",
    "autov3": "autov3",
    "blake3": "blake3",
    "autov1": "autov1",
    "crc32": "crc32",
    "crc32_civitai": "crc32",
}

#: claim form -> the fewest hex digits that identify a file (AutoV2 is defined as 10)
MIN_PREFIX: Mapping[str, int] = {
    "sha256": 8,
    "autov2": 10,
    "autov3": 10,
    "blake3": 8,
    "autov1": 8,
    "crc32": 8,
    "crc32_civitai": 8,
}

#: strongest evidence first: whole-file sha256, tensor hash, BLAKE3, AutoV2, CRC32, AutoV1
STRENGTH = ("sha256", "autov3", "blake3", "autov2", "crc32", "crc32_civitai", "autov1")

_HEX = frozenset("0123456789abcdef")


def normalize(value: str) -> str:
    """Lower-case hex without a ``0x`` prefix ('' when the value is not hex at all)."""
    v = value.strip().lower().removeprefix("0x")
    return v if v and all(c in _HEX for c in v) else ""


def checkable(claims: Mapping[str, str]) -> dict[str, str]:
    """The claims that can identify a file: known forms, hex, at least the form's minimum length."""
    out: dict[str, str] = {}
    for form, value in claims.items():
        v = normalize(str(value))
        if form in MIN_PREFIX and len(v) >= MIN_PREFIX[form]:
            out[form] = v
    return out


def _full_value(form: str, got: Mapping[str, str]) -> str:
    full = got.get(COLUMN[form], "").lower()
    if form == "crc32_civitai" and len(full) == 8:
        return bytes.fromhex(full)[::-1].hex()
    return full


def matches(form: str, value: str, got: Mapping[str, str]) -> bool:
    """True when the claim ``form=value`` is a prefix of the file's hash of that form.

    Args:
        form: the claim's hash form (``autov2``, ``sha256``, ...).
        value: the claimed hex, possibly a prefix.
        got: the file's full hashes by form, as :func:`seedlock.pin.hashing.hash_file` gives them.
    """
    if form not in COLUMN:
        return False
    v = normalize(value)
    if len(v) < MIN_PREFIX[form]:
        return False
    full = _full_value(form, got)
    if not full:
        return False
    if form.startswith("crc32"):
        return full == v or (form == "crc32" and len(v) == 8 and bytes.fromhex(v)[::-1].hex() == full)
    return full.startswith(v)


def match_any(claims: Mapping[str, str], got: Mapping[str, str]) -> bool | None:
    """True when some checkable claim matches the file, False when all checkable ones miss, None when none can be checked."""
    usable = {f: v for f, v in checkable(claims).items() if _full_value(f, got)}
    if not usable:
        return None
    return any(matches(f, v, got) for f, v in usable.items())


def _expand(h: Mapping[str, str]) -> dict[str, str]:
    out = {k: normalize(str(v)) for k, v in h.items() if k in COLUMN}
    out = {k: v for k, v in out.items() if v}
    # AutoV2 is the sha256 prefix: compare them as one form
    if "sha256" in out:
        out.setdefault("autov2", out["sha256"][: max(10, len(out.get("autov2", "")))])
    if "autov2" in out and "sha256" not in out:
        out["sha256"] = out["autov2"]
    return out


def agree(a: Mapping[str, str], b: Mapping[str, str]) -> bool | None:
    """Two claim sets: True when a shared form agrees, False when one disagrees, None when none is comparable."""
    ea, eb = _expand(a), _expand(b)
    verdict: bool | None = None
    for form in ea.keys() & eb.keys():
        x, y = ea[form], eb[form]
        n = min(len(x), len(y))
        if n < MIN_PREFIX[form]:
            continue
        if x[:n] != y[:n]:
            return False
        verdict = True
    return verdict
