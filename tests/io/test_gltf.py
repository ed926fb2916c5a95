"""GLB files: glTF semantics read back independently agree with smplx; the Khronos validator accepts them."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
import torch

from rome_smplx.avatar.export import export_rigged, full_pose, sample_poses
from rome_smplx.errors import InputError
from rome_smplx.io import gltf
from rome_smplx.io.motion import Motion, save_motion
from rome_smplx.types import SmplxParams


def _motion(T: int, num_joints: int, expression_scale: float, seed: int = 0) -> Motion:
    g = torch.Generator().manual_seed(seed)
    R = torch.as_tensor(sample_poses(num_joints, T, seed=seed + 1, scale=0.3))
    R[:, 0] = torch.as_tensor(sample_poses(1, T, seed=seed + 2, scale=0.5))[:, 0]  # the root turns too
    return Motion(SmplxParams(
        betas=torch.zeros(T, 10, dtype=torch.float64),
        expression=expression_scale * torch.randn(T, 50, generator=g, dtype=torch.float64),
        global_orient=R[:, 0], body_pose=R[:, 1:22], jaw_pose=R[:, 22], leye_pose=R[:, 23], reye_pose=R[:, 24],
        left_hand_pose=R[:, 25:40], right_hand_pose=R[:, 40:55],
        transl=0.2 * torch.randn(T, 3, generator=g, dtype=torch.float64)), fps=25.0, source="test")


def _smplx(layer, betas, p: SmplxParams) -> np.ndarray:
    T = p.batch_size
    with torch.no_grad():
        out = layer(betas=betas.expand(T, -1), expression=p.expression, global_orient=p.global_orient,
                    body_pose=p.body_pose, jaw_pose=p.jaw_pose, leye_pose=p.leye_pose, reye_pose=p.reye_pose,
                    left_hand_pose=p.left_hand_pose, right_hand_pose=p.right_hand_pose, transl=p.transl)
    return out.vertices.numpy()


# ------------------------------------------------------------------------------------- pure helpers
def test_top_k_weights_renormalise_exactly():
    rng = np.random.default_rng(0)
    w = rng.random((500, 55)) ** 8
    w[:10] = 0.0
    w[:10, 3] = 1.0  # single-influence vertices
    w /= w.sum(1, keepdims=True)
    idx, top = gltf.top_k_weights(w)
    assert top.dtype == np.float32 and idx.shape == (500, 4)
    assert np.abs(top.sum(1, dtype=np.float32) - np.float32(1.0)).max() <= 2.5e-7  # two float32 ulps
    np.testing.assert_array_equal(idx[:, 0], w.argmax(1))
    ref = np.sort(w, 1)[:, ::-1][:, :4]
    np.testing.assert_allclose(top, ref / ref.sum(1, keepdims=True), atol=2e-7)
    assert (idx[:10, 1:] == 0).all() and (top[:10, 1:] == 0).all()  # unused slots: joint 0, weight 0
    with pytest.raises(InputError, match="no positive weight"):
        gltf.top_k_weights(np.zeros((2, 5)))


def test_split_uv_seams_maps_back():
    faces = np.array([[0, 1, 2], [2, 1, 3], [3, 1, 4]])
    uv_faces = np.array([[0, 1, 2], [2, 1, 3], [5, 4, 6]])  # vertices 1 and 3 sit on a seam
    src, src_uv, f = gltf.split_uv_seams(faces, uv_faces)
    np.testing.assert_array_equal(src[f], faces)
    np.testing.assert_array_equal(src_uv[f], uv_faces)
    assert len(src) == 7 and len(set(zip(src.tolist(), src_uv.tolist()))) == 7
    assert (np.diff(src) >= 0).all()


def test_quaternions_round_trip():
    from rome_smplx.geometry.rotations import axis_angle_to_matrix, quaternion_to_matrix

    aa = torch.randn(200, 3, dtype=torch.float64) * 2.0
    aa[0] = torch.tensor([np.pi, 0, 0])  # 180 degree turns are the hard case
    aa[1] = torch.tensor([0, np.pi, 0])
    R = axis_angle_to_matrix(aa).numpy()
    q = gltf.matrix_to_quaternion_np(R)
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-12)
    back = quaternion_to_matrix(torch.as_tensor(q[:, [3, 0, 1, 2]])).numpy()  # (w, x, y, z) there
    np.testing.assert_allclose(back, R, atol=1e-9)


def test_skin_vertices_is_smplx_lbs_without_correctives(smplx_rig):
    from smplx.lbs import lbs

    rig, layer, betas = smplx_rig
    R = torch.as_tensor(sample_poses(rig.joints.shape[0], 3, seed=5))
    v, _ = lbs(betas.expand(3, -1), R, layer.v_template, layer.shapedirs, torch.zeros_like(layer.posedirs),
               layer.J_regressor, layer.parents, layer.lbs_weights, pose2rot=False)
    ours = gltf.skin_vertices(rig.template, rig.joints, rig.parents, rig.weights, R.numpy())
    np.testing.assert_allclose(ours, v.numpy(), atol=1e-9)


def test_pose_correctives_bake_and_reproduce(smplx_rig):
    rig, layer, betas = smplx_rig
    R = sample_poses(rig.joints.shape[0], 12, seed=7)
    offs = gltf.pose_correctives(rig.posedirs, R)
    targets, w, err = gltf.bake_pose_correctives(offs, max_targets=16, tolerance=1e-5)
    assert targets.shape[0] <= 16 and w.shape == (12, targets.shape[0])
    real = float(np.linalg.norm(np.einsum("tk,kvc->tvc", w, targets) - offs, axis=-1).max())
    assert real <= err + 1e-12 and err <= 1e-5
    assert np.abs(w).max() <= 1.0 + 1e-9
    none = gltf.bake_pose_correctives(np.zeros((3, 10, 3)))
    assert none[0].shape[0] == 0 and none[2] == 0.0


# ------------------------------------------------------------------------------------- files
def test_static_textured_glb_round_trips(smplx_rig, tmp_path, decode_glb, gltf_validator):
    import trimesh

    rig = smplx_rig[0]
    tex = (np.random.default_rng(1).random((64, 128, 3)) * 255).astype(np.uint8)
    path = gltf.write_glb(tmp_path / "t.glb", gltf.GltfMesh(rig.template, rig.faces, uvs=rig.uvs,
                                                               uv_faces=rig.uv_faces, texture=tex))
    d = decode_glb(path)
    src = d["attributes"]["_SOURCE_VERTEX"][:, 0].astype(np.int64)
    assert d["gltf"].meshes[0].extras["source_vertex_count"] == len(rig.template)
    np.testing.assert_allclose(d["attributes"]["POSITION"], rig.template[src], atol=1e-6)
    np.testing.assert_array_equal(src[d["indices"]], rig.faces)
    # the UV of every face corner is the source layout's, with glTF's v flipped
    corner_uv = d["attributes"]["TEXCOORD_0"][d["indices"]]
    want = rig.uvs[rig.uv_faces]
    np.testing.assert_allclose(corner_uv[..., 0], want[..., 0], atol=1e-6)
    np.testing.assert_allclose(1.0 - corner_uv[..., 1], want[..., 1], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(d["attributes"]["NORMAL"], axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(d["texture"], tex)
    mat = d["gltf"].materials[0].pbrMetallicRoughness
    assert mat.baseColorTexture.index == 0
    # trimesh reads the same mesh
    tm = trimesh.load(path, force="mesh", process=False)
    np.testing.assert_allclose(tm.vertices, rig.template[src], atol=1e-6)
    np.testing.assert_array_equal(src[tm.faces], rig.faces)
    np.testing.assert_allclose(tm.visual.uv[:, 0], d["attributes"]["TEXCOORD_0"][:, 0], atol=1e-6)
    np.testing.assert_allclose(tm.visual.uv[:, 1], 1.0 - d["attributes"]["TEXCOORD_0"][:, 1], atol=1e-6)
    # vertex colours, no texture
    col = np.random.default_rng(2).random((len(rig.template), 3))
    p2 = gltf.write_glb(tmp_path / "c.glb", gltf.GltfMesh(rig.template, rig.faces, colors=col))
    d2 = decode_glb(p2)
    np.testing.assert_allclose(d2["attributes"]["COLOR_0"], col, atol=1e-6)
    for r in gltf_validator(path, p2):
        assert (r["numErrors"], r["numWarnings"]) == (0, 0), r["messages"]


@pytest.mark.parametrize("expression_scale", [0.0, 1.0], ids=["neutral", "expressions"])
def test_rigged_animated_glb_reproduces_smplx(smplx_rig, tmp_path, decode_glb, evaluate_glb, gltf_validator,
                                              expression_scale):
    """glTF's skinning of the file, evaluated without rome_smplx, equals smplx's forward per frame."""
    rig, layer, betas = smplx_rig
    T = 6
    motion = _motion(T, rig.joints.shape[0], expression_scale)
    tex = np.full((32, 32, 3), 180, np.uint8)
    report = export_rigged(tmp_path / "a.glb", rig, motion=motion, morphs=("expression", "jaw"), texture=tex)
    d = decode_glb(report.path)
    src = d["attributes"]["_SOURCE_VERTEX"][:, 0].astype(np.int64)
    ref = _smplx(layer, betas, motion.params)
    # the rest pose is the template
    np.testing.assert_allclose(d["attributes"]["POSITION"], rig.template[src], atol=1e-6)
    worst = 0.0
    for t in range(T):
        worst = max(worst, float(np.linalg.norm(evaluate_glb(d, t) - ref[t][src], axis=1).max()))
    bound = report.truncation_error_m + report.corrective_error_m + report.expression_joint_error_m
    assert worst <= bound + 2e-5, (worst, report)
    if expression_scale == 0.0:
        assert worst < 1e-4  # float32 storage and the 4-weight truncation only
    else:
        assert report.expression_joint_error_m > 0 and worst > 0.25 * report.expression_joint_error_m
    # names, counts and metadata
    from smplx.joint_names import JOINT_NAMES

    assert [d["nodes"][j].name for j in d["skin_joints"]] == list(JOINT_NAMES[: rig.joints.shape[0]])
    want = [f"expression_{k:03d}_{side}" for k in range(50) for side in ("pos", "neg")]
    assert d["target_names"][:100] == want and "jaw_open" in d["target_names"]
    # every weight a viewer sees lies in [0, 1] (Blender and Unity clamp shape-key weights)
    (w,) = [v for (_, kind), v in d["animation"].items() if kind == "weights"]
    assert w.min() >= 0.0 and w.max() <= 1.0 + 1e-6
    assert d["mesh_weights"].min() >= 0.0 and d["mesh_weights"].max() <= 1.0 + 1e-6
    assert len(d["gltf"].skins) == 1 and len(d["gltf"].animations) == 1
    assert d["extras"]["skinning_truncation_max_error_m"] == pytest.approx(report.truncation_error_m)
    assert len(d["extras"]["not_reproduced"]) >= 2
    (r,) = gltf_validator(report.path)
    assert (r["numErrors"], r["numWarnings"]) == (0, 0), r["messages"]


def test_static_pose_and_motion_file(smplx_rig, tmp_path, decode_glb, evaluate_glb):
    rig, layer, betas = smplx_rig
    motion = _motion(3, rig.joints.shape[0], 0.5, seed=4)
    save_motion(tmp_path / "m.npz", motion)
    pose = motion.params.index(1)
    report = export_rigged(tmp_path / "p.glb", rig, pose=pose, motion=tmp_path / "m.npz")
    d = decode_glb(report.path)
    src = d["attributes"]["_SOURCE_VERTEX"][:, 0].astype(np.int64)
    static = evaluate_glb(d)  # nodes and default morph weights show the static pose
    ref = _smplx(layer, betas, pose)[0][src]
    assert np.linalg.norm(static - ref, axis=1).max() < report.expression_joint_error_m + 1e-4
    assert report.frames == 3 and full_pose(pose).shape == (1, rig.joints.shape[0], 3, 3)


def test_rest_export_has_no_correctives_and_reports_why(smplx_rig, tmp_path):
    rig = smplx_rig[0]
    report = export_rigged(tmp_path / "r.glb", rig, morphs=())
    assert report.morph_targets == [] and report.frames == 0
    report2 = export_rigged(tmp_path / "r2.glb", rig, morphs=(), correctives=False,
                            pose=_motion(1, rig.joints.shape[0], 0.0).params)
    assert any("not included" in s for s in report2.not_reproduced)


def test_bad_inputs_are_named_and_write_nothing(smplx_rig, tmp_path):
    rig = smplx_rig[0]
    m = gltf.GltfMesh(rig.template, rig.faces)
    with pytest.raises(InputError, match=r"\.glb"):
        gltf.write_glb(tmp_path / "x.obj", m)
    with pytest.raises(InputError, match="texture"):
        gltf.write_glb(tmp_path / "x.glb", gltf.GltfMesh(rig.template, rig.faces, texture=np.zeros((4, 4, 3), np.uint8)))
    with pytest.raises(InputError, match="skeleton"):
        gltf.write_glb(tmp_path / "x.glb", m, animation=gltf.GltfAnimation(np.zeros((1, 2, 3, 3))))
    bad = gltf.GltfSkeleton(["a", "b"], np.array([-1, 0]), np.zeros((2, 3)), np.ones((3, 2)))
    with pytest.raises(InputError, match="skeleton"):
        gltf.write_glb(tmp_path / "x.glb", m, bad)
    with pytest.raises(InputError, match="morphs"):
        export_rigged(tmp_path / "x.glb", rig, morphs=("smile",))
    with pytest.raises(InputError, match="num_expression"):
        export_rigged(tmp_path / "x.glb", rig, num_expression=999)
    assert not any(tmp_path.iterdir())  # nothing written, not even temporary files


def test_files_follow_the_umask(smplx_rig, tmp_path):
    rig = smplx_rig[0]
    old = os.umask(0o027)
    try:
        p = gltf.write_glb(tmp_path / "u.glb", gltf.GltfMesh(rig.template, rig.faces))
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o640
