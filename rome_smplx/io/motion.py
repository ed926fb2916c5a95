"""SMPL-X motion sequences: read AMASS-style files, PIXIE folders and our own format; resample; save.

A :class:`Motion` is a batch of T frames of :class:`~rome_smplx.types.SmplxParams` (rotation
matrices, y-up frame) plus a frame rate. Readers:

* **AMASS-style ``.npz``** (:func:`load_amass`): ``poses`` ``(T, 165)`` axis-angle in SMPL-X joint
  order (global 3, body 21x3, jaw 3, left eye 3, right eye 3, left hand 15x3, right hand 15x3), or
  ``(T, 156)`` SMPL-H order without jaw and eyes (global 3, body 21x3, hands 2x15x3; jaw and eyes
  become identity). Instead of ``poses`` the split keys of AMASS's SMPL-X release are accepted:
  ``root_orient (T, 3)``, ``pose_body (T, 63)``, optional ``pose_jaw (T, 3)``, ``pose_eye (T, 6)``,
  ``pose_hand (T, 90)``. Optional: ``trans (T, 3)``, ``betas (S,)`` or ``(T, S)``,
  ``expression`` / ``expr`` ``(T, E)``, and the frame rate as ``mocap_frame_rate`` (SMPL-X release)
  or ``mocap_framerate`` (SMPL-H release) or ``fps``. Hand rotations are taken as stored (the flat-hand
  convention of :class:`SmplxParams`; no ``hands_mean`` is added). Other keys (``gender``,
  ``surface_model_type``, ...) are ignored and never unpickled.
* **A folder of PIXIE ``*_param.pkl`` files** (:func:`load_pixie_folder`), one per frame in sorted
  file-name order, read with the restricted unpickler and converted to y-up.
* **Our ``.npz``** (:func:`save_motion` / :func:`load_motion`): rotation matrices, a version key and
  the frame rate; no pickled objects.

Up axis: AMASS stores motion in a **z-up** world. :func:`load_amass` converts it to SMPL-X's y-up
world by a -90 degree rotation about x (``up="z"``, the default), applied to ``global_orient`` and
``trans``. The body rotates about its root joint, so the mesh ends up shifted by the constant
``M J0 - J0`` (``J0`` the rest pelvis); pass ``root_joint`` to fold that into ``transl`` when
absolute placement matters. ``up="y"`` keeps the file's frame.

Resampling (:func:`resample`): ``"slerp"`` (default) interpolates rotations along great arcs of
unit quaternions and the rest linearly; ``"nearest"`` picks the closest source frame.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rome_smplx.errors import InputError
from rome_smplx.geometry.rotations import axis_angle_to_matrix, matrix_to_quaternion, quaternion_to_matrix
from rome_smplx.io.atomic import atomic_path
from rome_smplx.io.limits import MAX_FRAMES, MAX_OUTPUT_BYTES
from rome_smplx.types import SmplxParams

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_FRAMES",
    "MAX_OUTPUT_BYTES",
    "MOTION_FORMAT_VERSION",
    "Motion",
    "check_frame_budget",
    "estimate_animation",
    "load_amass",
    "load_motion",
    "load_pixie_folder",
    "resample",
    "save_motion",
    "wave_motion",
    "wave_pose",
]

#: Motions longer than this, or whose animation would write more than :data:`MAX_OUTPUT_BYTES`,
#: need an explicit ``max_frames`` (``--max-frames``) or ``yes`` (``--yes``).
#: Cost of one animation frame, measured on the SMPL-X-sized synthetic body (10 475 vertices, CPU):
#: bytes per vertex of each mesh format as written, and seconds per frame (pose + export).
_BYTES_PER_VERTEX = {"ply": 41.0, "glb": 44.0, "obj": 92.0}
_SECONDS_PER_FRAME = 0.04

#: Version written into (and required from) our own motion files.
MOTION_FORMAT_VERSION = 1

# Joint counts of the pose layouts (SMPL-X: 1 global + 21 body + jaw + 2 eyes + 2 x 15 hand joints).
_BODY, _HAND = 21, 15
_SMPLX_POSE = 3 * (1 + _BODY + 3 + 2 * _HAND)
_SMPLH_POSE = 3 * (1 + _BODY + 2 * _HAND)

# Rotation fields of SmplxParams with their per-frame shapes (our file layout).
_ROT_FIELDS = {
    "global_orient": (3, 3),
    "body_pose": (_BODY, 3, 3),
    "jaw_pose": (3, 3),
    "leye_pose": (3, 3),
    "reye_pose": (3, 3),
    "left_hand_pose": (_HAND, 3, 3),
    "right_hand_pose": (_HAND, 3, 3),
}
# Non-rotation per-frame fields (interpolated linearly).
_VEC_FIELDS = ("betas", "expression", "transl", "cam")

# -90 degrees about x: z-up world -> y-up world (z -> y, y -> -z).
_Z_TO_Y = ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, -1.0, 0.0))


@dataclass
class Motion:
    """A motion sequence.

    Attributes:
        params: :class:`SmplxParams` with batch T (one entry per frame), ``frame='y_up'``.
        fps: frames per second, or ``None`` when the source does not say.
        source: where it came from (for messages).
    """

    params: SmplxParams
    fps: float | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.params, SmplxParams):
            raise InputError(f"Motion.params: expected SmplxParams, found {type(self.params).__name__}")
        if self.params.frame != "y_up":
            raise InputError(f"Motion.params: expected y-up parameters, found frame {self.params.frame!r}")
        if self.fps is not None and not (math.isfinite(self.fps) and self.fps > 0):
            raise InputError(f"Motion.fps: expected a positive frame rate, found {self.fps}")

    def __len__(self) -> int:
        return self.params.batch_size

    @property
    def duration(self) -> float | None:
        """Seconds from the first to the last frame (``None`` without a frame rate)."""
        return None if self.fps is None else (len(self) - 1) / self.fps

    def frame(self, i: int) -> SmplxParams:
        """Frame ``i`` as :class:`SmplxParams` with batch 1."""
        n = len(self)
        if not -n <= i < n:
            raise InputError(f"Motion.frame: index {i} out of range for {n} frames")
        return self.params.index(i % n)

    def __iter__(self) -> Iterator[SmplxParams]:
        for i in range(len(self)):
            yield self.params.index(i)

    def frames(self) -> list[SmplxParams]:
        """Every frame as a list of batch-1 :class:`SmplxParams`."""
        return list(self)

    @classmethod
    def from_frames(cls, frames: list[SmplxParams], fps: float | None = None, source: str = "") -> Motion:
        """A motion from batch-1 (or batched) y-up :class:`SmplxParams`, concatenated in order."""
        if not frames:
            raise InputError("Motion.from_frames: no frames")
        return cls(_cat(list(frames)), fps, source)

    def subsample(self, every: int) -> Motion:
        """Every ``every``-th frame (the frame rate is divided accordingly)."""
        if not isinstance(every, int) or every < 1:
            raise InputError(f"every: expected a positive integer, found {every!r}")
        idx = torch.arange(0, len(self), every)
        fps = None if self.fps is None else self.fps / every
        return Motion(self.params.index(idx), fps, self.source)


# ----------------------------------------------------------------------------------------------
# validation helpers
# ----------------------------------------------------------------------------------------------


def _shape_str(shape: tuple) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _raw(z: Any, key: str, where: str) -> Any:
    try:
        return z[key]
    except ValueError as e:  # an object array in an npz opened without pickle
        raise InputError(f"{where}: key '{key}': cannot read without unpickling ({e})") from None
    except Exception as e:
        raise InputError(f"{where}: key '{key}': unreadable ({type(e).__name__}: {e})") from None


def _array(z: Any, key: str, where: str, shape: tuple) -> np.ndarray:
    """``z[key]`` as float64, checked against ``shape`` (``None`` entries free) and for NaN/inf."""
    a = _raw(z, key, where)
    if not isinstance(a, np.ndarray) or not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        found = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
        raise InputError(f"{where}: key '{key}': expected real numbers, found {found}")
    ok = a.ndim == len(shape) and all(s is None or s == d for s, d in zip(shape, a.shape))
    if not ok:
        want = _shape_str(tuple("*" if s is None else s for s in shape))
        raise InputError(f"{where}: key '{key}': expected shape {want}, found {_shape_str(a.shape)}")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        bad = int(np.argwhere(~np.isfinite(a))[0][0]) if a.ndim else 0
        raise InputError(f"{where}: key '{key}': contains NaN or inf values (first at index {bad})")
    return a


def _check_rotations(name: str, r: Tensor, where: str, tol: float = 1e-3) -> None:
    """Require ``(..., 3, 3)`` rotation matrices (orthonormal, det +1)."""
    eye = torch.eye(3, dtype=r.dtype)
    err = (r.transpose(-1, -2) @ r - eye).abs().amax(dim=(-1, -2))
    det = torch.linalg.det(r)
    bad = (err > tol) | ((det - 1).abs() > tol)
    if bool(bad.any()):
        first = tuple(int(i) for i in torch.nonzero(bad)[0])
        raise InputError(
            f"{where}: key '{name}': expected rotation matrices (orthonormal, determinant 1), "
            f"found a matrix at index {first} with |R^T R - I| = {float(err[first]):.3g}, det = {float(det[first]):.4g}"
        )


def _z_up_to_y_up(params: SmplxParams, root_joint: Tensor | None) -> SmplxParams:
    m = torch.tensor(_Z_TO_Y, dtype=params.global_orient.dtype)
    changes: dict[str, Any] = {"global_orient": m @ params.global_orient}
    if params.transl is not None or root_joint is not None:
        t = params.transl if params.transl is not None else torch.zeros(params.batch_size, 3, dtype=m.dtype)
        if root_joint is not None:
            j = torch.as_tensor(root_joint, dtype=t.dtype).reshape(-1, 3).expand_as(t)
            changes["transl"] = (t + j) @ m.T - j
        else:
            changes["transl"] = t @ m.T
    return dataclasses.replace(params, **changes)


def _open_npz(path: Path):
    if not path.exists():
        raise InputError(f"{path}: motion file not found")
    if path.is_dir():
        raise InputError(f"{path}: expected a motion .npz file, found a directory")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:
        raise InputError(f"{path}: not a readable .npz file ({type(e).__name__}: {e})") from None


def _fps_from(z: Any, where: str, keys: tuple[str, ...]) -> float | None:
    for k in keys:
        if k in z.files:
            a = _array(z, k, where, ())
            v = float(a)
            if not v > 0:
                raise InputError(f"{where}: key '{k}': expected a positive frame rate, found {v}")
            return v
    return None


# ----------------------------------------------------------------------------------------------
# readers
# ----------------------------------------------------------------------------------------------


def load_amass(
    path: str | os.PathLike,
    *,
    up: str = "z",
    fps: float | None = None,
    root_joint: Tensor | None = None,
    dtype: torch.dtype = torch.float32,
) -> Motion:
    """Read an AMASS-style ``.npz`` (axis-angle poses) into a :class:`Motion` (y-up).

    Args:
        path: ``.npz`` with ``poses (T, 165)`` (SMPL-X) or ``(T, 156)`` (SMPL-H, no jaw/eyes), or the
            split keys ``root_orient``/``pose_body``/``pose_jaw``/``pose_eye``/``pose_hand``; optional
            ``trans (T, 3)``, ``betas (S,)``/``(T, S)``, ``expression`` or ``expr`` ``(T, E)``,
            ``mocap_frame_rate`` / ``mocap_framerate``. See the module docstring.
        up: ``"z"`` (AMASS: converted to y-up) or ``"y"`` (kept).
        fps: frame rate to use when the file has none (a rate in the file wins).
        root_joint: optional ``(3,)`` rest pelvis position for an exact z-up -> y-up conversion of
            ``transl`` (see the module docstring).
        dtype: float dtype of the result.

    Returns:
        :class:`Motion` with T frames.

    Raises:
        InputError: unreadable file, missing key, wrong shape (file, key, expected and found shape),
            NaN/inf values.
    """
    if up not in ("y", "z"):
        raise InputError(f"up: expected 'y' or 'z', found {up!r}")
    path = Path(path)
    where = str(path)
    with _open_npz(path) as z:
        files = set(z.files)
        if "poses" in files:
            poses = _array(z, "poses", where, (None, None))
            T, D = poses.shape
            if T < 1:
                raise InputError(f"{where}: the motion has no frames (key 'poses' has shape {_shape_str(poses.shape)})")
            if D == _SMPLX_POSE:
                aa = poses.reshape(T, -1, 3)
                glob, body = aa[:, 0], aa[:, 1 : 1 + _BODY]
                jaw, leye, reye = aa[:, 22], aa[:, 23], aa[:, 24]
                lh, rh = aa[:, 25 : 25 + _HAND], aa[:, 25 + _HAND :]
            elif D == _SMPLH_POSE:
                aa = poses.reshape(T, -1, 3)
                glob, body = aa[:, 0], aa[:, 1 : 1 + _BODY]
                jaw = leye = reye = np.zeros((T, 3))
                lh, rh = aa[:, 22 : 22 + _HAND], aa[:, 22 + _HAND :]
            else:
                raise InputError(
                    f"{where}: key 'poses': expected shape (T, {_SMPLX_POSE}) (SMPL-X: global, body, jaw, eyes, "
                    f"hands) or (T, {_SMPLH_POSE}) (SMPL-H: global, body, hands), found {_shape_str(poses.shape)}"
                )
        elif "root_orient" in files and "pose_body" in files:
            glob = _array(z, "root_orient", where, (None, 3))
            T = glob.shape[0]
            if T < 1:
                raise InputError(f"{where}: the motion has no frames (key 'root_orient' has shape {_shape_str(glob.shape)})")
            body = _array(z, "pose_body", where, (T, 3 * _BODY)).reshape(T, _BODY, 3)
            jaw = _array(z, "pose_jaw", where, (T, 3)) if "pose_jaw" in files else np.zeros((T, 3))
            eyes = _array(z, "pose_eye", where, (T, 6)) if "pose_eye" in files else np.zeros((T, 6))
            leye, reye = eyes[:, :3], eyes[:, 3:]
            hands = (_array(z, "pose_hand", where, (T, 6 * _HAND)) if "pose_hand" in files
                     else np.zeros((T, 6 * _HAND))).reshape(T, 2 * _HAND, 3)
            lh, rh = hands[:, :_HAND], hands[:, _HAND:]
        else:
            raise InputError(
                f"{where}: missing key 'poses' (expected (T, {_SMPLX_POSE}) SMPL-X or (T, {_SMPLH_POSE}) SMPL-H "
                f"axis-angle poses, or 'root_orient' + 'pose_body'); found keys {sorted(files)}"
            )
        if T < 1:
            raise InputError(f"{where}: the motion has no frames (T = 0)")
        trans = _array(z, "trans", where, (T, 3)) if "trans" in files else None
        if "betas" in files:
            one = getattr(_raw(z, "betas", where), "ndim", 0) == 1
            betas = _array(z, "betas", where, (None,) if one else (T, None))
            betas = np.broadcast_to(betas, (T, betas.shape[-1])) if betas.ndim == 1 else betas
        else:
            betas = np.zeros((T, 10))
        ekey = "expression" if "expression" in files else ("expr" if "expr" in files else None)
        expr = _array(z, ekey, where, (T, None)) if ekey is not None else np.zeros((T, 10))
        file_fps = _fps_from(z, where, ("mocap_frame_rate", "mocap_framerate", "fps"))

    def rot(a: np.ndarray) -> Tensor:
        return axis_angle_to_matrix(torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64)).to(dtype)

    def vec(a: np.ndarray) -> Tensor:
        return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype)

    params = SmplxParams(
        betas=vec(betas), expression=vec(expr), global_orient=rot(glob), body_pose=rot(body), jaw_pose=rot(jaw),
        leye_pose=rot(leye), reye_pose=rot(reye), left_hand_pose=rot(lh), right_hand_pose=rot(rh),
        transl=None if trans is None else vec(trans), frame="y_up",
    )
    if up == "z":
        params = _z_up_to_y_up(params, root_joint)
    rate = file_fps if file_fps is not None else fps
    logger.info("read %d frames from %s (%s fps, %s-up source)", T, path, rate, up)
    return Motion(params, rate, where)


def load_pixie_folder(folder: str | os.PathLike, *, fps: float | None = None, pattern: str = "*_param.pkl") -> Motion:
    """Read a folder of PIXIE ``_param.pkl`` files (one frame each, sorted by file name) as y-up motion.

    Args:
        folder: folder holding the files (searched non-recursively).
        fps: frame rate of the sequence (PIXIE files carry none).
        pattern: glob of the parameter files.

    Returns:
        :class:`Motion`; per-frame ``betas`` and ``cam`` are kept.

    Raises:
        InputError: no matching file, or files whose coefficient counts differ.
        AssetError: a file is unreadable, corrupt or refers to code.
    """
    from tqdm.auto import tqdm

    from rome_smplx.io import pixie

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: expected a folder of PIXIE {pattern} files")
    files = sorted(p for p in folder.glob(pattern) if p.is_file())
    if not files:
        raise InputError(f"{folder}: no PIXIE parameter files matching {pattern!r}")
    frames = [pixie.to_y_up(pixie.load(p)) for p in tqdm(files, desc="PIXIE frames", unit="file", leave=False, disable=None)]
    for p, f in zip(files, frames):
        for name in ("betas", "expression"):
            n0, n = getattr(frames[0], name).shape[1], getattr(f, name).shape[1]
            if n != n0:
                raise InputError(f"{p}: key '{'shape' if name == 'betas' else 'exp'}': {n} coefficients, but {files[0].name} has {n0}")
    params = _cat(frames)
    logger.info("read %d PIXIE frames from %s", len(files), folder)
    return Motion(params, fps, str(folder))


def _cat(frames: list[SmplxParams]) -> SmplxParams:
    fields: dict[str, Any] = {"frame": "y_up"}
    for f in dataclasses.fields(SmplxParams):
        if f.name == "frame":
            continue
        vals = [getattr(p, f.name) for p in frames]
        if any(v is None for v in vals):
            if f.name in ("transl", "cam") and not all(v is None for v in vals):
                vals = [torch.zeros(1, 3, dtype=frames[0].betas.dtype) if v is None else v for v in vals]
            else:
                fields[f.name] = None
                continue
        fields[f.name] = torch.cat(vals)
    return SmplxParams(**fields)


#: Head nod of :func:`wave_motion` (radians, about x).
WAVE_NOD = 0.12


def wave_motion(base: SmplxParams, frames: int = 24, fps: float = 12.0) -> Motion:
    """A short procedural motion from ``base`` (batch 1, y-up): both arms lowered from the T-pose, the
    right arm waving (shoulder and elbow), the head nodding a little; one period over ``frames`` frames.

    Joints are addressed by smplx's names (``right_elbow`` ...), so the motion means the same on any
    SMPL-X model. It is the default animation of the rigged exports when no motion file is given.
    """
    if not isinstance(base, SmplxParams) or base.batch_size != 1 or base.frame != "y_up":
        raise InputError("wave_motion: expected y-up SmplxParams with batch 1")
    if not isinstance(frames, int) or frames < 2:
        raise InputError(f"wave_motion: frames must be an integer >= 2, found {frames!r}")
    out = [dataclasses.replace(wave_pose(base, 2 * math.pi * i / frames), cam=None) for i in range(frames)]
    return Motion.from_frames(out, fps, "wave")


def wave_pose(base: SmplxParams, phase: float, *, nod: float = WAVE_NOD) -> SmplxParams:
    """One pose of the wave (:func:`wave_motion`) at ``phase`` radians: ``base`` (y-up) with both arms lowered
    from the T-pose, the right shoulder and elbow waving, and the head nodding by ``nod`` radians
    (0: the head stays as in ``base``). Every batch element is posed alike; other fields are ``base``'s."""
    from smplx.joint_names import JOINT_NAMES

    if not isinstance(base, SmplxParams):
        raise InputError(f"wave_pose: expected SmplxParams, found {type(base).__name__}")
    dt = base.body_pose.dtype
    body = JOINT_NAMES[1:1 + _BODY]  # body_pose[k] is joint k + 1

    def aa(x: float, y: float, z: float) -> Tensor:
        return axis_angle_to_matrix(torch.tensor([[x, y, z]], dtype=dt))[0].to(base.body_pose.device)

    pose = base.body_pose.clone()
    pose[:, body.index("left_shoulder")] = aa(0.0, 0.0, -1.1)
    pose[:, body.index("right_shoulder")] = aa(0.0, 0.0, 0.9 - 0.4 * math.sin(phase))
    pose[:, body.index("right_elbow")] = aa(0.0, -1.2 - 0.5 * math.sin(2 * phase), 0.0)
    if nod:
        h = body.index("head")
        for b in range(pose.shape[0]):
            pose[b, h] = aa(nod * math.sin(phase), 0.0, 0.0) @ base.body_pose[b, h]
    return dataclasses.replace(base, body_pose=pose)


