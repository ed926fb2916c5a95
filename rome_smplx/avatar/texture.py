"""Photo textures for full-body avatars: the views a reconstruction and a body photo give, baked into
SMPL-X's UV layout by :mod:`rome_smplx.render.bake`.

Views (highest priority first):

1. **The aligned head photo** (:func:`head_photo_view`): the reconstruction's source image, seen by
   ROME's camera (DECA's orthographic ``cam`` after the global rotation about FLAME's root joint),
   with the head in the photo's own geometry: ROME's deformed FLAME mesh (``recon.vertices``) placed
   on the SMPL-X head vertices through the correspondence. It colours the head and hair faces; only
   head faces occlude (the photo does not show the SMPL-X body).
2. **Neural views** (:func:`neural_head_views`, optional): ROME's deferred neural renderer draws the
   head from other yaw angles; each render is back-projected like the photo (it fills the sides and
   back of the head the photo does not see).
3. **The body photo** (optional): the full image with a body camera (e.g. PIXIE's ``body_cam`` and the
   crop box, :func:`crop_camera`) and the posed avatar; it colours everything it sees.

Unseen texels take the mirror side where SMPL-X's template is symmetric, then the part's median (a
body nobody photographed takes the face's skin tone).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import torch
from torch import Tensor

from rome_smplx.errors import InputError
from rome_smplx.render import bake
from rome_smplx.types import FlameParams, HeadReconstruction

if TYPE_CHECKING:  # pragma: no cover
    from rome_smplx.avatar.head import HeadAvatar

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_NEURAL_YAWS", "CropCamera", "bake_avatar", "bake_views", "crop_camera", "head_faces", "head_photo_view",
           "neural_head_views"]

#: Yaw angles (degrees) of the neural views: both sides and three-quarter back views.
DEFAULT_NEURAL_YAWS = (-60.0, 60.0, -120.0, 120.0)


def head_faces(faces: Tensor, corr: Tensor, num_vertices: int) -> Tensor:
    """``(F,)`` bool: faces whose three vertices are SMPL-X head vertices (``corr``)."""
    inside = torch.zeros(num_vertices, dtype=torch.bool, device=faces.device)
    inside[corr.to(faces.device)] = True
    return inside[faces].all(-1)


def _head_vertices(flame_vertices: Tensor, corr: Tensor, num_vertices: int) -> Tensor:
    """``(V, 3)``: the FLAME-frame head on the SMPL-X head vertices; the rest at the head's centroid
    (they neither occlude nor take colour in a head view)."""
    v = flame_vertices.detach().float()
    out = v.mean(0, keepdim=True).expand(num_vertices, 3).clone()
    out[corr.to(v.device)] = v
    return out


def head_photo_view(
    recon: HeadReconstruction,
    faces: Tensor,
    corr: Tensor,
    num_vertices: int,
    root_regressor: Tensor,
    *,
    index: int = 0,
    priority: float = 2.0,
    erode: int = 1,
) -> bake.BakeView:
    """The reconstruction's aligned source photo as a :class:`~rome_smplx.render.bake.BakeView`.

    Args:
        recon: :class:`HeadReconstruction` with ``source_image``, ``source_mask`` and a camera in ``flame.cam``.
        faces: ``(F, 3)`` SMPL-X faces; corr: ``(N,)`` SMPL-X vertex of each FLAME vertex.
        num_vertices: SMPL-X's vertex count.
        root_regressor: ``(N,)`` FLAME's root-joint regressor row (ROME rotates about that joint).
        index: batch element.
    """
    if recon.source_image is None:
        raise InputError("bake_texture: the reconstruction keeps no source image (reconstruct() stores it)")
    if recon.flame.cam is None:
        raise InputError("bake_texture: the reconstruction's FLAME parameters have no camera (cam = [s, tx, ty])")
    i = slice(index, index + 1)
    verts = recon.vertices[index].detach().float()
    flame_only = verts - recon.offsets[index].detach().float()
    root = (root_regressor.to(verts) @ flame_only)[None]
    cam = bake.WeakPerspectiveCamera(recon.flame.cam[i].detach().float(), "y_up",
                                     recon.flame.global_rot[i].detach().float(), root)
    hf = head_faces(faces, corr, num_vertices)
    mask = None if recon.source_mask is None else recon.source_mask[i].detach().float()
    return bake.BakeView(recon.source_image[i].detach().float(), cam, _head_vertices(verts, corr, num_vertices),
                         mask=mask, faces=hf, occluders=hf, occluder_triangles=_rome_triangles(recon, corr),
                         priority=priority, erode=erode, name="head_photo")


def _rome_triangles(recon: HeadReconstruction, corr: Tensor) -> Tensor:
    """ROME's own faces (FLAME's and the mouth-closing ones) on the SMPL-X head vertices: the surface the
    photo shows, which occludes even where SMPL-X's mesh has no face (the closed mouth)."""
    return corr.cpu()[recon.faces.cpu().long()]


