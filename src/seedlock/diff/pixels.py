"""Pixel verdict: are two images bit-identical, visually indistinguishable, or different?

Both images are decoded to the same layout (RGBA when either has alpha, else RGB, 8 bits)
so a PNG and a lossless WebP of the same pixels hash alike. Thresholds (documented in
docs/diff.md): bit-identical = equal pixel hashes; visually indistinguishable = PSNR at
least 40 dB and SSIM at least 0.99 and no channel off by more than 8/255; otherwise
different.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from seedlock.errors import ImageFormatError, PixelBudgetExceeded
from seedlock.files import open_regular

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
    #: how many pixels differ in any channel, and their bounding box (y0, y1, x0, x1), end-exclusive
    changed_pixels: int = 0
    changed_box: tuple[int, int, int, int] | None = None

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
            "changed_pixels": self.changed_pixels,
            "changed_box": list(self.changed_box) if self.changed_box else None,
            "note": self.note,
        }


#: default pixel budget per image (64 Mi px: an 8192x8192 image fits, a 13300x13300 bomb does not)
MAX_PIXELS = 64 * 1024 * 1024
#: rows per strip when metrics are computed strip by strip (bounded memory for large images)
STRIP_ROWS = 256

#: an image as the comparison holds it: a decoded array, or a loaded Pillow image read in strips
Pixels = Any


def changed_text(p: PixelReport) -> str:
    """ "100 px (0.004%) changed in 10x10 at (3, 7)": counts that stay readable for a handful of pixels."""
    if not p.changed_pixels:
        return "no pixel changed"
    share = 100 * p.changed_share
    pct = f"{share:.3g}%" if share < 1 else f"{share:.1f}%"
    text = f"{p.changed_pixels:,} px ({pct}) changed"
    if p.changed_box:
        y0, y1, x0, x1 = p.changed_box
        text += f" in {x1 - x0}x{y1 - y0} at ({x0}, {y0})"
    return text


def _check_budget(width: int, height: int, path: str | Path | IO[bytes], max_pixels: int | None) -> None:
    """Refuse an image of more pixels than the budget (MAX_PIXELS by default; 0 means none)."""
    budget = MAX_PIXELS if max_pixels is None else max_pixels
    n = width * height
    if budget > 0 and n > budget:
        raise PixelBudgetExceeded(
            f"{width}x{height} is {n:,} pixels, over the budget of {budget:,}", path=str(path), pixels=n, budget=budget
        )


#: at and above this many pixels a PNG is decoded strip by strip (seedlock.diff.png_strips)
STRIP_DECODE_MIN = 4 * 1024 * 1024


def open_image(path: str | Path | IO[bytes], mode: str | None = None, *, max_pixels: int | None = None) -> Any:
    """Decode to a loaded Pillow image in the comparison layout (RGB, or RGBA with alpha).

    The size is checked against the pixel budget from the header, before any pixel is
    decoded, so a decompression bomb is refused in milliseconds; Pillow's own bomb check
    (and its warning) is replaced by that budget.

    Raises:
        PixelBudgetExceeded: more pixels than ``max_pixels`` (default :data:`MAX_PIXELS`; 0: no limit).
        ImageFormatError: not an image Pillow can decode.
    """
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img: Any = Image.open(path)
            _check_budget(img.size[0], img.size[1], path, max_pixels)
            img.load()
        want = mode or ("RGBA" if ("A" in img.getbands() or "transparency" in img.info) else "RGB")
        if img.mode != want:
            converted = img.convert(want)
            img.close()
            img = converted
    except PixelBudgetExceeded:
        raise
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise ImageFormatError(f"cannot decode pixels ({exc})", path=str(path)) from None
    return img


def decode(path: str | Path, mode: str | None = None, *, max_pixels: int | None = None) -> np.ndarray[Any, Any]:
    """Decode to an HxWxC uint8 array (RGB, or RGBA when the image has alpha or mode says so).

    A large PNG is decoded strip by strip into the array (byte-identical to Pillow's full
    decode, without its 4-byte-a-pixel copy), so the array is nearly all the memory it takes.
    """
    from seedlock.diff.png_strips import decode_png_strips, png_header

    try:
        fd = open_regular(path)
        try:
            header = png_header(os.pread(fd, 33, 0))
        finally:
            os.close(fd)
    except OSError as exc:
        raise ImageFormatError(f"cannot decode pixels ({exc.strerror or exc})", path=str(path)) from None
    if header is not None and header[0] * header[1] >= STRIP_DECODE_MIN:
        _check_budget(header[0], header[1], path, max_pixels)
        try:
            arr = decode_png_strips(path, mode)
        except (ValueError, zlib.error, OSError) as exc:
            raise ImageFormatError(f"cannot decode pixels ({exc})", path=str(path)) from None
        if arr is not None:
            return arr
    img = open_image(path, mode, max_pixels=max_pixels)
    try:
        return np.asarray(img)
    finally:
        img.close()


def shape_of(x: Pixels) -> tuple[int, int, int]:
    """(height, width, channels) of an array or a Pillow image."""
    if isinstance(x, np.ndarray):
        h, w, c = x.shape
        return int(h), int(w), int(c)
    return x.size[1], x.size[0], len(x.getbands())


def rows(x: Pixels, y0: int, y1: int, x0: int = 0, x1: int | None = None) -> np.ndarray[Any, Any]:
    """Rows y0..y1 (columns x0..x1) as an HxWxC uint8 array: a view of an array, a copy of an image's strip."""
    if isinstance(x, np.ndarray):
        return x[y0:y1, x0:x1]
    w = x.size[0] if x1 is None else x1
    return np.asarray(x.crop((x0, y0, w, y1)))


