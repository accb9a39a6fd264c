"""Pixel verdict: are two images bit-identical, visually indistinguishable, or different?

Both images are decoded to the same layout (RGBA when either has alpha, else RGB, 8 bits)
so a PNG and a lossless WebP of the same pixels hash alike. Thresholds (documented in
docs/diff.md): bit-identical = equal pixel hashes; visually indistinguishable = PSNR at
least 40 dB and SSIM at least 0.99 and no channel off by more than 8/255; otherwise
different.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
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


def pixel_hash(arr: np.ndarray[Any, Any]) -> str:
    """sha256 of the decoded buffer, prefixed by its shape so 2x8 and 4x4 never collide."""
    h = hashlib.sha256(f"{arr.shape[1]}x{arr.shape[0]}x{arr.shape[2]}:".encode())
    h.update(np.ascontiguousarray(arr).data)
    return h.hexdigest()


_LUMA = np.array([299.0, 587.0, 114.0])  # BT.601 x1000: integer luma keeps window sums exact
_WINDOW = 7  # SSIM box window, as in Wang et al.'s reference implementation
_STRIP = 64  # output rows per SSIM strip


def _luma(a: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Integer-valued luma x1000 in float64 (exact: every value and window sum stays below 2**53)."""
    y: np.ndarray[Any, Any] = a[..., :3].reshape(-1, 3).astype(np.float64) @ _LUMA
    return y.reshape(a.shape[:2])


def _window_sums(x: np.ndarray[Any, Any], k: int) -> np.ndarray[Any, Any]:
    """Sum over every k x k window (valid region), separably by shifted adds.

    Shifted adds beat cumulative sums here (a cumsum down the columns is 3x slower than
    k contiguous adds) and stay exact on integer-valued floats.
    """
    w = x.shape[1] - k + 1
    rows = x[:, :w].copy()
    for i in range(1, k):
        rows += x[:, i : i + w]
    h = x.shape[0] - k + 1
    out = rows[:h].copy()
    for i in range(1, k):
        out += rows[i : i + h]
    return out


def _ssim_sum(la: np.ndarray[Any, Any], lb: np.ndarray[Any, Any], k: int) -> tuple[float, int]:
    """Sum of per-window SSIM over one region of luma, and the number of windows.

    Uses p = a + b and m = a - b: SSIM needs only mu_a^2 + mu_b^2, mu_a*mu_b, var_a + var_b and
    cov, which four window sums of p, m, p^2 and m^2 give exactly.
    """
    p, m = la + lb, la - lb
    n = float(k * k)
    sp, sm = _window_sums(p, k), _window_sums(m, k)
    p *= p
    m *= m
    spp, smm = _window_sums(p, k), _window_sums(m, k)
    sp /= n
    sm /= n
    sp *= sp  # mean(p)^2
    sm *= sm  # mean(m)^2
    mu_sq_sum = (sp + sm) / 2  # mu_a^2 + mu_b^2
    mu_prod = (sp - sm) / 4  # mu_a * mu_b
    spp /= n
    smm /= n
    var_sum = (spp + smm) / 2 - mu_sq_sum  # var_a + var_b
    cov = (spp - smm) / 4 - mu_prod
    c1, c2 = (0.01 * 255000) ** 2, (0.03 * 255000) ** 2
    num = (2 * mu_prod + c1) * (2 * cov + c2)
    den = (mu_sq_sum + c1) * (var_sum + c2)
    return float((num / den).sum()), int(num.size)


