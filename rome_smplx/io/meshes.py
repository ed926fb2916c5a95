"""Mesh files: OBJ (with UVs), PLY and GLB, written atomically.

OBJ is written by hand (exact control over ``v``/``vt``/``f v/vt`` ordering, which DECA's
``head_template.obj`` layout relies on); PLY and GLB go through trimesh.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Optional

import numpy as np

from rome_smplx.errors import InputError
from rome_smplx.io.atomic import atomic_path

__all__ = ["write_obj", "export_mesh", "MESH_FORMATS"]

MESH_FORMATS = (".obj", ".ply", ".glb")


def _as_np(name: str, a, dims: int, cols: int, dtype) -> np.ndarray:
    if hasattr(a, "detach"):  # torch.Tensor
        a = a.detach().cpu().numpy()
    arr = np.asarray(a)
    if arr.ndim != dims or arr.shape[-1] != cols:
        raise InputError(f"{name}: expected shape (N, {cols}), found {arr.shape}")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise InputError(f"{name}: contains NaN or inf values")
    return arr.astype(dtype)


def write_obj(
    path: str | os.PathLike,
    verts,
    faces,
    uvs=None,
    uv_faces=None,
    *,
    vertex_colors=None,
) -> Path:
    """Write a triangle mesh as Wavefront OBJ (atomically).

    Args:
        path: output ``.obj`` path.
        verts: (N, 3) positions; faces: (F, 3) 0-based vertex indices.
        uvs: (U, 2) texture coordinates in [0, 1] (OBJ convention, v up) and
        uv_faces: (F, 3) 0-based indices into ``uvs`` (both or neither).
        vertex_colors: optional (N, 3) RGB in [0, 1], written as ``v x y z r g b``.

    Returns:
        The written path.
    """
    v = _as_np("verts", verts, 2, 3, np.float64)
    f = _as_np("faces", faces, 2, 3, np.int64)
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise InputError(f"faces: indices must lie in [0, {len(v)}), found [{f.min()}, {f.max()}]")
    if (uvs is None) != (uv_faces is None):
        raise InputError("write_obj: pass both uvs and uv_faces, or neither")
    lines = io.StringIO()
    if vertex_colors is not None:
        c = _as_np("vertex_colors", vertex_colors, 2, 3, np.float64)
        if len(c) != len(v):
            raise InputError(f"vertex_colors: expected {len(v)} rows, found {len(c)}")
        for p, col in zip(v, c):
            lines.write(f"v {p[0]:.8g} {p[1]:.8g} {p[2]:.8g} {col[0]:.5g} {col[1]:.5g} {col[2]:.5g}\n")
    else:
        for p in v:
            lines.write(f"v {p[0]:.8g} {p[1]:.8g} {p[2]:.8g}\n")
    if uvs is not None:
        t = _as_np("uvs", uvs, 2, 2, np.float64)
        ft = _as_np("uv_faces", uv_faces, 2, 3, np.int64)
        if ft.shape != f.shape:
            raise InputError(f"uv_faces: expected shape {f.shape} (one per face), found {ft.shape}")
        if ft.size and (ft.min() < 0 or ft.max() >= len(t)):
            raise InputError(f"uv_faces: indices must lie in [0, {len(t)})")
        for q in t:
            lines.write(f"vt {q[0]:.8g} {q[1]:.8g}\n")
        for a, b in zip(f + 1, ft + 1):
            lines.write(f"f {a[0]}/{b[0]} {a[1]}/{b[1]} {a[2]}/{b[2]}\n")
    else:
        for a in f + 1:
            lines.write(f"f {a[0]} {a[1]} {a[2]}\n")
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(lines.getvalue(), encoding="utf-8")
    return path


def export_mesh(
    path: str | os.PathLike,
    verts,
    faces,
    *,
    vertex_colors=None,
    uvs=None,
    uv_faces=None,
    texture: Optional[np.ndarray] = None,
) -> Path:
    """Export a mesh; the format follows the extension (``.obj``, ``.ply``, ``.glb``).

    Args:
        verts: (N, 3); faces: (F, 3); vertex_colors: optional (N, 3) in [0, 1].
        uvs, uv_faces: optional UV layout (OBJ only); texture: optional (H, W, 3) uint8 image
            embedded in GLB when ``uvs`` are per-vertex (U == N).

    Returns:
        The written path.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in MESH_FORMATS:
        raise InputError(f"{path}: unsupported mesh format {ext!r}; expected one of {MESH_FORMATS}")
    if ext == ".obj":
        return write_obj(path, verts, faces, uvs, uv_faces, vertex_colors=vertex_colors)
    import trimesh

    v = _as_np("verts", verts, 2, 3, np.float64)
    f = _as_np("faces", faces, 2, 3, np.int64)
    kwargs = {}
    if texture is not None and uvs is not None:
        uv = _as_np("uvs", uvs, 2, 2, np.float64)
        if len(uv) != len(v):
            raise InputError(f"uvs: a textured {ext} needs per-vertex UVs ({len(v)}), found {len(uv)}")
        from PIL import Image

        kwargs["visual"] = trimesh.visual.TextureVisuals(uv=uv, image=Image.fromarray(np.asarray(texture, np.uint8)))
    elif vertex_colors is not None:
        c = _as_np("vertex_colors", vertex_colors, 2, 3, np.float64)
        kwargs["vertex_colors"] = np.clip(np.round(c * 255), 0, 255).astype(np.uint8)
    mesh = trimesh.Trimesh(vertices=v, faces=f, process=False, **kwargs)
    data = mesh.export(file_type=ext[1:])
    with atomic_path(path) as tmp:
        tmp.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path
