"""ROME data files for the synthetic head: lists, faces, UVs, linear basis and mean offsets."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from rome_smplx.assets import load_pickle
from rome_smplx.assets.flame_topology import FLAME_FIXED_NECK_VERTICES, deformable_vertices
from rome_smplx.assets.synthetic import _mesh as M
from rome_smplx.assets.synthetic.head import FLAME_NUM_VERTICES, build_head
from rome_smplx.assets.synthetic.rome_data import build_rome_data, write_rome_files
from rome_smplx.errors import InputError


@pytest.fixture(scope="module", params=((FLAME_NUM_VERTICES, 3), (1800, 3), (FLAME_NUM_VERTICES, 2)),
                ids=lambda p: f"n{p[0]}-v{p[1]}")
def pair(request):
    n, version = request.param
    head = build_head(n, seed=0)
    return head, build_rome_data(head, seed=0, generator_version=version)


def _version(head, d) -> int:
    """The generator version ``d`` was built with (the fixture's parameter)."""
    rule = deformable_vertices(d.hair_list, d.neck_list, head.num_vertices)
    return 3 if np.array_equal(rule, d.deformable) else 2


def _support(block: np.ndarray) -> np.ndarray:
    return np.nonzero(np.abs(block).reshape(block.shape[0], -1).sum(axis=1) > 0)[0]


def test_lists_and_edge_lists(pair):
    head, d = pair
    assert len(np.intersect1d(d.hair_list, d.neck_list)) == 0
    assert np.array_equal(d.hair_list, np.unique(head.regions["scalp"]))
    for core, edge in ((d.hair_list, d.hair_edge_list), (d.neck_list, d.neck_edge_list)):
        assert np.all(np.diff(edge) > 0) and np.isin(core, edge).all() and len(edge) > len(core)
        # the extra vertices are exactly the one-ring of the core
        ring = np.setdiff1d(edge, core)
        touching = head.faces[np.isin(head.faces, core).any(1)]
        assert np.array_equal(ring, np.setdiff1d(np.unique(touching), core))
    # the neck list reaches the boundary ring; the hair list is above the eyes
    assert np.isin(head.regions["boundary"], d.neck_list).all()
    assert head.v_template[d.hair_list, 1].min() > head.v_template[head.points["chin"], 1]


def test_local_faces(pair):
    head, d = pair
    for core, edge, local in ((d.hair_list, d.hair_edge_list, d.hair_faces), (d.neck_list, d.neck_edge_list, d.neck_faces)):
        assert local.dtype == np.int64 and local.min() >= 0 and local.max() < len(edge)
        glob = edge[local]
        expect = head.faces[np.isin(head.faces, core).any(1)]
        assert np.array_equal(glob, expect)  # same faces, same corner order


def test_faces_and_uvs(pair):
    head, d = pair
    assert np.array_equal(d.faces, head.faces_v2) and np.array_equal(d.uv_faces, head.uv_faces)
    u, v = head.uv[:, 0], head.uv[:, 1]
    assert np.allclose(d.vertex_uvcoords[:, 0], 2 * u - 1, atol=1e-6)
    assert np.allclose(d.vertex_uvcoords[:, 1], -(2 * v - 1), atol=1e-6)
    assert d.vertex_uvcoords.dtype == np.float32 and np.abs(d.vertex_uvcoords).max() <= 1.0
    # the scalp (top of the head) is near the top row of the image: grid_sample y close to -1
    assert d.vertex_uvcoords[head.points["head_top"], 1] < -0.9


def test_basis_orthonormal_with_support(pair):
    head, d = pair
    n = head.num_vertices
    assert d.basis.shape == (3 * n, 60) and d.basis.dtype == np.float32
    B = d.basis.astype(np.float64)
    assert np.abs(B.T @ B - np.eye(60)).max() < 1e-5
    b3 = d.basis.reshape(n, 3, 60)
    # hair columns on the movable scalp, neck columns on the movable neck: together the deformable set
    assert np.array_equal(_support(b3[:, :, :50]), np.setdiff1d(d.hair_list, d.throat_list))
    sup_n = _support(b3[:, :, 50:])
    assert np.array_equal(sup_n, np.setdiff1d(d.neck_list, d.throat_list))
    assert len(sup_n) > 0.7 * len(d.neck_list)
    assert np.array_equal(_support(b3), d.deformable)
    # every column lives on its own part
    for k in range(60):
        sup = _support(b3[:, :, k])
        assert np.isin(sup, d.hair_list if k < 50 else d.neck_list).all()
    # component 0 is hair volume: outward along the normals
    normals = M.vertex_normals(head.v_template, head.faces_v2)
    hair = np.setdiff1d(d.hair_list, d.throat_list)
    out = np.einsum("ij,ij->i", b3[hair, :, 0], normals[hair])
    assert (out > 0).all()
    # smooth: neighbouring scalp vertices move alike
    e = M.directed_edges(head.faces)
    e = e[np.isin(e, hair).all(1)]
    for k in range(50):
        col = b3[:, :, k]
        rough = np.linalg.norm(col[e[:, 0]] - col[e[:, 1]], axis=1).mean()
        # white noise would give about 1.4; the named components are much smoother
        limit = 0.5 if k < 8 else 0.9
        assert rough < limit * np.linalg.norm(col[hair], axis=1).mean(), k


def test_mean_deform(pair):
    head, d = pair
    n = head.num_vertices
    assert d.mean_deform.shape == (n, 3) and d.mean_deform.dtype == np.float32
    assert np.array_equal(_support(d.mean_deform), d.deformable)
    assert np.array_equal(d.deformable, np.setdiff1d(np.union1d(d.hair_list, d.neck_list), d.throat_list))
    normals = M.vertex_normals(head.v_template, head.faces_v2)
    hair = np.setdiff1d(d.hair_list, d.throat_list)
    assert len(hair) > 0.95 * len(d.hair_list)
    out = np.einsum("ij,ij->i", d.mean_deform[hair], normals[hair])
    assert out.min() > 0 and 0.008 < out.max() < 0.03  # up to 1-3 cm of hair, never inwards
    # thicker on the crown than at the hairline
    top = d.mean_deform[head.points["head_top"]]
    assert np.linalg.norm(top) > 2 * np.abs(out).min()


def test_files(pair, tmp_path):
    head, d = pair
    n = head.num_vertices
    write_rome_files(d, tmp_path)
    with open(tmp_path / "hair_list.pkl", "rb") as fh:
        raw = fh.read()
    assert raw[:2] == b"\x80\x04"
    hair = load_pickle(tmp_path / "hair_list.pkl")
    assert isinstance(hair, list) and all(type(i) is int for i in hair) and hair == d.hair_list.tolist()
    neck = load_pickle(tmp_path / "neck_list.pkl")
    assert all(isinstance(i, np.int64) for i in neck) and [int(i) for i in neck] == d.neck_list.tolist()
    for name, arr in (("hair_edge_list", d.hair_edge_list), ("neck_edge_list", d.neck_edge_list)):
        assert load_pickle(tmp_path / f"{name}.pkl") == arr.tolist()
    expect = {
        "hair_faces.pth": ((1, len(d.hair_faces), 3), torch.int64),
        "neck_faces.pth": ((1, len(d.neck_faces), 3), torch.int64),
        "faces_v2.pth": ((1, len(head.faces_v2), 3), torch.int64),
        "uvfaces_v2.pth": ((1, len(head.faces_v2), 3), torch.int64),
        "vertex_uvcoords.pth": ((1, n, 2), torch.float32),
        "u_full.pt": ((3 * n, 60), torch.float32),
        "mean_deform.pt": ((n, 3), torch.float32),
    }
    for name, (shape, dtype) in expect.items():
        t = torch.load(tmp_path / name, weights_only=True)
        assert tuple(t.shape) == shape and t.dtype == dtype, name
    assert torch.equal(torch.load(tmp_path / "u_full.pt", weights_only=True), torch.from_numpy(d.basis))
    # the SDK's restricted loader reads the list pickles (numpy scalars included)
    assert [int(i) for i in load_pickle(tmp_path / "neck_list.pkl")] == d.neck_list.tolist()
    assert not list(tmp_path.glob(".*"))


def test_deformable_rule_by_version(pair):
    head, d = pair
    n = head.num_vertices
    rule = deformable_vertices(d.hair_list, d.neck_list, n)
    lists = np.union1d(d.hair_list, d.neck_list)
    if _version(head, d) == 3:
        # ROME's rule: the FLAME throat ids on a FLAME-sized head, nothing on another size
        expect = np.intersect1d(FLAME_FIXED_NECK_VERTICES, lists) if n == FLAME_NUM_VERTICES else []
        assert np.array_equal(d.throat_list, expect)
        assert np.array_equal(_support(d.mean_deform), rule)
        if n != FLAME_NUM_VERTICES:
            assert np.array_equal(rule, lists)
    else:
        # version 2: this head's own front of the throat, which the rule does not know about
        assert len(d.throat_list) > 0 and np.isin(d.throat_list, d.neck_list).all()
        front = head.v_template[d.throat_list]
        assert (front[:, 2] > 0).all()  # in front of the neck axis
        assert len(np.setxor1d(_support(d.mean_deform), rule)) == 111  # the mismatch reported in issue 16


def test_version_2_and_3_share_the_lists(pair):
    head, d = pair
    other = build_rome_data(head, seed=0, generator_version=5 - _version(head, d))
    for name in ("hair_list", "neck_list", "hair_edge_list", "neck_edge_list", "hair_faces", "neck_faces",
                 "faces", "uv_faces", "vertex_uvcoords"):
        assert np.array_equal(getattr(d, name), getattr(other, name)), name
    if head.num_vertices == FLAME_NUM_VERTICES:
        assert not np.array_equal(d.mean_deform, other.mean_deform)
    with pytest.raises(InputError, match="generator_version"):
        build_rome_data(head, seed=0, generator_version=1)


def test_determinism(pair, tmp_path):
    head, d = pair
    d2 = build_rome_data(build_head(head.num_vertices, seed=0), seed=0, generator_version=_version(head, d))
    for name in ("hair_list", "neck_list", "hair_faces", "neck_faces", "basis", "mean_deform", "vertex_uvcoords"):
        assert np.array_equal(getattr(d, name), getattr(d2, name)), name
    write_rome_files(d, tmp_path / "a")
    write_rome_files(d2, tmp_path / "b")
    for f in sorted((tmp_path / "a").iterdir()):
        assert hashlib.sha256(f.read_bytes()).digest() == hashlib.sha256((tmp_path / "b" / f.name).read_bytes()).digest(), f.name
    d3 = build_rome_data(head, seed=1, generator_version=_version(head, d))
    assert not np.array_equal(d3.basis, d.basis)
    assert np.array_equal(d3.mean_deform, d.mean_deform)


def test_bad_input(pair):
    head, _ = pair
    import copy

    broken = copy.copy(head)
    broken.regions = {k: v for k, v in head.regions.items() if k != "scalp"}
    with pytest.raises(InputError, match="scalp"):
        build_rome_data(broken)
