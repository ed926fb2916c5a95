"""The pure-PyTorch rasteriser alone: analytic answers, a dense brute-force oracle, gradients."""

from __future__ import annotations

import math

import pytest
import torch

from rome_smplx.errors import BackendError, InputError
from rome_smplx.render.cameras import pixel_centers_ndc
from rome_smplx.render.raster import (
    default_blur_radius,
    interpolate,
    rasterize,
    resolve_backend,
    sigmoid_alpha,
    soft_silhouette,
    torch_backend,
)


# ------------------------------------------------------------------------------------- oracle
def brute_force(verts, faces, H, W, K, blur):
    """Dense float64 (pixels x faces) rasteriser with pytorch3d's rules, one batch element."""
    verts = verts.double()
    m = min(H, W)
    c = pixel_centers_ndc(H, W, dtype=torch.float64).reshape(-1, 2) * torch.tensor(
        [W / m, H / m], dtype=torch.float64
    )
    v = verts[faces] * torch.tensor([W / m, H / m, 1.0], dtype=torch.float64)  # (F, 3, 3) isotropic units
    p = c[:, None, :]  # (P, 1, 2)

    def edge(p, a, b):
        return (p[..., 0] - a[..., 0]) * (b[..., 1] - a[..., 1]) - (p[..., 1] - a[..., 1]) * (
            b[..., 0] - a[..., 0]
        )

    v0, v1, v2 = v[None, :, 0, :2], v[None, :, 1, :2], v[None, :, 2, :2]
    area = edge(v2, v0, v1)
    den = area + 1e-8
    w = torch.stack([edge(p, v1, v2) / den, edge(p, v2, v0) / den, edge(p, v0, v1) / den], -1)
    z = (w * v[None, :, :, 2]).sum(-1)

    def seg(p, a, b):
        e = b - a
        t = (((p - a) * e).sum(-1) / (e * e).sum(-1)).clamp(0, 1)
        return ((p - a - t[..., None] * e) ** 2).sum(-1)

    d = torch.minimum(torch.minimum(seg(p, v0, v1), seg(p, v0, v2)), seg(p, v1, v2))
    inside = (w > 0).all(-1)
    ok = (area.abs() > 1e-8) & (v[None, :, :, 2].amin(-1) >= 1e-8) & (z >= 0) & (inside | (d < blur))
    zk = torch.where(ok, z, torch.full_like(z, math.inf))
    order = torch.sort(zk, dim=1, stable=True).indices[:, :K]  # ties -> lower face index
    sel_ok = torch.gather(ok, 1, order)
    p2f = torch.where(sel_ok, order, torch.full_like(order, -1))
    dist = torch.where(inside, -d, d)
    take = lambda t: torch.where(sel_ok, torch.gather(t, 1, order), torch.full_like(order, -1, dtype=t.dtype))
    bary = torch.stack([take(w[..., i]) for i in range(3)], -1)
    return (
        p2f.reshape(H, W, K),
        bary.reshape(H, W, K, 3),
        take(z).reshape(H, W, K),
        take(dist).reshape(H, W, K),
    )


def random_soup(n_faces, generator, size=0.35, dtype=torch.float64):
    centres = torch.rand(n_faces, 1, 3, generator=generator, dtype=dtype) * 2.2 - 1.1
    centres[..., 2] = centres[..., 2] + 2.0
    offs = (torch.rand(n_faces, 3, 3, generator=generator, dtype=dtype) - 0.5) * size
    offs[..., 2] *= 0.5
    v = (centres + offs).reshape(1, -1, 3)
    f = torch.arange(n_faces * 3).reshape(n_faces, 3)
    return v, f


# ------------------------------------------------------------------------------------ analytic
def test_single_triangle_pixel_count_equals_area():
    H, W = 64, 96
    v = torch.tensor(
        [[[-0.8123, -0.7071, 1.0], [0.9137, -0.2213, 1.5], [-0.1029, 0.8532, 2.0]]], dtype=torch.float64
    )
    f = torch.tensor([[0, 1, 2]])
    fr = rasterize(v, f, (H, W), backend="torch")
    count = int((fr.pix_to_face[..., 0] == 0).sum())
    px = (v[0, :, :2] + 1) * torch.tensor([W / 2, H / 2], dtype=torch.float64)
    e1, e2 = px[1] - px[0], px[2] - px[0]
    area = 0.5 * abs(float(e1[0] * e2[1] - e1[1] * e2[0]))
    perimeter = float((px[1] - px[0]).norm() + (px[2] - px[1]).norm() + (px[0] - px[2]).norm())
    assert abs(count - area) <= perimeter / 2 + 1, (count, area, perimeter)
    # exactly the pixel centres strictly inside
    ref = brute_force(v[0], f, H, W, 1, 0.0)[0]
    assert torch.equal(fr.pix_to_face[0], ref)


