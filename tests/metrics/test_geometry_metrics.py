"""Geometry metrics against analytic answers (and pytorch3d's Chamfer distance when installed)."""

from __future__ import annotations

import math

import pytest
import torch

from rome_smplx.errors import InputError
from rome_smplx.metrics import (
    chamfer_distance,
    mean_vertex_error,
    mesh_to_mesh_distance,
    nearest_distances,
    point_to_mesh_distance,
    sample_surface,
)


def _square(z: float = 0.0, size: float = 1.0):
    v = torch.tensor([[0, 0, z], [size, 0, z], [size, size, z], [0, size, z]], dtype=torch.float64)
    f = torch.tensor([[0, 1, 2], [0, 2, 3]])
    return v[None], f


def test_chamfer_analytic():
    a = torch.tensor([[[0.0, 0.0], [1.0, 0.0]]])
    b = torch.tensor([[[0.0, 1.0], [1.0, 1.0], [5.0, 1.0]]])
    # a -> b: both at distance 1; b -> a: 1, 1, sqrt(16 + 1)
    tot, ab, ba = chamfer_distance(a, b, return_directions=True)
    assert ab.item() == pytest.approx(1.0)
    assert ba.item() == pytest.approx((1 + 1 + 17) / 3)
    assert tot.item() == pytest.approx(1.0 + 19 / 3)
    plain = chamfer_distance(a, b, squared=False)
    assert plain.item() == pytest.approx(1.0 + (2 + math.sqrt(17)) / 3)
    # symmetric, zero for identical sets
    assert torch.allclose(chamfer_distance(b, a), tot)
    assert chamfer_distance(b, b).item() == 0.0


def test_chamfer_masks_equal_unpadded_sets():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 30, 3, generator=g)
    b = torch.rand(2, 40, 3, generator=g)
    ma = torch.ones(2, 30, dtype=torch.bool)
    mb = torch.ones(2, 40, dtype=torch.bool)
    ma[0, 20:] = False
    mb[1, 25:] = False
    out = chamfer_distance(a, b, ma, mb)
    assert out[0].item() == pytest.approx(chamfer_distance(a[:1, :20], b[:1]).item(), rel=1e-6)
    assert out[1].item() == pytest.approx(chamfer_distance(a[1:], b[1:, :25]).item(), rel=1e-6)
    with pytest.raises(InputError, match="selects no point"):
        chamfer_distance(a, b, torch.zeros(2, 30, dtype=torch.bool))
    with pytest.raises(InputError, match=r"\(B, P, 3\)"):
        chamfer_distance(a, b[..., :2])


def test_chamfer_chunks_and_gradients():
    g = torch.Generator().manual_seed(1)
    a = torch.rand(1, 2500, 2, generator=g, dtype=torch.float64, requires_grad=True)  # > one chunk
    b = torch.rand(1, 700, 2, generator=g, dtype=torch.float64)
    d, idx = nearest_distances(a, b)
    brute = torch.cdist(a, b).pow(2).min(-1)
    assert torch.allclose(d, brute.values)
    assert torch.equal(idx, brute.indices)
    assert torch.autograd.gradcheck(lambda x: chamfer_distance(x, b), (a[:, :50].detach().requires_grad_(),))


@pytest.mark.pytorch3d
def test_chamfer_matches_pytorch3d():
    from pytorch3d.loss import chamfer_distance as p3d_chamfer

    g = torch.Generator().manual_seed(2)
    a = torch.rand(3, 100, 3, generator=g)
    b = torch.rand(3, 80, 3, generator=g)
    ref, _ = p3d_chamfer(a, b, batch_reduction=None)
    assert torch.allclose(chamfer_distance(a, b), ref, rtol=1e-5)


