"""The procedural FLAME-format head: topology, rig, blendshapes, landmarks, UVs and file formats."""

from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pytest
import scipy.sparse
import torch

from rome_smplx.assets.synthetic import _mesh as M
from rome_smplx.assets.synthetic.head import FLAME_NUM_VERTICES, build_head, write_flame_files
from rome_smplx.errors import InputError

COUNTS = (FLAME_NUM_VERTICES, 1800)


@pytest.fixture(scope="module", params=COUNTS, ids=lambda n: f"n{n}")
def head(request):
    return build_head(request.param, seed=0)


@pytest.fixture(scope="module")
def flame_model(head, tmp_path_factory):
    smplx = pytest.importorskip("smplx")
    d = tmp_path_factory.mktemp(f"flame{head.num_vertices}")
    write_flame_files(head, d)
    model = smplx.FLAME(model_path=str(d), num_betas=300, num_expression_coeffs=100, use_face_contour=True)
    return d, model


def _run(model, **kw):
    args = {k: torch.zeros(1, n) for k, n in [("betas", 300), ("expression", 100), ("global_orient", 3),
                                               ("neck_pose", 3), ("jaw_pose", 3), ("leye_pose", 3),
                                               ("reye_pose", 3)]}
    args.update({k: torch.as_tensor(v, dtype=torch.float32).reshape(1, -1) for k, v in kw.items()})
    with torch.no_grad():
        out = model(**args)
    return out.vertices[0].numpy().astype(np.float64), out.joints[0].numpy().astype(np.float64)


def test_counts_and_shapes(head):
    n = head.num_vertices
    f, m = len(head.faces), len(head.mouth_faces)
    assert head.v_template.shape == (n, 3) and head.v_template.dtype == np.float64
    assert head.faces.dtype == np.int64 and head.faces.min() >= 0 and head.faces.max() < n
    assert head.shapedirs.shape == (n, 3, 400)
    assert head.posedirs.shape == (n, 3, 36)
    assert head.J_regressor.shape == (5, n) and head.weights.shape == (n, 5)
    assert head.uv.shape == (n, 2) and head.uv_faces.shape == (f + m, 3)
    assert head.lmk_faces_idx.shape == (51,) and head.lmk_bary_coords.shape == (51, 3)
    assert head.dynamic_lmk_faces_idx.shape == (79, 17) and head.dynamic_lmk_bary_coords.shape == (79, 17, 3)
    assert head.full_lmk_faces_idx.shape == (68,) and head.full_lmk_bary_coords.shape == (68, 3)
    assert np.array_equal(head.parents, [-1, 0, 1, 1, 1])
    # every vertex is used by a face
    assert np.array_equal(np.unique(head.faces), np.arange(n))


@pytest.mark.parametrize("n", [1000, 2600, 4100, 6000])
def test_any_vertex_count(n):
    h = build_head(n)
    assert h.v_template.shape == (n, 3)
    assert len(M.boundary_loops(h.faces_v2)) == 1
    assert M.edge_manifold_report(h.faces_v2) == (0, 0)


def test_rejects_bad_counts():
    with pytest.raises(InputError, match="num_vertices"):
        build_head(100)
    with pytest.raises(InputError, match="num_vertices"):
        build_head(2000.5)


def test_topology_two_loops_then_one(head):
    loops = M.boundary_loops(head.faces)
    assert len(loops) == 2
    ring = max(loops, key=lambda l: head.v_template[l, 1].mean() * -1)  # the lowest loop
    mouth = [l for l in loops if l is not ring][0]
    assert set(ring.tolist()) == set(head.regions["boundary"].tolist())
    # the ring is the bottom of the neck, the mouth loop sits in front at lip height
    assert head.v_template[ring, 1].max() < -0.12
    lips = head.v_template[mouth]
    assert lips[:, 2].min() > 0.06 and abs(lips[:, 1].mean() - head.v_template[head.points["lip_upper"], 1]) < 0.01
    loops2 = M.boundary_loops(head.faces_v2)
    assert len(loops2) == 1 and set(loops2[0].tolist()) == set(ring.tolist())
    assert M.edge_manifold_report(head.faces_v2) == (0, 0)
    vc, fc = M.cap_loops(head.v_template, head.faces_v2)
    vol = M.signed_volume(vc, fc)
    assert 0.002 < vol < 0.007  # litres of a head and neck, outward normals
    # no degenerate faces
    area = np.linalg.norm(M.face_normals(head.v_template, head.faces_v2, normalize=False), axis=1) / 2
    assert area.min() > 1e-9


