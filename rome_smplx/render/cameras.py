"""Cameras: the weak-perspective conventions of DECA, PIXIE and ROME, frame flips, and a preview camera.

Image NDC (the convention of every rasteriser in :mod:`rome_smplx.render.raster`)
---------------------------------------------------------------------------------
``x`` points right and ``y`` points down; ``x = -1`` is the left edge of the image and ``x = +1`` the
right edge, ``y = -1`` the top edge and ``y = +1`` the bottom edge, independently of the aspect ratio.
``z`` is a depth: smaller is closer to the viewer. Pixel ``(row i, column j)`` of an ``H x W`` image has
its centre at ``x = -1 + (2 j + 1) / W``, ``y = -1 + (2 i + 1) / H`` (the ``grid_sample``
``align_corners=False`` convention).

Weak-perspective cameras ``cam = [s, tx, ty]`` (all three projections scale depth by ``s`` too):

========  ===========================================================  ==============
function  formula                                                      world frame
========  ===========================================================  ==============
DECA      ``(s (x + tx), -s (y + ty), -s z)``                          y up, faces +z
PIXIE     ``(s (x + tx),  s (y + ty),  s z)``                          y down
ROME      DECA applied to ``R (v - j) + j`` (global rotation about     y up
          the root joint ``j`` inside the projection)
========  ===========================================================  ==============

The y-up (FLAME/DECA) and y-down (PIXIE) frames differ by a 180 degree rotation about x,
``D = diag(1, -1, -1)``: points map as ``v' = D v``, global rotations as ``R' = D R`` and cameras as
``(s, tx, ty) -> (s, tx, -ty)``. With these, ``pixie_project(D v, flip(cam)) == deca_project(v, cam)``.
Each of these flips is its own inverse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from rome_smplx.checks import check_shape
from rome_smplx.errors import InputError

__all__ = [
    "PerspectiveCamera",
    "deca_project",
    "flip_frame_camera",
    "flip_frame_points",
    "flip_frame_rotation",
    "ndc_to_pixels",
    "ndc_to_pytorch3d",
    "pixel_centers_ndc",
    "pixels_to_ndc",
    "pixie_project",
    "ROME_DEPTH_SHIFT",
    "rome_project",
    "rome_project_for_raster",
    "rotate_about_joint",
]


# ----------------------------------------------------------------------------------------- checks
def _image_hw(image_size: Sequence[int]) -> tuple[int, int]:
    try:
        H, W = (int(image_size[0]), int(image_size[1]))
    except (TypeError, IndexError, ValueError):
        raise InputError(f"image_size: expected (H, W), found {image_size!r}") from None
    if H <= 0 or W <= 0:
        raise InputError(f"image_size: expected positive (H, W), found {(H, W)}")
    return H, W


# -------------------------------------------------------------------------------- weak perspective
def _weak(v: Tensor, cam: Tensor) -> Tensor:
    s = cam[:, None, 0:1]
    t = torch.cat([cam[:, None, 1:3], torch.zeros_like(cam[:, None, :1])], dim=-1)
    return s * (v + t)


def pixie_project(v: Tensor, cam: Tensor) -> Tensor:
    """PIXIE's weak-perspective projection: ``s * (x + tx, y + ty, z)``, no flip.

    PIXIE's world frame is image-aligned (y down), so the result is image NDC directly.

    Args:
        v: (B, N, 3) points in PIXIE's y-down world frame.
        cam: (B, 3) or (1, 3) ``[s, tx, ty]``.

    Returns:
        (B, N, 3) image NDC (x right, y down) with depth ``s * z``.
    """
    dims = check_shape(v, "B,N,3", "v", dtype="float")
    check_shape(cam, "1|B,3", "cam", dims=dims)
    return _weak(v, cam)


def deca_project(v: Tensor, cam: Tensor) -> Tensor:
    """DECA's weak-perspective projection: ``s * (x + tx, y + ty, z)``, then y and z negated.

    Args:
        v: (B, N, 3) points in the FLAME/DECA world frame (y up, the face looks along +z).
        cam: (B, 3) or (1, 3) ``[s, tx, ty]``.

    Returns:
        (B, N, 3) image NDC (x right, y down); depth ``-s * z`` (the face side is closer).
    """
    dims = check_shape(v, "B,N,3", "v", dtype="float")
    check_shape(cam, "1|B,3", "cam", dims=dims)
    return _weak(v, cam) * v.new_tensor([1.0, -1.0, -1.0])


def rotate_about_joint(v: Tensor, root_joint: Tensor, global_rot: Tensor) -> Tensor:
    """Rotate points about a joint: ``R (v - j) + j``.

    Args:
        v: (B, N, 3) points.
        root_joint: (B, 3) rotation centre.
        global_rot: (B, 3, 3) rotation matrices.

    Returns:
        (B, N, 3) rotated points.
    """
    dims = check_shape(v, "B,N,3", "v", dtype="float")
    check_shape(root_joint, "1|B,3", "root_joint", dims=dims)
    check_shape(global_rot, "1|B,3,3", "global_rot", dims=dims)
    j = root_joint[:, None, :]
    return torch.matmul(v - j, global_rot.transpose(-1, -2)) + j


def rome_project(v: Tensor, cam: Tensor, root_joint: Tensor, global_rot: Tensor) -> Tensor:
    """ROME's projection: the global rotation about the root joint, then DECA's projection.

    ``v_ndc = s * (R (v - j) + j + [tx, ty, 0])`` with y and z negated afterwards. ROME evaluates FLAME
    with an identity global rotation and applies the rotation here.

    Args:
        v: (B, N, 3) FLAME-frame points (y up) posed without global rotation.
        cam: (B, 3) ``[s, tx, ty]``.
        root_joint: (B, 3) FLAME root joint.
        global_rot: (B, 3, 3) global rotation matrices.

    Returns:
        (B, N, 3) image NDC (x right, y down) with depth ``-s * z``.
    """
    return deca_project(rotate_about_joint(v, root_joint, global_rot), cam)


#: ROME shifts orthographic depths by +10 before rasterising, so they are positive.
ROME_DEPTH_SHIFT = 10.0


def rome_project_for_raster(v: Tensor, cam: Tensor, root_joint: Tensor, global_rot: Tensor) -> Tensor:
    """:func:`rome_project` with the depth shifted by :data:`ROME_DEPTH_SHIFT`: the NDC the
    rasteriser receives (x right, y down, positive depth ``10 - s * z``). Same arguments."""
    ndc = rome_project(v, cam, root_joint, global_rot)
    return torch.cat([ndc[..., :2], ndc[..., 2:] + ROME_DEPTH_SHIFT], dim=-1)


# ----------------------------------------------------------------------------------- frame flips
def flip_frame_points(v: Tensor) -> Tensor:
    """Convert points between the y-up (FLAME/DECA) and y-down (PIXIE) frames: ``(x, y, z) -> (x, -y, -z)``.

    Args:
        v: (..., 3) points.

    Returns:
        (..., 3) points in the other frame (the map is its own inverse).
    """
    check_shape(v, "...,3", "v")
    return v * v.new_tensor([1.0, -1.0, -1.0])


def flip_frame_camera(cam: Tensor) -> Tensor:
    """Convert a weak-perspective camera between the y-up and y-down frames: ``(s, tx, ty) -> (s, tx, -ty)``.

    Args:
        cam: (..., 3) ``[s, tx, ty]``.

    Returns:
        (..., 3) camera of the other frame (its own inverse).
    """
    check_shape(cam, "...,3", "cam")
    return cam * cam.new_tensor([1.0, 1.0, -1.0])


def flip_frame_rotation(R: Tensor) -> Tensor:
    """Convert a global rotation between the y-up and y-down frames: ``R -> diag(1, -1, -1) R``.

    A body whose world vertices are ``R v`` in one frame has world vertices ``D R v`` in the other.

    Args:
        R: (..., 3, 3) rotation matrices.

    Returns:
        (..., 3, 3) rotations of the other frame (its own inverse).
    """
    check_shape(R, "...,3,3", "R")
    return R * R.new_tensor([1.0, -1.0, -1.0])[:, None]


# ------------------------------------------------------------------------------------ pixel maps
def ndc_to_pixels(xy: Tensor, H: int, W: int) -> Tensor:
    """Image NDC to continuous pixel coordinates: ``u = (x + 1) W / 2``, ``v = (y + 1) H / 2``.

    Pixel ``(row i, column j)`` covers ``[j, j + 1) x [i, i + 1)`` and its centre is ``(j + 0.5, i + 0.5)``
    (DECA's ``v * S / 2 + S / 2``). Subtract 0.5 for coordinates whose pixel centres are integers.
    (pytorch3d's own NDC has +x left and +y up with pixel centres at ``i + 0.5`` of the flipped axes;
    :func:`ndc_to_pytorch3d` maps to it.)

    Args:
        xy: (..., 2) or (..., 3) image NDC; a third channel (depth) is passed through.
        H, W: image height and width in pixels.

    Returns:
        Tensor of the same shape: (u, v[, z]) in pixels.
    """
    H, W = _image_hw((H, W))
    check_shape(xy, "...,2|3", "xy")
    scale = xy.new_tensor([W / 2.0, H / 2.0])
    uv = (xy[..., :2] + 1.0) * scale
    return torch.cat([uv, xy[..., 2:]], dim=-1)


def pixels_to_ndc(uv: Tensor, H: int, W: int) -> Tensor:
    """Inverse of :func:`ndc_to_pixels`: ``x = 2 u / W - 1``, ``y = 2 v / H - 1``.

    Args:
        uv: (..., 2) or (..., 3) pixel coordinates (centres at ``j + 0.5``); a third channel is passed through.
        H, W: image height and width.

    Returns:
        Tensor of the same shape in image NDC.
    """
    H, W = _image_hw((H, W))
    check_shape(uv, "...,2|3", "uv")
    scale = uv.new_tensor([2.0 / W, 2.0 / H])
    return torch.cat([uv[..., :2] * scale - 1.0, uv[..., 2:]], dim=-1)


def pixel_centers_ndc(H: int, W: int, *, dtype: torch.dtype = torch.float32, device=None) -> Tensor:
    """NDC of every pixel centre.

    Returns:
        (H, W, 2) with ``[..., 0] = -1 + (2 j + 1) / W`` (x) and ``[..., 1] = -1 + (2 i + 1) / H`` (y).
    """
    H, W = _image_hw((H, W))
    xs = -1.0 + (2.0 * torch.arange(W, dtype=dtype, device=device) + 1.0) / W
    ys = -1.0 + (2.0 * torch.arange(H, dtype=dtype, device=device) + 1.0) / H
    return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)


def ndc_to_pytorch3d(v: Tensor, H: int, W: int) -> Tensor:
    """Map image NDC (x right, y down, both in [-1, 1]) to pytorch3d's screen NDC.

    pytorch3d has +x left and +y up, and for non-square images the shorter side spans [-1, 1] while the
    longer one spans ``[-L/S, L/S]``. Hence ``x' = -x W / min(H, W)``, ``y' = -y H / min(H, W)``, ``z' = z``.
    Distances in pytorch3d's NDC (its ``dists`` and ``blur_radius``) are therefore in units of
    ``min(H, W) / 2`` pixels.

    Args:
        v: (..., 3) image NDC points.
        H, W: image size.

    Returns:
        (..., 3) pytorch3d NDC points.
    """
    H, W = _image_hw((H, W))
    m = float(min(H, W))
    return v * v.new_tensor([-W / m, -H / m, 1.0])


# ------------------------------------------------------------------------------------ perspective
@dataclass
class PerspectiveCamera:
    """A pinhole camera for previews, in image conventions (x right, y down, looking along +z).

    Attributes:
        R: (B, 3, 3) world-to-view rotation; its rows are the camera's right, down and forward axes.
        T: (B, 3) world-to-view translation: ``v_view = R v + T``.
        fov_y: vertical field of view in degrees.
    """

    R: Tensor
    T: Tensor
    fov_y: float = 30.0

    @classmethod
    def look_at(
        cls,
        eye: Tensor,
        at: Tensor,
        up: Tensor | None = None,
        fov_y: float = 30.0,
    ) -> PerspectiveCamera:
        """Build a camera at ``eye`` looking at ``at`` with ``up`` pointing up in the image.

        Args:
            eye: (B, 3) or (3,) camera centre in world coordinates.
            at: (B, 3) or (3,) point the camera looks at.
            up: (B, 3) or (3,) world up direction (default +y, FLAME's up).
            fov_y: vertical field of view in degrees, in (0, 180).
        """
        eye = torch.as_tensor(eye, dtype=torch.get_default_dtype()) if not isinstance(eye, Tensor) else eye
        at = torch.as_tensor(at, dtype=eye.dtype, device=eye.device) if not isinstance(at, Tensor) else at
        if up is None:
            up = eye.new_tensor([0.0, 1.0, 0.0])
        elif not isinstance(up, Tensor):
            up = torch.as_tensor(up, dtype=eye.dtype, device=eye.device)
        eye, at, up = (t.reshape(-1, 3) if t.dim() == 1 else t for t in (eye, at, up))
        for name, t in (("eye", eye), ("at", at), ("up", up)):
            check_shape(t, "*,3", f"{name} ((B, 3) or (3,))")
        if not 0.0 < float(fov_y) < 180.0:
            raise InputError(f"fov_y: expected degrees in (0, 180), found {fov_y}")
        eye, at, up = torch.broadcast_tensors(eye, at, up)
        fwd = at - eye
        if bool((fwd.norm(dim=-1) < 1e-12).any()):
            raise InputError("look_at: eye and at coincide; the viewing direction is undefined")
        fwd = fwd / fwd.norm(dim=-1, keepdim=True)
        right = torch.cross(fwd, up, dim=-1)
        if bool((right.norm(dim=-1) < 1e-9).any()):
            raise InputError("look_at: up is parallel to the viewing direction; choose another up vector")
        right = right / right.norm(dim=-1, keepdim=True)
        down = torch.cross(fwd, right, dim=-1)
        R = torch.stack([right, down, fwd], dim=-2)
        T = -torch.einsum("bij,bj->bi", R, eye)
        return cls(R=R, T=T, fov_y=float(fov_y))

    def world_to_view(self, v: Tensor) -> Tensor:
        """(B, N, 3) world points -> (B, N, 3) view coordinates (x right, y down, z forward)."""
        check_shape(v, "B,N,3", "v", dtype="float")
        return torch.matmul(v, self.R.transpose(-1, -2)) + self.T[:, None, :]

    def project(self, v: Tensor, image_size: Sequence[int]) -> Tensor:
        """Project world points to image NDC.

        Args:
            v: (B, N, 3) world points.
            image_size: (H, W); the horizontal field of view follows from the aspect ratio ``W / H``.

        Returns:
            (B, N, 3): image NDC x (right), y (down) and the view depth z (distance along the
            optical axis; larger is farther), so the result can be rasterised directly.
        """
        H, W = _image_hw(image_size)
        pv = self.world_to_view(v)
        f = 1.0 / math.tan(math.radians(self.fov_y) / 2.0)
        z = pv[..., 2:3]
        xy = pv[..., :2] * pv.new_tensor([f * H / W, f]) / z
        return torch.cat([xy, z], dim=-1)

    def to(self, *args, **kwargs) -> PerspectiveCamera:
        """Move the camera's tensors like :meth:`torch.Tensor.to`."""
        return PerspectiveCamera(R=self.R.to(*args, **kwargs), T=self.T.to(*args, **kwargs), fov_y=self.fov_y)
