"""``api drift``: send a logged request again and say what moved, ranked as causes.

A hosted model rolled forward is the most frequent reason a "same seed" call gives another
image, so a changed version string ranks first; then a seed the provider drew differently;
then the pixels themselves (bit-identical, visually indistinguishable or different, by the
same verdict ``diff`` gives). The old exchange is found from its sidecar, or from an image's
embedded record, which names its sidecar.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from seedlock.diff.rules import Moved, ranked
from seedlock.errors import ImageFormatError, RecordFormatError
from seedlock.providers.exchange import Exchange
from seedlock.providers.lint import CapturedRequest
from seedlock.providers.model import PROVIDERS
from seedlock.providers.run import RunOptions, RunResult, run_request

__all__ = ["DriftReport", "drift", "load_exchange"]


@dataclass(frozen=True)
class DriftReport:
    provider: str
    old_sidecar: str
    new_sidecar: str
    new_images: tuple[str, ...]
    #: per output: bit-identical / visually indistinguishable / different
    pixels: tuple[str, ...]
    causes: tuple[Moved, ...] = field(default=())

    @property
    def changed(self) -> bool:
        return bool(self.causes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "changed": self.changed,
            "old": self.old_sidecar,
            "new": self.new_sidecar,
            "new_images": list(self.new_images),
            "pixels": list(self.pixels),
            "causes": [c.to_dict() for c in self.causes],
        }


def load_exchange(path: str | os.PathLike[str]) -> tuple[Exchange, Path]:
    """The logged exchange behind a sidecar JSON or an image ``api run`` saved, and the sidecar's path.

    Raises:
        RecordFormatError: not a sidecar, or an image whose record names none.
    """
    p = Path(path)
    head = p.read_bytes()[:16]
    if head[:1] in (b"{", b" ", b"\n"):
        sidecar = p
    else:
        from seedlock.readers.load import load_record

        try:
            rec, _ = load_record(p)
        except ImageFormatError:
            raise
        hosted = rec.extra.get("hosted") if isinstance(rec.extra, dict) else None
        name = hosted.get("exchange") if isinstance(hosted, dict) else None
        if not isinstance(name, str):
            raise RecordFormatError("the image's record names no logged exchange (was it made by api run?)", path=p)
        sidecar = p.parent / Path(name).name
        if not sidecar.is_file():
            raise RecordFormatError(f"its logged exchange {sidecar.name} is not beside it", path=p)
    try:
        doc = json.loads(sidecar.read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or "seedlock_exchange" not in doc:
            raise ValueError("no seedlock_exchange key")
        return Exchange.from_dict(doc), sidecar
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise RecordFormatError(f"not a logged exchange ({exc})", path=sidecar) from None


def drift(
    logged: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    options: RunOptions | None = None,
) -> DriftReport:
    """Re-run a logged request and rank what changed: version string, echoed seed, pixels."""
    old, sidecar = load_exchange(logged)
    provider = PROVIDERS.get(old.provider)
    if provider is None:
        raise RecordFormatError(f"unknown provider {old.provider!r}", path=sidecar)
    r = old.request
    req = CapturedRequest(
        str(r.get("method") or "POST"), str(r.get("url") or ""), dict(r.get("headers") or {}), dict(r.get("body") or {})
    )
    # the same call as logged: its endpoint unless another is given, and the consent it was sent with
    given = options or RunOptions()
    opts = replace(
        given, endpoint=given.endpoint or old.endpoint, allow_unpinned=given.allow_unpinned or old.allowed_unpinned
    )
    dest = Path(out_dir) if out_dir is not None else sidecar.parent
    # run_request numbers the stem when an earlier drift run took it
    stem = sidecar.name.removesuffix(".exchange.json") + "-drift"
    new: RunResult = run_request(req, provider, dest, stem=stem, options=opts)
    return _compare(old, sidecar, new)


def _compare(old: Exchange, sidecar: Path, new: RunResult) -> DriftReport:
    causes: list[Moved] = []
    if old.version != new.exchange.version:
        if old.version is None or new.exchange.version is None:
            msg = "the provider's version string is known on one side only"
        else:
            msg = "the hosted model version differs: the provider rolled the model"
        causes.append(Moved(0, "version", msg, old.version, new.exchange.version))
    if old.seeds != new.exchange.seeds:
        causes.append(
            Moved(0, "seed", "the seed the provider used differs", list(old.seeds), list(new.exchange.seeds))
        )
    verdicts: list[str] = []
    for i, o in enumerate(old.outputs):
        if i >= len(new.images):
            verdicts.append("missing")
            continue
        n = new.exchange.outputs[i]
        before = sidecar.parent / o.file
        if o.pixel_sha256 == n.pixel_sha256:
            verdicts.append("bit-identical")
            continue
        if before.is_file():
            from seedlock.diff.pixels import compare_images

            verdicts.append(compare_images(before, new.images[i]).verdict)
        else:
            verdicts.append("different")
    if len(new.images) != len(old.outputs):
        causes.append(Moved(0, "outputs", "the number of outputs differs", len(old.outputs), len(new.images)))
    moved = [v for v in verdicts if v != "bit-identical"]
    if moved:
        worst = "different" if "different" in moved or "missing" in moved else "visually indistinguishable"
        msg = f"pixels {worst}" + (
            " with the same version and seed: the provider does not run deterministically" if not causes else ""
        )
        causes.append(
            Moved(
                0, "pixels", msg, [o.pixel_sha256 for o in old.outputs], [o.pixel_sha256 for o in new.exchange.outputs]
            )
        )
    prompts_old = [o.prompt_used for o in old.outputs]
    prompts_new = [o.prompt_used for o in new.exchange.outputs]
    if prompts_old != prompts_new and any(prompts_new):
        causes.insert(
            min(len(causes), 2),
            Moved(
                0, "prompt", "the prompt the provider says it used differs (a rewrite)", prompts_old, prompts_new
            ),
        )
    return DriftReport(
        old.provider, str(sidecar), str(new.sidecar), tuple(str(p) for p in new.images), tuple(verdicts), ranked(causes)
    )
