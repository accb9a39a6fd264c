"""Midjourney and Ideogram files, written here in the layouts the providers use (hosted-providers.md §8, §10)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from PIL.PngImagePlugin import PngInfo

import seedlock
from seedlock.cli import cli
from seedlock.diff.compare import compare
from seedlock.readers import read

XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
    'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/>'
    "</rdf:RDF></x:xmpmeta>"
)


def midjourney_png(path: Path, description: str) -> Path:
    info = PngInfo()
    info.add_text("Description", description)
    info.add_text("Author", "lighthouse_keeper")
    info.add_text("Creation Time", "2026:01:02 03:04:05")
    info.add_itxt("XML:com.adobe.xmp", XMP)
    Image.new("RGB", (8, 4), (10, 20, 30)).save(path, pnginfo=info)
    return path


def test_midjourney_description_reads_prompt_version_seed_and_job(tmp_path: Path) -> None:
    p = midjourney_png(
        tmp_path / "mj.png",
        "a lighthouse at dusk, volumetric light --ar 2:1 --stylize 80 --v 6.1 --seed 1234 --no text, watermark "
        "Job ID: a7421d2f-b262-44f9-977c-ac23e9c7d3e3",
    )
    rec = read(p)
    assert rec.generator.value == "midjourney" and rec.generator_name == "Midjourney"
    assert rec.prompt == "a lighthouse at dusk, volumetric light" and rec.negative_prompt == "text, watermark"
    assert rec.seed == 1234 and rec.model is not None and rec.model.version == "6.1"
    assert rec.extra["job_id"] == "a7421d2f-b262-44f9-977c-ac23e9c7d3e3" and rec.extra["aspect"] == "2:1"
    assert rec.extra["author"] == "lighthouse_keeper" and rec.extra["digital_source_type"] == "trainedAlgorithmicMedia"
    assert rec.precision["stylize"] == "80"


def test_midjourney_without_v_says_the_version_is_unknown(tmp_path: Path) -> None:
    rec = read(midjourney_png(tmp_path / "mj.png", "example --ar 2:1 Job ID: a7421d2f-b262-44f9-977c-ac23e9c7d3e3"))
    assert rec.generator.value == "midjourney" and rec.model is not None and rec.model.version is None
    assert any("default version" in w for w in rec.warnings)


def test_a_midjourney_version_change_is_the_first_cause(tmp_path: Path) -> None:
    a = midjourney_png(tmp_path / "a.png", "a fox --v 6 --seed 7 Job ID: 11111111-2222-3333-4444-555555555555")
    b = midjourney_png(tmp_path / "b.png", "a fox --v 7 --seed 7 Job ID: 66666666-2222-3333-4444-555555555555")
    causes = compare(a, b, pixels=False).causes
    assert causes and causes[0].field == "model.version"


def test_ideogram_exif_make_names_the_provider(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010F] = "Ideogram AI"
    p = tmp_path / "i.jpg"
    Image.new("RGB", (8, 8), (200, 10, 10)).save(p, exif=exif)
    rec = read(p)
    assert rec.generator.value == "ideogram" and rec.seed is None
    assert any("no seed" in w for w in rec.warnings)


CHATGPT = "sd-metadata/c2pa/png/chatgpt-image2.png"


def test_c2pa_fixture_reads_to_its_provider_and_agent(images: Path) -> None:
    rec = seedlock.read(images / CHATGPT)
    assert rec.generator.value == "c2pa"
    assert rec.provenance is not None
    assert rec.provenance["claim_generator"] == "OpenAI Media Service API"
    assert rec.provenance["software_agent"] == "gpt-image"
    assert rec.provenance["digital_source_type"].endswith("trainedAlgorithmicMedia")


def test_c2pa_signature_checked_by_the_official_sdk(images: Path, tmp_path: Path) -> None:
    pytest.importorskip("c2pa", reason="the c2pa extra (c2pa-python) is not installed")
    rec = seedlock.read(images / CHATGPT, check_c2pa=True)
    check = rec.provenance["validation"]  # type: ignore[index]
    assert check["signer"] == "OpenAI OpCo, LLC"
    assert check["claim_generator"] == "OpenAI Media Service API"
    assert "assertion.dataHash.mismatch" not in {c["code"] for c in check["codes"]}
    # one flipped pixel byte breaks the hard binding, and the SDK says so
    data = bytearray((images / CHATGPT).read_bytes())
    data[data.find(b"IDAT") + 40] ^= 0xFF
    bad = tmp_path / "tampered.png"
    bad.write_bytes(bytes(data))
    check = seedlock.read(bad, check_c2pa=True).provenance["validation"]  # type: ignore[index]
    assert check["state"] == "Invalid"
    assert "assertion.dataHash.mismatch" in {c["code"] for c in check["codes"]}
    out = CliRunner().invoke(cli, ["read", "--check-c2pa", str(bad)])
    assert "C2PA signature: Invalid, signed by OpenAI OpCo, LLC" in out.stdout
