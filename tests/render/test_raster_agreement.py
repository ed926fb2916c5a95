"""The torch and pytorch3d backends agree (pix_to_face, barycentrics, silhouettes, gradients)."""

from __future__ import annotations

import math

import pytest
import torch

from rome_smplx.render.raster import ROME_SOFT_BLUR_RADIUS, rasterize, resolve_backend, soft_silhouette

pytestmark = pytest.mark.pytorch3d


def icosphere(level: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit icosphere: (V, 3) float64 vertices and (F, 3) faces (20 * 4**level faces)."""
    t = (1 + 5**0.5) / 2
    v = torch.tensor(
        [
            [-1, t, 0],
            [1, t, 0],
            [-1, -t, 0],
            [1, -t, 0],
            [0, -1, t],
            [0, 1, t],
            [0, -1, -t],
            [0, 1, -t],
            [t, 0, -1],
            [t, 0, 1],
            [-t, 0, -1],
            [-t, 0, 1],
        ],
        dtype=torch.float64,
    )
    f = torch.tensor(
        [
            [0, 11, 5],
            [0, 5, 1],
            [0, 1, 7],
            [0, 7, 10],
            [0, 10, 11],
            [1, 5, 9],
            [5, 11, 4],
            [11, 10, 2],
            [10, 7, 6],
            [7, 1, 8],
            [3, 9, 4],
            [3, 4, 2],
            [3, 2, 6],
            [3, 6, 8],
            [3, 8, 9],
            [4, 9, 5],
            [2, 4, 11],
            [6, 2, 10],
            [8, 6, 7],
            [9, 8, 1],
        ]
    )
    v = v / v.norm(dim=1, keepdim=True)
    for _ in range(level):
        edges = torch.cat([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]).sort(1).values
        uniq, inv = torch.unique(edges, dim=0, return_inverse=True)
        mid = v[uniq[:, 0]] + v[uniq[:, 1]]
        n0, F = v.shape[0], f.shape[0]
        v = torch.cat([v, mid / mid.norm(dim=1, keepdim=True)])
        a, b, c = inv[:F] + n0, inv[F : 2 * F] + n0, inv[2 * F :] + n0
        f = torch.cat(
            [
                torch.stack([f[:, 0], a, c], 1),
                torch.stack([f[:, 1], b, a], 1),
                torch.stack([f[:, 2], c, b], 1),
                torch.stack([a, b, c], 1),
            ]
        )
    return v, f


def sphere_batch() -> tuple[torch.Tensor, torch.Tensor]:
    v, f = icosphere(2)
    a = v * 0.8 + torch.tensor([0.05, -0.02, 2.0], dtype=torch.float64)
    b = v * torch.tensor([0.6, 0.9, 0.7], dtype=torch.float64) + torch.tensor(
        [-0.1, 0.05, 3.0], dtype=torch.float64
    )
    return torch.stack([a, b]).float(), f


def random_batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two overlapping soups of well-shaped random triangles (float32 barycentrics stay accurate)."""
    g = torch.Generator().manual_seed(seed)
    n = 80
    c = torch.rand(2, n, 1, 3, generator=g) * 2.2 - 1.1
    c[..., 2] += 2.0
    ang = torch.rand(2, n, 1, generator=g) * 2 * math.pi + torch.tensor([0.0, 2.1, 4.2])
    ang = ang + (torch.rand(2, n, 3, generator=g) - 0.5) * 0.5
    rad = 0.12 + 0.1 * torch.rand(2, n, 3, generator=g)
    offs = torch.stack(
        [rad * torch.cos(ang), rad * torch.sin(ang), (torch.rand(2, n, 3, generator=g) - 0.5) * 0.2], -1
    )
    return (c + offs).reshape(2, n * 3, 3), torch.arange(n * 3).reshape(n, 3)


MESHES = {"sphere": sphere_batch, "random": lambda: random_batch(11)}


@pytest.mark.parametrize("mesh", list(MESHES))
@pytest.mark.parametrize("size", [(48, 72), (80, 56)])
@pytest.mark.parametrize("K,blur", [(1, 0.0), (10, ROME_SOFT_BLUR_RADIUS), (4, 1e-3)])
def test_fragments_agree(mesh, size, K, blur):
    v, f = MESHES[mesh]()
    a = rasterize(v, f, size, faces_per_pixel=K, blur_radius=blur, backend="torch")
    b = rasterize(v, f, size, faces_per_pixel=K, blur_radius=blur, backend="pytorch3d")
    assert a.backend == "torch" and b.backend == "pytorch3d"
    covered = (a.pix_to_face >= 0) | (b.pix_to_face >= 0)
    assert int(covered.sum()) > 1000
    same = (a.pix_to_face == b.pix_to_face) & covered
    assert float(same.sum()) / float(covered.sum()) >= 0.999
    inside = same & (b.dists < 0)  # samples inside their face
    assert int(inside.sum()) > 500
    torch.testing.assert_close(a.bary_coords[inside], b.bary_coords[inside], atol=1e-5, rtol=0)
    torch.testing.assert_close(a.zbuf[inside], b.zbuf[inside], atol=1e-5, rtol=1e-5)
    # outside samples (blur region) extrapolate the face plane: float32 rounding grows with distance
    torch.testing.assert_close(a.zbuf[same], b.zbuf[same], atol=1e-4, rtol=1e-3)
    torch.testing.assert_close(a.dists[same], b.dists[same], atol=1e-7, rtol=1e-4)


@pytest.mark.parametrize("mesh", list(MESHES))
def test_soft_silhouettes_and_gradients_agree(mesh):
    v, f = MESHES[mesh]()
    size = (64, 88)
    w = torch.rand(2, *size, generator=torch.Generator().manual_seed(5))
    grads, alphas = [], []
    for backend in ("torch", "pytorch3d"):
        x = v.clone().requires_grad_(True)
        alpha = soft_silhouette(x, f, size, sigma=1e-4, faces_per_pixel=10, backend=backend)
        (alpha * w).sum().backward()
        grads.append(x.grad.reshape(-1))
        alphas.append(alpha.detach())
    assert float(alphas[0].sum()) > 500
    torch.testing.assert_close(alphas[0], alphas[1], atol=1e-3, rtol=0)
    assert float(grads[0].norm()) > 0
    cos = torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=0)
    assert float(cos) >= 0.99


