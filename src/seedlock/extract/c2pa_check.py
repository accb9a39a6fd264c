"""C2PA signatures checked by the official library (c2pa-python, the ``c2pa`` extra).

The built-in reader (:mod:`seedlock.extract.c2pa`) only says who claims to have made an
image. Whether that claim is signed, by whom, and whether the signature and the hard
binding to the pixels hold is the C2PA SDK's job; seedlock asks it only when told to,
since it is a native library and the built-in reader needs none.
"""

from __future__ import annotations

import json
import os
from typing import Any

from seedlock.errors import MissingExtra

__all__ = ["validate"]


def validate(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The SDK's verdict on an image's active manifest.

    Returns:
        ``state`` (``Valid``, ``Trusted`` or ``Invalid``), ``codes`` (each failed check's
        code and explanation), ``signer`` and ``signed_at`` (from the signature), and
        ``claim_generator`` as the SDK reads it; ``state`` is ``none`` when the file
        carries no manifest.

    Raises:
        MissingExtra: c2pa-python is not installed.
    """
    try:
        import c2pa
    except ImportError:
        raise MissingExtra("c2pa", "c2pa-python") from None
    try:
        reader = c2pa.Reader(os.fspath(path))
        doc = json.loads(reader.json())
    except Exception as exc:  # the SDK raises its own error types for "no manifest" and damage alike
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return {"state": "none", "codes": [], "error": text[:200]}
    active = (doc.get("manifests") or {}).get(doc.get("active_manifest") or "", {})
    sig = active.get("signature_info") or {}
    gen = active.get("claim_generator_info") or []
    codes = [
        {"code": s.get("code"), "explanation": s.get("explanation")} for s in doc.get("validation_status") or []
    ]
    return {
        "state": doc.get("validation_state") or ("Invalid" if codes else "Valid"),
        "codes": codes,
        "signer": sig.get("issuer") or sig.get("common_name"),
        "signed_at": sig.get("time"),
        "claim_generator": (gen[0].get("name") if gen and isinstance(gen[0], dict) else active.get("claim_generator")),
    }
