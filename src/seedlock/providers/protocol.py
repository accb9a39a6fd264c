"""How each provider's HTTP exchange goes: the key, the body encoding, polling, and where
the images, the echoed seed, the version string and a rewritten prompt sit in its answers.

The shapes come from each provider's documentation (hosted-providers.md, local-apis.md for
the A1111 API); this table is the one place they live, and :mod:`seedlock.providers.run`
follows it without knowing any provider by name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["PROTOCOLS", "Protocol", "find"]


@dataclass(frozen=True)
class Protocol:
    """One provider's request and response conventions."""

    #: environment variables that may hold the key, first found wins
    key_env: tuple[str, ...]
    #: header carrying the key, and its value with ``{key}`` in place of the secret
    key_header: str = "Authorization"
    key_format: str = "Bearer {key}"
    #: further credential headers, each from its own environment variable (Firefly's client id)
    also: tuple[tuple[str, str], ...] = ()
    #: ``json`` or ``multipart`` (Stability's form fields)
    encoding: str = "json"
    #: where the next URL to poll sits in an answer (first found), or a template on the answer
    poll: tuple[str, ...] = ()
    poll_template: str | None = None
    #: where the status sits, and its values
    status: tuple[str, ...] = ()
    done: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    filtered: tuple[str, ...] = ()
    #: a second URL to fetch once done (fal's response_url)
    result_url: tuple[str, ...] = ()
    #: where images sit: URL or base64 (``data:`` URLs too); ``[]`` walks a list
    images: tuple[str, ...] = ()
    #: where the seed actually used comes back (``header:seed`` for a response header)
    seed: tuple[str, ...] = ()
    #: a regular expression on a log text that holds the seed (Replicate's model logs)
    seed_log: tuple[str, str] | None = None
    #: where a version or model string comes back
    version: tuple[str, ...] = ()
    #: where the prompt actually used comes back (after a provider-side rewrite)
    prompt_out: tuple[str, ...] = ()
    #: where a per-output content-filter flag sits
    filter_flags: tuple[str, ...] = ()
    #: request body paths of the prompt, the negative prompt, and the knobs a record keeps
    prompt_in: tuple[str, ...] = ("prompt",)
    negative_in: tuple[str, ...] = ("negative_prompt",)
    steps_in: tuple[str, ...] = ("num_inference_steps", "steps")
    cfg_in: tuple[str, ...] = ("guidance_scale", "guidance", "cfg_scale")
    width_in: tuple[str, ...] = ("width",)
    height_in: tuple[str, ...] = ("height",)
    #: the A1111 API answers with its own infotext: the record comes from that
    infotext: tuple[str, ...] = ()


def find(doc: Any, path: str) -> Iterator[Any]:
    """Every value at a dotted path; ``name[]`` walks a list, a number indexes one.

    A string value that is itself JSON (the A1111 API's ``info``) is entered as JSON.
    """
    import json

    def walk(node: Any, parts: list[str]) -> Iterator[Any]:
        if not parts:
            yield node
            return
        part, rest = parts[0], parts[1:]
        if isinstance(node, str) and node[:1] in "{[":
            try:
                node = json.loads(node)
            except ValueError:
                return
        many = part.endswith("[]")
        key = part[:-2] if many else part
        if key:
            if isinstance(node, Mapping) and key in node:
                node = node[key]
            elif isinstance(node, list) and re.fullmatch(r"\d+", key) and int(key) < len(node):
                node = node[int(key)]
            else:
                return
        if many:
            if isinstance(node, list):
                for item in node:
                    yield from walk(item, rest)
        else:
            yield from walk(node, rest)

    if doc is None:
        return
    yield from walk(doc, [p for p in path.split(".") if p])


_REPLICATE = Protocol(
    key_env=("REPLICATE_API_TOKEN",),
    poll=("urls.get",),
    status=("status",),
    done=("succeeded",),
    failed=("failed", "canceled"),
    images=("output[]", "output"),
    seed=("input.seed",),
    seed_log=("logs", r"(?i)using seed:?\s*(\d+)"),
    version=("version",),
    prompt_in=("input.prompt",),
    negative_in=("input.negative_prompt",),
    steps_in=("input.num_inference_steps", "input.steps"),
    cfg_in=("input.guidance_scale", "input.guidance", "input.cfg"),
    width_in=("input.width",),
    height_in=("input.height",),
)

