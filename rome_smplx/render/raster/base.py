"""The rasteriser protocol: inputs, the :class:`Fragments` output, backend selection and soft silhouettes.

Conventions (shared by every backend)
-------------------------------------
* ``verts_ndc`` (B, V, 3) are in **image NDC**: x right, y down, both in [-1, 1] across the image
  (``x = -1`` is the left edge, ``y = -1`` the top edge, whatever the aspect ratio). Pixel
  ``(i, j)`` of an ``H x W`` image is sampled at its centre ``x = -1 + (2 j + 1) / W``,
  ``y = -1 + (2 i + 1) / H``. See :mod:`rome_smplx.render.cameras`.
* ``z`` is a **depth**: smaller is closer. As in pytorch3d, a face with any vertex at ``z < 1e-8`` is
  treated as behind the camera and dropped, and a sample whose interpolated depth is negative is
  ignored. Orthographic projections give signed depths, so shift them to positive values first
  (ROME adds 10).
* A pixel is covered by a face when all three barycentric coordinates are strictly positive (no
  top-left rule: a pixel centre exactly on an edge belongs to neither face), faces whose signed
  area is within 1e-8 NDC^2 of zero are ignored, and both windings are drawn (no back-face culling).
* ``dists`` and ``blur_radius`` are **squared** distances in pytorch3d's NDC units, i.e. in units of
  ``min(H, W) / 2`` pixels (identical to our NDC for square images). With ``blur_radius > 0`` a face
  is also recorded at pixels outside it whose squared distance is below ``blur_radius``.
* Barycentrics are screen-space (``perspective_correct=False``), unclipped, and relative to the face's
  vertex order ``faces[f, 0..2]``; ``zbuf`` is the barycentric interpolation of the vertex depths.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from rome_smplx.checks import check_shape
from rome_smplx.errors import BackendError, InputError

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_SIGMA",
    "ROME_SOFT_BLUR_RADIUS",
    "Fragments",
    "RasterBackend",
    "available_backends",
    "default_blur_radius",
    "rasterize",
    "resolve_backend",
    "sigmoid_alpha",
    "soft_silhouette",
]

#: sigma (= gamma) of pytorch3d's default ``BlendParams``, used by ROME's soft silhouette.
DEFAULT_SIGMA = 1e-4
#: The blur radius of ROME's soft-silhouette pass (10 faces per pixel, sigma 1e-4).
ROME_SOFT_BLUR_RADIUS = 1e-4


@dataclass
class Fragments:
    """Per-pixel rasterisation output, K faces per pixel sorted by depth (nearest first).

    Attributes:
        pix_to_face: (B, H, W, K) int64 face index **within batch element b** (0..F-1, not pytorch3d's
            packed index), -1 where fewer than K faces cover the pixel.
        bary_coords: (B, H, W, K, 3) barycentric coordinates of the pixel centre w.r.t. the face's
            vertices ``faces[f, 0..2]``; -1 for empty entries.
        zbuf: (B, H, W, K) interpolated depth; -1 for empty entries.
        dists: (B, H, W, K) signed squared distance from the pixel centre to the face in units of
            ``min(H, W) / 2`` pixels, negative inside the face; -1 for empty entries.
        faces: (F, 3) or (B, F, 3) int64 faces that were rasterised (used by
            :func:`rome_smplx.render.raster.interpolate`).
        backend: name of the backend that produced the fragments.
    """

    pix_to_face: Tensor
    bary_coords: Tensor
    zbuf: Tensor
    dists: Tensor
    faces: Tensor | None = None
    backend: str = ""

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W)."""
        return int(self.pix_to_face.shape[1]), int(self.pix_to_face.shape[2])

    @property
    def mask(self) -> Tensor:
        """(B, H, W) bool: pixels covered by at least one face."""
        return self.pix_to_face[..., 0] >= 0

    def detach(self) -> Fragments:
        """Fragments with every float tensor detached from the autograd graph."""
        return dataclasses.replace(
            self,
            bary_coords=self.bary_coords.detach(),
            zbuf=self.zbuf.detach(),
            dists=self.dists.detach(),
        )


@runtime_checkable
class RasterBackend(Protocol):
    """What a rasteriser backend provides. Inputs are validated before a backend is called."""

    name: str

    def is_available(self) -> bool:
        """True when the backend can run in this environment."""
        ...

    def rasterize(
        self,
        verts_ndc: Tensor,  # (B, V, 3) image NDC, validated
        faces: Tensor,  # (B, F, 3) int64, validated
        image_size: tuple[int, int],
        faces_per_pixel: int,
        blur_radius: float,
    ) -> Fragments:
        """Rasterise; returns :class:`Fragments` (``faces`` may be left unset)."""
        ...