def neural_head_views(
    head: "HeadAvatar",
    recon: HeadReconstruction,
    faces: Tensor,
    corr: Tensor,
    num_vertices: int,
    *,
    yaws: Sequence[float] = DEFAULT_NEURAL_YAWS,
    index: int = 0,
    priority: float = 1.0,
) -> list[bake.BakeView]:
    """ROME's neural renders of the head at other yaw angles (degrees), as bake views.

    Each target keeps the source's expression, jaw and camera and turns the global rotation about y;
    the render's soft mask is the matte. With untrained networks these views carry noise, not texture.
    """
    from rome_smplx.geometry.rotations import axis_angle_to_matrix

    src = recon.flame.index(index)
    if src.cam is None:
        raise InputError("bake_texture: neural views need the reconstruction's camera (flame.cam)")
    one = recon.index(index)
    hf = head_faces(faces, corr, num_vertices)
    views = []
    for yaw in yaws:
        turn = axis_angle_to_matrix(torch.tensor([[0.0, math.radians(float(yaw)), 0.0]])).to(src.global_rot)
        tgt = FlameParams(shape=src.shape, expression=src.expression, global_rot=turn @ src.global_rot,
                          jaw_rot=src.jaw_rot, neck_rot=src.neck_rot, eye_rots=src.eye_rots, cam=src.cam)
        with torch.no_grad():
            verts, _, params, root = head.posed_mesh(one, tgt)
            out = head.render(one, tgt)
        cam = bake.WeakPerspectiveCamera(params.cam.detach().float(), "y_up", params.global_rot.detach().float(),
                                         root.detach().float())
        views.append(bake.BakeView(out.image.detach().float().clamp(0, 1), cam,
                                   _head_vertices(verts[0], corr, num_vertices), mask=out.mask.detach().float(),
                                   faces=hf, occluders=hf, occluder_triangles=_rome_triangles(one, corr),
                                   priority=priority, min_cos=0.3, name=f"neural_yaw{yaw:+.0f}"))
    return views


@dataclass
class CropCamera:
    """A camera whose image NDC covers a crop box of a larger photo (PIXIE's body crop).

    Attributes:
        camera: the crop's camera (e.g. ``WeakPerspectiveCamera(body_cam)``).
        box: ``(x0, y0, width, height)`` of the crop in the photo's pixels.
        image_size: ``(H, W)`` of the photo.
    """

    camera: bake.BakeCamera
    box: tuple
    image_size: tuple

    def project(self, points: Tensor, image_size: Sequence[int]) -> Tensor:
        x0, y0, w, h = (float(b) for b in self.box)
        H, W = (float(s) for s in self.image_size)
        ndc = self.camera.project(points, image_size)
        x = ((ndc[..., 0] + 1) / 2 * w + x0) / W * 2 - 1
        y = ((ndc[..., 1] + 1) / 2 * h + y0) / H * 2 - 1
        return torch.stack([x, y, ndc[..., 2]], dim=-1)

    def toward_camera(self, points: Tensor) -> Tensor:
        return self.camera.toward_camera(points)


def crop_camera(body_cam: Tensor, bbox: Sequence[float], image_size: Sequence[int], *, scale: float = 1.1) -> CropCamera:
    """The camera of a photo whose body was cropped as PIXIE crops it.

    Args:
        body_cam: ``(1, 3)`` PIXIE's ``body_cam`` converted to the y-up frame
            (:func:`rome_smplx.io.pixie.to_y_up` flips ``ty``).
        bbox: ``[x1, y1, x2, y2]`` detector box in photo pixels; PIXIE's crop is the square of side
            ``scale * max(w, h)`` centred on it.
        image_size: ``(H, W)`` of the photo.
    """
    x1, y1, x2, y2 = (float(b) for b in bbox)
    side = scale * max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return CropCamera(bake.WeakPerspectiveCamera(body_cam.reshape(1, 3).float()),
                      (cx - side / 2, cy - side / 2, side, side), (int(image_size[0]), int(image_size[1])))