def strips(h: int, step: int = STRIP_ROWS) -> list[tuple[int, int]]:
    """Row ranges that cover 0..h in steps of ``step``."""
    return [(y, min(y + step, h)) for y in range(0, h, step)]


def pixel_hash(x: Pixels) -> str:
    """sha256 of the decoded buffer, prefixed by its shape so 2x8 and 4x4 never collide.

    An image is hashed strip by strip; the digest is that of the whole row-major buffer.
    """
    h_, w, c = shape_of(x)
    h = hashlib.sha256(f"{w}x{h_}x{c}:".encode())
    if isinstance(x, np.ndarray):
        h.update(np.ascontiguousarray(x).data)
    else:
        for y0, y1 in strips(h_, 1024):
            h.update(x.crop((0, y0, w, y1)).tobytes())
    return h.hexdigest()


_LUMA = np.array([299.0, 587.0, 114.0])  # BT.601 x1000: integer luma keeps window sums exact
_WINDOW = 7  # SSIM box window, as in Wang et al.'s reference implementation
_STRIP = 32  # output rows per SSIM strip: two bands of these stay well inside the memory budget


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


@dataclass(frozen=True)
class _Stats:
    """Exact difference statistics of two same-shape images, gathered strip by strip."""

    abs_sum: int = 0
    sq_sum: int = 0
    max_diff: int = 0
    changed: int = 0
    #: bounding box of the changed pixels: (y0, y1, x0, x1), end-exclusive; None when none changed
    box: tuple[int, int, int, int] | None = None

    def merge(self, other: _Stats) -> _Stats:
        if self.box is None or other.box is None:
            box = self.box or other.box
        else:
            box = (
                min(self.box[0], other.box[0]),
                max(self.box[1], other.box[1]),
                min(self.box[2], other.box[2]),
                max(self.box[3], other.box[3]),
            )
        return _Stats(
            self.abs_sum + other.abs_sum,
            self.sq_sum + other.sq_sum,
            max(self.max_diff, other.max_diff),
            self.changed + other.changed,
            box,
        )


