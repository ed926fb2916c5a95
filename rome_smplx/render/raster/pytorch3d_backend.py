"""pytorch3d backend: ``pytorch3d.renderer.mesh.rasterize_meshes`` behind our image-NDC convention.

Our NDC (x right, y down, each axis spanning [-1, 1]) is mapped to pytorch3d's (+x left, +y up, the
shorter image side spanning [-1, 1]) with :func:`rome_smplx.render.cameras.ndc_to_pytorch3d`; the
resulting image rows and columns already match ours, and packed face indices are converted to
per-batch-element indices. pytorch3d computes in float32: other float dtypes are converted on the
way in and the outputs converted back.
"""

from __future__ import annotations

import importlib.util

import torch
from torch import Tensor

from rome_smplx.errors import BackendError
from rome_smplx.render.cameras import ndc_to_pytorch3d
from rome_smplx.render.raster.base import Fragments

__all__ = ["Pytorch3dBackend"]


class Pytorch3dBackend:
    """Rasterisation by pytorch3d (its CUDA kernels on GPU, its naive C++ loop on CPU)."""

    name = "pytorch3d"

    def is_available(self) -> bool:
        return importlib.util.find_spec("pytorch3d") is not None

    def rasterize(
        self,
        verts_ndc: Tensor,
        faces: Tensor,
        image_size: tuple[int, int],
        faces_per_pixel: int,
        blur_radius: float,
    ) -> Fragments:
        try:
            from pytorch3d.renderer.mesh.rasterize_meshes import rasterize_meshes
            from pytorch3d.structures import Meshes
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise BackendError(
                f"backend 'pytorch3d' could not be imported ({exc}); install the 'pytorch3d' extra "
                "or use backend='torch'"
            ) from exc
        H, W = int(image_size[0]), int(image_size[1])
        B, F = int(faces.shape[0]), int(faces.shape[1])
        dtype = verts_ndc.dtype
        v = ndc_to_pytorch3d(verts_ndc.float(), H, W)
        meshes = Meshes(verts=v, faces=faces)
        p2f, zbuf, bary, dists = rasterize_meshes(
            meshes,
            image_size=(H, W),
            blur_radius=float(blur_radius),
            faces_per_pixel=int(faces_per_pixel),
            bin_size=None,
            perspective_correct=False,
            clip_barycentric_coords=False,
            cull_backfaces=False,
        )
        if F > 0:
            first = (torch.arange(B, device=p2f.device) * F).view(B, 1, 1, 1)
            p2f = torch.where(p2f >= 0, p2f - first, p2f)
        return Fragments(
            pix_to_face=p2f,
            bary_coords=bary.to(dtype),
            zbuf=zbuf.to(dtype),
            dists=dists.to(dtype),
            backend=self.name,
        )