def bake_views(
    faces: Tensor,
    uvs: Tensor,
    uv_faces: Tensor,
    views: Sequence[bake.BakeView],
    *,
    size: int = 1024,
    parts: Optional[Tensor] = None,
    mirror: Optional[Tensor] = None,
    part_fallback: Optional[dict] = None,
) -> bake.BakedTexture:
    """Rasterise the UV layout at ``size`` and bake ``views`` into it (see :func:`rome_smplx.render.bake.bake_texture`)."""
    uvr = bake.rasterize_uv(uvs, uv_faces, size)
    return bake.bake_texture(faces, uvr, views, parts=parts, mirror=mirror, part_fallback=part_fallback)


def bake_avatar(
    avatar,
    image: Optional[Tensor] = None,
    camera=None,
    size: int = 1024,
    *,
    recon: Optional[HeadReconstruction] = None,
    mask: Optional[Tensor] = None,
    neural_views: Sequence[float] | bool = (),
    renderer: Optional["HeadAvatar"] = None,
    index: int = 0,
    erode: int = 1,
) -> bake.BakedTexture:
    """Bake the views of one avatar (batch element ``index``) into a texture in SMPL-X's UV layout.

    Args:
        avatar: a :class:`~rome_smplx.avatar.full_body.FullBodyAvatar` (its rig carries the UV layout).
        image, camera, mask: optional body photo ``(1, 3, H, W)`` of the avatar in its current pose, its
            camera and matte ``(1, 1, H, W)``.
        size: texture side.
        recon: the head's reconstruction (its aligned source photo colours head and hair).
        neural_views: yaw angles (degrees) for ROME's neural renders of the head (``True``:
            :data:`DEFAULT_NEURAL_YAWS`); needs ``renderer`` or the avatar's.
        erode: matte erosion of the photos in pixels (0 for hard-edged synthetic renders).

    Returns:
        :class:`~rome_smplx.render.bake.BakedTexture`.
    """
    from rome_smplx.avatar.full_body import PART_BODY, PART_FACE, PART_NECK

    rig = avatar.rig
    if rig.uvs is None or rig.uv_faces is None:
        raise InputError("bake_texture: the SMPL-X model file has no UV layout (keys vt and ft); a texture needs one")
    V = rig.num_vertices
    faces = rig.faces.cpu()
    corr = rig.corr.cpu()
    views: list[bake.BakeView] = []
    if recon is not None:
        i = index if recon.batch_size > index else 0
        views.append(head_photo_view(recon.to("cpu"), faces, corr, V, rig.flame_root_regressor.cpu(), index=i,
                                     erode=erode))
    yaws = DEFAULT_NEURAL_YAWS if neural_views is True else tuple(neural_views or ())
    if yaws:
        head = renderer if renderer is not None else avatar.renderer
        if head is None or recon is None:
            raise InputError("bake_texture: neural views need recon= and the HeadAvatar (renderer=) that renders it")
        i = index if recon.batch_size > index else 0
        views += [bake.BakeView(v.image.cpu(), v.camera, v.vertices.cpu(), mask=v.mask.cpu(), faces=v.faces.cpu(),
                                occluders=v.occluders.cpu(), occluder_triangles=v.occluder_triangles,
                                priority=v.priority, min_cos=v.min_cos, name=v.name)
                  for v in neural_head_views(head, recon, rig.faces, rig.corr, V, yaws=yaws, index=i)]
    if image is not None:
        if camera is None:
            raise InputError("bake_texture: the body photo needs its camera")
        views.append(bake.BakeView(image.detach().float().cpu(), camera, avatar.vertices[index].detach().float().cpu(),
                                   mask=None if mask is None else mask.detach().float().cpu(), priority=0.0,
                                   erode=erode, name="body_photo"))
    if not views:
        raise InputError("bake_texture: nothing to bake from; pass a body photo and camera and/or recon=")
    key = ("mirror", V)
    if key not in rig.cache:
        rig.cache[key] = bake.mirror_vertices(rig.v_template.detach().cpu().float(), tolerance=None)
    uv_key = ("uv_raster", int(size))
    uvr = rig.cache.get(uv_key)
    if uvr is None:  # the layout is the model's: rasterise it once per size (kept up to 1024^2, ~22 MB)
        uvr = bake.rasterize_uv(rig.uvs.cpu().float(), rig.uv_faces.cpu(), size)
        if size <= 1024:
            rig.cache[uv_key] = uvr
    return bake.bake_texture(faces, uvr, views, parts=avatar.parts[index].cpu(), mirror=rig.cache[key],
                             part_fallback={PART_BODY: PART_FACE, PART_NECK: PART_FACE})
