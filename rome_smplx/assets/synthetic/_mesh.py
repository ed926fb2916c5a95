"""Small numpy mesh helpers for the synthetic generators (no torch, no licensed data).

Everything here is deterministic and vectorised; it is used to build the procedural head and to
check it in the tests (boundary loops, signed volume, winding numbers, ray casting).
"""

from __future__ import annotations

import numpy as np


def smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Cubic Hermite step: 0 for ``x <= lo``, 1 for ``x >= hi`` (``lo > hi`` gives a falling step)."""
    t = np.clip((np.asarray(x, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def gauss(x: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    """Unnormalised Gaussian bump ``exp(-((x - mu) / sigma)^2 / 2)``."""
    return np.exp(-0.5 * ((np.asarray(x, dtype=np.float64) - mu) / sigma) ** 2)


def face_normals(verts: np.ndarray, faces: np.ndarray, normalize: bool = True) -> np.ndarray:
    """Face normals ``(F, 3)`` of ``verts (N, 3)`` and ``faces (F, 3)`` (right-hand rule)."""
    tri = verts[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    if normalize:
        n = n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    return n


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals ``(N, 3)``; isolated vertices get ``(0, 0, 0)``."""
    fn = face_normals(verts, faces, normalize=False)
    vn = np.zeros_like(verts, dtype=np.float64)
    for k in range(3):
        np.add.at(vn, faces[:, k], fn)
    norm = np.linalg.norm(vn, axis=1, keepdims=True)
    return np.where(norm > 1e-12, vn / np.maximum(norm, 1e-12), 0.0)


def directed_edges(faces: np.ndarray) -> np.ndarray:
    """All directed half-edges ``(3F, 2)`` of ``faces (F, 3)``."""
    return np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]], axis=0)


def boundary_loops(faces: np.ndarray) -> list[np.ndarray]:
    """Boundary loops of a triangle mesh, each an ordered vertex array.

    A boundary half-edge is one whose opposite half-edge does not exist. Raises ``ValueError`` if the
    boundary is not a set of simple loops (a vertex with two outgoing boundary edges).
    """
    he = directed_edges(np.asarray(faces, dtype=np.int64))
    key = he[:, 0] * (int(he.max()) + 1) + he[:, 1]
    rev = he[:, 1] * (int(he.max()) + 1) + he[:, 0]
    is_boundary = ~np.isin(rev, key)
    bnd = he[is_boundary]
    nxt: dict[int, int] = {}
    for a, b in bnd.tolist():
        if a in nxt:
            raise ValueError(f"vertex {a} has two outgoing boundary edges (non-manifold boundary)")
        nxt[a] = b
    loops = []
    seen: set[int] = set()
    for start in sorted(nxt):
        if start in seen:
            continue
        loop = [start]
        seen.add(start)
        v = nxt[start]
        while v != start:
            if v in seen or v not in nxt:
                raise ValueError(f"boundary through vertex {v} is not a simple loop")
            loop.append(v)
            seen.add(v)
            v = nxt[v]
        loops.append(np.asarray(loop, dtype=np.int64))
    return loops


def edge_manifold_report(faces: np.ndarray) -> tuple[int, int]:
    """``(duplicate_half_edges, non_manifold_edges)``: both 0 for an oriented 2-manifold.

    A duplicate half-edge means two faces traverse an edge in the same direction (inconsistent
    orientation); a non-manifold edge is shared by more than two faces.
    """
    he = directed_edges(np.asarray(faces, dtype=np.int64))
    _, counts = np.unique(he, axis=0, return_counts=True)
    dup = int((counts > 1).sum())
    und = np.sort(he, axis=1)
    _, ucounts = np.unique(und, axis=0, return_counts=True)
    return dup, int((ucounts > 2).sum())