def _load_ours(path: Path, z: Any, fps: float | None, dtype: torch.dtype) -> Motion:
    where = str(path)
    version = int(_array(z, "rome_smplx_motion", where, ()))
    if version != MOTION_FORMAT_VERSION:
        raise InputError(f"{where}: key 'rome_smplx_motion': expected format version {MOTION_FORMAT_VERSION}, found {version}")
    if "betas" not in z.files:
        raise InputError(f"{where}: missing key 'betas' (expected shape (T, S))")
    betas = _array(z, "betas", where, (None, None))
    T = betas.shape[0]
    if T < 1:
        raise InputError(f"{where}: the motion has no frames (T = 0)")
    out: dict[str, Any] = {"betas": torch.as_tensor(betas, dtype=dtype)}
    for name in ("expression",) + tuple(_ROT_FIELDS):
        if name not in z.files:
            shape = (T, None) if name == "expression" else (T,) + _ROT_FIELDS[name]
            raise InputError(f"{where}: missing key '{name}' (expected shape {_shape_str(tuple('*' if s is None else s for s in shape))})")
    out["expression"] = torch.as_tensor(_array(z, "expression", where, (T, None)), dtype=dtype)
    for name, shape in _ROT_FIELDS.items():
        r = torch.as_tensor(_array(z, name, where, (T,) + shape))
        _check_rotations(name, r, where)
        out[name] = r.to(dtype)
    for name in ("transl", "cam"):
        if name in z.files:
            out[name] = torch.as_tensor(_array(z, name, where, (T, 3)), dtype=dtype)
    file_fps = _fps_from(z, where, ("fps",))
    return Motion(SmplxParams(**out, frame="y_up"), file_fps if file_fps is not None else fps, where)


