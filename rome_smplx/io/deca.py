"""DECA's code-dict format: read and write DECA code dicts as :class:`~rome_smplx.types.FlameParams`.

DECA's encoder (which ROME runs on every source and driver frame) predicts a code dict:
``shape (B, 100)`` (the first 100 FLAME identity components), ``exp (B, 50)`` (the first 50
expression components), ``pose (B, 6)`` axis-angle ``[global 3, jaw 3]``, ``cam (B, 3)``
weak-perspective ``[s, tx, ty]`` (project ``s * (xy + t)``, then negate y and z: FLAME's frame is
y up, facing +z), plus ``tex (B, 50)``, ``light (B, 9, 3)`` and ``detail (B, 128)`` that the
geometry does not use. Neck and eye rotations are fixed to identity.

Files: a pickle (read with the restricted unpickler), a ``.npz`` (no pickled objects) or a torch
``.pt``/``.pth`` file (``torch.load(weights_only=True)``). The batch dimension is optional.

It is the one reader and writer of DECA files. It sits in ``io`` so that lower layers (the synthetic
people) can use it; the public bridge :mod:`rome_smplx.bridges.deca` re-exports it.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rome_smplx.errors import AssetError, InputError
from rome_smplx.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from rome_smplx.io.atomic import atomic_path
from rome_smplx.io.pickle_safe import load_pickle
from rome_smplx.types import FlameParams

logger = logging.getLogger(__name__)

__all__ = ["MAX_EXPRESSION", "MAX_SHAPE", "from_codedict", "load", "save_codedict", "to_codedict"]

#: FLAME's largest identity / expression spaces (DECA uses the first 100 / 50).
MAX_SHAPE = 300
MAX_EXPRESSION = 100

_IGNORED = ("tex", "light", "detail", "images")


def _tensor(v: Any, key: str, where: str) -> Tensor:
    if isinstance(v, np.ndarray):
        if not np.issubdtype(v.dtype, np.number):
            raise InputError(f"{where}: key '{key}': expected numbers, found dtype {v.dtype}")
        v = torch.from_numpy(np.ascontiguousarray(v))
    if not isinstance(v, Tensor):
        raise InputError(f"{where}: key '{key}': expected an array or tensor, found {type(v).__name__}")
    if v.dtype == torch.bool or v.is_complex():
        raise InputError(f"{where}: key '{key}': expected real numbers, found dtype {v.dtype}")
    return v.to(torch.float32)


def from_codedict(code: Mapping[str, Any], *, where: str = "DECA code dict") -> FlameParams:
    """Build :class:`FlameParams` from a DECA code dict (arrays or tensors, batch dim optional).

    Args:
        code: ``shape (B, S)`` with S <= 300 (DECA: 100), ``exp (B, E)`` with E <= 100 (DECA: 50),
            ``pose (B, 6)`` axis-angle ``[global, jaw]``, optional ``cam (B, 3)``. Other keys
            (``tex``, ``light``, ``detail``, ...) are ignored. Without the batch dimension the
            shapes are ``(S,)``, ``(E,)``, ``(6,)``, ``(3,)``.
        where: name used in error messages.

    Returns:
        ``FlameParams`` with rotation matrices; neck and eyes identity.
    """
    missing = [k for k in ("shape", "exp", "pose") if k not in code]
    if missing:
        raise InputError(
            f"{where}: missing keys {missing}; a DECA code dict has 'shape' (1, 100), 'exp' (1, 50), "
            "'pose' (1, 6) and 'cam' (1, 3)"
        )
    t = {k: _tensor(code[k], k, where) for k in ("shape", "exp", "pose", "cam") if code.get(k) is not None}
    batched = t["pose"].dim() == 2
    spec = {"shape": (None, MAX_SHAPE, 100), "exp": (None, MAX_EXPRESSION, 50), "pose": (6, 6, 6), "cam": (3, 3, 3)}
    b = None
    for k, v in t.items():
        fixed, limit, deca = spec[k]
        want = f"(1, {deca})" if batched else f"({deca},)"
        if v.dim() != (2 if batched else 1):
            raise InputError(f"{where}: key '{k}': expected shape {want}, found {tuple(v.shape)}")
        n = v.shape[-1]
        if (fixed is not None and n != fixed) or n < 1 or n > limit:
            extra = "" if fixed is not None else f" (any length 1..{limit} is accepted)"
            raise InputError(f"{where}: key '{k}': expected shape {want}{extra}, found {tuple(v.shape)}")
        if not torch.isfinite(v).all():
            raise InputError(f"{where}: key '{k}': contains NaN or inf values")
        if not batched:
            v = v[None]
            t[k] = v
        if b is None:
            b = v.shape[0]
        elif v.shape[0] != b:
            raise InputError(f"{where}: key '{k}': batch size {v.shape[0]} differs from {b} (key 'shape')")
    pose = t["pose"]
    return FlameParams(
        shape=t["shape"],
        expression=t["exp"],
        global_rot=axis_angle_to_matrix(pose[:, :3]),
        jaw_rot=axis_angle_to_matrix(pose[:, 3:]),
        cam=t.get("cam"),
    )


def load(source: str | os.PathLike | Mapping[str, Any]) -> FlameParams:
    """Read a DECA code dict from a file (``.pkl``, ``.npz``, ``.pt``/``.pth``) or a dict.

    Args:
        source: path or in-memory dict.

    Returns:
        ``FlameParams`` (batched, float32).

    Raises:
        AssetError: the file is missing, unreadable, corrupt or refers to code.
        InputError: a key is missing or has the wrong shape (the message names file, key, shape).
    """
    if isinstance(source, Mapping):
        return from_codedict(source)
    path = Path(source)
    if not path.exists():
        raise AssetError("file not found (expected a DECA code dict: .pkl, .npz or .pt)", path=path)
    if path.is_dir():
        raise AssetError("expected a file, found a directory", path=path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                code: Any = {k: z[k] for k in z.files}
        except ValueError as e:
            raise AssetError(f"cannot read the .npz (object arrays are not accepted: {e})", path=path) from None
        except Exception as e:
            raise AssetError(f"cannot read as .npz ({type(e).__name__}: {e})", path=path) from None
    elif suffix in (".pt", ".pth"):
        try:
            code = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise AssetError(f"cannot read as a torch file ({type(e).__name__}: {e})", path=path) from None
    else:
        code = load_pickle(path)
    if not isinstance(code, Mapping):
        raise InputError(f"{path}: expected a dict with DECA codes, found {type(code).__name__}")
    return from_codedict(code, where=str(path))


def _is_identity(r: Tensor, atol: float = 1e-6) -> bool:
    return bool(torch.allclose(r, torch.eye(3, dtype=r.dtype, device=r.device).expand_as(r), atol=atol))


def to_codedict(flame: FlameParams) -> dict[str, np.ndarray]:
    """DECA code dict for ``flame``: float32 numpy arrays with batch dimension.

    Args:
        flame: ``FlameParams`` whose neck and eye rotations are identity (DECA has no field for
            them).

    Returns:
        ``{'shape': (B, S), 'exp': (B, E), 'pose': (B, 6), 'cam': (B, 3)}`` (``cam`` only if set).
    """
    if not isinstance(flame, FlameParams):
        raise InputError(f"flame: expected FlameParams, found {type(flame).__name__}")
    if not _is_identity(flame.neck_rot):
        raise InputError("FlameParams.neck_rot: a DECA code dict stores no neck rotation; expected identity")
    if not _is_identity(flame.eye_rots):
        raise InputError("FlameParams.eye_rots: a DECA code dict stores no eye rotations; expected identity")
    pose = torch.cat([matrix_to_axis_angle(flame.global_rot), matrix_to_axis_angle(flame.jaw_rot)], -1)

    def arr(t: Tensor) -> np.ndarray:
        return t.detach().cpu().to(torch.float32).numpy()

    out = {"shape": arr(flame.shape), "exp": arr(flame.expression), "pose": arr(pose)}
    if flame.cam is not None:
        out["cam"] = arr(flame.cam)
    return out


def save_codedict(path: str | os.PathLike, flame: FlameParams, *, extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``flame`` as a DECA code-dict pickle (protocol 2, float32 arrays), atomically.

    Args:
        path: output file.
        flame: ``FlameParams`` (neck/eyes identity).
        extra: optional additional arrays (e.g. ``tex``, ``light``), stored as float32.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    code: dict[str, Any] = to_codedict(flame)
    for k, v in (extra or {}).items():
        if k in code:
            raise InputError(f"extra: key '{k}' would overwrite a FLAME code")
        v = v.detach().cpu().numpy() if isinstance(v, Tensor) else np.asarray(v)
        code[k] = v.astype(np.float32)
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        pickle.dump(code, f, protocol=2)
    logger.debug("wrote DECA codes to %s", path)
    return path
