"""A client for a running ComfyUI server: submit a graph, follow it, fetch what it saved.

HTTP (httpx) for the routes, the websocket for progress. What a run proves depends on
what the server did, so every run comes back with the nodes the server served from its
cache (``execution_cached``), its own execution time, and the graph as the server
recorded it in ``/history`` (which may differ from the one sent: the server can rewrite
graphs before running them).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from seedlock.errors import ServiceError

__all__ = ["DEFAULT_SERVER", "ComfyClient", "Environment", "RunOutcome", "SavedImage"]

DEFAULT_SERVER = "http://127.0.0.1:8188"


@dataclass(frozen=True)
class SavedImage:
    node: str
    filename: str
    subfolder: str
    type: str
    data: bytes = field(repr=False, default=b"")


@dataclass(frozen=True)
class RunOutcome:
    """One executed prompt: its images, what was cached, and how long the server took."""

    prompt_id: str
    images: tuple[SavedImage, ...]
    #: node ids the server served from its cache instead of running
    cached: tuple[str, ...]
    #: seconds between the server's execution_start and execution_success
    server_seconds: float | None
    wall_seconds: float
    #: the graph the server says it ran (from /history)
    graph_run: Mapping[str, Any]


@dataclass(frozen=True)
class Environment:
    """What the server says about itself: the facts that decide its pixels besides the graph."""

    comfyui_version: str | None
    pytorch_version: str | None
    python_version: str | None
    device: str | None
    device_type: str | None
    argv: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "comfyui_version": self.comfyui_version,
            "pytorch_version": self.pytorch_version,
            "python_version": self.python_version,
            "device": self.device,
            "device_type": self.device_type,
            "argv": list(self.argv),
        }

    @classmethod
    def from_stats(cls, stats: Mapping[str, Any]) -> Environment:
        system = stats.get("system") or {}
        devices = stats.get("devices") or [{}]
        first = devices[0] if devices and isinstance(devices[0], dict) else {}
        return cls(
            system.get("comfyui_version"),
            system.get("pytorch_version"),
            str(system.get("python_version") or "").split(" ")[0] or None,
            first.get("name"),
            first.get("type"),
            tuple(str(a) for a in system.get("argv") or ()),
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Environment:
        return cls(
            d.get("comfyui_version"),
            d.get("pytorch_version"),
            d.get("python_version"),
            d.get("device"),
            d.get("device_type"),
            tuple(d.get("argv") or ()),
        )


class ComfyClient:
    """One ComfyUI server (``http://127.0.0.1:8188`` by default)."""

    def __init__(self, server: str = DEFAULT_SERVER, *, timeout: float = 600.0) -> None:
        import httpx

        self.server = server.rstrip("/")
        self.timeout = timeout
        self.client_id = uuid.uuid4().hex
        self.http = httpx.Client(base_url=self.server, timeout=httpx.Timeout(60.0, connect=5.0))
        self._object_info: dict[str, Any] | None = None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ComfyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plain routes ----------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kw: Any) -> Any:
        import httpx

        try:
            resp = self.http.request(method, path, **kw)
        except httpx.ConnectError:
            raise ServiceError(
                f"no ComfyUI server answers at {self.server} (is it running?)", service="comfyui", url=self.server
            ) from None
        except httpx.HTTPError as exc:
            raise ServiceError(f"{path}: {exc}", service="comfyui", url=self.server) from None
        if resp.status_code >= 400 and path != "/prompt":
            raise ServiceError(
                f"{method} {path}: HTTP {resp.status_code}", service="comfyui", status=resp.status_code, url=self.server
            )
        return resp

    def system_stats(self) -> dict[str, Any]:
        data: dict[str, Any] = self._request("GET", "/system_stats").json()
        return data

    def environment(self) -> Environment:
        return Environment.from_stats(self.system_stats())

    def object_info(self) -> dict[str, Any]:
        if self._object_info is None:
            self._object_info = self._request("GET", "/object_info").json()
        return self._object_info

    def free(self, *, unload_models: bool = False) -> None:
        """Drop the server's node cache (and the loaded models when asked): the next run is cold."""
        self._request("POST", "/free", json={"unload_models": unload_models, "free_memory": True})

    def history(self, prompt_id: str) -> dict[str, Any]:
        data = self._request("GET", f"/history/{prompt_id}").json()
        entry: dict[str, Any] = data.get(prompt_id) or {}
        return entry

    def view(self, filename: str, subfolder: str, kind: str) -> bytes:
        q = urlencode({"filename": filename, "subfolder": subfolder, "type": kind})
        data: bytes = self._request("GET", f"/view?{q}").content
        return data

    def upload_image(self, name: str, data: bytes, *, overwrite: bool = True) -> str:
        """Put an image into the server's input folder (for LoadImage); returns the name it was stored under."""
        resp = self._request("POST", "/upload/image", files={"image": (name, data, "image/png")},
                             data={"overwrite": "true" if overwrite else "false", "type": "input"})  # fmt: skip
        return str(_json(resp).get("name", name))

    # -- running a graph -------------------------------------------------------------------------
    def check_nodes(self, graph: Mapping[str, Any]) -> None:
        """Fail before submitting when a node type is not installed on the server."""
        info = self.object_info()
        missing = sorted({str(n.get("class_type")) for n in graph.values() if n.get("class_type") not in info})
        if missing:
            raise ServiceError(
                f"the server has no node type {', '.join(missing)} (a custom node pack is not installed)",
                service="comfyui",
                url=self.server,
            )

    def submit(self, graph: Mapping[str, Any], workflow: Mapping[str, Any] | None = None) -> str:
        """Queue ``graph``; the UI workflow goes along as ``extra_pnginfo`` so outputs carry both chunks."""
        self.check_nodes(graph)
        extra: dict[str, Any] = {"extra_pnginfo": {"workflow": workflow}} if workflow else {}
        resp = self._request("POST", "/prompt", json={"prompt": graph, "client_id": self.client_id, "extra_data": extra})
        body = _json(resp)
        if resp.status_code >= 400 or body.get("node_errors"):
            raise ServiceError(_validation_message(body), service="comfyui", status=resp.status_code, url=self.server)
        return str(body["prompt_id"])

    def run(
        self,
        graph: Mapping[str, Any],
        workflow: Mapping[str, Any] | None = None,
        *,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> RunOutcome:
        """Submit, follow to the end, and fetch every saved image."""
        t0 = time.perf_counter()
        ws = self._websocket()
        try:
            prompt_id = self.submit(graph, workflow)
            self._follow(ws, prompt_id, on_progress)
        finally:
            if ws is not None:
                ws.close()
        entry = self._wait_history(prompt_id, t0)
        wall = time.perf_counter() - t0
        status = entry.get("status") or {}
        messages = status.get("messages") or []
        if status.get("status_str") == "error":
            raise ServiceError(_execution_error(messages), service="comfyui", url=self.server)
        cached: list[str] = []
        start = end = None
        for event, data in messages:
            if event == "execution_cached":
                cached.extend(str(n) for n in data.get("nodes") or [])
            elif event == "execution_start":
                start = data.get("timestamp")
            elif event == "execution_success":
                end = data.get("timestamp")
        images: list[SavedImage] = []
        for node, out in sorted((entry.get("outputs") or {}).items()):
            for im in out.get("images") or []:
                if im.get("type") != "output":
                    continue
                data = self.view(im["filename"], im.get("subfolder", ""), im["type"])
                images.append(SavedImage(str(node), im["filename"], im.get("subfolder", ""), im["type"], data))
        prompt = entry.get("prompt") or []
        graph_run = prompt[2] if len(prompt) > 2 and isinstance(prompt[2], dict) else dict(graph)
        seconds = (end - start) / 1000.0 if isinstance(start, (int, float)) and isinstance(end, (int, float)) else None
        return RunOutcome(prompt_id, tuple(images), tuple(cached), seconds, wall, graph_run)

    def _websocket(self) -> Any:
        """A websocket for progress messages, or None when the server or library offers none."""
        try:
            from websockets.sync.client import connect
        except ImportError:
            return None
        parts = urlsplit(self.server)
        scheme = "wss" if parts.scheme == "https" else "ws"
        try:
            return connect(f"{scheme}://{parts.netloc}/ws?clientId={self.client_id}", open_timeout=5, max_size=None)
        except Exception:  # a server without the websocket still runs graphs; history says the rest
            return None

    def _follow(self, ws: Any, prompt_id: str, on_progress: Callable[[int, int], None] | None) -> None:
        if ws is None:
            return
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            try:
                msg = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                break
            except Exception:  # the connection dropped: history still has the result
                return
            if not isinstance(msg, str):
                continue  # binary preview frames
            try:
                event = json.loads(msg)
            except ValueError:
                continue
            kind, data = event.get("type"), event.get("data") or {}
            if data.get("prompt_id") not in (None, prompt_id):
                continue
            if kind == "progress" and on_progress:
                on_progress(int(data.get("value", 0)), int(data.get("max", 0)))
            if kind in ("execution_success", "execution_error", "execution_interrupted"):
                return
            if kind == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id:
                return

    def _wait_history(self, prompt_id: str, t0: float) -> dict[str, Any]:
        while True:
            entry = self.history(prompt_id)
            status = entry.get("status") or {}
            if status.get("completed") or status.get("status_str") in ("success", "error"):
                return entry
            if time.perf_counter() - t0 > self.timeout:
                raise ServiceError(
                    f"prompt {prompt_id} did not finish within {self.timeout:.0f} s", service="comfyui", url=self.server
                )
            time.sleep(0.05)


def _json(resp: Any) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {"error": {"message": resp.text[:300]}}
    return body if isinstance(body, dict) else {}


def _validation_message(body: Mapping[str, Any]) -> str:
    """One line naming each failing node and why (ComfyUI's node_errors)."""
    parts: list[str] = []
    for nid, err in (body.get("node_errors") or {}).items():
        reasons = "; ".join(
            f"{e.get('message', '')}: {e.get('details', '')}".strip(": ") for e in err.get("errors") or []
        )
        parts.append(f"node {nid} ({err.get('class_type', '?')}): {reasons}")
    head = (body.get("error") or {}).get("message") or "the server refused the graph"
    return f"{head}: {' | '.join(parts)}" if parts else str(head)


def _execution_error(messages: list[Any]) -> str:
    for event, data in messages:
        if event == "execution_error":
            return (
                f"node {data.get('node_id')} ({data.get('node_type')}) failed: "
                f"{data.get('exception_type', '')}: {str(data.get('exception_message', '')).strip()}"
            ).replace("\n", " ")
    return "the server reported an error while running the graph"
