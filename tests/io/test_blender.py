"""Blender (bpy 5.0) imports the rigged GLB: one armature of SMPL-X's joints, vertex groups, shape keys;
posing it and playing the animation give our skinning within 1 mm; exporting again keeps the skin."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rome_smplx.avatar.export import export_rigged, sample_poses
from rome_smplx.io import gltf
from rome_smplx.io.motion import Motion
from rome_smplx.types import SmplxParams

pytestmark = pytest.mark.slow

MM = 1e-3


def _motion(T: int, J: int) -> Motion:
    g = torch.Generator().manual_seed(11)
    R = torch.as_tensor(sample_poses(J, T, seed=12, scale=0.35))
    return Motion(SmplxParams(
        betas=torch.zeros(T, 10, dtype=torch.float64), expression=0.3 * torch.randn(T, 50, generator=g, dtype=torch.float64),
        global_orient=R[:, 0], body_pose=R[:, 1:22], jaw_pose=R[:, 22], leye_pose=R[:, 23], reye_pose=R[:, 24],
        left_hand_pose=R[:, 25:40], right_hand_pose=R[:, 40:55],
        transl=0.1 * torch.randn(T, 3, generator=g, dtype=torch.float64)), fps=24.0, source="wave")


@pytest.fixture(scope="module")
def rigged(smplx_rig, tmp_path_factory):
    rig = smplx_rig[0]
    motion = _motion(4, rig.joints.shape[0])
    tex = (np.random.default_rng(3).random((256, 256, 3)) * 255).astype(np.uint8)
    path = tmp_path_factory.mktemp("rigged") / "avatar.glb"
    report = export_rigged(path, rig, motion=motion, morphs=("expression", "jaw"), texture=tex)
    return path, report, motion


def test_import_gives_one_armature_with_the_joints(blender, rigged, smplx_rig, decode_glb):
    from smplx.joint_names import JOINT_NAMES

    rig = smplx_rig[0]
    path, report, _ = rigged
    info, arrays = blender({"glb": str(path), "weights": True})
    J = rig.joints.shape[0]
    names = list(JOINT_NAMES[:J])
    assert info["armatures"] == 1 and info["skinned_meshes"] == 1
    assert sorted(info["bones"]) == sorted(names) and len(info["bones"]) == J
    want_parent = {n: (names[p] if p >= 0 else None) for n, p in zip(names, rig.parents)}
    assert info["bone_parents"] == want_parent
    assert sorted(info["vertex_groups"]) == sorted(names)
    assert info["shape_keys"] == ["Basis"] + report.morph_targets
    assert len(info["actions"]) >= 1 and info["images"]
    d = decode_glb(path)
    np.testing.assert_allclose(arrays["rest"], d["attributes"]["POSITION"], atol=1e-6)  # same vertices, same order
    # vertex groups hold our 4 weights per vertex
    W = np.zeros_like(arrays["weights"])
    order = [info["bones"].index(n) for n in names]
    idx = d["attributes"]["JOINTS_0"].astype(np.int64)
    for k in range(4):
        np.add.at(W, (np.arange(len(W)), np.asarray(order)[idx[:, k]]), d["attributes"]["WEIGHTS_0"][:, k])
    np.testing.assert_allclose(arrays["weights"], W, atol=1e-6)


def test_posing_in_blender_matches_our_skinning(blender, rigged, smplx_rig, decode_glb, tmp_path):
    """Pose bones set from a motion frame; the evaluated mesh equals LBS without correctives within 1 mm."""
    from smplx.lbs import lbs

    rig, layer, betas = smplx_rig
    path, _, motion = rigged
    d = decode_glb(path)
    src = d["attributes"]["_SOURCE_VERTEX"][:, 0].astype(np.int64)
    from rome_smplx.avatar.export import full_pose

    R = full_pose(motion.params)
    tr = motion.params.transl.numpy()
    worst_ours = worst_smplx = 0.0
    for t in range(2):
        A = gltf._world_transforms(rig.joints, rig.parents, R[t:t + 1], tr[t:t + 1])[0]
        np.savez(tmp_path / f"pose{t}.npz", names=np.array([n for n in rig.joint_names]), skinning=A)
        _, arrays = blender({"glb": str(path), "pose": str(tmp_path / f"pose{t}.npz")})
        idx, w = gltf.top_k_weights(rig.weights)
        ours = gltf.skin_vertices(rig.template, rig.joints, rig.parents, w, R[t:t + 1], tr[t:t + 1], joint_index=idx)
        worst_ours = max(worst_ours, float(np.linalg.norm(arrays["posed"] - ours[0][src], axis=1).max()))
        v, _ = lbs(betas, torch.as_tensor(R[t:t + 1]), layer.v_template, layer.shapedirs,
                   torch.zeros_like(layer.posedirs), layer.J_regressor, layer.parents, layer.lbs_weights, pose2rot=False)
        ref = v[0].numpy() + tr[t]
        worst_smplx = max(worst_smplx, float(np.linalg.norm(arrays["posed"] - ref[src], axis=1).max()))
    print(f"blender pose vs our 4-weight LBS: {worst_ours / MM:.4f} mm; vs smplx LBS: {worst_smplx / MM:.4f} mm")
    assert worst_ours < 1 * MM and worst_smplx < 1 * MM


def test_animation_plays_back_like_the_file(blender, rigged, smplx_rig, decode_glb, evaluate_glb):
    """Blender's playback of the action (rotations, root translation, shape-key weights) at keyframes."""
    from smplx.lbs import lbs

    rig, layer, betas = smplx_rig
    path, report, motion = rigged
    d = decode_glb(path)
    src = d["attributes"]["_SOURCE_VERTEX"][:, 0].astype(np.int64)
    p = motion.params
    with torch.no_grad():
        full = layer(betas=betas.expand(len(motion), -1), expression=p.expression, global_orient=p.global_orient,
                     body_pose=p.body_pose, jaw_pose=p.jaw_pose, leye_pose=p.leye_pose, reye_pose=p.reye_pose,
                     left_hand_pose=p.left_hand_pose, right_hand_pose=p.right_hand_pose, transl=p.transl).vertices
    del lbs
    for t in (1, 3):  # fps 24 = Blender's default scene rate: keyframe t is frame t
        _, arrays = blender({"glb": str(path), "frame": t})
        err_file = float(np.linalg.norm(arrays["posed"] - evaluate_glb(d, t), axis=1).max())
        err_smplx = float(np.linalg.norm(arrays["posed"] - full[t].numpy()[src], axis=1).max())
        bound = report.truncation_error_m + report.corrective_error_m + report.expression_joint_error_m
        assert err_file < 1 * MM, err_file
        assert err_smplx < bound + 1 * MM, (err_smplx, bound)