def ssim(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any], changed: np.ndarray[Any, Any] | None = None) -> float:
    """Mean SSIM on luma with a 7x7 box window (Wang et al. 2004 constants).

    Windows that contain no changed pixel have SSIM exactly 1, so only the bounding box of
    the changed pixels (grown by the window) is computed; the mean is over all windows. A
    tall box is cut into two row bands (overlapping by the window) computed in two threads,
    since numpy releases the GIL.
    """
    k = _WINDOW
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
    y0, y1 = max(int(rows[0]) - k + 1, 0), min(int(rows[-1]) + k, h)
    x0, x1 = max(int(cols[0]) - k + 1, 0), min(int(cols[-1]) + k, w)

    def band(lo: int, hi: int) -> tuple[float, int]:
        # strips of output rows keep every temporary in cache, far faster than whole-image passes
        ssum, count = 0.0, 0
        for top in range(lo, hi - k + 1, _STRIP):
            bottom = min(top + _STRIP + k - 1, hi)
            part = _ssim_sum(_luma(a[top:bottom, x0:x1]), _luma(b[top:bottom, x0:x1]), k)
            ssum, count = ssum + part[0], count + part[1]
        return ssum, count

    rows_out = y1 - y0 - k + 1
    if rows_out > 128:
        mid = y0 + rows_out // 2
        with ThreadPoolExecutor(2) as pool:
            parts = list(pool.map(lambda r: band(*r), [(y0, mid + k - 1), (mid, y1)]))
    else:
        parts = [band(y0, y1)]
    ssum = sum(p[0] for p in parts)
    inside = sum(p[1] for p in parts)
    return float((ssum + (total - inside)) / total)


def _changed(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Per-pixel "any channel differs" mask (channel-wise ORs beat a reduction over a size-3 axis)."""
    ne = a != b
    m: np.ndarray[Any, Any] = ne[..., 0] | ne[..., 1]
    for c in range(2, ne.shape[2]):
        m |= ne[..., c]
    return m


def _diff_sums(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> tuple[int, int, int]:
    """Exact sum of |a-b|, sum of (a-b)^2 and max |a-b| in 8/16-bit integer arithmetic."""
    d = np.maximum(a, b)
    d -= np.minimum(a, b)  # |a - b| without leaving uint8
    max_d = int(d.max())
    abs_sum = int(d.sum(dtype=np.uint64))
    sq = d.astype(np.uint16)
    sq *= sq  # 255^2 fits in 16 bits
    return abs_sum, int(sq.sum(dtype=np.uint64)), max_d


def compare_arrays(
    a: np.ndarray[Any, Any],
    b: np.ndarray[Any, Any],
    note: str = "",
    hashes: tuple[str, str] | None = None,
) -> PixelReport:
    """Metrics and verdict for two decoded images of the same layout.

    ``hashes`` lets a caller that already hashed the buffers (compare_images does so while
    decoding) skip hashing them again.
    """
    ha, hb = hashes or (pixel_hash(a), pixel_hash(b))
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
    changed_mask = _changed(a, b)
    with ThreadPoolExecutor(1) as pool:
        # the difference sums run beside the SSIM bands; every step releases the GIL
        sums = pool.submit(_diff_sums, a, b)
        s = ssim(a, b, changed_mask)
        abs_sum, sq, max_d = sums.result()
    mse = sq / a.size
    psnr = float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
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


def _decode_and_hash(path: str | Path) -> tuple[np.ndarray[Any, Any], str]:
    arr = decode(path)
    return arr, pixel_hash(arr)


def decode_pair(a: str | Path, b: str | Path) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], tuple[str, str]]:
    """Both images decoded to one layout, and their pixel hashes.

    The two files are decoded and hashed in two threads (Pillow's decoders and hashlib
    release the GIL). When only one has alpha, the other gains an opaque alpha channel,
    exactly what Pillow's RGB to RGBA conversion gives.
    """
    with ThreadPoolExecutor(2) as pool:
        (arr_a, ha), (arr_b, hb) = pool.map(_decode_and_hash, [a, b])
    if arr_a.shape[2] != arr_b.shape[2]:
        if arr_a.shape[2] == 3:
            arr_a = _with_opaque_alpha(arr_a)
            ha = pixel_hash(arr_a)
        else:
            arr_b = _with_opaque_alpha(arr_b)
            hb = pixel_hash(arr_b)
    return arr_a, arr_b, (ha, hb)


def compare_images(a: str | Path, b: str | Path) -> PixelReport:
    """Decode both images to one layout (:func:`decode_pair`) and compare."""
    arr_a, arr_b, hashes = decode_pair(a, b)
    return compare_arrays(arr_a, arr_b, hashes=hashes)


def _with_opaque_alpha(rgb: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    out = np.empty((*rgb.shape[:2], 4), dtype=np.uint8)
    out[..., :3] = rgb
    out[..., 3] = 255
    return out
