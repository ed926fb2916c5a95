"""The synthetic body's UV atlas (SMPL-X's ``vt`` / ``ft``): valid, non-overlapping, even, versioned."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rome_smplx.assets.synthetic._mesh import edge_manifold_report
from rome_smplx.assets.synthetic.body import HEAD_UV_SIDE, UV_GUTTER, build_body, write_smplx_files
from rome_smplx.assets.synthetic.head import build_head


@pytest.fixture(scope="module", params=[None, 1800], ids=["flame_count", "small_head"])
def bodies(request):
    from rome_smplx.assets.synthetic.head import FLAME_NUM_VERTICES

    head = build_head(FLAME_NUM_VERTICES if request.param is None else request.param, seed=0)
    return head, build_body(head, seed=0), build_body(head, seed=0, with_uv=False)


def _uv_area(vt, ft):
    tri = vt[ft]
    return 0.5 * np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])


def test_layout_shapes_and_range(bodies):
    _head, body, _ = bodies
    assert body.vt.dtype == np.float32 and body.vt.ndim == 2 and body.vt.shape[1] == 2
    assert body.ft.shape == body.faces.shape and body.ft.dtype == np.int64
    assert body.ft.min() == 0 and body.ft.max() == len(body.vt) - 1  # every UV vertex is used
    assert body.vt.min() >= UV_GUTTER / 2 - 1e-6 and body.vt.max() <= 1 - UV_GUTTER / 2 + 1e-6
    # a vertex has several UV vertices only along seams: far fewer UV vertices than corners
    assert len(body.v_template) <= len(body.vt) < 1.2 * len(body.v_template)


def test_charts_do_not_overlap_and_keep_orientation(bodies):
    from rome_smplx.render.raster import rasterize

    _head, body, _ = bodies
    assert (_uv_area(body.vt.astype(np.float64), body.ft) > 0).all()  # counter-clockwise, as the mesh
    res = 1024
    ndc = np.concatenate([body.vt * [2.0, -2.0] + [-1.0, 1.0], np.ones((len(body.vt), 1))], 1)
    frags = rasterize(torch.tensor(ndc, dtype=torch.float32)[None], torch.as_tensor(body.ft), (res, res),
                      faces_per_pixel=2, backend="torch")
    assert int((frags.pix_to_face[..., 1] >= 0).sum()) == 0  # no texel lies in two triangles
    assert float(frags.mask.float().mean()) > 0.6  # the atlas is well used


def test_head_chart_is_the_heads_layout(bodies):
    head, body, _ = bodies
    nf = len(head.faces)
    # the body's first faces are the head's: their UVs are the head's own layout, scaled and moved
    hv = np.asarray(head.uv_coords, dtype=np.float64)[np.asarray(head.uv_faces)[:nf]].reshape(-1, 2)
    bv = body.vt[body.ft[:nf]].reshape(-1, 2).astype(np.float64)
    offset = (bv - HEAD_UV_SIDE * hv).mean(0)
    np.testing.assert_allclose(bv, HEAD_UV_SIDE * hv + offset, atol=1e-6)


def test_body_texel_density_is_even(bodies):
    head, body, _ = bodies
    nf = len(head.faces)
    v = body.v_template[body.faces[nf:]]
    area3 = 0.5 * np.linalg.norm(np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), axis=1)
    ratio = _uv_area(body.vt.astype(np.float64), body.ft[nf:]) / area3
    lo, hi = np.percentile(ratio, [5, 95])
    assert hi / lo < 4.0, (lo, hi)


def test_seams_share_positions_not_uvs(bodies):
    """Across every mesh edge the two faces use either the same UV edge or a seam (two UV edges)."""
    _head, body, _ = bodies
    f, ft = body.faces, body.ft
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    et = np.concatenate([ft[:, [0, 1]], ft[:, [1, 2]], ft[:, [2, 0]]])
    # each UV vertex belongs to exactly one mesh vertex
    owner = np.full(len(body.vt), -1)
    owner[et[:, 0]] = e[:, 0]
    assert (owner[et[:, 0]] == e[:, 0]).all() and (owner[et[:, 1]] == e[:, 1]).all()
    seam = {}
    for (a, b), (ta, tb) in zip(e.tolist(), et.tolist()):
        seam.setdefault((min(a, b), max(a, b)), set()).add((min(ta, tb), max(ta, tb)))
    counts = np.array([len(s) for s in seam.values()])
    assert counts.max() <= 2
    assert 0 < (counts == 2).mean() < 0.1  # seams exist but are a small part of the edges


def test_with_uv_false_is_the_version_2_body(bodies):
    _head, body, v2 = bodies
    assert v2.vt is None and v2.ft is None
    for name in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "corr", "lmk_faces_idx"):
        assert np.array_equal(getattr(body, name), getattr(v2, name)), name
    # the faces differ only in the winding of the tube caps, which version 3 makes consistent
    assert np.array_equal(np.sort(body.faces, 1), np.sort(v2.faces, 1))
    assert edge_manifold_report(body.faces) == (0, 0)
    assert edge_manifold_report(v2.faces)[0] > 0


def test_written_file_carries_vt_ft_and_loads_in_smplx(tmp_path):
    import smplx

    head = build_head(seed=0)
    body = build_body(head, seed=0)
    npz, _ = write_smplx_files(body, tmp_path / "smplx", tmp_path / "corr")
    with np.load(npz) as z:
        np.testing.assert_array_equal(z["vt"], body.vt)
        np.testing.assert_array_equal(z["ft"], body.ft)
    model = smplx.create(str(npz), model_type="smplx", ext="npz", num_betas=10, num_expression_coeffs=10,
                         use_pca=False, flat_hand_mean=True)
    assert model.v_template.shape[0] == len(body.v_template)
    npz2, _ = write_smplx_files(body, tmp_path / "smplx2", tmp_path / "corr2", with_uv=False)
    with np.load(npz2) as z:
        assert "vt" not in z.files and "ft" not in z.files
