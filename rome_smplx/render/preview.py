"""Shaded previews of meshes (no neural rendering): Lambert shading with a head light, on white."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor

from rome_smplx.checks import check_shape
from rome_smplx.geometry.mesh import vertex_normals
from rome_smplx.render.cameras import PerspectiveCamera
from rome_smplx.render.raster import interpolate, rasterize

__all__ = ["render_preview", "front_camera"]


def front_camera(verts: Tensor, fov_y: float = 30.0, margin: float = 1.15, side: float = 0.0) -> PerspectiveCamera:
    """A y-up camera in front (+z) of the mesh that frames it; ``side`` turns it (radians) about y.

    Args:
        verts: (B, N, 3) y-up points facing +z.
    """
    lo, hi = verts.amin(1), verts.amax(1)
    centre = (lo + hi) / 2
    half = (hi - lo).amax(-1) / 2 * margin
    import math

    dist = half / math.tan(math.radians(fov_y) / 2) + (hi - lo)[:, 2] / 2
    direction = torch.tensor([math.sin(side), 0.0, math.cos(side)], dtype=verts.dtype, device=verts.device)
    eye = centre + dist[:, None] * direction
    up = torch.tensor([0.0, 1.0, 0.0], dtype=verts.dtype, device=verts.device).expand_as(eye)
    return PerspectiveCamera.look_at(eye, centre, up, fov_y=fov_y)


def render_preview(
    verts: Tensor,
    faces: Tensor,
    colors: Optional[Tensor] = None,
    camera: Optional[PerspectiveCamera] = None,
    image_size: int | Sequence[int] = 512,
    *,
    backend: str = "auto",
) -> Tensor:
    """Render a Lambert-shaded preview.

    Args:
        verts: (B, N, 3) world points (y up). faces: (F, 3).
        colors: (N, 3) or (B, N, 3) per-vertex albedo in [0, 1] (default light grey).
        camera: a :class:`PerspectiveCamera` (default :func:`front_camera`).
        image_size: side or (H, W).

    Returns:
        (B, 3, H, W) RGB in [0, 1] on a white background.
    """
    check_shape(verts, "B,N,3", "verts", dtype="float")
    H, W = (image_size, image_size) if isinstance(image_size, int) else (int(image_size[0]), int(image_size[1]))
    B, N = verts.shape[:2]
    cam = front_camera(verts) if camera is None else camera
    ndc = cam.project(verts, (H, W))
    faces = faces.to(device=verts.device, dtype=torch.long)
    frags = rasterize(ndc, faces, (H, W), backend=backend)
    if colors is None:
        colors = torch.full((N, 3), 0.75, dtype=verts.dtype, device=verts.device)
    colors = colors.to(verts.dtype).expand(B, N, 3)
    normals = vertex_normals(verts, faces)
    view_n = torch.matmul(normals, cam.R.transpose(-1, -2).to(verts.dtype))  # view frame: z forward
    n_img = interpolate(frags, view_n)[:, :, :, 0]
    albedo = interpolate(frags, colors)[:, :, :, 0]
    n_img = n_img / n_img.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    shade = 0.25 + 0.75 * (-n_img[..., 2]).abs().clamp(0, 1)  # head light (two-sided)
    covered = frags.mask.unsqueeze(-1).to(verts.dtype)
    rgb = albedo * shade.unsqueeze(-1) * covered + (1 - covered)
    return rgb.permute(0, 3, 1, 2).clamp(0, 1)
