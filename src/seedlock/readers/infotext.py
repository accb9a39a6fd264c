"""The A1111 "infotext" grammar, shared by every tool that writes A1111-style text.

Follows A1111's own ``parse_generation_parameters`` (metadata-formats.md §2.1): the last
line is the parameter line only when it holds at least three ``Key: value`` items;
values in double quotes are JSON strings; ``WxH`` values split into ``-1``/``-2``.
Unquoted JSON values (``Hashes: {...}``, ``Civitai resources: [...]``) are cut out
first, because their commas would otherwise split items.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

_PARAM = re.compile(r'\s*(\w[\w \-/]*):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')
_JSON_VALUE = re.compile(r"(?:^|,\s*)([\w][\w \-/]*):\s*(?=[\[{])")
_NEGATIVE = "Negative prompt:"

#: A1111 extra-network syntax: ``<lora:name:0.8>``, ``<lyco:name:1:0.5>``, ``<hypernet:name:1>``.
#: A1111 removes these tags before the text encoder sees the prompt.
EXTRA_NETWORK = re.compile(r"<(lora|lyco|hypernet):([^:>]+)((?::[^:>]*)*)>", re.IGNORECASE)


def strip_extra_networks(text: str) -> str:
    """The prompt as A1111 encodes it: extra-network tags removed, nothing else touched."""
    return EXTRA_NETWORK.sub("", text) if "<" in text else text


def _cut_json_values(line: str) -> tuple[str, dict[str, Any]]:
    """Remove ``Key: {json}`` / ``Key: [json]`` items, returning the rest and the values."""
    found: dict[str, Any] = {}
    decoder = json.JSONDecoder()
    pos = 0
    out: list[str] = []
    while True:
        m = _JSON_VALUE.search(line, pos)
        if not m:
            out.append(line[pos:])
            break
        start = m.end()
        try:
            value, end = decoder.raw_decode(line, start)
        except ValueError:
            out.append(line[pos : m.end()])
            pos = m.end()
            continue
        found[m.group(1).strip()] = value
        out.append(line[pos : m.start()])
        pos = end
    return "".join(out), found


def _items(rest: str, json_values: dict[str, Any], found: list[tuple[str, str]]) -> dict[str, Any]:
    params: dict[str, Any] = {key.strip(): value.strip() for key, value in found}
    if '"' in rest:  # a value in double quotes is a JSON string
        for key, value in params.items():
            if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(value)
    if json_values:
        params.update(json_values)
    return params


def parse_params(line: str) -> dict[str, Any]:
    """Parse one parameter line into an ordered ``{key: value}`` dict (values are strings,
    except cut-out JSON values)."""
    rest, json_values = _cut_json_values(line) if ("{" in line or "[" in line) else (line, {})
    return _items(rest, json_values, _PARAM.findall(rest))


def split_infotext(text: str) -> tuple[str, str | None, dict[str, Any]]:
    """Split infotext into (prompt, negative prompt or None, parameters)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    lines = text.strip().split("\n")
    params: dict[str, Any] = {}
    if lines:
        last = lines[-1]
        rest, json_values = _cut_json_values(last) if ("{" in last or "[" in last) else (last, {})
        found = _PARAM.findall(rest)
        if len(found) >= 3 or (last.startswith(("Steps: ", "Sampler: ", "Size: ")) and len(lines) > 1):
            params = _items(rest, json_values, found)
            lines.pop()
    negative: str | None = None
    for i, line in enumerate(lines):
        if line.startswith(_NEGATIVE):
            lines[i] = line[len(_NEGATIVE) :].lstrip(" ")
            negative = "\n".join(lines[i:])
            lines = lines[:i]
            break
    return "\n".join(lines), negative, params


def looks_like_infotext(text: str) -> bool:
    """Cheap test: an A1111-style parameter line with Steps/Sampler/Seed keys."""
    tail = text[-4000:]
    return ("Steps: " in tail or "Seed: " in tail) and (
        "Sampler: " in tail or "CFG scale: " in tail or "Size: " in tail
    )
