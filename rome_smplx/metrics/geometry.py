"""Geometry metrics: Chamfer distance, point-to-surface and mesh-to-mesh distances, vertex errors.

Batched over the first dimension, masked where a batch holds sets of different sizes, differentiable
(nearest neighbours are found exactly; gradients flow through the selected pairs), device-agnostic.
Pairwise distances are computed in chunks so memory stays bounded for large sets.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from rome_smplx.checks import check_shape
from rome_smplx.errors import InputError

logger = logging.getLogger(__name__)

__all__ = [
    "chamfer_distance",
    "mean_vertex_error",
    "mesh_to_mesh_distance",
    "nearest_distances",
    "point_to_mesh_distance",
    "sample_surface",
]

_CHUNK = 1024


def _point_mask(name: str, mask: Tensor | None, pts: Tensor, fn: str) -> Tensor | None:
    """``mask`` (B, P) of ``pts`` as bool, selecting at least one point per batch item (or None)."""
    if mask is None:
        return None
    check_shape(mask, "B,P", f"{fn}: {name}", dims={"B": pts.shape[0], "P": pts.shape[1]})
    m = mask.to(device=pts.device, dtype=torch.bool)
    empty = ~m.any(1)
    if bool(empty.any()):
        raise InputError(f"{fn}: {name} selects no point in batch item(s) {torch.nonzero(empty).flatten().tolist()}")
    return m


def nearest_distances(
    a: Tensor, b: Tensor, mask_b: Tensor | None = None, squared: bool = True, *, chunk: int = _CHUNK,
) -> tuple[Tensor, Tensor]:
    """For every point of ``a`` its distance to the nearest (unmasked) point of ``b``.

    Args:
        a: (B, P, D) points; b: (B, Q, D) points; mask_b: optional (B, Q) bool, True = valid.
        squared: return squared Euclidean distances.
        chunk: points of ``a`` per distance block (bounds memory at ``B * chunk * Q``).

    Returns:
        distances (B, P) and indices (B, P) into ``b``.
    """
    check_shape(a, "B,P,D", "nearest_distances: a", dtype="float")
    check_shape(b, f"B,P,{a.shape[-1]}", "nearest_distances: b", dtype="float")
    if a.shape[0] != b.shape[0]:
        raise InputError(f"nearest_distances: batch sizes differ ({a.shape[0]} vs {b.shape[0]})")
    mask_b = _point_mask("mask_b", mask_b, b, "nearest_distances")
    dists, idxs = [], []
    if int(chunk) < 1:
        raise InputError(f"nearest_distances: chunk must be a positive integer, found {chunk!r}")
    for s in range(0, a.shape[1], int(chunk)):
        ac = a[:, s: s + int(chunk)]
        with torch.no_grad():
            d2 = torch.cdist(ac, b).pow(2)
            if mask_b is not None:
                d2 = d2.masked_fill(~mask_b[:, None, :], float("inf"))
            idx = d2.argmin(-1)  # (B, p)
        nearest = torch.gather(b, 1, idx[..., None].expand(-1, -1, b.shape[-1]))
        d = (ac - nearest).pow(2).sum(-1)  # exact, differentiable w.r.t. both sets
        dists.append(d)
        idxs.append(idx)
    d = torch.cat(dists, 1)
    return (d if squared else d.clamp_min(0).sqrt()), torch.cat(idxs, 1)


def chamfer_distance(
    a: Tensor, b: Tensor, mask_a: Tensor | None = None, mask_b: Tensor | None = None,
    squared: bool = True, return_directions: bool = False, *, chunk: int = _CHUNK,
) -> Tensor | tuple[Tensor, Tensor, Tensor]:
    """Symmetric Chamfer distance ``mean_{x in a} min_{y in b} d(x, y) + mean_{y in b} min_{x in a} d(x, y)``.

    ``d`` is the squared Euclidean distance (``squared=True``, pytorch3d's ``chamfer_distance``
    convention) or the Euclidean distance. Means run over the valid points of each set.

    Args:
        a: (B, P, D) points; b: (B, Q, D) points (D = 2 or 3, any D works).
        mask_a: optional (B, P) bool; mask_b: optional (B, Q) bool (True = valid point).
        squared: squared or plain distances.
        return_directions: also return the two one-sided means.
        chunk: points per distance block (see :func:`nearest_distances`).

    Returns:
        (B,) distances, or ``(total, a_to_b, b_to_a)`` each (B,).
    """
    check_shape(a, "B,P,D", "chamfer_distance: a", dtype="float")
    check_shape(b, f"B,P,{a.shape[-1]}", "chamfer_distance: b", dtype="float")
    mask_a = _point_mask("mask_a", mask_a, a, "chamfer_distance")
    mask_b = _point_mask("mask_b", mask_b, b, "chamfer_distance")
    d_ab, _ = nearest_distances(a, b, mask_b, squared, chunk=chunk)
    d_ba, _ = nearest_distances(b, a, mask_a, squared, chunk=chunk)

    def mean(d: Tensor, m: Tensor | None) -> Tensor:
        if m is None:
            return d.mean(1)
        w = m.to(d.dtype)
        return (d * w).sum(1) / w.sum(1)

    ab, ba = mean(d_ab, mask_a), mean(d_ba, mask_b)
    return (ab + ba, ab, ba) if return_directions else ab + ba


def _closest_on_triangles(p: Tensor, v0: Tensor, v1: Tensor, v2: Tensor) -> Tensor:
    """Closest points on triangles (Voronoi-region test). Broadcasting (..., 3) inputs -> (..., 3)."""
    ab, ac, ap = v1 - v0, v2 - v0, p - v0
    d1, d2 = (ab * ap).sum(-1), (ac * ap).sum(-1)
    bp = p - v1
    d3, d4 = (ab * bp).sum(-1), (ac * bp).sum(-1)
    cp = p - v2
    d5, d6 = (ab * cp).sum(-1), (ac * cp).sum(-1)
    vc = d1 * d4 - d3 * d2
    vb = d5 * d2 - d1 * d6
    va = d3 * d6 - d5 * d4
    eps = 1e-20
    # interior
    denom = (va + vb + vc)
    denom = torch.where(denom.abs() < eps, torch.full_like(denom, eps), denom)
    v, w = vb / denom, vc / denom
    res = v0 + ab * v[..., None] + ac * w[..., None]

    def where(cond: Tensor, val: Tensor, cur: Tensor) -> Tensor:
        return torch.where(cond[..., None], val, cur)

    def safe_div(n: Tensor, d: Tensor) -> Tensor:
        return n / torch.where(d.abs() < eps, torch.full_like(d, eps), d)

    # edge BC
    t_bc = safe_div(d4 - d3, (d4 - d3) + (d5 - d6))
    res = where((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0), v1 + (v2 - v1) * t_bc[..., None], res)
    # edge AC
    t_ac = safe_div(d2, d2 - d6)
    res = where((vb <= 0) & (d2 >= 0) & (d6 <= 0), v0 + ac * t_ac[..., None], res)
    # edge AB
    t_ab = safe_div(d1, d1 - d3)
    res = where((vc <= 0) & (d1 >= 0) & (d3 <= 0), v0 + ab * t_ab[..., None], res)
    # vertices
    res = where((d6 >= 0) & (d5 <= d6), v2.expand_as(res), res)
    res = where((d3 >= 0) & (d4 <= d3), v1.expand_as(res), res)
    res = where((d1 <= 0) & (d2 <= 0), v0.expand_as(res), res)
    return res


def point_to_mesh_distance(
    points: Tensor, verts: Tensor, faces: Tensor, squared: bool = False, chunk: int = 128
) -> Tensor:
    """Exact distance from each point to a triangle mesh surface.

    Args:
        points: (B, P, 3); verts: (B, V, 3); faces: (F, 3) int64 shared over the batch.
        squared: return squared distances.
        chunk: points per chunk (memory ~ chunk * F).

    Returns:
        (B, P) distances to the closest point of any face.
    """
    check_shape(points, "B,P,3", "point_to_mesh_distance: points", dtype="float")
    check_shape(verts, "B,V,3", "point_to_mesh_distance: verts", dtype="float")
    if not isinstance(faces, Tensor) or faces.dim() != 2 or faces.shape[1] != 3 or faces.numel() == 0:
        raise InputError(f"point_to_mesh_distance: faces must be (F, 3) indices, found "
                         f"{tuple(faces.shape) if isinstance(faces, Tensor) else type(faces).__name__}")
    if int(faces.max()) >= verts.shape[1] or int(faces.min()) < 0:
        raise InputError(f"point_to_mesh_distance: faces index vertex {int(faces.max())} but verts has {verts.shape[1]}")
    if points.shape[0] != verts.shape[0]:
        raise InputError(f"point_to_mesh_distance: batch sizes differ ({points.shape[0]} vs {verts.shape[0]})")
    faces = faces.to(verts.device, torch.long)
    tri = verts[:, faces]  # (B, F, 3, 3)
    v0, v1, v2 = (tri[:, None, :, k] for k in range(3))  # (B, 1, F, 3)
    out = []
    for s in range(0, points.shape[1], chunk):
        p = points[:, s: s + chunk, None, :]  # (B, p, 1, 3)
        with torch.no_grad():
            d2 = (p - _closest_on_triangles(p, v0, v1, v2)).pow(2).sum(-1)  # (B, p, F)
            best = d2.argmin(-1)  # (B, p)
        # recompute the selected pair with gradients
        t = torch.gather(tri, 1, best.reshape(best.shape[0], -1, 1, 1).expand(-1, -1, 3, 3))
        q = _closest_on_triangles(points[:, s: s + chunk], t[:, :, 0], t[:, :, 1], t[:, :, 2])
        out.append((points[:, s: s + chunk] - q).pow(2).sum(-1))
    d = torch.cat(out, 1)
    return d if squared else d.clamp_min(0).sqrt()


def sample_surface(verts: Tensor, faces: Tensor, num_samples: int, generator: torch.Generator | None = None) -> Tensor:
    """Area-weighted uniform samples on a triangle mesh: verts (B, V, 3), faces (F, 3) -> (B, S, 3)."""
    check_shape(verts, "B,V,3", "sample_surface: verts", dtype="float")
    if num_samples < 1:
        raise InputError(f"sample_surface: num_samples must be >= 1, found {num_samples}")
    faces = faces.to(verts.device, torch.long)
    tri = verts[:, faces]  # (B, F, 3, 3)
    area = torch.linalg.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0]).norm(dim=-1)
    if bool((area.sum(1) <= 0).any()):
        raise InputError("sample_surface: the mesh has zero surface area")
    B = verts.shape[0]
    gen_dev = generator.device if generator is not None else verts.device
    idx = torch.multinomial(area.detach().to(gen_dev), num_samples, replacement=True, generator=generator).to(verts.device)
    u = torch.rand(B, num_samples, 2, generator=generator, device=gen_dev).to(verts.device, verts.dtype)
    flip = u.sum(-1, keepdim=True) > 1
    u = torch.where(flip, 1 - u, u)
    t = torch.gather(tri, 1, idx[..., None, None].expand(-1, -1, 3, 3))
    return t[:, :, 0] + (t[:, :, 1] - t[:, :, 0]) * u[..., :1] + (t[:, :, 2] - t[:, :, 0]) * u[..., 1:]


def mesh_to_mesh_distance(
    verts_a: Tensor, faces_a: Tensor, verts_b: Tensor, faces_b: Tensor, num_samples: int = 10000,
    seed: int = 0, squared: bool = False,
) -> dict[str, Tensor]:
    """Surface-to-surface distance: points sampled uniformly on each mesh, exact distance to the other.

    Args:
        verts_a: (B, Va, 3), faces_a: (Fa, 3); verts_b: (B, Vb, 3), faces_b: (Fb, 3).
        num_samples: samples per mesh; seed: sampling seed (deterministic).
        squared: average squared distances instead.

    Returns:
        dict of (B,) tensors: ``a_to_b`` (mean over samples of a), ``b_to_a``, ``symmetric``
        (their average), ``hausdorff`` (max over both sample sets, unsquared).
    """
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    pa = sample_surface(verts_a, faces_a, num_samples, gen)
    pb = sample_surface(verts_b, faces_b, num_samples, gen)
    dab = point_to_mesh_distance(pa, verts_b, faces_b, squared=True)
    dba = point_to_mesh_distance(pb, verts_a, faces_a, squared=True)
    f = (lambda d: d) if squared else (lambda d: d.clamp_min(0).sqrt())
    ab, ba = f(dab).mean(1), f(dba).mean(1)
    haus = torch.maximum(dab.max(1).values, dba.max(1).values).clamp_min(0).sqrt()
    return {"a_to_b": ab, "b_to_a": ba, "symmetric": 0.5 * (ab + ba), "hausdorff": haus}


def mean_vertex_error(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean Euclidean distance between corresponding vertices.

    Args:
        pred, target: (B, N, 3) vertices with the same topology.
        mask: optional (N,) or (B, N) weights/bools selecting the vertices that count.

    Returns:
        (B,) mean per-vertex error.
    """
    check_shape(pred, "B,P,D", "mean_vertex_error: pred", dtype="float")
    check_shape(target, "B,P,D", "mean_vertex_error: target", dtype="float")
    if pred.shape != target.shape:
        raise InputError(f"mean_vertex_error: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    err = (pred - target).norm(dim=-1)  # (B, N)
    if mask is None:
        return err.mean(1)
    if not isinstance(mask, Tensor) or tuple(mask.shape) not in (tuple(err.shape[1:]), tuple(err.shape)):
        found = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
        raise InputError(f"mean_vertex_error: mask must be ({err.shape[1]},) or {tuple(err.shape)}, found {found}")
    w = mask.to(err.device, err.dtype).expand_as(err)
    total = w.sum(1)
    if bool((total <= 0).any()):
        raise InputError("mean_vertex_error: the mask selects no vertex")
    return (err * w).sum(1) / total
