"""The synthetic asset folder: layout, marker, determinism, CLI, cached default set."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

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



def _e2e_dir() -> Path:
    """The end-to-end ROME fixture folder: ``$ROME_SMPLX_FIXTURES/rome_e2e``, else ``<repo>/../shared/fixtures/rome_e2e``
    (the test skips when it is absent)."""
    from tests.conftest import shared_fixture

    return shared_fixture("rome_e2e")


def test_version_2_reproduces_the_e2e_fixture_assets(tmp_path):
    """``assets synth --seed 0 --generator-version 2`` gives the files the ROME end-to-end fixture was made from.

    Model and data files must match the recorded bytes. The photos are drawn by a float32 rasteriser and
    shader, then rounded to 8 bits; a value that lands within float rounding of a rounding boundary can
    come out one level apart on another CPU (seen: 1 pixel of 196 608 on a CI machine), and the PNG bytes
    then differ. So the images the fixture consumed are compared by their pixels against the buffers it
    recorded (``inputs.source_img`` / ``source_mask``): at most one 8-bit level apart, on at most 0.05 %
    of the values. Images the fixture did not consume are not compared.
    """
    import torch
    from PIL import Image

    from rome_smplx.cli import main

    listing = _e2e_dir() / "assets_sha256.txt"
    assert listing.is_file(), f"end-to-end fixture not found: {listing}"
    expect = dict(reversed(line.split()) for line in listing.read_text().splitlines() if line.strip())
    assert len(expect) >= 14
    res = CliRunner().invoke(main, ["assets", "synth", str(tmp_path / "v2"), "--seed", "0", "--generator-version", "2"])
    assert res.exit_code == 0, res.output
    files = {rel: sha for rel, sha in expect.items() if not rel.endswith(".png")}
    got = {rel: hashlib.sha256((tmp_path / "v2" / rel).read_bytes()).hexdigest() for rel in files}
    assert got == files
    assert read_marker(tmp_path / "v2")["version"] == 2

    (fixture,) = sorted(_e2e_dir().glob("rome_e2e*.pt"))[:1]
    inputs = torch.load(fixture, weights_only=True)["inputs"]
    person = "people/person_000"
    recorded = {f"{person}/photo_256.png": inputs["source_img"][0].permute(1, 2, 0),
                f"{person}/mask_256.png": inputs["source_mask"][0, 0]}
    assert set(recorded) <= set(expect), "the fixture's listing no longer names the images it consumed"
    for rel, ref in recorded.items():
        img = Image.open(tmp_path / "v2" / rel)
        ours = np.asarray(img.convert("RGB" if ref.ndim == 3 else "L"), dtype=np.float64) / 255.0
        ref = ref.double().numpy()
        assert ours.shape == ref.shape, rel
        levels = np.rint(np.abs(ours - ref) * 255.0)
        assert levels.max() <= 1, f"{rel}: {levels.max():.0f} levels from the recorded buffer"
        assert (levels > 0).mean() <= 5e-4, f"{rel}: {(levels > 0).sum()} values differ by one level"


@pytest.mark.slow
def test_version_3_rome_data_follow_the_rule(tmp_path):
    """The current generator's mean offsets are non-zero exactly where the lists + ROME's rule allow."""
    import torch

    from rome_smplx.assets import Assets

    assert GENERATOR_VERSION == 3
    d = write_synthetic_assets(tmp_path / "v3", seed=0, people=0)
    rd = Assets.from_dir(d).rome_data()
    assert torch.equal(rd.mean_deform_support(), rd.deform_mask > 0)
    basis = rd.basis.view(rd.num_vertices, 3, -1).abs().sum(1) > 0
    assert torch.equal(basis.any(1), rd.deform_mask > 0)
    # the lists themselves are those of version 2
    v2 = write_synthetic_assets(tmp_path / "v2", seed=0, people=0, generator_version=2)
    for name in ("hair_list.pkl", "neck_list.pkl", "faces_v2.pth", "vertex_uvcoords.pth"):
        assert (d / "rome" / name).read_bytes() == (v2 / "rome" / name).read_bytes(), name
    assert (d / "rome" / "mean_deform.pt").read_bytes() != (v2 / "rome" / "mean_deform.pt").read_bytes()


@pytest.mark.parametrize("version", ["1", "4", "x"])
def test_cli_rejects_unknown_generator_version(tmp_path, version):
    from rome_smplx.cli import main

    res = CliRunner().invoke(main, ["assets", "synth", str(tmp_path / "x"), "--generator-version", version])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert not (tmp_path / "x").exists()
