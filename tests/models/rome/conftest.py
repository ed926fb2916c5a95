"""Locating the reference fixtures: $ROME_SMPLX_FIXTURES, else ``<repo>/../shared/fixtures``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def rome_fixture_dir() -> Path:
    env = os.environ.get("ROME_SMPLX_FIXTURES")
    base = Path(env) if env else REPO / ".." / "shared" / "fixtures"
    return base if (base / "fixtures_index.json").is_file() else base / "rome_reference"


@pytest.fixture(scope="session")
def rome_fixtures() -> Path:
    d = rome_fixture_dir()
    assert (d / "fixtures_index.json").is_file(), f"ROME reference fixtures not found in {d}"
    return d
