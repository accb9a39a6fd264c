"""Every real sample image parses to the right generator with the right fields.

``expected_records.json`` was written after reading each file's raw metadata (see
``seedlock read --raw``) and checking the values by hand; ``../shared/fixtures/expected.json``
is an independent ground truth scored by the shared tool.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from seedlock.readers import read

from .conftest import FIXTURES, needs_fixtures

HERE = Path(__file__).parent
EXPECTED = json.loads((HERE / "expected_records.json").read_text(encoding="utf-8"))


def _facts(path: Path) -> dict[str, object]:
    r = read(path)
    return {
        "generator": r.generator.value,
        "generator_name": r.generator_name,
        "generator_version": r.generator_version,
        "seed": r.seed,
        "steps": r.steps,
        "cfg_scale": r.cfg_scale,
        "sampler": r.sampler,
        "scheduler": r.scheduler,
        "canonical": [r.canonical_sampler, r.canonical_scheduler],
        "size": [r.width, r.height],
        "final_size": [r.final_width, r.final_height],
        "model": r.model.name if r.model else None,
        "model_hashes": dict(r.model.hashes) if r.model else {},
        "prompt_start": (r.prompt or "")[:40] if r.prompt is not None else None,
        "negative_start": (r.negative_prompt or "")[:40] if r.negative_prompt is not None else None,
        "clip_skip": r.clip_skip,
        "passes": [[p.kind, p.seed, p.steps, p.canonical_sampler, p.width, p.height, p.denoise] for p in r.passes],
        "adapters": sorted([a.kind, a.name, a.weight] for a in r.adapters),
        "postprocessing": sorted(p.kind for p in r.postprocessing),
    }


@needs_fixtures
@pytest.mark.parametrize("rel", sorted(k for k, v in EXPECTED.items() if "error" not in v))
def test_fixture_record(rel: str, images: Path) -> None:
    assert _facts(images / rel) == EXPECTED[rel]


@needs_fixtures
def test_every_fixture_is_covered(images: Path) -> None:
    on_disk = {str(p.relative_to(images)) for p in images.rglob("*") if p.is_file()}
    assert on_disk == set(EXPECTED), "a fixture was added or removed: review expected_records.json"


@needs_fixtures
def test_shared_ground_truth_scores_full_marks(images: Path) -> None:
    """The CLI's --jsonl output, scored by the shared scorer, gets every generator and field right."""
    assert FIXTURES is not None
    out = subprocess.run(
        [sys.executable, "-m", "seedlock", "read", "-r", "--jsonl", str(images)], capture_output=True, text=True
    )
    assert out.returncode == 2  # the 0-byte file is an error, reported on stderr
    assert "empty_file.png: empty file" in out.stderr
    score = subprocess.run(
        [
            sys.executable,
            str(FIXTURES.parent / "tools" / "score_read.py"),
            str(FIXTURES / "expected.json"),
            str(images),
            "--min-gen",
            "1.0",
            "--min-fields",
            "1.0",
            "--verbose",
        ],
        input=out.stdout,
        capture_output=True,
        text=True,
    )
    assert score.returncode == 0, score.stdout


@needs_fixtures
def test_specific_facts(images: Path) -> None:
    # SwarmUI's 0x hash is the tensor-data hash (AutoV3), not the file sha256
    swarm = read(images / "sd-metadata/jpg/swarmui.jpg")
    assert swarm.model is not None and swarm.model.hashes["autov3"].startswith("22d8cb95b807")
    # Fooocus keeps the seed as a string and the style-expanded prompt separately
    fooocus = read(images / "sd-parsers/parsers/Fooocus/fooocus1_cropped.png")
    assert fooocus.seed == 6952411511246973023 and fooocus.seed_type == "str"
    assert fooocus.encoded_prompt and fooocus.encoded_prompt.startswith("cinematic still a smiling goldfish")
    # TensorArt's JSON says seed -1; the graph holds the real seed
    assert read(images / "sd-metadata/png/tensorart.png").seed == 3036459311
    # stealth alpha: the only copy of the infotext
    stealth = read(images / "sd-parsers/parsers/AUTOMATIC1111/automatic1111_stealth.png")
    assert stealth.prompt == "a circle" and any("LSB" in w for w in stealth.warnings)
    # C2PA: provenance, no generation parameters
    c2pa = read(images / "sd-metadata/c2pa/png/chatgpt-image2.png")
    assert c2pa.generator.value == "c2pa" and c2pa.provenance is not None
    assert c2pa.provenance["claim_generator"] == "OpenAI Media Service API"
    assert c2pa.provenance["software_agent"] == "gpt-image"
    # zTXt after IDAT is found
    assert read(images / "sd-parsers/bad_images/text_after_idat.png").seed == 235284042
    # prompts kept byte-exact, trailing newline included
    webui = read(images / "sd-metadata/png/sd-webui.png")
    assert webui.prompt == "general, masterpiece, best quality, amazing quality, \n1girl, solo, hatsune miku, テスト\n"
    assert webui.negative_prompt == "bad quality, worst quality, worst detail, sketch, censor, \n"
    # SDXL refiner: second pass adds no noise and uses the refiner checkpoint
    sdxl = read(images / "comfyui-examples/sdxl/sdxl_simple_example.png")
    assert sdxl.passes[1].add_noise is False and sdxl.passes[1].model == "sd_xl_refiner_1.0.safetensors"
    # legacy A1111 combined label splits into sampler + schedule
    sd4 = read(images / "prompt-extractor/SD4.png")
    assert (sd4.canonical_sampler, sd4.canonical_scheduler) == ("dpmpp_2m", "karras")