def test_joints_inside_and_regressed(head):
    J = head.J_regressor
    assert (J >= 0).all() and np.allclose(J.sum(axis=1), 1.0)
    assert np.allclose(J @ head.v_template, head.joints, atol=1e-12)
    vc, fc = M.cap_loops(head.v_template, head.faces_v2)
    wn = M.winding_numbers(vc, fc, head.joints)
    assert (wn > 0.5).all(), wn
    root, neck, jaw, leye, reye = head.joints
    assert root[1] < neck[1] < jaw[1] < leye[1]
    assert leye[0] > 0.02 and reye[0] < -0.02 and abs(leye[1] - reye[1]) < 1e-9
    # eye joints are the eyeball centres
    assert np.allclose(head.v_template[head.regions["left_eyeball"]].mean(0), leye)


def test_skinning_weights(head):
    w = head.weights
    assert (w >= 0).all() and np.allclose(w.sum(axis=1), 1.0)
    assert np.allclose(w[head.regions["boundary"], 0], 1.0)  # the ring follows the root
    assert np.allclose(w[head.regions["left_eyeball"], 3], 1.0)
    assert np.allclose(w[head.regions["right_eyeball"], 4], 1.0)
    assert w[head.points["lip_lower"], 2] > 0.9 and w[head.points["lip_upper"], 2] < 0.1
    assert w[head.points["chin"], 2] > 0.9 and w[head.points["head_top"], 1] > 0.99


def test_points_at_their_parts(head):
    v, p = head.v_template, head.points
    assert v[p["nose_tip"], 2] == v[:, 2].max()
    assert v[p["head_top"], 1] == v[:, 1].max()
    assert v[p["left_ear"], 0] > 0.08 and v[p["right_ear"], 0] < -0.08
    assert v[p["lip_upper"], 1] > v[p["lip_lower"], 1] > v[p["chin"], 1]
    assert v[p["left_eye"], 1] > v[p["nose_tip"], 1] > v[p["lip_upper"], 1]
    for name in ("scalp", "neck", "face", "forehead", "nose", "lips", "left_ear", "right_ear",
                 "left_eye_region", "right_eye_region", "boundary"):
        assert len(head.regions[name]) > 0, name
    assert len(np.intersect1d(head.regions["scalp"], head.regions["face"])) == 0
    assert v[head.regions["forehead"], 1].min() > v[p["left_eye"], 1]


def test_smplx_loads_and_reproduces_template(head, flame_model):
    _, model = flame_model
    v, joints = _run(model)
    assert np.abs(v - head.v_template).max() < 1e-6
    assert joints.shape == (5 + 51 + 17, 3)
    assert np.abs(joints[:5] - head.joints).max() < 1e-6
    rng = np.random.default_rng(0)
    v2, j2 = _run(model, betas=rng.standard_normal(300), expression=rng.standard_normal(100),
                  neck_pose=[0.1, 0.4, 0.0], jaw_pose=[0.2, 0, 0], leye_pose=[0, 0.2, 0], global_orient=[0, 0.3, 0])
    assert np.isfinite(v2).all() and np.isfinite(j2).all()
    assert 0.002 < np.abs(v2 - v).mean() < 0.05


def test_jaw_open_expression_and_pose(head, flame_model):
    _, model = flame_model
    p = head.points
    e = np.zeros(100)
    e[0] = 1.0
    v0, _ = _run(model)
    v1, _ = _run(model, expression=e)
    d_low = v0[p["lip_lower"], 1] - v1[p["lip_lower"], 1]
    d_up = v0[p["lip_upper"], 1] - v1[p["lip_upper"], 1]
    assert d_low > 0.004 and abs(d_up) < 0.2 * d_low
    assert v0[p["chin"], 1] - v1[p["chin"], 1] > 0.004
    # jaw joint rotation about +x opens the mouth too, and leaves the upper face alone
    v2, _ = _run(model, jaw_pose=[0.25, 0.0, 0.0])
    assert v0[p["lip_lower"], 1] - v2[p["lip_lower"], 1] > 0.01
    assert np.abs(v2[p["lip_upper"]] - v0[p["lip_upper"]]).max() < 1e-3
    assert np.abs(v2[p["nose_tip"]] - v0[p["nose_tip"]]).max() < 1e-6