def _strip_stats(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any], y_offset: int) -> _Stats:
    """Statistics of one strip, in 8/16-bit integer arithmetic (exact)."""
    d = np.maximum(a, b)
    d -= np.minimum(a, b)  # |a - b| without leaving uint8
    mask: np.ndarray[Any, Any] = d[..., 0] != 0
    for c in range(1, d.shape[2]):
        mask |= d[..., c] != 0
    changed = int(np.count_nonzero(mask))
    if not changed:
        return _Stats()
    sq = d.astype(np.uint16)
    sq *= sq  # 255^2 fits in 16 bits
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    box = (y_offset + int(ys[0]), y_offset + int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1)
    return _Stats(int(d.sum(dtype=np.uint64)), int(sq.sum(dtype=np.uint64)), int(d.max()), changed, box)


def _stats(a: Pixels, b: Pixels) -> _Stats:
    """Statistics over every strip, the two halves of the image in two threads (numpy and Pillow release the GIL)."""
    h = shape_of(a)[0]
    parts = strips(h)

    def run(chunk: list[tuple[int, int]]) -> _Stats:
        total = _Stats()
        for y0, y1 in chunk:
            total = total.merge(_strip_stats(rows(a, y0, y1), rows(b, y0, y1), y0))
        return total

    if len(parts) < 2:
        return run(parts)
    half = len(parts) // 2
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(run, [parts[:half], parts[half:]])
    if h * shape_of(a)[1] >= STRIP_DECODE_MIN:
        release_freed_memory()
    return first.merge(second)


def _ssim_box(a: Pixels, b: Pixels, box: tuple[int, int, int, int] | None) -> float:
    """Mean SSIM on luma with a 7x7 box window (Wang et al. 2004 constants).

    Windows that contain no changed pixel have SSIM exactly 1, so only the bounding box of
    the changed pixels (grown by the window) is computed, in strips; the mean is over all
    windows. A tall box is cut into two row bands (overlapping by the window) computed in
    two threads, since numpy releases the GIL.
    """
    k = _WINDOW
    h, w, _ = shape_of(a)
    if h < k or w < k:
        la, lb = _luma(rows(a, 0, h)) / 1000.0, _luma(rows(b, 0, h)) / 1000.0
        return 1.0 if np.array_equal(la, lb) else float(1 - np.abs(la - lb).mean() / 255)
    if box is None:
        return 1.0
    total = (h - k + 1) * (w - k + 1)
    y0, y1 = max(box[0] - k + 1, 0), min(box[1] + k - 1, h)
    x0, x1 = max(box[2] - k + 1, 0), min(box[3] + k - 1, w)

    def band(lo: int, hi: int) -> tuple[float, int]:
        # strips of output rows keep every temporary in cache, far faster than whole-image passes
        ssum, count = 0.0, 0
        for top in range(lo, hi - k + 1, _STRIP):
            bottom = min(top + _STRIP + k - 1, hi)
            part = _ssim_sum(_luma(rows(a, top, bottom, x0, x1)), _luma(rows(b, top, bottom, x0, x1)), k)
            ssum, count = ssum + part[0], count + part[1]
        return ssum, count

    rows_out = y1 - y0 - k + 1
    if rows_out <= 0 or x1 - x0 < k:
        return 1.0
    if rows_out > 128:
        mid = y0 + rows_out // 2
        with ThreadPoolExecutor(2) as pool:
            parts = list(pool.map(lambda r: band(*r), [(y0, mid + k - 1), (mid, y1)]))
        if h * w >= STRIP_DECODE_MIN:
            release_freed_memory()
    else:
        parts = [band(y0, y1)]
    ssum = sum(p[0] for p in parts)
    inside = sum(p[1] for p in parts)
    return float((ssum + (total - inside)) / total)


def ssim(a: Pixels, b: Pixels) -> float:
    """Mean SSIM on luma with a 7x7 box window over two same-shape images."""
    return _ssim_box(a, b, _stats(a, b).box)


def _as_image(x: Pixels) -> Any:
    from PIL import Image

    if isinstance(x, np.ndarray):
        return Image.fromarray(x, "RGBA" if x.shape[2] == 4 else "RGB")
    return x


