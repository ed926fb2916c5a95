"""Shared test fixtures. Everything is seeded and generated at test time (nothing licensed)."""

from __future__ import annotations

import os

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory):
    """A complete synthetic asset folder (default FLAME-sized head), written once per session."""
    from rome_smplx.assets.synthetic import write_synthetic_assets

    out = tmp_path_factory.mktemp("synthetic") / "assets"
    write_synthetic_assets(out, seed=0, head_vertices=None, people=2)  # None: FLAME's own count
    return out


@pytest.fixture(scope="session")
def synthetic_dir_small(tmp_path_factory):
    """A synthetic asset folder whose head vertex count is not FLAME's (catches hard-coded counts)."""
    from rome_smplx.assets.synthetic import write_synthetic_assets

    out = tmp_path_factory.mktemp("synthetic_small") / "assets"
    write_synthetic_assets(out, seed=1, head_vertices=1800, people=1)
    return out


def pytest_collection_modifyitems(config, items):
    """Skip backend-specific tests whose optional extra is not importable (say which)."""
    import importlib.util

    have = {
        "pytorch3d": importlib.util.find_spec("pytorch3d") is not None,
        "mediapipe": importlib.util.find_spec("mediapipe") is not None,
        "opengl": importlib.util.find_spec("pyrender") is not None,
    }
    for item in items:
        for mark, ok in have.items():
            if mark in item.keywords and not ok:
                item.add_marker(pytest.mark.skip(reason=f"optional extra '{mark}' not installed"))
