"""The synthetic asset folder: layout, marker, determinism, CLI, cached default set."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from rome_smplx.assets.layout import SPECS
from rome_smplx.assets.synthetic import GENERATOR_VERSION, default_dir, read_marker, write_synthetic_assets


def test_layout_and_marker(synthetic_dir_small):
    d = synthetic_dir_small
    for spec in SPECS:
        if spec.required:
            assert (d / spec.folder / spec.names[0]).is_file(), f"{spec.folder}/{spec.names[0]}"
    m = json.loads((d / "SYNTHETIC").read_text())
    assert m == {"generator": "rome_smplx.assets.synthetic", "version": GENERATOR_VERSION, "seed": 1,
                 "head_vertices": 1800, "people": 1}
    assert read_marker(d) == m
    assert (d / "people" / "person_000" / "truth.npz").is_file()
    assert not (d / "people" / "person_001").exists()
    corr = np.load(d / "correspondences" / "SMPL-X__FLAME_vertex_ids.npy")
    assert corr.shape == (1800,) and corr.dtype == np.int64
    # no temporary leftovers beside the folder
    assert [p.name for p in d.parent.iterdir()] == ["assets"]


def test_asset_check_passes(synthetic_dir_small):
    from rome_smplx.assets import Assets

    report = Assets.from_dir(synthetic_dir_small, validate=False).check()
    assert report.ok, report.format()


def test_same_seed_same_arrays(synthetic_dir_small, tmp_path):
    other = write_synthetic_assets(tmp_path / "again", seed=1, head_vertices=1800, people=1)
    for rel in ("smplx/SMPLX_NEUTRAL_2020.npz", "people/person_000/truth.npz"):
        a, b = np.load(synthetic_dir_small / rel), np.load(other / rel)
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k], err_msg=f"{rel}:{k}")
    for rel in ("correspondences/SMPL-X__FLAME_vertex_ids.npy", "people/person_000/photo.png",
                "people/person_000/person_000_param.pkl", "rome/hair_list.pkl"):
        assert (synthetic_dir_small / rel).read_bytes() == (other / rel).read_bytes(), rel


@pytest.mark.parametrize("args", [["--head-vertices", "10"], ["--head-vertices", "20000"], ["--people", "-1"],
                                  ["--seed", "-3"]])
def test_cli_rejects_bad_values(tmp_path, args):
    from rome_smplx.cli import main

    res = CliRunner().invoke(main, ["assets", "synth", str(tmp_path / "x"), *args])
    assert res.exit_code == 2
    assert "error:" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "x").exists()


def test_cli_writes_folder(tmp_path):
    from rome_smplx.cli import main

    res = CliRunner().invoke(main, ["assets", "synth", str(tmp_path / "s"), "--head-vertices", "1200", "--people",
                                    "0", "--seed", "2"])
    assert res.exit_code == 0, res.output
    assert read_marker(tmp_path / "s")["head_vertices"] == 1200


def test_default_dir_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("ROME_SMPLX_CACHE", str(tmp_path))
    d = default_dir()
    assert d.parent == tmp_path and d.name == f"synthetic-v{GENERATOR_VERSION}-seed0"
    m = read_marker(d)
    assert m["seed"] == 0 and m["people"] == 2
    stamp = (d / "SYNTHETIC").stat().st_mtime_ns
    assert default_dir() == d
    assert (d / "SYNTHETIC").stat().st_mtime_ns == stamp  # not regenerated
