"""A record from a path that is either an image or a record JSON file (``seedlock read --json`` output)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from seedlock.errors import RecordFormatError
from seedlock.extract import sniff_format
from seedlock.files import open_regular
from seedlock.record import GenerationRecord

__all__ = ["load_record"]

#: a record JSON larger than this is not one seedlock wrote (records are kilobytes)
MAX_RECORD_JSON = 64 * 1024 * 1024


def load_record(path: str | os.PathLike[str]) -> tuple[GenerationRecord, bool]:
    """(record, is_image) for an image or a record JSON file.

    Raises:
        RecordFormatError: neither an image nor a record JSON file.
        ImageFormatError: an image that cannot be walked.
    """
    from seedlock.readers import read

    p = Path(path)
    fd = open_regular(p)
    try:
        head = os.pread(fd, 12, 0)
    finally:
        os.close(fd)
    if sniff_format(head) is not None:
        return read(p), True
    if p.stat().st_size > MAX_RECORD_JSON:
        raise RecordFormatError("too large for a record JSON file", path=str(p))
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RecordFormatError(
            f"neither an image nor a record JSON file ({type(exc).__name__})", path=str(p)
        ) from None
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    try:
        return GenerationRecord.from_dict(data), False
    except RecordFormatError as exc:
        exc.path = exc.path or str(p)
        raise
