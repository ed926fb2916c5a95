"""glTF 2.0 binary (GLB) files: textured meshes and rigged, animated SMPL-X-style avatars.

Written by hand (JSON + one binary buffer), atomically; nothing here needs a 3D library. The layout
follows what glTF viewers, Blender and the Khronos validator expect:

* **Frame and units:** glTF is y-up, metres, right-handed, as SMPL-X and FLAME are; coordinates are
  written unchanged.
* **Vertices** are split where the UV layout has seams (one glTF vertex per distinct (vertex, UV)
  pair). The attribute ``_SOURCE_VERTEX`` keeps each glTF vertex's index in the source mesh, and
  ``mesh.extras.source_vertex_count`` its vertex count, so the file maps back exactly.
* **Texture:** ``TEXCOORD_0 = (u, 1 - v)`` of the OBJ-style ``vt`` (glTF's origin is the top-left of
  the image); the image is embedded as PNG and bound as the PBR ``baseColorTexture``.
* **Skin:** one node per joint (named, in the model's joint order), parented like the kinematic tree,
  with rest translations ``J[j] - J[parent[j]]``; one skin whose inverse bind matrices are
  ``translate(-J[j])`` (the rest pose has identity joint rotations). ``JOINTS_0`` / ``WEIGHTS_0`` hold
  the 4 largest weights of each vertex, renormalised to sum to 1 (:func:`top_k_weights`). glTF's
  skinning, ``v' = sum_j w_j (G_j IBM_j) v``, is then SMPL-X's linear blend skinning.
* **Morph targets** (named in ``mesh.extras.targetNames``, which Blender reads as shape-key names)
  are vertex offsets in the rest pose, applied before skinning, as SMPL-X's blend shapes are. Targets
  that move few vertices are stored as sparse accessors.
* **Animation:** per frame, every joint's local rotation, the root node's translation and the morph
  weights, linearly interpolated (rotations as unit quaternions, sign-continuous).

What a plain glTF viewer cannot reproduce of SMPL-X (and what this writer does about it):

1. Pose correctives (``posedirs``): SMPL-X adds offsets that depend on the joint rotations. A viewer
   only has morph targets with animated weights, so :func:`bake_pose_correctives` stores the
   correctives of the animated frames as a few principal morph targets with per-frame weights; a new
   pose not in the animation gets no correctives.
2. Joint positions that move with the blend shapes: SMPL-X regresses its joints from the shaped
   mesh, so an expression also moves the jaw and eye joints a little; glTF joints are fixed.
   :func:`expression_joint_error` measures the effect.
3. More than 4 weights per vertex (the truncation error is reported by :func:`truncation_error`).
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from rome_smplx.errors import InputError
from rome_smplx.io.atomic import atomic_path

logger = logging.getLogger(__name__)

__all__ = [
    "GltfAnimation",
    "GltfMesh",
    "GltfSkeleton",
    "bake_pose_correctives",
    "expression_joint_error",
    "matrix_to_quaternion_np",
    "pose_correctives",
    "skin_vertices",
    "split_uv_seams",
    "top_k_weights",
    "truncation_error",
    "write_glb",
]

_FLOAT, _UBYTE, _USHORT, _UINT = 5126, 5121, 5123, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_NCOMP = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}
_NP = {_FLOAT: np.float32, _UBYTE: np.uint8, _USHORT: np.uint16, _UINT: np.uint32}
#: A morph target is stored sparse when it moves fewer than this fraction of the vertices.
SPARSE_FRACTION = 0.6
GENERATOR = "rome-smplx"
#: Most (frame, vertex) pairs :func:`skin_vertices` blends at once (their 3 x 4 float64 matrices: ~25 MB).
SKIN_CHUNK = 1 << 18
#: Columns of ``posedirs`` :func:`pose_correctives` converts to float64 at once (~16 MB for SMPL-X).
CORRECTIVE_COLUMNS = 4096


# ----------------------------------------------------------------------------------------- inputs
@dataclass
class GltfMesh:
    """A triangle mesh for :func:`write_glb` (numpy arrays, source vertex order).

    Attributes:
        vertices: ``(V, 3)`` rest positions (y up, metres).
        faces: ``(F, 3)`` vertex indices.
        uvs: optional ``(U, 2)`` OBJ-style UVs (v up) with ``uv_faces`` ``(F, 3)``.
        texture: optional ``(S, S, 3)`` uint8 base colour image (needs ``uvs``).
        colors: optional ``(V, 3)`` vertex colours in [0, 1] (``COLOR_0``).
        morph_targets: name -> ``(V, 3)`` offsets from ``vertices`` (in order).
        morph_weights: optional default weights ``(M,)`` of the targets.
        name: mesh name.
        extras: JSON-serialisable metadata stored in ``mesh.extras``.
    """

    vertices: np.ndarray
    faces: np.ndarray
    uvs: Optional[np.ndarray] = None
    uv_faces: Optional[np.ndarray] = None
    texture: Optional[np.ndarray] = None
    colors: Optional[np.ndarray] = None
    morph_targets: dict = field(default_factory=dict)
    morph_weights: Optional[np.ndarray] = None
    name: str = "mesh"
    extras: dict = field(default_factory=dict)


@dataclass
class GltfSkeleton:
    """A joint hierarchy with skinning weights.

    Attributes:
        names: ``J`` joint names (node names).
        parents: ``(J,)`` parent index, ``-1`` for the root (joint 0); parents come before children.
        joints: ``(J, 3)`` rest joint positions.
        weights: ``(V, J)`` skinning weights of the mesh's vertices (rows sum to 1).
        pose: optional ``(J, 3, 3)`` local rotations of the static pose the nodes show (default rest).
        translation: optional ``(3,)`` root translation of that pose (added to ``joints[0]``).
        influences: weights kept per vertex (glTF's ``JOINTS_0`` / ``WEIGHTS_0``: 4).
    """

    names: Sequence[str]
    parents: np.ndarray
    joints: np.ndarray
    weights: np.ndarray
    pose: Optional[np.ndarray] = None
    translation: Optional[np.ndarray] = None
    influences: int = 4


@dataclass
class GltfAnimation:
    """Per-frame joint rotations, root translation and morph weights.

    Attributes:
        rotations: ``(T, J, 3, 3)`` local joint rotations.
        translation: optional ``(T, 3)`` root translation (added to the root's rest position).
        morph_weights: optional ``(T, M)`` weights of the mesh's morph targets, in their order.
        fps: frames per second.
        name: animation name.
    """

    rotations: np.ndarray
    translation: Optional[np.ndarray] = None
    morph_weights: Optional[np.ndarray] = None
    fps: float = 30.0
    name: str = "motion"


# -------------------------------------------------------------------------------------- skinning
def top_k_weights(weights: np.ndarray, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest weights of each vertex, renormalised to sum to 1 exactly in float32.

    Args:
        weights: ``(V, J)`` non-negative weights.
        k: influences kept (glTF's ``JOINTS_0``/``WEIGHTS_0``: 4).

    Returns:
        ``(joints (V, k) int64, weights (V, k) float32)``, largest first; unused slots have weight 0
        and joint 0.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or (w < -1e-6).any():
        raise InputError(f"weights: expected non-negative (V, J) weights, found shape {w.shape}")
    k = min(int(k), w.shape[1])
    idx = np.argsort(-w, axis=1, kind="stable")[:, :k]
    top = np.take_along_axis(w, idx, axis=1).clip(min=0.0)
    total = top.sum(1, keepdims=True)
    if (total <= 0).any():
        raise InputError(f"weights: {int((total <= 0).sum())} vertices have no positive weight")
    top = (top / total).astype(np.float32)
    idx = np.where(top > 0, idx, 0)
    # make each row sum to 1 in float32: the largest weight takes the rounding
    top[:, 0] = np.float32(1.0) - top[:, 1:].sum(1, dtype=np.float32)
    return idx.astype(np.int64), top


def _world_transforms(joints: np.ndarray, parents: np.ndarray, rotations: np.ndarray,
                      translation: np.ndarray | None) -> np.ndarray:
    """``(T, J, 4, 4)`` skinning matrices ``G_j translate(-J_j)`` of ``(T, J, 3, 3)`` local rotations."""
    T, J = rotations.shape[:2]
    G = np.zeros((T, J, 4, 4))
    for j in range(J):
        local = np.zeros((T, 4, 4))
        local[:, :3, :3] = rotations[:, j]
        local[:, 3, 3] = 1.0
        p = parents[j]
        local[:, :3, 3] = joints[j] - (joints[p] if p >= 0 else 0.0)
        if p < 0 and translation is not None:
            local[:, :3, 3] += translation
        G[:, j] = local if p < 0 else G[:, p] @ local
    A = G.copy()
    A[:, :, :3, 3] -= np.einsum("tjab,jb->tja", G[:, :, :3, :3], joints)
    return A


def skin_vertices(
    vertices: np.ndarray,
    joints: np.ndarray,
    parents: np.ndarray,
    weights: np.ndarray,
    rotations: np.ndarray,
    translation: np.ndarray | None = None,
    joint_index: np.ndarray | None = None,
) -> np.ndarray:
    """Linear blend skinning, glTF's and SMPL-X's (without correctives).

    Frames are skinned a few at a time (at most :data:`SKIN_CHUNK` (frame, vertex) pairs), so the
    per-vertex blend matrices never exist for the whole sequence at once.

    Args:
        vertices: ``(V, 3)`` rest vertices (or ``(T, V, 3)``, e.g. with per-frame morph offsets).
        joints: ``(J, 3)`` rest joints; parents: ``(J,)``.
        weights: ``(V, J)`` dense weights, or ``(V, K)`` with ``joint_index`` ``(V, K)``.
        rotations: ``(T, J, 3, 3)`` local rotations; translation: optional ``(T, 3)`` root translation.

    Returns:
        ``(T, V, 3)`` posed vertices (float64).
    """
    A = _world_transforms(np.asarray(joints, np.float64), np.asarray(parents), np.asarray(rotations, np.float64),
                          None if translation is None else np.asarray(translation, np.float64))[:, :, :3, :]
    v = np.asarray(vertices)
    w = np.asarray(weights, np.float64)
    T, V = A.shape[0], v.shape[-2]
    ji = None if joint_index is None else np.asarray(joint_index)
    out = np.empty((T, V, 3))
    step = max(1, SKIN_CHUNK // max(V, 1))
    for t0 in range(0, T, step):
        At = A[t0:t0 + step]
        vt = np.asarray(v[t0:t0 + step] if v.ndim == 3 else v[None], np.float64)
        if ji is None:
            M = np.einsum("vj,tjab->tvab", w, At)  # (t, V, 3, 4)
        else:  # K gathered (t, V, 3, 4) blocks, summed in slot order
            M = w[None, :, 0, None, None] * At[:, ji[:, 0]]
            for k in range(1, ji.shape[1]):
                M += w[None, :, k, None, None] * At[:, ji[:, k]]
        out[t0:t0 + step] = np.einsum("tvab,tvb->tva", M[..., :3], vt) + M[..., 3]
    return out


def truncation_error(
    vertices: np.ndarray, joints: np.ndarray, parents: np.ndarray, weights: np.ndarray,
    rotations: np.ndarray, k: int = 4,
) -> float:
    """Largest vertex distance (metres) between full-weight and top-``k`` skinning over ``rotations``
    ``(T, J, 3, 3)``."""
    idx, w = top_k_weights(weights, k)
    full = skin_vertices(vertices, joints, parents, weights, rotations)
    cut = skin_vertices(vertices, joints, parents, w, rotations, joint_index=idx)
    return float(np.linalg.norm(full - cut, axis=-1).max())


def pose_correctives(posedirs: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """SMPL-X's pose corrective offsets ``(T, V, 3)``: ``((R_j - I) for j >= 1) @ posedirs``.

    Computed in float64 whatever ``posedirs``' dtype, a block of :data:`CORRECTIVE_COLUMNS` columns at
    a time (a float64 copy of SMPL-X's posedirs alone is 120 MB).

    Args:
        posedirs: ``(9 (J - 1), 3 V)`` as smplx stores it.
        rotations: ``(T, J, 3, 3)``.
    """
    R = np.asarray(rotations, np.float64)
    feat = (R[:, 1:] - np.eye(3)).reshape(R.shape[0], -1)
    P = np.asarray(posedirs)
    if P.ndim != 2 or P.shape[0] != feat.shape[1]:
        raise InputError(f"posedirs: expected {feat.shape[1]} rows (9 x {R.shape[1] - 1} joints), found "
                         f"{P.shape[0] if P.ndim else P.shape}")
    out = np.empty((R.shape[0], P.shape[1]))
    for c in range(0, P.shape[1], CORRECTIVE_COLUMNS):
        out[:, c:c + CORRECTIVE_COLUMNS] = feat @ np.asarray(P[:, c:c + CORRECTIVE_COLUMNS], np.float64)
    return out.reshape(R.shape[0], -1, 3)


def bake_pose_correctives(
    correctives: np.ndarray, max_targets: int = 16, tolerance: float = 1e-4
) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-frame corrective offsets as a few morph targets with per-frame weights (principal components).

    Args:
        correctives: ``(T, V, 3)`` offsets (:func:`pose_correctives` of the animated frames).
        max_targets: most morph targets to use.
        tolerance: stop adding components when the largest vertex error is below it (metres).

    Returns:
        ``(targets (K, V, 3), weights (T, K), max_error)``: ``weights @ targets`` reproduces the
        correctives within ``max_error`` metres (``K = 0`` when they are all zero).
    """
    C = np.asarray(correctives, np.float64)
    T = C.shape[0]
    X = C.reshape(T, -1)
    if not np.abs(X).max(initial=0.0) > 0:
        return np.zeros((0,) + C.shape[1:]), np.zeros((T, 0)), 0.0
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    best = None
    for K in range(1, min(max_targets, len(s)) + 1):
        W = U[:, :K] * s[:K]
        err = float(np.linalg.norm((X - W @ Vt[:K]).reshape(T, -1, 3), axis=-1).max())
        best = (K, W, err)
        if err <= tolerance:
            break
    K, W, err = best
    # unit-range weights: scale each target by its largest |weight|
    scale = np.abs(W).max(0).clip(min=1e-12)
    return (Vt[:K] * scale[:, None]).reshape(K, -1, 3), W / scale, err


def expression_joint_error(
    vertices: np.ndarray, joints: np.ndarray, parents: np.ndarray, weights: np.ndarray,
    expr_dirs: np.ndarray, joint_expr_dirs: np.ndarray, expressions: np.ndarray, rotations: np.ndarray,
) -> float:
    """Largest vertex distance (metres) caused by keeping the joints fixed under expressions.

    SMPL-X regresses the joints from the mesh with the expression applied, so an expression moves the
    jaw and eye joints a little; a glTF skeleton keeps its rest joints. Compares both over the frames
    of ``expressions`` ``(T, E)`` and ``rotations`` ``(T, J, 3, 3)``.

    Args:
        vertices: ``(V, 3)`` rest template; joints: ``(J, 3)`` its joints; parents, weights ``(V, J)``.
        expr_dirs: ``(V, 3, E)`` expression directions; joint_expr_dirs: ``(J, 3, E)`` the joints' ones.
    """
    E = np.asarray(expressions, np.float64)
    n = E.shape[1]
    v = np.asarray(vertices, np.float64)[None] + np.einsum("vce,te->tvc", np.asarray(expr_dirs)[..., :n], E)
    J0 = np.asarray(joints, np.float64)
    dJ = np.einsum("jce,te->tjc", np.asarray(joint_expr_dirs, np.float64)[..., :n], E)
    R = np.asarray(rotations, np.float64)
    fixed = skin_vertices(v, J0, parents, weights, R)
    worst = 0.0
    for t in range(v.shape[0]):
        moved = skin_vertices(v[t], J0 + dJ[t], parents, weights, R[t:t + 1])[0]
        worst = max(worst, float(np.linalg.norm(moved - fixed[t], axis=-1).max()))
    return worst


def matrix_to_quaternion_np(R: np.ndarray) -> np.ndarray:
    """``(..., 3, 3)`` rotation matrices -> ``(..., 4)`` unit quaternions ``(x, y, z, w)`` (glTF order)."""
    R = np.asarray(R, np.float64)
    m = R.reshape(-1, 3, 3)
    q = np.zeros((m.shape[0], 4))
    tr = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    cands = np.stack([
        np.stack([m[:, 2, 1] - m[:, 1, 2], m[:, 0, 2] - m[:, 2, 0], m[:, 1, 0] - m[:, 0, 1], 1 + tr], -1),
        np.stack([1 + m[:, 0, 0] - m[:, 1, 1] - m[:, 2, 2], m[:, 0, 1] + m[:, 1, 0], m[:, 0, 2] + m[:, 2, 0],
                  m[:, 2, 1] - m[:, 1, 2]], -1),
        np.stack([m[:, 0, 1] + m[:, 1, 0], 1 - m[:, 0, 0] + m[:, 1, 1] - m[:, 2, 2], m[:, 1, 2] + m[:, 2, 1],
                  m[:, 0, 2] - m[:, 2, 0]], -1),
        np.stack([m[:, 0, 2] + m[:, 2, 0], m[:, 1, 2] + m[:, 2, 1], 1 - m[:, 0, 0] - m[:, 1, 1] + m[:, 2, 2],
                  m[:, 1, 0] - m[:, 0, 1]], -1),
    ], 1)  # (N, 4 candidates, 4); pick the best-conditioned one
    diag = np.stack([1 + tr, 1 + m[:, 0, 0] - m[:, 1, 1] - m[:, 2, 2], 1 - m[:, 0, 0] + m[:, 1, 1] - m[:, 2, 2],
                     1 - m[:, 0, 0] - m[:, 1, 1] + m[:, 2, 2]], -1)
    q = cands[np.arange(len(m)), diag.argmax(-1)]
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    q = np.where(q[:, 3:4] < 0, -q, q)
    return q.reshape(R.shape[:-2] + (4,))


# ----------------------------------------------------------------------------------------- seams
def split_uv_seams(faces: np.ndarray, uv_faces: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """One output vertex per distinct (vertex, UV vertex) pair of the face corners.

    Args:
        faces: ``(F, 3)``; uv_faces: ``(F, 3)`` or ``None`` (no split).

    Returns:
        ``(source_vertex (N,), source_uv (N,) or None, new_faces (F, 3))``, ordered by source vertex.
    """
    f = np.asarray(faces, np.int64)
    if uv_faces is None:
        n = int(f.max()) + 1 if f.size else 0
        return np.arange(n), None, f
    ft = np.asarray(uv_faces, np.int64)
    if ft.shape != f.shape:
        raise InputError(f"uv_faces: expected shape {f.shape} (one UV triangle per face), found {ft.shape}")
    nu = int(ft.max()) + 1
    key = f.reshape(-1) * nu + ft.reshape(-1)
    uniq, inv = np.unique(key, return_inverse=True)
    return uniq // nu, uniq % nu, inv.reshape(f.shape).astype(np.int64)


# ----------------------------------------------------------------------------------------- writer
class _Doc:
    """Accumulates buffer views / accessors of one binary buffer."""

    def __init__(self) -> None:
        self.bin = bytearray()
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def view(self, data: bytes, target: int | None = None) -> int:
        pad = (-len(self.bin)) % 4
        self.bin.extend(b"\0" * pad)
        v = {"buffer": 0, "byteOffset": len(self.bin), "byteLength": len(data)}
        if target is not None:
            v["target"] = target
        self.bin.extend(data)
        self.views.append(v)
        return len(self.views) - 1

    def accessor(self, array: np.ndarray, kind: str, ctype: int, *, target: int | None = None,
                 minmax: bool = False, normalized: bool = False) -> int:
        a = np.ascontiguousarray(np.asarray(array).astype(_NP[ctype]))
        count = a.shape[0]
        acc = {"bufferView": self.view(a.tobytes(), target), "componentType": ctype, "count": int(count),
               "type": kind}
        if normalized:
            acc["normalized"] = True
        if minmax:
            flat = a.reshape(count, -1)
            acc["min"] = [_num(x, ctype) for x in flat.min(0)]
            acc["max"] = [_num(x, ctype) for x in flat.max(0)]
        self.accessors.append(acc)
        return len(self.accessors) - 1

    def sparse_vec3(self, values: np.ndarray) -> int:
        """A VEC3 float accessor stored sparse (only its non-zero rows), with min/max."""
        v = np.asarray(values, np.float32)
        rows = np.nonzero(np.abs(v).max(1) > 0)[0]
        acc = {"componentType": _FLOAT, "count": int(len(v)), "type": "VEC3",
               "min": [float(x) for x in v.min(0)], "max": [float(x) for x in v.max(0)]}
        if len(rows):
            itype = _USHORT if len(v) <= 65535 else _UINT
            acc["sparse"] = {
                "count": int(len(rows)),
                "indices": {"bufferView": self.view(rows.astype(_NP[itype]).tobytes()), "componentType": itype},
                "values": {"bufferView": self.view(np.ascontiguousarray(v[rows]).tobytes())},
            }
        self.accessors.append(acc)
        return len(self.accessors) - 1


def _num(x, ctype):
    return float(x) if ctype == _FLOAT else int(x)


def _png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def _check_mesh(mesh: GltfMesh) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(mesh.vertices, np.float64)
    f = np.asarray(mesh.faces, np.int64)
    if v.ndim != 2 or v.shape[1] != 3 or not np.isfinite(v).all():
        raise InputError(f"vertices: expected finite (V, 3), found shape {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3 or (f.size and (f.min() < 0 or f.max() >= len(v))):
        raise InputError(f"faces: expected (F, 3) indices in [0, {len(v)}), found shape {f.shape}")
    if (mesh.uvs is None) != (mesh.uv_faces is None):
        raise InputError("GltfMesh: pass uvs and uv_faces together, or neither")
    if mesh.texture is not None:
        t = np.asarray(mesh.texture)
        if mesh.uvs is None:
            raise InputError("GltfMesh.texture: a texture needs uvs and uv_faces")
        if t.ndim != 3 or t.shape[2] != 3 or t.dtype != np.uint8:
            raise InputError(f"GltfMesh.texture: expected an (H, W, 3) uint8 image, found {t.shape} {t.dtype}")
    for name, d in mesh.morph_targets.items():
        if np.asarray(d).shape != v.shape:
            raise InputError(f"morph target {name!r}: expected offsets of shape {v.shape}, found {np.asarray(d).shape}")
    return v, f


def _vertex_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    n = np.where(norm > 1e-20, n / np.maximum(norm, 1e-30), np.array([0.0, 1.0, 0.0]))
    return n / np.linalg.norm(n, axis=1, keepdims=True)


def _continuous(q: np.ndarray) -> np.ndarray:
    """Flip quaternion signs along axis 0 so consecutive frames are on the same hemisphere."""
    q = q.copy()
    for t in range(1, q.shape[0]):
        flip = (q[t] * q[t - 1]).sum(-1) < 0
        q[t, flip] = -q[t, flip]
    return q


def write_glb(
    path: str | os.PathLike,
    mesh: GltfMesh,
    skeleton: GltfSkeleton | None = None,
    animation: GltfAnimation | None = None,
    *,
    extras: dict | None = None,
) -> Path:
    """Write a GLB file atomically (see the module docstring for the layout).

    Args:
        path: output ``.glb``.
        mesh: the mesh (source vertex order).
        skeleton: optional joints and weights (a skinned, rigged file).
        animation: optional animation (needs ``skeleton``).
        extras: metadata stored in the asset's ``extras``.

    Returns:
        The written path.
    """
    path = Path(path)
    if path.suffix.lower() != ".glb":
        raise InputError(f"{path}: expected a .glb path")
    v, f = _check_mesh(mesh)
    src, src_uv, faces = split_uv_seams(f, mesh.uv_faces)
    src = np.arange(len(v)) if mesh.uv_faces is None else src
    if mesh.uv_faces is None:
        faces = f
    doc = _Doc()
    pos = v[src].astype(np.float32)
    attrs = {
        "POSITION": doc.accessor(pos, "VEC3", _FLOAT, target=_ARRAY_BUFFER, minmax=True),
        "NORMAL": doc.accessor(_vertex_normals(v, f)[src], "VEC3", _FLOAT, target=_ARRAY_BUFFER),
    }
    if mesh.uvs is not None:
        uv = np.asarray(mesh.uvs, np.float64)[src_uv]
        attrs["TEXCOORD_0"] = doc.accessor(np.stack([uv[:, 0], 1.0 - uv[:, 1]], 1), "VEC2", _FLOAT,
                                           target=_ARRAY_BUFFER)
    if mesh.colors is not None:
        c = np.asarray(mesh.colors, np.float64)
        if c.shape != v.shape:
            raise InputError(f"colors: expected shape {v.shape}, found {c.shape}")
        attrs["COLOR_0"] = doc.accessor(np.clip(c[src], 0, 1), "VEC3", _FLOAT, target=_ARRAY_BUFFER)
    # float is exact for indices below 2^24 and keeps vertex attributes 4-byte aligned
    attrs["_SOURCE_VERTEX"] = doc.accessor(src.astype(np.float32), "SCALAR", _FLOAT, target=_ARRAY_BUFFER)

    nodes: list[dict] = []
    skins: list[dict] = []
    if skeleton is not None:
        J = len(skeleton.names)
        parents = np.asarray(skeleton.parents, np.int64)
        joints = np.asarray(skeleton.joints, np.float64)
        W = np.asarray(skeleton.weights, np.float64)
        if parents.shape != (J,) or joints.shape != (J, 3) or W.shape != (len(v), J):
            raise InputError(f"skeleton: expected parents ({J},), joints ({J}, 3), weights ({len(v)}, {J}); found "
                             f"{parents.shape}, {joints.shape}, {W.shape}")
        if parents[0] != -1 or any(not 0 <= parents[j] < j for j in range(1, J)):
            raise InputError("skeleton.parents: joint 0 must be the root and every parent must come before its child")
        idx, w = top_k_weights(W, skeleton.influences)
        if skeleton.influences != 4:
            raise InputError("skeleton.influences: glTF's JOINTS_0/WEIGHTS_0 hold 4 weights")
        jtype = _UBYTE if J <= 255 else _USHORT
        attrs["JOINTS_0"] = doc.accessor(idx[src], "VEC4", jtype, target=_ARRAY_BUFFER)
        attrs["WEIGHTS_0"] = doc.accessor(w[src], "VEC4", _FLOAT, target=_ARRAY_BUFFER)
        pose = np.repeat(np.eye(3)[None], J, 0) if skeleton.pose is None else np.asarray(skeleton.pose, np.float64)
        quats = matrix_to_quaternion_np(pose)
        for j in range(J):
            p = parents[j]
            t = joints[j] - (joints[p] if p >= 0 else 0.0)
            if p < 0 and skeleton.translation is not None:
                t = t + np.asarray(skeleton.translation, np.float64)
            node = {"name": str(skeleton.names[j]), "translation": [float(x) for x in t]}
            if not np.allclose(quats[j], [0, 0, 0, 1]):
                node["rotation"] = [float(x) for x in quats[j]]
            kids = [int(c) for c in np.nonzero(parents == j)[0]]
            if kids:
                node["children"] = kids
            nodes.append(node)
        ibm = np.repeat(np.eye(4)[None], J, 0)
        ibm[:, :3, 3] = -joints
        ibm_acc = doc.accessor(ibm.transpose(0, 2, 1).reshape(J, 16), "MAT4", _FLOAT)  # column-major
        skins.append({"name": "skeleton", "joints": list(range(J)), "skeleton": 0, "inverseBindMatrices": ibm_acc})
    mesh_node = len(nodes)
    target_names = list(mesh.morph_targets)
    prim: dict = {"attributes": attrs, "mode": 4,
                  "indices": doc.accessor(faces.reshape(-1), "SCALAR", _USHORT if len(src) <= 65535 else _UINT,
                                          target=_ELEMENT_ARRAY_BUFFER)}
    if target_names:
        targets = []
        for name in target_names:
            d = np.asarray(mesh.morph_targets[name], np.float64)[src].astype(np.float32)
            moved = (np.abs(d).max(1) > 0).mean()
            if moved < SPARSE_FRACTION:
                targets.append({"POSITION": doc.sparse_vec3(d)})
            else:
                targets.append({"POSITION": doc.accessor(d, "VEC3", _FLOAT, target=_ARRAY_BUFFER, minmax=True)})
        prim["targets"] = targets
    materials, textures, images, samplers = [], [], [], []
    material = {"name": "skin", "doubleSided": False,
                "pbrMetallicRoughness": {"metallicFactor": 0.0, "roughnessFactor": 0.9}}
    if mesh.texture is not None:
        images.append({"bufferView": doc.view(_png_bytes(mesh.texture)), "mimeType": "image/png", "name": "albedo"})
        samplers.append({"magFilter": 9729, "minFilter": 9987, "wrapS": 33071, "wrapT": 33071})
        textures.append({"source": 0, "sampler": 0})
        material["pbrMetallicRoughness"]["baseColorTexture"] = {"index": 0, "texCoord": 0}
    materials.append(material)
    prim["material"] = 0
    gl_mesh: dict = {"name": mesh.name, "primitives": [prim]}
    mextras = {"source_vertex_count": int(len(v)), **(mesh.extras or {})}
    if target_names:
        mextras["targetNames"] = target_names
        weights0 = np.zeros(len(target_names)) if mesh.morph_weights is None else np.asarray(mesh.morph_weights)
        if weights0.shape != (len(target_names),):
            raise InputError(f"morph_weights: expected ({len(target_names)},), found {weights0.shape}")
        gl_mesh["weights"] = [float(x) for x in weights0]
    gl_mesh["extras"] = mextras
    mnode = {"name": mesh.name, "mesh": 0}
    if skeleton is not None:
        mnode["skin"] = 0
    nodes.append(mnode)

    animations = []
    if animation is not None:
        if skeleton is None:
            raise InputError("write_glb: an animation needs a skeleton")
        animations.append(_animation(doc, animation, skeleton, mesh_node, len(target_names)))

    doc.bin.extend(b"\0" * ((-len(doc.bin)) % 4))
    gltf = {
        "asset": {"version": "2.0", "generator": GENERATOR, "extras": extras or {}},
        "scene": 0,
        "scenes": [{"name": "avatar", "nodes": ([0] if skeleton is not None else []) + [mesh_node]}],
        "nodes": nodes,
        "meshes": [gl_mesh],
        "materials": materials,
        "accessors": doc.accessors,
        "bufferViews": doc.views,
        "buffers": [{"byteLength": len(doc.bin)}],
    }
    if skins:
        gltf["skins"] = skins
    if animations:
        gltf["animations"] = animations
    if images:
        gltf.update(images=images, samplers=samplers, textures=textures)
    data = _glb_bytes(gltf, bytes(doc.bin))
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    logger.info("wrote %s (%.2f MB: %d vertices, %d faces%s)", path, len(data) / 1e6, len(src), len(faces),
                f", {len(skeleton.names)} joints" if skeleton is not None else "")
    return path


def _animation(doc: _Doc, anim: GltfAnimation, skel: GltfSkeleton, mesh_node: int, n_targets: int) -> dict:
    R = np.asarray(anim.rotations, np.float64)
    J = len(skel.names)
    if R.ndim != 4 or R.shape[1:] != (J, 3, 3) or R.shape[0] < 1:
        raise InputError(f"animation.rotations: expected (T, {J}, 3, 3), found {R.shape}")
    T = R.shape[0]
    if not (math.isfinite(anim.fps) and anim.fps > 0):
        raise InputError(f"animation.fps: expected a positive frame rate, found {anim.fps}")
    times = doc.accessor(np.arange(T, dtype=np.float64) / anim.fps, "SCALAR", _FLOAT, minmax=True)
    samplers, channels = [], []

    def add(output: int, node: int, path: str) -> None:
        samplers.append({"input": times, "output": output, "interpolation": "LINEAR"})
        channels.append({"sampler": len(samplers) - 1, "target": {"node": node, "path": path}})

    quats = _continuous(matrix_to_quaternion_np(R))  # (T, J, 4)
    for j in range(J):
        add(doc.accessor(quats[:, j], "VEC4", _FLOAT), j, "rotation")
    joints = np.asarray(skel.joints, np.float64)
    tr = np.zeros((T, 3)) if anim.translation is None else np.asarray(anim.translation, np.float64)
    if tr.shape != (T, 3):
        raise InputError(f"animation.translation: expected ({T}, 3), found {tr.shape}")
    add(doc.accessor(joints[0][None] + tr, "VEC3", _FLOAT), 0, "translation")
    if anim.morph_weights is not None and n_targets:
        mw = np.asarray(anim.morph_weights, np.float64)
        if mw.shape != (T, n_targets):
            raise InputError(f"animation.morph_weights: expected ({T}, {n_targets}), found {mw.shape}")
        add(doc.accessor(mw.reshape(-1), "SCALAR", _FLOAT), mesh_node, "weights")
    return {"name": anim.name, "samplers": samplers, "channels": channels}


def _glb_bytes(gltf: dict, binary: bytes) -> bytes:
    js = json.dumps(gltf, separators=(",", ":")).encode("utf-8")
    js += b" " * ((-len(js)) % 4)
    binary = binary + b"\0" * ((-len(binary)) % 4)
    total = 12 + 8 + len(js) + 8 + len(binary)
    out = bytearray(struct.pack("<4sII", b"glTF", 2, total))
    out += struct.pack("<I4s", len(js), b"JSON") + js
    out += struct.pack("<I4s", len(binary), b"BIN\0") + binary
    return bytes(out)
