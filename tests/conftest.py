"""Shared fixtures: where the real sample images live, and an isolated seedlock home."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def fixtures_dir() -> Path | None:
    env = os.environ.get("SEEDLOCK_FIXTURES")
    for candidate in ([Path(env)] if env else []) + [
        ROOT.parent / "shared" / "fixtures",
        ROOT / ".." / "shared" / "fixtures",
    ]:
        if (candidate / "images").is_dir():
            return candidate.resolve()
    return None


FIXTURES = fixtures_dir()
needs_fixtures = pytest.mark.skipif(
    FIXTURES is None, reason="real sample images not found: set SEEDLOCK_FIXTURES or place ../shared/fixtures"
)


@pytest.fixture
def fixtures() -> Path:
    if FIXTURES is None:
        pytest.skip("real sample images not found: set SEEDLOCK_FIXTURES or place ../shared/fixtures")
    return FIXTURES


@pytest.fixture
def images(fixtures: Path) -> Path:
    return fixtures / "images"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never touch the user's cache or config."""
    monkeypatch.setenv("SEEDLOCK_HOME", str(tmp_path / "seedlock-home"))
