"""Barycentric interpolation of vertex or per-face-corner attributes over rasterised fragments."""

from __future__ import annotations

import torch
from torch import Tensor

from rome_smplx.errors import InputError
from rome_smplx.render.raster.base import Fragments

__all__ = ["interpolate"]


def interpolate(fragments: Fragments, attrs: Tensor, faces: Tensor | None = None) -> Tensor:
    """Interpolate attributes at every pixel sample with the fragments' barycentric coordinates.

    ``out[b, i, j, k] = sum_c bary[b, i, j, k, c] * attr(corner c of face pix_to_face[b, i, j, k])``,
    and 0 where ``pix_to_face`` is -1. Differentiable w.r.t. ``attrs`` and, through the barycentrics,
    w.r.t. the rasterised vertex positions.

    Args:
        fragments: output of :func:`rome_smplx.render.raster.rasterize` with (B, H, W, K) fields.
        attrs: (B, V, C) per-vertex attributes (needs the faces), or (B, F, 3, C) per-face-corner
            attributes (e.g. UVs with their own UV faces).
        faces: (F, 3) or (B, F, 3) faces for per-vertex attributes; defaults to ``fragments.faces``.

    Returns:
        (B, H, W, K, C) interpolated attributes.
    """
    p2f = fragments.pix_to_face
    B, H, W, K = p2f.shape
    if not isinstance(attrs, Tensor) or attrs.dim() not in (3, 4):
        raise InputError(
            f"attrs: expected (B, V, C) vertex or (B, F, 3, C) face-corner attributes, "
            f"found {getattr(attrs, 'shape', type(attrs).__name__)}"
        )
    if attrs.shape[0] != B:
        raise InputError(f"attrs: batch size {attrs.shape[0]} does not match the fragments' batch size {B}")
    if attrs.dim() == 4:
        if attrs.shape[2] != 3:
            raise InputError(
                f"attrs: face-corner attributes must have shape (B, F, 3, C), found {tuple(attrs.shape)}"
            )
        face_attrs = attrs
    else:
        if faces is None:
            faces = fragments.faces
        if faces is None:
            raise InputError(
                "interpolate: per-vertex attrs need faces; pass faces= or use fragments from rasterize()"
            )
        faces = faces.to(device=attrs.device, dtype=torch.int64)
        if faces.dim() == 2:
            faces = faces.unsqueeze(0).expand(B, -1, -1)
        if faces.numel() and int(faces.max()) >= attrs.shape[1]:
            raise InputError(
                f"attrs: has {attrs.shape[1]} vertices but faces index vertex {int(faces.max())}"
            )
        F = faces.shape[1]
        C = attrs.shape[-1]
        face_attrs = torch.gather(attrs, 1, faces.reshape(B, F * 3, 1).expand(-1, -1, C)).reshape(B, F, 3, C)
    F, C = face_attrs.shape[1], face_attrs.shape[-1]
    valid = p2f >= 0
    if valid.any() and int(p2f.max()) >= F:
        raise InputError(f"attrs: has {F} faces but the fragments reference face {int(p2f.max())}")
    flat = face_attrs.reshape(B * F, 3, C)
    gidx = torch.where(valid, p2f + (torch.arange(B, device=p2f.device) * F).view(B, 1, 1, 1), 0)
    sel = valid.nonzero(as_tuple=True)
    out = attrs.new_zeros(B, H, W, K, C)
    if sel[0].numel() == 0:
        return out
    corner = flat[gidx[sel]]  # (M, 3, C)
    w = fragments.bary_coords[sel].to(flat.dtype)  # (M, 3)
    vals = (w.unsqueeze(-1) * corner).sum(-2)
    return out.index_put(sel, vals)