def test_reexport_from_blender_keeps_the_skin(blender, rigged, smplx_rig, decode_glb, evaluate_glb, tmp_path):
    from smplx.joint_names import JOINT_NAMES

    rig = smplx_rig[0]
    path, _, _ = rigged
    out = tmp_path / "again.glb"
    blender({"glb": str(path), "reexport": str(out)})
    d = decode_glb(out)
    g = d["gltf"]
    assert len(g.skins) == 1 and len(d["skin_joints"]) == rig.joints.shape[0]
    assert sorted(g.nodes[j].name for j in d["skin_joints"]) == sorted(JOINT_NAMES[: rig.joints.shape[0]])
    assert "JOINTS_0" in d["attributes"] and "WEIGHTS_0" in d["attributes"]
    np.testing.assert_allclose(d["attributes"]["WEIGHTS_0"].sum(1), 1.0, atol=1e-3)
    # the skin still binds the same surface: each re-exported vertex lies on our rest mesh
    from scipy.spatial import cKDTree

    dist, _ = cKDTree(rig.template).query(d["attributes"]["POSITION"])
    assert dist.max() < 1e-5
    # and the re-exported file's own skinning at its bind pose is the rest mesh
    rest = evaluate_glb(dict(d, mesh_weights=np.zeros_like(d["mesh_weights"])))
    assert np.linalg.norm(rest - d["attributes"]["POSITION"], axis=1).max() < 1e-4
