"""Generate, replay and verify times on the tiny model, and the cost of deterministic mode.

Each figure is the best of --repeat runs in one process after a warm-up, measured side
by side: deterministic mode on and off alternate so that machine load hits both alike.

    python bench/replay_bench.py [--repeat 5] [--steps 20] [--size 64]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--size", type=int, default=64)
    args = ap.parse_args()

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
