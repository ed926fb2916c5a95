"""Mesh functions: normals (vs pytorch3d and analytic), edges, boundary loops, Laplacian, Umeyama."""

from __future__ import annotations

import math

import pytest
import torch
import trimesh

from rome_smplx.errors import InputError
from rome_smplx.geometry import mesh
from rome_smplx.geometry.rotations import axis_angle_to_matrix


def _icosphere(subdiv: int = 2):
    m = trimesh.creation.icosphere(subdivisions=subdiv)
    return torch.tensor(m.vertices, dtype=torch.float64)[None], torch.tensor(m.faces, dtype=torch.int64)


def _grid(n: int = 4):
    """An open n x n vertex grid in the z = 0 plane, faces counter-clockwise seen from +z."""
    ii, jj = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    verts = torch.stack([jj.flatten(), ii.flatten(), torch.zeros(n * n, dtype=torch.int64)], -1).double()
    faces = []
    for i in range(n - 1):
        for j in range(n - 1):
            a, b, c, d = i * n + j, i * n + j + 1, (i + 1) * n + j, (i + 1) * n + j + 1
            faces += [[a, b, d], [a, d, c]]
    return verts[None], torch.tensor(faces)


def test_sphere_normals_point_radially():
    v, f = _icosphere()
    n = mesh.vertex_normals(v, f)
    cos = (n * torch.nn.functional.normalize(v, dim=-1)).sum(-1)
    assert cos.min() > 0.995
    torch.testing.assert_close(n.norm(dim=-1), torch.ones(1, v.shape[1], dtype=v.dtype))
    fn = mesh.face_normals(v, f)
    centres = v[:, f].mean(2)
    assert ((fn * centres).sum(-1) > 0).all()  # outward
    # Unnormalised face normals have length 2 * area.
    area = torch.tensor(trimesh.creation.icosphere(subdivisions=2).area_faces)
    torch.testing.assert_close(mesh.face_normals(v, f, normalize=False).norm(dim=-1)[0], 2 * area)


def test_vertex_normals_are_area_weighted():
    # Vertex 0 is shared by a large face with normal +z and a small face with normal +x.
    v = torch.tensor([[[0, 0, 0], [4, 0, 0], [0, 4, 0], [0, 0, 1], [0, 1, 0]]], dtype=torch.float64)
    f = torch.tensor([[0, 1, 2], [0, 4, 3]])
    n = mesh.vertex_normals(v, f)[0, 0]
    expected = torch.nn.functional.normalize(torch.tensor([0.0, 0, 16]) + torch.tensor([1.0, 0, 0]), dim=0)
    torch.testing.assert_close(n, expected.double())


@pytest.mark.pytorch3d
def test_vertex_normals_match_pytorch3d():
    from pytorch3d.structures import Meshes

    g = torch.Generator().manual_seed(0)
    v, f = _icosphere(2)
    v = (v + 0.05 * torch.randn(v.shape, generator=g, dtype=v.dtype)).float().repeat(2, 1, 1)
    v[1] *= torch.tensor([1.0, 2.0, 0.5])
    ours = mesh.vertex_normals(v, f)
    ref = Meshes(verts=list(v), faces=[f, f]).verts_normals_padded()
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)


def test_edges_of_closed_sphere_follow_euler():
    v, f = _icosphere(1)
    e = mesh.edges(f)
    assert (e[:, 0] < e[:, 1]).all()
    assert v.shape[1] - e.shape[0] + f.shape[0] == 2
    assert e.shape[0] == 3 * f.shape[0] // 2
    assert mesh.boundary_loops(f) == []


def test_boundary_loops_of_grid_and_hole():
    _, f = _grid(4)
    loops = mesh.boundary_loops(f)
    assert len(loops) == 1
    # The outer ring of a 4x4 grid, counter-clockwise (the faces' orientation), from vertex 0.
    assert loops[0].tolist() == [0, 1, 2, 3, 7, 11, 15, 14, 13, 12, 8, 4]
    # Remove the two faces of the centre quad: a second loop of 4 vertices appears.
    keep = torch.ones(f.shape[0], dtype=torch.bool)
    keep[[8, 9]] = False
    loops = mesh.boundary_loops(f[keep])
    assert [len(lp) for lp in loops] == [12, 4]
    assert sorted(loops[1].tolist()) == [5, 6, 9, 10]


def test_uniform_laplacian_values_and_apply():
    v, f = _grid(4)
    L = mesh.uniform_laplacian(f, v.shape[1])
    assert L.is_sparse
    dense = L.to_dense()
    torch.testing.assert_close(dense.sum(1), torch.zeros(16))  # rows sum to zero
    # Interior vertex 5 has 6 neighbours in this triangulation.
    assert (dense[5] > 0).sum() == 6 and dense[5, 5] == -1
    # A planar grid is harmonic in x and y at interior vertices (the umbrella of a regular grid
    # with diagonals is symmetric), and any affine field has zero Laplacian there.
    lv = mesh.laplacian_apply(L, v.float().repeat(2, 1, 1))
    interior = [5, 6, 9, 10]
    torch.testing.assert_close(lv[:, interior], torch.zeros(2, 4, 3))
    torch.testing.assert_close(lv[0], dense @ v[0].float())
    # Isolated vertices: zero row.
    L2 = mesh.uniform_laplacian(f, 20).to_dense()
    assert (L2[16:] == 0).all()