def compare_arrays(a: Pixels, b: Pixels, note: str = "", hashes: tuple[str, str] | None = None) -> PixelReport:
    """Metrics and verdict for two decoded images of the same layout (arrays or loaded Pillow images).

    Everything is computed in row strips, so two large images cost little beyond their
    decoded pixels. ``hashes`` lets a caller that already hashed the buffers skip that.
    """
    ha, hb = hashes or (pixel_hash(a), pixel_hash(b))
    (h_a, w_a, _), (h_b, w_b, _) = shape_of(a), shape_of(b)
    size_a, size_b = (w_a, h_a), (w_b, h_b)
    if ha == hb:
        return PixelReport("bit-identical", ha, hb, size_a, size_b, 0, 0.0, float("inf"), 1.0, 0.0, note)
    same_shape = shape_of(a) == shape_of(b)
    if not same_shape:
        from PIL import Image

        note = (
            note + "; " if note else ""
        ) + f"sizes differ ({size_a[0]}x{size_a[1]} vs {size_b[0]}x{size_b[1]}): B resized to A for the metrics"
        b = _as_image(b).resize(size_a, Image.Resampling.LANCZOS)
    st = _stats(a, b)
    s = _ssim_box(a, b, st.box)
    samples = h_a * w_a * shape_of(a)[2]
    mse = st.sq_sum / samples
    psnr = float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
    changed = st.changed / (h_a * w_a)
    if (
        same_shape
        and psnr >= PSNR_INDISTINGUISHABLE
        and s >= SSIM_INDISTINGUISHABLE
        and st.max_diff <= MAX_DIFF_INDISTINGUISHABLE
    ):
        verdict = "visually indistinguishable"
    else:
        verdict = "different"
    return PixelReport(
        verdict, ha, hb, size_a, size_b, st.max_diff, st.abs_sum / samples, psnr, s, changed, note, st.changed, st.box
    )


def release_freed_memory() -> None:
    """Hand memory that worker threads freed back to the system (glibc keeps it per thread arena).

    Called after the threaded phases on images of :data:`STRIP_DECODE_MIN` pixels or more only:
    small ones would pay a heap walk for nothing.

    After two threads have decoded or measured large images, their freed strips stay mapped
    in their arenas and the next phase allocates anew, so peak memory would depend on thread
    timing; ``malloc_trim`` makes it depend on the work alone. A no-op without glibc.
    """
    global _TRIM
    if _TRIM is None:
        try:
            import ctypes

            _TRIM = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _TRIM = False
    if _TRIM:
        _TRIM(0)


_TRIM: Any = None


def decode_pair(
    a: str | Path, b: str | Path, *, max_pixels: int | None = None
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], tuple[str, str]]:
    """Both images decoded to one layout, and their pixel hashes.

    The two files are decoded and hashed in two threads (Pillow's decoders, zlib and
    hashlib release the GIL). When only one has alpha, the other gains an opaque alpha
    channel, exactly what Pillow's RGB to RGBA conversion gives.
    """

    def load(path: str | Path) -> tuple[np.ndarray[Any, Any], str]:
        arr = decode(path, max_pixels=max_pixels)
        return arr, pixel_hash(arr)

    with ThreadPoolExecutor(2) as pool:
        (arr_a, ha), (arr_b, hb) = pool.map(load, [a, b])
    if arr_a.shape[0] * arr_a.shape[1] >= STRIP_DECODE_MIN:
        release_freed_memory()
    if arr_a.shape[2] != arr_b.shape[2]:
        if arr_a.shape[2] == 3:
            arr_a = _with_opaque_alpha(arr_a)
            ha = pixel_hash(arr_a)
        else:
            arr_b = _with_opaque_alpha(arr_b)
            hb = pixel_hash(arr_b)
    return arr_a, arr_b, (ha, hb)


def _with_opaque_alpha(rgb: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    out = np.empty((*rgb.shape[:2], 4), dtype=np.uint8)
    out[..., :3] = rgb
    out[..., 3] = 255
    return out


def compare_images(a: str | Path, b: str | Path, *, max_pixels: int | None = None) -> PixelReport:
    """Decode both images to one layout (:func:`decode_pair`) and compare."""
    arr_a, arr_b, hashes = decode_pair(a, b, max_pixels=max_pixels)
    return compare_arrays(arr_a, arr_b, hashes=hashes)
