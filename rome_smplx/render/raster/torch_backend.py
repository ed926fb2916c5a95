"""Pure-PyTorch rasteriser: vectorised, memory-bounded, differentiable, pytorch3d-compatible.

How it works (no Python loop over faces or pixels):

1. **Setup per face** (all batch elements flattened to ``G = B * F`` faces): pixel-space vertices
   (pixel centres on integers), signed area, the plane equations of the three barycentric
   coordinates and of the depth, and the screen bounding box grown by the blur radius. Degenerate,
   behind-camera and off-screen faces get an empty box.
2. **Candidate (face, pixel) pairs**, generated row by row: each (face, bbox row) is an *item* whose
   columns are consecutive pixels, so a candidate's barycentrics are ``A * column + S`` with per-item
   ``A, S``. Items are processed in chunks of at most :data:`CHUNK_CANDIDATES` pairs, so memory stays
   bounded whatever the face sizes (a full-screen face is just ``H`` items of ``W`` pixels).
3. **Coverage test** with pytorch3d's rules (all barycentrics strictly positive; with a blur radius,
   a half-plane pre-cull then the exact squared point-segment distance), depth test ``z >= 0``.
4. **Selection**: for one face per pixel a scatter-min of packed ``(float32 depth bits << 32 | face)``
   int64 keys; for K faces a stable sort of ``(pixel << 32 | depth bits)`` keys (candidates are
   generated in face order, so depth ties go to the lower face index as in pytorch3d) and the first
   K of every pixel.
5. **Differentiable values**: barycentrics, depth and signed distances are recomputed with autograd
   only for the selected (pixel, face) pairs, from the original vertex tensor.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rome_smplx.render.raster.base import Fragments

__all__ = ["CHUNK_CANDIDATES", "TorchBackend", "rasterize_torch"]

#: Maximum number of candidate (face, pixel) pairs evaluated at once (bounds peak memory: roughly
#: 100 bytes per candidate).
CHUNK_CANDIDATES = 1 << 20

#: pytorch3d's epsilon (in NDC units): area threshold for degenerate faces, barycentric denominator
#: offset, near-plane depth and degenerate-edge threshold.
_EPS = 1e-8
_KEY_EMPTY = torch.iinfo(torch.int64).max


class TorchBackend:
    """The always-available pure-PyTorch backend (CPU or GPU, any float dtype)."""

    name = "torch"

    def is_available(self) -> bool:
        return True

    def rasterize(
        self,
        verts_ndc: Tensor,
        faces: Tensor,
        image_size: tuple[int, int],
        faces_per_pixel: int,
        blur_radius: float,
    ) -> Fragments:
        return rasterize_torch(verts_ndc, faces, image_size, faces_per_pixel, blur_radius)


# ------------------------------------------------------------------------------------ geometry
class _Setup:
    """Per-face quantities in pixel units (pixel centre of column j at x = j)."""

    def __init__(self, verts: Tensor, faces: Tensor, H: int, W: int, blur_radius: float):
        B, V, _ = verts.shape
        F = faces.shape[1]
        dev = verts.device
        self.B, self.V, self.F, self.H, self.W = B, V, F, H, W
        half = min(H, W) / 2.0  # pixels per pytorch3d NDC unit
        self.unit2 = half * half  # px^2 per NDC^2
        self.eps_px = _EPS * self.unit2
        self.r_px = math.sqrt(blur_radius) * half
        self.blur_px = blur_radius * self.unit2
        # (G, 3) global vertex indices of every face of every batch element
        self.vidx = (faces + (torch.arange(B, device=dev) * V)[:, None, None]).reshape(-1, 3)

    def pixel_verts(self, verts: Tensor, vidx: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(M, 3) x, y (pixel units) and z of the vertices ``vidx`` (M, 3) into the flattened verts."""
        v = verts.reshape(-1, 3)[vidx.reshape(-1)].reshape(vidx.shape[0], 3, 3)
        x = (v[..., 0] + 1.0) * (self.W * 0.5) - 0.5
        y = (v[..., 1] + 1.0) * (self.H * 0.5) - 0.5
        return x, y, v[..., 2]


