"""Texture baking: photos projected onto a mesh's UV layout, with seam-aware dilation and fills.

Pure functions on tensors (vertices, faces, UVs, cameras); nothing here knows about avatars or files.

>>> uvr = rasterize_uv(uvs, uv_faces, 1024)                                   # doctest: +SKIP
>>> view = BakeView(image, WeakPerspectiveCamera(cam), vertices)              # doctest: +SKIP
>>> tex = bake_texture(faces, uvr, [view], parts=parts, mirror=mirror)        # doctest: +SKIP
>>> img, mask = render_textured(vertices, faces, uvs, uv_faces, tex.image, view.camera, (512, 512))

Conventions
-----------
* UVs are in ``[0, 1]`` with ``v`` up (OBJ's ``vt`` and SMPL-X's ``vt``). A texture is an image
  ``(1, 3, S, S)`` whose row 0 is ``v = 1`` (the top of the image), which is how OBJ/MTL and glTF
  viewers sample it (glTF's ``TEXCOORD_0`` is ``(u, 1 - v)``).
* A texel ``(row i, column j)`` of an ``S x S`` texture has its centre at ``u = (j + 0.5) / S``,
  ``v = 1 - (i + 0.5) / S``.
* Cameras map world points to image NDC (x right, y down, both in [-1, 1]; z a positive depth,
  smaller is closer), the convention of :mod:`rome_smplx.render.raster`, and give the direction
  from a point towards the camera (for the viewing-angle test).

Steps of :func:`bake_texture`, per texel (the UV rasterisation gives each texel a face and
barycentric coordinates; a band of ``band`` texels around every chart gets the nearest face with
extrapolated coordinates, so the colours continue across chart borders):

1. **Seen**: the texel's surface point is projected into every view; it is visible when it is not
   behind the view's z-buffer (the nearest depth in a 3 x 3 pixel neighbourhood, plus a tolerance),
   inside the view's matte and seen at an angle whose cosine is at least ``min_cos``. The best view
   (highest ``priority``, then the most frontal) gives the colour (bilinear).
2. **Mirrored**: for the rest, the left/right mirror point (``mirror``: the vertex map of the mesh's
   symmetry, see :func:`mirror_vertices`) is tried the same way.
3. **Extended**: unseen texels within ``spread`` texels of a seen one take the nearest seen colour
   (grazing angles and silhouettes continue the visible colour instead of jumping to the fill).
4. **Part fill**: the remaining texels inside charts take the median seen colour of their part.
5. **Dilation**: every other texel (gutters) copies the nearest filled texel, so bilinear filtering
   and mip-maps never pull in colours from another chart.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rome_smplx.checks import check_shape
from rome_smplx.errors import InputError
from rome_smplx.render.cameras import PerspectiveCamera, deca_project, pixie_project, rotate_about_joint
from rome_smplx.render.raster import rasterize

logger = logging.getLogger(__name__)

__all__ = [
    "SOURCE_DILATED",
    "SOURCE_EMPTY",
    "SOURCE_EXTENDED",
    "SOURCE_MIRRORED",
    "SOURCE_PART_FILL",
    "SOURCE_SEEN",
    "BakeCamera",
    "BakeView",
    "BakedTexture",
    "PerspectiveBakeCamera",
    "SimilarityCamera",
    "UVRaster",
    "WeakPerspectiveCamera",
    "as_bake_camera",
    "bake_texture",
    "mirror_vertices",
    "rasterize_uv",
    "render_textured",
    "sample_texture",
]

#: Codes of :attr:`BakedTexture.source`: where each texel's colour came from.
SOURCE_EMPTY, SOURCE_SEEN, SOURCE_MIRRORED, SOURCE_PART_FILL, SOURCE_DILATED, SOURCE_EXTENDED = 0, 1, 2, 3, 4, 5
#: Depth offset that makes weak-perspective depths positive for the rasteriser (as ROME does).
ORTHO_DEPTH_SHIFT = 10.0


# ------------------------------------------------------------------------------------------- cameras
@runtime_checkable
class BakeCamera(Protocol):
    """What baking needs from a camera."""

    def project(self, points: Tensor, image_size: Sequence[int]) -> Tensor:
        """``(B, N, 3)`` world points -> ``(B, N, 3)`` image NDC with a positive depth (smaller = closer)."""
        ...

    def toward_camera(self, points: Tensor) -> Tensor:
        """``(B, N, 3)`` unit directions from the points towards the camera (world frame)."""
        ...


@dataclass
class PerspectiveBakeCamera:
    """A :class:`~rome_smplx.render.cameras.PerspectiveCamera` for baking."""

    camera: PerspectiveCamera

    def project(self, points: Tensor, image_size: Sequence[int]) -> Tensor:
        return self.camera.project(points, image_size)

    def toward_camera(self, points: Tensor) -> Tensor:
        R, T = self.camera.R.to(points), self.camera.T.to(points)
        centre = -torch.einsum("bji,bj->bi", R, T)  # -R^T T
        d = centre[:, None, :] - points
        return d / d.norm(dim=-1, keepdim=True).clamp_min(1e-12)


@dataclass
class WeakPerspectiveCamera:
    """A weak-perspective camera ``cam = [s, tx, ty]`` (DECA's y-up convention, or PIXIE's y-down).

    With ``global_rot`` (and ``root_joint``) the points are first rotated about the root joint, which
    is ROME's head camera (:func:`~rome_smplx.render.cameras.rome_project`). Depths are shifted by
    :data:`ORTHO_DEPTH_SHIFT` so the rasteriser sees positive values.

    Attributes:
        cam: ``(1, 3)`` ``[s, tx, ty]``.
        frame: ``"y_up"`` (DECA/FLAME/SMPL-X: the subject faces +z) or ``"y_down"`` (PIXIE).
        global_rot: optional ``(1, 3, 3)`` rotation applied about ``root_joint`` ``(1, 3)``.
    """

    cam: Tensor
    frame: str = "y_up"
    global_rot: Optional[Tensor] = None
    root_joint: Optional[Tensor] = None

    def __post_init__(self) -> None:
        if not isinstance(self.cam, Tensor) or self.cam.shape != (1, 3):
            raise InputError(f"WeakPerspectiveCamera.cam: expected a (1, 3) tensor [s, tx, ty], found "
                             f"{getattr(self.cam, 'shape', type(self.cam).__name__)}")
        if self.frame not in ("y_up", "y_down"):
            raise InputError(f"WeakPerspectiveCamera.frame: expected 'y_up' or 'y_down', found {self.frame!r}")
        if (self.global_rot is None) != (self.root_joint is None):
            raise InputError("WeakPerspectiveCamera: pass global_rot and root_joint together, or neither")

    def _rotate(self, points: Tensor) -> Tensor:
        if self.global_rot is None:
            return points
        return rotate_about_joint(points, self.root_joint.to(points), self.global_rot.to(points))

    def project(self, points: Tensor, image_size: Sequence[int]) -> Tensor:
        p = self._rotate(points)
        cam = self.cam.to(points)
        ndc = deca_project(p, cam) if self.frame == "y_up" else pixie_project(p, cam)
        return ndc + ndc.new_tensor([0.0, 0.0, ORTHO_DEPTH_SHIFT])

    def toward_camera(self, points: Tensor) -> Tensor:
        # y-up: depth -s z, the viewer is at +z; y-down (PIXIE): depth +s z, the viewer is at -z
        d = points.new_tensor([0.0, 0.0, 1.0 if self.frame == "y_up" else -1.0])
        if self.global_rot is not None:  # rotated points R p are seen along d: p is seen along R^T d
            d = self.global_rot.to(points)[0].T @ d
        return d.expand_as(points)


@dataclass
class SimilarityCamera:
    """``camera`` looking at ``(p - t) R / s``: the inverse of ``p = s R q + t`` (e.g. a body-frame
    mesh seen by a camera of the FLAME frame it was aligned from).

    Attributes:
        camera: the camera of the ``q`` frame.
        scale: float; rotation: ``(3, 3)``; translation: ``(3,)``.
    """

    camera: BakeCamera
    scale: float
    rotation: Tensor
    translation: Tensor

    def _inverse(self, points: Tensor) -> Tensor:
        R, t = self.rotation.to(points), self.translation.to(points)
        return (points - t) @ R / float(self.scale)

    def project(self, points: Tensor, image_size: Sequence[int]) -> Tensor:
        return self.camera.project(self._inverse(points), image_size)

    def toward_camera(self, points: Tensor) -> Tensor:
        d = self.camera.toward_camera(self._inverse(points))
        return d @ self.rotation.to(points).T


def as_bake_camera(camera) -> BakeCamera:
    """A :class:`BakeCamera` from a bake camera, a :class:`PerspectiveCamera`, or a ``(1, 3)``
    weak-perspective ``[s, tx, ty]`` tensor in the y-up frame."""
    if isinstance(camera, PerspectiveCamera):
        return PerspectiveBakeCamera(camera)
    if isinstance(camera, Tensor):
        return WeakPerspectiveCamera(camera.reshape(1, 3) if camera.numel() == 3 else camera)
    if isinstance(camera, BakeCamera):
        return camera
    raise InputError(
        f"camera: expected a PerspectiveCamera, a (1, 3) [s, tx, ty] tensor or an object with project() and "
        f"toward_camera(), found {type(camera).__name__}")


# ------------------------------------------------------------------------------------------ symmetry
def mirror_vertices(vertices: Tensor, tolerance: float | None = None, axis: int = 0) -> Tensor:
    """Left/right vertex map of a mesh that is symmetric about the plane ``x[axis] = 0``.

    Args:
        vertices: ``(V, 3)`` rest-pose vertices (e.g. a SMPL-X template, symmetric about x = 0).
        tolerance: largest distance between a reflected vertex and its partner (default: 1% of the
            mesh's extent).
        axis: the coordinate that changes sign.

    Returns:
        ``(V,)`` int64: the partner of each vertex, ``-1`` where none lies within ``tolerance``.
    """
    from scipy.spatial import cKDTree

    if not isinstance(vertices, Tensor) or vertices.dim() != 2 or vertices.shape[1] != 3:
        raise InputError(f"vertices: expected (V, 3), found {getattr(vertices, 'shape', None)}")
    v = vertices.detach().cpu().double().numpy()
    if tolerance is None:
        tolerance = 0.01 * float(np.ptp(v, axis=0).max())
    refl = v.copy()
    refl[:, axis] = -refl[:, axis]
    dist, idx = cKDTree(v).query(refl)
    out = np.where(dist <= tolerance, idx, -1)
    return torch.from_numpy(out.astype(np.int64)).to(vertices.device)


# ------------------------------------------------------------------------------------- UV raster
@dataclass
class UVRaster:
    """Which surface point each texel shows.

    Attributes:
        face: ``(S, S)`` int64 face under each texel, ``-1`` outside every chart and band.
        bary: ``(S, S, 3)`` barycentric coordinates in that face (extrapolated in the band).
        inside: ``(S, S)`` bool: the texel centre lies inside its face (not in the band).
        uvs, uv_faces: the layout rasterised (``(U, 2)``, ``(F, 3)``).
    """

    face: Tensor
    bary: Tensor
    inside: Tensor
    uvs: Tensor
    uv_faces: Tensor

    @property
    def size(self) -> int:
        return int(self.face.shape[0])


#: Texels whose surface points are sampled in the views at once (bounds the baking's per-texel temporaries).
BAKE_CHUNK = 1 << 17
#: Texel rows :func:`rasterize_uv` rasterises per pass (bounds its memory; the result does not depend on it).
UV_RASTER_ROWS = 64


def _uv_ndc(uvs: Tensor) -> Tensor:
    """``(U, 2)`` UVs (v up) -> ``(1, U, 3)`` NDC of the texture image (row 0 = v = 1) at depth 1."""
    xy = torch.stack([2.0 * uvs[:, 0] - 1.0, 1.0 - 2.0 * uvs[:, 1]], dim=-1)
    return torch.cat([xy, torch.ones_like(xy[:, :1])], dim=-1)[None]


def _uv_layout(uvs: Tensor, uv_faces: Tensor, num_faces: int | None = None) -> None:
    """``uvs (U, 2)`` float in range, ``uv_faces (F, 3)`` indexing them, one per face when ``num_faces`` is given."""
    check_shape(uvs, "U,2", "uvs", dtype="float")
    check_shape(uv_faces, "F,3", "uv_faces (one UV triangle per face)", dims={} if num_faces is None else {"F": num_faces})
    if uv_faces.numel() and (int(uv_faces.min()) < 0 or int(uv_faces.max()) >= uvs.shape[0]):
        raise InputError(f"uv_faces: indices must lie in [0, {uvs.shape[0]})")
    if not bool(torch.isfinite(uvs).all()):
        raise InputError("uvs: contains NaN or inf")


def rasterize_uv(uvs: Tensor, uv_faces: Tensor, size: int = 1024, *, band: int = 2) -> UVRaster:
    """Rasterise a UV layout into an ``size x size`` texel grid.

    The grid is rasterised :data:`UV_RASTER_ROWS` texel rows at a time, each pass with only the faces
    that reach its rows (in their index order), so the rasteriser's candidate lists shrink with the
    band (a 1024 x 1024 layout in one pass took ~0.5 GB) while every texel gets what a whole-grid pass
    gives it.

    Args:
        uvs: ``(U, 2)`` in [0, 1], v up.
        uv_faces: ``(F, 3)`` int64 into ``uvs``.
        size: texture side in texels.
        band: texels around every chart that get the nearest face with extrapolated barycentric
            coordinates (0: none).

    Returns:
        :class:`UVRaster`.
    """
    if int(size) != size or size < 8:
        raise InputError(f"size: expected an integer >= 8, found {size!r}")
    size = int(size)
    _uv_layout(uvs, uv_faces)
    uvs = uvs.detach().float().cpu()
    uv_faces = uv_faces.detach().long().cpu()
    ndc = _uv_ndc(uvs)
    radius = (2.0 * band / size) ** 2 if band > 0 else 0.0  # squared, in NDC units (2 / size per texel)
    # texel rows each face can reach: its pixel-space extent grown by the band and one texel of slack
    rows_px = ((ndc[0, :, 1] + 1.0) * (size * 0.5) - 0.5)[uv_faces]
    grow = math.sqrt(radius) * size * 0.5 + 1.0
    lo, hi = rows_px.amin(1) - grow, rows_px.amax(1) + grow
    face = torch.full((size, size), -1, dtype=torch.int64)
    bary = torch.full((size, size, 3), -1.0, dtype=ndc.dtype)
    inside = torch.zeros((size, size), dtype=torch.bool)
    for r0 in range(0, size, UV_RASTER_ROWS):
        r1 = min(size, r0 + UV_RASTER_ROWS)
        sel = torch.nonzero((hi >= r0) & (lo <= r1 - 1)).flatten()
        if sel.numel() == 0:
            continue
        sub = uv_faces[sel]
        def glob(f: Tensor, sel: Tensor = sel) -> Tensor:  # subset face index -> layout face index
            return torch.where(f >= 0, sel[f.clamp(min=0)], f)

        hard = rasterize(ndc, sub, (size, size), backend="torch")
        f_in = glob(hard.pix_to_face[0, r0:r1, :, 0])
        face[r0:r1] = f_in
        inside[r0:r1] = f_in >= 0
        bary[r0:r1] = hard.bary_coords[0, r0:r1, :, 0]
        del hard
        if band > 0:
            soft = rasterize(ndc, sub, (size, size), faces_per_pixel=4, blur_radius=radius, backend="torch")
            p2f = soft.pix_to_face[0, r0:r1]
            d = torch.where(p2f >= 0, soft.dists[0, r0:r1], torch.full_like(soft.dists[0, r0:r1], math.inf))
            k = d.argmin(-1, keepdim=True)
            near_face = glob(p2f.gather(-1, k)[..., 0])
            near_bary = soft.bary_coords[0, r0:r1].gather(-2, k[..., None].expand(-1, -1, 1, 3))[:, :, 0]
            del soft
            ring = (f_in < 0) & (near_face >= 0)
            face[r0:r1][ring] = near_face[ring]
            bary[r0:r1][ring] = near_bary[ring]
    return UVRaster(face=face, bary=bary, inside=inside, uvs=uvs, uv_faces=uv_faces)


# --------------------------------------------------------------------------------------------- views
@dataclass
class BakeView:
    """One photo to project.

    Attributes:
        image: ``(1, 3, H, W)`` RGB in [0, 1].
        camera: a :class:`BakeCamera` (or anything :func:`as_bake_camera` accepts).
        vertices: ``(V, 3)`` the mesh as the photo shows it (pose, expression), in the camera's world.
        mask: optional ``(1, 1, H, W)`` matte of the subject (texels must fall where it is > 0.5).
        faces: optional ``(F,)`` bool: faces that may take colour from this view (e.g. head and hair
            for a head photo); every face still occludes.
        priority: a texel seen by several views takes the highest priority, then the most frontal.
        min_cos: smallest cosine between a face normal and the direction to the camera.
        erode: pixels taken off the matte's border (a photo's edge pixels mix subject and background;
            0 for renders without anti-aliasing).
        occluders: optional ``(F,)`` bool: the faces that write the view's z-buffer (default all; a
            head photo's view leaves out the body, which the photo does not show).
        occluder_triangles: optional ``(K, 3)`` more triangles (vertex ids of ``vertices``) that only
            occlude: surfaces the photo shows that the mesh lacks (ROME's mouth-closing faces).
        name: for logs and statistics.
    """

    image: Tensor
    camera: BakeCamera
    vertices: Tensor
    mask: Optional[Tensor] = None
    faces: Optional[Tensor] = None
    priority: float = 0.0
    min_cos: float = 0.05
    erode: int = 1
    occluders: Optional[Tensor] = None
    occluder_triangles: Optional[Tensor] = None
    name: str = "view"

    def __post_init__(self) -> None:
        self.camera = as_bake_camera(self.camera)
        if not isinstance(self.image, Tensor) or self.image.dim() != 4 or self.image.shape[:2] != (1, 3):
            raise InputError(f"BakeView.image: expected (1, 3, H, W), found {getattr(self.image, 'shape', None)}")
        if self.mask is not None and (self.mask.dim() != 4 or self.mask.shape[0] != 1 or self.mask.shape[1] != 1
                                      or self.mask.shape[2:] != self.image.shape[2:]):
            raise InputError(f"BakeView.mask: expected (1, 1, {self.image.shape[2]}, {self.image.shape[3]}), "
                             f"found {tuple(self.mask.shape)}")
        if not isinstance(self.vertices, Tensor) or self.vertices.dim() != 2 or self.vertices.shape[1] != 3:
            raise InputError(f"BakeView.vertices: expected (V, 3), found {getattr(self.vertices, 'shape', None)}")
        for name in ("faces", "occluders"):
            t = getattr(self, name)
            if t is not None and (not isinstance(t, Tensor) or t.dim() != 1 or t.dtype != torch.bool):
                raise InputError(f"BakeView.{name}: expected a (F,) bool tensor, found {getattr(t, 'shape', t)}")


@dataclass
class BakedTexture:
    """A baked texture and where its texels came from.

    Attributes:
        image: ``(1, 3, S, S)`` RGB in [0, 1]; row 0 is ``v = 1``.
        source: ``(S, S)`` uint8 codes ``SOURCE_*``.
        uvs: ``(U, 2)``; uv_faces: ``(F, 3)``: the layout the texture belongs to.
        stats: fraction of chart texels per source, per view.
    """

    image: Tensor
    source: Tensor
    uvs: Tensor
    uv_faces: Tensor
    stats: dict

    def to_uint8(self) -> np.ndarray:
        """``(S, S, 3)`` uint8 (for image files)."""
        return (self.image[0].permute(1, 2, 0).clamp(0, 1).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)


def _face_normals(v: Tensor, faces: Tensor) -> Tensor:
    a, b, c = v[faces[:, 0]], v[faces[:, 1]], v[faces[:, 2]]
    n = torch.cross(b - a, c - a, dim=-1)
    return n / n.norm(dim=-1, keepdim=True).clamp_min(1e-12)


class _ViewState:
    """Per-view z-buffer, matte and sampling, computed once."""

    def __init__(self, view: BakeView, faces: Tensor, depth_tolerance: float) -> None:
        self.view = view
        H, W = int(view.image.shape[2]), int(view.image.shape[3])
        self.size = (H, W)
        v = view.vertices.detach().float()
        self.vertices = v
        ndc = view.camera.project(v[None], (H, W))
        occ = torch.arange(faces.shape[0]) if view.occluders is None else torch.nonzero(view.occluders.cpu()).flatten()
        tris = faces[occ]
        if view.occluder_triangles is not None:
            tris = torch.cat([tris, view.occluder_triangles.cpu().long()])
        frags = rasterize(ndc, tris, (H, W), backend="auto")
        self.faces = faces
        p2f = frags.pix_to_face[0, :, :, 0]
        # pixels showing an extra occluder keep face -1 (no mesh face) but their depth
        own = (p2f >= 0) & (p2f < len(occ))
        self.p2f = torch.where(own, occ[p2f.clamp(0, max(len(occ) - 1, 0))], torch.full_like(p2f, -1))
        self.zbuf = torch.where(p2f >= 0, frags.zbuf[0, :, :, 0], torch.full_like(frags.zbuf[0, :, :, 0], math.inf))
        zs = ndc[0, :, 2]
        self.tol = depth_tolerance * float(zs.max() - zs.min())
        m = (view.mask if view.mask is not None else frags.mask[:, None].float()) > 0.5
        if view.erode > 0:  # edge pixels of a photo mix the subject with the background
            k = 2 * int(view.erode) + 1
            m = -F.max_pool2d(-m.float(), k, stride=1, padding=int(view.erode)) > 0.5
        self.matte = m[0, 0]
        self.normals = _face_normals(v, faces)

    def sample(self, points: Tensor, tri: Tensor, normals: Tensor, face: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Colour ``(M, 3)``, visibility ``(M,)`` and cosine ``(M,)`` of surface points ``(M, 3)`` on the
        triangles ``tri`` ``(M, 3)`` (vertex ids) with unit normals ``(M, 3)``; ``face`` ``(M,)`` are the
        texels' own faces (for the view's face restriction).

        Visible: in the image and the matte, facing the camera, and either the pixel shows the same
        face (or one sharing a vertex with it) or the point is not behind the pixel's depth.
        """
        H, W = self.size
        ndc = self.view.camera.project(points[None], (H, W))[0]
        col = ((ndc[:, 0] + 1) * W / 2).floor().long()
        row = ((ndc[:, 1] + 1) * H / 2).floor().long()
        inb = (col >= 0) & (col < W) & (row >= 0) & (row < H)
        c, r = col.clamp(0, W - 1), row.clamp(0, H - 1)
        g = self.p2f[r, c]
        same = (g >= 0) & (tri[:, :, None] == self.faces[g.clamp_min(0)][:, None, :]).any(-1).any(-1)
        visible = inb & self.matte[r, c] & (same | (ndc[:, 2] <= self.zbuf[r, c] + self.tol))
        cos = (normals * self.view.camera.toward_camera(points[None])[0]).sum(-1)
        visible &= cos >= self.view.min_cos
        if self.view.faces is not None:
            visible &= self.view.faces.to(face.device)[face]
        grid = ndc[None, None, :, :2].to(self.view.image.dtype)
        rgb = F.grid_sample(self.view.image, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return rgb[0, :, 0].T.float(), visible, cos


def _best_of(states: list[_ViewState], faces: Tensor, face: Tensor, bary: Tensor,
             mirror: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """For surface points (one per texel: ``face``, ``bary``; their mirror images with ``mirror``) the
    best view's colour ``(M, 3)``, a found flag ``(M,)`` and the view index ``(M,)``. Texels are independent:
    at most :data:`BAKE_CHUNK` are sampled at once."""
    M = face.shape[0]
    if M > BAKE_CHUNK:
        out = [_best_of(states, faces, face[i:i + BAKE_CHUNK], bary[i:i + BAKE_CHUNK], mirror)
               for i in range(0, M, BAKE_CHUNK)]
        return tuple(torch.cat(x) for x in zip(*out))  # type: ignore[return-value]
    best_score = torch.full((M,), -math.inf)
    colour = torch.zeros(M, 3)
    which = torch.full((M,), -1, dtype=torch.long)
    for k, st in enumerate(states):
        tri = faces[face] if mirror is None else mirror[faces[face]]
        pts = (st.vertices[tri] * bary[:, :, None]).sum(1)
        # the mirror image of a face is wound the other way round
        normals = st.normals[face] if mirror is None else -_face_normals(st.vertices, tri)
        rgb, vis, cos = st.sample(pts, tri, normals, face)
        score = torch.where(vis, st.view.priority * 10.0 + cos, torch.full_like(cos, -math.inf))
        better = score > best_score
        colour[better] = rgb[better]
        best_score[better] = score[better]
        which[better] = k
    return colour, which >= 0, which


def bake_texture(
    faces: Tensor,
    uv_raster: UVRaster,
    views: Sequence[BakeView],
    *,
    parts: Tensor | None = None,
    mirror: Tensor | None = None,
    depth_tolerance: float = 0.005,
    spread: float = 6.0,
    part_fallback: Optional[dict] = None,
    default_color: Sequence[float] = (0.5, 0.5, 0.5),
) -> BakedTexture:
    """Bake photos into a texture (see the module docstring for the steps).

    Args:
        faces: ``(F, 3)`` int64 mesh faces (``uv_raster.uv_faces`` has one row per face).
        uv_raster: from :func:`rasterize_uv`.
        views: photos with their cameras and the mesh as each saw it.
        parts: optional ``(V,)`` int64 part label per vertex (the fill uses each part's median seen
            colour; default: one part).
        mirror: optional ``(V,)`` int64 left/right vertex map (``-1`` where none), see
            :func:`mirror_vertices`.
        depth_tolerance: z-buffer tolerance as a fraction of the mesh's depth extent in each view.
        spread: unseen texels at most this many texels from a seen (or mirrored) one take the nearest
            one's colour before the part fill (keep it below the atlas's gutter between charts).
        part_fallback: ``{part: other_part}``: a part with (almost) no seen texels takes the median of
            ``other_part`` (e.g. an unseen body takes the face's skin tone); else the median of all.
        default_color: fill colour of a part when no texel of the whole mesh was seen.

    Returns:
        :class:`BakedTexture`.
    """
    if not isinstance(faces, Tensor) or faces.dim() != 2 or faces.shape[1] != 3:
        raise InputError(f"faces: expected (F, 3), found {getattr(faces, 'shape', None)}")
    faces = faces.detach().long().cpu()
    if uv_raster.uv_faces.shape[0] != faces.shape[0]:
        raise InputError(f"uv_raster: has {uv_raster.uv_faces.shape[0]} UV faces for a mesh of {faces.shape[0]} faces")
    if not views:
        raise InputError("bake_texture: no views to bake from")
    V = int(views[0].vertices.shape[0])
    for vw in views:
        if vw.vertices.shape[0] != V:
            raise InputError(f"BakeView {vw.name!r}: has {vw.vertices.shape[0]} vertices, expected {V}")
    if int(faces.max()) >= V:
        raise InputError(f"faces: index vertex {int(faces.max())} of a {V}-vertex mesh")
    if parts is not None and (parts.dim() != 1 or parts.shape[0] != V):
        raise InputError(f"parts: expected ({V},), found {tuple(parts.shape)}")
    if mirror is not None:
        if mirror.dim() != 1 or mirror.shape[0] != V:
            raise InputError(f"mirror: expected ({V},), found {tuple(mirror.shape)}")
        mirror = mirror.detach().long().cpu()
    from scipy.ndimage import distance_transform_edt

    S = uv_raster.size
    states = [_ViewState(vw, faces, depth_tolerance) for vw in views]

    covered = uv_raster.face >= 0
    rows, cols = covered.nonzero(as_tuple=True)
    face = uv_raster.face[rows, cols]
    bary = uv_raster.bary[rows, cols].float()
    M = face.shape[0]
    colour = torch.zeros(M, 3)
    source = torch.zeros(M, dtype=torch.uint8)

    seen_rgb, seen, which = _best_of(states, faces, face, bary)
    colour[seen] = seen_rgb[seen]
    source[seen] = SOURCE_SEEN
    stats: dict = {"texels": int(uv_raster.inside.sum()), "views": {}}
    for k, vw in enumerate(views):
        stats["views"][vw.name] = round(float((which[seen] == k).sum()) / max(M, 1), 4)

    if mirror is not None:
        todo = ~seen & (mirror[faces[face]] >= 0).all(-1)
        if todo.any():
            f_t, b_t = face[todo], bary[todo]
            rgb_m, found, _ = _best_of(states, faces, f_t, b_t, mirror)
            idx = todo.nonzero(as_tuple=True)[0][found]
            colour[idx] = rgb_m[found]
            source[idx] = SOURCE_MIRRORED

    image = torch.zeros(S, S, 3)
    src = torch.zeros(S, S, dtype=torch.uint8)
    image[rows, cols] = colour
    src[rows, cols] = source
    if spread > 0:  # unseen texels next to seen ones continue their colour (grazing angles, silhouettes)
        has = (src != SOURCE_EMPTY).numpy()
        if has.any():
            dist, (ri, ci) = distance_transform_edt(~has, return_indices=True)
            near = torch.from_numpy((dist <= spread) & ~has) & covered
            ri, ci = torch.from_numpy(ri)[near], torch.from_numpy(ci)[near]
            image[near] = image[ri, ci]
            src[near] = SOURCE_EXTENDED
            colour, source = image[rows, cols], src[rows, cols]

    filled = source > 0
    part_of_face = torch.zeros(faces.shape[0], dtype=torch.long) if parts is None else parts.cpu().long()[faces[:, 0]]
    tp = part_of_face[face]
    base = torch.as_tensor(default_color, dtype=torch.float32)
    global_median = colour[filled].median(0).values if filled.any() else base
    medians = {}
    for p in torch.unique(tp).tolist():
        ref = (tp == p) & filled
        if int(ref.sum()) >= 16:
            medians[p] = colour[ref].median(0).values
    for p in torch.unique(tp).tolist():
        sel = (tp == p) & ~filled
        if not sel.any():
            continue
        alt = (part_fallback or {}).get(p)
        med = medians.get(p, medians.get(alt, global_median))
        colour[sel] = med
        source[sel] = SOURCE_PART_FILL

    image[rows, cols] = colour
    src[rows, cols] = source
    # dilation: every texel without a colour copies the nearest texel with one (chart-local near borders)
    empty = (src == SOURCE_EMPTY).numpy()
    if empty.any() and (~empty).any():
        _, (ri, ci) = distance_transform_edt(empty, return_indices=True)
        ri, ci = torch.from_numpy(ri), torch.from_numpy(ci)
        e = torch.from_numpy(empty)
        image[e] = image[ri[e], ci[e]]
        src[e] = SOURCE_DILATED
    inside = uv_raster.inside
    n_in = max(int(inside.sum()), 1)
    for name, code in (("seen", SOURCE_SEEN), ("mirrored", SOURCE_MIRRORED), ("extended", SOURCE_EXTENDED),
                       ("part_fill", SOURCE_PART_FILL)):
        stats[name] = round(float(((src == code) & inside).sum()) / n_in, 4)
    logger.info("baked a %d x %d texture: %.1f%% seen, %.1f%% mirrored, %.1f%% part fill", S, S,
                100 * stats["seen"], 100 * stats["mirrored"], 100 * stats["part_fill"])
    return BakedTexture(image=image.permute(2, 0, 1)[None].contiguous(), source=src, uvs=uv_raster.uvs,
                        uv_faces=uv_raster.uv_faces, stats=stats)


# ------------------------------------------------------------------------------------- rendering
def sample_texture(texture: Tensor, uv: Tensor) -> Tensor:
    """Bilinear texture look-up.

    Args:
        texture: ``(1, 3, S, S)`` (row 0 = v = 1).
        uv: ``(..., 2)`` UVs in [0, 1], v up.

    Returns:
        ``(..., 3)`` colours.
    """
    shape = uv.shape[:-1]
    g = torch.stack([2.0 * uv[..., 0] - 1.0, 1.0 - 2.0 * uv[..., 1]], dim=-1).reshape(1, 1, -1, 2)
    out = F.grid_sample(texture, g.to(texture.dtype), mode="bilinear", padding_mode="border", align_corners=False)
    return out[0, :, 0].T.reshape(*shape, 3)


def render_textured(
    vertices: Tensor,
    faces: Tensor,
    uvs: Tensor,
    uv_faces: Tensor,
    texture: Tensor,
    camera,
    image_size: Sequence[int],
    *,
    background: Sequence[float] = (1.0, 1.0, 1.0),
) -> tuple[Tensor, Tensor]:
    """Render a textured mesh without shading (what a texture shows from a camera).

    Args:
        vertices: ``(V, 3)``; faces: ``(F, 3)``; uvs: ``(U, 2)``; uv_faces: ``(F, 3)``.
        texture: ``(1, 3, S, S)``.
        camera: see :func:`as_bake_camera`.
        image_size: ``(H, W)``.

    Returns:
        ``(image (1, 3, H, W), mask (1, 1, H, W))``.
    """
    from rome_smplx.render.raster import interpolate

    cam = as_bake_camera(camera)
    _uv_layout(uvs, uv_faces, faces.shape[0])
    H, W = int(image_size[0]), int(image_size[1])
    v = vertices.float()
    ndc = cam.project(v[None], (H, W))
    frags = rasterize(ndc, faces.long(), (H, W), backend="auto")
    corner_uv = uvs.float()[uv_faces.long()][None]  # (1, F, 3, 2)
    uv = interpolate(frags, corner_uv)[0, :, :, 0]  # (H, W, 2)
    rgb = sample_texture(texture.float(), uv)
    mask = frags.mask[0].float()[..., None]
    bg = torch.as_tensor(background, dtype=rgb.dtype)
    out = rgb * mask + bg * (1 - mask)
    return out.permute(2, 0, 1)[None], mask.permute(2, 0, 1)[None]
