"""The record of one hosted call: every HTTP step, the outputs, the version string and seeds.

A provider forgets a call within minutes to an hour (Replicate deletes API data after an
hour, fal results after six minutes, BFL URLs expire after ten), so what was sent and what
came back is captured at once and kept beside the images, with every secret taken out.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from seedlock.providers.lint import SECRET_HEADERS

__all__ = ["Exchange", "HttpStep", "Output", "redact_headers", "redact_url", "scrub"]

SIDECAR_VERSION = 1
#: query parameters of signed URLs: a bearer credential while the URL lives
_SECRET_QUERY = re.compile(r"(?i)^(sig|signature|token|key|x-amz-signature|x-goog-signature|api_key|access_token)$")
_BASE64ISH = re.compile(r"^(data:[\w/+.-]+;base64,)?[A-Za-z0-9+/=\s]+$")
#: strings this long that look like base64 are image payloads: stored as their hash, not twice
_BLOB_MIN = 512


def redact_url(url: str) -> str:
    """``url`` with the values of signature and key query parameters replaced."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [
        (k, "<redacted>" if _SECRET_QUERY.match(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query, safe="<>:")))


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers with every credential replaced (they are never printed or stored)."""
    return {
        k: ("<redacted>" if k.lower() in SECRET_HEADERS or k.lower() in ("api-key", "cookie", "set-cookie") else v)
        for k, v in headers.items()
    }


def scrub(doc: Any, secrets: Iterable[str]) -> Any:
    """``doc`` with every occurrence of a secret replaced, and image payloads replaced by their hash.

    The last line of defence: a provider that echoes a key in an error message, or a
    captured request that carried one, never gets it onto disk.
    """
    secret_list = [s for s in secrets if s and len(s) >= 4]

    def clean(x: Any) -> Any:
        if isinstance(x, str):
            for s in secret_list:
                x = x.replace(s, "<redacted>")
            if "?" in x and x.startswith(("http://", "https://")):
                x = redact_url(x)
            if len(x) >= _BLOB_MIN and _BASE64ISH.match(x[:2048]):
                raw = x.split(",", 1)[1] if x.startswith("data:") else x
                try:
                    data = base64.b64decode(raw, validate=False)
                except ValueError:
                    return x
                return f"<base64: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}>"
            return x
        if isinstance(x, Mapping):
            return {clean(k): clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    return clean(doc)


@dataclass(frozen=True)
class HttpStep:
    """One request and its answer, as stored (headers redacted, image payloads hashed)."""

    purpose: str
    method: str
    url: str
    status: int
    seconds: float
    request_headers: Mapping[str, str] = field(default_factory=dict)
    response_headers: Mapping[str, str] = field(default_factory=dict)
    #: the JSON answer, or a note for a binary one
    response: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "purpose": self.purpose,
            "method": self.method,
            "url": self.url,
            "status": self.status,
            "seconds": round(self.seconds, 4),
            "request_headers": dict(self.request_headers),
            "response_headers": dict(self.response_headers),
            "response": self.response,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HttpStep:
        return cls(
            str(d.get("purpose", "")),
            str(d.get("method", "")),
            str(d.get("url", "")),
            int(d.get("status", 0)),
            float(d.get("seconds", 0.0)),
            dict(d.get("request_headers") or {}),
            dict(d.get("response_headers") or {}),
            d.get("response"),
        )


@dataclass(frozen=True)
class Output:
    """One image that came back, where it was saved, and what the provider said of it."""

    index: int
    #: file name, relative to the sidecar's folder
    file: str
    media_type: str
    #: ``url``, ``base64`` or ``body`` (the answer was the image)
    source: str
    sha256: str
    pixel_sha256: str
    seed: int | None = None
    #: the prompt the provider says it used, when it says (a rewrite shows here)
    prompt_used: str | None = None
    filtered: bool = False
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "file": self.file,
            "media_type": self.media_type,
            "source": self.source,
            "sha256": self.sha256,
            "pixel_sha256": self.pixel_sha256,
            "seed": self.seed,
            "prompt_used": self.prompt_used,
            "filtered": self.filtered,
            "url": self.url,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Output:
        return cls(
            int(d.get("index", 0)),
            str(d.get("file", "")),
            str(d.get("media_type", "")),
            str(d.get("source", "")),
            str(d.get("sha256", "")),
            str(d.get("pixel_sha256", "")),
            d.get("seed") if isinstance(d.get("seed"), int) else None,
            d.get("prompt_used") if isinstance(d.get("prompt_used"), str) else None,
            bool(d.get("filtered", False)),
            d.get("url") if isinstance(d.get("url"), str) else None,
        )


@dataclass(frozen=True)
class Exchange:
    """Everything one ``api run`` sent and received: the sidecar JSON, field for field."""

    provider: str
    #: the request as captured (headers redacted): ``{"method", "url", "headers", "body"}``
    request: Mapping[str, Any]
    #: the origin actually called when it differs from the request's (a local stand-in, a proxy)
    endpoint: str | None
    started_at: str
    seconds: float
    steps: tuple[HttpStep, ...]
    outputs: tuple[Output, ...]
    #: the version or model string the provider answered with (None: it names none)
    version: str | None
    #: the lint report of the request as sent
    lint: Mapping[str, Any]
    allowed_unpinned: bool = False
    filtered: bool = False
    seedlock_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "seedlock_exchange": SIDECAR_VERSION,
            "seedlock_version": self.seedlock_version,
            "provider": self.provider,
            "request": dict(self.request),
            "endpoint": self.endpoint,
            "started_at": self.started_at,
            "seconds": round(self.seconds, 4),
            "version": self.version,
            "filtered": self.filtered,
            "allowed_unpinned": self.allowed_unpinned,
            "lint": dict(self.lint),
            "outputs": [o.to_dict() for o in self.outputs],
            "steps": [s.to_dict() for s in self.steps],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Exchange:
        return cls(
            str(d["provider"]),
            dict(d["request"]),
            d.get("endpoint") if isinstance(d.get("endpoint"), str) else None,
            str(d.get("started_at", "")),
            float(d.get("seconds", 0.0)),
            tuple(HttpStep.from_dict(s) for s in d.get("steps") or ()),
            tuple(Output.from_dict(o) for o in d.get("outputs") or ()),
            d.get("version") if isinstance(d.get("version"), str) else None,
            dict(d.get("lint") or {}),
            bool(d.get("allowed_unpinned", False)),
            bool(d.get("filtered", False)),
            str(d.get("seedlock_version", "")),
        )

    @property
    def seeds(self) -> tuple[int | None, ...]:
        return tuple(o.seed for o in self.outputs)