def test_point_to_triangle_regions():
    v, f = _square()
    pts = torch.tensor([[[0.5, 0.25, 2.0],    # above the interior: 2
                         [-3.0, 0.5, 0.0],    # beside an edge: 3
                         [-3.0, -4.0, 0.0],   # beyond a corner: 5
                         [2.0, 3.0, -1.0],    # corner (1, 1, 0): sqrt(1 + 4 + 1)
                         [0.3, 0.3, 0.0]]],   # on the surface: 0
                       dtype=torch.float64)
    d = point_to_mesh_distance(pts, v, f)
    assert torch.allclose(d, torch.tensor([[2.0, 3.0, 5.0, math.sqrt(6.0), 0.0]], dtype=torch.float64))


def test_point_to_mesh_matches_dense_sampling():
    g = torch.Generator().manual_seed(3)
    verts = torch.rand(1, 6, 3, generator=g, dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2], [3, 4, 5], [0, 3, 5]])
    pts = torch.rand(1, 40, 3, generator=g, dtype=torch.float64) * 2 - 0.5
    exact = point_to_mesh_distance(pts, verts, faces, chunk=7)
    # brute force: a fine barycentric grid on every triangle
    n = 120
    i, j = torch.meshgrid(torch.arange(n + 1), torch.arange(n + 1), indexing="ij")
    keep = (i + j) <= n
    u, w = (i[keep] / n).double(), (j[keep] / n).double()
    tri = verts[0, faces]
    dense = (tri[:, None, 0] + (tri[:, None, 1] - tri[:, None, 0]) * u[None, :, None]
             + (tri[:, None, 2] - tri[:, None, 0]) * w[None, :, None]).reshape(-1, 3)
    brute = torch.cdist(pts[0], dense).min(-1).values
    assert (exact[0] <= brute + 1e-12).all()  # exact is never above a sampled distance
    assert torch.allclose(exact[0], brute, atol=0.02)


def test_mesh_to_mesh_parallel_squares_and_vertex_error():
    a, fa = _square(0.0)
    b, fb = _square(0.3)
    out = mesh_to_mesh_distance(a, fa, b, fb, num_samples=500, seed=0)
    for key in ("a_to_b", "b_to_a", "symmetric", "hausdorff"):
        assert out[key].item() == pytest.approx(0.3, abs=1e-9)
    # a larger square: a's samples lie above b (0.3), b's samples outside a are farther
    c, fc = _square(0.3, size=2.0)
    out = mesh_to_mesh_distance(a, fa, c, fc, num_samples=4000, seed=1)
    assert out["a_to_b"].item() == pytest.approx(0.3, abs=1e-9)
    assert out["b_to_a"].item() > 0.3
    # same seed, same numbers
    assert torch.equal(mesh_to_mesh_distance(a, fa, c, fc, num_samples=4000, seed=1)["b_to_a"], out["b_to_a"])
    # samples lie on the surface and cover it uniformly (mean of a unit square's samples ~ centre)
    s = sample_surface(a, fa, 20000, torch.Generator().manual_seed(0))
    assert torch.allclose(s[..., 2], torch.zeros(()).double())
    assert torch.allclose(s[0, :, :2].mean(0), torch.tensor([0.5, 0.5], dtype=torch.float64), atol=0.01)


def test_mean_vertex_error_masked():
    pred = torch.zeros(2, 4, 3)
    target = torch.zeros(2, 4, 3)
    target[:, 0] = torch.tensor([3.0, 4.0, 0.0])  # error 5 at vertex 0
    target[:, 1, 2] = 1.0  # error 1 at vertex 1
    assert torch.allclose(mean_vertex_error(pred, target), torch.full((2,), 1.5))
    mask = torch.tensor([True, True, False, False])
    assert torch.allclose(mean_vertex_error(pred, target, mask), torch.full((2,), 3.0))
    bmask = torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])
    assert torch.allclose(mean_vertex_error(pred, target, bmask), torch.tensor([5.0, 1.0]))
    with pytest.raises(InputError, match="mask must be"):
        mean_vertex_error(pred, target, torch.ones(3))
    with pytest.raises(InputError, match="selects no vertex"):
        mean_vertex_error(pred, target, torch.zeros(4))
