"""What ``seedlock comfy verify`` costs against the same runs made by hand through ComfyUI's API.

Starts the real ComfyUI the tests use (tests/comfyui/setup_comfyui.sh; start-up excluded
from every number), then, in interleaved rounds on the same server:

- by hand: for each run verify needs, ``POST /free``, ``POST /prompt``, poll ``/history``
  until done, ``GET /view`` the image; the two cold runs alone, and with every knob run;
- ``comfy verify --no-knobs`` and ``comfy verify`` (library calls, same server, outputs and
  records written as a user gets them).

Prints medians and the ratio (goal: verify at most 1.2x the ComfyUI time of the runs it
needs), and verify's own overhead against the server's execution time of its runs.

usage: python bench/comfy_bench.py [--rounds 3] [--steps 10] [--size 64]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from tests.comfyui.conftest import txt2img  # noqa: E402
from tests.comfyui.server import install, start  # noqa: E402

from seedlock.comfyui.client import ComfyClient  # noqa: E402
from seedlock.comfyui.graph import LoadedGraph, knobs  # noqa: E402
from seedlock.comfyui.verify import verify  # noqa: E402


def by_hand(url: str, graph: dict[str, Any], free: bool) -> float:
    """One run the plain way: free, submit, poll history, fetch the image."""
    t0 = time.perf_counter()
    with httpx.Client(base_url=url, timeout=600) as h:
        if free:
            h.post("/free", json={"unload_models": False, "free_memory": True})
        pid = h.post("/prompt", json={"prompt": graph, "client_id": uuid.uuid4().hex}).json()["prompt_id"]
        while True:
            entry = h.get(f"/history/{pid}").json().get(pid)
            if entry and (entry.get("status") or {}).get("completed"):
                break
            time.sleep(0.05)
        for out in entry["outputs"].values():
            for im in out.get("images", []):
                h.get("/view", params={"filename": im["filename"], "subfolder": im["subfolder"], "type": im["type"]})
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--size", type=int, default=64)
    args = ap.parse_args()
    home = install(ROOT / ".test-cache")
    graph = txt2img(steps=args.steps, size=args.size, lora=0.8)
    knob_graphs = [k.graph for k in knobs(graph)]
    with tempfile.TemporaryDirectory() as tmp:
        server = start(home, Path(tmp) / "server")
        try:
            times: dict[str, list[float]] = {k: [] for k in ("hand2", "verify2", "hand_all", "verify_all", "server_all")}
            with ComfyClient(server.url) as client:
                verify(client, LoadedGraph(graph, None, "warmup.json"), Path(tmp) / "warm", turn_knobs=False)
            for r in range(args.rounds):
                times["hand2"].append(by_hand(server.url, graph, True) + by_hand(server.url, graph, True))
                with ComfyClient(server.url) as client:
                    t0 = time.perf_counter()
                    verify(client, LoadedGraph(copy.deepcopy(graph), None, "b.json"), Path(tmp) / f"v2-{r}", turn_knobs=False)
                    times["verify2"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                by_hand(server.url, graph, True)
                by_hand(server.url, graph, True)
                for g in knob_graphs:
                    by_hand(server.url, g, False)
                times["hand_all"].append(time.perf_counter() - t0)
                with ComfyClient(server.url) as client:
                    t0 = time.perf_counter()
                    rep = verify(client, LoadedGraph(copy.deepcopy(graph), None, "b.json"), Path(tmp) / f"va-{r}")
                    times["verify_all"].append(time.perf_counter() - t0)
                    times["server_all"].append(rep.server_seconds)
        finally:
            server.stop()
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"ComfyUI {args.size}x{args.size}, {args.steps} steps, LoRA, CPU 2 threads; medians of {args.rounds} rounds")
    print(f"  two cold runs by hand           {med['hand2']:7.2f} s")
    print(f"  comfy verify --no-knobs         {med['verify2']:7.2f} s   ratio {med['verify2'] / med['hand2']:.2f}x (goal <= 1.2x)")
    print(f"  2 cold + {len(knob_graphs)} knob runs by hand    {med['hand_all']:7.2f} s")
    print(f"  comfy verify                    {med['verify_all']:7.2f} s   ratio {med['verify_all'] / med['hand_all']:.2f}x (goal <= 1.2x)")
    print(f"  server execution time of verify {med['server_all']:7.2f} s   verify's own share {1 - med['server_all'] / med['verify_all']:.0%}")


if __name__ == "__main__":
    main()
