"""``api run``: send a captured request, follow it to its images, and keep everything at once.

The request is linted first: an unpinned model or a hidden pass left on is refused unless
the caller allows it (the record then says so). The key comes from the environment and goes
only into the outgoing header. Asynchronous providers are polled; 429 answers are retried
after their Retry-After; images are downloaded the moment they exist, since their URLs
expire. Each image is saved with its record embedded, beside one sidecar JSON holding the
whole exchange, redacted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from seedlock.errors import ContentFiltered, RecordFormatError, RunRefused, ServiceError
from seedlock.extract import sniff_format
from seedlock.files import atomic_write_bytes
from seedlock.providers.exchange import Exchange, HttpStep, Output, redact_headers, redact_url, scrub
from seedlock.providers.lint import CapturedRequest, Finding, LintReport, lint
from seedlock.providers.model import Provider
from seedlock.providers.protocol import PROTOCOLS, Protocol, find
from seedlock.record import GenerationRecord, Generator, ModelRef, PostProcess, SamplingPass

__all__ = ["RunOptions", "RunResult", "record_for", "run_request"]

_MEDIA = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
_SUFFIX = {"png": "png", "jpeg": "jpg", "webp": "webp"}


@dataclass(frozen=True)
class RunOptions:
    """How to send: where, how patiently, and with what consent."""

    #: origin to call instead of the request's (``http://127.0.0.1:8000``): a stand-in or a proxy
    endpoint: str | None = None
    allow_unpinned: bool = False
    #: give up on an answer after this long, polling included
    timeout: float = 600.0
    poll_interval: float = 1.0
    #: 429 and 5xx answers retried at most this often; a Retry-After longer than max_wait fails
    retries: int = 5
    max_wait: float = 120.0


@dataclass(frozen=True)
class RunResult:
    exchange: Exchange
    sidecar: Path
    images: tuple[Path, ...]
    records: tuple[GenerationRecord, ...]


def _first(doc: Any, paths: tuple[str, ...], headers: Mapping[str, str] | None = None) -> Any:
    for p in paths:
        if p.startswith("header:"):
            if headers is not None:
                v = {k.lower(): v for k, v in headers.items()}.get(p[7:])
                if v is not None:
                    return v
            continue
        for v in find(doc, p):
            if v is not None:
                return v
    return None


def _as_int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and re.fullmatch(r"-?\d+", v.strip()):
        return int(v)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return None


def _key(proto: Protocol, req: CapturedRequest, provider: Provider) -> tuple[dict[str, str], list[str]]:
    """Outgoing headers with the key from the environment, and the secrets to scrub."""
    headers = {k: v for k, v in req.headers.items() if v != "<redacted>"}
    secrets = [v for k, v in req.headers.items() if k.lower() in ("authorization", proto.key_header.lower())]
    for header, env in proto.also:
        if os.environ.get(env):
            headers = {k: v for k, v in headers.items() if k.lower() != header.lower()}
            headers[header] = os.environ[env]
            secrets.append(os.environ[env])
        elif not any(k.lower() == header.lower() for k in headers):
            raise RunRefused(f"{provider.title} needs ${env} as well", needs=f"key:{env}")
    if not proto.key_env:
        return headers, secrets
    for name in proto.key_env:
        key = os.environ.get(name)
        if key:
            headers = {k: v for k, v in headers.items() if k.lower() != proto.key_header.lower()}
            headers[proto.key_header] = proto.key_format.format(key=key)
            return headers, [*secrets, key, headers[proto.key_header]]
    if any(k.lower() == proto.key_header.lower() for k in headers):
        return headers, secrets
    raise RunRefused(f"{provider.title} needs a key in ${proto.key_env[0]}", needs=f"key:{proto.key_env[0]}")


def _rebase(url: str, endpoint: str | None) -> str:
    if not endpoint:
        return url
    base, target = urlsplit(endpoint), urlsplit(url)
    return urlunsplit((base.scheme, base.netloc, target.path, target.query, target.fragment))


class _Session:
    """One provider conversation: sends, retries, and notes each step (redacted)."""

    def __init__(self, provider: Provider, headers: dict[str, str], secrets: list[str], opts: RunOptions) -> None:
        import httpx

        self.httpx = httpx
        self.provider = provider
        self.headers = headers
        self.secrets = secrets
        self.opts = opts
        self.steps: list[HttpStep] = []
        self.deadline = time.monotonic() + opts.timeout
        self.client = httpx.Client(timeout=httpx.Timeout(min(opts.timeout, 120.0)), follow_redirects=True)

    def close(self) -> None:
        self.client.close()

    def _fail(self, message: str, status: int | None, url: str) -> ServiceError:
        text = str(scrub(message, self.secrets))
        return ServiceError(text, service=self.provider.name, status=status, url=redact_url(url))

    def send(self, purpose: str, method: str, url: str, *, auth: bool = True, **kw: Any) -> Any:
        """The response of one call, after retrying 429 (Retry-After) and 5xx answers."""
        httpx = self.httpx
        headers = dict(self.headers) if auth else {}
        headers.update(kw.pop("headers", {}))
        attempt = 0
        while True:
            t0 = time.perf_counter()
            try:
                resp = self.client.request(method, url, headers=headers, **kw)
            except httpx.TimeoutException:
                raise self._fail(f"{purpose}: no answer within the timeout", None, url) from None
            except httpx.HTTPError as exc:
                raise self._fail(f"{purpose}: cannot reach {redact_url(url)} ({exc})", None, url) from None
            seconds = time.perf_counter() - t0
            self.steps.append(
                HttpStep(
                    purpose,
                    method,
                    redact_url(url),
                    resp.status_code,
                    seconds,
                    scrub(redact_headers(headers), self.secrets),
                    scrub(redact_headers(dict(resp.headers)), self.secrets),
                    scrub(_body_of(resp), self.secrets),
                )
            )
            retryable = resp.status_code == 429 or resp.status_code >= 500
            if not retryable or attempt >= self.opts.retries:
                break
            wait = _retry_after(resp.headers.get("retry-after"), attempt)
            if wait > self.opts.max_wait or time.monotonic() + wait > self.deadline:
                break
            attempt += 1
            time.sleep(wait)
        if resp.status_code >= 400:
            detail = _error_text(resp)
            what = "rate limited" if resp.status_code == 429 else f"HTTP {resp.status_code}"
            raise self._fail(f"{purpose}: {what}: {detail}", resp.status_code, url)
        return resp

    def waited_out(self) -> bool:
        return time.monotonic() >= self.deadline


def _retry_after(value: str | None, attempt: int) -> float:
    if value:
        try:
            return max(0.0, float(value.strip()))
        except ValueError:
            pass
    return float(min(30.0, 0.5 * 2**attempt))


def _body_of(resp: Any) -> Any:
    ctype = resp.headers.get("content-type", "")
    if "json" in ctype:
        try:
            return resp.json()
        except ValueError:
            return resp.text[:2000]
    if ctype.startswith("image/") or sniff_format(resp.content[:12]):
        return f"<{ctype or 'image'}: {len(resp.content)} bytes, sha256 {hashlib.sha256(resp.content).hexdigest()}>"
    return resp.text[:2000]


def _error_text(resp: Any) -> str:
    body = _body_of(resp)
    if isinstance(body, Mapping):
        for k in ("detail", "message", "error", "errors", "title"):
            if body.get(k):
                v = body[k]
                return v if isinstance(v, str) else json.dumps(v)[:300]
        return json.dumps(body)[:300]
    return str(body).strip().replace("\n", " ")[:300] or "(empty answer)"


def _status(proto: Protocol, doc: Any, headers: Mapping[str, str]) -> str | None:
    v = _first(doc, proto.status, headers)
    return v.strip().lower() if isinstance(v, str) else None


def _poll(sess: _Session, proto: Protocol, url: str, resp: Any) -> tuple[Any, Any]:
    """Follow an asynchronous job to its end; the final JSON and response.

    The next URL is the one the answer names (Replicate's urls.get, BFL's polling_url, fal's
    status_url), else the provider's template on it (Leonardo), else the last one polled
    while the status is not final.
    """
    doc = _body_of(resp)
    last: str | None = None
    while True:
        status = _status(proto, doc, resp.headers)
        if status in proto.done or status in proto.failed or status in proto.filtered:
            break
        nxt = _first(doc, proto.poll)
        if nxt is None and proto.poll_template and last is None:
            nxt = _fill(proto.poll_template, doc)
        if not isinstance(nxt, str):
            if last is None or status is None:
                break  # a synchronous answer: nothing to poll
            nxt = last
        if sess.waited_out():
            raise sess._fail(f"still {status or 'pending'} when the timeout ran out", None, nxt)
        time.sleep(sess.opts.poll_interval)
        last = urljoin(url, nxt)
        resp = sess.send("poll", "GET", last)
        doc = _body_of(resp)
    status = _status(proto, doc, resp.headers)
    if status in proto.failed:
        raise sess._fail(f"the job ended {status}: {_error_text(resp)}", resp.status_code, url)
    result = _first(doc, proto.result_url)
    if status in proto.done and isinstance(result, str):
        resp = sess.send("result", "GET", urljoin(url, result))
        doc = _body_of(resp)
    return doc, resp


def _fill(template: str, doc: Any) -> str | None:
    """``template`` with each ``{dotted.path}`` replaced by its value in ``doc`` (None when one is missing)."""
    values: dict[str, str] = {}
    for name in re.findall(r"\{([^}]+)\}", template):
        found = next(iter(find(doc, name)), None)
        if found is None:
            return None
        values[name] = str(found)
    return re.sub(r"\{([^}]+)\}", lambda m: values[m.group(1)], template)


def _decode_b64(text: str) -> bytes | None:
    raw = text.split(",", 1)[1] if text.startswith("data:") else text
    try:
        return base64.b64decode(raw, validate=False)
    except (ValueError, binascii.Error):
        return None


def _images(sess: _Session, proto: Protocol, doc: Any, resp: Any, url: str) -> list[tuple[bytes, str, str | None]]:
    """(bytes, source, url) of each image, downloaded at once."""
    body_kind = sniff_format(resp.content[:12]) if not isinstance(doc, (dict, list)) else None
    if body_kind:
        return [(resp.content, "body", None)]
    out: list[tuple[bytes, str, str | None]] = []
    for path in proto.images:
        values = list(find(doc, path))
        for v in values:
            if not isinstance(v, str) or not v:
                continue
            if v.startswith(("http://", "https://")):
                got = sess.send("download", "GET", v, auth=_same_origin(v, url))
                out.append((got.content, "url", redact_url(v)))
            elif v.startswith("/") and len(v) < 2048:
                got = sess.send("download", "GET", urljoin(url, v), auth=True)
                out.append((got.content, "url", redact_url(urljoin(url, v))))
            else:
                data = _decode_b64(v)
                if data is not None:
                    out.append((data, "base64", None))
        if out:
            break
    return out


def _same_origin(a: str, b: str) -> bool:
    return urlsplit(a).netloc == urlsplit(b).netloc


def _hidden_passes(report: LintReport, provider: Provider) -> list[Finding]:
    """Findings about a hidden pass or rewrite left on (one of the provider's toggles)."""
    fields = {t.field for t in provider.toggles}
    return [f for f in report.findings if f.severity != "info" and f.field in fields]


def _free_stem(out: Path, stem: str) -> str:
    """``stem``, or ``stem-2``, ``stem-3``...: a run never replaces an earlier run's files."""
    n, candidate = 1, stem
    while any(out.glob(f"{candidate}.*")) or any(out.glob(f"{candidate}-[0-9]*.*")):
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


def record_for(
    provider: Provider,
    req: CapturedRequest,
    report: LintReport,
    *,
    version: str | None,
    seed: int | None,
    prompt_used: str | None,
    infotext: str | None,
    exchange_file: str,
    index: int,
    request_id: str | None,
) -> GenerationRecord:
    """The canonical record of one hosted output: the provider, its version, the toggles that ran."""
    proto = PROTOCOLS[provider.name]
    body = req.body
    prompt = _first(body, proto.prompt_in)
    neg = _first(body, proto.negative_in)
    hosted_version = version if version and version.lower() != "hidden" else None
    warnings: list[str] = []
    if version and version.lower() == "hidden":
        warnings.append(f'{provider.title} answered version "hidden": the weights behind this image cannot be named')
    elif version is None and report.pin != "pinned":
        warnings.append(f"{provider.title} names no version: a later call may run other weights")
    if prompt_used and isinstance(prompt, str) and prompt_used != prompt:
        warnings.append("the provider rewrote the prompt: the prompt it used is in extra.hosted.prompt_used")
    post = tuple(
        PostProcess("hosted", f.field, {"finding": f.message, "fix": f.fix}) for f in _hidden_passes(report, provider)
    )
    if infotext:
        from seedlock.extract.raw import RawMetadata
        from seedlock.readers.a1111 import record_from_infotext

        base = record_from_infotext(infotext, RawMetadata("api", {"parameters": infotext}))
        rec = base.replace(postprocessing=base.postprocessing + post)
    else:
        p = SamplingPass(
            seed=seed,
            steps=_as_int(_first(body, proto.steps_in)),
            cfg_scale=_float(_first(body, proto.cfg_in)),
            width=_as_int(_first(body, proto.width_in)),
            height=_as_int(_first(body, proto.height_in)),
            prompt=prompt if isinstance(prompt, str) else None,
        )
        rec = GenerationRecord.from_passes(
            (p,),
            generator=Generator.HOSTED,
            prompt=prompt if isinstance(prompt, str) else None,
            negative_prompt=neg if isinstance(neg, str) else None,
            model=ModelRef(name=report.model, version=hosted_version),
            postprocessing=post,
        )
    hosted: dict[str, Any] = {
        "provider": provider.name,
        "version": version,
        "pin": report.pin,
        "grade": report.grade,
        "exchange": exchange_file,
        "output_index": index,
    }
    if request_id:
        hosted["request_id"] = request_id
    if prompt_used is not None:
        hosted["prompt_used"] = prompt_used
    model = rec.model or ModelRef(name=report.model)
    if hosted_version and model.version is None:
        model = replace(model, version=hosted_version)
    return rec.replace(
        generator=Generator.HOSTED,
        generator_name=provider.title,
        model=model,
        seed=seed if seed is not None else rec.seed,
        extra={**rec.extra, "hosted": hosted},
        warnings=rec.warnings + tuple(warnings),
    )


def _float(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def _pixel_sha(path: Path) -> str:
    from seedlock.diff.pixels import decode, pixel_hash

    return pixel_hash(decode(path))


def run_request(
    req: CapturedRequest,
    provider: Provider,
    out_dir: str | os.PathLike[str],
    *,
    stem: str | None = None,
    options: RunOptions | None = None,
    on_status: Callable[[str], None] | None = None,
) -> RunResult:
    """Send ``req``, save its images with their records and the redacted exchange beside them.

    Raises:
        RunRefused: an unpinned model or a hidden pass, not allowed; or no key in the environment.
        ServiceError: the provider refused or failed the call, or did not answer in time.
        ContentFiltered: the provider's filter withheld the output (the exchange is still saved).
    """
    opts = options or RunOptions()
    proto = PROTOCOLS[provider.name]
    report = lint(req, provider)
    unpinned = [f for f in report.findings if f.field == "model" and f.severity != "info"]
    blocking = unpinned + _hidden_passes(report, provider)
    if blocking and not opts.allow_unpinned:
        what = "; ".join(f"{f.field}: {f.message}" for f in blocking)
        raise RunRefused(f"not sent: {what}", needs="allow-unpinned")
    if not req.url:
        raise RecordFormatError("a bare request body has no URL to send to: capture {method, url, headers, body}")
    headers, secrets = _key(proto, req, provider)
    url = _rebase(req.url, opts.endpoint)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(timezone.utc)
    stem = _free_stem(out, stem or f"{provider.name}-{started.strftime('%Y%m%dT%H%M%S')}")
    sess = _Session(provider, headers, secrets, opts)
    t0 = time.perf_counter()
    filtered = False
    try:
        if on_status:
            on_status("sending")
        if proto.encoding == "multipart":
            files = {k: (None, v if isinstance(v, str) else json.dumps(v)) for k, v in req.body.items()}
            resp = sess.send("submit", req.method, url, files=files)
        else:
            resp = sess.send("submit", req.method, url, json=dict(req.body))
        if on_status:
            on_status("waiting")
        doc, resp = _poll(sess, proto, url, resp)
        status = _status(proto, doc, resp.headers)
        filtered = status in proto.filtered
        images = [] if filtered else _images(sess, proto, doc, resp, url)
        if not images and not filtered:
            raise sess._fail("the answer holds no image", resp.status_code, url)
        version = _first(doc, proto.version)
        seeds: list[int | None] = [_as_int(v) for p in proto.seed for v in find(doc, p) if "[]" in p][: len(images)]
        one_seed = _as_int(_first(doc, proto.seed, resp.headers))
        if one_seed is None and proto.seed_log:
            log = _first(doc, (proto.seed_log[0],))
            m = re.search(proto.seed_log[1], log) if isinstance(log, str) else None
            one_seed = int(m.group(1)) if m else None
        if one_seed is None and provider.seed:
            from seedlock.providers.model import get_path

            _, sent = get_path(req.body, provider.seed)
            one_seed = _as_int(sent[0] if isinstance(sent, list) and sent else sent)
        prompts = [v for p in proto.prompt_out for v in find(doc, p) if isinstance(v, str)]
        flags = [bool(v) for p in proto.filter_flags for v in find(doc, p)]
        infotexts = [v for p in proto.infotext for v in find(doc, p) if isinstance(v, str)]
        request_id = _first(doc, ("id", "request_id", "generation_id", "jobId"))
    finally:
        sess.close()
    seconds = time.perf_counter() - t0
    sidecar = out / f"{stem}.exchange.json"
    outputs: list[Output] = []
    paths: list[Path] = []
    records: list[GenerationRecord] = []
    stored_request = scrub(
        {"method": req.method, "url": req.url, "headers": redact_headers(req.headers), "body": dict(req.body)}, secrets
    )
    for i, (data, source, src_url) in enumerate(images):
        kind = sniff_format(data[:12])
        if kind is None:
            raise ServiceError(
                f"output {i} is not a PNG, JPEG or WebP image",
                service=provider.name,
                url=src_url and redact_url(src_url),
            )
        path = out / (f"{stem}.{_SUFFIX[kind]}" if len(images) == 1 else f"{stem}-{i}.{_SUFFIX[kind]}")
        seed = seeds[i] if i < len(seeds) and seeds[i] is not None else one_seed
        prompt_used = prompts[i] if i < len(prompts) else (prompts[0] if prompts else None)
        atomic_write_bytes(path, data)
        o = Output(
            i,
            path.name,
            _MEDIA[kind],
            source,
            hashlib.sha256(data).hexdigest(),
            _pixel_sha(path),
            seed,
            prompt_used,
            flags[i] if i < len(flags) else False,
            src_url,
        )
        rec = record_for(
            provider,
            req,
            report,
            version=version if isinstance(version, str) else None,
            seed=seed,
            prompt_used=prompt_used,
            infotext=infotexts[i] if i < len(infotexts) else None,
            exchange_file=sidecar.name,
            index=i,
            request_id=str(request_id) if request_id is not None else None,
        )
        if opts.allow_unpinned and blocking:
            rec = rec.replace(warnings=(*rec.warnings, "sent with --allow-unpinned: " + report.grade))
        from seedlock.writer import write

        write(rec, path)
        outputs.append(o)
        paths.append(path)
        records.append(rec)
    from seedlock._version import __version__

    exchange = Exchange(
        provider.name,
        stored_request,
        opts.endpoint,
        started.isoformat(timespec="seconds"),
        seconds,
        tuple(sess.steps),
        tuple(outputs),
        version if isinstance(version, str) else None,
        report.to_dict(),
        opts.allow_unpinned,
        filtered,
        __version__,
    )
    text = json.dumps(scrub(exchange.to_dict(), secrets), indent=2, ensure_ascii=False) + "\n"
    atomic_write_bytes(sidecar, text.encode("utf-8"))
    if filtered:
        raise ContentFiltered(
            f"{provider.title} withheld the output (status {status}); the exchange is kept in {sidecar}",
            service=provider.name,
            url=redact_url(url),
        )
    return RunResult(exchange, sidecar, tuple(paths), tuple(records))
