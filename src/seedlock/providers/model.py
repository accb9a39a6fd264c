"""What each hosted image API (and the local A1111 API) takes, and what makes its images move.

For every provider: how a request is recognised (host and path), where it names the model
and whether that name can be a pin, where the seed goes (type, range, the values that mean
"random"), and every hidden pass or rewrite with its default. Facts and sources:
hosted-providers.md and local-apis.md (the A1111 API); the table is the one place they live.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PROVIDERS", "Pin", "Provider", "Toggle", "detect", "get_path"]


@dataclass(frozen=True)
class Toggle:
    """A request field whose value changes the image behind the caller's back."""

    #: dotted path in the body (``input.go_fast``), or ``header:x-model-version``
    field: str
    #: the provider's default when the field is left out
    default: Any
    #: values that leave the hidden pass on (compared after lower-casing strings)
    on: tuple[Any, ...]
    #: what the pass does
    effect: str
    #: the value to send instead
    off: Any
    severity: str = "warning"
    #: only for model names matching this pattern (None: every model)
    models: str | None = None


@dataclass(frozen=True)
class Pin:
    """How far a request's model reference pins the weights."""

    #: ``pinned``, ``movable`` (a name that can point at new weights), ``unknown``
    status: str
    model: str | None
    note: str
    fix: str = ""


@dataclass(frozen=True)
class Provider:
    name: str
    title: str
    #: regular expression on ``host + path`` of the request URL
    url: str
    #: dotted path of the seed in the body (None: the API takes no seed)
    seed: str | None
    seed_max: int | None = None
    #: seed values that mean "pick one at random"
    random_seeds: tuple[Any, ...] = ()
    #: True when the seed is echoed in the response (a random one can be recovered)
    seed_echoed: bool = False
    toggles: tuple[Toggle, ...] = ()
    pin: Callable[[str, Mapping[str, Any], Mapping[str, str]], Pin] = field(
        default=lambda url, body, headers: Pin("unknown", None, "no pin rule"), repr=False
    )
    #: the best a fully pinned request with a seed can promise
    best: str = "same version and seed, no determinism promise"
    #: a sentence for the docs table
    files: str = ""


