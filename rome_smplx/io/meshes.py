"""Mesh files: OBJ (with UVs, optionally textured: OBJ + MTL + PNG), PLY and GLB, written atomically.

Every format is written by hand:

* OBJ: exact control over ``v``/``vt``/``f v/vt`` ordering (DECA's ``head_template.obj`` layout relies
  on it). A textured OBJ is three files, ``NAME.obj``, ``NAME.mtl`` and ``NAME.png``, which appear
  together or not at all (:func:`write_textured_obj`).
* PLY (binary little-endian): positions, RGB vertex colours and an integer ``part`` label per vertex
  (:func:`write_ply`).
* GLB: :mod:`rome_smplx.io.gltf` (vertex colours or a PBR ``baseColorTexture``; rigged files too).

:func:`export_mesh` picks the writer from the extension (:data:`MESH_WRITERS`).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Optional

import numpy as np

from rome_smplx.errors import InputError
from rome_smplx.io.atomic import atomic_path

__all__ = ["MESH_FORMATS", "MESH_WRITERS", "export_mesh", "write_obj", "write_ply", "write_textured_obj"]

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


def _obj_text(verts, faces, uvs=None, uv_faces=None, *, vertex_colors=None, mtl: str | None = None) -> str:
    v = _as_np("verts", verts, 2, 3, np.float64)
    f = _as_np("faces", faces, 2, 3, np.int64)
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise InputError(f"faces: indices must lie in [0, {len(v)}), found [{f.min()}, {f.max()}]")
    if (uvs is None) != (uv_faces is None):
        raise InputError("write_obj: pass both uvs and uv_faces, or neither")
    lines = io.StringIO()
    if mtl is not None:
        lines.write(f"mtllib {mtl}\n")
    if vertex_colors is not None:
        c = _as_np("vertex_colors", vertex_colors, 2, 3, np.float64)
        if len(c) != len(v):
            raise InputError(f"vertex_colors: expected {len(v)} rows, found {len(c)}")
        for p, col in zip(v, c):
            lines.write(f"v {p[0]:.8g} {p[1]:.8g} {p[2]:.8g} {col[0]:.5g} {col[1]:.5g} {col[2]:.5g}\n")
    else:
        for p in v:
            lines.write(f"v {p[0]:.8g} {p[1]:.8g} {p[2]:.8g}\n")
    if mtl is not None:
        lines.write("usemtl material0\n")
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
    return lines.getvalue()


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
    text = _obj_text(verts, faces, uvs, uv_faces, vertex_colors=vertex_colors)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def _texture_uint8(texture) -> np.ndarray:
    """``(H, W, 3)`` uint8 from a uint8 array, a float array in [0, 1] or a ``(1, 3, H, W)`` tensor."""
    if hasattr(texture, "detach"):
        t = texture.detach().cpu().numpy()
        if t.ndim == 4 and t.shape[0] == 1:
            t = t[0]
        if t.ndim == 3 and t.shape[0] == 3:
            t = t.transpose(1, 2, 0)
    else:
        t = np.asarray(texture)
    if t.ndim != 3 or t.shape[2] != 3:
        raise InputError(f"texture: expected an RGB image (H, W, 3) or (1, 3, H, W), found shape {t.shape}")
    if t.dtype != np.uint8:
        if not np.isfinite(t).all():
            raise InputError("texture: contains NaN or inf values")
        t = (np.clip(t, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return t


def write_textured_obj(path: str | os.PathLike, verts, faces, uvs, uv_faces, texture) -> Path:
    """Write ``NAME.obj`` + ``NAME.mtl`` + ``NAME.png`` (an OBJ with its material and texture).

    The three files are written in a temporary folder beside ``path`` and moved into place together:
    after a failure none of them is there.

    Args:
        path: the ``.obj`` path (the ``.mtl`` and ``.png`` get the same stem).
        verts: (N, 3); faces: (F, 3); uvs: (U, 2) in [0, 1], v up; uv_faces: (F, 3).
        texture: (H, W, 3) uint8 (row 0 is v = 1), or a float image / ``(1, 3, H, W)`` tensor in [0, 1].

    Returns:
        The ``.obj`` path.
    """
    import shutil
    import tempfile

    from PIL import Image

    path = Path(path)
    if path.suffix.lower() != ".obj":
        raise InputError(f"{path}: a textured OBJ needs a .obj path")
    tex = _texture_uint8(texture)
    stem = path.stem
    text = _obj_text(verts, faces, uvs, uv_faces, mtl=f"{stem}.mtl")
    mtl = (f"newmtl material0\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\nNs 0\nillum 1\nd 1\nmap_Kd {stem}.png\n")
    targets = [path, path.with_suffix(".mtl"), path.with_suffix(".png")]
    for t in targets:
        if t.is_dir():
            raise InputError(f"{t}: expected a file path, found a directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    moved: list[Path] = []
    try:
        (tmp / targets[0].name).write_text(text, encoding="utf-8")
        (tmp / targets[1].name).write_text(mtl, encoding="utf-8")
        Image.fromarray(tex).save(tmp / targets[2].name, format="PNG")
        for t in targets:
            os.replace(tmp / t.name, t)
            moved.append(t)
    except BaseException:
        for t in moved:  # all or nothing
            t.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def write_ply(path: str | os.PathLike, verts, faces, *, vertex_colors=None, parts=None) -> Path:
    """Write a binary little-endian PLY with optional RGB vertex colours and integer part labels.

    Args:
        path: output ``.ply``.
        verts: (N, 3); faces: (F, 3).
        vertex_colors: optional (N, 3) in [0, 1] (stored as ``red green blue`` uchar).
        parts: optional (N,) integer labels (stored as the ``int part`` vertex property).

    Returns:
        The written path.
    """
    v = _as_np("verts", verts, 2, 3, np.float32)
    f = _as_np("faces", faces, 2, 3, np.int32)
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise InputError(f"faces: indices must lie in [0, {len(v)})")
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    header = ["ply", "format binary_little_endian 1.0", "comment written by rome-smplx", f"element vertex {len(v)}",
              "property float x", "property float y", "property float z"]
    cols = {}
    if vertex_colors is not None:
        c = _as_np("vertex_colors", vertex_colors, 2, 3, np.float64)
        if len(c) != len(v):
            raise InputError(f"vertex_colors: expected {len(v)} rows, found {len(c)}")
        cols["rgb"] = np.clip(np.round(c * 255), 0, 255).astype(np.uint8)
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
        header += ["property uchar red", "property uchar green", "property uchar blue"]
    if parts is not None:
        pa = parts.detach().cpu().numpy() if hasattr(parts, "detach") else np.asarray(parts)
        if pa.shape != (len(v),) or pa.dtype.kind not in "iu":
            raise InputError(f"parts: expected ({len(v)},) integer labels, found {pa.shape} {pa.dtype}")
        cols["part"] = pa.astype(np.int32)
        fields.append(("part", "<i4"))
        header.append("property int part")
    header += [f"element face {len(f)}", "property list uchar int vertex_indices", "end_header"]
    vert = np.zeros(len(v), dtype=fields)
    vert["x"], vert["y"], vert["z"] = v[:, 0], v[:, 1], v[:, 2]
    if "rgb" in cols:
        vert["red"], vert["green"], vert["blue"] = cols["rgb"].T
    if "part" in cols:
        vert["part"] = cols["part"]
    face = np.zeros(len(f), dtype=[("n", "u1"), ("i", "<i4", (3,))])
    face["n"] = 3
    face["i"] = f
    data = ("\n".join(header) + "\n").encode("ascii") + vert.tobytes() + face.tobytes()
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def _write_glb(path, verts, faces, *, vertex_colors=None, uvs=None, uv_faces=None, texture=None, parts=None):
    from rome_smplx.io.gltf import GltfMesh, write_glb

    v = _as_np("verts", verts, 2, 3, np.float64)
    f = _as_np("faces", faces, 2, 3, np.int64)
    tex = None if texture is None else _texture_uint8(texture)
    if tex is not None and uvs is None:
        raise InputError(f"{path}: a textured GLB needs uvs and uv_faces")
    colors = None if vertex_colors is None else _as_np("vertex_colors", vertex_colors, 2, 3, np.float64)
    return write_glb(path, GltfMesh(v, f, uvs=uvs if tex is not None else None,
                                    uv_faces=uv_faces if tex is not None else None, texture=tex,
                                    colors=colors if tex is None else None, name=Path(path).stem))


def _write_obj_any(path, verts, faces, *, vertex_colors=None, uvs=None, uv_faces=None, texture=None, parts=None):
    if texture is not None:
        if uvs is None:
            raise InputError(f"{path}: a textured OBJ needs uvs and uv_faces")
        return write_textured_obj(path, verts, faces, uvs, uv_faces, texture)
    return write_obj(path, verts, faces, uvs, uv_faces, vertex_colors=vertex_colors)


def _write_ply_any(path, verts, faces, *, vertex_colors=None, uvs=None, uv_faces=None, texture=None, parts=None):
    return write_ply(path, verts, faces, vertex_colors=vertex_colors, parts=parts)


#: Writer per extension: ``fn(path, verts, faces, *, vertex_colors, uvs, uv_faces, texture, parts)``.
MESH_WRITERS = {".obj": _write_obj_any, ".ply": _write_ply_any, ".glb": _write_glb}


def export_mesh(
    path: str | os.PathLike,
    verts,
    faces,
    *,
    vertex_colors=None,
    uvs=None,
    uv_faces=None,
    texture: Optional[np.ndarray] = None,
    parts=None,
) -> Path:
    """Export a mesh; the format follows the extension (:data:`MESH_WRITERS`: ``.obj``, ``.ply``, ``.glb``).

    Args:
        verts: (N, 3); faces: (F, 3); vertex_colors: optional (N, 3) in [0, 1].
        uvs, uv_faces: optional UV layout ((U, 2) in [0, 1], v up; (F, 3)).
        texture: optional (H, W, 3) uint8 image (row 0 is v = 1): a textured OBJ (+ MTL + PNG) or a GLB
            with a PBR ``baseColorTexture``; PLY has no texture and keeps the vertex colours.
        parts: optional (N,) integer part labels (PLY's ``part`` property).

    Returns:
        The written path.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in MESH_WRITERS:
        raise InputError(f"{path}: unsupported mesh format {ext!r}; expected one of {MESH_FORMATS}")
    return MESH_WRITERS[ext](path, verts, faces, vertex_colors=vertex_colors, uvs=uvs, uv_faces=uv_faces,
                             texture=texture, parts=parts)
