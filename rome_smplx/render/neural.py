"""ROME's deferred neural renderer and the UV-space rasterisation it needs.

Rendering a head avatar (ROME, sections 3.2-3.3 of the paper; ``src/parametric_avatar.py`` of the
release) goes like this:

1. rasterise the deformed mesh with the target camera (1 face per pixel, hard);
2. sample the neural texture ``T`` at the rasterised UVs (``grid_sample``) and mask it by the hard
   coverage;
3. rasterise the mesh's world-frame (FLAME-frame, before the global rotation) vertex normals (0 on
   the background) and harmonic-encode them, background included;
4. feed ``cat([sampled T, encoded normals])`` to the rendering U-Net E_img, which predicts an RGB
   image and a mask (both through a sigmoid);
5. threshold the mask at 0.6, clean it with a morphological opening and composite the image on
   white. The opening is meant to be 9x9 (``opening_shape="square"``); the release passes OpenCV a
   ``(1, H, W)`` array, which OpenCV takes for a single row of ``H`` pixels with ``W`` channels, so
   the release really applies a vertical 9x1 opening, per column (``opening_shape="vertical"``,
   which the ``official`` profile selects to reproduce its images).

:func:`world2uv` rasterises per-vertex positions into UV space: the xyz map the geometry U-Net reads.
UV coordinates follow ROME's convention ``(2u - 1, -(2v - 1))``, so row 0 of a UV map is ``v = 1``
and the same coordinates index textures through ``grid_sample``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from rome_smplx.errors import InputError
from rome_smplx.geometry.mesh import vertex_normals
from rome_smplx.render.cameras import ROME_DEPTH_SHIFT
from rome_smplx.render.raster import interpolate, rasterize
from rome_smplx.render.raster.base import Fragments
from rome_smplx.types import RenderOutput

__all__ = [
    "ROME_DEPTH_SHIFT",
    "ROME_MASK_THRESHOLD",
    "ROME_OPENING_SIZE",
    "OPENING_SHAPES",
    "DeferredNeuralRenderer",
    "hard_mask",
    "morphological_opening",
    "sample_texture",
    "unwrap_image",
    "uv_fragments",
    "world2uv",
]

#: ROME's threshold for the hard mask (``ROME.mask_hard_threshold``).
ROME_MASK_THRESHOLD = 0.6
#: Side of the square structuring element of ROME's mask opening.
ROME_OPENING_SIZE = 9
#: Structuring elements of :func:`morphological_opening`: ``size x size`` or ``size x 1``.
OPENING_SHAPES = ("square", "vertical")


def _uv_corner_attrs(uv_coords: Tensor, uv_faces: Tensor, batch: int) -> Tensor:
    """(U, 2) UVs and (F, 3) UV faces -> (B, F, 3, 2) per-face-corner UVs."""
    return uv_coords[uv_faces].unsqueeze(0).expand(batch, -1, -1, -1)


def uv_fragments(uv_coords: Tensor, uv_faces: Tensor, size: int | Sequence[int] = 256, *, backend: str = "auto") -> Fragments:
    """The UV layout rasterised into UV space (batch 1): which face and barycentrics cover each texel.

    The result depends on the layout only, so callers that map many meshes into UV space
    (:func:`world2uv`, :func:`unwrap_image`) can compute it once and pass it as ``fragments``.
    """
    H, W = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    uv = uv_coords.detach()
    uv_verts = torch.cat([uv, torch.ones_like(uv[:, :1])], dim=-1).unsqueeze(0)
    return rasterize(uv_verts, uv_faces, (H, W), faces_per_pixel=1, backend=backend)


def _expand_fragments(frags: Fragments, batch: int) -> Fragments:
    if frags.pix_to_face.shape[0] == batch:
        return frags
    if frags.pix_to_face.shape[0] != 1:
        raise InputError(f"fragments: expected batch 1 or {batch}, found {frags.pix_to_face.shape[0]}")

    def ex(t: Tensor) -> Tensor:
        return t.expand(batch, *t.shape[1:])

    return Fragments(pix_to_face=ex(frags.pix_to_face), bary_coords=ex(frags.bary_coords), zbuf=ex(frags.zbuf),
                     dists=ex(frags.dists), faces=frags.faces, backend=frags.backend)


def world2uv(
    verts: Tensor,
    faces: Tensor,
    uv_coords: Tensor,
    uv_faces: Tensor,
    size: int | Sequence[int] = 256,
    *,
    backend: str = "auto",
    fragments: Fragments | None = None,
) -> Tensor:
    """Rasterise per-vertex positions (or any per-vertex attribute) into UV space.

    Args:
        verts: (B, N, C) per-vertex attributes, usually positions (C = 3).
        faces: (F, 3) mesh faces into ``verts``.
        uv_coords: (U, 2) UV coordinates in ROME's convention ``(2u - 1, -(2v - 1))``.
        uv_faces: (F, 3) faces into ``uv_coords``, one per mesh face.
        size: output side (or (H, W)).
        backend: rasteriser backend (see :func:`rome_smplx.render.raster.rasterize`).
        fragments: :func:`uv_fragments` of this layout at this size (batch 1 or B), to skip the
            rasterisation.

    Returns:
        (B, C, H, W) UV map; texels outside every UV triangle are 0.
    """
    if verts.dim() != 3:
        raise InputError(f"world2uv: verts must be (B, N, C), found {tuple(verts.shape)}")
    if faces.shape != uv_faces.shape:
        raise InputError(
            f"world2uv: faces {tuple(faces.shape)} and uv_faces {tuple(uv_faces.shape)} must have the same shape"
        )
    B = verts.shape[0]
    H, W = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if fragments is None:
        fragments = uv_fragments(uv_coords.to(device=verts.device, dtype=verts.dtype), uv_faces, (H, W), backend=backend)
    elif fragments.image_size != (H, W):
        raise InputError(f"world2uv: fragments are {fragments.image_size}, expected {(H, W)}")
    frags = _expand_fragments(fragments, B)
    faces = faces.to(device=verts.device, dtype=torch.long)
    corner = verts[:, faces]  # (B, F, 3, C)
    out = interpolate(frags, corner)[:, :, :, 0]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


#: Depth tolerance (image-NDC units) of :func:`unwrap_image`'s visibility test.
UNWRAP_DEPTH_TOLERANCE = 0.02


def unwrap_image(
    image: Tensor,
    mask: Tensor,
    verts_ndc: Tensor,
    faces: Tensor,
    uv_coords: Tensor,
    uv_faces: Tensor,
    size: int | Sequence[int] = 256,
    *,
    backend: str = "auto",
    fragments: Fragments | None = None,
    depth_tolerance: float = UNWRAP_DEPTH_TOLERANCE,
) -> Tensor:
    """The source image carried into UV space through the source mesh ("unwrapping").

    Every texel is a point of the mesh surface; it takes the image colour where that point projects
    (bilinear) when the point is the nearest surface there (a z-buffer test within ``depth_tolerance``)
    and inside the matte. Not differentiable (an input, not a render).

    Args:
        image: (B, 3, H, W) source image; mask: (B, 1, H, W) its matte in [0, 1].
        verts_ndc: (B, N, 3) the source mesh in image NDC (x right, y down) with positive depth,
            as the renderer rasterises it.
        faces, uv_coords, uv_faces: mesh and UV layout (as for :func:`world2uv`).
        size: side of the UV map; fragments: :func:`uv_fragments` at that size (optional).

    Returns:
        (B, 4, S, S): RGB times visibility, then the visibility (soft: times the matte) in [0, 1].
    """
    if image.dim() != 4 or image.shape[1] != 3 or mask.dim() != 4 or mask.shape[1] != 1:
        raise InputError(f"unwrap_image: expected image (B, 3, H, W) and mask (B, 1, H, W), found "
                         f"{tuple(image.shape)} and {tuple(mask.shape)}")
    if verts_ndc.dim() != 3 or verts_ndc.shape[0] != image.shape[0] or verts_ndc.shape[-1] != 3:
        raise InputError(f"unwrap_image: expected verts_ndc (B={image.shape[0]}, N, 3), found {tuple(verts_ndc.shape)}")
    with torch.no_grad():
        ndc = verts_ndc.detach()
        faces_l = faces.to(device=ndc.device, dtype=torch.long)
        ones = torch.ones_like(ndc[..., :1])
        texel = world2uv(torch.cat([ndc, ones], -1), faces_l, uv_coords, uv_faces, size, backend=backend,
                         fragments=fragments)  # (B, 4, S, S): x, y, depth, coverage
        covered = texel[:, 3:4] > 0.5
        frags = rasterize(ndc, faces_l, tuple(image.shape[-2:]), faces_per_pixel=1, backend=backend)
        zbuf = frags.zbuf[..., 0].unsqueeze(1).to(ndc.dtype)  # (B, 1, H, W), -1 on the background
        grid = texel[:, :2].permute(0, 2, 3, 1)
        z_seen = F.grid_sample(zbuf, grid, mode="nearest", padding_mode="border", align_corners=False)
        inside = (grid.abs() <= 1).all(-1).unsqueeze(1)
        visible = covered & inside & (z_seen > 0) & (texel[:, 2:3] <= z_seen + depth_tolerance)
        rgb = F.grid_sample(image.to(ndc.dtype), grid, mode="bilinear", padding_mode="border", align_corners=False)
        alpha = F.grid_sample(mask.to(ndc.dtype), grid, mode="bilinear", padding_mode="border", align_corners=False)
        vis = visible.to(ndc.dtype) * alpha.clamp(0, 1)
        return torch.cat([rgb * vis, vis], dim=1)


def sample_texture(texture: Tensor, uv_image: Tensor, coverage: Tensor) -> Tensor:
    """Sample a neural texture at per-pixel UVs and zero it outside the mesh.

    Args:
        texture: (B, C, Ht, Wt) neural texture.
        uv_image: (B, H, W, 2) UVs in ROME's convention (the ``grid_sample`` grid).
        coverage: (B, 1, H, W) hard coverage (0/1).

    Returns:
        (B, C, H, W).
    """
    sampled = F.grid_sample(texture, uv_image.to(texture.dtype), mode="bilinear", align_corners=False)
    return sampled * coverage


def morphological_opening(mask: Tensor, size: int = ROME_OPENING_SIZE, shape: str = "square") -> Tensor:
    """Erosion then dilation with a centred ``size x size`` square or a ``size x 1`` column
    (``shape="vertical"``: ``size`` rows tall, one column wide); ``size`` odd.

    Pixels outside the image take part in neither step (as OpenCV's default border does): the
    erosion does not shrink the mask at the border and the dilation does not grow from it.

    Args:
        mask: (B, 1, H, W) in [0, 1].

    Returns:
        (B, 1, H, W).
    """
    if isinstance(size, bool) or not isinstance(size, int) or size % 2 != 1 or size < 1:
        raise InputError(f"opening size must be a positive odd integer, found {size!r}")
    if shape not in OPENING_SHAPES:
        raise InputError(f"opening shape must be one of {OPENING_SHAPES}, found {shape!r}")
    pad = size // 2
    kernel = (size, size) if shape == "square" else (size, 1)
    padding = (pad, pad, pad, pad) if shape == "square" else (0, 0, pad, pad)
    eroded = -F.max_pool2d(F.pad(-mask, padding, value=-1.0), kernel, stride=1)
    return F.max_pool2d(F.pad(eroded, padding, value=0.0), kernel, stride=1)


def hard_mask(
    mask: Tensor, threshold: float = ROME_MASK_THRESHOLD, opening: int = ROME_OPENING_SIZE, shape: str = "square"
) -> Tensor:
    """ROME's hard mask: ``mask > threshold`` cleaned by a morphological opening of ``shape``
    (see :func:`morphological_opening`). (B, 1, H, W)."""
    return morphological_opening((mask > threshold).to(mask.dtype), opening, shape)


class DeferredNeuralRenderer:
    """Rasterise a textured mesh and translate the neural features to an image with E_img.

    Args:
        render_logits: ``(B, C_T + C_n, H, W) -> (rgb_logits (B, 3, H, W), mask_logits (B, 1, H, W))``,
            e.g. :meth:`rome_smplx.models.rome.RomeNetworks.render_logits`.
        harmonic: per-pixel harmonic encoding of the normals ``(..., 3) -> (..., C_n)`` (the
            profile's :meth:`~rome_smplx.models.rome.RomeProfile.harmonic`).
        image_size: (H, W) or a side.
        backend: rasteriser backend.
        threshold, opening: hard-mask settings (ROME: 0.6 and 9).
        opening_shape: ``"square"`` (a true ``opening x opening`` opening) or ``"vertical"`` (the
            ``opening x 1`` one the release really applies); see :func:`morphological_opening`.
    """

    def __init__(
        self,
        render_logits: Callable[[Tensor], tuple[Tensor, Tensor]],
        harmonic: Callable[[Tensor], Tensor],
        image_size: int | Sequence[int] = 256,
        *,
        backend: str = "auto",
        threshold: float = ROME_MASK_THRESHOLD,
        opening: int = ROME_OPENING_SIZE,
        opening_shape: str = "square",
    ) -> None:
        if opening_shape not in OPENING_SHAPES:
            raise InputError(f"opening_shape must be one of {OPENING_SHAPES}, found {opening_shape!r}")
        self.render_logits = render_logits
        self.harmonic = harmonic
        self.image_size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        self.backend = backend
        self.threshold = threshold
        self.opening = opening
        self.opening_shape = opening_shape

    def features(
        self,
        texture: Tensor,
        verts_world: Tensor,
        verts_ndc: Tensor,
        faces: Tensor,
        uv_coords: Tensor,
        uv_faces: Tensor,
        image_size: Sequence[int] | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """E_img's input and what goes with it.

        Args:
            texture: (B, C, Ht, Wt) neural texture.
            verts_world: (B, N, 3) final mesh in the FLAME frame (before the global rotation);
                its normals are rendered.
            verts_ndc: (B, N, 3) the same mesh in image NDC (x right, y down) with positive depth.
            faces: (F, 3); uv_coords (U, 2); uv_faces (F, 3).

        Returns:
            features (B, C + C_n, H, W), coverage (B, 1, H, W), normals (B, 3, H, W).
        """
        H, W = self.image_size if image_size is None else tuple(image_size)
        B = verts_ndc.shape[0]
        faces = faces.to(device=verts_ndc.device, dtype=torch.long)
        frags = rasterize(verts_ndc, faces, (H, W), faces_per_pixel=1, backend=self.backend)
        coverage = (frags.pix_to_face[..., 0] >= 0).to(verts_ndc.dtype).unsqueeze(1)
        uv = uv_coords.to(device=verts_ndc.device, dtype=verts_ndc.dtype)
        uv_image = interpolate(frags, _uv_corner_attrs(uv, uv_faces.to(uv.device, torch.long), B))[:, :, :, 0]
        sampled = sample_texture(texture, uv_image, coverage)
        normals = vertex_normals(verts_world, faces)
        normal_image = interpolate(frags, normals)[:, :, :, 0]  # (B, H, W, 3), 0 outside
        # As in the release, the encoding is not masked: background normals are 0, so their sine
        # channels are 0 and their cosine channels 1.
        encoded = self.harmonic(normal_image).permute(0, 3, 1, 2)
        feats = torch.cat([sampled, encoded], dim=1)
        return feats, coverage, normal_image.permute(0, 3, 1, 2)

    def __call__(
        self,
        texture: Tensor,
        verts_world: Tensor,
        verts_ndc: Tensor,
        faces: Tensor,
        uv_coords: Tensor,
        uv_faces: Tensor,
        image_size: Sequence[int] | None = None,
    ) -> RenderOutput:
        """Render; see :meth:`features` for the arguments. Returns a :class:`RenderOutput`."""
        feats, coverage, normals = self.features(
            texture, verts_world, verts_ndc, faces, uv_coords, uv_faces, image_size
        )
        rgb_logits, mask_logits = self.render_logits(feats)
        image = torch.sigmoid(rgb_logits)
        mask = torch.sigmoid(mask_logits)
        hard = hard_mask(mask.detach(), self.threshold, self.opening, self.opening_shape)
        composite = image * hard + (1.0 - hard)
        return RenderOutput(
            image=image, mask=mask, hard_mask=hard, composite=composite, silhouette=coverage, normals=normals
        )
