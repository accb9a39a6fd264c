"""Local stand-ins for the hosted image APIs, on 127.0.0.1.

No provider is reachable from the test machines, so each one is played by a small HTTP
server that checks requests the way the provider's documentation says it does and answers
with the documented shapes (hosted-providers.md, each source named beside its route):
keys in the provider's header form, asynchronous jobs that take a few polls, 429 with
Retry-After, signed delivery URLs that expire, and content-filtered results. These are
recorded shapes, not live calls. Images are made from the seed, the prompt and the served
model version, so a rolled version or a planted pixel change shows in the output.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import hmac
import io
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from PIL import Image

_SIGNING = b"stand-in signing key"
FILTER_WORD = "forbidden"


@dataclass
class State:
    provider: str
    #: the version a deployment / alias serves now (a roll changes it)
    version: str = "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa"
    #: added to every pixel: a planted non-determinism
    salt: int = 0
    #: how many submits are answered 429 before one goes through
    rate_limited: int = 0
    #: polls a job stays pending
    polls: int = 2
    #: seconds a delivery URL lives
    url_ttl: float = 60.0
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    random_seed: itertools.count[int] = field(default_factory=lambda: itertools.count(68235, 7919))


def make_image(seed: int, prompt: str, version: str, salt: int, fmt: str = "png", size: int = 32) -> bytes:
    """A deterministic picture of (seed, prompt, version): any of them moves its pixels."""
    digest = hashlib.sha256(f"{seed}|{prompt}|{version}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    arr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    if salt:
        arr = np.clip(arr.astype(np.int16) + salt, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, {"jpeg": "JPEG", "webp": "WEBP", "png": "PNG"}[fmt], **({"lossless": True} if fmt == "webp" else {}))
    return buf.getvalue()


class StandIn:
    """One provider's API on a free port of 127.0.0.1; ``base`` is its origin."""

    def __init__(self, provider: str) -> None:
        self.state = State(provider)
        #: every delivery URL handed out, signature included (the client stores them redacted)
        self.issued: list[str] = []
        handler = type("Handler", (_Handler,), {"standin": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- helpers shared by the routes ------------------------------------------------------------
    def deliver(self, data: bytes, ext: str) -> str:
        """A signed URL that expires after ``url_ttl`` (BFL's ?se=...&sig=..., Replicate's delivery host)."""
        name = f"{next(self.state.counter):06d}.{ext}"
        self.state.files[name] = (data, ext)
        expires = f"{time.time() + self.state.url_ttl:.3f}"
        sig = hmac.new(_SIGNING, f"{name}|{expires}".encode(), "sha256").hexdigest()
        url = f"{self.base}/delivery/{name}?se={expires}&sig={sig}"
        self.issued.append(url)
        return url

    def seed_of(self, value: Any, random_values: tuple[Any, ...] = (None,)) -> int:
        return next(self.state.random_seed) if value in random_values else int(value)


class _Handler(BaseHTTPRequestHandler):
    standin: StandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    # -- plumbing --------------------------------------------------------------------------------
    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None, ctype: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> tuple[dict[str, Any], bytes]:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw
            )
            form = {}
            for part in msg.iter_parts():
                form[part.get_param("name", header="content-disposition")] = part.get_content().strip()
            return form, raw
        try:
            doc = json.loads(raw or b"{}")
        except ValueError:
            doc = None
        return (doc if isinstance(doc, dict) else {"__invalid__": True}), raw

    def _auth(self, header: str, pattern: str) -> bool:
        value = self.headers.get(header)
        if value and re.fullmatch(pattern, value):
            return True
        self._send(401, {"detail": f"missing or malformed {header} header"})
        return False

    def _limited(self) -> bool:
        st = self.standin.state
        if st.rate_limited > 0:
            st.rate_limited -= 1
            self._send(429, {"detail": "Request was throttled."}, {"Retry-After": "1"})
            return True
        return False

    # -- dispatch --------------------------------------------------------------------------------
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path.startswith("/delivery/"):
            return self._delivery(url.path.rsplit("/", 1)[1], parse_qs(url.query))
        getattr(self, f"_get_{self.standin.state.provider}")(url)

    def do_POST(self) -> None:
        body, _raw = self._body()
        st = self.standin.state
        st.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        if self._limited():
            return
        getattr(self, f"_post_{st.provider}")(urlsplit(self.path), body)

    def _delivery(self, name: str, q: dict[str, list[str]]) -> None:
        st = self.standin.state
        se, sig = (q.get("se") or [""])[0], (q.get("sig") or [""])[0]
        good = hmac.new(_SIGNING, f"{name}|{se}".encode(), "sha256").hexdigest()
        if name not in st.files or not hmac.compare_digest(sig, good):
            return self._send(404, {"detail": "not found"})
        if time.time() > float(se):
            return self._send(403, b"<Error><Code>AuthenticationFailed</Code>Signed expiry time has passed</Error>",
                              ctype="application/xml")
        data, ext = st.files[name]
        self._send(200, data, ctype={"jpg": "image/jpeg", "jpeg": "image/jpeg"}.get(ext, f"image/{ext}"))

    def _img(self, seed: int, prompt: str, fmt: str = "png", version: str | None = None) -> bytes:
        st = self.standin.state
        return make_image(seed, prompt, version or st.version, st.salt, fmt)

    # -- Replicate: https://replicate.com/docs/topics/predictions ---------------------------------
    def _post_replicate(self, url: Any, body: dict[str, Any]) -> None:
        if not self._auth("Authorization", r"Bearer \S+"):
            return
        st = self.standin.state
        inp = body.get("input")
        if not isinstance(inp, dict) or not isinstance(inp.get("prompt"), str):
            return self._send(422, {"title": "Input validation failed", "detail": "input.prompt: prompt is required"})
        if "seed" in inp and (isinstance(inp["seed"], bool) or not isinstance(inp["seed"], int)):
            return self._send(422, {"title": "Input validation failed", "detail": "input.seed: Invalid type. Expected: integer"})
        m = re.match(r"^/v1/deployments/([^/]+/[^/]+)/predictions$", url.path)
        version = str(body.get("version") or "")
        if m:
            served, model = st.version, m.group(1)  # a deployment serves whatever version it was last set to
        elif re.search(r"[0-9a-f]{64}$", version):
            served, model = version[-64:], version.split(":")[0] if ":" in version else "owner/model"
        else:
            served, model = "hidden", version or url.path.split("/models/")[-1].replace("/predictions", "")
        pid = f"{next(st.counter):026x}"[:26]
        seed = self.standin.seed_of(inp.get("seed"))
        st.jobs[pid] = {"polls": st.polls, "seed": seed, "input": inp, "version": served, "model": model}
        self._send(201, self._prediction(pid))

    def _prediction(self, pid: str) -> dict[str, Any]:
        job = self.standin.state.jobs[pid]
        done = job["polls"] <= 0
        out: Any = None
        if done and "output" not in job:
            fmt = job["input"].get("output_format", "webp")
            job["output"] = [self.standin.deliver(self._img(job["seed"], job["input"]["prompt"], fmt, job["version"]), fmt)]
        if done:
            out = job["output"]
        base = self.standin.base
        return {
            "id": pid, "model": job["model"], "version": job["version"], "input": job["input"],
            "logs": f"running quantized prediction\nUsing seed: {job['seed']}\n" if done else "",
            "output": out, "error": None, "status": "succeeded" if done else ("processing" if job["polls"] < 2 else "starting"),
            "created_at": "2026-12-06T16:19:34.765994Z", "data_removed": False,
            "urls": {"get": f"{base}/v1/predictions/{pid}", "cancel": f"{base}/v1/predictions/{pid}/cancel"},
        }

    def _get_replicate(self, url: Any) -> None:
        if not self._auth("Authorization", r"Bearer \S+"):
            return
        pid = url.path.rsplit("/", 1)[1]
        job = self.standin.state.jobs.get(pid)
        if job is None:
            return self._send(404, {"detail": "Not found."})
        job["polls"] -= 1
        self._send(200, self._prediction(pid))

    # -- Stability v2beta: multipart in, image bytes or JSON out ---------------------------------
    def _post_stability(self, url: Any, form: dict[str, Any]) -> None:
        if not self._auth("Authorization", r"Bearer \S+"):
            return
        if not self.headers.get("Content-Type", "").startswith("multipart/form-data"):
            return self._send(400, {"name": "bad_request", "errors": ["Content-Type must be multipart/form-data"]})
        prompt = form.get("prompt")
        if not prompt:
            return self._send(400, {"name": "bad_request", "errors": ["prompt: is required"]})
        seed = self.standin.seed_of(int(form.get("seed") or 0), (0,))
        fmt = form.get("output_format", "png")
        reason = "CONTENT_FILTERED" if FILTER_WORD in prompt else "SUCCESS"
        data = self._img(seed, prompt, fmt)
        headers = {"finish-reason": reason, "seed": str(seed), "x-request-id": "a1b2c3"}
        if self.headers.get("Accept", "").startswith("image/"):
            return self._send(200, data, headers, ctype=f"image/{fmt}")
        self._send(200, {"image": base64.b64encode(data).decode(), "finish_reason": reason, "seed": seed}, headers)

    # -- fal queue: https://docs.fal.ai/model-endpoints/queue -------------------------------------
    def _post_fal(self, url: Any, body: dict[str, Any]) -> None:
        if not self._auth("Authorization", r"Key \S+"):
            return
        if not isinstance(body.get("prompt"), str):
            return self._send(422, {"detail": [{"loc": ["body", "prompt"], "msg": "field required"}]})
        st = self.standin.state
        rid = f"80e732af-660e-45cd-bd63-{next(st.counter):012d}"
        app = "/".join(url.path.strip("/").split("/")[:2])
        st.jobs[rid] = {"polls": st.polls, "body": body, "seed": self.standin.seed_of(body.get("seed"))}
        root = f"{self.standin.base}/{app}/requests/{rid}"
        self._send(200, {"request_id": rid, "response_url": root, "status_url": f"{root}/status", "cancel_url": f"{root}/cancel"})

    def _get_fal(self, url: Any) -> None:
        if not self._auth("Authorization", r"Key \S+"):
            return
        m = re.search(r"/requests/([^/]+)(/status)?$", url.path)
        job = self.standin.state.jobs.get(m.group(1)) if m else None
        if job is None:
            return self._send(404, {"detail": "Request not found"})
        if m.group(2):
            job["polls"] -= 1
            status = "COMPLETED" if job["polls"] <= 0 else ("IN_PROGRESS" if job["polls"] == 1 else "IN_QUEUE")
            return self._send(200, {"status": status, "queue_position": 0, "response_url": f"{self.standin.base}{url.path[:-7]}"})
        body = job["body"]
        nsfw = FILTER_WORD in body["prompt"]
        data = self._img(job["seed"], body["prompt"], "jpeg") if not nsfw else make_image(0, "", "black", 0, "jpeg")
        self._send(200, {
            "images": [{"url": self.standin.deliver(data, "jpeg"), "width": 32, "height": 32, "content_type": "image/jpeg"}],
            "timings": {"inference": 0.01}, "seed": job["seed"], "has_nsfw_concepts": [nsfw], "prompt": body["prompt"],
        })

    # -- OpenAI Images: no seed, no model echo ---------------------------------------------------
    def _post_openai(self, url: Any, body: dict[str, Any]) -> None:
        if not self._auth("Authorization", r"Bearer \S+"):
            return
        if not isinstance(body.get("prompt"), str):
            return self._send(400, {"error": {"message": "Missing required parameter: 'prompt'.", "type": "invalid_request_error"}})
        model = body.get("model", "dall-e-2")
        seed = next(self.standin.state.random_seed)  # the API takes no seed: every call draws one
        data = self._img(seed, body["prompt"], "png", model)
        item: dict[str, Any] = {"b64_json": base64.b64encode(data).decode()}
        if model == "dall-e-3":
            item["revised_prompt"] = "A detailed rendering of " + body["prompt"]
        self._send(200, {"created": 1713833628, "data": [item], "output_format": "png", "size": "1024x1024"})

    # -- BFL: submit, poll get_result, signed sample URL -----------------------------------------
    def _post_bfl(self, url: Any, body: dict[str, Any]) -> None:
        if not self._auth("x-key", r"\S+"):
            return
        st = self.standin.state
        tid = f"4cc84fe4-{next(st.counter):04d}"
        model = url.path.rsplit("/", 1)[1]
        upsample = body.get("prompt_upsampling", model.startswith("flux-2"))
        prompt = body.get("prompt", "")
        used = f"{prompt}, cinematic lighting, highly detailed" if upsample else prompt
        st.jobs[tid] = {"polls": st.polls, "seed": self.standin.seed_of(body.get("seed")), "prompt": prompt, "used": used}
        self._send(200, {"id": tid, "polling_url": f"{self.standin.base}/v1/get_result?id={tid}"})

    def _get_bfl(self, url: Any) -> None:
        if not self._auth("x-key", r"\S+"):
            return
        tid = (parse_qs(url.query).get("id") or [""])[0]
        job = self.standin.state.jobs.get(tid)
        if job is None:
            return self._send(200, {"id": tid, "status": "Task not found"})
        job["polls"] -= 1
        if job["polls"] > 0:
            return self._send(200, {"id": tid, "status": "Pending", "result": None, "progress": 0.5})
        if FILTER_WORD in job["prompt"]:
            return self._send(200, {"id": tid, "status": "Content Moderated", "result": None, "details": {"reason": "moderated"}})
        sample = job.get("sample") or self.standin.deliver(self._img(job["seed"], job["used"], "jpeg"), "jpeg")
        job["sample"] = sample
        self._send(200, {"id": tid, "status": "Ready", "result": {
            "sample": sample, "prompt": job["used"], "seed": job["seed"], "start_time": 1752477995.9, "end_time": 1752478003.5,
            "duration": 7.56}, "progress": None, "details": None, "preview": None})

    # -- Google Imagen (Vertex AI :predict) ------------------------------------------------------
    def _post_imagen(self, url: Any, body: dict[str, Any]) -> None:
        if not self._auth("Authorization", r"Bearer \S+"):
            return
        params = body.get("parameters") or {}
        if "seed" in params and params.get("addWatermark", True):
            return self._send(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message":
                              "Image generation failed with the following error: Seed is not supported when watermark is enabled."}})
        model = re.search(r"/models/([^/:]+):predict$", url.path)
        prompt = ((body.get("instances") or [{}])[0]).get("prompt", "")
        rewrite = params.get("enhancePrompt", True) and model and re.search(r"imagen-4|imagen-3\.0-generate-002", model.group(1))
        used = f"A photograph of {prompt}, natural light" if rewrite else prompt
        seed = self.standin.seed_of(params.get("seed"))
        pred: dict[str, Any] = {"mimeType": "image/png"}
        if FILTER_WORD in prompt:
            pred["raiFilteredReason"] = "This prompt was blocked by the safety filter."
        else:
            pred["bytesBase64Encoded"] = base64.b64encode(self._img(seed, used, "png", model.group(1) if model else None)).decode()
        if rewrite and len(prompt.split()) < 30:
            pred["prompt"] = used
        self._send(200, {"predictions": [pred]})

    # -- Adobe Firefly generate-async ------------------------------------------------------------
    def _post_firefly(self, url: Any, body: dict[str, Any]) -> None:
        if not self._auth("Authorization", r"Bearer \S+") or not self._auth("x-api-key", r"\S+"):
            return
        st = self.standin.state
        seeds = body.get("seeds") or [None]
        jid = f"urn:ff:jobs:{next(st.counter):06d}"
        st.jobs[jid] = {"polls": st.polls, "body": body, "seeds": [self.standin.seed_of(s) for s in seeds],
                        "model": self.headers.get("x-model-version", "image4_standard")}
        self._send(202, {"jobId": jid, "statusUrl": f"{self.standin.base}/v3/status/{jid}", "cancelUrl": f"{self.standin.base}/v3/cancel/{jid}"})

    def _get_firefly(self, url: Any) -> None:
        if not self._auth("Authorization", r"Bearer \S+"):
            return
        jid = url.path.rsplit("/", 1)[1]
        job = self.standin.state.jobs.get(jid)
        if job is None:
            return self._send(404, {"error_code": "not_found"})
        job["polls"] -= 1
        if job["polls"] > 0:
            return self._send(200, {"jobId": jid, "status": "running"})
        outs = job.setdefault("outs", [
            {"seed": s, "image": {"url": self.standin.deliver(self._img(s, job["body"].get("prompt", ""), "jpeg", job["model"]), "jpeg")}}
            for s in job["seeds"]])
        self._send(200, {"jobId": jid, "status": "succeeded", "result": {"size": {"width": 2048, "height": 2048}, "outputs": outs, "contentClass": "photo"}})

    # -- Ideogram v3 -----------------------------------------------------------------------------
    def _post_ideogram(self, url: Any, body: dict[str, Any]) -> None:
        if not self._auth("Api-Key", r"\S+"):
            return
        prompt = body.get("prompt", "")
        magic = str(body.get("magic_prompt", "AUTO")).upper()
        used = f"{prompt}, vibrant poster art with bold typography" if magic in ("AUTO", "ON") else prompt
        seed = self.standin.seed_of(body.get("seed"))
        data = self._img(seed, used, "png")
        self._send(200, {"created": "2026-12-06T12:00:00Z", "data": [{
            "url": self.standin.deliver(data, "png"), "prompt": used, "resolution": "1024x1024", "seed": seed,
            "style_type": body.get("style_type", "GENERAL"), "is_image_safe": True}]})

    # -- Leonardo: job id, then the generation record --------------------------------------------
    def _post_leonardo(self, url: Any, body: dict[str, Any]) -> None:
        if not self._auth("Authorization", r"Bearer \S+"):
            return
        st = self.standin.state
        gid = f"d6d7c1f5-0000-4000-8000-{next(st.counter):012d}"
        st.jobs[gid] = {"polls": st.polls, "body": body, "seed": self.standin.seed_of(body.get("seed"))}
        self._send(200, {"sdGenerationJob": {"generationId": gid, "apiCreditCost": 8}})

    def _get_leonardo(self, url: Any) -> None:
        if not self._auth("Authorization", r"Bearer \S+"):
            return
        gid = url.path.rsplit("/", 1)[1]
        job = self.standin.state.jobs.get(gid)
        if job is None:
            return self._send(200, {"generations_by_pk": None})
        job["polls"] -= 1
        b = job["body"]
        rec: dict[str, Any] = {"id": gid, "status": "PENDING" if job["polls"] > 0 else "COMPLETE", "modelId": b.get("modelId"),
                               "prompt": b.get("prompt"), "seed": job["seed"], "imageWidth": b.get("width"), "imageHeight": b.get("height"),
                               "generated_images": []}
        if job["polls"] <= 0:
            img = job.setdefault("url", self.standin.deliver(self._img(job["seed"], b.get("prompt", ""), "jpeg"), "jpeg"))
            rec["generated_images"] = [{"id": "img-1", "url": img, "nsfw": False, "likeCount": 0}]
        self._send(200, {"generations_by_pk": rec})

    # -- Together (FLUX) -------------------------------------------------------------------------
    def _post_together(self, url: Any, body: dict[str, Any]) -> None:
        if not self._auth("Authorization", r"Bearer \S+"):
            return
        seed = self.standin.seed_of(body.get("seed"))
        data = self._img(seed, body.get("prompt", ""), "png", body.get("model"))
        item = {"index": 0, "b64_json": base64.b64encode(data).decode()} if body.get("response_format") == "b64_json" else \
            {"index": 0, "url": self.standin.deliver(data, "png")}
        self._send(200, {"id": "oFuwv7Y-2j9zxn-8cc7c2c1", "model": body.get("model"), "object": "list", "data": [item]})

    # -- Fireworks (FLUX fp8) --------------------------------------------------------------------
    def _post_fireworks(self, url: Any, body: dict[str, Any]) -> None:
        if not self._auth("Authorization", r"Bearer \S+"):
            return
        seed = self.standin.seed_of(body.get("seed"), (None, 0))
        data = self._img(seed, body.get("prompt", ""), "png")
        if self.headers.get("Accept", "").startswith("image/"):
            return self._send(200, data, {"seed": str(seed), "finish-reason": "SUCCESS"}, ctype="image/png")
        self._send(200, {"id": "1234567890", "base64": ["data:image/png;base64," + base64.b64encode(data).decode()],
                         "finishReason": "SUCCESS", "seed": seed})

    # -- Hugging Face: raw image bytes, nothing echoed -------------------------------------------
    def _post_huggingface(self, url: Any, body: dict[str, Any]) -> None:
        if not self._auth("Authorization", r"Bearer \S+"):
            return
        params = body.get("parameters") or {}
        seed = self.standin.seed_of(params.get("seed"))
        self._send(200, self._img(seed, str(body.get("inputs", "")), "png"), ctype="image/png")

    # -- AUTOMATIC1111 / Forge API (local-apis.md): images plus info with the infotext -----------
    def _post_a1111(self, url: Any, body: dict[str, Any]) -> None:
        if url.path.endswith("/options"):
            return self._send(200, None)
        seed = self.standin.seed_of(body.get("seed", -1), (None, -1))
        prompt = body.get("prompt", "")
        ckpt = (body.get("override_settings") or {}).get("sd_model_checkpoint", "v1-5-pruned-emaonly.safetensors [6ce0161689]")
        name, _, h = ckpt.partition(" [")
        data = self._img(seed, prompt, "png", ckpt)
        infotext = (f"{prompt}\nNegative prompt: {body.get('negative_prompt', '')}\n"
                    f"Steps: {body.get('steps', 20)}, Sampler: {body.get('sampler_name', 'Euler a')}, Schedule type: Automatic, "
                    f"CFG scale: {body.get('cfg_scale', 7)}, Seed: {seed}, Size: {body.get('width', 512)}x{body.get('height', 512)}, "
                    f"Model hash: {h.rstrip(']') or '6ce0161689'}, Model: {name.rsplit('.', 1)[0]}, Version: v1.10.1")
        info = {"prompt": prompt, "all_prompts": [prompt], "seed": seed, "all_seeds": [seed], "infotexts": [infotext],
                "sd_model_name": name.rsplit(".", 1)[0], "sd_model_hash": h.rstrip("]")}
        self._send(200, {"images": [base64.b64encode(data).decode()], "parameters": body, "info": json.dumps(info)})
