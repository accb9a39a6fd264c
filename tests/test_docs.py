"""Docs follow the code: the CLI reference is generated from --help and every command has help text."""

from __future__ import annotations

from pathlib import Path

from seedlock.cli._reference import commands, render_reference

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_cli_reference_is_current() -> None:
    assert (DOCS / "cli.md").read_text(encoding="utf-8") == render_reference(), (
        "docs/cli.md is stale: python -m seedlock.cli._reference > docs/cli.md"
    )


def test_every_command_is_documented() -> None:
    page = (DOCS / "cli.md").read_text(encoding="utf-8")
    for path, cmd in commands():
        assert (cmd.help or "").strip(), f"{' '.join(path)} has no help text"
        assert f"## `{' '.join(path)}`" in page, f"{' '.join(path)} is missing from docs/cli.md"
        for param in cmd.params:
            if param.param_type_name == "option" and not param.hidden:
                assert any(o in page for o in param.opts), f"{' '.join(path)}: option {param.opts} undocumented"


def test_architecture_page_names_every_package() -> None:
    page = (DOCS / "architecture.md").read_text(encoding="utf-8")
    src = Path(__file__).resolve().parent.parent / "src" / "seedlock"
    for pkg in sorted(p.name for p in src.iterdir() if (p / "__init__.py").exists()):
        assert f"{pkg}/" in page, f"docs/architecture.md does not place the {pkg}/ package"
