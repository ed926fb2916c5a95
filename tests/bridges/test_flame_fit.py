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

    quick = FitSettings(lm_rigid_iters=3, lm_iters=5)
    a = fit_flame_to_landmarks(flame_model, target, (256, 256), settings=quick, seed=3)
    b = fit_flame_to_landmarks(flame_model, target, (256, 256), settings=quick, seed=3)
    torch.testing.assert_close(a.flame.shape, b.flame.shape, atol=0, rtol=0)


def test_bad_landmarks_are_clear_errors(flame_model):
    with pytest.raises(InputError, match=r"\(B, 68, 2\)"):
        fit_flame_to_landmarks(flame_model, torch.zeros(1, 51, 2), (256, 256))
    with pytest.raises(InputError, match="NaN"):
        fit_flame_to_landmarks(flame_model, torch.full((1, 68, 2), float("nan")), (256, 256))


def test_lm_is_at_least_as_accurate_as_adam_and_batch_invariant(flame_model, synthetic_dir):
    from rome_smplx.bridges.flame_fit import FitSettings

    truths = [_truth(synthetic_dir / "people" / f"person_{i:03d}") for i in (0, 1)]
    # A turned head with an open mouth: contour bins change during the fit, the jaw is nonlinear.
    truths[1].global_rot = axis_angle_to_matrix(torch.tensor([[0.1, 0.35, 0.0]])) @ truths[1].global_rot
    truths[1].jaw_rot = axis_angle_to_matrix(torch.tensor([[0.25, 0.0, 0.0]])) @ truths[1].jaw_rot
    target = torch.cat([project_landmarks(flame_model, t, (256, 256)) for t in truths])
    lm = fit_flame_to_landmarks(flame_model, target, (256, 256), settings=FitSettings(method="lm"))
    adam = fit_flame_to_landmarks(flame_model, target, (256, 256), settings=FitSettings(method="adam"))
    assert bool((lm.error_px <= adam.error_px + 0.02).all()), (lm.error_px, adam.error_px)
    assert float(lm.error_px.max()) < 0.5, lm.error_px
    # Each photo is solved on its own (own damping, own stopping): fitting one alone gives the same.
    one = fit_flame_to_landmarks(flame_model, target[1:], (256, 256))
    torch.testing.assert_close(one.landmarks, lm.landmarks[1:], atol=1e-3, rtol=0)


def test_lm_jacobian_matches_autograd(flame_model):
    """The differences-based Jacobian of the LM solve equals autograd's (affine part exact)."""
    from rome_smplx.bridges import flame_fit as ff

    red = ff.landmark_flame(flame_model).double()
    layout = ff._Layout(100, 50)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, layout.size, generator=g, dtype=torch.float64) * 0.3
    x[:, layout.log_s] = 1.5
    bins_rot = axis_angle_to_matrix(x[:, layout.rot])
    cols = [0, 7, 42, 99, 100, 123, 149, *range(150, layout.size)]  # shape, expression, then the 9 others
    E = torch.eye(layout.size, dtype=torch.float64)[cols]
    f = lambda z: ff._projected(red, layout, z, bins_rot).flatten()
    auto = torch.stack([torch.func.jvp(f, (x,), (e[None],))[1] for e in E], 1)  # (136, len(cols))
    base = f(x)
    lin = torch.stack([f(x + e[None]) - base for e in E[:7]], 1)
    torch.testing.assert_close(lin, auto[:, :7], atol=1e-9, rtol=0)  # exact: affine in the coefficients
    h = ff.FitSettings().lm_fd_step
    nl = torch.stack([(f(x + h * e[None]) - f(x - h * e[None])) / (2 * h) for e in E[7:]], 1)
    torch.testing.assert_close(nl, auto[:, 7:], atol=1e-6, rtol=1e-6)


def test_projection_with_held_bins_equals_the_model(flame_model):
    from rome_smplx.bridges import flame_fit as ff

    layout = ff._Layout(100, 50)
    x = torch.zeros(2, layout.size)
    x[:, layout.rot] = torch.tensor([[0.1, 0.4, 0.05], [0.0, -0.2, 0.1]])
    x[:, layout.jaw] = torch.tensor([[0.2, 0.0, 0.0], [0.1, 0.0, 0.0]])
    x[:, layout.log_s] = 2.0
    own = ff._projected(flame_model, layout, x)
    held = ff._projected(flame_model, layout, x, axis_angle_to_matrix(x[:, layout.rot]))
    torch.testing.assert_close(held, own, atol=1e-6, rtol=0)
    # A different bin rotation moves only the 17 contour landmarks.
    other = ff._projected(flame_model, layout, x, axis_angle_to_matrix(torch.zeros(2, 3)))
    torch.testing.assert_close(other[:, 17:], own[:, 17:], atol=1e-6, rtol=0)
    assert float((other[:, :17] - own[:, :17]).abs().max()) > 1e-3


def test_bad_settings_are_clear_errors():
    from rome_smplx.bridges.flame_fit import FitSettings

    with pytest.raises(InputError, match="method"):
        FitSettings(method="sgd")
    with pytest.raises(InputError, match="lm_iters"):
        FitSettings(lm_iters=-1)