PROTOCOLS: Mapping[str, Protocol] = {
    "replicate": _REPLICATE,
    "stability": Protocol(
        key_env=("STABILITY_API_KEY",),
        encoding="multipart",
        status=("finish_reason", "header:finish-reason"),
        done=("success",),
        filtered=("content_filtered",),
        images=("image",),
        seed=("seed", "header:seed"),
        cfg_in=("cfg_scale",),
    ),
    "fal": Protocol(
        key_env=("FAL_KEY",),
        key_format="Key {key}",
        poll=("status_url",),
        status=("status",),
        done=("completed",),
        failed=("error",),
        result_url=("response_url",),
        images=("images[].url",),
        seed=("seed",),
        prompt_out=("prompt",),
        filter_flags=("has_nsfw_concepts[]",),
    ),
    "openai": Protocol(
        key_env=("OPENAI_API_KEY",),
        images=("data[].b64_json", "data[].url"),
        prompt_out=("data[].revised_prompt",),
    ),
    "bfl": Protocol(
        key_env=("BFL_API_KEY",),
        key_header="x-key",
        key_format="{key}",
        poll=("polling_url",),
        status=("status",),
        done=("ready",),
        failed=("error", "task not found"),
        filtered=("request moderated", "content moderated"),
        images=("result.sample",),
        seed=("result.seed",),
        prompt_out=("result.prompt",),
    ),
    "imagen": Protocol(
        key_env=("GOOGLE_ACCESS_TOKEN",),
        images=("predictions[].bytesBase64Encoded",),
        prompt_out=("predictions[].prompt",),
        filter_flags=("predictions[].raiFilteredReason",),
        prompt_in=("instances.0.prompt",),
        negative_in=("parameters.negativePrompt",),
    ),
    "firefly": Protocol(
        key_env=("FIREFLY_ACCESS_TOKEN",),
        also=(("x-api-key", "FIREFLY_CLIENT_ID"),),
        poll=("statusUrl",),
        status=("status",),
        done=("succeeded",),
        failed=("failed", "canceled"),
        images=("outputs[].image.url", "result.outputs[].image.url"),
        seed=("outputs[].seed", "result.outputs[].seed"),
        negative_in=("negativePrompt",),
        width_in=("size.width",),
        height_in=("size.height",),
    ),
    "ideogram": Protocol(
        key_env=("IDEOGRAM_API_KEY",),
        key_header="Api-Key",
        key_format="{key}",
        images=("data[].url",),
        seed=("data[].seed",),
        prompt_out=("data[].prompt",),
    ),
    "leonardo": Protocol(
        key_env=("LEONARDO_API_KEY",),
        poll_template="/api/rest/v1/generations/{sdGenerationJob.generationId}",
        status=("generations_by_pk.status",),
        done=("complete",),
        failed=("failed",),
        images=("generations_by_pk.generated_images[].url",),
        seed=("generations_by_pk.seed",),
        version=("generations_by_pk.modelId",),
        cfg_in=("guidance_scale",),
    ),
    "together": Protocol(
        key_env=("TOGETHER_API_KEY",),
        images=("data[].b64_json", "data[].url"),
        version=("model",),
    ),
    "fireworks": Protocol(
        key_env=("FIREWORKS_API_KEY",),
        status=("finishReason",),
        done=("success",),
        filtered=("content_filtered",),
        images=("base64[]",),
        seed=("seed",),
        cfg_in=("guidance_scale", "cfg_scale"),
    ),
    "huggingface": Protocol(
        key_env=("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"),
        prompt_in=("inputs",),
        negative_in=("parameters.negative_prompt",),
        steps_in=("parameters.num_inference_steps",),
        cfg_in=("parameters.guidance_scale",),
        width_in=("parameters.width",),
        height_in=("parameters.height",),
    ),
    "a1111": Protocol(
        key_env=(),
        images=("images[]",),
        seed=("info.all_seeds[]", "info.seed"),
        infotext=("info.infotexts[]",),
        cfg_in=("cfg_scale",),
    ),
}
