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


def parse_params(line: str) -> dict[str, Any]:
    """Parse one parameter line into an ordered ``{key: value}`` dict (values are strings,
    except cut-out JSON values)."""
    rest, json_values = _cut_json_values(line)
    params: dict[str, Any] = {}
    for key, value in _PARAM.findall(rest):
        key = key.strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        params[key] = value
    params.update(json_values)
    return params


def split_infotext(text: str) -> tuple[str, str | None, dict[str, Any]]:
    """Split infotext into (prompt, negative prompt or None, parameters)."""
    text = text.replace("\r\n", "\n")
    lines = text.strip().split("\n")
    params: dict[str, Any] = {}
    if lines:
        last = lines[-1]
        if len(_PARAM.findall(_cut_json_values(last)[0])) >= 3 or (
            last.startswith(("Steps: ", "Sampler: ", "Size: ")) and len(lines) > 1
        ):
            params = parse_params(last)
            lines = lines[:-1]
    prompt_lines: list[str] = []
    negative_lines: list[str] | None = None
    for line in lines:
        if negative_lines is None and line.startswith(_NEGATIVE):
            negative_lines = [line[len(_NEGATIVE) :].lstrip(" ")]
        elif negative_lines is not None:
            negative_lines.append(line)
        else:
            prompt_lines.append(line)
    negative = "\n".join(negative_lines) if negative_lines is not None else None
    return "\n".join(prompt_lines), negative, params


def looks_like_infotext(text: str) -> bool:
    """Cheap test: an A1111-style parameter line with Steps/Sampler/Seed keys."""
    tail = text[-4000:]
    return ("Steps: " in tail or "Seed: " in tail) and (
        "Sampler: " in tail or "CFG scale: " in tail or "Size: " in tail
    )
