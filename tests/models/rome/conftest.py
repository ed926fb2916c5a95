"""Locating the reference fixtures: $ROME_SMPLX_FIXTURES, else ``<repo>/../shared/fixtures``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import rome_reference_path, shared_fixture


def rome_fixture_dir() -> Path:
    """The ROME reference fixtures; skips the calling test or module (with the reason) when absent."""
    if rome_reference_path("fixtures_index.json") is None:
        shared_fixture("rome_reference", "fixtures_index.json")  # skips, naming the path
    return rome_reference_path("fixtures_index.json").parent


@pytest.fixture(scope="session")
def rome_fixtures() -> Path:
    d = rome_fixture_dir()
    assert (d / "fixtures_index.json").is_file(), f"ROME reference fixtures not found in {d}"
    return d
