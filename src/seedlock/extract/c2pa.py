"""Content Credentials (C2PA): find the manifest's claim generator and actions.

A C2PA manifest store is a JUMBF box tree whose leaves hold CBOR. seedlock does not
validate signatures; it reports which vendor claims to have made the image and
whether the manifest marks it as AI-generated, which is all a manifest can say
about a generation (it never carries a prompt or a seed).
"""

from __future__ import annotations

import struct
from typing import Any

from seedlock.errors import MalformedCBOR
from seedlock.extract.raw import C2PAInfo

_MAX_DEPTH = 32
_MAX_ITEMS = 100_000


class _CBOR:
    """A small bounded CBOR decoder (RFC 8949 subset: no indefinite lengths beyond skipping)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.items = 0

    def _arg(self, info: int) -> int:
        if info < 24:
            return info
        sizes = {24: 1, 25: 2, 26: 4, 27: 8}
        if info not in sizes:
            raise MalformedCBOR("indefinite or reserved length")
        n = sizes[info]
        if self.pos + n > len(self.data):
            raise MalformedCBOR("truncated")
        value = int.from_bytes(self.data[self.pos : self.pos + n], "big")
        self.pos += n
        return value

    def item(self, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise MalformedCBOR("nested too deep")
        self.items += 1
        if self.items > _MAX_ITEMS or self.pos >= len(self.data):
            raise MalformedCBOR("truncated or too many items")
        head = self.data[self.pos]
        self.pos += 1
        major, info = head >> 5, head & 31
        if major == 7:
            if info in (25, 26, 27):
                self.pos += {25: 2, 26: 4, 27: 8}[info]
                return None
            return {20: False, 21: True}.get(info)
        arg = self._arg(info)
        if major in (0, 1):
            return arg if major == 0 else -1 - arg
        if major in (2, 3):
            if self.pos + arg > len(self.data):
                raise MalformedCBOR("string runs past the end")
            chunk = self.data[self.pos : self.pos + arg]
            self.pos += arg
            return chunk.decode("utf-8", "replace") if major == 3 else bytes(chunk)
        if major == 4:
            return [self.item(depth + 1) for _ in range(min(arg, _MAX_ITEMS))]
        if major == 5:
            out: dict[Any, Any] = {}
            for _ in range(min(arg, _MAX_ITEMS)):
                k = self.item(depth + 1)
                out[k if isinstance(k, (str, int)) else str(k)] = self.item(depth + 1)
            return out
        if major == 6:
            return self.item(depth + 1)
        raise MalformedCBOR("unknown major type")


def _boxes(data: bytes, depth: int = 0) -> list[tuple[str, bytes]]:
    """Flatten a JUMBF box tree to (type, payload) leaves."""
    out: list[tuple[str, bytes]] = []
    pos = 0
    while pos + 8 <= len(data) and depth < _MAX_DEPTH:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1 and pos + 16 <= len(data):
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        elif size == 0:
            size = len(data) - pos
        if size < header or pos + size > len(data):
            break
        payload = data[pos + header : pos + size]
        name = kind.decode("latin-1")
        if name == "jumb":
            out.extend(_boxes(payload, depth + 1))
        else:
            out.append((name, payload))
        pos += size
    return out


def _walk(obj: Any, found: dict[str, Any]) -> None:
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "claim_generator" and isinstance(value, str):
                found.setdefault("claim_generator", value)
            elif key == "claim_generator_info":
                infos = value if isinstance(value, list) else [value]
                for info in infos:
                    if isinstance(info, dict) and isinstance(info.get("name"), str):
                        found.setdefault("claim_generator", info["name"])
            elif key == "softwareAgent":
                name = value.get("name") if isinstance(value, dict) else value
                if isinstance(name, str):
                    found.setdefault("software_agent", name)
            elif key == "digitalSourceType" and isinstance(value, str):
                found.setdefault("digital_source_type", value)
            elif key == "action" and isinstance(value, str):
                found.setdefault("actions", []).append(value)
            _walk(value, found)
    elif isinstance(obj, list):
        for value in obj:
            _walk(value, found)


def parse_c2pa(payload: bytes, container: str) -> C2PAInfo:
    """Summarise a C2PA manifest store; never raises (a broken store still proves presence)."""
    info = C2PAInfo(container=container)
    found: dict[str, Any] = {}
    try:
        for kind, body in _boxes(payload):
            if kind == "cbor":
                try:
                    _walk(_CBOR(body).item(), found)
                except (MalformedCBOR, RecursionError):
                    continue
    except (struct.error, ValueError):
        return info
    info.claim_generator = found.get("claim_generator")
    info.software_agent = found.get("software_agent")
    info.digital_source_type = found.get("digital_source_type")
    info.actions = list(dict.fromkeys(found.get("actions", [])))
    return info