def test_depth_ordering_of_overlapping_triangles():
    v = torch.tensor(
        [
            [
                [-0.9, -0.9, 2.0],
                [0.9, -0.9, 2.0],
                [0.0, 0.9, 2.0],
                [-0.9, 0.9, 1.0],
                [0.9, 0.9, 1.0],
                [0.0, -0.9, 1.0],
            ]
        ]
    )
    f = torch.tensor([[0, 1, 2], [3, 4, 5]])
    fr = rasterize(v, f, (32, 32), faces_per_pixel=2, backend="torch")
    both = (fr.pix_to_face >= 0).all(-1)
    assert int(both.sum()) > 100
    assert bool((fr.pix_to_face[..., 0][both] == 1).all())  # face 1 is nearer (z = 1)
    assert bool((fr.pix_to_face[..., 1][both] == 0).all())
    torch.testing.assert_close(fr.zbuf[..., 0][both], torch.ones(int(both.sum())))
    # moving face 1 behind face 0 swaps the order
    v2 = v.clone()
    v2[0, 3:, 2] = 3.0
    fr2 = rasterize(v2, f, (32, 32), faces_per_pixel=1, backend="torch")
    assert bool((fr2.pix_to_face[..., 0][both] == 0).all())


def test_barycentrics_reproduce_pixel_centres_and_depth():
    g = torch.Generator().manual_seed(1)
    v, f = random_soup(40, g, size=0.6)
    H, W = 40, 56
    fr = rasterize(v, f, (H, W), faces_per_pixel=3, backend="torch")
    xyz = interpolate(fr, v)  # (1, H, W, K, 3)
    centres = pixel_centers_ndc(H, W, dtype=torch.float64)[None, :, :, None, :].expand_as(xyz[..., :2])
    m = fr.pix_to_face >= 0
    assert int(m.sum()) > 500
    # exact up to pytorch3d's 1e-8 offset in the barycentric denominator (relative 1e-8 / area)
    torch.testing.assert_close(xyz[..., :2][m], centres[m], atol=1e-5, rtol=0)
    torch.testing.assert_close(xyz[..., 2][m], fr.zbuf[m], atol=1e-12, rtol=0)
    torch.testing.assert_close(
        fr.bary_coords.sum(-1)[m], torch.ones(int(m.sum()), dtype=torch.float64), atol=1e-5, rtol=0
    )
    # per-face-corner attributes give the same answer
    face_attrs = v[:, f]  # (1, F, 3, 3)
    torch.testing.assert_close(interpolate(fr, face_attrs), xyz)
    assert bool((xyz[~m] == 0).all())


def test_empty_image_and_no_faces():
    v = torch.tensor([[[2.0, 2.0, 1.0], [3.0, 2.0, 1.0], [2.0, 3.0, 1.0]]])  # off screen
    fr = rasterize(v, torch.tensor([[0, 1, 2]]), (16, 20), faces_per_pixel=4, backend="torch")
    assert fr.pix_to_face.shape == (1, 16, 20, 4)
    assert (
        bool((fr.pix_to_face == -1).all())
        and bool((fr.zbuf == -1).all())
        and bool((fr.bary_coords == -1).all())
    )
    fr0 = rasterize(v, torch.zeros(0, 3, dtype=torch.int64), (8, 8), backend="torch")
    assert bool((fr0.pix_to_face == -1).all())


def test_faces_behind_camera_partially_offscreen_and_degenerate():
    v = torch.tensor(
        [
            [
                [-0.5, -0.5, -1.0],
                [0.5, -0.5, 1.0],
                [0.0, 0.5, 1.0],  # one vertex behind: dropped
                [-3.0, -0.2, 1.0],
                [0.3, -0.2, 1.0],
                [0.3, 0.6, 1.0],  # partly off screen: clipped
                [-0.9, -0.9, 0.5],
                [0.0, 0.0, 0.5],
                [0.9, 0.9, 0.5],  # collinear: ignored
            ]
        ],
        dtype=torch.float64,
    )
    f = torch.arange(9).reshape(3, 3)
    fr = rasterize(v, f, (32, 48), backend="torch")
    ids = set(fr.pix_to_face.unique().tolist())
    assert ids == {-1, 1}
    ref = brute_force(v[0], f, 32, 48, 1, 0.0)[0]
    assert torch.equal(fr.pix_to_face[0], ref)
    assert bool((fr.pix_to_face[0, :, 0, 0] == 1).any())  # reaches the left border


