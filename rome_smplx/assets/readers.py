"""Readers for the file formats of the asset folder. Every failure is an :class:`AssetError`.

* model files (``.npz`` / ``.pkl``) -> ``dict`` of arrays (restricted unpickler, chumpy-free);
* index lists (``.pkl``) -> 1-D int64 ndarray;
* tensors saved with ``torch.save`` (``.pth`` / ``.pt``) -> ndarray, read with ``weights_only=True``;
* network checkpoints: only a header check (zip archive with a ``data.pkl`` record, or the legacy
  pickle magic), so large weights are not loaded by ``assets check``.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from rome_smplx.errors import AssetError
from rome_smplx.io.pickle_safe import (
    _read_bytes,
    check_file,
    load_npy,
    loads_restricted,
)


def read_model_file(path: str | Path) -> dict[str, Any]:
    """Read a SMPL-X / FLAME model file (``.npz`` or ``.pkl``) into a dict of arrays.

    The format is taken from the file content (zip -> npz, else pickle), not from the extension; a
    mismatch between the two is reported.
    """
    path = Path(path)
    data = _read_bytes(path)
    is_zip = data[:4] == b"PK\x03\x04"
    if path.suffix == ".npz" and not is_zip:
        raise AssetError("has the .npz extension but is not a zip (.npz) archive", path=path)
    if is_zip:
        obj = load_npy(path)
    else:
        obj = loads_restricted(data, path)
    if not isinstance(obj, dict):
        raise AssetError(f"expected a dict of arrays, found a {type(obj).__name__}", path=path)
    return {str(k): v for k, v in obj.items()}


def read_pickle_any(path: str | Path) -> Any:
    """Read any restricted pickle (``.pkl``) file."""
    path = Path(path)
    return loads_restricted(_read_bytes(path), path)


def read_index_list(path: str | Path) -> np.ndarray:
    """Read a pickled list / array of vertex indices (ROME's ``*_list.pkl``) as 1-D int64."""
    path = Path(path)
    obj = read_pickle_any(path)
    return as_index_array(obj, path)


def as_index_array(obj: Any, where: str | Path) -> np.ndarray:
    """Convert a list / ndarray / tensor of integers to a 1-D int64 ndarray, or raise."""
    try:
        arr = to_numpy(obj)
    except AssetError:
        raise
    except Exception as e:
        raise AssetError(f"expected a list of integer indices ({type(e).__name__}: {e})", path=where) from None
    if arr.ndim != 1:
        raise AssetError(f"expected a 1-D list of indices, found shape {arr.shape}", path=where)
    if arr.dtype.kind not in "iu":
        raise AssetError(f"expected integer indices, found dtype {arr.dtype}", path=where)
    return arr.astype(np.int64)


def to_numpy(obj: Any) -> np.ndarray:
    """ndarray of ``obj`` (ndarray, tensor, list of numbers / arrays). Raises ValueError/TypeError."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().numpy()
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(o, torch.Tensor) for o in obj):
        return torch.stack(list(obj)).detach().cpu().numpy()
    arr = np.asarray(obj)
    if arr.dtype == object:
        raise TypeError(f"found objects of type {type(arr.flat[0]).__name__ if arr.size else 'object'}")
    return arr


def read_tensor_file(path: str | Path) -> np.ndarray:
    """Read a tensor saved with ``torch.save`` (``weights_only=True``) as an ndarray."""
    import torch

    path = Path(path)
    data = _read_bytes(path)
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError, RuntimeError (bad zip), EOFError, ...
        from rome_smplx.io.checkpoints import _unpickler_detail

        msg = _unpickler_detail(str(e)) if str(e) else ""
        raise AssetError(
            "not a readable torch tensor file: truncated, corrupt, not saved with torch.save, or holding "
            f"objects other than tensors (refused, never executed; {type(e).__name__}: {msg})",
            path=path,
        ) from None
    if not isinstance(obj, torch.Tensor):
        raise AssetError(f"expected a tensor saved with torch.save, found a {type(obj).__name__}", path=path)
    return obj.detach().cpu().numpy()


def check_checkpoint_header(path: str | Path) -> None:
    """Cheap readability check of a ``torch.save`` checkpoint without loading it.

    Accepts the zip format (with a ``*/data.pkl`` record) and the legacy pickle format (protocol 2
    pickle start). Raises :class:`AssetError` otherwise.
    """
    path = Path(path)
    check_file(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
        if head == b"PK\x03\x04":
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
            if not any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
                raise AssetError("zip archive without a data.pkl record: not a torch.save checkpoint", path=path)
            return
        if head[:1] == b"\x80":
            return
    except AssetError:
        raise
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as e:
        raise AssetError(f"not a readable torch checkpoint ({type(e).__name__}: {e})", path=path) from None
    raise AssetError(f"not a torch checkpoint (starts with bytes {head!r})", path=path)


__all__ = [
    "as_index_array",
    "check_checkpoint_header",
    "check_file",
    "load_npy_any",
    "read_index_list",
    "read_model_file",
    "read_pickle_any",
    "read_tensor_file",
    "to_numpy",
]


def load_npy_any(path: str | Path) -> Any:
    """``.npy`` / ``.npz`` content through the restricted reader (see :func:`rome_smplx.io.pickle_safe.load_npy`)."""
    return load_npy(path)


def read_obj_uvs(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read the UV layout of a Wavefront OBJ: ``vt`` (U, 2) float32 in [0, 1] and the UV face
    indices (F, 3) int64 (0-based) of its triangles ``f v/vt ...``.

    Raises:
        AssetError: unreadable file, no ``vt`` lines, non-triangular faces or bad indices.
    """
    path = Path(path)
    check_file(path)
    vts: list[tuple[float, float]] = []
    fts: list[tuple[int, int, int]] = []
    try:
        with open(path, encoding="utf-8", errors="strict") as fh:
            for lineno, line in enumerate(fh, 1):
                if line.startswith("vt "):
                    parts = line.split()
                    vts.append((float(parts[1]), float(parts[2])))
                elif line.startswith("f "):
                    corners = line.split()[1:]
                    if len(corners) != 3:
                        raise AssetError(f"line {lineno}: expected a triangle, found {len(corners)} corners", path=path)
                    idx = []
                    for c in corners:
                        fields = c.split("/")
                        if len(fields) < 2 or not fields[1]:
                            raise AssetError(f"line {lineno}: face corner {c!r} has no UV index (expected v/vt)", path=path)
                        idx.append(int(fields[1]) - 1)
                    fts.append(tuple(idx))
    except (UnicodeDecodeError, ValueError, IndexError) as e:
        raise AssetError(f"not a readable OBJ file ({type(e).__name__}: {e})", path=path) from None
    if not vts:
        raise AssetError("no 'vt' (UV) lines found; expected DECA's head_template.obj with a UV layout", path=path)
    uv = np.asarray(vts, dtype=np.float32)
    ft = np.asarray(fts, dtype=np.int64).reshape(-1, 3)
    if not np.isfinite(uv).all():
        raise AssetError("UV coordinates contain NaN or inf", path=path)
    if ft.size and (ft.min() < 0 or ft.max() >= len(uv)):
        raise AssetError(f"UV face indices outside [1, {len(uv)}]", path=path)
    return uv, ft
