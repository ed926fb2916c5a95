"""Rotation conversions: axis-angle, quaternions, 6D (PIXIE layout), Euler xyz, mirroring.

Pure tensor functions. Every function is batched over arbitrary leading dimensions ``...``,
works in float32 and float64 on any device, and is differentiable where the conversion is smooth.
Rotation matrices act on column vectors (``x' = R x``).

Conventions:

* **Axis-angle** ``(..., 3)``: direction = axis, norm = angle in radians (Rodrigues vector).
* **Quaternion** ``(..., 4)``: ``(w, x, y, z)``, scalar first.
* **6D** ``(..., 6)``: PIXIE's interleaved layout. The six numbers are the *rows* of a 3x2 matrix
  ``[[a0, a1], [a2, a3], [a4, a5]]``; its two columns are orthonormalised by Gram-Schmidt and the
  third column is their cross product. The identity is ``[1, 0, 0, 1, 0, 0]``.
* **Euler xyz** ``(..., 3)``: angles ``(x, y, z)`` in radians with ``R = Rx(x) @ Ry(y) @ Rz(z)``
  (intrinsic x-y-z), PIXIE's ``batch_euler2matrix``. The inverse returns ``y`` in
  ``[-pi/2, pi/2]`` and ``x, z`` in ``(-pi, pi]``; at gimbal lock (``|y| = pi/2``) ``z`` is set to 0,
  the choice PIXIE's ``_compute_euler_from_matrix`` makes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rome_smplx.checks import check_shape
from rome_smplx.errors import InputError


def contour_bins(rot: Tensor, num_bins: int) -> Tensor:
    """Row of the dynamic contour table for each head rotation (smplx / DECA binning).

    Args:
        rot: ``(B, 3, 3)`` head rotation (global times neck).
        num_bins: rows of the table (79 = yaw -39..39 degrees; rows 0..39 for yaw <= 0 in the
            smplx sign convention, rows 40..78 for the mirrored side).

    Returns:
        ``(B,)`` int64 row indices.
    """
    half = (num_bins - 1) // 2
    sy = torch.sqrt(rot[:, 0, 0] ** 2 + rot[:, 1, 0] ** 2)
    yaw = torch.atan2(-rot[:, 2, 0], sy)
    angle = torch.round(torch.clamp(-yaw * 180.0 / torch.pi, max=half)).to(torch.long)
    neg = angle < 0
    below = angle < -half
    neg_vals = torch.where(below, torch.full_like(angle, 2 * half), half - angle)
    return torch.where(neg, neg_vals, angle)


__all__ = [
    "contour_bins",
    "MIRROR_YZ",
    "axis_angle_to_matrix",
    "axis_angle_to_quaternion",
    "cont6d_to_matrix",
    "euler_xyz_to_matrix",
    "flip_pose",
    "matrix_to_axis_angle",
    "matrix_to_cont6d",
    "matrix_to_euler_xyz",
    "matrix_to_quaternion",
    "quaternion_to_axis_angle",
    "quaternion_to_matrix",
]

#: ``diag(1, -1, -1)``: a 180 degree rotation about x. ``flip_pose`` conjugates with it.
MIRROR_YZ = (1.0, -1.0, -1.0)


def _small_angle_mask(theta2: Tensor) -> Tensor:
    # Below this squared angle the Taylor series are exact to machine precision.
    eps = 1e-6 if theta2.dtype == torch.float64 else 1e-3
    return theta2 < eps * eps


def axis_angle_to_matrix(axis_angle: Tensor) -> Tensor:
    """Rodrigues' formula, stable at small angles.

    Args:
        axis_angle: ``(..., 3)`` rotation vectors.

    Returns:
        ``(..., 3, 3)`` rotation matrices.
    """
    check_shape(axis_angle, "...,3", "axis_angle", dtype="float")
    theta2 = (axis_angle * axis_angle).sum(-1)
    small = _small_angle_mask(theta2)
    safe2 = torch.where(small, torch.ones_like(theta2), theta2)
    theta = safe2.sqrt()
    # a = sin(t)/t, b = (1 - cos t)/t^2 with Taylor expansions near 0.
    a = torch.where(small, 1.0 - theta2 / 6.0 + theta2 * theta2 / 120.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0 + theta2 * theta2 / 720.0, (1.0 - torch.cos(theta)) / safe2)
    x, y, z = axis_angle.unbind(-1)
    zero = torch.zeros_like(x)
    K = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*x.shape, 3, 3)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return eye + a[..., None, None] * K + b[..., None, None] * (K @ K)


def quaternion_to_matrix(quaternion: Tensor) -> Tensor:
    """Unit quaternion ``(w, x, y, z)`` to rotation matrix (the input is normalised first).

    Args:
        quaternion: ``(..., 4)``.

    Returns:
        ``(..., 3, 3)``.
    """
    check_shape(quaternion, "...,4", "quaternion", dtype="float")
    q = quaternion / quaternion.norm(dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    m = torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        -1,
    )
    return m.reshape(*q.shape[:-1], 3, 3)


def matrix_to_quaternion(matrix: Tensor) -> Tensor:
    """Rotation matrix to unit quaternion ``(w, x, y, z)`` with ``w >= 0``.

    Uses the best conditioned of the four closed forms per matrix (Shepperd's method), so it is
    accurate for every rotation, including half-turns.

    Args:
        matrix: ``(..., 3, 3)``.

    Returns:
        ``(..., 4)``.
    """
    check_shape(matrix, "...,3,3", "matrix", dtype="float")
    m = matrix
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # 4*q_i^2 for i = w, x, y, z.
    four_sq = torch.stack(
        [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1
    )
    # Row k holds 4*q_k*q (all four components) computed from the off-diagonal terms.
    cands = torch.stack(
        [
            torch.stack([four_sq[..., 0], m21 - m12, m02 - m20, m10 - m01], -1),
            torch.stack([m21 - m12, four_sq[..., 1], m10 + m01, m02 + m20], -1),
            torch.stack([m02 - m20, m10 + m01, four_sq[..., 2], m12 + m21], -1),
            torch.stack([m10 - m01, m20 + m02, m21 + m12, four_sq[..., 3]], -1),
        ],
        -2,
    )
    best = four_sq.argmax(-1)
    denom = 2.0 * four_sq.gather(-1, best[..., None]).clamp_min(1e-12).sqrt()  # 4*|q_k|
    q = cands.gather(-2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2) / denom
    q = torch.where(q[..., :1] < 0, -q, q)
    return q / q.norm(dim=-1, keepdim=True)


def axis_angle_to_quaternion(axis_angle: Tensor) -> Tensor:
    """``(..., 3)`` rotation vectors to ``(..., 4)`` unit quaternions ``(w, x, y, z)``."""
    check_shape(axis_angle, "...,3", "axis_angle", dtype="float")
    theta2 = (axis_angle * axis_angle).sum(-1)
    small = _small_angle_mask(theta2)
    theta = torch.where(small, torch.ones_like(theta2), theta2).sqrt()
    half = 0.5 * theta
    k = torch.where(small, 0.5 - theta2 / 48.0, torch.sin(half) / theta)
    w = torch.where(small, 1.0 - theta2 / 8.0, torch.cos(half))
    return torch.cat([w[..., None], axis_angle * k[..., None]], -1)


def quaternion_to_axis_angle(quaternion: Tensor) -> Tensor:
    """``(..., 4)`` quaternions ``(w, x, y, z)`` to ``(..., 3)`` rotation vectors, angle in ``[0, pi]``."""
    check_shape(quaternion, "...,4", "quaternion", dtype="float")
    q = quaternion / quaternion.norm(dim=-1, keepdim=True)
    q = torch.where(q[..., :1] < 0, -q, q)
    w, v = q[..., 0], q[..., 1:]
    s2 = (v * v).sum(-1)
    small = _small_angle_mask(s2)
    s = torch.where(small, torch.ones_like(s2), s2).sqrt()
    angle = 2.0 * torch.atan2(s, w)
    # angle / sin(angle/2); near 0 use 2/w * (1 + s^2/(3 w^2)) (series of 2*atan(s/w)/s).
    k = torch.where(small, 2.0 / w * (1.0 - s2 / (3.0 * w * w)), angle / s)
    return v * k[..., None]


def matrix_to_axis_angle(matrix: Tensor) -> Tensor:
    """Rotation matrix to rotation vector (angle in ``[0, pi]``), accurate near 0 and near pi.

    Args:
        matrix: ``(..., 3, 3)``.

    Returns:
        ``(..., 3)``.
    """
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def cont6d_to_matrix(d6: Tensor) -> Tensor:
    """PIXIE's 6D representation (rows of a 3x2 matrix) to rotation matrices.

    ``b1 = normalize(a0, a2, a4)``, ``b2 = normalize(c2 - (b1 . c2) b1)`` with
    ``c2 = (a1, a3, a5)``, ``b3 = b1 x b2``; ``R = [b1 b2 b3]`` (as columns).

    Args:
        d6: ``(..., 6)``.

    Returns:
        ``(..., 3, 3)``.
    """
    check_shape(d6, "...,6", "d6", dtype="float")
    a = d6.reshape(*d6.shape[:-1], 3, 2)
    b1 = F.normalize(a[..., 0], dim=-1)
    c2 = a[..., 1]
    b2 = F.normalize(c2 - (b1 * c2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def matrix_to_cont6d(matrix: Tensor) -> Tensor:
    """Rotation matrices to PIXIE's 6D layout: the first two columns, read row by row.

    Args:
        matrix: ``(..., 3, 3)``.

    Returns:
        ``(..., 6)`` = ``[R00, R01, R10, R11, R20, R21]``.
    """
    check_shape(matrix, "...,3,3", "matrix", dtype="float")
    return matrix[..., :, :2].reshape(*matrix.shape[:-2], 6)


def euler_xyz_to_matrix(euler: Tensor) -> Tensor:
    """Euler angles to matrices, ``R = Rx(x) @ Ry(y) @ Rz(z)`` (PIXIE's ``batch_euler2matrix``).

    Args:
        euler: ``(..., 3)`` angles ``(x, y, z)`` in radians.

    Returns:
        ``(..., 3, 3)``.
    """
    check_shape(euler, "...,3", "euler", dtype="float")
    cx, cy, cz = torch.cos(euler).unbind(-1)
    sx, sy, sz = torch.sin(euler).unbind(-1)
    m = torch.stack(
        [
            cy * cz, -cy * sz, sy,
            cx * sz + sx * sy * cz, cx * cz - sx * sy * sz, -sx * cy,
            sx * sz - cx * sy * cz, sx * cz + cx * sy * sz, cx * cy,
        ],
        -1,
    )
    return m.reshape(*euler.shape[:-1], 3, 3)


def matrix_to_euler_xyz(matrix: Tensor) -> Tensor:
    """Inverse of :func:`euler_xyz_to_matrix` (PIXIE's ``_compute_euler_from_matrix``, seq 'xyz').

    ``y = asin(R02)`` in ``[-pi/2, pi/2]``, ``x = atan2(-R12, R22)``, ``z = atan2(-R01, R00)``. At
    gimbal lock (``cos y`` below 1e-7 in float64 / 1e-6 in float32) ``z = 0`` and
    ``x = atan2(R21, R11)``.

    Args:
        matrix: ``(..., 3, 3)``.

    Returns:
        ``(..., 3)`` angles ``(x, y, z)`` in radians.
    """
    check_shape(matrix, "...,3,3", "matrix", dtype="float")
    r02 = matrix[..., 0, 2]
    cy = torch.sqrt(matrix[..., 0, 0] ** 2 + matrix[..., 0, 1] ** 2)
    y = torch.atan2(r02, cy)
    eps = 1e-7 if matrix.dtype == torch.float64 else 1e-6
    locked = cy < eps
    x = torch.where(
        locked,
        torch.atan2(matrix[..., 2, 1], matrix[..., 1, 1]),
        torch.atan2(-matrix[..., 1, 2], matrix[..., 2, 2]),
    )
    z = torch.where(locked, torch.zeros_like(y), torch.atan2(-matrix[..., 0, 1], matrix[..., 0, 0]))
    return torch.stack([x, y, z], -1)


def flip_pose(matrix: Tensor) -> Tensor:
    """Mirror rotations across the y-z plane: ``M R M`` with ``M = diag(1, -1, -1)``.

    This is PIXIE's ``util.flip_pose``: it negates entries (0,1), (0,2), (1,0) and (2,0). It is an
    involution (applying it twice gives the input back).

    Args:
        matrix: ``(..., 3, 3)``.

    Returns:
        ``(..., 3, 3)``.
    """
    check_shape(matrix, "...,3,3", "matrix", dtype="float")
    sign = torch.tensor(MIRROR_YZ, dtype=matrix.dtype, device=matrix.device)
    return matrix * sign[:, None] * sign[None, :]