@pytest.mark.parametrize("K,blur", [(1, 0.0), (4, 0.0), (1, 2e-3), (6, 2e-3), (10, 1e-4)])
def test_matches_dense_oracle(K, blur):
    g = torch.Generator().manual_seed(7)
    v, f = random_soup(60, g)
    H, W = 36, 50
    fr = rasterize(v, f, (H, W), faces_per_pixel=K, blur_radius=blur, backend="torch")
    p2f, bary, z, dist = brute_force(v[0], f, H, W, K, blur)
    assert torch.equal(fr.pix_to_face[0], p2f)
    m = p2f >= 0
    assert int(m.sum()) > 200
    torch.testing.assert_close(fr.bary_coords[0][m], bary[m], atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(fr.zbuf[0][m], z[m], atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(fr.dists[0][m], dist[m], atol=1e-12, rtol=1e-9)


def test_big_faces_and_small_chunks_give_identical_results(monkeypatch):
    g = torch.Generator().manual_seed(2)
    v, f = random_soup(30, g, size=0.3, dtype=torch.float32)
    big = torch.tensor([[[-5.0, -5.0, 3.0], [5.0, -5.0, 3.0], [0.0, 6.0, 3.0]]])  # covers everything
    v = torch.cat([v, big], 1)
    f = torch.cat([f, torch.tensor([[90, 91, 92]])])
    ref = rasterize(v, f, (70, 90), faces_per_pixel=3, blur_radius=1e-3, backend="torch")
    assert bool((ref.pix_to_face[..., 0] >= 0).all())
    monkeypatch.setattr(torch_backend, "CHUNK_CANDIDATES", 97)
    out = rasterize(v, f, (70, 90), faces_per_pixel=3, blur_radius=1e-3, backend="torch")
    assert torch.equal(out.pix_to_face, ref.pix_to_face)
    torch.testing.assert_close(out.dists, ref.dists)
    hard = rasterize(v, f, (70, 90), backend="torch")
    monkeypatch.setattr(torch_backend, "CHUNK_CANDIDATES", 1 << 20)
    assert torch.equal(hard.pix_to_face, rasterize(v, f, (70, 90), backend="torch").pix_to_face)


def test_batched_per_element_faces_and_local_face_indices():
    g = torch.Generator().manual_seed(4)
    v1, f1 = random_soup(20, g)
    v2, _ = random_soup(20, g)
    f2 = f1.flip(0)
    v = torch.cat([v1, v2])
    fb = torch.stack([f1, f2])
    fr = rasterize(v, fb, (30, 30), faces_per_pixel=2, backend="torch")
    for b, fb_ in enumerate((f1, f2)):
        one = rasterize(v[b : b + 1], fb_, (30, 30), faces_per_pixel=2, backend="torch")
        assert torch.equal(fr.pix_to_face[b], one.pix_to_face[0])
        torch.testing.assert_close(fr.bary_coords[b], one.bary_coords[0])
    assert int(fr.pix_to_face.max()) < 20


# ---------------------------------------------------------------------------------- gradients
def _fd_check(loss_fn, v, idx, eps=1e-6):
    v = v.clone().requires_grad_(True)
    loss_fn(v).backward()
    g = v.grad.clone()
    for i, j in idx:
        vp, vm = v.detach().clone(), v.detach().clone()
        vp[0, i, j] += eps
        vm[0, i, j] -= eps
        fd = (loss_fn(vp) - loss_fn(vm)) / (2 * eps)
        assert float(abs(fd)) > 1e-6, "the probe should move the loss"
        torch.testing.assert_close(g[0, i, j], fd, rtol=1e-4, atol=1e-7)


def test_soft_silhouette_gradient_matches_finite_differences():
    v = torch.tensor(
        [[[-0.5, -0.4, 1.0], [0.45, -0.5, 1.2], [0.05, 0.55, 1.1], [0.6, 0.5, 1.5]]], dtype=torch.float64
    )
    f = torch.tensor([[0, 1, 2], [1, 3, 2]])
    weights = torch.rand(1, 24, 28, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    def loss(x):
        a = soft_silhouette(x, f, (24, 28), sigma=1e-3, faces_per_pixel=2, backend="torch")
        return (a * weights).sum()

    _fd_check(loss, v, [(0, 0), (1, 1), (2, 0), (3, 1), (2, 1)])


def test_interpolated_attribute_gradient_through_barycentrics():
    v = torch.tensor([[[-0.7, -0.6, 1.0], [0.8, -0.5, 2.0], [0.1, 0.75, 1.5]]], dtype=torch.float64)
    f = torch.tensor([[0, 1, 2]])
    attr = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [3.0, 1.0]]], dtype=torch.float64)

    def loss(x):
        fr = rasterize(x, f, (20, 24), backend="torch")
        return (interpolate(fr, attr) ** 2).sum() + fr.zbuf.clamp_min(0).sum()

    _fd_check(loss, v, [(0, 0), (1, 1), (2, 0), (1, 2)])


