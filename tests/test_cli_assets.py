"""`rome-smplx assets check|where` and `--version` (CliRunner and the installed script)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import rome_smplx
from rome_smplx.cli import main


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("ROME_SMPLX_CACHE", str(tmp_path_factory.getbasetemp() / "cli_cache"))


def _clone(src: Path, dst: Path) -> Path:
    for dirpath, _, files in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for f in files:
            os.symlink(Path(dirpath) / f, dst / rel / f)
    return dst


def test_version():
    r = CliRunner().invoke(main, ["--version"])
    assert r.exit_code == 0 and rome_smplx.__version__ in r.output


def test_check_usable_folder(synthetic_dir_small):
    r = CliRunner().invoke(main, ["assets", "check", str(synthetic_dir_small)])
    assert r.exit_code == 0, r.output
    assert "usable" in r.output and "NOT usable" not in r.output


def test_check_broken_folder_lists_every_problem(synthetic_dir_small, tmp_path):
    d = _clone(synthetic_dir_small, tmp_path / "a")
    (d / "rome" / "u_full.pt").unlink()
    (d / "rome" / "mean_deform.pt").unlink()
    (d / "rome" / "mean_deform.pt").write_bytes(b"")
    (d / "correspondences" / "SMPL-X__FLAME_vertex_ids.npy").unlink()
    (d / "correspondences" / "SMPL-X__FLAME_vertex_ids.npy").mkdir()
    r = CliRunner().invoke(main, ["assets", "check", str(d)])
    assert r.exit_code == 1, r.output
    out = r.output
    assert "Traceback" not in out
    problem_lines = [ln for ln in out.splitlines() if ln.startswith(("MISSING", "INVALID"))]
    assert len(problem_lines) == 3, out
    assert "linear_basis" in out and "empty" in out and "directory" in out
    assert "NOT usable (3 blocking" in out


def test_check_missing_dir_exit_2(tmp_path):
    r = CliRunner().invoke(main, ["assets", "check", str(tmp_path / "nowhere")])
    assert r.exit_code == 2
    assert "asset folder not found" in r.output and "Traceback" not in r.output


def test_where_lists_every_spec():
    from rome_smplx.assets.layout import SPECS

    r = CliRunner().invoke(main, ["assets", "where"])
    assert r.exit_code == 0
    for spec in SPECS:
        assert f"{spec.folder}/{spec.names[0]}" in r.output and spec.source in r.output


def test_installed_script_subprocess(tmp_path):
    exe = shutil.which("rome-smplx") or str(Path(sys.executable).parent / "rome-smplx")
    assert Path(exe).exists(), "the rome-smplx console script is not installed"
    env = dict(os.environ, ROME_SMPLX_CACHE=str(tmp_path / "cache"))
    (tmp_path / "empty").mkdir()
    r = subprocess.run([exe, "assets", "check", str(tmp_path / "empty")], capture_output=True, text=True, check=False,
                       env=env, timeout=120)
    assert r.returncode == 1
    assert "smplx" in r.stdout and "flame.is.tue.mpg.de" in r.stdout and "Traceback" not in r.stderr
    r = subprocess.run([exe, "assets", "check", str(tmp_path / "missing")], capture_output=True, text=True, check=False,
                       env=env, timeout=120)
    assert r.returncode == 2 and "not found" in r.stderr