def _rows_to_items(counts: Tensor, total: int) -> tuple[Tensor, Tensor]:
    """Expand ``counts`` (N,) into (owner index, local index) pairs of length ``total``."""
    owner = torch.repeat_interleave(counts, output_size=total)
    starts = torch.cumsum(counts, 0) - counts
    local = torch.arange(total, device=counts.device) - starts[owner]
    return owner, local


@torch.no_grad()
def _select(verts: Tensor, st: _Setup, K: int, blur: float) -> tuple[Tensor, Tensor]:
    """Choose the K nearest faces of every pixel.

    Returns:
        out_idx (M,) int64 flat index into (B*H*W*K) and g (M,) int64 global face index (b*F + f).
    """
    B, F, H, W = st.B, st.F, st.H, st.W
    dev = verts.device
    x, y, z = st.pixel_verts(verts, st.vidx)  # (G, 3) each
    x0, x1, x2 = x.unbind(1)
    y0, y1, y2 = y.unbind(1)
    z0, z1, z2 = z.unbind(1)
    area = (x2 - x0) * (y1 - y0) - (y2 - y0) * (x1 - x0)
    valid = (area.abs() > st.eps_px) & (z.amin(1) >= _EPS)
    den = area + st.eps_px
    # barycentric plane equations relative to v0: w_i = a_i * dx + b_i * dy + c_i
    a0, b0, c0 = (y2 - y1) / den, (x1 - x2) / den, area / den
    a1, b1 = (y0 - y2) / den, (x2 - x0) / den
    a2, b2 = (y1 - y0) / den, (x0 - x1) / den
    # bounding boxes in integer pixel centres
    r = st.r_px
    cx0 = torch.ceil(x.amin(1) - r).clamp(min=0, max=W)
    cx1 = torch.floor(x.amax(1) + r).clamp(min=-1, max=W - 1)
    cy0 = torch.ceil(y.amin(1) - r).clamp(min=0, max=H)
    cy1 = torch.floor(y.amax(1) + r).clamp(min=-1, max=H - 1)
    nx = (cx1 - cx0 + 1).clamp(min=0).long()
    ny = (cy1 - cy0 + 1).clamp(min=0).long()
    ny = torch.where(valid & (nx > 0), ny, torch.zeros_like(ny))
    n_items = int(ny.sum())
    if n_items == 0:
        empty = torch.zeros(0, dtype=torch.int64, device=dev)
        return empty, empty

    # items = (face, row)
    g_item, row_local = _rows_to_items(ny, n_items)
    row = cy0[g_item] + row_local.to(cy0.dtype)
    dy = row - y0[g_item]
    dxs = cx0[g_item] - x0[g_item]
    A0, A1, A2 = a0[g_item], a1[g_item], a2[g_item]
    S0 = A0 * dxs + b0[g_item] * dy + c0[g_item]
    S1 = A1 * dxs + b1[g_item] * dy
    S2 = A2 * dxs + b2[g_item] * dy
    zz0, zz1, zz2 = z0[g_item], z1[g_item], z2[g_item]
    Az = zz0 * A0 + zz1 * A1 + zz2 * A2
    Sz = zz0 * S0 + zz1 * S1 + zz2 * S2
    rows = [A0, S0, A1, S1, A2, S2, Az, Sz]
    if blur > 0:
        # half-plane pre-cull: outside edge i by more than r  <=>  w_i < -r * |e_i| / |den|
        inv = r / den.abs()
        t0 = -torch.sqrt((x2 - x1) ** 2 + (y2 - y1) ** 2) * inv
        t1 = -torch.sqrt((x0 - x2) ** 2 + (y0 - y2) ** 2) * inv
        t2 = -torch.sqrt((x1 - x0) ** 2 + (y1 - y0) ** 2) * inv
        rows += [t0[g_item], t1[g_item], t2[g_item]]
    table = torch.stack(rows, 0)  # (R, n_items)
    b_item = torch.div(g_item, F, rounding_mode="floor")
    pstart = (b_item * H + row.long()) * W + cx0[g_item].long()
    count = nx[g_item]
    cum = torch.cumsum(count, 0)

    # face-relative data for the exact distance test
    if blur > 0:
        e1x, e1y, e2x, e2y = x1 - x0, y1 - y0, x2 - x0, y2 - y0

    best = None
    kept_keys, kept_g = [], []
    s = 0
    base = 0
    while s < n_items:
        e = int(torch.searchsorted(cum, base + CHUNK_CANDIDATES, right=True))
        e = max(e, s + 1)
        n = int(cum[e - 1]) - base
        item, local = _rows_to_items(count[s:e], n)
        item = item + s
        localf = local.to(table.dtype)
        tab = [table[i].index_select(0, item) for i in range(table.shape[0])]
        w0 = tab[0] * localf + tab[1]
        w1 = tab[2] * localf + tab[3]
        w2 = tab[4] * localf + tab[5]
        zc = tab[6] * localf + tab[7]
        if blur > 0:
            ok = (w0 > tab[8]) & (w1 > tab[9]) & (w2 > tab[10]) & (zc >= 0)
        else:
            ok = (w0 > 0) & (w1 > 0) & (w2 > 0) & (zc >= 0)
        pix = pstart.index_select(0, item) + local
        g = g_item.index_select(0, item)
        if blur > 0:
            idx = ok.nonzero().squeeze(1)
            pix, g, zc = pix[idx], g[idx], zc[idx]
            w0, w1, w2 = w0[idx], w1[idx], w2[idx]
            inside = (w0 > 0) & (w1 > 0) & (w2 > 0)
            col = (pix % W).to(x.dtype)
            rw = (torch.div(pix, W, rounding_mode="floor") % H).to(x.dtype)
            dxp = col - x0[g]
            dyp = rw - y0[g]
            d2 = _tri_dist2(dxp, dyp, e1x[g], e1y[g], e2x[g], e2y[g], st.eps_px)
            ok = inside | (d2 < st.blur_px)
            idx = ok.nonzero().squeeze(1)
            pix, g, zc = pix[idx], g[idx], zc[idx]
            ok = None
        zkey = (zc.float().clamp_min(0.0) + 0.0).view(torch.int32).to(torch.int64)
        if K == 1:
            key = (zkey << 32) | g
            if ok is not None:
                key = torch.where(ok, key, torch.full_like(key, _KEY_EMPTY))
            if best is None:
                best = torch.full((B * H * W,), _KEY_EMPTY, dtype=torch.int64, device=dev)
            best.scatter_reduce_(0, pix, key, reduce="amin", include_self=True)
        else:
            if ok is not None:
                idx = ok.nonzero().squeeze(1)
                pix, g, zkey = pix[idx], g[idx], zkey[idx]
            kept_keys.append((pix << 32) | zkey)
            kept_g.append(g)
        base += n
        s = e

    if K == 1:
        if best is None:
            empty = torch.zeros(0, dtype=torch.int64, device=dev)
            return empty, empty
        out_idx = (best != _KEY_EMPTY).nonzero().squeeze(1)
        g = best[out_idx] & 0xFFFFFFFF
        return out_idx, g

    keys = torch.cat(kept_keys) if len(kept_keys) > 1 else kept_keys[0]
    gs = torch.cat(kept_g) if len(kept_g) > 1 else kept_g[0]
    if keys.numel() == 0:
        return keys, gs
    skeys, order = torch.sort(keys, stable=True)
    spix = skeys >> 32
    first = torch.searchsorted(spix, spix)
    rank = torch.arange(spix.numel(), device=dev) - first
    keep = (rank < K).nonzero().squeeze(1)
    out_idx = spix[keep] * K + rank[keep]
    return out_idx, gs[order[keep]]


