"""``api lint``: what in a captured request keeps its image from coming back the same.

A captured request is ``{"method", "url", "headers", "body"}`` (the shape a capture stores;
the provider is found from the URL) or a bare body with the provider named. Findings say
what is wrong in the provider's own field names, how bad it is, and how to fix it; the
grade is the best the request can reach as sent.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedlock.errors import InvalidSpec, RecordFormatError
from seedlock.providers.model import PROVIDERS, Provider, detect, get_path

__all__ = ["CapturedRequest", "Finding", "LintReport", "lint", "load_request"]

SEVERITIES = ("info", "warning", "error")
GRADES = ("bitwise", "same version and seed, no determinism promise", "not reproducible")
#: header names whose values are secrets; never printed, never stored
SECRET_HEADERS = frozenset({"authorization", "x-key", "x-api-key", "api-key", "x-goog-api-key", "proxy-authorization"})


@dataclass(frozen=True)
class CapturedRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: Mapping[str, Any]


@dataclass(frozen=True)
class Finding:
    severity: str
    field: str
    message: str
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "field": self.field, "message": self.message, "fix": self.fix}


@dataclass(frozen=True)
class LintReport:
    provider: str
    model: str | None
    pin: str
    grade: str
    findings: tuple[Finding, ...] = field(default=())

    @property
    def worst(self) -> str | None:
        ranks = [SEVERITIES.index(f.severity) for f in self.findings]
        return SEVERITIES[max(ranks)] if ranks else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "pin": self.pin,
            "grade": self.grade,
            "findings": [f.to_dict() for f in self.findings],
        }


def load_request(path: str | os.PathLike[str], provider: str | None = None) -> tuple[CapturedRequest, Provider]:
    """A captured request (or a bare body with ``provider``) and its provider.

    Raises:
        RecordFormatError: not JSON, or not a request this knows.
        InvalidSpec: an unknown provider name, or none given for a bare body.
    """
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise RecordFormatError(f"not a JSON request ({exc})", path=p) from None
    if not isinstance(doc, dict):
        raise RecordFormatError("a request must be a JSON object", path=p)
    if provider is not None and provider not in PROVIDERS:
        raise InvalidSpec(f"unknown provider {provider!r} (known: {', '.join(PROVIDERS)})", value=provider)
    if isinstance(doc.get("url"), str) and "body" in doc:
        body = doc.get("body")
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except ValueError:
                body = {}
        req = CapturedRequest(
            str(doc.get("method") or "POST").upper(),
            doc["url"],
            {str(k): str(v) for k, v in (doc.get("headers") or {}).items()},
            body if isinstance(body, dict) else {},
        )
        found = PROVIDERS[provider] if provider else detect(req.url)
        if found is None:
            raise RecordFormatError(f"no known provider serves {req.url}", path=p)
        return req, found
    if provider is None:
        raise InvalidSpec("a bare request body needs its provider named", value=str(p))
    return CapturedRequest("POST", "", {}, doc), PROVIDERS[provider]


def _out_of_range(v: Any, provider: Provider) -> bool:
    if not isinstance(v, int) or provider.seed_max is None or v in provider.random_seeds:
        return False
    return not 0 <= v <= provider.seed_max


def _model_name(req: CapturedRequest, provider: Provider) -> str:
    return f"{req.url} {req.body.get('model') or req.body.get('version') or req.body.get('modelId') or ''}".lower()


def lint(req: CapturedRequest, provider: Provider) -> LintReport:
    """Every finding for one request, and the grade it can reach."""
    findings: list[Finding] = []
    pin = provider.pin(req.url, req.body, req.headers)
    if provider.name == "a1111" and req.url.rstrip("/").endswith("/options") and req.method == "POST":
        findings.append(
            Finding(
                "error",
                "POST /sdapi/v1/options",
                "sets options and saves them to the server's config: every later image changes",
                "send the settings as override_settings of the txt2img request",
            )
        )
    if pin.status != "pinned":
        findings.append(Finding("warning", "model", f"not pinned: {pin.note}", pin.fix))
    seed_ok = provider.seed is not None
    if provider.seed is None:
        findings.append(Finding("error", "seed", f"{provider.title} takes no seed: no two calls are promised alike"))
    else:
        present, seed = get_path(req.body, provider.seed)
        values = seed if isinstance(seed, list) else [seed]
        if not present or seed in provider.random_seeds:
            shown = "missing" if not present else f"{seed!r}, which means random"
            echo = "; the response echoes the seed it drew" if provider.seed_echoed else ""
            findings.append(
                Finding("warning", provider.seed, f"seed {shown}{echo}", f"send {provider.seed} as a fixed integer")
            )
            seed_ok = False
        for v in values:
            if isinstance(v, bool) or (v is not None and not isinstance(v, int)):
                findings.append(
                    Finding(
                        "warning",
                        provider.seed,
                        f"seed sent as {type(v).__name__} ({v!r}); the API may round or reject it",
                        "send an integer",
                    )
                )
                seed_ok = False
            elif _out_of_range(v, provider):
                findings.append(
                    Finding(
                        "error", provider.seed, f"seed {v} is outside 0..{provider.seed_max}", "send a seed in range"
                    )
                )
                seed_ok = False
    model_text = _model_name(req, provider)
    hidden = False
    for t in provider.toggles:
        if t.models is not None and not re.search(t.models, model_text):
            continue
        present, value = get_path(req.body, t.field)
        effective = value if present else t.default
        norm = effective.lower() if isinstance(effective, str) else effective
        if norm in t.on:
            how = "left at its default" if not present else "on"
            findings.append(
                Finding(
                    t.severity, t.field, f"{t.field} {how} ({effective!r}): {t.effect}", f"send {t.field}={t.off!r}"
                )
            )
            hidden = hidden or t.severity != "info"
    if provider.name == "imagen" and seed_ok:
        present, wm = get_path(req.body, "parameters.addWatermark")
        if not present or wm is True:
            seed_ok = False  # the call fails with a seed while the watermark is on
    if provider.name == "firefly":
        _, seeds = get_path(req.body, "seeds")
        _, count = get_path(req.body, "numVariations")
        if isinstance(seeds, list) and isinstance(count, int) and len(seeds) != count:
            findings.append(
                Finding(
                    "error", "seeds", f"{len(seeds)} seeds for numVariations={count}", "send one seed per variation"
                )
            )
    if provider.seed is None or not seed_ok or hidden:
        grade = GRADES[2] if provider.seed is None or not seed_ok else GRADES[1]
    elif pin.status == "pinned" and provider.best.startswith("bitwise"):
        grade = GRADES[0]
    else:
        grade = GRADES[1]
    return LintReport(provider.name, pin.model, pin.status, grade, tuple(findings))


def redact(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers with every secret replaced (they are never printed or stored)."""
    return {k: ("<redacted>" if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}
