"""Fuzzing the reader: every input gives a record or a SeedlockError, never anything else.

Mutation fuzzing over real sample files (small ones) and synthetic PNG/JPEG/WebP files:
bit flips, byte runs, truncation, chunk-length and CRC damage. The default case count
keeps the suite fast; SEEDLOCK_FUZZ_CASES=100000 is the full run (see docs/testing.md).
"""

from __future__ import annotations

import io
import os
import random
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from seedlock.errors import InternalError, SeedlockError
from seedlock.extract import RawMetadata
from seedlock.readers import parse_raw, read

from .conftest import FIXTURES

CASES = int(os.environ.get("SEEDLOCK_FUZZ_CASES", "3000"))


def _synthetic() -> list[bytes]:
    out = []
    infotext = 'a cat, “x”\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 8x8, Lora hashes: "a: 0123456789ab"'
    graph = '{"3":{"class_type":"KSampler","inputs":{"seed":1,"steps":2,"cfg":3,"sampler_name":"euler","scheduler":"normal","model":["4",0],"positive":["6",0],"negative":["6",0],"latent_image":["5",0]}},"4":{"class_type":"CheckpointLoaderSimple","inputs":{"ckpt_name":"m"}},"5":{"class_type":"EmptyLatentImage","inputs":{"width":8,"height":8,"batch_size":1}},"6":{"class_type":"CLIPTextEncode","inputs":{"text":"t","clip":["4",1]}}}'
    from PIL.PngImagePlugin import PngInfo

    for key, value in (("parameters", infotext), ("prompt", graph)):
        info = PngInfo()
        info.add_text(key, value, zip=key == "prompt")
        buf = io.BytesIO()
        Image.new("RGBA", (4, 4)).save(buf, "PNG", pnginfo=info)
        out.append(buf.getvalue())
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + infotext.encode("utf-16-be")
    for fmt in ("JPEG", "WEBP"):
        buf = io.BytesIO()
        Image.new("RGB", (4, 4)).save(buf, fmt, exif=exif)
        out.append(buf.getvalue())
    return out


def _seeds() -> list[bytes]:
    seeds = _synthetic()
    if FIXTURES is not None:
        for p in sorted((FIXTURES / "images").rglob("*")):
            if p.is_file() and 0 < p.stat().st_size < 64 * 1024:
                seeds.append(p.read_bytes())
    return seeds


def _mutate(data: bytes, r: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(r.randint(1, 4)):
        op = r.randrange(6)
        if not b:
            break
        i = r.randrange(len(b))
        if op == 0:
            b[i] ^= 1 << r.randrange(8)
        elif op == 1:
            b[i : i + r.randint(1, 8)] = bytes(r.randrange(256) for _ in range(r.randint(1, 8)))
        elif op == 2:
            del b[r.randrange(len(b)) :]
        elif op == 3 and len(b) > 16:
            j = r.randrange(8, len(b) - 4)
            b[j : j + 4] = struct.pack(">I", r.choice([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, len(b), r.randrange(2**32)]))
        elif op == 4:
            b[i:i] = bytes([r.choice([0x00, 0xFF, 0x7B, 0x5B, 0x22])]) * r.randint(1, 64)
        else:
            j = r.randrange(len(b))
            b[i], b[j] = b[j], b[i]
    return bytes(b)


def read_cleanly(target: Path, data: bytes) -> str:
    """One fuzz case: "record" or "error" (a clean one-line SeedlockError); a bug fails the test."""
    target.write_bytes(data)
    try:
        rec = read(target, stealth="never" if len(data) > 200_000 else "auto")
        rec.to_dict()
        return "record"
    except InternalError as exc:
        raise AssertionError(f"internal error on a fuzz case: {exc}") from exc
    except SeedlockError as exc:
        assert str(exc) and "\n" not in str(exc)
        return "error"


def run_mutation_fuzz(tmp_path: Path, cases: int, seeds: list[bytes]) -> dict[str, int]:
    r = random.Random(20261125)
    target = tmp_path / "fuzz.png"
    outcomes = {"record": 0, "error": 0}
    for _ in range(cases):
        outcomes[read_cleanly(target, _mutate(r.choice(seeds), r))] += 1
    return outcomes


def test_mutation_fuzz(tmp_path: Path) -> None:
    outcomes = run_mutation_fuzz(tmp_path, CASES, _seeds())
    assert outcomes["record"] and outcomes["error"]


def test_fuzz_harness_catches_a_reader_bug(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader that trips over its own code (len(None)) must fail the fuzz run, not pass as bad input."""
    from seedlock.readers.a1111 import A1111Reader

    def broken(self: A1111Reader, raw: RawMetadata) -> object:
        return len(None)  # type: ignore[arg-type]

    monkeypatch.setattr(A1111Reader, "parse", broken)
    with pytest.raises(AssertionError, match="internal error in the a1111 reader"):
        run_mutation_fuzz(tmp_path, 200, _synthetic())


def test_internal_error_is_one_line_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Users still get one clear line and a non-zero exit for a bug."""
    from click.testing import CliRunner

    from seedlock.cli import cli
    from seedlock.readers.a1111 import A1111Reader

    monkeypatch.setattr(A1111Reader, "parse", lambda self, raw: {}["missing"])
    target = tmp_path / "a.png"
    target.write_bytes(_synthetic()[0])
    result = CliRunner().invoke(cli, ["read", str(target)])
    assert result.exit_code == 2
    assert "internal error in the a1111 reader" in result.stderr and "Traceback" not in result.stderr


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "parameters",
                "prompt",
                "Comment",
                "Software",
                "invokeai_metadata",
                "Dream",
                "sd-metadata",
                "generation_data",
                "Exif.UserComment",
                "workflow",
                "seedlock",
            ]
        ),
        st.one_of(
            st.text(max_size=300),
            st.sampled_from(
                [
                    "{}",
                    "[]",
                    '{"a":[1,{"b":null}]}',
                    "Steps: x, Sampler: y, Seed: z",
                    '{"3":{"class_type":"KSampler","inputs":{"seed":["3",0]}}}',
                    "NovelAI",
                    '{"uc": 1, "seed": "x"}',
                    '"unterminated',
                ]
            ),
        ),
        max_size=4,
    )
)
def test_any_text_fields_parse_or_fail_cleanly(fields: dict[str, str]) -> None:
    raw = RawMetadata(format="png", fields=dict(fields))
    try:
        parse_raw(raw).to_dict()
    except InternalError:
        raise
    except SeedlockError:
        pass


def test_zlib_bomb_in_every_container_path(tmp_path: Path) -> None:
    bomb = zlib.compress(b"x" * (64 * 1024 * 1024), 9)
    itxt = b"parameters\x00\x01\x00\x00\x00" + bomb
    buf = io.BytesIO()
    Image.new("RGB", (2, 2)).save(buf, "PNG")
    data = buf.getvalue()
    i = data.index(b"IDAT") - 4
    chunk = struct.pack(">I", len(itxt)) + b"iTXt" + itxt + struct.pack(">I", zlib.crc32(b"iTXt" + itxt))
    p = tmp_path / "b.png"
    p.write_bytes(data[:i] + chunk + data[i:])
    rec = read(p)
    assert any("inflates beyond" in w and "skipped" in w for w in rec.warnings), "bomb was inflated"