def test_sigmoid_alpha_formula_and_default_blur():
    assert default_blur_radius(1e-4) == pytest.approx(math.log(1e4 - 1) * 1e-4)
    v = torch.tensor([[[-0.5, -0.5, 1.0], [0.5, -0.5, 1.0], [0.0, 0.5, 1.0]]], dtype=torch.float64)
    f = torch.tensor([[0, 1, 2]])
    fr = rasterize(v, f, (16, 16), faces_per_pixel=3, blur_radius=5e-3, backend="torch")
    a = sigmoid_alpha(fr, 1e-3)
    valid = fr.pix_to_face >= 0
    expected = 1 - torch.where(valid, 1 - torch.sigmoid(-fr.dists / 1e-3), torch.ones_like(fr.dists)).prod(-1)
    torch.testing.assert_close(a, expected)
    inside = (fr.dists[..., 0] < 0) & valid[..., 0]
    assert bool((a[inside] > 0.5).all()) and bool((a[~valid[..., 0]] == 0).all())


def test_bad_inputs():
    v = torch.zeros(1, 3, 3)
    with pytest.raises(InputError, match=r"faces: vertex indices must lie in \[0, 2\]"):
        rasterize(v, torch.tensor([[0, 1, 3]]), (8, 8), backend="torch")
    with pytest.raises(InputError, match="verts_ndc: expected a tensor of shape"):
        rasterize(torch.zeros(3, 3), torch.tensor([[0, 1, 2]]), (8, 8))
    with pytest.raises(InputError, match="faces_per_pixel"):
        rasterize(v, torch.tensor([[0, 1, 2]]), (8, 8), faces_per_pixel=0)
    with pytest.raises(InputError, match="NaN"):
        rasterize(torch.full((1, 3, 3), float("nan")), torch.tensor([[0, 1, 2]]), (8, 8), backend="torch")
    with pytest.raises(InputError, match="backend"):
        resolve_backend("opengl")


def test_missing_pytorch3d_is_a_backend_error(monkeypatch):
    from rome_smplx.render.raster import base

    monkeypatch.setattr(base, "_pytorch3d_importable", lambda: False)
    assert resolve_backend("auto").name == "torch"
    with pytest.raises(BackendError, match="pytorch3d"):
        resolve_backend("pytorch3d")


def test_fragment_values_analytic_backward_passes_gradcheck():
    from rome_smplx.render.raster.torch_backend import _FragmentValues

    g = torch.Generator().manual_seed(9)
    verts = torch.randn(1, 6, 3, generator=g, dtype=torch.float64) * 0.5
    verts[..., 2] += 2.0
    vidx = torch.tensor([[0, 1, 2], [3, 4, 5], [0, 2, 4], [1, 3, 5], [5, 0, 3], [2, 1, 4]])
    pcx = torch.rand(6, generator=g, dtype=torch.float64) - 0.5
    pcy = torch.rand(6, generator=g, dtype=torch.float64) - 0.5
    verts.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda v: _FragmentValues.apply(v, vidx, pcx, pcy, 1.25, 1.0), (verts,), eps=1e-6, atol=1e-6
    )


def test_soft_silhouette_default_covers_a_dense_mesh_interior():
    """Dense closed mesh at 128 px: with the default radius the soft silhouette (> 0.5) is the hard
    coverage up to a one-pixel rim. (With pytorch3d's example radius 9.2e-4 and K=10 the K faces nearest
    in depth crowd out the covering face, and the interior falls below 0.5: IoU 0.04 on this sphere.)"""
    import trimesh

    m = trimesh.creation.icosphere(subdivisions=5, radius=0.6)
    v = torch.tensor(m.vertices, dtype=torch.float32)[None]
    v[..., 2] += 2.0
    f = torch.tensor(m.faces)
    hard = rasterize(v, f, (128, 128), backend="torch").pix_to_face[..., 0] >= 0
    soft = soft_silhouette(v, f, (128, 128), backend="torch") > 0.5
    iou = float((soft & hard).sum() / (soft | hard).sum())
    assert iou > 0.95
    crowded = soft_silhouette(v, f, (128, 128), blur_radius=default_blur_radius(), backend="torch") > 0.5
    assert float((crowded & hard).sum() / (crowded | hard).sum()) < 0.5  # the pitfall the default avoids