def get_path(body: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """(present, value) of a dotted path in a JSON body."""
    node: Any = body
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _replicate_pin(url: str, body: Mapping[str, Any], headers: Mapping[str, str]) -> Pin:
    version = body.get("version")
    if "/deployments/" in url:
        return Pin(
            "movable",
            url.split("/deployments/", 1)[1],
            "a deployment's version can be changed at any time",
            "call the model with version=OWNER/NAME:<64-hex version id> instead of the deployment",
        )
    m = re.search(r"/models/([^/]+/[^/]+)/predictions", url)
    ref = str(version) if version is not None else (m.group(1) if m else None)
    if ref and (_HEX64.match(ref) or re.match(r"^[^/]+/[^:]+:[0-9a-f]{64}$", ref)):
        return Pin("pinned", ref, "a 64-hex version id names one build of the model")
    return Pin(
        "movable",
        ref,
        'an official model name is not a version: the response says version "hidden"',
        "send version=OWNER/NAME:<64-hex version id> (community models have one; official ones cannot be pinned)",
    )


def _path_model(
    pattern: str, movable_note: str, fix: str
) -> Callable[[str, Mapping[str, Any], Mapping[str, str]], Pin]:
    def pin(url: str, body: Mapping[str, Any], headers: Mapping[str, str]) -> Pin:
        m = re.search(pattern, url)
        return Pin("movable", m.group(1) if m else None, movable_note, fix)

    return pin


def _openai_pin(url: str, body: Mapping[str, Any], headers: Mapping[str, str]) -> Pin:
    model = body.get("model")
    if model is None:
        return Pin("movable", "dall-e-2", "no model given: the API defaults to dall-e-2", "send model explicitly")
    if re.search(r"-\d{4}-\d{2}-\d{2}$", str(model)):
        return Pin("pinned", str(model), "a dated snapshot")
    return Pin(
        "movable",
        str(model),
        f"{model} is an alias that may move to newer weights (the response does not echo a model)",
        "send a dated snapshot, e.g. model=gpt-image-2-2026-04-21",
    )


def _imagen_pin(url: str, body: Mapping[str, Any], headers: Mapping[str, str]) -> Pin:
    m = re.search(r"/models/([^/:]+)", url)
    model = m.group(1) if m else None
    if model and re.search(r"-\d{3}$|@\d{3}$", model):
        return Pin("pinned", model, "a numbered model name (retired on a published schedule)")
    return Pin(
        "movable",
        model,
        "the model name carries no version number",
        "use a numbered name, e.g. imagen-3.0-generate-002",
    )


def _firefly_pin(url: str, body: Mapping[str, Any], headers: Mapping[str, str]) -> Pin:
    version = {k.lower(): v for k, v in headers.items()}.get("x-model-version")
    if version:
        return Pin("pinned", version, "x-model-version names the model")
    return Pin(
        "movable",
        None,
        "without x-model-version the service picks the model",
        "send header x-model-version: image4_standard (or image3)",
    )


def _leonardo_pin(url: str, body: Mapping[str, Any], headers: Mapping[str, str]) -> Pin:
    model = body.get("modelId") or body.get("model")
    if model and re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", str(model)):
        return Pin("pinned", str(model), "a platform model UUID (Alchemy and PhotoReal versions stay hidden)")
    return Pin("movable", str(model) if model else None, "no model UUID", "send modelId=<platform model UUID>")


def _body_model(field_name: str, note: str, fix: str) -> Callable[[str, Mapping[str, Any], Mapping[str, str]], Pin]:
    def pin(url: str, body: Mapping[str, Any], headers: Mapping[str, str]) -> Pin:
        model = body.get(field_name)
        return Pin("movable", str(model) if model else None, note, fix)

    return pin


def _hf_pin(url: str, body: Mapping[str, Any], headers: Mapping[str, str]) -> Pin:
    if ".endpoints.huggingface.cloud" in url:
        return Pin(
            "pinned",
            url.split("//", 1)[-1].split("/", 1)[0],
            "an Inference Endpoint is built from a repo revision (read it from the endpoint's config)",
        )
    m = re.search(r"/models/([^?]+)", url)
    return Pin(
        "movable",
        m.group(1) if m else None,
        "a routed model id: any provider behind it may serve the call, at the repo's latest revision",
        "deploy an Inference Endpoint at a fixed revision",
    )


def _a1111_pin(url: str, body: Mapping[str, Any], headers: Mapping[str, str]) -> Pin:
    ckpt = (
        (body.get("override_settings") or {}).get("sd_model_checkpoint")
        if isinstance(body.get("override_settings"), Mapping)
        else None
    )
    if isinstance(ckpt, str) and re.search(r"\[[0-9a-f]{8,10}\]\s*$", ckpt):
        return Pin("pinned", ckpt, "the checkpoint is named with its hash")
    if ckpt:
        return Pin(
            "movable",
            ckpt,
            "the checkpoint is named without its hash",
            'name it with its short hash: "file.safetensors [31e35c80fc]"',
        )
    return Pin(
        "movable",
        None,
        "no checkpoint named: the server uses whatever model is loaded",
        'send override_settings={"sd_model_checkpoint": "file.safetensors [hash]"}',
    )


PROVIDERS: Mapping[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            "replicate", "Replicate", r"api\.replicate\.com/v1/(predictions|models/|deployments/)", "input.seed",
            seed_max=2**32 - 1, random_seeds=(None,),
            toggles=(
                Toggle("input.go_fast", True, (True,), "fp8 quantised run: not deterministic even with a seed", False,
                       models=r"flux"),
                Toggle("input.apply_watermark", True, (True,), "an invisible watermark changes the pixels", False,
                       models=r"sdxl"),
                Toggle("input.disable_safety_checker", False, (False,), "the safety checker may blank an output", True,
                       severity="info"),
            ),
            pin=_replicate_pin, best="bitwise for a pinned community version without go_fast (the build is fixed)",
            files="whatever the model's code writes",
        ),
        Provider(
            "stability", "Stability AI REST", r"api\.stability\.ai/v2beta/stable-image", "seed", seed_max=4294967294,
            random_seeds=(None, 0), seed_echoed=True,
            toggles=(Toggle("style_preset", None, ("enhance",), "a style preset rewrites the prompt's look", None),),
            pin=_path_model(r"generate/([a-z0-9]+)", "a service tier (ultra, core, sd3): its model can change without notice",
                            "use the sd3 endpoint with model=sd3.5-large (or Bedrock's stable-image-ultra-v1:0)"),
            files="C2PA signed by Stability AI (field report)",
        ),
        Provider(
            "fal", "fal.ai", r"(queue\.)?fal\.run/", "seed", seed_max=2**32 - 1, random_seeds=(None,), seed_echoed=True,
            toggles=(Toggle("enable_safety_checker", True, (True,), "the safety checker may replace an output", False,
                            severity="info"),),
            pin=_path_model(r"fal\.run/([^?]+)", "the model id names a version as text, with no content-addressed pin",
                            "record the model id and the response; fal offers no pin"),
            files="C2PA issuer fal-ai (field report)",
        ),
        Provider(
            "openai", "OpenAI Images", r"api\.openai\.com/v1/images/generations", None,
            toggles=(Toggle("quality", "auto", ("auto",), "the service picks the quality", "high", severity="info"),),
            pin=_openai_pin, best="not reproducible: the API takes no seed",
            files="C2PA (claim generator ChatGPT/OpenAI) with a watermark action",
        ),
        Provider(
            "bfl", "Black Forest Labs", r"api(\.eu|\.us)?\.bfl\.ai/v1/", "seed", seed_max=2**32 - 1, random_seeds=(None,),
            seed_echoed=True,
            toggles=(
                Toggle("prompt_upsampling", True, (True,), "the prompt is rewritten before generation", False,
                       models=r"flux-2"),
                Toggle("prompt_upsampling", False, (True,), "the prompt is rewritten before generation", False,
                       models=r"^(?!.*flux-2)"),
            ),
            pin=_path_model(r"bfl\.ai/v1/([^/?]+)", "an endpoint name: no version comes back and old ones are retired",
                            "record the endpoint; BFL offers no pin"),
            files="C2PA claim generator Black Forest Labs API",
        ),
        Provider(
            "imagen", "Google Imagen / Gemini", r"aiplatform\.googleapis\.com/.*/models/", "parameters.seed",
            seed_max=2**32 - 1, random_seeds=(None,),
            toggles=(
                Toggle("parameters.addWatermark", True, (True,), "SynthID watermark; with a seed the call fails", False,
                       severity="error"),
                Toggle("parameters.enhancePrompt", True, (True,), "the prompt rewriter runs", False,
                       models=r"imagen-4|imagen-3\.0-generate-002"),
                Toggle("parameters.language", None, ("auto",), "the prompt is translated to English", "en"),
            ),
            pin=_imagen_pin, best="bitwise for a numbered model with a seed and no watermark (documented)",
            files="SynthID in the pixels; C2PA on some surfaces",
        ),
        Provider(
            "firefly", "Adobe Firefly", r"firefly-api\.adobe\.io/v3/images/generate", "seeds", seed_max=2**32 - 1,
            random_seeds=(None,), seed_echoed=True, pin=_firefly_pin,
            best="similar images, not identical ones (Adobe's own words)",
            files="C2PA Content Credentials (Adobe Inc.)",
        ),
        Provider(
            "ideogram", "Ideogram", r"api\.ideogram\.ai/", "seed", seed_max=2147483647, random_seeds=(None,),
            seed_echoed=True,
            toggles=(Toggle("magic_prompt", "AUTO", ("auto", "on"), "the prompt is rewritten (Magic Prompt)", "OFF"),),
            pin=_path_model(r"ideogram\.ai/v1/([^/?]+)", "the model version is only the endpoint path",
                            "record the endpoint (ideogram-v3); Ideogram offers no pin"),
            files="EXIF Make=Ideogram AI; later C2PA Ideogram, Inc",
        ),
        Provider(
            "leonardo", "Leonardo.Ai", r"cloud\.leonardo\.ai/api/rest/v[12]/generations", "seed", seed_max=2**32 - 1,
            random_seeds=(None,), seed_echoed=True,
            toggles=(
                Toggle("alchemy", None, (True,), "Alchemy runs, at a version the API does not name", False),
                Toggle("photoReal", None, (True,), "PhotoReal runs, at a version the API does not name", False),
                Toggle("promptMagic", None, (True,), "Prompt Magic rewrites the prompt", False),
            ),
            pin=_leonardo_pin, files="not documented",
        ),
        Provider(
            "together", "Together (FLUX)", r"api\.together\.xyz/v1/images/generations", "seed", seed_max=2**32 - 1,
            random_seeds=(None,),
            pin=_body_model("model", "a model string without a version", "record the echoed model string"),
            files="not documented",
        ),
        Provider(
            "fireworks", "Fireworks (FLUX)", r"api\.fireworks\.ai/inference/v1/workflows/", "seed", seed_max=2**32 - 1,
            random_seeds=(None, 0), seed_echoed=True,
            pin=_path_model(r"models/([^/]+)/text_to_image", "an FP8 build: its pixels differ from bf16 FLUX",
                            "record the model path; no bf16 pin is offered"),
            files="not documented",
        ),
        Provider(
            "huggingface", "Hugging Face", r"(api-inference\.huggingface\.co|router\.huggingface\.co|\.endpoints\.huggingface\.cloud)",
            "parameters.seed", seed_max=2**32 - 1, random_seeds=(None,), pin=_hf_pin,
            best="bitwise for an Inference Endpoint at a fixed revision with a deterministic handler",
            files="HF Jobs may stamp hf-job-id",
        ),
        Provider(
            "a1111", "AUTOMATIC1111 / Forge API", r"/sdapi/v1/(txt2img|img2img|options)", "seed",
            seed_max=2**32 - 1, random_seeds=(None, -1), seed_echoed=True,
            toggles=(
                Toggle("restore_faces", False, (True,), "face restoration repaints the faces", False),
                Toggle("override_settings.randn_source", "GPU", ("gpu",), "GPU noise differs across cards", "CPU",
                       severity="info"),
                Toggle("override_settings_restore_afterwards", True, (False,), "the overrides stay in the server's config",
                       True),
            ),
            pin=_a1111_pin, best="bitwise on the same GPU and stack with CPU noise and a hashed checkpoint",
            files="the parameters chunk (infotext) of the saved PNG",
        ),
    )
}  # fmt: skip


def detect(url: str) -> Provider | None:
    """The provider a request URL belongs to, or None."""
    target = re.sub(r"^[a-z]+://", "", url.strip())
    for p in PROVIDERS.values():
        if re.search(p.url, target):
            return p
    return None
