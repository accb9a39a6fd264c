"""A1111's ``RNG: NV`` noise: its NumPy Philox-4x32 emulation of CUDA's ``torch.randn``.

A1111 (``modules/rng_philox.py``) draws NV noise on any hardware with Philox-4x32-10: each
element's counter is ``(offset, 0, index, 0)`` and its key the 64-bit seed split in two words;
the first two output words become a normal number by Box-Muller, computed in float64 from
A1111's float32 constants and rounded to float32. Each ``randn`` call advances the offset by
one. CUDA's own generator computes the same in float32, so the two agree to a few units in
the seventh digit; seedlock follows A1111's code, since that is what made an NV image.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["NvGenerator"]

_M = (0xD2511F53, 0xCD9E8D57)
_W = (0x9E3779B9, 0xBB67AE85)
_INV = np.array([2.3283064e-10], dtype=np.float32)
_INV_2PI = np.array([2.3283064e-10 * 6.2831855], dtype=np.float32)


def _words(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """uint64 -> (low words, high words) as uint32."""
    return np.stack([(x & 0xFFFFFFFF).astype(np.uint32), (x >> np.uint64(32)).astype(np.uint32)])


def _round(counter: np.ndarray[Any, Any], key: np.ndarray[Any, Any]) -> None:
    v1 = _words(counter[0].astype(np.uint64) * np.uint64(_M[0]))
    v2 = _words(counter[2].astype(np.uint64) * np.uint64(_M[1]))
    counter[0] = v2[1] ^ counter[1] ^ key[0]
    counter[1] = v2[0]
    counter[2] = v1[1] ^ counter[3] ^ key[1]
    counter[3] = v1[0]


def _philox(counter: np.ndarray[Any, Any], key: np.ndarray[Any, Any], rounds: int = 10) -> np.ndarray[Any, Any]:
    for _ in range(rounds - 1):
        _round(counter, key)
        key[0] += np.uint32(_W[0])
        key[1] += np.uint32(_W[1])
    _round(counter, key)
    return counter


class NvGenerator:
    """A1111's NV generator for one seed; each :meth:`randn` is one call of its stream."""

    def __init__(self, seed: int) -> None:
        self.seed = seed if seed >= 0 else seed + (1 << 64)
        self.offset = 0

    def randn(self, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
        n = int(np.prod(shape))
        counter = np.zeros((4, n), dtype=np.uint32)
        counter[0] = self.offset
        counter[2] = np.arange(n, dtype=np.uint32)
        self.offset += 1
        key = _words(np.full(n, self.seed, dtype=np.uint64))
        with np.errstate(over="ignore"):
            g = _philox(counter, key)
        # uint32 times a float32 array is float64 in NumPy: A1111's Box-Muller runs in double
        u = g[0] * _INV + _INV / 2
        v = g[1] * _INV_2PI + _INV_2PI / 2
        out = np.sqrt(-2.0 * np.log(u)) * np.sin(v)
        return np.asarray(out.astype(np.float32).reshape(shape))
