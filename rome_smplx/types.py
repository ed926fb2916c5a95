"""Dataclasses of tensors that cross module boundaries.

All are batched on the first dimension, device-agnostic (``.to(device)`` moves every tensor) and
store rotations as rotation matrices. Conversions from axis-angle / 6D / Euler live in
:mod:`rome_smplx.geometry.rotations`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import Tensor

from rome_smplx.errors import InputError


class _TensorDataclass:
    """Mixin: ``to``, ``detach``, ``batch_size`` and shape validation for dataclasses of tensors."""

    def _tensor_fields(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            yield f.name, v

    def to(self, *args: Any, **kwargs: Any):
        """Move every tensor (recursively, through nested dataclasses) like :meth:`torch.Tensor.to`.

        Integer tensors (faces, indices) keep their dtype when a dtype is passed.
        """
        changes = {}
        for name, v in self._tensor_fields():
            if isinstance(v, Tensor):
                if v.is_floating_point():
                    changes[name] = v.to(*args, **kwargs)
                else:
                    dev = kwargs.get("device")
                    if dev is None:
                        for a in args:
                            if isinstance(a, (str, torch.device)):
                                dev = a
                    changes[name] = v.to(device=dev) if dev is not None else v
            elif isinstance(v, _TensorDataclass):
                changes[name] = v.to(*args, **kwargs)
        return dataclasses.replace(self, **changes)

    def detach(self):
        changes = {}
        for name, v in self._tensor_fields():
            if isinstance(v, Tensor):
                changes[name] = v.detach()
            elif isinstance(v, _TensorDataclass):
                changes[name] = v.detach()
        return dataclasses.replace(self, **changes)

    def index(self, idx):
        """Select batch elements (``idx``: int, slice or index tensor) of every batched tensor."""
        b = self.batch_size
        changes = {}
        for name, v in self._tensor_fields():
            if isinstance(v, Tensor) and v.dim() > 0 and v.shape[0] == b and name not in self._unbatched:
                vv = v[idx]
                if isinstance(idx, int):
                    vv = vv.unsqueeze(0)
                changes[name] = vv
            elif isinstance(v, _TensorDataclass):
                changes[name] = v.index(idx)
        return dataclasses.replace(self, **changes)

    _unbatched: tuple = ()

    _batch_field: str = ""

    @property
    def batch_size(self) -> int:
        """Size of the first dimension of the field that defines the batch."""
        return getattr(self, self._batch_field).shape[0]

    @property
    def device(self) -> torch.device:
        for _, v in self._tensor_fields():
            if isinstance(v, Tensor):
                return v.device
        return torch.device("cpu")


def _check(name: str, t: Optional[Tensor], shape: tuple, owner: str) -> None:
    """Check ``t`` against ``shape`` (``None`` entries are free); raise :class:`InputError`."""
    if t is None:
        return
    if not isinstance(t, Tensor):
        raise InputError(f"{owner}.{name}: expected a torch.Tensor, found {type(t).__name__}")
    if t.dim() != len(shape) or any(s is not None and s != d for s, d in zip(shape, t.shape)):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise InputError(f"{owner}.{name}: expected shape {want}, found {tuple(t.shape)}")
    if t.is_floating_point() and not torch.isfinite(t).all():
        raise InputError(f"{owner}.{name}: contains NaN or inf values")


def _eye(b: int, n: Optional[int] = None, like: Optional[Tensor] = None) -> Tensor:
    kw = {} if like is None else {"dtype": like.dtype, "device": like.device}
    e = torch.eye(3, **kw)
    return e.expand(b, 3, 3).clone() if n is None else e.expand(b, n, 3, 3).clone()


@dataclass
class FlameParams(_TensorDataclass):
    """FLAME parameters (DECA/ROME convention: y up, facing +z).

    Attributes:
        shape: ``(B, S)`` identity coefficients (DECA: S = 100; FLAME allows up to 300).
        expression: ``(B, E)`` expression coefficients (DECA: E = 50; up to 100).
        global_rot: ``(B, 3, 3)`` head rotation about the root joint.
        jaw_rot: ``(B, 3, 3)``.
        neck_rot: ``(B, 3, 3)``, identity in DECA/ROME.
        eye_rots: ``(B, 2, 3, 3)`` left/right eyeball rotations, identity in DECA/ROME.
        cam: ``(B, 3)`` weak-perspective camera ``[s, tx, ty]`` in DECA's convention, or ``None``.
    """

    shape: Tensor
    expression: Tensor
    global_rot: Optional[Tensor] = None
    jaw_rot: Optional[Tensor] = None
    neck_rot: Optional[Tensor] = None
    eye_rots: Optional[Tensor] = None
    cam: Optional[Tensor] = None

    def __post_init__(self) -> None:
        _check("shape", self.shape, (None, None), "FlameParams")
        b = self.shape.shape[0]
        _check("expression", self.expression, (b, None), "FlameParams")
        if self.global_rot is None:
            self.global_rot = _eye(b, like=self.shape)
        if self.jaw_rot is None:
            self.jaw_rot = _eye(b, like=self.shape)
        if self.neck_rot is None:
            self.neck_rot = _eye(b, like=self.shape)
        if self.eye_rots is None:
            self.eye_rots = _eye(b, 2, like=self.shape)
        _check("global_rot", self.global_rot, (b, 3, 3), "FlameParams")
        _check("jaw_rot", self.jaw_rot, (b, 3, 3), "FlameParams")
        _check("neck_rot", self.neck_rot, (b, 3, 3), "FlameParams")
        _check("eye_rots", self.eye_rots, (b, 2, 3, 3), "FlameParams")
        _check("cam", self.cam, (b, 3), "FlameParams")

    _batch_field = "shape"


@dataclass
class SmplxParams(_TensorDataclass):
    """SMPL-X parameters with rotation matrices (the frame is named by ``frame``).

    Attributes:
        betas: ``(B, S)`` shape coefficients (PIXIE: S = 200).
        expression: ``(B, E)`` expression coefficients (PIXIE: E = 50).
        global_orient: ``(B, 3, 3)``.
        body_pose: ``(B, 21, 3, 3)`` parent-relative rotations of joints 1..21.
        jaw_pose, leye_pose, reye_pose: ``(B, 3, 3)``.
        left_hand_pose, right_hand_pose: ``(B, 15, 3, 3)`` full (non-PCA) finger rotations,
            flat-hand convention (``hands_mean`` not added), as PIXIE predicts them.
        transl: ``(B, 3)`` or ``None``.
        cam: ``(B, 3)`` weak-perspective camera ``[s, tx, ty]`` (PIXIE's ``body_cam``) or ``None``.
        frame: ``"y_down"`` for PIXIE's image-aligned frame (an upright body has a global rotation of
            about 180 degrees around x), ``"y_up"`` for SMPL-X/FLAME's.
    """

    betas: Tensor
    expression: Tensor
    global_orient: Optional[Tensor] = None
    body_pose: Optional[Tensor] = None
    jaw_pose: Optional[Tensor] = None
    leye_pose: Optional[Tensor] = None
    reye_pose: Optional[Tensor] = None
    left_hand_pose: Optional[Tensor] = None
    right_hand_pose: Optional[Tensor] = None
    transl: Optional[Tensor] = None
    cam: Optional[Tensor] = None
    frame: str = "y_up"

    def __post_init__(self) -> None:
        _check("betas", self.betas, (None, None), "SmplxParams")
        b = self.betas.shape[0]
        _check("expression", self.expression, (b, None), "SmplxParams")
        like = self.betas
        defaults = {
            "global_orient": _eye(b, like=like),
            "body_pose": _eye(b, 21, like=like),
            "jaw_pose": _eye(b, like=like),
            "leye_pose": _eye(b, like=like),
            "reye_pose": _eye(b, like=like),
            "left_hand_pose": _eye(b, 15, like=like),
            "right_hand_pose": _eye(b, 15, like=like),
        }
        for k, v in defaults.items():
            if getattr(self, k) is None:
                setattr(self, k, v)
        for k in ("global_orient", "jaw_pose", "leye_pose", "reye_pose"):
            _check(k, getattr(self, k), (b, 3, 3), "SmplxParams")
        _check("body_pose", self.body_pose, (b, 21, 3, 3), "SmplxParams")
        _check("left_hand_pose", self.left_hand_pose, (b, 15, 3, 3), "SmplxParams")
        _check("right_hand_pose", self.right_hand_pose, (b, 15, 3, 3), "SmplxParams")
        _check("transl", self.transl, (b, 3), "SmplxParams")
        _check("cam", self.cam, (b, 3), "SmplxParams")
        if self.frame not in ("y_up", "y_down"):
            raise InputError(f"SmplxParams.frame: expected 'y_up' or 'y_down', found {self.frame!r}")

    _batch_field = "betas"


@dataclass
class HeadReconstruction(_TensorDataclass):
    """What one-shot reconstruction extracts from a source image (cached for driving).

    Attributes:
        texture: ``(B, C, Ht, Wt)`` neural texture T in UV space (C = 8 for ROME).
        offsets: ``(B, N, 3)`` per-vertex offsets of the source mesh (hair, neck, shoulders).
        vertices: ``(B, N, 3)`` deformed source vertices (FLAME frame, no global rotation).
        faces: ``(F, 3)`` int64 mesh faces (FLAME faces plus mouth-closing triangles).
        uv_faces: ``(F, 3)`` int64 faces into ``uvs``.
        uvs: ``(U, 2)`` UV coordinates in ``[-1, 1]`` (ROME's convention 2u-1, -(2v-1)).
        flame: the source :class:`FlameParams`.
        latent: ``(B, Cz, H, W)`` latent geometry map Z (``None`` for the linear variant).
        hair_coeffs: ``(B, K)`` basis coefficients (linear variant), else ``None``.
        source_image: ``(B, 3, H, W)`` aligned source image, or ``None``.
        source_mask: ``(B, 1, H, W)`` its matte, or ``None``.
    """

    texture: Tensor
    offsets: Tensor
    vertices: Tensor
    faces: Tensor
    uv_faces: Tensor
    uvs: Tensor
    flame: FlameParams
    latent: Optional[Tensor] = None
    hair_coeffs: Optional[Tensor] = None
    source_image: Optional[Tensor] = None
    source_mask: Optional[Tensor] = None
    _unbatched = ("faces", "uv_faces", "uvs")

    _batch_field = "texture"


@dataclass
class RenderOutput(_TensorDataclass):
    """Result of a (neural) render.

    Attributes:
        image: ``(B, 3, H, W)`` RGB in ``[0, 1]``.
        mask: ``(B, 1, H, W)`` soft mask in ``[0, 1]``.
        hard_mask: ``(B, 1, H, W)`` thresholded + opened mask, or ``None``.
        composite: ``(B, 3, H, W)`` image composited on white with ``hard_mask``, or ``None``.
        silhouette: ``(B, 1, H, W)`` rasterised mesh silhouette, or ``None``.
        normals: ``(B, 3, H, W)`` rasterised world-frame normals, or ``None``.
    """

    image: Tensor
    mask: Tensor
    hard_mask: Optional[Tensor] = None
    composite: Optional[Tensor] = None
    silhouette: Optional[Tensor] = None
    normals: Optional[Tensor] = None

    _batch_field = "image"


__all__ = ["FlameParams", "SmplxParams", "HeadReconstruction", "RenderOutput"]