def test_rome_soft_pass_gradients_agree():
    v, f = sphere_batch()
    size = (56, 56)
    target = torch.zeros(2, *size)
    target[:, 10:46, 12:40] = 1.0
    grads = []
    for backend in ("torch", "pytorch3d"):
        x = v.clone().requires_grad_(True)
        alpha = soft_silhouette(x, f, size, blur_radius=ROME_SOFT_BLUR_RADIUS, backend=backend)
        ((alpha - target) ** 2).mean().backward()
        grads.append(x.grad.reshape(-1))
    cos = torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=0)
    assert float(cos) >= 0.99


def test_hard_pass_barycentric_gradients_agree():
    v, f = sphere_batch()
    size = (40, 40)
    attr = torch.randn(2, v.shape[1], 3, generator=torch.Generator().manual_seed(1))
    from rome_smplx.render.raster import interpolate

    grads = []
    for backend in ("torch", "pytorch3d"):
        x = v.clone().requires_grad_(True)
        fr = rasterize(x, f, size, backend=backend)
        (interpolate(fr, attr) ** 2).sum().backward()
        grads.append(x.grad.reshape(-1))
    assert float(torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=0)) >= 0.99


def test_auto_backend_and_dtype_round_trip():
    # "auto" takes pytorch3d only for CUDA tensors; on the CPU the torch backend is the fast path.
    assert resolve_backend("auto", torch.device("cuda")).name == "pytorch3d"
    assert resolve_backend("auto", torch.device("cpu")).name == "torch"
    v, f = sphere_batch()
    fr = rasterize(v.double(), f, (32, 32), backend="pytorch3d")
    assert fr.bary_coords.dtype == torch.float64 and fr.pix_to_face.dtype == torch.int64
    assert math.isclose(
        float(fr.mask.float().mean()),
        float(rasterize(v, f, (32, 32), backend="torch").mask.float().mean()),
        abs_tol=2e-3,
    )
