"""Rotation conversions: round trips, known matrices, edge cases near 0 and pi, gradcheck."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation as SciRot

from rome_smplx.errors import InputError
from rome_smplx.geometry import rotations as rot


def _random_rotations(n: int, dtype=torch.float64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(n, 4, generator=g, dtype=torch.float64)
    return rot.quaternion_to_matrix(q).to(dtype)


def _assert_rotation(m: torch.Tensor, atol: float) -> None:
    eye = torch.eye(3, dtype=m.dtype).expand_as(m)
    torch.testing.assert_close(m @ m.transpose(-1, -2), eye, atol=atol, rtol=0)
    torch.testing.assert_close(torch.linalg.det(m), torch.ones(m.shape[:-2], dtype=m.dtype), atol=atol, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_axis_angle_known_matrices(dtype):
    aa = torch.tensor([[math.pi / 2, 0, 0], [0, math.pi / 2, 0], [0, 0, math.pi / 2], [0, 0, 0]], dtype=dtype)
    m = rot.axis_angle_to_matrix(aa)
    rx = torch.tensor([[1, 0, 0], [0, 0, -1], [0, 1, 0]], dtype=dtype)
    ry = torch.tensor([[0, 0, 1], [0, 1, 0], [-1, 0, 0]], dtype=dtype)
    rz = torch.tensor([[0, -1, 0], [1, 0, 0], [0, 0, 1]], dtype=dtype)
    torch.testing.assert_close(m, torch.stack([rx, ry, rz, torch.eye(3, dtype=dtype)]), atol=1e-6, rtol=0)


def test_axis_angle_matches_scipy_and_round_trips():
    g = torch.Generator().manual_seed(1)
    axis = torch.nn.functional.normalize(torch.randn(200, 3, generator=g, dtype=torch.float64), dim=-1)
    angle = torch.rand(200, 1, generator=g, dtype=torch.float64) * math.pi
    aa = axis * angle
    m = rot.axis_angle_to_matrix(aa)
    np.testing.assert_allclose(m.numpy(), SciRot.from_rotvec(aa.numpy()).as_matrix(), atol=1e-12)
    back = rot.matrix_to_axis_angle(m)
    torch.testing.assert_close(back, aa, atol=1e-9, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_axis_angle_near_zero_and_pi(dtype):
    tiny = torch.tensor([[1e-9, -2e-9, 3e-9], [1e-5, 0, 0], [0, 0, 0]], dtype=dtype)
    m = rot.axis_angle_to_matrix(tiny)
    assert torch.isfinite(m).all()
    torch.testing.assert_close(rot.matrix_to_axis_angle(m), tiny, atol=1e-7, rtol=0)
    # Half turns about arbitrary axes (angle = pi - small): the axis must come back.
    axis = torch.nn.functional.normalize(torch.tensor([[1.0, 2.0, -0.5], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]]), dim=-1)
    for delta in (0.0, 1e-6, 1e-3):
        aa = axis.to(dtype) * (math.pi - delta)
        m = rot.axis_angle_to_matrix(aa)
        back = rot.matrix_to_axis_angle(m)
        # At exactly pi, +axis and -axis are the same rotation.
        ok = torch.minimum((back - aa).abs().amax(-1), (back + aa).abs().amax(-1))
        tol = 2e-3 if dtype == torch.float32 else 1e-7
        assert (ok < tol).all(), (delta, ok)
        torch.testing.assert_close(rot.axis_angle_to_matrix(back), m, atol=10 * tol, rtol=0)


def test_quaternion_round_trip_and_batch_dims():
    m = _random_rotations(24).reshape(2, 3, 4, 3, 3)
    q = rot.matrix_to_quaternion(m)
    assert q.shape == (2, 3, 4, 4)
    assert (q[..., 0] >= 0).all()
    torch.testing.assert_close(rot.quaternion_to_matrix(q), m, atol=1e-12, rtol=0)
    # scipy stores (x, y, z, w)
    sq = SciRot.from_matrix(m.reshape(-1, 3, 3).numpy()).as_quat()
    sq = np.where(sq[:, 3:] < 0, -sq, sq)
    np.testing.assert_allclose(q.reshape(-1, 4).numpy()[:, [1, 2, 3, 0]], sq, atol=1e-12)
    aa = rot.quaternion_to_axis_angle(q)
    torch.testing.assert_close(rot.axis_angle_to_quaternion(aa), q, atol=1e-12, rtol=0)


def test_cont6d_layout_and_round_trip():
    ident = torch.tensor([1.0, 0, 0, 1, 0, 0])
    torch.testing.assert_close(rot.cont6d_to_matrix(ident), torch.eye(3))
    # diag(1,-1,-1): columns (1,0,0) and (0,-1,0) read row by row.
    torch.testing.assert_close(
        rot.cont6d_to_matrix(torch.tensor([1.0, 0, 0, -1, 0, 0])), torch.diag(torch.tensor([1.0, -1, -1]))
    )
    m = _random_rotations(50)
    d6 = rot.matrix_to_cont6d(m)
    torch.testing.assert_close(d6[:, 0::2], m[:, :, 0])  # interleaved: even entries = first column
    torch.testing.assert_close(rot.cont6d_to_matrix(d6), m, atol=1e-12, rtol=0)
    # Gram-Schmidt: a noisy, unnormalised input still yields a rotation whose first column is the
    # normalised first input column.
    g = torch.Generator().manual_seed(3)
    noisy = 3.0 * d6 + 0.2 * torch.randn(50, 6, generator=g, dtype=torch.float64)
    r = rot.cont6d_to_matrix(noisy)
    _assert_rotation(r, 1e-12)
    torch.testing.assert_close(r[..., 0], torch.nn.functional.normalize(noisy[:, 0::2], dim=-1))


def test_euler_xyz_convention_and_round_trip():
    e = torch.tensor([0.3, -0.7, 1.1], dtype=torch.float64)
    rx = rot.axis_angle_to_matrix(torch.tensor([0.3, 0, 0], dtype=torch.float64))
    ry = rot.axis_angle_to_matrix(torch.tensor([0, -0.7, 0], dtype=torch.float64))
    rz = rot.axis_angle_to_matrix(torch.tensor([0, 0, 1.1], dtype=torch.float64))
    torch.testing.assert_close(rot.euler_xyz_to_matrix(e), rx @ ry @ rz, atol=1e-14, rtol=0)
    # scipy's upper-case "XYZ" is intrinsic x-y-z.
    np.testing.assert_allclose(
        rot.euler_xyz_to_matrix(e).numpy(), SciRot.from_euler("XYZ", e.numpy()).as_matrix(), atol=1e-14
    )
    m = _random_rotations(300, seed=5)
    ang = rot.matrix_to_euler_xyz(m)
    np.testing.assert_allclose(ang.numpy(), SciRot.from_matrix(m.numpy()).as_euler("XYZ"), atol=1e-9)
    assert (ang[:, 1].abs() <= math.pi / 2 + 1e-12).all()
    torch.testing.assert_close(rot.euler_xyz_to_matrix(ang), m, atol=1e-12, rtol=0)


def test_euler_gimbal_lock_sets_z_to_zero():
    e = torch.tensor([[0.4, math.pi / 2, 0.9], [-0.2, -math.pi / 2, 0.5]], dtype=torch.float64)
    m = rot.euler_xyz_to_matrix(e)
    ang = rot.matrix_to_euler_xyz(m)
    assert (ang[:, 2] == 0).all()
    torch.testing.assert_close(rot.euler_xyz_to_matrix(ang), m, atol=1e-7, rtol=0)


def test_flip_pose_entries_and_involution():
    m = _random_rotations(10)
    f = rot.flip_pose(m)
    sign = torch.tensor([[1, -1, -1], [-1, 1, 1], [-1, 1, 1]], dtype=m.dtype)
    torch.testing.assert_close(f, m * sign)
    M = torch.diag(torch.tensor([1.0, -1, -1], dtype=m.dtype))
    torch.testing.assert_close(f, M @ m @ M)
    torch.testing.assert_close(rot.flip_pose(f), m)
    # Mirroring negates the y and z components of the rotation vector.
    aa = rot.matrix_to_axis_angle(m)
    torch.testing.assert_close(rot.matrix_to_axis_angle(f), aa * torch.tensor([1.0, -1, -1], dtype=m.dtype))


def test_float32_agrees_with_float64():
    m = _random_rotations(64)
    for f in (rot.matrix_to_axis_angle, rot.matrix_to_euler_xyz, rot.matrix_to_quaternion):
        torch.testing.assert_close(f(m.float()).double(), f(m), atol=2e-5, rtol=0)


def test_gradcheck():
    g = torch.Generator().manual_seed(7)
    aa = (0.8 * torch.randn(4, 3, generator=g, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(rot.axis_angle_to_matrix, (aa,))
    small = (1e-8 * torch.randn(2, 3, generator=g, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(rot.axis_angle_to_matrix, (small,))
    d6 = torch.randn(3, 6, generator=g, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(rot.cont6d_to_matrix, (d6,))
    e = (0.5 * torch.randn(3, 3, generator=g, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(rot.euler_xyz_to_matrix, (e,))
    m = _random_rotations(3, seed=9)
    # Perturbations leave SO(3); check the functions that are smooth on all 3x3 matrices nearby.
    mm = m.clone().requires_grad_()
    assert torch.autograd.gradcheck(rot.matrix_to_euler_xyz, (mm,))
    assert torch.autograd.gradcheck(rot.matrix_to_axis_angle, (mm,))
    q = torch.randn(3, 4, generator=g, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(rot.quaternion_to_matrix, (q,))


def test_bad_shapes_raise_input_error():
    with pytest.raises(InputError, match=r"\(\.\.\., 3\)"):
        rot.axis_angle_to_matrix(torch.zeros(4, 4))
    with pytest.raises(InputError, match="6"):
        rot.cont6d_to_matrix(torch.zeros(2, 5))
    with pytest.raises(InputError, match="floating"):
        rot.flip_pose(torch.zeros(3, 3, dtype=torch.int64))
