"""Triangle-mesh tensor functions: normals, edges, boundary loops, Laplacian, Umeyama alignment.

Pure functions on ``verts (B, V, 3)`` float tensors and ``faces (F, 3)`` int64 tensors shared
across the batch. Everything is differentiable with respect to vertex positions and runs on any
device.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rome_smplx.checks import check_shape
from rome_smplx.errors import InputError

__all__ = [
    "boundary_loops",
    "edges",
    "face_normals",
    "laplacian_apply",
    "umeyama",
    "uniform_laplacian",
    "vertex_normals",
]


def _faces_in_range(faces: Tensor, num_vertices: int | None = None) -> None:
    """``faces`` is an integer ``(F, 3)`` tensor whose indices lie in ``[0, num_vertices)``."""
    check_shape(faces, "F,3", "faces", dtype="int")
    if faces.numel() and faces.min() < 0:
        raise InputError(f"faces: negative vertex index {int(faces.min())}")
    if num_vertices is not None and faces.numel() and faces.max() >= num_vertices:
        raise InputError(
            f"faces: vertex index {int(faces.max())} out of range for {num_vertices} vertices"
        )


def face_normals(verts: Tensor, faces: Tensor, normalize: bool = True, eps: float = 1e-6) -> Tensor:
    """Per-face normals ``(v1 - v0) x (v2 - v0)`` (counter-clockwise faces point outwards).

    Args:
        verts: ``(B, V, 3)``.
        faces: ``(F, 3)`` int64.
        normalize: unit length if True, else the length is twice the face area.
        eps: lower bound of the norm when normalising (degenerate faces give ~0).

    Returns:
        ``(B, F, 3)``.
    """
    check_shape(verts, "B,V,3", "verts", dtype="float")
    _faces_in_range(faces, verts.shape[1])
    v0, v1, v2 = (verts[:, faces[:, k]] for k in range(3))
    n = torch.cross(v1 - v0, v2 - v0, dim=-1)
    if normalize:
        n = n / n.norm(dim=-1, keepdim=True).clamp_min(eps)
    return n


def vertex_normals(verts: Tensor, faces: Tensor, eps: float = 1e-6) -> Tensor:
    """Area-weighted vertex normals (the sum of adjacent face cross products, normalised).

    Matches pytorch3d's ``Meshes.verts_normals_packed``. Vertices that belong to no face get a
    zero normal.

    Args:
        verts: ``(B, V, 3)``.
        faces: ``(F, 3)`` int64.

    Returns:
        ``(B, V, 3)`` unit normals.
    """
    fn = face_normals(verts, faces, normalize=False)  # (B, F, 3), length = 2 * area
    out = torch.zeros_like(verts)
    for k in range(3):
        out = out.index_add(1, faces[:, k], fn)
    return out / out.norm(dim=-1, keepdim=True).clamp_min(eps)


def edges(faces: Tensor) -> Tensor:
    """Unique undirected edges of a triangle mesh.

    Args:
        faces: ``(F, 3)`` int64.

    Returns:
        ``(E, 2)`` int64 with ``e[:, 0] < e[:, 1]``, sorted lexicographically.
    """
    _faces_in_range(faces)
    e = torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]], 0)
    e = torch.sort(e, dim=1).values
    return torch.unique(e, dim=0)


def boundary_loops(faces: Tensor) -> list[Tensor]:
    """Closed loops of boundary edges (edges used by exactly one face).

    Each loop follows the orientation of its faces (a boundary edge ``a -> b`` as it appears in its
    face). Loops are returned longest first; each starts at its smallest vertex index. Open chains
    (non-manifold boundaries) are returned as they are traced.

    Args:
        faces: ``(F, 3)`` int64.

    Returns:
        list of ``(L,)`` int64 tensors of vertex indices (on ``faces``' device).
    """
    _faces_in_range(faces)
    directed = torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]], 0).cpu()
    und = torch.sort(directed, dim=1).values
    _, inverse, counts = torch.unique(und, dim=0, return_inverse=True, return_counts=True)
    bnd = directed[counts[inverse] == 1].tolist()
    nxt: dict = {}
    for a, b in bnd:
        nxt.setdefault(a, []).append(b)
    loops: list[list[int]] = []
    remaining = {(a, b) for a, b in bnd}
    for a, b in sorted(bnd):
        if (a, b) not in remaining:
            continue
        loop = [a]
        cur = a
        while True:
            cands = [n for n in nxt.get(cur, []) if (cur, n) in remaining]
            if not cands:
                break
            n = cands[0]
            remaining.discard((cur, n))
            if n == loop[0]:
                break
            loop.append(n)
            cur = n
        k = loop.index(min(loop))
        loops.append(loop[k:] + loop[:k])
    loops.sort(key=lambda lp: (-len(lp), lp[0]))
    return [torch.tensor(lp, dtype=torch.int64, device=faces.device) for lp in loops]


def uniform_laplacian(faces: Tensor, num_vertices: int) -> Tensor:
    """Uniform (umbrella) Laplacian as a sparse matrix.

    ``L[i, j] = 1 / deg(i)`` for each neighbour ``j`` of ``i`` and ``L[i, i] = -1`` (pytorch3d's
    ``laplacian`` convention), so ``(L @ v)[i]`` is the mean of the neighbours minus ``v[i]``.
    Isolated vertices get an all-zero row.

    Args:
        faces: ``(F, 3)`` int64.
        num_vertices: V.

    Returns:
        ``(V, V)`` sparse COO float32 tensor on ``faces``' device.
    """
    _faces_in_range(faces, num_vertices)
    e = edges(faces)
    ij = torch.cat([e, e.flip(1)], 0)  # both directions
    deg = torch.zeros(num_vertices, dtype=torch.float32, device=faces.device)
    deg.index_add_(0, ij[:, 0], torch.ones(ij.shape[0], device=faces.device))
    w = 1.0 / deg[ij[:, 0]]
    has = deg > 0
    diag = torch.arange(num_vertices, device=faces.device)[has]
    idx = torch.cat([ij.T, torch.stack([diag, diag])], 1)
    val = torch.cat([w, -torch.ones(diag.shape[0], device=faces.device)])
    with torch.sparse.check_sparse_tensor_invariants(enable=True):
        return torch.sparse_coo_tensor(idx, val, (num_vertices, num_vertices)).coalesce()


def laplacian_apply(laplacian: Tensor, verts: Tensor) -> Tensor:
    """Apply a ``(V, V)`` (sparse or dense) Laplacian to a batch of vertex positions.

    Args:
        laplacian: ``(V, V)``, e.g. from :func:`uniform_laplacian`.
        verts: ``(B, V, D)``.

    Returns:
        ``(B, V, D)``: ``L @ verts[b]`` for every batch element (differentiable in ``verts``).
    """
    if verts.dim() != 3 or verts.shape[1] != laplacian.shape[1]:
        raise InputError(
            f"verts: expected shape (B, {laplacian.shape[1]}, D) to match the Laplacian, "
            f"found {tuple(verts.shape)}"
        )
    b, v, d = verts.shape
    L = laplacian.to(dtype=verts.dtype, device=verts.device)
    flat = verts.permute(1, 0, 2).reshape(v, b * d)
    out = torch.sparse.mm(L, flat) if L.is_sparse else L @ flat
    return out.reshape(v, b, d).permute(1, 0, 2)


def umeyama(
    src: Tensor, dst: Tensor, weights: Tensor | None = None, with_scale: bool = True
) -> tuple[Tensor, Tensor, Tensor]:
    """Least-squares similarity ``dst ~ s * R @ src + t`` (Umeyama 1991), optionally weighted.

    ``R`` is always a proper rotation (``det R = +1``): when the best orthogonal fit is a
    reflection, the smallest singular direction is flipped as in Umeyama's paper.

    Args:
        src: ``(B, N, 3)`` points.
        dst: ``(B, N, 3)`` corresponding points.
        weights: ``(B, N)`` or ``(N,)`` non-negative weights, or None for uniform.
        with_scale: estimate ``s``; if False, ``s = 1`` (rigid fit).

    Returns:
        ``s (B,)``, ``R (B, 3, 3)``, ``t (B, 3)``.
    """
    check_shape(src, "B,N,3", "src", dtype="float")
    check_shape(dst, "B,N,3", "dst", dtype="float")
    if src.shape != dst.shape:
        raise InputError(f"umeyama: src {tuple(src.shape)} and dst {tuple(dst.shape)} must have equal shapes")
    b, n, _ = src.shape
    if weights is None:
        w = torch.ones(b, n, dtype=src.dtype, device=src.device)
    else:
        w = weights.to(src.dtype)
        if w.dim() == 1:
            w = w.expand(b, n)
        if w.shape != (b, n):
            raise InputError(f"umeyama: weights expected shape ({b}, {n}) or ({n},), found {tuple(weights.shape)}")
        if (w < 0).any():
            raise InputError("umeyama: weights must be non-negative")
    w = w / w.sum(-1, keepdim=True).clamp_min(torch.finfo(src.dtype).tiny)
    mu_s = (w[..., None] * src).sum(1)
    mu_d = (w[..., None] * dst).sum(1)
    xs = src - mu_s[:, None]
    xd = dst - mu_d[:, None]
    cov = (w[..., None] * xd).transpose(1, 2) @ xs  # (B, 3, 3) = sum w d s^T
    U, S, Vh = torch.linalg.svd(cov)
    d = torch.sign(torch.linalg.det(U) * torch.linalg.det(Vh))
    d = torch.where(d == 0, torch.ones_like(d), d)
    D = torch.ones(b, 3, dtype=src.dtype, device=src.device)
    D[:, 2] = d
    R = U @ (D[..., None] * Vh)
    if with_scale:
        var_s = (w * (xs * xs).sum(-1)).sum(-1)
        s = (S * D).sum(-1) / var_s.clamp_min(torch.finfo(src.dtype).tiny)
    else:
        s = torch.ones(b, dtype=src.dtype, device=src.device)
    t = mu_d - s[:, None] * (R @ mu_s[..., None]).squeeze(-1)
    return s, R, t
