"""Pixel verdict: are two images bit-identical, visually indistinguishable, or different?

Both images are decoded to the same layout (RGBA when either has alpha, else RGB, 8 bits)
so a PNG and a lossless WebP of the same pixels hash alike. Thresholds (documented in
docs/diff.md): bit-identical = equal pixel hashes; visually indistinguishable = PSNR at
least 40 dB and SSIM at least 0.99 and no channel off by more than 8/255; otherwise
different.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seedlock.errors import ImageFormatError

PSNR_INDISTINGUISHABLE = 40.0
SSIM_INDISTINGUISHABLE = 0.99
MAX_DIFF_INDISTINGUISHABLE = 8


@dataclass(frozen=True)
class PixelReport:
    verdict: str
    hash_a: str
    hash_b: str
    size_a: tuple[int, int]
    size_b: tuple[int, int]
    max_abs_diff: int
    mean_abs_diff: float
    psnr: float
    ssim: float
    changed_share: float
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "hash_a": self.hash_a,
            "hash_b": self.hash_b,
            "size_a": list(self.size_a),
            "size_b": list(self.size_b),
            "max_abs_diff": self.max_abs_diff,
            "mean_abs_diff": round(self.mean_abs_diff, 6),
            "psnr": None if self.psnr == float("inf") else round(self.psnr, 4),
            "ssim": round(self.ssim, 6),
            "changed_share": round(self.changed_share, 6),
            "note": self.note,
        }


def decode(path: str | Path, mode: str | None = None) -> np.ndarray[Any, Any]:
    """Decode to an HxWxC uint8 array (RGB, or RGBA when the image has alpha or mode says so)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.load()
            want = mode or ("RGBA" if ("A" in img.getbands() or "transparency" in img.info) else "RGB")
            arr = np.asarray(img.convert(want) if img.mode != want else img)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageFormatError(f"cannot decode pixels ({exc})", path=str(path)) from None
    return arr


def has_alpha(path: str | Path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as img:
            return "A" in img.getbands() or "transparency" in img.info
    except (OSError, ValueError) as exc:
        raise ImageFormatError(f"cannot decode pixels ({exc})", path=str(path)) from None


def pixel_hash(arr: np.ndarray[Any, Any]) -> str:
    """sha256 of the decoded buffer, prefixed by its shape so 2x8 and 4x4 never collide."""
    h = hashlib.sha256(f"{arr.shape[1]}x{arr.shape[0]}x{arr.shape[2]}:".encode())
    h.update(np.ascontiguousarray(arr).data)
    return h.hexdigest()


def _box(x: np.ndarray[Any, Any], r: int) -> np.ndarray[Any, Any]:
    """Mean over a (2r+1)^2 window via cumulative sums (valid region only)."""
    c = x.cumsum(0).cumsum(1)
    c = np.pad(c, ((1, 0), (1, 0)))
    k = 2 * r + 1
    s: np.ndarray[Any, Any] = (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)
    return s


def ssim(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
    """Mean SSIM on luma with a 7x7 box window (Wang et al. 2004 constants)."""
    w = np.array([0.299, 0.587, 0.114], dtype=np.float64)
    la = a[..., :3].astype(np.float64) @ w
    lb = b[..., :3].astype(np.float64) @ w
    r = 3
    if min(la.shape) < 2 * r + 1:
        return 1.0 if np.array_equal(la, lb) else float(1 - np.abs(la - lb).mean() / 255)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = _box(la, r), _box(lb, r)
    va = _box(la * la, r) - mu_a**2
    vb = _box(lb * lb, r) - mu_b**2
    cov = _box(la * lb, r) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (va + vb + c2))
    return float(s.mean())


def compare_arrays(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any], note: str = "") -> PixelReport:
    """Metrics and verdict for two decoded images of the same layout."""
    ha, hb = pixel_hash(a), pixel_hash(b)
    size_a, size_b = (a.shape[1], a.shape[0]), (b.shape[1], b.shape[0])
    if ha == hb:
        return PixelReport("bit-identical", ha, hb, size_a, size_b, 0, 0.0, float("inf"), 1.0, 0.0, note)
    if a.shape != b.shape:
        from PIL import Image

        note = (
            note + "; " if note else ""
        ) + f"sizes differ ({size_a[0]}x{size_a[1]} vs {size_b[0]}x{size_b[1]}): B resized to A for the metrics"
        mode = "RGBA" if a.shape[2] == 4 else "RGB"
        b = np.asarray(Image.fromarray(b, mode).resize(size_a, Image.Resampling.LANCZOS))
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    mse = float((d.astype(np.float64) ** 2).mean())
    psnr = float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
    s = ssim(a, b)
    max_d = int(d.max())
    changed = float((d.max(axis=2) > 0).mean())
    if (
        a.shape == b.shape
        and psnr >= PSNR_INDISTINGUISHABLE
        and s >= SSIM_INDISTINGUISHABLE
        and max_d <= MAX_DIFF_INDISTINGUISHABLE
    ):
        verdict = "visually indistinguishable"
    else:
        verdict = "different"
    return PixelReport(verdict, ha, hb, size_a, size_b, max_d, float(d.mean()), psnr, s, changed, note)


def compare_images(a: str | Path, b: str | Path) -> PixelReport:
    """Decode both images to one layout and compare."""
    mode = "RGBA" if (has_alpha(a) or has_alpha(b)) else "RGB"
    return compare_arrays(decode(a, mode), decode(b, mode))
