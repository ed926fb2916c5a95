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

from rome_smplx.checks import check_shape
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


def _field(owner: str, name: str, t: Optional[Tensor], shape: str, batch: Optional[int] = None) -> None:
    """Check the field ``owner.name`` against ``shape`` (a :func:`~rome_smplx.checks.check_shape` spec
    whose ``B`` is ``batch``) and for NaN/inf; ``None`` passes. Raises :class:`InputError`."""
    if t is None:
        return
    check_shape(t, shape, f"{owner}.{name}", dims=None if batch is None else {"B": batch})
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
        _field("FlameParams", "shape", self.shape, "B,S")
        b = self.shape.shape[0]
        _field("FlameParams", "expression", self.expression, "B,E", b)
        if self.global_rot is None:
            self.global_rot = _eye(b, like=self.shape)
        if self.jaw_rot is None:
            self.jaw_rot = _eye(b, like=self.shape)
        if self.neck_rot is None:
            self.neck_rot = _eye(b, like=self.shape)
        if self.eye_rots is None:
            self.eye_rots = _eye(b, 2, like=self.shape)
        _field("FlameParams", "global_rot", self.global_rot, "B,3,3", b)
        _field("FlameParams", "jaw_rot", self.jaw_rot, "B,3,3", b)
        _field("FlameParams", "neck_rot", self.neck_rot, "B,3,3", b)
        _field("FlameParams", "eye_rots", self.eye_rots, "B,2,3,3", b)
        _field("FlameParams", "cam", self.cam, "B,3", b)

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
        _field("SmplxParams", "betas", self.betas, "B,S")
        b = self.betas.shape[0]
        _field("SmplxParams", "expression", self.expression, "B,E", b)
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
            _field("SmplxParams", k, getattr(self, k), "B,3,3", b)
        _field("SmplxParams", "body_pose", self.body_pose, "B,21,3,3", b)
        _field("SmplxParams", "left_hand_pose", self.left_hand_pose, "B,15,3,3", b)
        _field("SmplxParams", "right_hand_pose", self.right_hand_pose, "B,15,3,3", b)
        _field("SmplxParams", "transl", self.transl, "B,3", b)
        _field("SmplxParams", "cam", self.cam, "B,3", b)
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


@dataclass
class Similarity(_TensorDataclass):
    """A batch of similarity transforms ``x -> scale * rotation @ x + translation``.

    Attributes:
        scale: ``(B,)`` positive scale factors.
        rotation: ``(B, 3, 3)`` proper rotations.
        translation: ``(B, 3)``.

    >>> sim = Similarity(torch.tensor([2.0]), torch.eye(3)[None], torch.tensor([[0.0, 1.0, 0.0]]))
    >>> sim.apply(torch.zeros(1, 1, 3)).tolist()
    [[[0.0, 1.0, 0.0]]]
    >>> sim.inverse().apply(sim.apply(torch.ones(1, 1, 3))).tolist()
    [[[1.0, 1.0, 1.0]]]
    """

    scale: Tensor
    rotation: Tensor
    translation: Tensor

    def __post_init__(self) -> None:
        _field("Similarity", "scale", self.scale, "B")
        b = self.scale.shape[0]
        _field("Similarity", "rotation", self.rotation, "B,3,3", b)
        _field("Similarity", "translation", self.translation, "B,3", b)
        if bool((self.scale <= 0).any()):
            raise InputError(f"Similarity.scale: expected positive values, found min {float(self.scale.min()):.4g}")

    _batch_field = "scale"

    @classmethod
    def identity(cls, batch: int = 1, *, dtype: torch.dtype = torch.float32, device=None) -> "Similarity":
        """``batch`` identity transforms."""
        return cls(torch.ones(batch, dtype=dtype, device=device), _eye(batch, like=torch.zeros(1, dtype=dtype, device=device)),
                   torch.zeros(batch, 3, dtype=dtype, device=device))

    def apply(self, points: Tensor) -> Tensor:
        """Transform points ``(B, N, 3) -> (B, N, 3)``."""
        return self.apply_vectors(points) + self.translation[:, None, :]

    def apply_vectors(self, vectors: Tensor) -> Tensor:
        """Scale and rotate vectors (offsets, displacements) ``(B, N, 3) -> (B, N, 3)``; no translation."""
        _field("Similarity.apply", "vectors", vectors, "B,N,3", self.batch_size)
        return self.scale[:, None, None] * torch.matmul(vectors, self.rotation.transpose(-1, -2))

    def rotate(self, directions: Tensor) -> Tensor:
        """Rotate directions (normals) ``(B, N, 3) -> (B, N, 3)``; no scale, no translation."""
        _field("Similarity.rotate", "directions", directions, "B,N,3", self.batch_size)
        return torch.matmul(directions, self.rotation.transpose(-1, -2))

    def inverse(self) -> "Similarity":
        """The inverse transforms."""
        rt = self.rotation.transpose(-1, -2)
        inv_s = 1.0 / self.scale
        t = -inv_s[:, None] * torch.matmul(rt, self.translation[..., None])[..., 0]
        return Similarity(inv_s, rt, t)


