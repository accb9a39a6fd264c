"""The compiled read path (hatch_build.py) is the same source as the pure one."""

from __future__ import annotations

import importlib
from pathlib import Path

from click.testing import CliRunner

from seedlock._compiled import READ_PATH, build_label, compiled_modules
from seedlock.cli import cli

SRC = Path(__file__).resolve().parent.parent / "src"


def test_read_path_is_compiled_whole_or_not_at_all() -> None:
    """A build that compiled some modules and not others is broken, not faster."""
    assert len(compiled_modules()) in (0, len(READ_PATH))
    assert build_label() in ("compiled read path", "pure Python")


def test_every_compiled_module_has_its_source() -> None:
    for name in READ_PATH:
        importlib.import_module(name)
        assert (SRC / (name.replace(".", "/") + ".py")).is_file(), name


def test_version_names_the_build() -> None:
    out = CliRunner().invoke(cli, ["--version"])
    assert out.exit_code == 0
    assert out.output.startswith("seedlock, version ") and f"({build_label()})" in out.output