# ------------------------------------------------------------------------------------ backends
def _pytorch3d_importable() -> bool:
    return importlib.util.find_spec("pytorch3d") is not None


def available_backends() -> list[str]:
    """Names of the backends that can run here (``"torch"`` always)."""
    names = ["torch"]
    if _pytorch3d_importable():
        names.append("pytorch3d")
    return names


def resolve_backend(backend: str = "auto", device: torch.device | str | None = None) -> RasterBackend:
    """Return the backend object for ``"auto"``, ``"torch"`` or ``"pytorch3d"``.

    ``"auto"`` picks pytorch3d for CUDA tensors when it is importable, and the pure-PyTorch backend
    otherwise: on the CPU pytorch3d's rasteriser is a slow fallback (``benchmarks/render.py``
    measures it at tens of times slower than the torch backend).

    Raises:
        InputError: unknown backend name.
        BackendError: ``"pytorch3d"`` requested but not installed.
    """
    if backend not in ("auto", "torch", "pytorch3d"):
        raise InputError(f"backend: expected 'auto', 'torch' or 'pytorch3d', found {backend!r}")
    if backend == "auto":
        on_cuda = device is not None and torch.device(device).type == "cuda"
        backend = "pytorch3d" if on_cuda and _pytorch3d_importable() else "torch"
    if backend == "pytorch3d":
        if not _pytorch3d_importable():
            raise BackendError(
                "backend 'pytorch3d' was requested but pytorch3d is not installed; install the "
                "'pytorch3d' extra (pip install 'rome-smplx[pytorch3d]') or use backend='torch'"
            )
        from rome_smplx.render.raster.pytorch3d_backend import Pytorch3dBackend

        return Pytorch3dBackend()
    from rome_smplx.render.raster.torch_backend import TorchBackend

    return TorchBackend()


# ---------------------------------------------------------------------------------- validation
def _raster_inputs(
    verts_ndc: Tensor, faces: Tensor, image_size: Sequence[int], faces_per_pixel: int, blur_radius: float
) -> tuple[Tensor, tuple[int, int]]:
    dims = check_shape(verts_ndc, "B,V,3", "verts_ndc", dtype="float")
    B, V = dims["B"], dims["V"]
    if not isinstance(faces, Tensor) or faces.dim() != 3:
        check_shape(faces, "F,3", "faces ((F, 3) or (B, F, 3))", dtype="int")
    else:
        check_shape(faces, "B,F,3", "faces", dims={"B": B}, dtype="int")
    if faces.numel() > 0:
        lo, hi = int(faces.min()), int(faces.max())
        if lo < 0 or hi >= V:
            raise InputError(f"faces: vertex indices must lie in [0, {V - 1}], found range [{lo}, {hi}]")
    try:
        H, W = int(image_size[0]), int(image_size[1])
    except (TypeError, IndexError, ValueError):
        raise InputError(f"image_size: expected (H, W), found {image_size!r}") from None
    if H <= 0 or W <= 0:
        raise InputError(f"image_size: expected positive (H, W), found {(H, W)}")
    if int(faces_per_pixel) != faces_per_pixel or faces_per_pixel < 1:
        raise InputError(f"faces_per_pixel: expected an integer >= 1, found {faces_per_pixel!r}")
    if not (isinstance(blur_radius, (int, float)) and math.isfinite(blur_radius) and blur_radius >= 0):
        raise InputError(f"blur_radius: expected a finite float >= 0, found {blur_radius!r}")
    if not bool(torch.isfinite(verts_ndc.detach()).all()):
        raise InputError("verts_ndc: contains NaN or infinite coordinates")
    faces = faces.to(device=verts_ndc.device, dtype=torch.int64)
    if faces.dim() == 2:
        faces = faces.unsqueeze(0).expand(B, -1, -1)
    return faces, (H, W)


