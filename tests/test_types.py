"""The dataclasses of tensors: defaults, validation messages, ``to``/``detach``/``index``, Similarity
algebra, and SMPL-X joints by name."""

from __future__ import annotations

import math

import pytest
import torch
from smplx.joint_names import JOINT_NAMES

from rome_smplx.errors import InputError, ShapeError
from rome_smplx.geometry.rotations import axis_angle_to_matrix
from rome_smplx.types import (
    NUM_BODY_JOINTS,
    FlameParams,
    HeadReconstruction,
    Similarity,
    SmplxParams,
    body_pose_index,
    smplx_joint,
)


def _flame(b: int = 2) -> FlameParams:
    g = torch.Generator().manual_seed(0)
    return FlameParams(shape=torch.randn(b, 100, generator=g), expression=torch.randn(b, 50, generator=g),
                       jaw_rot=axis_angle_to_matrix(0.1 * torch.randn(b, 3, generator=g)))


def test_flame_defaults_are_identity_rotations() -> None:
    f = FlameParams(shape=torch.zeros(3, 100), expression=torch.zeros(3, 50))
    eye = torch.eye(3)
    assert torch.equal(f.global_rot, eye.expand(3, 3, 3)) and torch.equal(f.neck_rot, eye.expand(3, 3, 3))
    assert torch.equal(f.eye_rots, eye.expand(3, 2, 3, 3))
    assert f.cam is None and f.batch_size == 3
    f.jaw_rot[0, 0, 0] = 5.0  # each default is its own tensor, not a view of a shared one
    assert f.global_rot[0, 0, 0] == 1.0 and f.jaw_rot[1, 0, 0] == 1.0


def test_fields_are_validated_with_their_names() -> None:
    with pytest.raises(ShapeError, match=r"FlameParams\.expression: expected a tensor of shape \(B, E\) with B=2, found \(3, 50\)"):
        FlameParams(shape=torch.zeros(2, 100), expression=torch.zeros(3, 50))
    with pytest.raises(InputError, match=r"FlameParams\.jaw_rot: expected a tensor of shape \(B, 3, 3\) with B=2, found \(2, 3\)"):
        FlameParams(shape=torch.zeros(2, 100), expression=torch.zeros(2, 50), jaw_rot=torch.zeros(2, 3))
    with pytest.raises(InputError, match=r"SmplxParams\.body_pose: expected a tensor of shape \(B, 21, 3, 3\) with B=1, found list"):
        SmplxParams(betas=torch.zeros(1, 10), expression=torch.zeros(1, 10), body_pose=[[0.0]])
    bad = torch.zeros(1, 3)
    bad[0, 1] = math.nan
    with pytest.raises(InputError, match=r"SmplxParams\.cam: contains NaN or inf"):
        SmplxParams(betas=torch.zeros(1, 10), expression=torch.zeros(1, 10), cam=bad)
    with pytest.raises(InputError, match="SmplxParams.frame: expected 'y_up' or 'y_down'"):
        SmplxParams(betas=torch.zeros(1, 10), expression=torch.zeros(1, 10), frame="z_up")


def test_to_detach_and_index_keep_the_numbers() -> None:
    f = _flame(3)
    d = f.to(torch.float64)
    assert d.shape.dtype == torch.float64 and d.jaw_rot.dtype == torch.float64
    torch.testing.assert_close(d.jaw_rot, f.jaw_rot.double(), rtol=0, atol=0)
    torch.testing.assert_close(d.to(torch.float32).expression, f.expression, rtol=0, atol=0)
    one = f.index(1)
    assert one.batch_size == 1
    torch.testing.assert_close(one.jaw_rot[0], f.jaw_rot[1], rtol=0, atol=0)
    two = f.index(torch.tensor([2, 0]))
    torch.testing.assert_close(two.shape, f.shape[[2, 0]], rtol=0, atol=0)
    w = f.shape.clone().requires_grad_(True)
    g = FlameParams(shape=w, expression=f.expression).detach()
    assert not g.shape.requires_grad and torch.equal(g.shape, f.shape)


def test_head_reconstruction_index_keeps_unbatched_fields() -> None:
    faces = torch.tensor([[0, 1, 2]])
    rec = HeadReconstruction(texture=torch.rand(2, 8, 4, 4), offsets=torch.rand(2, 3, 3), vertices=torch.rand(2, 3, 3),
                             faces=faces, uv_faces=faces, uvs=torch.rand(3, 2), flame=_flame(2))
    one = rec.index(1).to(torch.float64)
    assert one.batch_size == 1 and one.faces.dtype == torch.long and torch.equal(one.faces, faces)
    torch.testing.assert_close(one.offsets[0], rec.offsets[1].double(), rtol=0, atol=0)
    torch.testing.assert_close(one.flame.shape[0], rec.flame.shape[1].double(), rtol=0, atol=0)


def test_similarity_apply_inverse_and_rotate() -> None:
    g = torch.Generator().manual_seed(1)
    R = axis_angle_to_matrix(torch.randn(2, 3, generator=g, dtype=torch.float64))
    sim = Similarity(torch.tensor([0.5, 2.0], dtype=torch.float64), R, torch.randn(2, 3, generator=g, dtype=torch.float64))
    x = torch.randn(2, 7, 3, generator=g, dtype=torch.float64)
    want = sim.scale[:, None, None] * x @ R.transpose(1, 2) + sim.translation[:, None]
    torch.testing.assert_close(sim.apply(x), want)
    torch.testing.assert_close(sim.inverse().apply(sim.apply(x)), x)
    n = torch.nn.functional.normalize(x, dim=-1)
    torch.testing.assert_close(sim.rotate(n).norm(dim=-1), torch.ones(2, 7, dtype=torch.float64))
    with pytest.raises(InputError, match="Similarity.scale: expected positive"):
        Similarity(torch.tensor([0.0]), torch.eye(3)[None], torch.zeros(1, 3))
    with pytest.raises(InputError, match=r"Similarity\.apply\.vectors: expected a tensor of shape \(B, N, 3\) with B=2"):
        sim.apply_vectors(x[:1])


def test_joints_by_smplx_names() -> None:
    assert smplx_joint("pelvis") == 0 and smplx_joint("neck") == 12 and smplx_joint("head") == 15
    assert smplx_joint("jaw") == 22 and smplx_joint("right_elbow") == 19
    for i, name in enumerate(JOINT_NAMES[1:1 + NUM_BODY_JOINTS]):
        assert body_pose_index(name) == i
    assert body_pose_index("head") == 14 and body_pose_index("left_wrist") == 19
    for bad in ("pelvis", "jaw", "left_index1"):
        with pytest.raises(InputError, match=f"joint '{bad}': not one of the 21 joints"):
            body_pose_index(bad)
    with pytest.raises(InputError, match="not an SMPL-X skeleton joint"):
        smplx_joint("nose")  # one of smplx's landmark names, not a skeleton joint
    with pytest.raises(InputError, match="not an SMPL-X skeleton joint"):
        smplx_joint("elbow")
