"""Helpers for the asset tests: cheap clones of a synthetic folder that tests may corrupt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def clone(src: Path, dst: Path) -> Path:
    """Mirror ``src`` into ``dst`` with symlinks to every file (fast; replace a link to corrupt it)."""
    for dirpath, _, files in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for f in files:
            os.symlink(Path(dirpath) / f, dst / rel / f)
    return dst


def replace(path: Path, data: bytes) -> None:
    """Replace the (symlinked) file ``path`` by ``data``."""
    path.unlink()
    path.write_bytes(data)


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path_factory, monkeypatch):
    """Keep the sanitized copies out of the user's cache (one folder per test session)."""
    monkeypatch.setenv("ROME_SMPLX_CACHE", str(tmp_path_factory.getbasetemp() / "rome_smplx_cache"))


@pytest.fixture(name="clone")
def _clone_fixture():
    """The :func:`clone` helper."""
    return clone


@pytest.fixture(name="replace")
def _replace_fixture():
    """The :func:`replace` helper."""
    return replace


@pytest.fixture
def broken(synthetic_dir_small, tmp_path):
    """A symlink clone of the small synthetic folder, to corrupt in place."""
    return clone(synthetic_dir_small, tmp_path / "assets")
