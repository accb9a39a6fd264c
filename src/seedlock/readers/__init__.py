"""Readers: RawMetadata -> GenerationRecord, one module per generator, tried in order.

The order in :data:`READERS` is the priority: unique keys first (a Stability Matrix or
TensorArt file also holds a ComfyUI graph and A1111-like text), then JSON dialects in
``parameters``, then ComfyUI graphs, then A1111 infotext, which many tools imitate.
Third-party readers register under the ``seedlock.readers`` entry-point group and are
tried after the built-in ones.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from seedlock.errors import InternalError, ReaderError, SeedlockError, UnrecognizedMetadata
from seedlock.extract import RawMetadata, extract
from seedlock.readers._base import Reader
from seedlock.readers.a1111 import A1111Reader, PaddleReader
from seedlock.readers.civitai import CivitaiReader
from seedlock.readers.comfyui import ComfyUIReader
from seedlock.readers.drawthings import DrawThingsReader
from seedlock.readers.easydiffusion import EasyDiffusionReader
from seedlock.readers.fooocus import FooocusReader, RuinedFooocusReader
from seedlock.readers.hf_space import HFSpaceReader
from seedlock.readers.hosted import IdeogramReader, MidjourneyReader
from seedlock.readers.invokeai import InvokeAIReader
from seedlock.readers.load import load_record
from seedlock.readers.novelai import NovelAIReader
from seedlock.readers.seedlock_format import SeedlockReader
from seedlock.readers.stability_matrix import StabilityMatrixReader
from seedlock.readers.swarmui import SwarmUIReader
from seedlock.readers.tensorart import TensorArtReader
from seedlock.record import GenerationRecord, Generator

__all__ = ["READERS", "Explained", "Reader", "explain", "load_record", "parse_raw", "read"]

READERS: tuple[Reader, ...] = (
    SeedlockReader(),
    InvokeAIReader(),
    TensorArtReader(),
    StabilityMatrixReader(),
    SwarmUIReader(),
    FooocusReader(),
    RuinedFooocusReader(),
    EasyDiffusionReader(),
    NovelAIReader(),
    DrawThingsReader(),
    HFSpaceReader(),
    CivitaiReader(),
    MidjourneyReader(),
    IdeogramReader(),
    PaddleReader(),
    ComfyUIReader(),
    A1111Reader(),
)

#: keys that editors, converters and cameras write; alone they are no generation record
_GENERIC_PREFIXES = ("date:", "filename:", "exif:", "xmp:", "icc:", "png:", "Raw profile", "tiff:")
_GENERIC_KEYS = {
    "Comment",
    "Software",
    "Title",
    "Author",
    "Copyright",
    "Creation Time",
    "Description",
    "Disclaimer",
    "Warning",
    "Source",
    "XMP",
    "Exif.Make",
    "Exif.Model",
    "Exif.Software",
    "Exif.Artist",
    "Exif.ImageDescription",
    "JPEG.COM",
    "Exif.MakerNote",
    "Exif.UserComment",
    "signature",
    "create-date",
    "modify-date",
    "Generation time",
}

_plugins: tuple[Reader, ...] | None = None


def _plugin_readers() -> tuple[Reader, ...]:
    """Readers registered under the ``seedlock.readers`` entry-point group.

    Loaded once, and only when no built-in reader took a file: scanning the installed
    distributions costs more than reading a whole folder of ordinary images.
    """
    global _plugins
    if _plugins is None:
        import logging
        from importlib.metadata import entry_points

        found: list[Reader] = []
        try:
            for ep in entry_points(group="seedlock.readers"):
                try:
                    found.append(ep.load()())
                except Exception as exc:  # a broken plugin must not break reading
                    logging.getLogger(__name__).warning("reader plugin %s failed to load: %s", ep.name, exc)
        except Exception:  # pragma: no cover - metadata backends vary
            found = []
        _plugins = tuple(found)
    return _plugins


def _carried(reader: Reader, keys: frozenset[str]) -> bool:
    carriers = getattr(reader, "carriers", None)
    return carriers is None or not keys.isdisjoint(carriers)


_by_keys: dict[frozenset[str], tuple[Reader, ...]] = {}


def _candidates(keys: frozenset[str]) -> tuple[Reader, ...]:
    """The built-in readers whose ``carriers`` meet these field names, in priority order.

    Folders hold few distinct key sets, so the answer is kept per set.
    """
    found = _by_keys.get(keys)
    if found is None:
        found = tuple(r for r in READERS if _carried(r, keys))
        if len(_by_keys) < 4096:
            _by_keys[keys] = found
    return found


def _tried(keys: frozenset[str]) -> Iterator[Reader]:
    """Built-in candidates, then plugins (a plugin without ``carriers`` is always tried)."""
    yield from _candidates(keys)
    for reader in _plugin_readers():
        if _carried(reader, keys):
            yield reader


def _is_generic(raw: RawMetadata) -> bool:
    return all(k.split("#")[0] in _GENERIC_KEYS or k.startswith(_GENERIC_PREFIXES) for k in raw.fields)


def parse_raw(raw: RawMetadata, *, path: str | None = None) -> GenerationRecord:
    """Turn container fields into a record, trying each reader in priority order.

    Raises:
        UnrecognizedMetadata: a reader accepted the metadata but every parse failed.
    """
    provenance = raw.c2pa.to_dict() if raw.c2pa else None
    attempts: list[ReaderError] = []
    for reader in _tried(frozenset(raw.fields)):
        try:
            if not reader.accept(raw):
                continue
            rec = reader.parse(raw)
        except ReaderError as exc:
            exc.path = path
            attempts.append(exc)
            continue
        except (ValueError, RecursionError) as exc:
            # bad values in the input (int("abc"), nesting past the stack): this reader's failure
            attempts.append(ReaderError(f"{type(exc).__name__}: {exc}", reader=reader.name, path=path))
            continue
        except (TypeError, KeyError, AttributeError, IndexError) as exc:
            # a reader that trips over its own assumptions is a bug, never "unrecognised metadata"
            raise InternalError(
                f"internal error in the {reader.name} reader ({type(exc).__name__}: {exc})",
                path=path,
                component=f"readers.{reader.name}",
            ) from exc
        if raw.warnings or raw.stealth_kind or provenance:
            warnings = tuple(raw.warnings) + tuple(rec.warnings)
            if raw.stealth_kind and set(raw.fields) == {"Stealth"}:
                warnings += (f"read from pixel LSBs ({raw.stealth_kind}); no text chunk carried it",)
            elif raw.stealth_kind:
                warnings += (f"pixel LSBs also carry a record ({raw.stealth_kind})",)
            rec = rec.replace(provenance=provenance, warnings=warnings)
        return rec
    if attempts:
        raise UnrecognizedMetadata(
            "; ".join(f"{a.reader}: {a.message}" for a in attempts), attempts=attempts, path=path
        )
    if not raw.fields or _is_generic(raw):
        gen = Generator.C2PA if raw.c2pa else Generator.NONE
        name = raw.c2pa.claim_generator if raw.c2pa else None
        return GenerationRecord(
            generator=gen,
            generator_name=name,
            provenance=provenance,
            raw=dict(raw.fields),
            width=None,
            height=None,
            warnings=tuple(raw.warnings),
        )
    return GenerationRecord(
        generator=Generator.UNKNOWN,
        provenance=provenance,
        raw=dict(raw.fields),
        extra={k: v for k, v in raw.fields.items()},
        warnings=tuple(raw.warnings),
    )


def read(path: str | os.PathLike[str], *, stealth: str = "auto", check_c2pa: bool = False) -> GenerationRecord:
    """Read the generation record embedded in an image file.

    Args:
        path: a PNG, JPEG or WebP file.
        stealth: ``auto`` (scan pixel LSBs only when nothing else is found), ``always`` or ``never``.
        check_c2pa: validate a C2PA manifest's signature with the official SDK (the ``c2pa``
            extra); the verdict goes into ``provenance["validation"]``.

    Returns:
        The record; ``generator`` is ``none`` when the file carries no generation metadata.

    Raises:
        ImageFormatError: not an image we can walk, or a damaged one.
        UnrecognizedMetadata: metadata that looks like a known tool's but does not parse.
    """
    spath = os.fspath(path)
    raw = extract(spath, stealth=stealth)
    try:
        rec = parse_raw(raw, path=spath)
    except SeedlockError as exc:
        exc.path = exc.path or spath
        raise
    if check_c2pa and rec.provenance:
        from seedlock.extract.c2pa_check import validate

        rec = rec.replace(provenance={**rec.provenance, "validation": validate(spath)})
    return rec


@dataclass(frozen=True)
class Explained:
    """A record, and for each field the place in the source that gave it."""

    record: GenerationRecord
    #: field -> source, e.g. ``seed`` -> ``node 3 (KSampler)``; empty for formats without a graph
    sources: dict[str, str]


def explain(path: str | os.PathLike[str], *, stealth: str = "auto") -> Explained:
    """Read ``path`` and say where each field came from (for ComfyUI graphs: which node).

    Raises:
        ImageFormatError, UnrecognizedMetadata: as :func:`read`.
    """
    from seedlock.readers import comfyui

    spath = os.fspath(path)
    raw = extract(spath, stealth=stealth)
    rec = parse_raw(raw, path=spath)
    sources: dict[str, str] = {}
    if rec.generator is Generator.COMFYUI and (comfyui.find_graph(raw) or "workflow" in raw.fields):
        try:
            sources = comfyui.explain(raw)
        except ReaderError:
            sources = {}
    return Explained(rec, sources)