@dataclass
class FullBodyRender(_TensorDataclass):
    """Result of rendering full-body avatars.

    Attributes:
        image: ``(B, 3, H, W)`` RGB in ``[0, 1]`` composited on the background.
        mask: ``(B, 1, H, W)`` coverage of the avatar (mesh silhouette, widened by the head network's mask).
        depth: ``(B, 1, H, W)`` depth of the nearest face (``inf`` on the background).
        part_faces: ``(B, 1, H, W)`` int64: 1 where the nearest face is a head face, 0 on body faces,
            -1 on the background.
        head_image: ``(B, 3, H, W)`` the head network's RGB pasted back from its crop, or ``None``.
        head_alpha: ``(B, 1, H, W)`` the weight the head image got in the composite, or ``None``.
        head_crop: ``(B, 4)`` the crop in output NDC ``[cx, cy, hx, hy]`` (centre and half sizes), or ``None``.
        crop_image: ``(B, 3, S, S)`` the head network's output at its own resolution, or ``None``.
        crop_mask: ``(B, 1, S, S)`` its mask, or ``None``.
    """

    image: Tensor
    mask: Tensor
    depth: Tensor
    part_faces: Tensor
    head_image: Optional[Tensor] = None
    head_alpha: Optional[Tensor] = None
    head_crop: Optional[Tensor] = None
    crop_image: Optional[Tensor] = None
    crop_mask: Optional[Tensor] = None

    _batch_field = "image"


# ------------------------------------------------------------------------------------- joint names
#: SMPL-X's number of body joints in ``SmplxParams.body_pose`` (joints 1..21 of smplx's order).
NUM_BODY_JOINTS = 21


def smplx_joint(name: str) -> int:
    """Index of an SMPL-X joint by its name in smplx's ``JOINT_NAMES`` (``"pelvis"`` -> 0, ``"head"`` -> 15).

    Raises:
        InputError: ``name`` is not one of the 55 skeleton joints.
    """
    from smplx.joint_names import JOINT_NAMES

    try:
        i = JOINT_NAMES.index(name)
    except ValueError:
        i = -1
    if not 0 <= i < 55:
        raise InputError(f"joint {name!r}: not an SMPL-X skeleton joint (smplx's JOINT_NAMES[:55], e.g. 'head', 'neck')")
    return i


def body_pose_index(name: str) -> int:
    """Row of ``SmplxParams.body_pose`` (B, 21, 3, 3) that holds the joint ``name`` (its joint index - 1).

    Example: ``params.body_pose[:, body_pose_index("right_elbow")]``.

    Raises:
        InputError: ``name`` is not one of the 21 body joints (the pelvis is ``global_orient``; the
            jaw, eyes and fingers have their own fields).
    """
    i = smplx_joint(name) - 1
    if not 0 <= i < NUM_BODY_JOINTS:
        raise InputError(f"joint {name!r}: not one of the {NUM_BODY_JOINTS} joints of SmplxParams.body_pose")
    return i


__all__ = [
    "FlameParams", "SmplxParams", "HeadReconstruction", "RenderOutput", "Similarity", "FullBodyRender",
    "NUM_BODY_JOINTS", "body_pose_index", "smplx_joint",
]
