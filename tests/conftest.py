"""Shared test fixtures. Everything is seeded and generated at test time (nothing licensed).

* The suite writes only into its temporary folders: the SDK's cache (``$ROME_SMPLX_CACHE``, by default
  ``~/.cache/rome_smplx``) and the generic caches of the libraries it imports are redirected there for
  the whole session, and hypothesis keeps no example database.
* :func:`shared_fixture` finds the reference fixtures recorded from the original code
  (``$ROME_SMPLX_FIXTURES``, else ``<repo>/../shared/fixtures``) and skips, with the path it looked at,
  when they are absent (a copy of the repository on its own). Test modules import it as
  ``from tests.conftest import shared_fixture``.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import pytest
import torch
from hypothesis import settings

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

settings.register_profile("rome_smplx", database=None)
settings.load_profile("rome_smplx")

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ reference fixtures
def shared_fixtures_root() -> Path:
    """``$ROME_SMPLX_FIXTURES``, else ``<repo>/../shared/fixtures`` (which may not exist)."""
    env = os.environ.get("ROME_SMPLX_FIXTURES")
    return Path(env).expanduser() if env else REPO.parent / "shared" / "fixtures"


def shared_fixture_path(*parts: str) -> Path | None:
    """The file or folder ``parts`` under :func:`shared_fixtures_root`, or ``None`` when absent."""
    p = shared_fixtures_root().joinpath(*parts)
    return p if p.exists() else None


def rome_reference_path(*parts: str) -> Path | None:
    """A file of the ROME reference fixtures (``<root>/rome_reference/``, or the root itself when
    ``$ROME_SMPLX_FIXTURES`` names that folder: it holds ``fixtures_index.json``), or ``None``."""
    root = shared_fixtures_root()
    base = root if (root / "fixtures_index.json").is_file() else root / "rome_reference"
    p = base.joinpath(*parts)
    return p if p.exists() else None


def missing_fixture_reason(*parts: str) -> str:
    p = shared_fixtures_root().joinpath(*parts)
    return (f"reference fixture {p} not found (set ROME_SMPLX_FIXTURES to the folder of the shared fixtures, or "
            f"put them at {REPO.parent / 'shared' / 'fixtures'})")


def shared_fixture(*parts: str) -> Path:
    """The file or folder ``parts`` under :func:`shared_fixtures_root`; when absent, skips the calling
    test (or, called while a module is imported, the whole module) with the path in the reason."""
    p = shared_fixture_path(*parts)
    if p is None:
        pytest.skip(missing_fixture_reason(*parts), allow_module_level=True)
    return p


# ------------------------------------------------------------------------------------------ caches
@pytest.fixture(scope="session", autouse=True)
def _caches_in_temp(tmp_path_factory):
    """Point the SDK's cache and the generic user caches into the session's temporary folder (child
    processes inherit it); a test may still point ``ROME_SMPLX_CACHE`` somewhere else of its own."""
    root = tmp_path_factory.mktemp("caches")
    mp = pytest.MonkeyPatch()
    mp.setenv("ROME_SMPLX_CACHE", str(root / "rome_smplx"))
    mp.setenv("XDG_CACHE_HOME", str(root / "xdg"))
    mp.setenv("TORCH_HOME", str(root / "torch"))  # torch.hub (set explicitly: a user's TORCH_HOME wins over XDG)
    mp.setenv("HF_HOME", str(root / "huggingface"))
    mp.setenv("MPLCONFIGDIR", str(root / "matplotlib"))
    yield root
    mp.undo()


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


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module's tests (``pytestmark = pytest.mark.usefixtures("one_thread")``):
    the heavy single-image paths are then not slowed by thread hand-offs on small machines."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