def test_blendshapes_meaningful_and_smooth(head):
    sd = head.shapedirs
    v = head.v_template
    skin = np.setdiff1d(np.arange(len(v)), np.concatenate([head.regions["left_eyeball"], head.regions["right_eyeball"]]))
    width = lambda vv: np.ptp(vv[skin, 0])
    assert width(v + sd[..., 0]) > width(v) + 0.01  # shape 0: head width
    assert np.ptp((v + sd[..., 1])[:, 1]) > np.ptp(v[:, 1])  # shape 1: head height
    mags = np.linalg.norm(sd, axis=1).max(axis=0)
    assert mags.min() > 0
    assert mags[10:300].max() < mags[:3].min()  # random components are smaller than the named ones
    assert mags[299] < mags[10] and mags[399] < mags[310]
    # expressions leave the eyeballs and the neck ring still
    eyes = np.concatenate([head.regions["left_eyeball"], head.regions["right_eyeball"]])
    assert np.abs(sd[eyes, :, 300:]).max() == 0
    assert np.abs(sd[head.regions["boundary"], :, 300:]).max() < 1e-4
    # smooth: along mesh edges the directions change much less than their magnitude
    e = M.directed_edges(head.faces)
    edge_len = np.linalg.norm(v[e[:, 0]] - v[e[:, 1]], axis=1)
    off_lips = ~np.isin(e, head.regions["lips"]).any(axis=1)  # the lips part at the slit on purpose
    for k in (0, 4, 20, 300, 301, 350):
        diff = np.linalg.norm(sd[e[:, 0], :, k] - sd[e[:, 1], :, k], axis=1)
        ratio = (diff / edge_len)[off_lips]
        assert np.percentile(ratio, 99) < 0.5 and ratio.max() < 2.5, k  # bounded gradient
    # low rank: the random shape components span a small space
    s = np.linalg.svd(sd[:, :, 10:300].reshape(-1, 290), compute_uv=False)
    assert s[60] < 1e-8 * s[0]
    # pose correctives are small and only on the neck/jaw blocks
    assert np.abs(head.posedirs).max() < 0.01 and np.abs(head.posedirs[:, :, 18:]).max() == 0


def test_landmarks_at_their_parts(head, flame_model):
    _, model = flame_model
    v, joints = _run(model)
    static, contour = joints[5:56], joints[56:73]
    lm = np.concatenate([contour, static])  # iBUG order 0..67
    assert np.allclose(lm, head.landmarks(), atol=1e-6)
    eye_y = head.joints[3, 1]
    nose, eyes, brows = lm[27:36], lm[36:48], lm[17:27]
    mouth = lm[48:68]
    assert np.abs(eyes[:, 1] - eye_y).max() < 0.008
    assert (eyes[:6, 0] < 0).all() and (eyes[6:, 0] > 0).all()  # right eye first (subject's right)
    assert nose[:, 2].min() > eyes[:, 2].max()  # the nose is in front of the eyes
    assert lm[30, 2] == lm[:, 2].max()  # nose tip most forward
    assert brows[:, 1].min() > eyes[:, 1].max()
    assert mouth[:, 1].max() < nose[:, 1].min() + 0.005
    assert lm[8, 1] < mouth[:, 1].min() - 0.01  # chin below the mouth
    assert (np.diff(lm[0:17, 0]) > 0).all()  # contour runs from the subject's right to left
    assert lm[0:17, 1].max() < eye_y
    # symmetry of the frontal layout
    assert np.abs(lm[17:22, 0] + lm[22:27][::-1, 0]).max() < 1e-3
    # all landmarks lie on the surface (barycentric on real faces)
    assert np.allclose(head.full_lmk_bary_coords.sum(1), 1.0) and (head.full_lmk_bary_coords >= -1e-9).all()


def test_dynamic_contour_follows_yaw(head, flame_model):
    _, model = flame_model
    # turn the head (neck yaw): the contour on the side turning away moves towards the front
    _, j0 = _run(model)
    _, j1 = _run(model, neck_pose=[0.0, -0.5, 0.0])
    c0, c1 = j0[56:73], j1[56:73]
    assert np.isfinite(c1).all()
    rows = head.dynamic_lmk_faces_idx
    assert not np.array_equal(rows[0], rows[29])
    assert np.array_equal(rows[0, 9:], rows[29, 9:])  # the near side keeps its faces
    # row k and row 39 + k are mirror images (the head is symmetric)
    p = M.barycentric_points(head.v_template, head.faces, rows, head.dynamic_lmk_bary_coords)
    assert np.abs(p[20, :, 0] + p[59, ::-1, 0]).max() < 3e-3
    assert c1.shape == c0.shape


