"""FLAME landmark fitting (the fallback when DECA's weights are missing) on synthetic people."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rome_smplx.bridges.flame_fit import fit_flame_to_landmarks, landmark_flame, project_landmarks

import rome_smplx as rs
from rome_smplx.errors import InputError
from rome_smplx.geometry.rotations import axis_angle_to_matrix
from rome_smplx.models.flame import FlameModel
from rome_smplx.types import FlameParams


@pytest.fixture(scope="module")
def flame_model(synthetic_dir):
    return FlameModel.from_assets(rs.Assets.from_dir(synthetic_dir))


def _truth(folder) -> FlameParams:
    t = np.load(folder / "truth.npz")
    f = lambda k: torch.from_numpy(np.asarray(t[k], dtype=np.float32))[None]
    return FlameParams(
        shape=f("flame_shape"), expression=f("flame_expression"), global_rot=f("flame_global_rot"),
        jaw_rot=f("flame_jaw_rot"), cam=f("deca_cam"),
    )


def _mouth_gap(model: FlameModel, p: FlameParams) -> torch.Tensor:
    """Distance between the inner-lip landmarks 62 (upper) and 66 (lower), in metres."""
    lmk = model(p).landmarks
    return (lmk[:, 62] - lmk[:, 66]).norm(dim=-1)


def test_landmark_only_model_matches_the_full_model(flame_model):
    red = landmark_flame(flame_model)
    assert red.num_vertices < flame_model.num_vertices // 4
    g = torch.Generator().manual_seed(0)
    p = FlameParams(
        shape=torch.randn(2, 100, generator=g), expression=torch.randn(2, 50, generator=g),
        global_rot=axis_angle_to_matrix(0.3 * torch.randn(2, 3, generator=g)),
        jaw_rot=axis_angle_to_matrix(torch.tensor([[0.2, 0.0, 0.0], [0.05, 0.01, 0.0]])),
    )
    torch.testing.assert_close(red(p, apply_global=True).landmarks, flame_model(p, apply_global=True).landmarks,
                               atol=1e-6, rtol=0)


@pytest.mark.parametrize("person", [0, 1])
def test_fit_recovers_landmarks_and_mouth_opening(flame_model, synthetic_dir, person):
    truth = _truth(synthetic_dir / "people" / f"person_{person:03d}")
    # Open the mouth so the jaw test is meaningful (the people's jaws vary; keep theirs plus 0.2 rad).
    truth.jaw_rot = axis_angle_to_matrix(torch.tensor([[0.2, 0.0, 0.0]])) @ truth.jaw_rot
    target = project_landmarks(flame_model, truth, (256, 256))
    res = fit_flame_to_landmarks(flame_model, target, (256, 256), seed=0)
    assert float(res.error_px.max()) <= 1.5, res.error_px
    gap_true, gap_fit = _mouth_gap(flame_model, truth), _mouth_gap(flame_model, res.flame)
    assert float(((gap_fit - gap_true).abs() / gap_true).max()) <= 0.2, (gap_true, gap_fit)
    # The fitted camera reproduces DECA's convention: same scale within 10%.
    assert abs(float(res.flame.cam[0, 0] / truth.cam[0, 0]) - 1) < 0.1


def test_fit_is_deterministic(flame_model, synthetic_dir):
    truth = _truth(synthetic_dir / "people" / "person_000")
    target = project_landmarks(flame_model, truth, (256, 256))
    from rome_smplx.bridges.flame_fit import FitSettings

    quick = FitSettings(rigid_iters=20, full_iters=30)
    a = fit_flame_to_landmarks(flame_model, target, (256, 256), settings=quick, seed=3)
    b = fit_flame_to_landmarks(flame_model, target, (256, 256), settings=quick, seed=3)
    torch.testing.assert_close(a.flame.shape, b.flame.shape, atol=0, rtol=0)


def test_bad_landmarks_are_clear_errors(flame_model):
    with pytest.raises(InputError, match=r"\(B, 68, 2\)"):
        fit_flame_to_landmarks(flame_model, torch.zeros(1, 51, 2), (256, 256))
    with pytest.raises(InputError, match="NaN"):
        fit_flame_to_landmarks(flame_model, torch.full((1, 68, 2), float("nan")), (256, 256))
