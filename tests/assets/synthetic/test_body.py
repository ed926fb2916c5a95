"""Synthetic SMPL-X-format body: loads in smplx, carries the FLAME head exactly, bends plausibly."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from rome_smplx.assets.synthetic.body import (
    HEAD_OFFSET,
    HEAD_SHAPE_START,
    SMPLX_NUM_VERTICES,
    body_winding_numbers,
    build_body,
    write_smplx_files,
)
from rome_smplx.assets.synthetic.head import build_head


@pytest.fixture(scope="module", params=[None, 1800], ids=["flame_count", "small_head"])
def head_body(request):
    from rome_smplx.assets.synthetic.head import FLAME_NUM_VERTICES

    n = FLAME_NUM_VERTICES if request.param is None else request.param
    head = build_head(n, seed=0)
    return head, build_body(head, seed=0)


@pytest.fixture(scope="module")
def smplx_model(tmp_path_factory):
    import smplx

    head = build_head(seed=0)
    body = build_body(head, seed=0)
    root = tmp_path_factory.mktemp("body")
    npz, _ = write_smplx_files(body, root / "smplx", root / "correspondences")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = smplx.create(str(npz), model_type="smplx", ext="npz", num_betas=200, num_expression_coeffs=50,
                             use_pca=False, flat_hand_mean=True, use_face_contour=True)
    return head, body, model


def _forward(model, **pose):
    args = {k: torch.zeros(1, 3) for k in ("global_orient", "jaw_pose", "leye_pose", "reye_pose")}
    args["body_pose"] = torch.zeros(1, 63)
    args.update(pose)
    with torch.no_grad():
        return model(betas=torch.zeros(1, 200), expression=torch.zeros(1, 50), **args)


def test_smplx_loads_with_explicit_counts(smplx_model):
    _head, body, model = smplx_model
    out = _forward(model)
    v = out.vertices[0].numpy()
    assert v.shape == (SMPLX_NUM_VERTICES, 3)
    assert np.isfinite(v).all()
    assert out.joints.shape == (1, 144, 3)  # 55 + 21 extra + 51 + 17 contour
    np.testing.assert_allclose(v, body.v_template, atol=1e-5)
    np.testing.assert_allclose(out.joints[0, :55].numpy(), body.joints, atol=1e-5)
    # about 1.7 m tall, pelvis at the origin, y up
    height = v[:, 1].max() - v[:, 1].min()
    assert 1.6 < height < 1.8
    assert np.linalg.norm(body.joints[0]) < 0.02


def test_head_is_the_flame_template(head_body):
    head, body = head_body
    corr = body.corr
    assert corr.dtype == np.int64 and corr.shape == (head.v_template.shape[0],)
    assert len(np.unique(corr)) == len(corr)
    np.testing.assert_allclose(body.v_template[corr] - head.v_template, np.broadcast_to(HEAD_OFFSET, head.v_template.shape),
                               atol=1e-6)
    # the head's faces are the body's first faces, through corr
    np.testing.assert_array_equal(body.faces[: len(head.faces)], corr[head.faces])
    # landmark embeddings are the head's and point at the same surface points
    hl = (head.v_template[head.faces[head.lmk_faces_idx]] * head.lmk_bary_coords[..., None]).sum(1)
    bl = (body.v_template[body.faces[body.lmk_faces_idx]] * body.lmk_bary_coords[..., None]).sum(1)
    np.testing.assert_allclose(bl - hl, np.broadcast_to(HEAD_OFFSET, hl.shape), atol=1e-6)


def test_head_blendshapes_carried_over(head_body):
    head, body = head_body
    corr = body.corr
    n_expr = 100
    np.testing.assert_allclose(body.shapedirs[corr, :, 300:], head.shapedirs[:, :, -n_expr:], atol=1e-7)
    np.testing.assert_allclose(body.shapedirs[corr, :, HEAD_SHAPE_START:HEAD_SHAPE_START + 50],
                               head.shapedirs[:, :, :50], atol=1e-7)
    # the first body component is height: the head top moves up, the soles stay
    top = corr[head.points["head_top"]]
    assert body.shapedirs[top, 1, 0] > 0.02
    sole = np.argmin(body.v_template[:, 1])
    assert abs(body.shapedirs[sole, 1, 0]) < 2e-3


def test_joints_inside_the_mesh(head_body):
    head, body = head_body
    w = body_winding_numbers(body, head.faces, body.joints)
    bad = [body.joint_names[i] for i in np.nonzero(w < 0.5)[0]]
    assert not bad, f"joints outside the body: {bad}"
    # the measure separates: points beside the body are outside
    outside = np.array([[0.0, 0.0, 0.5], [0.3, -0.5, 0.0], [0.0, 0.9, 0.0], body.joints[20] + [0, 0.1, 0]])
    assert (body_winding_numbers(body, head.faces, outside) < 0.1).all()


def test_weights_and_hands(head_body):
    _, body = head_body
    np.testing.assert_allclose(body.weights.sum(1), 1.0, atol=1e-9)
    assert (body.weights >= -1e-12).all()
    np.testing.assert_allclose(body.J_regressor.sum(1), 1.0, atol=1e-9)
    for comps in (body.hands_components_l, body.hands_components_r):
        np.testing.assert_allclose(comps @ comps.T, np.eye(45), atol=1e-10)


def test_elbow_bend_keeps_forearm_length(smplx_model):
    from smplx.joint_names import JOINT_NAMES

    _head, body, model = smplx_model
    names = list(JOINT_NAMES)
    le, lw = names.index("left_elbow"), names.index("left_wrist")
    pose = torch.zeros(1, 63)
    pose[0, 3 * (le - 1) + 1] = -math.pi / 2  # forearm bends forward (+z)
    rest, bent = _forward(model), _forward(model, body_pose=pose)
    jr, jb = rest.joints[0].numpy(), bent.joints[0].numpy()
    l0 = np.linalg.norm(jr[lw] - jr[le])
    l1 = np.linalg.norm(jb[lw] - jb[le])
    assert abs(l1 / l0 - 1) < 0.02
    d0, d1 = (jr[lw] - jr[le]) / l0, (jb[lw] - jb[le]) / l1
    assert abs(d0 @ d1) < 0.05 and d1[2] > 0.95  # it really bent 90 degrees, towards the front
    # a mid-forearm vertex keeps its distance to the elbow
    arm = body.parts["left_arm"]
    x = body.v_template[arm, 0]
    mid = 0.5 * (jr[le, 0] + jr[lw, 0])
    k = arm[np.argmin(np.abs(x - mid))]
    r0 = np.linalg.norm(rest.vertices[0, k].numpy() - jr[le])
    r1 = np.linalg.norm(bent.vertices[0, k].numpy() - jb[le])
    assert abs(r1 / r0 - 1) < 0.02
    assert np.linalg.norm(bent.vertices[0, k].numpy() - rest.vertices[0, k].numpy()) > 0.1


def test_extra_joint_vertices_at_their_parts(smplx_model):
    from smplx.joint_names import JOINT_NAMES

    _, _body, model = smplx_model
    j = _forward(model).joints[0].numpy()
    n = {name: j[i] for i, name in enumerate(JOINT_NAMES[: j.shape[0]])}
    head = n["head"]
    assert n["nose"][2] > n["left_eye"][2] - 0.01 and n["nose"][2] > head[2] + 0.08
    assert n["nose"][1] < n["left_eye"][1]
    assert n["left_eye"][0] > 0.01 and n["right_eye"][0] < -0.01
    assert n["left_ear"][0] > head[0] + 0.06 and n["right_ear"][0] < head[0] - 0.06
    for s, S in (("left", "left"), ("right", "right")):
        ankle = n[f"{s}_ankle"]
        for toe in ("big_toe", "small_toe"):
            assert n[f"{S}_{toe}"][1] < ankle[1] - 0.03 and n[f"{S}_{toe}"][2] > ankle[2] + 0.1
        assert n[f"{S}_heel"][2] < ankle[2] - 0.03 and n[f"{S}_heel"][1] < ankle[1]
        wrist = n[f"{s}_wrist"]
        for f in ("thumb", "index", "middle", "ring", "pinky"):
            assert abs(n[f"{s}_{f}"][0]) > abs(wrist[0]) + 0.05
    # big toes are on the inner side of the foot
    assert n["left_big_toe"][0] < n["left_small_toe"][0] and n["right_big_toe"][0] > n["right_small_toe"][0]


def test_deterministic():
    head = build_head(1800, seed=3)
    a, b = build_body(head, seed=3), build_body(head, seed=3)
    for k in ("v_template", "faces", "shapedirs", "posedirs", "J_regressor", "weights", "hands_components_l", "corr"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))


def test_too_large_head_is_refused():
    from rome_smplx.errors import InputError

    class Big:
        v_template = np.zeros((SMPLX_NUM_VERTICES - 100, 3))

    with pytest.raises(InputError, match="vertices"):
        build_body(Big())
