"""Rendering a merged full-body mesh: ROME's deferred neural renderer on the head, shading on the body.

One rasterisation of the whole mesh (body and head faces in one z-buffer, :data:`HEAD_LAYERS` nearest
faces per pixel) gives, per pixel, the nearest face and the nearest head face. Then:

1. **Body** pixels are Lambert-shaded (head light) from a per-vertex albedo.
2. **Head** pixels (faces that are FLAME faces under the correspondence) feed ROME's renderer: the
   UVs (the FLAME UVs of the faces) and head-frame normals of the nearest head face are resampled into
   a square crop at the network's resolution, the neural texture is sampled there and E_img turns
   ``cat[texture, harmonic(normals)]`` into an RGB image and a mask, as
   :class:`~rome_smplx.render.neural.DeferredNeuralRenderer` does for a head alone. The network sees the
   head as ROME would, body faces in front of it (the chest before the far side of the neck, a hand)
   do not reach it; the composite puts them back in front.
3. **Composite**: the network's image is pasted back through the crop with weight ``mask * region``,
   where ``region`` is the interpolated seam weight where a head face is nearest (so the neck fades
   from the network to the shaded body with no edge) and, elsewhere, a thin dilation of the head
   region limited to pixels where the body lies behind the head (hair edges may overlap the shoulders,
   never a hand in front of the face).

With a crop of one output pixel per network pixel (:meth:`OrthographicCamera.from_rome` of the source
camera) the network sees exactly what :meth:`HeadAvatar.render <rome_smplx.avatar.head.HeadAvatar.render>`
shows it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from rome_smplx.errors import InputError
from rome_smplx.geometry.mesh import vertex_normals
from rome_smplx.render.cameras import pixel_centers_ndc
from rome_smplx.render.neural import sample_texture
from rome_smplx.render.raster import Fragments, interpolate, rasterize
from rome_smplx.types import FullBodyRender, Similarity

__all__ = ["AlbedoTexture", "HeadRenderInputs", "OrthographicCamera", "render_full_body"]

#: Faces kept per pixel: the nearest head face behind up to ``HEAD_LAYERS - 1`` body faces still reaches
#: the network (a hand in front of the face, the chest in front of the neck's far side).
HEAD_LAYERS = 3
#: Flat albedo of the body when nothing better is known (RGB in [0, 1]).
DEFAULT_ALBEDO = (0.80, 0.66, 0.55)


@dataclass
class OrthographicCamera:
    """A (weak-perspective) orthographic camera in image conventions.

    ``view = R v + T`` (rows of ``R``: the camera's right, down and forward axes in world coordinates),
    image NDC ``x = scale * view_x * H / W``, ``y = scale * view_y``, depth ``scale * view_z + depth_shift``
    (positive for the rasteriser; ROME shifts by 10).

    Attributes:
        R: ``(B, 3, 3)`` world-to-view rotation.
        T: ``(B, 3)`` world-to-view translation (in world units).
        scale: ``(B,)`` NDC units per world unit.
        depth_shift: added to the depth.
    """

    R: Tensor
    T: Tensor
    scale: Tensor
    depth_shift: float = 10.0

    def __post_init__(self) -> None:
        for name, t, dims in (("R", self.R, 3), ("T", self.T, 2), ("scale", self.scale, 1)):
            if not isinstance(t, Tensor) or t.dim() != dims:
                raise InputError(f"OrthographicCamera.{name}: expected a tensor with {dims} dimensions, "
                                 f"found {getattr(t, 'shape', type(t).__name__)}")
        b = self.R.shape[0]
        if self.R.shape != (b, 3, 3) or self.T.shape != (b, 3) or self.scale.shape != (b,):
            raise InputError(f"OrthographicCamera: expected R (B, 3, 3), T (B, 3), scale (B,), found "
                             f"{tuple(self.R.shape)}, {tuple(self.T.shape)}, {tuple(self.scale.shape)}")

    @classmethod
    def from_rome(cls, cam: Tensor, similarity: Similarity) -> "OrthographicCamera":
        """ROME's camera of a head, for points of the body frame the head was merged into.

        ROME projects FLAME points ``f`` (posed, before the global rotation is applied by the camera) as
        ``s * (f + [tx, ty, 0])`` with y and z negated (:func:`~rome_smplx.render.cameras.rome_project`).
        For body points ``v = similarity(f)`` this camera gives the same image NDC and ROME's depth
        (shifted by 10), so a body posed with the head's global rotation renders like the head.

        Args:
            cam: ``(B, 3)`` DECA camera ``[s, tx, ty]``.
            similarity: FLAME frame -> body frame (batch B or 1).
        """
        if not isinstance(cam, Tensor) or cam.dim() != 2 or cam.shape[1] != 3:
            raise InputError(f"cam: expected a tensor (B, 3) = [s, tx, ty], found {getattr(cam, 'shape', cam)}")
        d = cam.new_tensor([1.0, -1.0, -1.0])
        rt = similarity.rotation.transpose(-1, -2).to(cam)
        s_sim = similarity.scale.to(cam)
        R = d[:, None] * rt  # diag(1, -1, -1) R_sim^T
        shift = torch.cat([cam[:, 1:3], torch.zeros_like(cam[:, :1])], dim=-1)
        T = d * (-(rt @ similarity.translation.to(cam)[..., None])[..., 0] + s_sim[:, None] * shift)
        B = max(R.shape[0], T.shape[0])
        return cls(R=R.expand(B, 3, 3), T=T.expand(B, 3), scale=(cam[:, 0] / s_sim).expand(B))

    @classmethod
    def framing(cls, verts: Tensor, *, side: float = 0.0, margin: float = 1.1) -> "OrthographicCamera":
        """A y-up camera looking at the mesh from the front (+z), turned by ``side`` radians about y, that
        frames ``verts (B, N, 3)`` with ``margin``."""
        import math

        lo, hi = verts.amin(1), verts.amax(1)
        centre = (lo + hi) / 2
        c, s = math.cos(side), math.sin(side)
        fwd = verts.new_tensor([-s, 0.0, -c])  # looking towards -z from the front
        right = verts.new_tensor([c, 0.0, -s])
        down = verts.new_tensor([0.0, -1.0, 0.0])
        R = torch.stack([right, down, fwd]).expand(verts.shape[0], 3, 3)
        T = -(R @ centre[..., None])[..., 0]
        half = ((verts - centre[:, None]).abs().amax(1)).amax(-1) * margin
        return cls(R=R, T=T, scale=1.0 / half.clamp_min(1e-8), depth_shift=10.0)

    def project(self, v: Tensor, image_size: Sequence[int]) -> Tensor:
        """``(B, N, 3)`` world points -> ``(B, N, 3)`` image NDC (x right, y down) and positive depth."""
        H, W = int(image_size[0]), int(image_size[1])
        pv = torch.matmul(v, self.R.transpose(-1, -2).to(v)) + self.T.to(v)[:, None, :]
        s = self.scale.to(v)[:, None, None]
        return torch.cat([pv[..., :1] * (H / W), pv[..., 1:2], pv[..., 2:3]], dim=-1) * s + v.new_tensor(
            [0.0, 0.0, self.depth_shift])

    def to(self, *args, **kwargs) -> "OrthographicCamera":
        return OrthographicCamera(self.R.to(*args, **kwargs), self.T.to(*args, **kwargs),
                                  self.scale.to(*args, **kwargs), self.depth_shift)


@dataclass
class AlbedoTexture:
    """A body albedo texture and where every rasterised face's corners sample it.

    Attributes:
        image: ``(1 or B, 3, S, S)`` RGB in [0, 1], row 0 at the top.
        face_uvs: ``(F, 3, 2)`` ``grid_sample`` coordinates (x right, y down, [-1, 1]) of each face corner.
    """

    image: Tensor
    face_uvs: Tensor


@dataclass
class HeadRenderInputs:
    """What the neural head pass needs besides the posed mesh (built by the avatar).

    Attributes:
        faces: ``(F', 3)`` faces to rasterise: the body's faces plus head faces only the head model has
            (ROME's mouth-closing triangles).
        head_face: ``(F',)`` bool, faces rendered by the network.
        face_uvs: ``(F', 3, 2)`` neural-texture UVs of every face corner (ROME's convention; 0 on body faces).
        head_vertices: ``(N,)`` body indices of the head model's vertices.
        head_faces: ``(Fh, 3)`` the head model's faces (normals are computed on its topology, as ROME does).
        to_head_frame: ``(B, 3, 3)`` rotation from the world to the frame of ROME's normals.
        seam: ``(B, V)`` per-vertex seam weight (1: the network's, 0: the body's).
        skin: ``(B, V)`` 1 on face vertices (where a flat body albedo is measured).
        texture: ``(B, C, Ht, Wt)`` neural texture.
        render_logits: ``features (B, C + Cn, S, S) -> (rgb_logits, mask_logits)``.
        harmonic: ``(..., 3) -> (..., Cn)`` normal encoding.
        crop: ``(B, 4)`` ``[cx, cy, hx, hy]`` crop centre and half sizes in output NDC.
        size: S, the network's resolution.
    """

    faces: Tensor
    head_face: Tensor
    face_uvs: Tensor
    head_vertices: Tensor
    head_faces: Tensor
    to_head_frame: Tensor
    seam: Tensor
    skin: Tensor
    texture: Tensor
    render_logits: Callable[[Tensor], tuple[Tensor, Tensor]]
    harmonic: Callable[[Tensor], Tensor]
    crop: Tensor
    size: int


def _layer(frags: Fragments, k: Tensor, keep: Optional[Tensor] = None) -> Fragments:
    """One face per pixel: layer ``k (B, H, W)`` of K-layer fragments (empty where ``keep`` is False)."""
    def pick(t: Tensor) -> Tensor:
        idx = k[..., None, None] if t.dim() == 5 else k[..., None]
        if t.dim() == 5:
            return t.gather(3, idx.expand(*k.shape, 1, t.shape[-1]))
        return t.gather(3, idx)

    p2f, bary, zbuf, dists = pick(frags.pix_to_face), pick(frags.bary_coords), pick(frags.zbuf), pick(frags.dists)
    if keep is not None:
        m = keep[..., None]
        p2f = torch.where(m, p2f, -1)
        bary = torch.where(m[..., None], bary, -1.0)
        zbuf = torch.where(m, zbuf, -1.0)
        dists = torch.where(m, dists, -1.0)
    return Fragments(pix_to_face=p2f, bary_coords=bary, zbuf=zbuf, dists=dists, faces=frags.faces, backend=frags.backend)


def _background(background, like: Tensor) -> Tensor:
    bg = torch.as_tensor(background, dtype=like.dtype, device=like.device).reshape(-1)
    if bg.numel() == 1:
        bg = bg.expand(3)
    if bg.numel() != 3:
        raise InputError(f"background: expected a grey level or an RGB triple, found {background!r}")
    return bg.view(1, 3, 1, 1)


def _crop_grid(crop: Tensor, size: int) -> Tensor:
    """Output-NDC positions of the crop's pixel centres: ``(B, S, S, 2)``."""
    q = pixel_centers_ndc(size, size, dtype=crop.dtype, device=crop.device)  # (S, S, 2)
    return crop[:, None, None, :2] + crop[:, None, None, 2:] * q


def _paste_grid(crop: Tensor, H: int, W: int) -> Tensor:
    """Crop-NDC positions of the output pixel centres: ``(B, H, W, 2)``."""
    x = pixel_centers_ndc(H, W, dtype=crop.dtype, device=crop.device)
    return (x - crop[:, None, None, :2]) / crop[:, None, None, 2:]


def render_full_body(
    verts: Tensor,
    faces: Tensor,
    camera,
    image_size: int | Sequence[int],
    *,
    colors: Optional[Tensor] = None,
    background: float | Sequence[float] = 1.0,
    backend: str = "auto",
    head: Optional[HeadRenderInputs] = None,
    flat_albedo_from_face: bool = False,
    texture: Optional[AlbedoTexture] = None,
) -> FullBodyRender:
    """Render posed full-body meshes, the head through ROME's network when ``head`` is given.

    Args:
        verts: ``(B, V, 3)`` posed world vertices.
        faces: ``(F, 3)`` mesh faces (used for shading normals; ``head.faces`` are rasterised when given).
        camera: ``project(verts, (H, W))`` to image NDC with depth, and ``R (B, 3, 3)`` world-to-view.
        image_size: side or (H, W).
        colors: ``(B, V, 3)`` albedo, or ``None`` (flat :data:`DEFAULT_ALBEDO`, or measured on the
            network's face pixels when ``flat_albedo_from_face``).
        background: grey level or RGB.
        backend: rasteriser backend.
        head: the neural head pass (see :class:`HeadRenderInputs`); ``None`` shades everything.
        flat_albedo_from_face: with ``head`` and no ``colors``: take the body's flat albedo from the mean
            colour the network gives the face.
        texture: an :class:`AlbedoTexture` (with corners for every rasterised face); it replaces ``colors``.

    Returns:
        :class:`~rome_smplx.types.FullBodyRender`.
    """
    if not isinstance(verts, Tensor) or verts.dim() != 3 or verts.shape[-1] != 3:
        raise InputError(f"verts: expected (B, V, 3), found {getattr(verts, 'shape', type(verts).__name__)}")
    H, W = (image_size, image_size) if isinstance(image_size, int) else (int(image_size[0]), int(image_size[1]))
    B, V = verts.shape[:2]
    dtype, dev = verts.dtype, verts.device
    faces = faces.to(device=dev, dtype=torch.long)
    ndc = camera.project(verts, (H, W))
    raster_faces = faces if head is None else head.faces.to(dev)
    K = 1 if head is None else HEAD_LAYERS
    frags_all = rasterize(ndc, raster_faces, (H, W), faces_per_pixel=K, backend=backend)
    frags = _layer(frags_all, frags_all.pix_to_face.new_zeros(B, H, W))
    p2f = frags.pix_to_face[..., 0]
    cov = p2f >= 0
    covf = cov.to(dtype).unsqueeze(1)
    depth = torch.where(cov, frags.zbuf[..., 0], torch.full_like(frags.zbuf[..., 0], float("inf"))).unsqueeze(1)

    normals = vertex_normals(verts, faces)
    view_n = torch.matmul(normals, camera.R.transpose(-1, -2).to(dtype))
    n_img = interpolate(frags, view_n)[:, :, :, 0]
    n_img = n_img / n_img.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    shade = (0.25 + 0.75 * n_img[..., 2].abs().clamp(0, 1)).unsqueeze(1)  # head light, two-sided
    bg = _background(background, verts)
    albedo = None if colors is None else interpolate(frags, colors.to(dtype).expand(B, V, 3))[:, :, :, 0].permute(0, 3, 1, 2)
    if texture is not None:
        grid = interpolate(frags, texture.face_uvs.to(dev, dtype).unsqueeze(0).expand(B, -1, -1, -1))[:, :, :, 0]
        tex = texture.image.to(dev, dtype).expand(B, *texture.image.shape[1:])
        albedo = F.grid_sample(tex, grid, mode="bilinear", padding_mode="border", align_corners=False)

    if head is None:
        if albedo is None:
            albedo = verts.new_tensor(DEFAULT_ALBEDO).view(1, 3, 1, 1)
        image = albedo * shade * covf + bg * (1 - covf)
        return FullBodyRender(image=image.clamp(0, 1), mask=covf, depth=depth,
                              part_faces=torch.where(cov, 0, -1).unsqueeze(1))

    # ---------------------------------------------------------------- the head through the network
    S = int(head.size)
    head_face = head.head_face.to(dev)
    front = cov & head_face[p2f.clamp_min(0)]  # the nearest face is a head face
    # the network sees the head as ROME would, without the body: the nearest head face of every pixel
    layers = (frags_all.pix_to_face >= 0) & head_face[frags_all.pix_to_face.clamp_min(0)]
    hfr = _layer(frags_all, layers.to(torch.uint8).argmax(-1), layers.any(-1))
    seen = hfr.pix_to_face[..., 0] >= 0
    hf = seen.to(dtype).unsqueeze(1)
    seam_img = interpolate(frags, head.seam.to(dtype)[..., None])[:, :, :, 0].permute(0, 3, 1, 2) * front.unsqueeze(1)
    skin_img = interpolate(frags, head.skin.to(dtype)[..., None])[:, :, :, 0].permute(0, 3, 1, 2) * front.unsqueeze(1)
    uv_img = interpolate(hfr, head.face_uvs.to(dtype).unsqueeze(0).expand(B, -1, -1, -1))[:, :, :, 0]
    idx = head.head_vertices.to(dev)
    hn = vertex_normals(verts[:, idx], head.head_faces.to(dev))
    hn = torch.matmul(hn, head.to_head_frame.to(dtype).transpose(-1, -2))
    n_full = verts.new_zeros(B, V, 3).index_copy(1, idx, hn)
    hn_img = interpolate(hfr, n_full)[:, :, :, 0]
    gbuf = torch.cat([uv_img, hn_img], dim=-1).permute(0, 3, 1, 2) * hf  # (B, 5, H, W)

    crop = head.crop.to(dtype)
    grid = _crop_grid(crop, S)
    num = F.grid_sample(gbuf, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    den = F.grid_sample(hf, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    cov_c = (den > 0.5).to(dtype)
    buf_c = num / den.clamp_min(1e-8) * cov_c
    uv_c = buf_c[:, :2].permute(0, 2, 3, 1)
    normal_c = buf_c[:, 2:5].permute(0, 2, 3, 1)
    sampled = sample_texture(head.texture.to(dtype), uv_c, cov_c)
    encoded = head.harmonic(normal_c).permute(0, 3, 1, 2)
    rgb_logits, mask_logits = head.render_logits(torch.cat([sampled, encoded], dim=1))
    crop_rgb, crop_mask = torch.sigmoid(rgb_logits), torch.sigmoid(mask_logits)
    back = _paste_grid(crop, H, W)
    head_rgb = F.grid_sample(crop_rgb, back, mode="bilinear", padding_mode="zeros", align_corners=False)
    head_mask = F.grid_sample(crop_mask, back, mode="bilinear", padding_mode="zeros", align_corners=False)

    # region: the seam weight on head pixels; a thin dilation of it where nothing is in front of the head
    crop_px = float((crop[:, 3].max() * H / 2).clamp_min(1.0))
    k = max(3, 2 * int(round(0.015 * crop_px)) + 1)
    near = F.max_pool2d(seam_img, k, stride=1, padding=k // 2)
    head_depth = torch.where(front.unsqueeze(1), depth, torch.full_like(depth, float("inf")))
    near_depth = -F.max_pool2d(-head_depth, k, stride=1, padding=k // 2)
    behind = (~cov.unsqueeze(1)) | (depth > near_depth)
    region = torch.where(front.unsqueeze(1), seam_img, near * behind.to(dtype))
    alpha = (head_mask * region).clamp(0, 1)

    if albedo is None:
        flat = verts.new_tensor(DEFAULT_ALBEDO).expand(B, 3)
        if flat_albedo_from_face:
            w = alpha * skin_img
            tot = w.sum(dim=(1, 2, 3))
            mean = (head_rgb * w).sum(dim=(2, 3)) / tot.clamp_min(1e-8)[:, None]
            flat = torch.where((tot > 1.0)[:, None], mean, flat)
        albedo = flat.view(B, 3, 1, 1)
    body = albedo * shade * covf + bg * (1 - covf)
    image = alpha * head_rgb + (1 - alpha) * body
    part_faces = torch.where(cov, front.to(torch.long), -1).unsqueeze(1)
    return FullBodyRender(
        image=image.clamp(0, 1), mask=torch.maximum(covf, alpha), depth=depth, part_faces=part_faces,
        head_image=head_rgb, head_alpha=alpha, head_crop=crop, crop_image=crop_rgb, crop_mask=crop_mask,
    )
