"""Motion files: AMASS-style npz (SMPL-X and SMPL-H layouts), PIXIE folders, our npz, resampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rome_smplx.errors import InputError
from rome_smplx.io.motion import Motion, load_amass, load_motion, load_pixie_folder, resample, save_motion
from rome_smplx.types import SmplxParams


def _rz(theta: float) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rx(theta: float) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _amass(path, T=5, dim=165, fps_key="mocap_frame_rate", fps=60.0, **extra):
    """An AMASS-style file whose joint j (0-based, pose layout) at frame t rotates about z by 0.01 (j+1) (t+1),
    except the global orientation, which rotates about x by 0.1 t."""
    poses = np.zeros((T, dim))
    for t in range(T):
        for j in range(dim // 3):
            poses[t, 3 * j + 2] = 0.01 * (j + 1) * (t + 1)
        poses[t, 0:3] = [0.1 * t, 0.0, 0.0]
    arrays = {"poses": poses, "trans": np.arange(3 * T, dtype=np.float64).reshape(T, 3), "betas": np.linspace(-1, 1, 16),
              "gender": np.array("neutral"), fps_key: np.array(fps)}
    arrays.update(extra)
    np.savez(path, **arrays)
    return poses


def test_amass_smplx_layout_gives_the_expected_matrices(tmp_path):
    path = tmp_path / "walk_stageii.npz"
    _amass(path)
    m = load_amass(path, up="y")
    p = m.params
    assert len(m) == 5 and m.fps == 60.0 and p.frame == "y_up"
    for t in range(5):
        # body joint 1 is pose entry 1 (after global): 0.02 (t+1) about z
        np.testing.assert_allclose(p.body_pose[t, 0].numpy(), _rz(0.02 * (t + 1)), atol=1e-6)
        np.testing.assert_allclose(p.body_pose[t, 20].numpy(), _rz(0.01 * 22 * (t + 1)), atol=1e-6)
        np.testing.assert_allclose(p.jaw_pose[t].numpy(), _rz(0.01 * 23 * (t + 1)), atol=1e-6)
        np.testing.assert_allclose(p.leye_pose[t].numpy(), _rz(0.01 * 24 * (t + 1)), atol=1e-6)
        np.testing.assert_allclose(p.reye_pose[t].numpy(), _rz(0.01 * 25 * (t + 1)), atol=1e-6)
        np.testing.assert_allclose(p.left_hand_pose[t, 0].numpy(), _rz(0.01 * 26 * (t + 1)), atol=1e-6)
        np.testing.assert_allclose(p.right_hand_pose[t, 14].numpy(), _rz(0.01 * 55 * (t + 1)), atol=1e-6)
        np.testing.assert_allclose(p.global_orient[t].numpy(), _rx(0.1 * t), atol=1e-6)
    np.testing.assert_allclose(p.transl.numpy(), np.arange(15).reshape(5, 3), atol=1e-6)
    assert p.betas.shape == (5, 16) and torch.allclose(p.betas[3], torch.linspace(-1, 1, 16))


def test_amass_z_up_is_turned_to_y_up(tmp_path):
    path = tmp_path / "a.npz"
    _amass(path)
    y = load_amass(path, up="y").params
    z = load_amass(path).params  # default: AMASS's z-up world
    m = torch.tensor(_rx(-math.pi / 2), dtype=torch.float32)
    torch.testing.assert_close(z.global_orient, m @ y.global_orient, atol=1e-6, rtol=0)
    torch.testing.assert_close(z.transl, y.transl @ m.T, atol=1e-5, rtol=0)
    torch.testing.assert_close(z.body_pose, y.body_pose)  # parent-relative rotations do not change
    # z-up "up" (0, 0, 1) becomes y-up "up".
    torch.testing.assert_close(m @ torch.tensor([0.0, 0.0, 1.0]), torch.tensor([0.0, 1.0, 0.0]), atol=1e-6, rtol=0)


def test_amass_smplh_layout_and_split_keys(tmp_path):
    h = tmp_path / "smplh.npz"
    _amass(h, dim=156, fps_key="mocap_framerate", fps=120.0)
    m = load_amass(h, up="y")
    assert m.fps == 120.0
    eye = torch.eye(3).expand(5, 3, 3)
    torch.testing.assert_close(m.params.jaw_pose, eye)
    torch.testing.assert_close(m.params.leye_pose, eye)
    # SMPL-H: the left hand follows the body directly (pose entry 22).
    np.testing.assert_allclose(m.params.left_hand_pose[2, 0].numpy(), _rz(0.01 * 23 * 3), atol=1e-6)

    full = tmp_path / "full.npz"
    poses = _amass(full)
    split = tmp_path / "split.npz"
    np.savez(split, root_orient=poses[:, :3], pose_body=poses[:, 3:66], pose_jaw=poses[:, 66:69],
             pose_eye=poses[:, 69:75], pose_hand=poses[:, 75:], mocap_frame_rate=np.array(60.0))
    a, b = load_amass(full, up="y").params, load_amass(split, up="y").params
    for name in ("global_orient", "body_pose", "jaw_pose", "leye_pose", "reye_pose", "left_hand_pose", "right_hand_pose"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name))


def test_save_load_round_trip(tmp_path):
    src = tmp_path / "a.npz"
    _amass(src, T=7)
    m = load_motion(src)
    out = save_motion(tmp_path / "ours.npz", m)
    back = load_motion(out)
    assert back.fps == m.fps and len(back) == 7
    for name in ("betas", "expression", "global_orient", "body_pose", "jaw_pose", "left_hand_pose", "transl"):
        torch.testing.assert_close(getattr(back.params, name), getattr(m.params, name))
    assert not list(tmp_path.glob(".*tmp*"))


def test_pixie_folder(synthetic_dir_small, tmp_path):
    from rome_smplx.bridges import pixie

    from rome_smplx.geometry.rotations import axis_angle_to_matrix

    base = pixie.load(synthetic_dir_small / "people" / "person_000" / "person_000_param.pkl")
    for i in (2, 0, 1):  # written out of order: the reader sorts by name
        p = base.index(0)
        p.body_pose = p.body_pose.clone()
        p.body_pose[:, 17] = axis_angle_to_matrix(torch.tensor([[0.0, 0.0, 0.3 * i]]))
        pixie.save_param_pkl(tmp_path / f"frame_{i:04d}_param.pkl", p)
    m = load_pixie_folder(tmp_path, fps=25)
    assert len(m) == 3 and m.fps == 25 and m.params.frame == "y_up"
    for i in range(3):
        torch.testing.assert_close(m.params.body_pose[i, 17], axis_angle_to_matrix(torch.tensor([0.0, 0.0, 0.3 * i])),
                                   atol=1e-5, rtol=0)
    torch.testing.assert_close(m.params.global_orient[0], pixie.to_y_up(base).global_orient[0], atol=1e-6, rtol=0)
    assert load_motion(tmp_path, fps=25).params.batch_size == 3


def _turning(T: int, fps: float, step: float) -> Motion:
    from rome_smplx.geometry.rotations import axis_angle_to_matrix

    angles = torch.arange(T, dtype=torch.float64) * step
    aa = torch.zeros(T, 3, dtype=torch.float64)
    aa[:, 1] = angles
    body = torch.eye(3, dtype=torch.float64).expand(T, 21, 3, 3).clone()
    body[:, 3] = axis_angle_to_matrix(aa)
    params = SmplxParams(betas=torch.zeros(T, 10, dtype=torch.float64), expression=torch.zeros(T, 10, dtype=torch.float64),
                         global_orient=axis_angle_to_matrix(aa), body_pose=body,
                         transl=torch.stack([angles, angles * 0, angles * 0], 1))
    return Motion(params, fps, "turning")


def test_resample_slerp_hits_the_analytic_midpoints():
    from rome_smplx.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle

    m = _turning(5, 10.0, 0.4)  # 0.4 s long
    up = resample(m, 20.0)
    assert len(up) == 9 and up.fps == 20.0
    want = torch.zeros(9, 3, dtype=torch.float64)
    want[:, 1] = torch.arange(9, dtype=torch.float64) * 0.2
    torch.testing.assert_close(up.params.global_orient, axis_angle_to_matrix(want), atol=1e-10, rtol=0)
    torch.testing.assert_close(up.params.body_pose[:, 3], axis_angle_to_matrix(want), atol=1e-10, rtol=0)
    torch.testing.assert_close(up.params.transl[:, 0], want[:, 1], atol=1e-12, rtol=0)
    # Slerp keeps a constant angular speed even for large steps (lerp of matrices would not).
    big = resample(_turning(3, 1.0, 2.0), 4.0)
    steps = big.params.global_orient[1:] @ big.params.global_orient[:-1].transpose(-1, -2)
    torch.testing.assert_close(matrix_to_axis_angle(steps)[:, 1], torch.full((8,), 0.5, dtype=torch.float64),
                               atol=1e-9, rtol=0)
    down = resample(m, 5.0, method="nearest")
    assert len(down) == 3
    torch.testing.assert_close(down.params.global_orient, m.params.global_orient[[0, 2, 4]])
    assert len(m.subsample(2)) == 3 and m.subsample(2).fps == 5.0


def _write(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"poses": np.zeros((4, 99))}, r"key 'poses': expected shape \(T, 165\).*found \(4, 99\)"),
        ({"trans": np.zeros((4, 3))}, r"missing key 'poses'"),
        ({"poses": np.zeros((4, 165)), "trans": np.zeros((5, 3))}, r"key 'trans': expected shape \(4, 3\), found \(5, 3\)"),
        ({"poses": np.full((4, 165), np.nan)}, r"key 'poses': contains NaN"),
        ({"poses": np.zeros((4, 165)), "mocap_frame_rate": np.array(-1.0)}, r"positive frame rate"),
        ({"poses": np.zeros((4, 165)), "betas": np.array([[1, 2]] * 3, dtype=float)}, r"key 'betas': expected shape \(4, \*\)"),
        ({"poses": np.zeros((4, 165)), "betas": np.array([object()], dtype=object)}, r"key 'betas': cannot read without unpickling"),
    ],
)
def test_bad_amass_files_name_file_key_and_shape(tmp_path, arrays, message):
    path = _write(tmp_path / "bad.npz", **arrays)
    with pytest.raises(InputError, match=message) as e:
        load_motion(path)
    assert str(path) in str(e.value)


def test_bad_files_and_sources(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_motion(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a readable .npz"):
        load_motion(tmp_path / "junk.npz")
    (tmp_path / "motion.bvh").write_text("HIERARCHY")
    with pytest.raises(InputError, match="unsupported motion source"):
        load_motion(tmp_path / "motion.bvh")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no PIXIE parameter files"):
        load_motion(tmp_path / "empty")
    # Our format: a non-rotation matrix is refused, with the key and index.
    m = _turning(3, 10.0, 0.1)
    path = save_motion(tmp_path / "ours.npz", m)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["body_pose"][1, 3] *= 2.0
    _write(tmp_path / "scaled.npz", **arrays)
    with pytest.raises(InputError, match=r"key 'body_pose': expected rotation matrices.*index \(1, 3\)"):
        load_motion(tmp_path / "scaled.npz")
    arrays["rome_smplx_motion"] = np.array(99)
    _write(tmp_path / "future.npz", **arrays)
    with pytest.raises(InputError, match="format version 1, found 99"):
        load_motion(tmp_path / "future.npz")
    with pytest.raises(InputError, match="frame rate is unknown"):
        resample(Motion(m.params, None), 30.0)
    with pytest.raises(InputError, match=r"written as \.npz"):
        save_motion(tmp_path / "m.pkl", m)
