"""PIXIE's parameter format: decode raw regressor outputs, read and write ``<name>_param.pkl``, change frames.

PIXIE (Feng et al., 3DV 2021) predicts SMPL-X parameters in an image-aligned, **y-down** frame: an
upright body facing the camera has a global rotation of about ``diag(1, -1, -1)`` (180 degrees
around x). Its regressors output 6D rotations (rows of a 3x2 matrix), Euler angles for the jaw,
*absolute* rotations for head and wrists, and a left hand predicted on a mirrored crop. PIXIE's
``decode`` turns these into SMPL-X's parent-relative rotation matrices; its demo then pickles the
decoded dict (batch element 0 only, protocol 2) as ``<name>_param.pkl``.

This module reproduces that decoding step by step (:func:`decode`), reads both the raw and the
decoded dicts into :class:`~rome_smplx.types.SmplxParams` (:func:`load`), writes PIXIE's decoded
format (:func:`save_param_pkl`) and converts between PIXIE's y-down frame and SMPL-X/FLAME's y-up
frame (:func:`to_y_up`, :func:`to_y_down`).

It is the one reader and writer of PIXIE files. It sits in ``io`` so that lower layers (motion files,
the synthetic people) can use it; the public bridge :mod:`rome_smplx.bridges.pixie` re-exports it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import pickle
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rome_smplx.errors import AssetError, InputError
from rome_smplx.geometry.rotations import (
    MIRROR_YZ,
    cont6d_to_matrix,
    euler_xyz_to_matrix,
    flip_pose,
    matrix_to_euler_xyz,
)
from rome_smplx.io.atomic import atomic_path
from rome_smplx.io.pickle_safe import load_pickle
from rome_smplx.types import NUM_BODY_JOINTS, SmplxParams, body_pose_index, smplx_joint

logger = logging.getLogger(__name__)

__all__ = [
    "HEAD_CHAIN",
    "HEAD_LIMITS_DEG",
    "LEFT_WRIST_CHAIN",
    "RAW_POSE_JOINTS",
    "RIGHT_WRIST_CHAIN",
    "check_head_pose",
    "decode",
    "from_decoded",
    "load",
    "pose_abs2rel",
    "save_param_pkl",
    "to_decoded",
    "to_y_down",
    "to_y_up",
]

#: Number of joints of each 6D pose key of PIXIE's raw ``param_dict['body']`` (6 numbers each).
RAW_POSE_JOINTS: dict[str, int] = {
    "global_pose": 1,
    "partbody_pose": 17,
    "neck_pose": 1,
    "head_pose": 1,
    "left_hand_pose": 15,
    "left_wrist_pose": 1,
    "right_wrist_pose": 1,
    "right_hand_pose": 15,
}

_SPINE = ("spine3", "spine2", "spine1", "pelvis")

#: Kinematic chains ``[joint, parent, grandparent, ..., 0]`` of SMPL-X used by PIXIE's
#: ``pose_abs2rel``: head (15), left / right wrist (20 / 21), as smplx's joint indices.
HEAD_CHAIN = tuple(smplx_joint(n) for n in ("head", "neck", *_SPINE))
LEFT_WRIST_CHAIN = tuple(smplx_joint(n) for n in ("left_wrist", "left_elbow", "left_shoulder", "left_collar", *_SPINE))
RIGHT_WRIST_CHAIN = tuple(smplx_joint(n) for n in ("right_wrist", "right_elbow", "right_shoulder", "right_collar", *_SPINE))

#: ``check_pose`` limits of the relative head rotation, degrees, for Euler x (pitch), y (yaw),
#: z (roll). An angle outside +-limit is set to zero (not clamped).
HEAD_LIMITS_DEG = (20.0, 70.0, 10.0)

# body_pose index (SMPL-X joint - 1) of neck, head and wrists; the other 17 come from partbody.
_NECK, _HEAD, _LWRIST, _RWRIST = (body_pose_index(n) for n in ("neck", "head", "left_wrist", "right_wrist"))
_NUM_BODY_JOINTS = NUM_BODY_JOINTS
_PARTBODY_IDX = [i for i in range(_NUM_BODY_JOINTS) if i not in (_NECK, _HEAD, _LWRIST, _RWRIST)]

# Keys and per-sample shapes of PIXIE's decoded ``_param.pkl`` (in PIXIE's insertion order).
# None = free length (shape / expression / tex / light sizes depend on the model).
_DECODED_LAYOUT: OrderedDict[str, tuple] = OrderedDict(
    [
        ("body_cam", (3,)),
        ("global_pose", (1, 3, 3)),
        ("partbody_pose", (17, 3, 3)),
        ("neck_pose", (1, 3, 3)),
        ("shape", (None,)),
        ("exp", (None,)),
        ("head_pose", (1, 3, 3)),
        ("jaw_pose", (1, 3, 3)),
        ("left_hand_pose", (15, 3, 3)),
        ("left_wrist_pose", (1, 3, 3)),
        ("right_wrist_pose", (1, 3, 3)),
        ("right_hand_pose", (15, 3, 3)),
        ("tex", (None,)),
        ("light", (None,)),
        ("abs_head_pose", (1, 3, 3)),
        ("abs_right_wrist_pose", (1, 3, 3)),
        ("abs_left_wrist_pose", (1, 3, 3)),
        ("body_pose", (21, 3, 3)),
        ("bbox", (4,)),
    ]
)
# What :func:`from_decoded` needs.
_DECODED_REQUIRED = ("shape", "exp", "global_pose", "body_pose", "jaw_pose", "left_hand_pose", "right_hand_pose")
# What :func:`decode` needs (everything except the head-branch extras).
_RAW_REQUIRED = tuple(RAW_POSE_JOINTS) + ("jaw_pose", "shape", "exp")

# PIXIE's default sizes of the appearance codes, used when none are given to save_param_pkl.
_DEFAULT_TEX_DIM = 50
_DEFAULT_LIGHT_DIM = 27


# ----------------------------------------------------------------------------------------------
# decoding (PIXIE.decode with param_type='body')
# ----------------------------------------------------------------------------------------------


def pose_abs2rel(global_pose: Tensor, body_pose: Tensor, chain: Sequence[int]) -> Tensor:
    """Make the absolute rotation of ``chain[0]`` parent-relative (PIXIE's ``SMPLX.pose_abs2rel``).

    With ``full = [global] + body_pose`` (joint ``j`` is ``full[:, j]``) and ``chain = [j, p1, p2,
    ..., 0]``: ``parent = full[0] @ ... @ full[p2] @ full[p1]`` and
    ``body_pose[:, j-1] = parent^T @ body_pose[:, j-1]``.

    Args:
        global_pose: ``(B, 3, 3)`` or ``(B, 1, 3, 3)``.
        body_pose: ``(B, 21, 3, 3)``; entry ``j-1`` holds the absolute rotation of joint ``j``.
        chain: joint indices from the joint up to the root (0).

    Returns:
        ``(B, 21, 3, 3)``: a copy with entry ``j-1`` replaced.
    """
    if global_pose.dim() == 4:
        global_pose = global_pose[:, 0]
    if chain[-1] != 0 or len(chain) < 2:
        raise InputError(f"pose_abs2rel: chain must end at the root joint 0, found {list(chain)}")
    full = torch.cat([global_pose[:, None], body_pose], 1)
    parent = full[:, 0]
    for j in reversed(chain[1:-1]):
        parent = parent @ full[:, j]
    j = chain[0]
    out = body_pose.clone()
    out[:, j - 1] = parent.transpose(-1, -2) @ body_pose[:, j - 1]
    return out


def _chain_abs(global_pose: Tensor, body_pose: Tensor, chain: Sequence[int]) -> Tensor:
    """Absolute rotation ``(B, 3, 3)`` of ``chain[0]`` from relative rotations (inverse of abs2rel)."""
    full = torch.cat([global_pose[:, None], body_pose], 1)
    out = full[:, 0]
    for j in reversed(chain[:-1]):
        out = out @ full[:, j]
    return out


def check_head_pose(body_pose: Tensor, limits_deg: Sequence[float] = HEAD_LIMITS_DEG) -> tuple:
    """PIXIE's ``check_pose``: zero the head's relative Euler angles that exceed the limits.

    The relative head rotation ``body_pose[:, body_pose_index('head')]`` (row 14) goes matrix -> Euler xyz -> matrix (the round
    trip is applied even when nothing is zeroed); an angle with ``|angle| > limit`` becomes 0.

    Args:
        body_pose: ``(B, 21, 3, 3)`` relative rotations.
        limits_deg: limits for x (pitch), y (yaw), z (roll).

    Returns:
        ``(body_pose (B, 21, 3, 3), euler_before (B, 3), euler_after (B, 3), zeroed (B, 3) bool)``.
    """
    e = matrix_to_euler_xyz(body_pose[:, _HEAD])
    lim = torch.tensor([math.radians(x) for x in limits_deg], dtype=e.dtype, device=e.device)
    zeroed = e.abs() > lim
    e_after = torch.where(zeroed, torch.zeros_like(e), e)
    out = body_pose.clone()
    out[:, _HEAD] = euler_xyz_to_matrix(e_after)
    return out, e, e_after, zeroed


def _as_batched_tensor(v: Any, key: str, where: str) -> Tensor:
    if isinstance(v, np.ndarray):
        v = torch.from_numpy(np.ascontiguousarray(v))
    if not isinstance(v, Tensor):
        raise InputError(f"{where}: key '{key}': expected an array or tensor, found {type(v).__name__}")
    if not v.is_floating_point():
        raise InputError(f"{where}: key '{key}': expected floating point values, found dtype {v.dtype}")
    return v


def decode(raw: Mapping[str, Any], *, check_pose: bool = True, where: str = "raw PIXIE dict") -> OrderedDict[str, Tensor]:
    """Reproduce PIXIE's ``decode(codedict, param_type='body')`` on the raw regressor outputs.

    Steps (PIXIE's order): 6D -> matrix for every ``*pose`` key but the jaw; jaw Euler -> matrix;
    ``abs_head_pose`` / ``abs_right_wrist_pose`` / ``abs_left_wrist_pose`` copies (the left one
    before flipping); left wrist and left hand mirrored with :func:`flip_pose`; ``body_pose``
    assembled from partbody, neck, head and wrists; head, left wrist and right wrist made
    parent-relative (:func:`pose_abs2rel`); ``check_pose`` on the head (:func:`check_head_pose`).

    Args:
        raw: PIXIE's ``param_dict['body']``: ``global_pose (B, 6)``, ``partbody_pose (B, 102)``,
            ``neck_pose (B, 6)``, ``head_pose (B, 6)``, ``jaw_pose (B, 3)`` Euler, ``left_hand_pose
            (B, 90)``, ``left_wrist_pose (B, 6)``, ``right_wrist_pose (B, 6)``, ``right_hand_pose
            (B, 90)``, ``shape (B, S)``, ``exp (B, E)``; other keys (``body_cam (B, 3)``, ``tex``,
            ``light``, ...) are passed through. Tensors or numpy arrays.
        check_pose: apply PIXIE's head-limit check (PIXIE's default config does).
        where: name used in error messages.

    Returns:
        Ordered dict in PIXIE's key order: the raw keys (poses as ``(B, n, 3, 3)`` matrices, the jaw
        ``(B, 1, 3, 3)``), then ``abs_head_pose``, ``abs_right_wrist_pose``, ``abs_left_wrist_pose``
        ``(B, 1, 3, 3)`` and ``body_pose (B, 21, 3, 3)`` (relative).
    """
    missing = [k for k in _RAW_REQUIRED if k not in raw]
    if missing:
        raise InputError(f"{where}: missing keys {missing}; a raw PIXIE body dict has {list(_RAW_REQUIRED)}")
    out: OrderedDict[str, Tensor] = OrderedDict()
    batch = None
    for k, v in raw.items():
        if not isinstance(v, (Tensor, np.ndarray)):
            out[k] = v
            continue
        t = _as_batched_tensor(v, k, where)
        if k in RAW_POSE_JOINTS:
            n = RAW_POSE_JOINTS[k]
            if t.dim() != 2 or t.shape[1] != 6 * n:
                raise InputError(f"{where}: key '{k}': expected shape (B, {6 * n}) (6D rotations), found {tuple(t.shape)}")
            t = cont6d_to_matrix(t.reshape(t.shape[0], n, 6))
        elif k == "jaw_pose":
            if t.dim() != 2 or t.shape[1] != 3:
                raise InputError(f"{where}: key 'jaw_pose': expected shape (B, 3) (Euler xyz), found {tuple(t.shape)}")
            t = euler_xyz_to_matrix(t)[:, None]
        elif t.dim() < 1:
            raise InputError(f"{where}: key '{k}': expected a batched array, found a scalar")
        if batch is None:
            batch = t.shape[0]
        elif t.shape[0] != batch:
            raise InputError(f"{where}: key '{k}': batch size {t.shape[0]} differs from {batch}")
        out[k] = t
    out["abs_head_pose"] = out["head_pose"].clone()
    out["abs_right_wrist_pose"] = out["right_wrist_pose"].clone()
    out["abs_left_wrist_pose"] = out["left_wrist_pose"].clone()
    out["left_wrist_pose"] = flip_pose(out["left_wrist_pose"])
    out["left_hand_pose"] = flip_pose(out["left_hand_pose"])
    pb = out["partbody_pose"]
    body = torch.cat(
        [pb[:, :11], out["neck_pose"], pb[:, 11:13], out["head_pose"], pb[:, 13:17],
         out["left_wrist_pose"], out["right_wrist_pose"]],
        1,
    )
    g = out["global_pose"][:, 0]
    for chain in (HEAD_CHAIN, LEFT_WRIST_CHAIN, RIGHT_WRIST_CHAIN):
        body = pose_abs2rel(g, body, chain)
    if check_pose:
        body = check_head_pose(body)[0]
    out["body_pose"] = body
    return out


# ----------------------------------------------------------------------------------------------
# decoded dict <-> SmplxParams
# ----------------------------------------------------------------------------------------------


def _fmt_shape(shape: tuple) -> str:
    return "(" + ", ".join("S" if s is None else str(s) for s in shape) + (",)" if len(shape) == 1 else ")")


def _check_decoded(d: Mapping[str, Any], where: str) -> dict[str, Tensor]:
    """Validate a decoded dict (batched or not) and return batched float32 tensors."""
    missing = [k for k in _DECODED_REQUIRED if k not in d]
    if missing:
        raise InputError(
            f"{where}: missing keys {missing}; expected PIXIE's decoded parameters "
            f"(keys {list(_DECODED_LAYOUT)}) or its raw regressor outputs"
        )
    shp = _as_batched_tensor(d["shape"], "shape", where)
    if shp.dim() not in (1, 2):
        raise InputError(f"{where}: key 'shape': expected shape (S,) or (B, S), found {tuple(shp.shape)}")
    batched = shp.dim() == 2
    b0 = shp.shape[0] if batched else 1
    out: dict[str, Tensor] = {}
    for k, spec in _DECODED_LAYOUT.items():
        if k not in d or d[k] is None:
            continue
        t = _as_batched_tensor(d[k], k, where)
        if not batched:
            t = t[None]
        want = (t.shape[0],) + spec
        if t.dim() != len(want) or any(s is not None and s != x for s, x in zip(want, t.shape)):
            want_s = _fmt_shape(spec) if not batched else "(B, " + _fmt_shape(spec)[1:]
            found = tuple(t.shape[1:]) if not batched else tuple(t.shape)
            raise InputError(f"{where}: key '{k}': expected shape {want_s}, found {found}")
        if t.shape[0] != b0:
            raise InputError(f"{where}: key '{k}': batch size {t.shape[0]} differs from {b0} (key 'shape')")
        out[k] = t.to(torch.float32)
    return out


def from_decoded(decoded: Mapping[str, Any], *, where: str = "decoded PIXIE dict") -> SmplxParams:
    """Build :class:`SmplxParams` (``frame='y_down'``) from PIXIE's decoded parameter dict.

    Args:
        decoded: decoded dict, batched (``shape (B, S)``, ``body_pose (B, 21, 3, 3)``, ...) or as
            saved in ``_param.pkl`` (``shape (S,)``, ``body_pose (21, 3, 3)``, ...).
        where: name used in error messages.

    Returns:
        ``SmplxParams`` with ``betas = shape``, ``expression = exp``, ``global_orient =
        global_pose``, the relative ``body_pose``, ``jaw_pose``, both hands (the left one as PIXIE
        stores it, already mirrored back to a left hand) and ``cam = body_cam``.
    """
    t = _check_decoded(decoded, where)
    return SmplxParams(
        betas=t["shape"],
        expression=t["exp"],
        global_orient=t["global_pose"][:, 0],
        body_pose=t["body_pose"],
        jaw_pose=t["jaw_pose"][:, 0],
        left_hand_pose=t["left_hand_pose"],
        right_hand_pose=t["right_hand_pose"],
        cam=t.get("body_cam"),
        frame="y_down",
    )


def _is_identity(r: Tensor, atol: float = 1e-6) -> bool:
    return bool(torch.allclose(r, torch.eye(3, dtype=r.dtype, device=r.device).expand_as(r), atol=atol))


def to_decoded(
    params: SmplxParams,
    *,
    tex: Any | None = None,
    light: Any | None = None,
    bbox: Any | None = None,
) -> OrderedDict[str, Tensor]:
    """The decoded PIXIE dict (batched tensors, PIXIE's key order) for ``params``.

    ``params`` is brought to the y-down frame first. The redundant entries are derived from
    ``body_pose`` and ``global_orient`` so that they agree with it: ``partbody_pose`` (the 17
    non-neck/head/wrist joints), ``neck_pose``, the absolute ``head_pose`` / ``abs_head_pose``,
    ``right_wrist_pose`` / ``abs_right_wrist_pose``, the absolute left wrist ``left_wrist_pose`` and
    its mirrored, un-flipped regressor-side copy ``abs_left_wrist_pose``.

    Args:
        params: ``SmplxParams`` (``leye_pose``/``reye_pose`` must be identity and ``transl`` None
            or zero: PIXIE's format has no field for them).
        tex: ``(B, T)`` albedo code (default zeros of PIXIE's size 50).
        light: ``(B, 27)`` spherical-harmonics lighting (default zeros).
        bbox: ``(B, 4)`` detector box ``[x1, y1, x2, y2]`` in image pixels (default zeros).

    Returns:
        ``OrderedDict`` of float32 tensors with batch dimension.
    """
    if not isinstance(params, SmplxParams):
        raise InputError(f"params: expected SmplxParams, found {type(params).__name__}")
    p = to_y_down(params) if params.frame == "y_up" else params
    b = p.batch_size
    for name in ("leye_pose", "reye_pose"):
        if not _is_identity(getattr(p, name)):
            raise InputError(f"SmplxParams.{name}: PIXIE's parameter file stores no eye rotation; expected identity")
    if p.transl is not None and bool((p.transl != 0).any()):
        raise InputError("SmplxParams.transl: PIXIE's parameter file stores no translation; expected None or zeros")
    dev = p.betas.device

    def extra(v: Any | None, name: str, dim: int, default_dim: int | None) -> Tensor:
        if v is None:
            return torch.zeros(b, default_dim if default_dim is not None else dim, device=dev)
        t = torch.as_tensor(np.asarray(v) if not isinstance(v, Tensor) else v, dtype=torch.float32).to(dev)
        if t.dim() == 1:
            t = t[None].expand(b, -1)
        if t.dim() != 2 or t.shape[0] != b or (dim and t.shape[1] != dim):
            raise InputError(f"{name}: expected shape ({b}, {dim or 'N'}), found {tuple(t.shape)}")
        return t

    g = p.global_orient.float()
    body = p.body_pose.float()
    head_abs = _chain_abs(g, body, HEAD_CHAIN)
    lw_abs = _chain_abs(g, body, LEFT_WRIST_CHAIN)
    rw_abs = _chain_abs(g, body, RIGHT_WRIST_CHAIN)
    cam = p.cam if p.cam is not None else torch.tensor([[1.0, 0.0, 0.0]], device=dev).expand(b, 3)
    out: OrderedDict[str, Tensor] = OrderedDict()
    out["body_cam"] = cam.float()
    out["global_pose"] = g[:, None]
    out["partbody_pose"] = body[:, _PARTBODY_IDX]
    out["neck_pose"] = body[:, _NECK : _NECK + 1]
    out["shape"] = p.betas.float()
    out["exp"] = p.expression.float()
    out["head_pose"] = head_abs[:, None]
    out["jaw_pose"] = p.jaw_pose.float()[:, None]
    out["left_hand_pose"] = p.left_hand_pose.float()
    out["left_wrist_pose"] = lw_abs[:, None]
    out["right_wrist_pose"] = rw_abs[:, None]
    out["right_hand_pose"] = p.right_hand_pose.float()
    out["tex"] = extra(tex, "tex", 0, _DEFAULT_TEX_DIM)
    out["light"] = extra(light, "light", _DEFAULT_LIGHT_DIM, None)
    out["abs_head_pose"] = head_abs[:, None].clone()
    out["abs_right_wrist_pose"] = rw_abs[:, None].clone()
    out["abs_left_wrist_pose"] = flip_pose(lw_abs)[:, None]
    out["body_pose"] = body.clone()
    out["bbox"] = extra(bbox, "bbox", 4, None)
    return out


# ----------------------------------------------------------------------------------------------
# files
# ----------------------------------------------------------------------------------------------


def _is_raw(d: Mapping[str, Any]) -> bool:
    """A raw regressor dict has 6D poses (last dimension 6, or 6*n for partbody/hands)."""
    if "body_pose" in d:
        return False
    g = d.get("global_pose")
    return g is not None and hasattr(g, "shape") and len(g.shape) >= 1 and g.shape[-1] == 6


def load(source: str | os.PathLike | Mapping[str, Any], *, check_pose: bool = True) -> SmplxParams:
    """Read PIXIE parameters into :class:`SmplxParams` (``frame='y_down'``, batched).

    Accepts:

    * ``<name>_param.pkl`` as PIXIE's demo writes it (decoded, batch dimension dropped), read with
      the restricted unpickler (no code in the file runs);
    * a raw regressor dict (``param_dict['body']``, 6D poses) in a ``.pkl`` or a torch ``.pt``
      file (``torch.load(weights_only=True)``), decoded with :func:`decode`;
    * an in-memory dict of either kind.

    Args:
        source: path or dict.
        check_pose: for raw dicts, apply PIXIE's head-limit check while decoding.

    Raises:
        InputError: missing keys or wrong shapes (message names the file and key).
        AssetError: the file is missing, unreadable, corrupt or refers to code.
    """
    if isinstance(source, Mapping):
        d, where = source, "PIXIE parameter dict"
    else:
        path = Path(source)
        where = str(path)
        if path.suffix in (".pt", ".pth"):
            if not path.is_file():
                raise AssetError("file not found (expected a PIXIE parameter file)", path=path)
            try:
                d = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as e:  # corrupt file or unsupported content
                raise AssetError(f"cannot read as a torch file ({type(e).__name__}: {e})", path=path) from None
        else:
            d = load_pickle(path)
        if not isinstance(d, Mapping):
            raise InputError(f"{where}: expected a dict of PIXIE parameters, found {type(d).__name__}")
    if _is_raw(d):
        raw = {}
        for k, v in d.items():
            if isinstance(v, (np.ndarray, Tensor)):
                v = _as_batched_tensor(v, k, where)
                raw[k] = v[None] if v.dim() == 1 else v
            else:
                raw[k] = v
        return _named(lambda: from_decoded(decode(raw, check_pose=check_pose, where=where), where=where), where)
    return _named(lambda: from_decoded(d, where=where), where)


def _named(build, where: str):
    """Run ``build``; an :class:`InputError` that does not name the file gets its name."""
    try:
        return build()
    except InputError as e:
        if where and where not in str(e):
            raise InputError(f"{where}: {e}") from None
        raise


def save_param_pkl(
    path: str | os.PathLike,
    params: SmplxParams,
    *,
    tex: Any | None = None,
    light: Any | None = None,
    bbox: Any | None = None,
) -> Path:
    """Write ``params`` as PIXIE's decoded ``<name>_param.pkl`` (atomically).

    The file holds exactly the keys, key order, shapes and dtypes PIXIE's demo writes: a dict of
    float32 numpy arrays with the batch dimension dropped, pickle protocol 2 (see
    :func:`to_decoded` for how the redundant entries are derived). Only batch size 1 can be saved
    (PIXIE keeps only the first sample; we refuse rather than drop data silently).

    Args:
        path: output file.
        params: ``SmplxParams`` with batch size 1 (either frame; y-up is converted).
        tex, light, bbox: optional ``(T,)``/``(1, T)``, ``(27,)``, ``(4,)`` extras.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    if isinstance(params, SmplxParams) and params.batch_size != 1:
        raise InputError(
            f"save_param_pkl: PIXIE's parameter file holds one person; found batch size {params.batch_size} "
            "(save each element, e.g. params.index(i))"
        )
    d = to_decoded(params, tex=tex, light=light, bbox=bbox)
    arrays = OrderedDict((k, v[0].detach().cpu().numpy().astype(np.float32)) for k, v in d.items())
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        pickle.dump(dict(arrays), f, protocol=2)
    logger.debug("wrote PIXIE parameters to %s", path)
    return path


# ----------------------------------------------------------------------------------------------
# frames
# ----------------------------------------------------------------------------------------------


def _flip_frame(params: SmplxParams, target: str, root_joint: Tensor | None) -> SmplxParams:
    if not isinstance(params, SmplxParams):
        raise InputError(f"params: expected SmplxParams, found {type(params).__name__}")
    if params.frame == target:
        return params
    m = torch.tensor(MIRROR_YZ, dtype=params.global_orient.dtype, device=params.global_orient.device)
    changes: dict[str, Any] = {"frame": target, "global_orient": m[:, None] * params.global_orient}
    if params.cam is not None:
        changes["cam"] = params.cam * torch.tensor([1.0, 1.0, -1.0], dtype=params.cam.dtype, device=params.cam.device)
    if params.transl is not None or root_joint is not None:
        t = params.transl if params.transl is not None else torch.zeros_like(root_joint)
        mt = m.to(t.dtype)
        if root_joint is not None:
            if root_joint.shape != t.shape:
                raise InputError(f"root_joint: expected shape {tuple(t.shape)}, found {tuple(root_joint.shape)}")
            changes["transl"] = mt * (t + root_joint) - root_joint
        else:
            changes["transl"] = mt * t
    return dataclasses.replace(params, **changes)


def to_y_up(params: SmplxParams, root_joint: Tensor | None = None) -> SmplxParams:
    """Convert PIXIE's y-down parameters to SMPL-X/FLAME's y-up frame (``M = diag(1, -1, -1)``).

    ``global_orient' = M @ global_orient``; camera ``(s, tx, ty) -> (s, tx, -ty)``;
    ``transl' = M @ transl``. SMPL-X rotates the body about its root joint ``J0`` (which depends
    on the shape), so the mesh also moves by ``M @ J0 - J0``; pass ``root_joint (B, 3)`` (the rest
    pelvis position) to fold that into ``transl'`` = ``M @ (transl + J0) - J0`` and get vertices
    that are exactly ``M @ v``. Parent-relative rotations do not change. Parameters already in
    the y-up frame are returned unchanged.

    Args:
        params: ``SmplxParams`` with ``frame='y_down'``.
        root_joint: optional ``(B, 3)`` rest position of the root joint.

    Returns:
        ``SmplxParams`` with ``frame='y_up'``.
    """
    return _flip_frame(params, "y_up", root_joint)


def to_y_down(params: SmplxParams, root_joint: Tensor | None = None) -> SmplxParams:
    """Inverse of :func:`to_y_up` (the same mirror ``M``, which is its own inverse).

    Args:
        params: ``SmplxParams`` with ``frame='y_up'``.
        root_joint: optional ``(B, 3)`` rest position of the root joint (see :func:`to_y_up`).

    Returns:
        ``SmplxParams`` with ``frame='y_down'``.
    """
    return _flip_frame(params, "y_down", root_joint)
