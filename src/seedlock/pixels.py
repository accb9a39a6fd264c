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


def _window_sums(x: np.ndarray[Any, Any], k: int) -> np.ndarray[Any, Any]:
    """Sum over every k x k window (valid region) via integer cumulative sums: exact and fast."""
    c = np.zeros((x.shape[0] + 1, x.shape[1] + 1), dtype=np.int64)
    np.cumsum(x, axis=0, out=c[1:, 1:])
    np.cumsum(c[1:, 1:], axis=1, out=c[1:, 1:])
    s: np.ndarray[Any, Any] = c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]
    return s


def _luma(a: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Integer luma x1000 (BT.601 weights), so window statistics stay exact in int64."""
    a = a.astype(np.int64)
    y: np.ndarray[Any, Any] = a[..., 0] * 299 + a[..., 1] * 587 + a[..., 2] * 114
    return y


def ssim(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any], changed: np.ndarray[Any, Any] | None = None) -> float:
    """Mean SSIM on luma with a 7x7 box window (Wang et al. 2004 constants).

    Windows that contain no changed pixel have SSIM exactly 1, so only the bounding box of
    the changed pixels (grown by the window) is computed; the mean is over all windows.
    """
    k = 7
    h, w = a.shape[:2]
    if h < k or w < k:
        la, lb = _luma(a) / 1000.0, _luma(b) / 1000.0
        return 1.0 if np.array_equal(la, lb) else float(1 - np.abs(la - lb).mean() / 255)
    total = (h - k + 1) * (w - k + 1)
    if changed is None:
        changed = _changed(a, b)
    rows = np.flatnonzero(changed.any(axis=1))
    if rows.size == 0:
        return 1.0
    cols = np.flatnonzero(changed.any(axis=0))
    y0, y1 = max(rows[0] - k + 1, 0), min(rows[-1] + k, h)
    x0, x1 = max(cols[0] - k + 1, 0), min(cols[-1] + k, w)
    rows_out = y1 - y0 - k + 1
    if rows_out > 256:
        # two row bands (overlapping by the window) in two threads: numpy releases the GIL
        from concurrent.futures import ThreadPoolExecutor

        mid = y0 + rows_out // 2
        bands = [(y0, mid + k - 1), (mid, y1)]
        with ThreadPoolExecutor(2) as pool:
            parts = list(
                pool.map(lambda band: _ssim_sum(a[band[0] : band[1], x0:x1], b[band[0] : band[1], x0:x1], k), bands)
            )
    else:
        parts = [_ssim_sum(a[y0:y1, x0:x1], b[y0:y1, x0:x1], k)]
    ssum = sum(p[0] for p in parts)
    inside = sum(p[1] for p in parts)
    return float((ssum + (total - inside)) / total)


def _ssim_sum(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any], k: int) -> tuple[float, int]:
    """Sum of per-window SSIM over one region, and the number of windows.

    Uses p = a + b and m = a - b: SSIM needs only mu_a^2 + mu_b^2, mu_a*mu_b, var_a + var_b and
    cov, which four window sums of p, m, p^2 and m^2 give exactly.
    """
    la, lb = _luma(a), _luma(b)
    p, m = la + lb, la - lb
    n = float(k * k)
    sp, sm = _window_sums(p, k) / n, _window_sums(m, k) / n
    spp, smm = _window_sums(p * p, k) / n, _window_sums(m * m, k) / n
    mu_sq_sum = (sp * sp + sm * sm) / 2  # mu_a^2 + mu_b^2
    mu_prod = (sp * sp - sm * sm) / 4  # mu_a * mu_b
    var_sum = (spp + smm) / 2 - mu_sq_sum  # var_a + var_b
    cov = (spp - smm) / 4 - mu_prod
    c1, c2 = (0.01 * 255000) ** 2, (0.03 * 255000) ** 2
    s = ((2 * mu_prod + c1) * (2 * cov + c2)) / ((mu_sq_sum + c1) * (var_sum + c2))
    return float(s.sum()), int(s.size)


def _changed(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Per-pixel "any channel differs" mask (channel-wise ORs beat a reduction over a size-3 axis)."""
    ne = a != b
    m: np.ndarray[Any, Any] = ne[..., 0] | ne[..., 1]
    for c in range(2, ne.shape[2]):
        m |= ne[..., c]
    return m


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
    # every statistic is a sum over changed pixels, so only their bounding box is computed
    changed_mask = _changed(a, b)
    rows = np.flatnonzero(changed_mask.any(axis=1))
    cols = np.flatnonzero(changed_mask.any(axis=0))
    sq = abs_sum = 0.0
    max_d = 0
    if rows.size:
        box = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
        d = np.subtract(a[box], b[box], dtype=np.int16)
        np.abs(d, out=d)
        flat = d.ravel().astype(np.float64)
        sq = float(flat @ flat)
        abs_sum = float(flat.sum())
        max_d = int(d.max())
    mse = sq / a.size
    psnr = float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
    s = ssim(a, b, changed_mask)
    changed = float(np.count_nonzero(changed_mask)) / changed_mask.size
    if (
        a.shape == b.shape
        and psnr >= PSNR_INDISTINGUISHABLE
        and s >= SSIM_INDISTINGUISHABLE
        and max_d <= MAX_DIFF_INDISTINGUISHABLE
    ):
        verdict = "visually indistinguishable"
    else:
        verdict = "different"
    return PixelReport(verdict, ha, hb, size_a, size_b, max_d, abs_sum / a.size, psnr, s, changed, note)


def compare_images(a: str | Path, b: str | Path) -> PixelReport:
    """Decode both images to one layout and compare."""
    mode = "RGBA" if (has_alpha(a) or has_alpha(b)) else "RGB"
    return compare_arrays(decode(a, mode), decode(b, mode))
