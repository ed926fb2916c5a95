"""`rome-smplx edit`: one linear-model coefficient of a photo's head set by value or by quantile; the
written meshes move only the component's vertices, by the basis column times the change of coefficient."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
import trimesh
from click.testing import CliRunner

import rome_smplx as rs
from rome_smplx.avatar import editing as E
from rome_smplx.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, synthetic_dir_small):
    """The astronaut (a real face for the detector), a white matte, the synthetic person's DECA codes (no
    landmark fit) and PIXIE body, the linear model of the assets and a stats file of that model with known
    order statistics."""
    from PIL import Image
    from skimage import data

    d = tmp_path_factory.mktemp("edit_inputs")
    Image.fromarray(data.astronaut()).save(d / "astronaut.png")
    Image.fromarray(np.full((512, 512), 255, np.uint8)).save(d / "mask.png")
    assets = rs.Assets.from_dir(synthetic_dir_small)
    head = rs.HeadAvatar.from_assets(assets, "linear", backend="torch")
    rd = assets.rome_data()
    kinds = E.component_kinds(head.basis, rd.hair_list, rd.neck_list)
    K = len(kinds)
    # 11 subjects whose coefficient k is -1, -0.8, ..., 1 (times k + 1): quantile q gives (2q - 1)(k + 1)
    coeffs = torch.linspace(-1, 1, 11, dtype=torch.float64)[:, None] * torch.arange(1, K + 1, dtype=torch.float64)
    stats = E.HairStats.from_coefficients(coeffs, kinds, fingerprint=E.model_fingerprint(head), source="test")
    stats.save(d / "stats.json")
    person = synthetic_dir_small / "people" / "person_000"
    return {"dir": d, "image": d / "astronaut.png", "mask": d / "mask.png", "assets": synthetic_dir_small,
            "deca": person / "person_000_deca.pkl", "param": person / "person_000_param.pkl", "head": head,
            "kinds": kinds, "hair": rd.hair_list, "stats": d / "stats.json"}


def _args(inputs, out, *extra):
    return ["edit", "--image", str(inputs["image"]), "--mask", str(inputs["mask"]), "--deca", str(inputs["deca"]),
            "--assets", str(inputs["assets"]), "--out", str(out), *extra]


def _verts(path) -> np.ndarray:
    return np.asarray(trimesh.load(path, process=False).vertices, dtype=np.float64)


@pytest.fixture(scope="module")
def by_value(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("edit_value") / "edit"
    k = inputs["kinds"].index("hair")
    res = CliRunner().invoke(main, _args(inputs, out, "--component", str(k), "--value", "0.75"))
    assert res.exit_code == 0, res.output
    return out, k


@pytest.mark.mediapipe
def test_value_edit_moves_hair_vertices_by_the_basis_column(inputs, by_value):
    out, k = by_value
    assert {"head_edited.ply", "head_unedited.ply", "render.png", "render_unedited.png", "preview.png",
            "edit.json"} <= {p.name for p in out.iterdir()}
    summary = json.loads((out / "edit.json").read_text())
    assert summary["component"] == k and summary["kind"] == "hair" and summary["value"] == pytest.approx(0.75)
    edited, unedited = _verts(out / "head_edited.ply"), _verts(out / "head_unedited.ply")
    n = edited.shape[0]
    hair = np.zeros(n, bool)
    hair[np.asarray(inputs["hair"])] = True
    moved = np.linalg.norm(edited - unedited, axis=1)
    assert moved[hair].max() > 1e-3  # the hair moved ...
    assert moved[~hair].max() <= 1e-6  # ... and nothing else
    # the displacement is the basis column times the change of coefficient (float32 PLY: 1e-6 m)
    column = inputs["head"].basis[:, k].double().view(n, 3).numpy()
    delta = 0.75 - summary["coefficient_before"]
    assert abs(delta) > 0.1
    np.testing.assert_allclose(edited - unedited, delta * column, atol=2e-6, rtol=0)


@pytest.mark.mediapipe
@pytest.mark.slow
def test_quantile_edit_takes_the_stats_value_and_writes_the_body(inputs, by_value, tmp_path):
    value_out, _ = by_value
    out = tmp_path / "edit"
    k = inputs["kinds"].index("neck")
    res = CliRunner().invoke(main, _args(inputs, out, "--component", str(k), "--quantile", "0.25", "--stats",
                                         str(inputs["stats"]), "--pixie", str(inputs["param"]), "--texture-size", "0"))
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "edit.json").read_text())
    assert summary["kind"] == "neck" and summary["quantile"] == 0.25
    assert summary["value"] == pytest.approx(-0.5 * (k + 1), abs=1e-6)  # (2q - 1)(k + 1)
    assert summary["stats"]["source"] == "test" and summary["body"]
    # same photo, same codes: the unedited heads of both runs agree; the edit moved the neck vertices
    unedited = _verts(out / "head_unedited.ply")
    np.testing.assert_allclose(unedited, _verts(value_out / "head_unedited.ply"), atol=1e-6, rtol=0)
    n = unedited.shape[0]
    column = inputs["head"].basis[:, k].double().view(n, 3).numpy()
    np.testing.assert_allclose(_verts(out / "head_edited.ply") - unedited,
                               (summary["value"] - summary["coefficient_before"]) * column, atol=2e-6, rtol=0)
    glb = trimesh.load(out / "avatar.glb", force="mesh", process=False)
    assert len(glb.vertices) >= rs.Assets.from_dir(inputs["assets"]).num_smplx_vertices


@pytest.mark.parametrize("extra, message", [
    (["--component", "100000", "--value", "1"], r"--component: the linear model has \d+ components"),
    (["--component", "-1", "--value", "1"], r"--component: expected an integer >= 0"),
    (["--component", "0", "--quantile", "1.5"], r"--quantile: expected a number in \[0, 1\], found 1\.5"),
    (["--component", "0", "--quantile", "-0.1"], r"--quantile: expected a number in \[0, 1\]"),
    (["--component", "0", "--quantile", "0.5", "--value", "1"], r"exactly one of --quantile and --value, found both"),
    (["--component", "0"], r"exactly one of --quantile and --value, found neither"),
    (["--component", "0", "--value", "nan"], r"--value: expected a finite number"),
], ids=["component-range", "component-negative", "quantile-high", "quantile-low", "both", "neither", "nan"])
def test_bad_requests_are_one_error_line_exit_2_and_no_output(inputs, tmp_path, extra, message):
    out = tmp_path / "edit"
    res = CliRunner().invoke(main, _args(inputs, out, *extra))
    assert res.exit_code == 2, res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and re.search(message, errors[0]), res.output
    assert "Traceback" not in res.output and not out.exists()


def test_stats_of_another_model_are_refused(inputs, tmp_path):
    other = E.HairStats.load(inputs["stats"])
    bad = tmp_path / "other.json"
    E.HairStats(levels=other.levels, values=other.values, mean=other.mean, std=other.std, kinds=other.kinds,
                count=other.count, fingerprint="0" * 16, source="other").save(bad)
    res = CliRunner().invoke(main, _args(inputs, tmp_path / "edit", "--component", "0", "--quantile", "0.5",
                                         "--stats", str(bad)))
    assert res.exit_code == 2 and re.search(r"other\.json: hair stats of another linear model", res.output), res.output


def test_output_policy_is_checked_before_any_work(inputs, tmp_path, monkeypatch):
    import rome_smplx.edit as edit_mod

    monkeypatch.setattr(edit_mod, "edit_photo", lambda *a, **k: pytest.fail("the edit ran"))
    user = tmp_path / "user_data"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    res = CliRunner().invoke(main, _args(inputs, user, "--component", "0", "--value", "1"))
    assert res.exit_code == 2 and "not written by" in res.output, res.output
    assert (user / "notes.txt").read_text() == "mine"
