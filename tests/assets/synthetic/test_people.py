"""Synthetic people: files parse, ground truth is consistent, the photo shows the head."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rome_smplx.assets.synthetic.head import build_head
from rome_smplx.assets.synthetic.people import make_person, write_person
from rome_smplx.assets.synthetic.rome_data import build_rome_data


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    head = build_head(1800, seed=0)
    rome = build_rome_data(head, seed=0)
    person = make_person(head, rome, 0, seed=0)
    folder = write_person(head, rome, person, tmp_path_factory.mktemp("people") / "person_000", "person_000")
    return head, rome, person, folder


def test_files_exist_and_parse(written):
    _head, _rome, _person, folder = written
    for name in ("photo.png", "mask.png", "photo_256.png", "mask_256.png", "person_000_param.pkl",
                 "person_000_deca.pkl", "truth.npz"):
        assert (folder / name).is_file(), name
    assert Image.open(folder / "photo.png").size == (512, 512)
    assert Image.open(folder / "mask_256.png").size == (256, 256)


def test_truth_offsets_are_the_basis_combination(written):
    head, rome, _person, folder = written
    t = np.load(folder / "truth.npz")
    n = head.v_template.shape[0]
    expect = (rome.basis.astype(np.float64) @ t["hair_coeffs"]).reshape(n, 3) + rome.mean_deform
    np.testing.assert_allclose(t["offsets"], expect, atol=1e-9)
    assert np.abs(t["offsets"]).max() > 0.005  # a visible hair style
    assert t["hair_coeffs"].shape == (rome.basis.shape[1],)


def test_pixie_file_is_y_down_and_consistent(written):
    from rome_smplx.bridges import pixie

    from rome_smplx.assets.synthetic.body import HEAD_SHAPE_START

    _head, _rome, person, folder = written
    p = pixie.load(folder / "person_000_param.pkl")
    assert p.frame == "y_down"
    D = np.diag([1.0, -1.0, -1.0])
    np.testing.assert_allclose(p.global_orient[0].numpy(), D @ person.global_orient, atol=1e-6)
    np.testing.assert_allclose(p.body_pose[0].numpy(), person.body_pose, atol=1e-6)
    np.testing.assert_allclose(p.betas[0].numpy(), person.betas, atol=1e-6)
    np.testing.assert_allclose(p.betas[0, HEAD_SHAPE_START:HEAD_SHAPE_START + 100].numpy(), person.flame_shape,
                               atol=1e-6)
    np.testing.assert_allclose(p.expression[0].numpy(), person.flame_expression, atol=1e-6)
    # arms hang down: the left shoulder rotates the +x arm below the horizontal
    arm = person.body_pose[15] @ np.array([1.0, 0, 0])
    assert arm[1] < -0.8


def test_deca_file_matches_truth(written):
    from rome_smplx.bridges import deca

    _head, _rome, person, folder = written
    f = deca.load(folder / "person_000_deca.pkl")
    np.testing.assert_allclose(f.shape[0].numpy(), person.flame_shape, atol=1e-6)
    np.testing.assert_allclose(f.expression[0].numpy(), person.flame_expression, atol=1e-6)
    np.testing.assert_allclose(f.global_rot[0].numpy(), person.flame_global_rot, atol=1e-5)
    np.testing.assert_allclose(f.jaw_rot[0].numpy(), person.flame_jaw_rot, atol=1e-5)
    np.testing.assert_allclose(f.cam[0].numpy(), person.deca_cam, atol=1e-6)


def test_photo_shows_the_head_where_the_camera_says(written):
    head, _rome, person, folder = written
    mask = np.array(Image.open(folder / "mask.png")) > 127
    assert 0.1 < mask.mean() < 0.7
    # the nose tip, projected with the recorded DECA camera, lands inside the mask
    R, j, (s, tx, ty) = person.flame_global_rot, person.root_joint, person.deca_cam
    v = (person.vertices[head.points["nose_tip"]] - j) @ R.T + j
    u, w = (s * (v[0] + tx) + 1) * 256, (-s * (v[1] + ty) + 1) * 256
    assert mask[int(w), int(u)]
    # and a point well beside the head does not
    v2 = v + np.array([0.25, 0.0, 0.0])
    u2 = (s * (v2[0] + tx) + 1) * 256
    assert u2 >= 512 or not mask[int(w), int(u2)]
    m256 = np.array(Image.open(folder / "mask_256.png")).astype(float)
    np.testing.assert_allclose(m256, mask.reshape(256, 2, 256, 2).mean((1, 3)) * 255, atol=1.0)


def test_people_are_seeded():
    head = build_head(1800, seed=0)
    rome = build_rome_data(head, seed=0)
    a, b, c = make_person(head, rome, 1, 5), make_person(head, rome, 1, 5), make_person(head, rome, 2, 5)
    np.testing.assert_array_equal(a.offsets, b.offsets)
    np.testing.assert_array_equal(a.betas, b.betas)
    assert not np.allclose(a.flame_shape, c.flame_shape)