def cap_loops(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Close every boundary loop with a fan around a new centroid vertex.

    Returns ``(verts (N + L, 3), faces (F + sum(len(loop)), 3))``; the fans are oriented to match.
    """
    verts = np.asarray(verts, dtype=np.float64)
    new_v = [verts]
    new_f = [np.asarray(faces, dtype=np.int64)]
    n = len(verts)
    for loop in boundary_loops(faces):
        c = n
        n += 1
        new_v.append(verts[loop].mean(axis=0, keepdims=True))
        # boundary half-edges run a -> b; the cap must run b -> a
        a = loop
        b = np.roll(loop, -1)
        new_f.append(np.stack([b, a, np.full_like(a, c)], axis=1))
    return np.concatenate(new_v), np.concatenate(new_f)


def signed_volume(verts: np.ndarray, faces: np.ndarray) -> float:
    """Signed volume of a closed oriented mesh (positive for outward normals)."""
    tri = np.asarray(verts, dtype=np.float64)[faces]
    return float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0)


def winding_numbers(verts: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Generalised winding numbers ``(P,)`` of ``points (P, 3)`` (1 inside, 0 outside a closed mesh)."""
    tri = np.asarray(verts, dtype=np.float64)[faces]
    out = np.empty(len(points))
    for i, p in enumerate(np.asarray(points, dtype=np.float64)):
        a, b, c = tri[:, 0] - p, tri[:, 1] - p, tri[:, 2] - p
        la, lb, lc = (np.linalg.norm(x, axis=1) for x in (a, b, c))
        det = np.einsum("ij,ij->i", a, np.cross(b, c))
        den = (la * lb * lc + np.einsum("ij,ij->i", a, b) * lc + np.einsum("ij,ij->i", b, c) * la
               + np.einsum("ij,ij->i", c, a) * lb)
        out[i] = np.arctan2(det, den).sum() / (2.0 * np.pi)
    return out


def ray_cast(
    verts: np.ndarray,
    faces: np.ndarray,
    origins: np.ndarray,
    directions: np.ndarray,
    last: bool = False,
    chunk: int = 64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intersect rays with triangles (Moeller-Trumbore, both face sides).

    Args:
        verts: ``(N, 3)``; faces: ``(F, 3)``.
        origins, directions: ``(R, 3)`` rays.
        last: take the farthest hit along each ray instead of the nearest.

    Returns:
        ``(face_idx (R,), bary (R, 3), t (R,))``; rays that miss get face ``-1`` and ``t = inf``.
        The hit point is ``bary @ verts[faces[face_idx]]``.
    """
    tri = np.asarray(verts, dtype=np.float64)[faces]
    v0 = tri[:, 0]
    e1 = tri[:, 1] - v0
    e2 = tri[:, 2] - v0
    origins = np.asarray(origins, dtype=np.float64)
    directions = np.asarray(directions, dtype=np.float64)
    n_rays = len(origins)
    face_idx = np.full(n_rays, -1, dtype=np.int64)
    bary = np.zeros((n_rays, 3))
    t_best = np.full(n_rays, np.inf)
    for s in range(0, n_rays, chunk):
        o = origins[s:s + chunk, None, :]
        d = directions[s:s + chunk, None, :]
        p = np.cross(d, e2[None])
        det = np.einsum("rfk,fk->rf", p, e1)
        ok = np.abs(det) > 1e-14
        inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
        tv = o - v0[None]
        u = np.einsum("rfk,rfk->rf", tv, p) * inv
        q = np.cross(tv, e1[None])
        v = np.einsum("rfk,rfk->rf", np.broadcast_to(d, q.shape), q) * inv
        t = np.einsum("rfk,fk->rf", q, e2) * inv
        hit = ok & (u >= -1e-12) & (v >= -1e-12) & (u + v <= 1 + 1e-12) & (t > 1e-9)
        score = np.where(hit, -t if last else t, np.inf)
        best = np.argmin(score, axis=1)
        rows = np.arange(len(best))
        has = hit[rows, best]
        idx = np.nonzero(has)[0]
        face_idx[s + idx] = best[idx]
        uu = u[rows, best][idx]
        vv = v[rows, best][idx]
        bary[s + idx] = np.stack([1.0 - uu - vv, uu, vv], axis=1)
        t_best[s + idx] = t[rows, best][idx]
    return face_idx, bary, t_best


def vertex_neighbours(faces: np.ndarray, num_vertices: int) -> list[np.ndarray]:
    """One-ring neighbour index arrays of every vertex."""
    he = directed_edges(np.asarray(faces, dtype=np.int64))
    order = np.lexsort((he[:, 1], he[:, 0]))
    he = he[order]
    starts = np.searchsorted(he[:, 0], np.arange(num_vertices + 1))
    out = []
    for i in range(num_vertices):
        nb = np.unique(np.concatenate([he[starts[i]:starts[i + 1], 1]]))
        out.append(nb)
    return out


def one_ring_closure(faces: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Sorted union of ``vertices`` and every vertex sharing a face with one of them."""
    faces = np.asarray(faces, dtype=np.int64)
    mask = np.isin(faces, vertices).any(axis=1)
    return np.unique(np.concatenate([np.asarray(vertices, dtype=np.int64), faces[mask].ravel()]))


def barycentric_points(verts: np.ndarray, faces: np.ndarray, face_idx: np.ndarray,
                       bary: np.ndarray) -> np.ndarray:
    """Surface points ``(..., 3)`` from face indices ``(...)`` and barycentric coordinates ``(..., 3)``."""
    tri = np.asarray(verts)[np.asarray(faces)[np.asarray(face_idx)]]
    return np.einsum("...k,...kj->...j", np.asarray(bary, dtype=np.float64), tri)


__all__ = [
    "smoothstep",
    "gauss",
    "face_normals",
    "vertex_normals",
    "directed_edges",
    "boundary_loops",
    "edge_manifold_report",
    "cap_loops",
    "signed_volume",
    "winding_numbers",
    "ray_cast",
    "vertex_neighbours",
    "one_ring_closure",
    "barycentric_points",
]