def _seg_dist2(px: Tensor, py: Tensor, ex: Tensor, ey: Tensor, eps: float) -> Tensor:
    """Squared distance from (px, py) (relative to the segment start) to the segment (0,0)-(ex,ey)."""
    l2 = ex * ex + ey * ey
    t = ((px * ex + py * ey) / torch.where(l2 > eps, l2, torch.ones_like(l2))).clamp(0.0, 1.0)
    dx = px - t * ex
    dy = py - t * ey
    d = dx * dx + dy * dy
    # pytorch3d: a (near) zero-length segment measures the distance to its end point
    dend = (px - ex) ** 2 + (py - ey) ** 2
    return torch.where(l2 > eps, d, dend)


def _tri_dist2(
    dx: Tensor, dy: Tensor, e1x: Tensor, e1y: Tensor, e2x: Tensor, e2y: Tensor, eps: float
) -> Tensor:
    """Squared distance from a point (dx, dy relative to v0) to the triangle's edges (pixel units)."""
    d01 = _seg_dist2(dx, dy, e1x, e1y, eps)
    d02 = _seg_dist2(dx, dy, e2x, e2y, eps)
    d12 = _seg_dist2(dx - e1x, dy - e1y, e2x - e1x, e2y - e1y, eps)
    return torch.minimum(torch.minimum(d01, d02), d12)