def rasterize(
    verts_ndc: Tensor,
    faces: Tensor,
    image_size: Sequence[int],
    *,
    faces_per_pixel: int = 1,
    blur_radius: float = 0.0,
    backend: str = "auto",
) -> Fragments:
    """Rasterise a batch of triangle meshes given in image NDC.

    Differentiable w.r.t. ``verts_ndc`` through ``bary_coords``, ``zbuf`` and ``dists`` of the selected
    faces (which faces are selected is piecewise constant). Both backends return identical results
    up to float rounding; see the module docstring for the conventions.

    Args:
        verts_ndc: (B, V, 3) vertices in image NDC (x right, y down, [-1, 1]); z is a positive depth,
            smaller = closer.
        faces: (F, 3) shared by the batch, or (B, F, 3) per batch element; int vertex indices.
        image_size: (H, W) in pixels.
        faces_per_pixel: K, the number of nearest faces kept per pixel.
        blur_radius: squared distance (units of ``min(H, W) / 2`` px) within which faces are recorded
            at pixels outside them; 0 for a hard rasterisation.
        backend: ``"auto"`` (pytorch3d for CUDA tensors when importable, else torch), ``"torch"`` or
            ``"pytorch3d"``.

    Returns:
        :class:`Fragments` with (B, H, W, K) fields.
    """
    faces_b, size = _raster_inputs(verts_ndc, faces, image_size, faces_per_pixel, blur_radius)
    impl = resolve_backend(backend, verts_ndc.device)
    frags = impl.rasterize(verts_ndc, faces_b, size, int(faces_per_pixel), float(blur_radius))
    return dataclasses.replace(
        frags, faces=faces.to(device=verts_ndc.device, dtype=torch.int64), backend=impl.name
    )


# ------------------------------------------------------------------------------ soft silhouette
def default_blur_radius(sigma: float = DEFAULT_SIGMA, eps: float = 1e-4) -> float:
    """Blur radius at which a face's sigmoid weight drops to ``eps``: ``log(1 / eps - 1) * sigma``.

    This is the radius pytorch3d's ``SoftSilhouetteShader`` examples use (about 9.2e-4 for sigma=1e-4).
    ROME itself rasterises its soft silhouette with :data:`ROME_SOFT_BLUR_RADIUS` (1e-4).
    """
    return math.log(1.0 / eps - 1.0) * sigma


def sigmoid_alpha(fragments: Fragments, sigma: float = DEFAULT_SIGMA) -> Tensor:
    """pytorch3d's ``sigmoid_alpha_blend`` alpha: ``1 - prod_k (1 - sigmoid(-dists_k / sigma))``.

    Args:
        fragments: rasterisation output with (B, H, W, K) ``dists``.
        sigma: sharpness (squared-distance units).

    Returns:
        (B, H, W) soft silhouette in [0, 1].
    """
    if not sigma > 0:
        raise InputError(f"sigma: expected a positive float, found {sigma!r}")
    prob = torch.sigmoid(-fragments.dists / sigma) * (fragments.pix_to_face >= 0)
    return 1.0 - torch.prod(1.0 - prob, dim=-1)


def soft_silhouette(
    verts_ndc: Tensor,
    faces: Tensor,
    image_size: Sequence[int],
    *,
    sigma: float = DEFAULT_SIGMA,
    faces_per_pixel: int = 10,
    blur_radius: float | None = None,
    backend: str = "auto",
) -> Tensor:
    """Differentiable soft silhouette (SoftRas-style sigmoid blending of the K nearest faces).

    Gradients w.r.t. ``verts_ndc`` flow through the signed distances, so pixels just outside the mesh
    pull its boundary outwards.

    Args:
        verts_ndc: (B, V, 3) image-NDC vertices (see :func:`rasterize`).
        faces: (F, 3) or (B, F, 3).
        image_size: (H, W).
        sigma: sigmoid sharpness; ROME uses pytorch3d's default 1e-4.
        faces_per_pixel: K nearest faces blended per pixel (ROME: 10).
        blur_radius: squared-distance radius; ``None`` uses :data:`ROME_SOFT_BLUR_RADIUS` (ROME's
            setting, 1e-4). A larger radius such as :func:`default_blur_radius` (pytorch3d's example
            recipe, 9.2e-4) needs a much larger ``faces_per_pixel`` on dense meshes: the rasteriser keeps
            the K faces *nearest in depth* among those within the radius, and on a head mesh at 128 px
            the small faces in front of a pixel crowd out the face that covers it, so the interior drops
            below 0.5 (half of a FLAME head's pixels at K=10).
        backend: see :func:`rasterize`.

    Returns:
        (B, H, W) alpha in [0, 1].
    """
    if blur_radius is None:
        blur_radius = ROME_SOFT_BLUR_RADIUS
    frags = rasterize(
        verts_ndc,
        faces,
        image_size,
        faces_per_pixel=faces_per_pixel,
        blur_radius=blur_radius,
        backend=backend,
    )
    return sigmoid_alpha(frags, sigma)
