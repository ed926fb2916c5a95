"""Rasterisers behind one protocol: a pure-PyTorch reference and pytorch3d.

>>> frags = rasterize(verts_ndc, faces, (256, 256))             # hard pass, 1 face per pixel
>>> uv = interpolate(frags, vertex_uvs)                          # (B, H, W, 1, 2)
>>> alpha = soft_silhouette(verts_ndc, faces, (256, 256))        # (B, H, W), differentiable

Conventions (image NDC, depth, coverage rules, distance units) are documented in
:mod:`rome_smplx.render.raster.base`.
"""

from rome_smplx.render.raster.base import (
    DEFAULT_SIGMA,
    ROME_SOFT_BLUR_RADIUS,
    Fragments,
    RasterBackend,
    available_backends,
    default_blur_radius,
    rasterize,
    resolve_backend,
    sigmoid_alpha,
    soft_silhouette,
)
from rome_smplx.render.raster.interp import interpolate

__all__ = [
    "DEFAULT_SIGMA",
    "ROME_SOFT_BLUR_RADIUS",
    "Fragments",
    "RasterBackend",
    "available_backends",
    "default_blur_radius",
    "interpolate",
    "rasterize",
    "resolve_backend",
    "sigmoid_alpha",
    "soft_silhouette",
]