class _FragmentValues(torch.autograd.Function):
    """Barycentrics, depth and signed distance of selected (pixel, face) pairs, analytic backward.

    Only the inputs are saved (no per-operation autograd graph), which keeps the memory of a
    512 px, 10-faces-per-pixel pass small. Everything is computed relative to the pixel centre in
    pytorch3d's isotropic NDC units (``u = (x - px) * W / min(H, W)``, ``t = (y - py) * H / min(H, W)``),
    which keeps float32 rounding at pytorch3d's level.
    """

    @staticmethod
    def forward(ctx, verts: Tensor, vidx: Tensor, pcx: Tensor, pcy: Tensor, sx: float, sy: float):
        M = vidx.shape[0]
        bary = verts.new_empty(M, 3)
        zb = verts.new_empty(M)
        dist = verts.new_empty(M)
        for a in range(0, M, CHUNK_CANDIDATES):  # bounded temporaries
            sl = slice(a, min(M, a + CHUNK_CANDIDATES))
            u, t, z = _relative(verts, vidx[sl], pcx[sl], pcy[sl], sx, sy)
            w, _ = _bary(u, t)
            d2, _, _, _ = _closest_edge(u, t)
            bary[sl] = w
            zb[sl] = (w * z).sum(-1)
            dist[sl] = torch.where((w > 0).all(-1), -d2, d2)
        ctx.save_for_backward(verts, vidx, pcx, pcy)
        ctx.scales = (sx, sy)
        return bary, zb, dist

    @staticmethod
    def backward(ctx, g_bary: Tensor, g_z: Tensor, g_dist: Tensor):
        verts, vidx, pcx, pcy = ctx.saved_tensors
        sx, sy = ctx.scales
        grad = torch.zeros(verts.numel() // 3, 3, dtype=verts.dtype, device=verts.device)
        M = vidx.shape[0]
        for a in range(0, M, CHUNK_CANDIDATES):
            sl = slice(a, min(M, a + CHUNK_CANDIDATES))
            g = _values_backward(
                verts,
                vidx[sl],
                pcx[sl],
                pcy[sl],
                sx,
                sy,
                None if g_bary is None else g_bary[sl],
                None if g_z is None else g_z[sl],
                None if g_dist is None else g_dist[sl],
            )
            grad.index_add_(0, vidx[sl].reshape(-1), g.reshape(-1, 3))
        return grad.view_as(verts), None, None, None, None, None


def _values_backward(verts, vidx, pcx, pcy, sx, sy, g_bary, g_z, g_dist) -> Tensor:
    """Gradient of the fragment values w.r.t. the corners of each pair: (M, 3 corners, 3 coords)."""
    u, t, z = _relative(verts, vidx, pcx, pcy, sx, sy)
    w, den = _bary(u, t)
    gu = torch.zeros_like(u)
    gt = torch.zeros_like(t)
    gz = torch.zeros_like(z)
    # barycentrics (and depth through them): w_i = E_i / (A + eps), A = E_0 + E_1 + E_2
    gw = g_bary if g_bary is not None else torch.zeros_like(w)
    if g_z is not None:
        gw = gw + g_z[:, None] * z
        gz = g_z[:, None] * w
    if g_bary is not None or g_z is not None:
        gE = gw / den[:, None]
        gA = -(gw * w).sum(-1, keepdim=True) / den[:, None]
        c0, c1, c2 = (gE + gA).unbind(-1)
        u0, u1, u2 = u.unbind(-1)
        t0, t1, t2 = t.unbind(-1)
        gu = torch.stack([c1 * t2 - c2 * t1, c2 * t0 - c0 * t2, c0 * t1 - c1 * t0], -1)
        gt = torch.stack([c2 * u1 - c1 * u2, c0 * u2 - c2 * u0, c1 * u0 - c0 * u1], -1)
    if g_dist is not None:
        # squared distance to the closest edge (a, b): d = |q|^2, q = a + s (b - a) (pixel at the origin)
        _, edge, s, q = _closest_edge(u, t)
        gd = torch.where((w > 0).all(-1), -g_dist, g_dist) * 2.0
        a_idx = torch.tensor([0, 0, 1], device=u.device)[edge]
        b_idx = torch.tensor([1, 2, 2], device=u.device)[edge]
        ga = (gd * (1.0 - s))[:, None] * q
        gb = (gd * s)[:, None] * q
        gu = gu.scatter_add(1, a_idx[:, None], ga[:, :1]).scatter_add(1, b_idx[:, None], gb[:, :1])
        gt = gt.scatter_add(1, a_idx[:, None], ga[:, 1:]).scatter_add(1, b_idx[:, None], gb[:, 1:])
    return torch.stack([gu * sx, gt * sy, gz], -1)


def _relative(verts: Tensor, vidx: Tensor, pcx: Tensor, pcy: Tensor, sx: float, sy: float):
    """Corner coordinates relative to the pixel centre: u, t (M, 3) isotropic NDC, z (M, 3)."""
    v = verts.reshape(-1, 3).index_select(0, vidx.reshape(-1)).reshape(vidx.shape[0], 3, 3)
    return (v[..., 0] - pcx[:, None]) * sx, (v[..., 1] - pcy[:, None]) * sy, v[..., 2]


def _bary(u: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """pytorch3d's barycentrics of the origin: (M, 3) and the denominator area + eps (M,)."""
    u0, u1, u2 = u.unbind(-1)
    t0, t1, t2 = t.unbind(-1)
    area = (u2 - u0) * (t1 - t0) - (t2 - t0) * (u1 - u0)
    den = area + _EPS
    w = torch.stack([t1 * u2 - u1 * t2, t2 * u0 - u2 * t0, t0 * u1 - u0 * t1], -1) / den[:, None]
    return w, den


def _segment(ax: Tensor, ay: Tensor, bx: Tensor, by: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Closest point of segment a-b to the origin: squared distance, parameter s, point (qx, qy)."""
    ex, ey = bx - ax, by - ay
    l2 = ex * ex + ey * ey
    ok = l2 > _EPS
    s = (-(ax * ex + ay * ey) / torch.where(ok, l2, torch.ones_like(l2))).clamp(0.0, 1.0)
    s = torch.where(ok, s, torch.ones_like(s))  # degenerate edge: distance to its end point
    qx, qy = ax + s * ex, ay + s * ey
    return qx * qx + qy * qy, s, qx, qy


def _closest_edge(u: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Squared distance from the origin to the closest edge (M,), its index (0: v0v1, 1: v0v2,
    2: v1v2; first on ties like pytorch3d), the clamped segment parameter (M,) and the closest point
    (M, 2)."""
    u0, u1, u2 = u.unbind(-1)
    t0, t1, t2 = t.unbind(-1)
    d0, s0, qx0, qy0 = _segment(u0, t0, u1, t1)
    d1, s1, qx1, qy1 = _segment(u0, t0, u2, t2)
    d2, s2, qx2, qy2 = _segment(u1, t1, u2, t2)
    first = (d0 <= d1) & (d0 <= d2)
    second = ~first & (d1 <= d2)

    def pick(a0: Tensor, a1: Tensor, a2: Tensor) -> Tensor:
        return torch.where(first, a0, torch.where(second, a1, a2))

    edge = pick(
        torch.zeros_like(d0, dtype=torch.int64),
        torch.ones_like(d0, dtype=torch.int64),
        torch.full_like(d0, 2, dtype=torch.int64),
    )
    return (
        pick(d0, d1, d2),
        edge,
        pick(s0, s1, s2),
        torch.stack([pick(qx0, qx1, qx2), pick(qy0, qy1, qy2)], -1),
    )


def _values(verts: Tensor, st: _Setup, out_idx: Tensor, g: Tensor, K: int) -> tuple[Tensor, Tensor, Tensor]:
    """Differentiable barycentrics (M, 3), depth (M,) and signed NDC squared distance (M,)."""
    H, W = st.H, st.W
    m = float(min(H, W))
    pix = torch.div(out_idx, K, rounding_mode="floor")
    col = (pix % W).to(verts.dtype)
    row = (torch.div(pix, W, rounding_mode="floor") % H).to(verts.dtype)
    pcx = -1.0 + (2.0 * col + 1.0) / W
    pcy = -1.0 + (2.0 * row + 1.0) / H
    return _FragmentValues.apply(verts, st.vidx[g], pcx, pcy, W / m, H / m)


def rasterize_torch(
    verts_ndc: Tensor,
    faces: Tensor,
    image_size: tuple[int, int],
    faces_per_pixel: int = 1,
    blur_radius: float = 0.0,
) -> Fragments:
    """Rasterise with the pure-PyTorch backend (inputs already validated).

    Args:
        verts_ndc: (B, V, 3) image-NDC vertices (x right, y down, z depth).
        faces: (B, F, 3) int64 per batch element.
        image_size: (H, W).
        faces_per_pixel: K.
        blur_radius: squared NDC radius (units of ``min(H, W) / 2`` px).

    Returns:
        :class:`Fragments` with (B, H, W, K) tensors, differentiable w.r.t. ``verts_ndc``.
    """
    H, W = int(image_size[0]), int(image_size[1])
    K = int(faces_per_pixel)
    B = verts_ndc.shape[0]
    st = _Setup(verts_ndc, faces, H, W, blur_radius)
    out_idx, g = _select(verts_ndc.detach(), st, K, float(blur_radius))
    n_out = B * H * W * K
    dev, dt = verts_ndc.device, verts_ndc.dtype
    p2f = torch.full((n_out,), -1, dtype=torch.int64, device=dev)
    p2f[out_idx] = g - torch.div(g, st.F, rounding_mode="floor") * st.F
    bary, zb, dist = _values(verts_ndc, st, out_idx, g, K)
    bary_out = torch.full((n_out, 3), -1.0, dtype=dt, device=dev).index_put((out_idx,), bary)
    z_out = torch.full((n_out,), -1.0, dtype=dt, device=dev).index_put((out_idx,), zb)
    d_out = torch.full((n_out,), -1.0, dtype=dt, device=dev).index_put((out_idx,), dist)
    return Fragments(
        pix_to_face=p2f.view(B, H, W, K),
        bary_coords=bary_out.view(B, H, W, K, 3),
        zbuf=z_out.view(B, H, W, K),
        dists=d_out.view(B, H, W, K),
        backend="torch",
    )
