"""A PNG's filtered scanlines, inflated a bounded step at a time.

Shared by the stealth scan (which needs only the first columns of the first rows) and
the strip decoder of large images in seedlock.diff.pixels (which needs every row, a
strip at a time), so neither ever holds a whole image's inflated data.
"""

from __future__ import annotations

import struct
import zlib
from typing import IO

__all__ = ["Scanlines"]


class Scanlines:
    """The filtered scanlines of a PNG, inflated from its IDAT chunks only as far as asked.

    ``f`` must stand at the first IDAT chunk (or at any chunk before it, past IHDR).
    """

    #: bytes inflated per step (at least one scanline), so a big image never sits whole in memory
    _STEP = 1 << 18

    def __init__(self, f: IO[bytes], stride: int) -> None:
        self._f = f
        self._stride = stride
        self._rows_per_step = max(1, self._STEP // stride)
        self._z = zlib.decompressobj()

    def take(self, n: int, keep: int) -> list[bytes]:
        """The next ``n`` scanlines, each cut to its first ``keep`` bytes (filter byte included)."""
        rows: list[bytes] = []
        stride = self._stride
        while len(rows) < n:
            want = min(n - len(rows), self._rows_per_step) * stride
            data = self._inflate(want)
            rows.extend(data[i : i + keep] for i in range(0, want, stride))
        return rows

    def _inflate(self, want: int) -> bytes:
        parts: list[bytes] = []
        got = 0
        while got < want:
            src = self._z.unconsumed_tail or self._next_idat()
            if not src or self._z.eof:
                raise ValueError("image data ends early")
            piece = self._z.decompress(src, want - got)
            parts.append(piece)
            got += len(piece)
        return b"".join(parts)

    def _next_idat(self) -> bytes:
        f = self._f
        while True:
            hdr = f.read(8)
            if len(hdr) < 8:
                return b""
            length, kind = struct.unpack(">I4s", hdr)
            if kind == b"IDAT":
                body = f.read(length)
                f.seek(4, 1)
                return body
            if kind == b"IEND":
                return b""
            f.seek(length + 4, 1)
