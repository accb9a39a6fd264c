"""Deterministic mode: every global knob that changes bits, set for a run and restored after.

What it pins, and why (spec: hashing-determinism §2, tiny-pipeline §4):

- ``torch.use_deterministic_algorithms(True)`` (strict, so a new nondeterministic op fails
  loudly instead of warning), cuDNN ``deterministic`` on and ``benchmark`` off;
- TF32 off for matmul *and* cuDNN convolutions (diffusers' helper leaves the latter on);
- ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (harmless where no longer required; recorded);
- ``fill_uninitialized_memory`` off: it only costs time for programs that never read
  uninitialised memory;
- the CPU thread count: 1 and 2 threads give different bits for the same model;
- one scaled-dot-product attention backend, so kernel selection cannot vary.

The context manager yields the settings, which go into every record it produces.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

#: attention backends that can be pinned (torch.nn.attention.SDPBackend names)
ATTENTION_BACKENDS = ("math", "efficient", "flash", "cudnn")


def _sdpa_context(name: str) -> Any:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backend = {
        "math": SDPBackend.MATH,
        "efficient": SDPBackend.EFFICIENT_ATTENTION,
        "flash": SDPBackend.FLASH_ATTENTION,
        "cudnn": SDPBackend.CUDNN_ATTENTION,
    }[name]
    return sdpa_kernel([backend])


def snapshot() -> dict[str, Any]:
    """The global state deterministic mode touches, as it is now."""
    import torch
    import torch.utils.deterministic

    return {
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "deterministic_warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "fill_uninitialized_memory": torch.utils.deterministic.fill_uninitialized_memory,  # type: ignore[attr-defined]
        "threads": torch.get_num_threads(),
        "CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    }


def _apply(state: dict[str, Any]) -> None:
    import torch
    import torch.utils.deterministic

    torch.use_deterministic_algorithms(state["deterministic_algorithms"], warn_only=state["deterministic_warn_only"])
    torch.backends.cudnn.deterministic = state["cudnn_deterministic"]
    torch.backends.cudnn.benchmark = state["cudnn_benchmark"]
    torch.backends.cudnn.allow_tf32 = state["cudnn_allow_tf32"]
    torch.backends.cuda.matmul.allow_tf32 = state["matmul_allow_tf32"]
    torch.utils.deterministic.fill_uninitialized_memory = state["fill_uninitialized_memory"]  # type: ignore[attr-defined]
    torch.set_num_threads(state["threads"])
    if state["CUBLAS_WORKSPACE_CONFIG"] is None:
        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    else:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = state["CUBLAS_WORKSPACE_CONFIG"]


@contextmanager
def deterministic_mode(
    enabled: bool = True, *, threads: int | None = 1, attention: str | None = "math"
) -> Iterator[dict[str, Any]]:
    """Pin every knob for the duration of the block; restore the caller's state after.

    With ``enabled=False`` only the thread count and attention backend are pinned (they
    are part of the recipe either way); the algorithm flags stay as the caller set them.
    Yields the settings in force, for the record.
    """
    before = snapshot()
    wanted = dict(before)
    if threads is not None:
        wanted["threads"] = threads
    if enabled:
        wanted.update(
            deterministic_algorithms=True,
            deterministic_warn_only=False,
            cudnn_deterministic=True,
            cudnn_benchmark=False,
            cudnn_allow_tf32=False,
            matmul_allow_tf32=False,
            fill_uninitialized_memory=False,
            CUBLAS_WORKSPACE_CONFIG=":4096:8",
        )
    with ExitStack() as stack:
        try:
            _apply(wanted)
            if attention and attention != "auto":
                if attention not in ATTENTION_BACKENDS:
                    raise ValueError(
                        f"unknown attention backend {attention!r} (one of {', '.join(ATTENTION_BACKENDS)}, auto)"
                    )
                stack.enter_context(_sdpa_context(attention))
            settings = {**snapshot(), "enabled": enabled, "attention": attention or "auto"}
            yield settings
        finally:
            _apply(before)