def test_laplacian_gradient_flows():
    v, f = _icosphere(1)
    v = v.float().requires_grad_()
    L = mesh.uniform_laplacian(f, v.shape[1])
    mesh.laplacian_apply(L, v).pow(2).sum().backward()
    assert torch.isfinite(v.grad).all() and v.grad.abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_umeyama_recovers_known_similarity(dtype):
    g = torch.Generator().manual_seed(0)
    src = torch.randn(3, 50, 3, generator=g, dtype=torch.float64)
    R = axis_angle_to_matrix(torch.tensor([[0.3, -1.2, 0.5], [2.9, 0.1, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64))
    s = torch.tensor([1.7, 0.3, 1.0], dtype=torch.float64)
    t = torch.tensor([[1.0, -2.0, 0.5], [0.0, 0.0, 10.0], [-3.0, 1.0, 1.0]], dtype=torch.float64)
    dst = s[:, None, None] * src @ R.transpose(1, 2) + t[:, None]
    es, eR, et = mesh.umeyama(src.to(dtype), dst.to(dtype))
    tol = 1e-10 if dtype == torch.float64 else 2e-5
    torch.testing.assert_close(es.double(), s, atol=tol, rtol=tol)
    torch.testing.assert_close(eR.double(), R, atol=tol * 10, rtol=0)
    torch.testing.assert_close(et.double(), t, atol=tol * 10, rtol=0)
    # Rigid fit: s fixed to 1, the rotation is still the true one.
    es1, eR1, _ = mesh.umeyama(src.to(dtype), dst.to(dtype), with_scale=False)
    assert (es1 == 1).all()
    torch.testing.assert_close(eR1.double(), R, atol=tol * 10, rtol=0)


def test_umeyama_weights_ignore_outliers():
    g = torch.Generator().manual_seed(1)
    src = torch.randn(1, 40, 3, generator=g, dtype=torch.float64)
    R = axis_angle_to_matrix(torch.tensor([[0.4, 0.2, -0.9]], dtype=torch.float64))
    dst = 2.0 * src @ R.transpose(1, 2) + 1.0
    dst[:, :5] += 10 * torch.randn(1, 5, 3, generator=g, dtype=torch.float64)
    w = torch.ones(40, dtype=torch.float64)
    w[:5] = 0
    s, eR, t = mesh.umeyama(src, dst, weights=w)
    torch.testing.assert_close(s, torch.tensor([2.0], dtype=torch.float64))
    torch.testing.assert_close(eR, R)
    torch.testing.assert_close(t, torch.ones(1, 3, dtype=torch.float64))


def test_umeyama_reflection_returns_proper_rotation():
    g = torch.Generator().manual_seed(2)
    src = torch.randn(1, 30, 3, generator=g, dtype=torch.float64)
    mirror = torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))
    dst = src @ mirror  # a pure reflection: no rotation fits exactly
    s, R, t = mesh.umeyama(src, dst)
    assert torch.linalg.det(R).item() == pytest.approx(1.0, abs=1e-12)
    # A planar point set mirrored across its own plane is fitted exactly by a rotation.
    flat = src.clone()
    flat[..., 2] = 0
    rz = axis_angle_to_matrix(torch.tensor([[0.0, 0.0, math.pi / 3]], dtype=torch.float64))
    dst = (flat @ rz.transpose(1, 2)) @ mirror
    s, R, t = mesh.umeyama(flat, dst)
    assert torch.linalg.det(R).item() == pytest.approx(1.0, abs=1e-12)
    fitted = s[:, None, None] * flat @ R.transpose(1, 2) + t[:, None]
    torch.testing.assert_close(fitted, dst, atol=1e-10, rtol=0)


def test_bad_inputs():
    v, f = _icosphere(0)
    with pytest.raises(InputError, match=r"\(B, V, 3\)"):
        mesh.vertex_normals(v[0], f)
    with pytest.raises(InputError, match="out of range"):
        mesh.face_normals(v, f + 100)
    with pytest.raises(InputError, match="equal shapes"):
        mesh.umeyama(v, v[:, :5])


def test_gradcheck_normals_and_umeyama():
    g = torch.Generator().manual_seed(6)
    v, f = _icosphere(0)
    v = (v + 0.05 * torch.randn(v.shape, generator=g, dtype=v.dtype)).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: mesh.vertex_normals(x, f), (v,))
    assert torch.autograd.gradcheck(lambda x: mesh.face_normals(x, f), (v,))
    src = torch.randn(1, 8, 3, generator=g, dtype=torch.float64)
    dst = (1.5 * src @ axis_angle_to_matrix(torch.tensor([[0.2, 0.5, -0.3]], dtype=torch.float64)).transpose(1, 2)
           + 0.1 * torch.randn(1, 8, 3, generator=g, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda d: mesh.umeyama(src, d), (dst,))
