"""Generate, replay and verify times on the tiny model, and the cost of deterministic mode;
with --comfyui, seedlock's replay of a ComfyUI PNG against the ComfyUI server's own time.

Each figure is the best of --repeat runs in one process after a warm-up, measured side
by side: deterministic mode on and off alternate so that machine load hits both alike.

With --comfyui the real ComfyUI of the tests is started (tests/comfyui/setup_comfyui.sh; its
start-up excluded), both on 2 CPU threads: the server runs the graph (its execution time from
/history: text encoders, sampler and decode, with the model loaded)
and seedlock replays the PNG it saved (graph, text encoder, sampler, decode, pixel compare);
each round uses a new seed, both sides keep the model loaded; the goal is seedlock no slower.

    python bench/replay_bench.py [--repeat 5] [--steps 20] [--size 64]
    python bench/replay_bench.py --comfyui [--repeat 5] [--steps 20] [--size 64]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def comfyui(args: argparse.Namespace) -> None:
    import statistics
    import sys

    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    from tests.comfyui.conftest import CKPT, txt2img
    from tests.comfyui.server import install, start

    from seedlock.comfyui.client import ComfyClient
    from seedlock.replay.comfy_replay import replay_comfy

    home = install(root / ".test-cache")
    ckpt = home / "models" / "checkpoints" / CKPT
    work = Path(tempfile.mkdtemp(prefix="seedlock-replay-bench-"))
    server = start(home, work / "server", threads=2)
    rows: list[tuple[str, float, float, float, float]] = []
    try:
        with ComfyClient(server.url) as client:
            for sampler, scheduler in (("euler", "normal"), ("dpmpp_2m", "karras"), ("heun", "normal")):
                g = txt2img(steps=args.steps, size=args.size, sampler=sampler)
                g["3"]["inputs"]["scheduler"] = scheduler
                t = time.perf_counter()
                first = client.run(g)
                server_cold = time.perf_counter() - t
                png = work / f"{sampler}.png"
                png.write_bytes(first.images[0].data)
                t = time.perf_counter()
                rep = replay_comfy(png, model=ckpt, threads=2)
                seedlock_cold = time.perf_counter() - t
                assert rep.identical, rep.summary
                server_s: list[float] = []
                seedlock_s: list[float] = []
                for k in range(args.repeat):
                    # a new seed each round: the server keeps its loaded model (as seedlock's process
                    # does) but runs the sampler and decode again; seedlock replays that very PNG
                    g["3"]["inputs"]["seed"] = 1000 + k
                    run = client.run(g)
                    server_s.append(run.server_seconds or run.wall_seconds)
                    png_k = work / f"{sampler}-{k}.png"
                    png_k.write_bytes(run.images[0].data)
                    t = time.perf_counter()
                    again = replay_comfy(png_k, model=ckpt, threads=2)
                    seedlock_s.append(time.perf_counter() - t)
                    assert again.identical, again.summary
                rows.append((f"{sampler}/{scheduler}", server_cold, seedlock_cold,
                             statistics.median(server_s), statistics.median(seedlock_s)))  # fmt: skip
    finally:
        server.stop()
    print(f"ComfyUI PNG replay, {args.size}x{args.size}, {args.steps} steps, CPU 2 threads, medians of {args.repeat}")
    print(f"  {'graph':<18} {'ComfyUI first':>14} {'seedlock first':>15} {'ComfyUI':>9} {'seedlock':>9} {'ratio':>7}")
    for name, sc, lc, s_med, l_med in rows:
        print(f"  {name:<18} {sc:13.2f}s {lc:14.2f}s {s_med:8.2f}s {l_med:8.2f}s {l_med / s_med:6.2f}x")
    print("  (first: model load included; ratio: seedlock / ComfyUI, goal <= 1.0x)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--comfyui", action="store_true", help="replay a real ComfyUI's PNG against the server's time")
    args = ap.parse_args()
    if args.comfyui:
        comfyui(args)
        return

    from seedlock.cli.replay import _quiet

    _quiet()
    from seedlock.replay.replay import replay
    from seedlock.replay.run import Engine, Recipe, RunSettings, save_outputs, verify
    from seedlock.replay.tiny import build_tiny

    work = Path(tempfile.mkdtemp(prefix="seedlock-replay-bench-"))
    t = time.perf_counter()
    model = build_tiny(work / "tiny.safetensors")
    build_s = time.perf_counter() - t
    recipe = Recipe(
        model=str(model), prompt='a "happy" cat', seed=42, steps=args.steps, width=args.size, height=args.size
    )
    det_on, det_off = Engine(RunSettings(deterministic=True)), Engine(RunSettings(deterministic=False))
    t = time.perf_counter()
    det_on.run(recipe)
    load_s = time.perf_counter() - t
    det_off.run(recipe)
    on: list[float] = []
    off: list[float] = []
    for _ in range(args.repeat):
        on.append(det_on.run(recipe).seconds)
        off.append(det_off.run(recipe).seconds)
    out = work / "a.png"
    save_outputs(det_on.run(recipe), out)
    replays = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        rep = replay(out, model=model)
        replays.append(time.perf_counter() - t)
        assert rep.identical
    t = time.perf_counter()
    checks = verify(det_on, recipe)
    verify_s = time.perf_counter() - t
    assert all(c.passed for c in checks)

    print(f"tiny model, {args.size}x{args.size}, {args.steps} steps, 1 thread, best of {args.repeat}")
    print(f"  build the tiny model              {build_s:7.2f} s")
    print(f"  first run (load + generate)       {load_s:7.2f} s")
    print(f"  generate, deterministic mode on   {min(on):7.3f} s")
    print(f"  generate, deterministic mode off  {min(off):7.3f} s")
    print(f"  cost of deterministic mode        {min(on) / min(off) - 1:+7.1%}")
    print(f"  replay (read, load, generate, compare) {min(replays):7.3f} s")
    print(f"  verify (7 runs)                   {verify_s:7.2f} s")


if __name__ == "__main__":
    main()