@needs_fixtures
@pytest.mark.parametrize(
    "rel",
    [
        "sd-metadata/png/gimp.png",
        "sd-metadata/png/empty.png",
        "sd-parsers/bad_images/empty_image.png",
        "sd-parsers/bad_images/empty_image.jpg",
    ],
)
def test_negative_controls_have_no_metadata(rel: str, images: Path) -> None:
    rec = read(images / rel)
    assert rec.generator.value == "none"
    assert rec.fingerprint  # still computable, but to_dict reports none
    assert rec.to_dict()["fingerprint"] is None


@needs_fixtures
def test_cli_exit_codes(images: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "seedlock", "read", *args], capture_output=True, text=True)

    assert run(str(images / "sd-metadata/png/sd-webui.png")).returncode == 0
    assert run(str(images / "sd-metadata/png/gimp.png")).returncode == 1
    bad = run(str(images / "sd-parsers/bad_images/empty_file.png"), str(images / "sd-metadata/png/forge.png"))
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    assert "forge.png: a1111 (Forge" in bad.stdout  # the batch went on
    one = json.loads(run("--json", str(images / "sd-metadata/png/sd-webui.png")).stdout)
    for key in (
        "path",
        "generator",
        "generator_version",
        "prompt",
        "negative_prompt",
        "seed",
        "steps",
        "cfg_scale",
        "sampler",
        "scheduler",
        "width",
        "height",
        "model",
        "adapters",
        "passes",
        "fingerprint",
        "error",
    ):
        assert key in one
    assert one["model"]["name"] == "waiIllustriousSDXL_v160" and "hashes" in one["model"]


@needs_fixtures
def test_reader_prefilter_changes_no_answer(images: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Skipping readers by field names picks exactly the reader the full list picks."""
    import seedlock.readers as readers
    from seedlock.errors import SeedlockError
    from seedlock.extract import extract

    def outcome(path: Path) -> str:
        try:
            return repr(readers.parse_raw(extract(path), path=str(path)).to_dict())
        except SeedlockError as exc:
            return f"error: {exc}"

    files = sorted(p for p in images.rglob("*") if p.is_file())
    fast = [outcome(p) for p in files]
    monkeypatch.setattr(readers, "_candidates", lambda keys: readers.READERS)
    assert [outcome(p) for p in files] == fast


def test_every_builtin_reader_names_its_carriers() -> None:
    from seedlock.readers import READERS

    for reader in READERS:
        carriers = getattr(reader, "carriers", None)
        assert isinstance(carriers, frozenset) and carriers, reader.name


@needs_fixtures
def test_no_reader_accepts_without_one_of_its_carriers(images: Path) -> None:
    """The prefilter is sound: accept() is never true on a file lacking all of ``carriers``.

    Checked on every fixture as found, and on each of its fields alone (a graph in
    ``prompt`` without ``workflow``, infotext in a UserComment only, ...).
    """
    from seedlock.errors import SeedlockError
    from seedlock.extract import RawMetadata, extract
    from seedlock.readers import READERS

    raws: list[RawMetadata] = []
    for p in sorted(p for p in images.rglob("*") if p.is_file()):
        try:
            raw = extract(p)
        except SeedlockError:
            continue
        raws.append(raw)
        raws.extend(RawMetadata(format=raw.format, fields={k: v}) for k, v in raw.fields.items())
    checked = 0
    for raw in raws:
        for reader in READERS:
            if reader.accept(raw):
                checked += 1
                assert not reader.carriers.isdisjoint(raw.fields), (reader.name, sorted(raw.fields))  # type: ignore[attr-defined]
    assert checked > 50


def test_plugin_readers_load_only_when_no_builtin_reader_takes_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    import seedlock.readers as readers
    from seedlock.extract import RawMetadata
    from seedlock.record import GenerationRecord, Generator

    class MyToolReader:
        name = "mytool"

        def accept(self, raw: RawMetadata) -> bool:
            return "MyTool" in raw.fields

        def parse(self, raw: RawMetadata) -> GenerationRecord:
            return GenerationRecord(
                generator=Generator.UNKNOWN, generator_name="MyTool", seed=int(raw.fields["MyTool"])
            )

    class EntryPoint:
        def __init__(self, name: str, target: object) -> None:
            self.name, self._target = name, target

        def load(self) -> object:
            if isinstance(self._target, Exception):
                raise self._target
            return self._target

    lookups: list[str] = []

    def entry_points(*, group: str) -> list[EntryPoint]:
        lookups.append(group)
        return [EntryPoint("broken", ImportError("no module")), EntryPoint("mytool", MyToolReader)]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    monkeypatch.setattr(readers, "_plugins", None)
    a1111 = RawMetadata(format="png")
    a1111.add("parameters", "a cat\nSteps: 20, Sampler: Euler, Seed: 7, Size: 512x512", "png:tEXt")
    assert readers.parse_raw(a1111).seed == 7
    assert lookups == []  # a built-in reader took it: no distribution scan
    mine = RawMetadata(format="png")
    mine.add("MyTool", "42", "png:tEXt")
    rec = readers.parse_raw(mine)
    assert (rec.generator_name, rec.seed) == ("MyTool", 42)
    assert lookups == ["seedlock.readers"]  # once, and the broken plugin is skipped
    readers.parse_raw(mine)
    assert lookups == ["seedlock.readers"]