def load_motion(
    source: str | os.PathLike,
    *,
    fps: float | None = None,
    up: str = "z",
    dtype: torch.dtype = torch.float32,
) -> Motion:
    """Read a motion from any supported source (see the module docstring).

    Args:
        source: our ``.npz`` (written by :func:`save_motion`), an AMASS-style ``.npz``, or a folder of
            PIXIE ``_param.pkl`` files.
        fps: frame rate when the source has none.
        up: up axis of AMASS-style files (``"z"`` converted to y-up, or ``"y"``); ignored otherwise.
        dtype: float dtype.

    Returns:
        :class:`Motion` (y-up).
    """
    path = Path(source)
    if path.is_dir():
        return load_pixie_folder(path, fps=fps)
    if path.suffix.lower() != ".npz":
        if not path.exists():
            raise InputError(f"{path}: motion file not found")
        raise InputError(
            f"{path}: unsupported motion source; expected an .npz (AMASS-style or written by save_motion) "
            "or a folder of PIXIE _param.pkl files"
        )
    with _open_npz(path) as z:
        if "rome_smplx_motion" in z.files:
            return _load_ours(path, z, fps, dtype)
    return load_amass(path, up=up, fps=fps, dtype=dtype)


def save_motion(path: str | os.PathLike, motion: Motion) -> Path:
    """Write ``motion`` as our ``.npz`` (rotation matrices, float32, no pickled objects), atomically.

    Keys: ``rome_smplx_motion`` (format version), ``fps`` (when known), ``betas (T, S)``,
    ``expression (T, E)``, ``global_orient (T, 3, 3)``, ``body_pose (T, 21, 3, 3)``, ``jaw_pose``,
    ``leye_pose``, ``reye_pose`` ``(T, 3, 3)``, ``left_hand_pose`` / ``right_hand_pose``
    ``(T, 15, 3, 3)``, and ``transl`` / ``cam`` ``(T, 3)`` when present.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    if not isinstance(motion, Motion):
        raise InputError(f"save_motion: expected a Motion, found {type(motion).__name__}")
    path = Path(path)
    if path.suffix.lower() != ".npz":
        raise InputError(f"{path}: motion files are written as .npz; found extension {path.suffix!r}")
    p = motion.params
    arrays: dict[str, np.ndarray] = {"rome_smplx_motion": np.array(MOTION_FORMAT_VERSION, dtype=np.int64)}
    if motion.fps is not None:
        arrays["fps"] = np.array(motion.fps, dtype=np.float64)
    for name in ("betas", "expression", *_ROT_FIELDS, "transl", "cam"):
        v = getattr(p, name)
        if v is not None:
            arrays[name] = v.detach().cpu().to(torch.float32).numpy()
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    logger.debug("wrote %d motion frames to %s", len(motion), path)
    return path


# ----------------------------------------------------------------------------------------------
# resampling
# ----------------------------------------------------------------------------------------------


def _slerp(q0: Tensor, q1: Tensor, a: Tensor) -> Tensor:
    """Shortest-arc spherical interpolation of unit quaternions ``(..., 4)`` with weights ``a``."""
    dot = (q0 * q1).sum(-1, keepdim=True)
    q1 = torch.where(dot < 0, -q1, q1)
    dot = dot.abs().clamp(max=1.0)
    theta = torch.acos(dot)
    sin = torch.sin(theta)
    small = sin < 1e-6
    safe = torch.where(small, torch.ones_like(sin), sin)
    w0 = torch.where(small, 1 - a, torch.sin((1 - a) * theta) / safe)
    w1 = torch.where(small, a, torch.sin(a * theta) / safe)
    q = w0 * q0 + w1 * q1
    return q / q.norm(dim=-1, keepdim=True)


def resample(motion: Motion, fps: float, *, method: str = "slerp") -> Motion:
    """Resample ``motion`` to ``fps`` frames per second over the same time span.

    Output frame ``k`` sits at time ``k / fps`` for ``k = 0 .. floor(duration * fps)`` (the first
    source frame is kept; the last one is reached exactly when the rates divide).

    Args:
        motion: a :class:`Motion` with a known frame rate.
        fps: target frame rate.
        method: ``"slerp"`` (rotations along quaternion great arcs, other fields linear) or
            ``"nearest"`` (closest source frame, ties to the earlier one).

    Returns:
        A new :class:`Motion` at ``fps``.
    """
    if motion.fps is None:
        raise InputError(f"{motion.source or 'motion'}: the frame rate is unknown; pass the source rate (fps) when loading")
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise InputError(f"fps: expected a positive frame rate, found {fps!r}")
    if method not in ("slerp", "nearest"):
        raise InputError(f"method: expected 'slerp' or 'nearest', found {method!r}")
    T = len(motion)
    if abs(fps - motion.fps) < 1e-9 * motion.fps:
        return Motion(motion.params, float(fps), motion.source)
    n_out = math.floor((T - 1) / motion.fps * fps + 1e-9) + 1
    u = torch.arange(n_out, dtype=torch.float64) * (motion.fps / fps)  # source frame position
    u = u.clamp(max=T - 1)
    p = motion.params
    if method == "nearest":
        idx = torch.floor(u + 0.5 - 1e-9).long().clamp(0, T - 1)
        return Motion(p.index(idx), float(fps), motion.source)
    i0 = torch.floor(u).long().clamp(0, T - 1)
    i1 = (i0 + 1).clamp(max=T - 1)
    a64 = u - i0
    out: dict[str, Any] = {"frame": p.frame}
    for name in _ROT_FIELDS:
        r = getattr(p, name).to(torch.float64)
        q = matrix_to_quaternion(r)
        a = a64.view(-1, *([1] * (q.dim() - 1)))
        out[name] = quaternion_to_matrix(_slerp(q[i0], q[i1], a)).to(getattr(p, name).dtype)
    for name in _VEC_FIELDS:
        v = getattr(p, name)
        if v is None:
            out[name] = None
            continue
        a = a64.view(-1, 1).to(v.dtype)
        out[name] = v[i0] * (1 - a) + v[i1] * a
    return Motion(SmplxParams(**out), float(fps), motion.source)


# ----------------------------------------------------------------------------------------------
# bounds
# ----------------------------------------------------------------------------------------------


def estimate_animation(frames: int, vertices: int, fmt: str = "ply") -> tuple[int, float]:
    """Estimated ``(bytes, seconds)`` of writing ``frames`` meshes of ``vertices`` vertices as ``fmt``
    (``"ply"``, ``"glb"`` or ``"obj"``), from costs measured on an SMPL-X-sized body on CPU."""
    per_vertex = _BYTES_PER_VERTEX.get(str(fmt).lower().lstrip("."), max(_BYTES_PER_VERTEX.values()))
    return int(frames * vertices * per_vertex), frames * _SECONDS_PER_FRAME


def _human(nbytes: float, seconds: float) -> str:
    size = f"{nbytes / 1024**3:.1f} GB" if nbytes >= 1024**3 else f"{nbytes / 1024**2:.0f} MB"
    t = f"{seconds / 3600:.1f} h" if seconds >= 3600 else (f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s")
    return f"about {t} and {size}"


def check_frame_budget(frames: int, vertices: int, fmt: str = "ply", *, max_frames: int | None = None,
                       yes: bool = False, where: str = "motion") -> str:
    """Refuse an animation past the limits unless the caller raised them; return the estimate.

    Without ``max_frames`` the limits are :data:`MAX_FRAMES` frames and :data:`MAX_OUTPUT_BYTES`
    written; ``max_frames`` replaces both by that frame count; ``yes`` accepts any length.

    Args:
        frames: frames to write; vertices: vertices per mesh; fmt: mesh format.
        max_frames: the caller's frame limit (``--max-frames``); yes: accept any length (``--yes``).
        where: the motion's name for the message.

    Returns:
        The estimate as text (``"about 1.1 h and 44 GB"``).

    Raises:
        InputError: over the limit (the message gives the estimate and the options to go on).
    """
    if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1):
        raise InputError(f"max_frames: expected a positive integer, found {max_frames!r}")
    nbytes, seconds = estimate_animation(frames, vertices, fmt)
    text = _human(nbytes, seconds)
    if yes:
        return text
    if max_frames is not None:
        if frames > max_frames:
            raise InputError(f"{where}: {frames} frames to write ({text}), more than --max-frames {max_frames}; "
                             "subsample it (--every, --fps) or raise --max-frames")
        return text
    if frames > MAX_FRAMES or nbytes > MAX_OUTPUT_BYTES:
        raise InputError(
            f"{where}: {frames} frames to write ({text}), more than the limit of {MAX_FRAMES} frames or "
            f"{MAX_OUTPUT_BYTES / 1024**3:.0f} GB; pass --max-frames {frames} or --yes to go on, or subsample it "
            "(--every, --fps)")
    return text