def test_uvs(head):
    n = head.num_vertices
    assert (head.uv >= 0).all() and (head.uv <= 1).all()
    assert (head.uv_coords >= 0).all() and (head.uv_coords <= 1).all()
    assert np.array_equal(head.uv_coords[:n], head.uv)
    assert head.uv_faces.max() < len(head.uv_coords)
    # the face is in the middle of the map
    assert abs(head.uv[head.points["nose_tip"], 0] - 0.5) < 0.02
    # UV triangles do not straddle the seam
    tri = head.uv_coords[head.uv_faces]
    assert (np.ptp(tri[..., 0], axis=1) < 0.25).all()
    # UV faces triangulate the same surface: same vertex at each corner (through the seam map)
    faces = head.faces_v2
    back = np.zeros(len(head.uv_coords), dtype=np.int64) - 1
    back[:n] = np.arange(n)
    for c in range(3):
        known = head.uv_faces[:, c] < n
        assert np.array_equal(head.uv_faces[known, c], faces[known, c])
    # skin UV triangles are not flipped (consistent orientation in the unwrap)
    skin_f = np.isin(faces, np.concatenate([head.regions["left_eyeball"], head.regions["right_eyeball"]])).any(1)
    t = tri[~skin_f][: len(head.faces)]
    cross = (t[:, 1, 0] - t[:, 0, 0]) * (t[:, 2, 1] - t[:, 0, 1]) - (t[:, 1, 1] - t[:, 0, 1]) * (t[:, 2, 0] - t[:, 0, 0])
    nz = np.abs(cross) > 1e-12
    assert (np.sign(cross[nz]) == np.sign(np.median(cross[nz]))).mean() > 0.99


def test_determinism(head, tmp_path):
    again = build_head(head.num_vertices, seed=0)
    for name in ("v_template", "faces", "mouth_faces", "weights", "shapedirs", "posedirs", "J_regressor", "uv_faces",
                 "dynamic_lmk_faces_idx", "dynamic_lmk_bary_coords"):
        assert np.array_equal(getattr(head, name), getattr(again, name)), name
    other = build_head(head.num_vertices, seed=1)
    assert np.array_equal(other.v_template, head.v_template)
    assert not np.array_equal(other.shapedirs, head.shapedirs)
    write_flame_files(head, tmp_path / "a")
    write_flame_files(again, tmp_path / "b")
    for f in sorted((tmp_path / "a").iterdir()):
        assert hashlib.sha256(f.read_bytes()).digest() == hashlib.sha256((tmp_path / "b" / f.name).read_bytes()).digest(), f.name
    assert not list((tmp_path / "a").glob(".*"))  # no temporary files left behind


def test_file_formats(head, flame_model):
    d, _ = flame_model
    with open(d / "FLAME_NEUTRAL.pkl", "rb") as fh:
        raw = fh.read()
    assert raw[:2] == b"\x80\x02"  # pickle protocol 2
    model = pickle.loads(raw, encoding="latin1")
    assert set(model) == {"v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table",
                          "J", "bs_style", "bs_type"}
    n = head.num_vertices
    assert model["f"].dtype == np.uint32 and np.array_equal(model["f"], head.faces)
    assert model["shapedirs"].shape == (n, 3, 400) and model["shapedirs"].dtype == np.float64
    assert scipy.sparse.isspmatrix_csc(model["J_regressor"]) and model["J_regressor"].shape == (5, n)
    assert model["kintree_table"].shape == (2, 5) and model["kintree_table"][0, 0] == 2**32 - 1
    assert model["bs_style"] == "lbs" and model["bs_type"] == "lrotmin"
    with open(d / "flame_static_embedding.pkl", "rb") as fh:
        st = pickle.load(fh, encoding="latin1")
    assert st["lmk_face_idx"].dtype == np.uint32 and st["lmk_face_idx"].shape == (51,)
    assert st["lmk_b_coords"].dtype == np.float64 and st["lmk_b_coords"].shape == (51, 3)
    dyn = np.load(d / "flame_dynamic_embedding.npy", allow_pickle=True, encoding="latin1")[()]
    assert isinstance(dyn["lmk_face_idx"], list) and len(dyn["lmk_face_idx"]) == 79
    assert dyn["lmk_face_idx"][5].shape == (17,) and dyn["lmk_b_coords"][5].shape == (17, 3)
    deca = np.load(d / "landmark_embedding.npy", allow_pickle=True)[()]
    assert deca["dynamic_lmk_faces_idx"].dtype == torch.int64 and tuple(deca["dynamic_lmk_faces_idx"].shape) == (79, 17)
    assert deca["dynamic_lmk_bary_coords"].dtype == torch.float32
    assert deca["full_lmk_faces_idx"].shape == (1, 68) and deca["full_lmk_bary_coords"].dtype == np.float32
    assert np.array_equal(deca["static_lmk_faces_idx"], head.lmk_faces_idx)
    # the SDK's restricted loader reads the model pickle too
    from rome_smplx.assets.pickle_safe import load_pickle

    safe = load_pickle(d / "FLAME_NEUTRAL.pkl")
    assert np.allclose(np.asarray(safe["J_regressor"].todense() if scipy.sparse.issparse(safe["J_regressor"])
                                  else safe["J_regressor"]), head.J_regressor)
    assert np.array_equal(safe["v_template"], head.v_template)
