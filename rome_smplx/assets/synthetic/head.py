"""Procedural FLAME-format head: geometry, rig, blendshapes, UVs and landmark embeddings.

The head is a deformed latitude-longitude surface around a head centre (FLAME frame: metres, y up,
facing +z, x to the subject's left). Rows run from a single top vertex down over the face and
into a neck that ends in an open ring; columns run around the vertical axis, denser at the face.
Facial features (brow ridge, eye sockets, nose, lips, chin, cheekbones, ears) are smooth
displacement fields on the base surface. One row is cut in front into a mouth slit (the lips);
two UV spheres are the eyeballs. The vertex count is a parameter: the grid size is chosen from it
and a few centroid splits on the back of the scalp hit the count exactly.

Nothing here is derived from the licensed FLAME files; only their file format is followed
(``write_flame_files``). Everything is deterministic: the same ``(num_vertices, seed)`` gives the
same arrays, and the written files are byte-identical.
"""

from __future__ import annotations

import io
import logging
import pickle
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse

from rome_smplx.assets.synthetic._mesh import (
    barycentric_points,
    gauss,
    ray_cast,
    smoothstep,
)
from rome_smplx.errors import InputError
from rome_smplx.io.atomic import atomic_path, write_bytes_atomic

logger = logging.getLogger(__name__)

# Vertex count of the FLAME 2020 head template: the default size of the synthetic head so that its
# files have the real shapes. Only this constant names the count; everything else reads array sizes.
FLAME_NUM_VERTICES = 5023

NUM_SHAPE = 300  # FLAME shape space size
NUM_EXPRESSION = 100  # FLAME expression space size
NUM_JOINTS = 5  # root, neck, jaw, left eye, right eye
PARENTS = np.array([-1, 0, 1, 1, 1], dtype=np.int64)
JOINT_NAMES = ("root", "neck", "jaw", "left_eye", "right_eye")
MIN_VERTICES = 800

# Face measures (metres, FLAME frame)
_EYE_X = 0.033
_EYE_Y = 0.032
_EYE_RADIUS = 0.0125
_MOUTH_Y = -0.048
_NECK_Y = -0.145
_LIP_GAP = 0.0012
_COL_WARP = 0.55  # column density: (1 - warp) spacing at the face, (1 + warp) at the back


@dataclass
class SyntheticHead:
    """A procedural head in FLAME format (all arrays numpy; N vertices, F faces, M mouth faces).

    Attributes:
        v_template: ``(N, 3)`` float64 rest vertices, metres, FLAME frame.
        faces: ``(F, 3)`` int64; closed except the neck ring and the mouth slit.
        mouth_faces: ``(M, 3)`` int64 triangles closing the mouth slit.
        joints: ``(5, 3)`` root, neck, jaw, left eye, right eye (``J_regressor @ v_template``).
        parents: ``(5,)`` int64 kinematic tree ``[-1, 0, 1, 1, 1]``.
        weights: ``(N, 5)`` skinning weights (rows sum to 1).
        shapedirs: ``(N, 3, 400)`` 300 shape then 100 expression directions.
        posedirs: ``(N, 3, 36)`` pose correctives (joints 1..4, flattened ``R - I``).
        J_regressor: ``(5, N)`` non-negative, rows sum to 1.
        uv: ``(N, 2)`` per-vertex UV in [0, 1] (v up).
        uv_coords: ``(U, 2)`` UV vertices (seam duplicates appended after the first N).
        uv_faces: ``(F + M, 3)`` faces into ``uv_coords`` matching ``faces`` then ``mouth_faces``.
        regions: named vertex index arrays.
        points: named single vertex indices.
        lmk_faces_idx, lmk_bary_coords: ``(51,)``, ``(51, 3)`` iBUG-68 points 17..67.
        dynamic_lmk_faces_idx, dynamic_lmk_bary_coords: ``(79, 17)``, ``(79, 17, 3)`` contour per yaw bin.
        full_lmk_faces_idx, full_lmk_bary_coords: ``(68,)``, ``(68, 3)`` all 68 points (contour at yaw 0).
    """

    v_template: np.ndarray
    faces: np.ndarray
    mouth_faces: np.ndarray
    joints: np.ndarray
    parents: np.ndarray
    weights: np.ndarray
    shapedirs: np.ndarray
    posedirs: np.ndarray
    J_regressor: np.ndarray
    uv: np.ndarray
    uv_coords: np.ndarray
    uv_faces: np.ndarray
    regions: dict[str, np.ndarray]
    points: dict[str, int]
    lmk_faces_idx: np.ndarray
    lmk_bary_coords: np.ndarray
    dynamic_lmk_faces_idx: np.ndarray
    dynamic_lmk_bary_coords: np.ndarray
    full_lmk_faces_idx: np.ndarray
    full_lmk_bary_coords: np.ndarray
    meta: dict = field(default_factory=dict)

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def faces_v2(self) -> np.ndarray:
        """``(F + M, 3)`` faces including the mouth-closing triangles (ROME's ``faces_v2``)."""
        return np.concatenate([self.faces, self.mouth_faces], axis=0)

    def landmarks(self, vertices: np.ndarray | None = None) -> np.ndarray:
        """The 68 iBUG landmarks ``(68, 3)`` on ``vertices (N, 3)`` (default: the template)."""
        v = self.v_template if vertices is None else vertices
        return barycentric_points(v, self.faces, self.full_lmk_faces_idx, self.full_lmk_bary_coords)


# ----------------------------------------------------------------------------------------------
# layout: how many rows/columns, eyeball resolution, mouth width, extra splits


@dataclass(frozen=True)
class _Layout:
    cols: int
    rows: int
    head_rows: int
    neck_rows: int
    mouth_k: int
    eye_cols: int
    eye_rings: int
    n_split: int

    @property
    def n_eye(self) -> int:
        return 2 + self.eye_cols * self.eye_rings


def _col_angles(cols: int) -> np.ndarray:
    """Azimuth of every column in (-pi, pi], 0 = front (+z), positive towards +x."""
    j = np.arange(cols)
    js = np.where(j <= cols // 2 - 1, j, j - cols)  # signed column, -cols/2 .. cols/2-1
    u = 2.0 * np.pi * js / cols
    return u - _COL_WARP * np.sin(u)


def _layout(num_vertices: int) -> _Layout:
    eye_cols = 16 if num_vertices >= 3000 else 10
    eye_rings = eye_cols // 2 - 1
    n_eye = 2 + eye_cols * eye_rings
    rest = num_vertices - 2 * n_eye
    cols = int(2 * round(np.sqrt(rest * 1.15) / 2.0))
    phi = _col_angles(cols)
    mouth_k = int(max(2, np.sum((phi > 0) & (phi <= 0.30))))
    n_dup = 2 * mouth_k - 1
    rows = (rest - 1 - n_dup) // cols
    n_split = rest - 1 - n_dup - rows * cols
    neck_rows = max(4, int(round(rows * 0.16)))
    return _Layout(cols, rows, rows - neck_rows, neck_rows, mouth_k, eye_cols, eye_rings, n_split)


# ----------------------------------------------------------------------------------------------
# base surface


def _row_fractions(n: int) -> np.ndarray:
    """``(n,)`` fractions in (0, 1] of the head rows, denser over the face band."""
    s = np.linspace(0.0, 1.0, 2001)
    dens = 1.0 + 1.7 * np.exp(-0.5 * ((s - 0.72) / 0.17) ** 2)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(s))])
    cdf /= cdf[-1]
    return np.interp(np.arange(1, n + 1) / n, cdf, s)


def _ellipsoid_radius(d: np.ndarray) -> np.ndarray:
    """Radius of the base skull along unit directions ``d (..., 3)``."""
    dx, dy, dz = d[..., 0], d[..., 1], d[..., 2]
    ax = 0.077 * (1.0 - 0.17 * smoothstep(-dy, 0.05, 0.85))
    ay = 0.107 + 0.007 * np.tanh(6.0 * dy)
    az = 0.097 - 0.004 * np.tanh(6.0 * dz)
    return 1.0 / np.sqrt((dx / ax) ** 2 + (dy / ay) ** 2 + (dz / az) ** 2)


def _head_point(alpha: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Base head surface at polar angle ``alpha`` (0 = top) and azimuth ``phi`` -> ``(..., 3)``."""
    d = np.stack([np.sin(alpha) * np.sin(phi), np.cos(alpha), np.sin(alpha) * np.cos(phi)], axis=-1)
    r = _ellipsoid_radius(d)
    # fill the lower face forward (the jaw and chin sit in front of a plain ellipsoid)
    r = r + 0.008 * gauss(alpha, np.deg2rad(125.0), np.deg2rad(15.0)) * gauss(phi, 0.0, 0.55)
    # a steeper forehead
    r = r + 0.007 * gauss(alpha, np.deg2rad(48.0), np.deg2rad(14.0)) * gauss(phi, 0.0, 0.6)
    return d * r[..., None]


def _alpha_end(phi: np.ndarray) -> np.ndarray:
    """Polar angle where the head rows end and the neck starts (under the chin in front)."""
    return np.deg2rad(127.0 + 23.0 * np.cos(phi / 2.0) ** 2)


def _neck_ring(phi: np.ndarray) -> np.ndarray:
    return np.stack([0.050 * np.sin(phi), np.full_like(phi, _NECK_Y), -0.014 + 0.052 * np.cos(phi)], axis=-1)


def _base_grid(lay: _Layout) -> tuple[np.ndarray, np.ndarray]:
    """Base grid ``(R, C, 3)`` and the top vertex ``(3,)``."""
    phi = _col_angles(lay.cols)
    fr = _row_fractions(lay.head_rows)
    alpha = fr[:, None] * _alpha_end(phi)[None, :]
    head = _head_point(alpha, np.broadcast_to(phi, alpha.shape))
    p_end = head[-1]
    ring = _neck_ring(phi)
    ctrl = np.stack([ring[:, 0], p_end[:, 1] + 0.35 * (ring[:, 1] - p_end[:, 1]), ring[:, 2]], axis=-1)
    ctrl = 0.8 * ctrl + 0.2 * p_end
    t = (np.arange(1, lay.neck_rows + 1) / lay.neck_rows)[:, None, None]
    neck = (1 - t) ** 2 * p_end[None] + 2 * t * (1 - t) * ctrl[None] + t**2 * ring[None]
    top = _head_point(np.zeros(1), np.zeros(1))[0]
    return np.concatenate([head, neck], axis=0), top


# ----------------------------------------------------------------------------------------------
# feature displacement fields (functions of base positions)


def _nose_field(p: np.ndarray) -> np.ndarray:
    x, y = p[..., 0], p[..., 1]
    s = np.clip((0.036 - y) / 0.046, 0.0, 1.2)
    tip = 0.022
    above = tip * np.clip(s, 0.0, 1.0) ** 1.5 * (1.0 - 0.12 * np.exp(-0.5 * ((y + 0.006) / 0.004) ** 2))
    below = tip * 0.88 * np.exp(-0.5 * ((y + 0.010) / 0.0065) ** 2)
    h = np.where(y >= -0.010, above, below)
    sx = 0.0065 + 0.0075 * s
    lateral = np.exp(-0.5 * (x / sx) ** 2)
    alae = 0.0055 * np.exp(-0.5 * (((np.abs(x) - 0.0135) / 0.0045) ** 2 + ((y + 0.015) / 0.0055) ** 2))
    return (h * lateral + alae) * smoothstep(p[..., 2], 0.02, 0.06)


def _ear_field(p: np.ndarray) -> np.ndarray:
    """Outward (|x|) displacement of the ears."""
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    zc = -0.012 - 0.18 * (y - 0.006)
    q = ((y - 0.006) / 0.027) ** 2 + ((z - zc) / 0.0135) ** 2
    side = smoothstep(np.abs(x), 0.040, 0.062)
    ear = 0.021 * np.exp(-(q**2))
    concha = 0.010 * np.exp(-(((y - 0.001) / 0.010) ** 2 + ((z - zc - 0.002) / 0.0065) ** 2))
    return side * (ear - concha)


def _features(p: np.ndarray, mouth_y: float, with_sockets: bool = True) -> np.ndarray:
    """Displacement ``(..., 3)`` of all facial features at base positions ``p (..., 3)``."""
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    ax = np.abs(x)
    front = smoothstep(z, 0.0, 0.05)
    dz = np.zeros_like(x)
    dx = np.zeros_like(x)
    dz += 0.006 * gauss(y, 0.052, 0.0075) * smoothstep(ax, 0.068, 0.030) * front  # brow ridge
    if with_sockets:
        dz -= 0.0105 * np.exp(-0.5 * (((ax - _EYE_X) / 0.0135) ** 2 + ((y - _EYE_Y) / 0.0100) ** 2)) * front
    dz += _nose_field(p)
    # lips, philtrum, groove under the lower lip, chin
    dz += 0.0055 * gauss(y, mouth_y + 0.0055, 0.0042) * gauss(x, 0.0, 0.017) * front
    dz += 0.0065 * gauss(y, mouth_y - 0.0075, 0.0050) * gauss(x, 0.0, 0.016) * front
    dz -= 0.0015 * gauss(x, 0.0, 0.0035) * gauss(y, mouth_y + 0.013, 0.0045) * front
    dz -= 0.0030 * gauss(y, mouth_y - 0.019, 0.0045) * gauss(x, 0.0, 0.016) * front
    dz += 0.0075 * gauss(y, -0.082, 0.010) * gauss(x, 0.0, 0.018) * front
    # cheekbones
    cheek = np.exp(-0.5 * (((ax - 0.047) / 0.013) ** 2 + ((y - 0.006) / 0.012) ** 2)) * front
    dz += 0.004 * cheek
    dx += 0.003 * np.sign(x) * cheek
    dx += np.sign(x) * _ear_field(p)
    return np.stack([dx, np.zeros_like(x), dz], axis=-1)


# ----------------------------------------------------------------------------------------------
# eyeballs


def _eyeball(center: np.ndarray, rings: int, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """UV sphere (poles on the z axis, front pole first). Returns verts, faces (local), polar/azimuth."""
    theta = np.pi * np.arange(1, rings + 1) / (rings + 1)
    beta = 2.0 * np.pi * np.arange(cols) / cols
    th, be = np.meshgrid(theta, beta, indexing="ij")
    ring = np.stack([np.sin(th) * np.cos(be), np.sin(th) * np.sin(be), np.cos(th)], axis=-1).reshape(-1, 3)
    unit = np.concatenate([[[0.0, 0.0, 1.0]], ring, [[0.0, 0.0, -1.0]]])
    verts = center[None] + _EYE_RADIUS * unit
    back = 1 + rings * cols
    gi = lambda k, l: 1 + k * cols + (l % cols)
    faces = [[0, gi(0, l), gi(0, l + 1)] for l in range(cols)]
    for k in range(rings - 1):
        for l in range(cols):
            a, b, c, d = gi(k, l), gi(k + 1, l), gi(k + 1, l + 1), gi(k, l + 1)
            faces += [[a, b, d], [b, c, d]]
    faces += [[back, gi(rings - 1, l + 1), gi(rings - 1, l)] for l in range(cols)]
    polar = np.concatenate([[0.0], th.ravel(), [np.pi]])
    azim = np.concatenate([[0.0], be.ravel(), [0.0]])
    return verts, np.asarray(faces, dtype=np.int64), np.stack([polar, azim], axis=1)


# ----------------------------------------------------------------------------------------------
# the builder


def build_head(num_vertices: int = FLAME_NUM_VERTICES, seed: int = 0) -> SyntheticHead:
    """Build the procedural head with exactly ``num_vertices`` vertices.

    Args:
        num_vertices: vertex count N (at least 800).
        seed: seed of the random (non-semantic) blendshape and corrective components.

    Returns:
        A :class:`SyntheticHead`; arrays are deterministic functions of ``(num_vertices, seed)``.
    """
    if isinstance(num_vertices, bool) or not isinstance(num_vertices, (int, np.integer)):
        raise InputError(f"build_head: num_vertices must be an int, found {type(num_vertices).__name__}")
    num_vertices = int(num_vertices)
    if num_vertices < MIN_VERTICES:
        raise InputError(f"build_head: num_vertices must be >= {MIN_VERTICES}, found {num_vertices}")
    lay = _layout(num_vertices)
    C, R = lay.cols, lay.rows
    phi = _col_angles(C)
    grid0, top0 = _base_grid(lay)  # (R, C, 3)

    # mouth row: the head row whose front vertex is nearest the mouth height
    mouth_row = int(np.argmin(np.abs(grid0[: lay.head_rows, 0, 1] - _MOUTH_Y)))
    mouth_y = float(grid0[mouth_row, 0, 1])

    disp = _features(grid0, mouth_y)
    grid = grid0 + disp
    top = top0.copy()

    # ---- vertex indices
    gidx = 1 + np.arange(R * C).reshape(R, C)  # row r (0-based) = grid row r+1
    k = lay.mouth_k
    js_inner = np.arange(-k + 1, k)  # interior mouth columns (signed)
    jin = js_inner % C
    n_grid = 1 + R * C
    dup_idx = n_grid + np.arange(len(jin))
    lower = gidx[mouth_row].copy()  # row index map for faces below the slit
    lower[jin] = dup_idx

    taper = 1.0 - (js_inner / k) ** 2
    upper_pos = grid[mouth_row, jin] + np.stack([0 * taper, _LIP_GAP * taper, -0.003 * taper], axis=1)
    lower_pos = grid[mouth_row, jin] + np.stack([0 * taper, -_LIP_GAP * taper, -0.003 * taper], axis=1)
    grid[mouth_row, jin] = upper_pos

    verts = [top[None], grid.reshape(-1, 3), lower_pos]
    base = [top0[None], grid0.reshape(-1, 3), grid0[mouth_row, jin]]

    # ---- skin faces: top fan, then quads row by row
    faces = [np.stack([np.zeros(C, np.int64), gidx[0], np.roll(gidx[0], -1)], axis=1)]
    quad_first = C  # face index of the first quad triangle
    for r in range(R - 1):
        top_row = lower if r == mouth_row else gidx[r]
        a, d = top_row, np.roll(top_row, -1)
        b, c = gidx[r + 1], np.roll(gidx[r + 1], -1)
        tri = np.empty((2 * C, 3), dtype=np.int64)
        tri[0::2] = np.stack([a, b, d], axis=1)
        tri[1::2] = np.stack([b, c, d], axis=1)
        faces.append(tri)
    faces = np.concatenate(faces)

    # ---- centroid splits on the back of the scalp to hit the vertex count exactly
    n_cur = n_grid + len(jin)
    r_lo, r_hi = int(0.25 * lay.head_rows), int(0.6 * lay.head_rows)
    back_cols = np.nonzero((np.abs(phi) > np.deg2rad(125)) & (np.arange(C) != C // 2 - 1))[0]
    cand = np.array([quad_first + 2 * (r * C + j) for r in range(r_lo, r_hi) for j in back_cols], dtype=np.int64)
    if lay.n_split > len(cand):
        raise InputError(f"build_head: num_vertices={num_vertices} needs {lay.n_split} splits, only {len(cand)} fit")
    picks = cand[np.round(np.linspace(0, len(cand) - 1, lay.n_split)).astype(np.int64)] if lay.n_split else cand[:0]
    vcat = np.concatenate(verts)
    bcat = np.concatenate(base)
    new_v, new_b, extra_faces = [], [], []
    for f_i in picks.tolist():
        a, b, d = faces[f_i]
        m = n_cur + len(new_v)
        new_v.append(vcat[[a, b, d]].mean(axis=0))
        new_b.append(bcat[[a, b, d]].mean(axis=0))
        faces[f_i] = [a, b, m]
        extra_faces += [[b, d, m], [d, a, m]]
    if extra_faces:
        faces = np.concatenate([faces, np.asarray(extra_faces, dtype=np.int64)])
        vcat = np.concatenate([vcat, np.asarray(new_v)])
        bcat = np.concatenate([bcat, np.asarray(new_b)])
    n_skin = len(vcat)

    # ---- eyeballs, sitting in the sockets
    eye_centres = []
    for sx in (1.0, -1.0):
        q = np.array([sx * _EYE_X, _EYE_Y])
        front_mask = bcat[:, 2] > 0.03
        dist = np.where(front_mask, np.hypot(bcat[:, 0] - q[0], bcat[:, 1] - q[1]), np.inf)
        near = int(np.argmin(dist))
        z_surf = bcat[near, 2] + _features(bcat[near], mouth_y, with_sockets=False)[2]
        eye_centres.append(np.array([q[0], q[1], z_surf - 0.0135]))
    eye_faces, eye_verts, eye_polar = [], [], []
    eye_ranges = []
    for cen in eye_centres:
        ev, ef, ep = _eyeball(cen, lay.eye_rings, lay.eye_cols)
        off = n_skin + sum(len(v) for v in eye_verts)
        eye_ranges.append(np.arange(off, off + len(ev)))
        eye_verts.append(ev)
        eye_faces.append(ef + off)
        eye_polar.append(ep)
    v_template = np.concatenate([vcat] + eye_verts)
    base_all = np.concatenate([bcat] + [np.repeat(c[None], len(r), 0) for c, r in zip(eye_centres, eye_ranges)])
    n_skin_faces = len(faces)
    faces = np.concatenate([faces] + eye_faces)
    if len(v_template) != num_vertices:
        raise AssertionError(f"layout gave {len(v_template)} vertices, expected {num_vertices}")

    # ---- mouth-closing faces (strip between the upper and lower lip chains)
    up_chain = np.concatenate([[gidx[mouth_row, (-k) % C]], gidx[mouth_row, jin], [gidx[mouth_row, k % C]]])
    lo_chain = np.concatenate([[gidx[mouth_row, (-k) % C]], dup_idx, [gidx[mouth_row, k % C]]])
    mouth = []
    for j in range(2 * k):
        u0, u1, l0, l1 = up_chain[j], up_chain[j + 1], lo_chain[j], lo_chain[j + 1]
        if u0 != l0:
            mouth.append([u1, u0, l0])
        if u1 != l1:
            mouth.append([u1, l0, l1])
    mouth_faces = np.asarray(mouth, dtype=np.int64)

    # ---- bookkeeping for the rest of the builder
    row_of = np.full(num_vertices, -1, dtype=np.int64)
    row_of[gidx.ravel()] = np.repeat(np.arange(R), C)
    row_of[0] = -1
    row_of[dup_idx] = mouth_row
    col_of = np.full(num_vertices, -1, dtype=np.int64)
    col_of[gidx.ravel()] = np.tile(np.arange(C), R)
    col_of[dup_idx] = jin
    is_eye = np.zeros(num_vertices, dtype=bool)
    is_eye[np.concatenate(eye_ranges)] = True
    skin = ~is_eye
    X, Z = base_all[:, 0], base_all[:, 2]
    azim = np.arctan2(X, Z)

    ctx = dict(
        lay=lay, gidx=gidx, mouth_row=mouth_row, mouth_y=mouth_y, dup_idx=dup_idx, jin=jin,
        row_of=row_of, col_of=col_of, is_eye=is_eye, skin=skin, base=base_all, azim=azim,
        eye_ranges=eye_ranges, eye_centres=eye_centres, n_skin_faces=n_skin_faces,
    )

    # ---- skinning weights and joint regressor
    weights, jaw_w = _skinning(v_template, ctx)
    J_regressor = _joint_regressor(v_template, ctx)
    joints = np.einsum("jn,nc->jc", J_regressor, v_template)  # no BLAS: bit-stable

    # ---- regions and named points
    regions, points = _regions_points(v_template, faces, ctx)

    # ---- blendshapes and correctives
    rng = np.random.default_rng(seed)
    shape = _shape_dirs(v_template, ctx, rng)
    expr = _expression_dirs(v_template, ctx, jaw_w, joints, rng)
    shapedirs = np.concatenate([shape, expr], axis=2)
    posedirs = _pose_dirs(v_template, ctx, jaw_w, rng)

    # ---- UVs
    uv, uv_coords, uv_faces = _uvs(faces, mouth_faces, ctx, eye_polar)

    # ---- landmarks
    lmk = _landmarks(v_template, faces, ctx, points)

    meta = {
        "cols": C, "rows": R, "head_rows": lay.head_rows, "neck_rows": lay.neck_rows,
        "mouth_row": mouth_row, "mouth_y": mouth_y, "n_split": lay.n_split, "seed": int(seed),
        "eye_centres": np.asarray(eye_centres),
    }
    logger.debug("synthetic head: %d vertices, %d faces, %d mouth faces", num_vertices, len(faces), len(mouth_faces))
    return SyntheticHead(
        v_template=v_template.astype(np.float64),
        faces=faces.astype(np.int64),
        mouth_faces=mouth_faces,
        joints=joints,
        parents=PARENTS.copy(),
        weights=weights,
        shapedirs=shapedirs,
        posedirs=posedirs,
        J_regressor=J_regressor,
        uv=uv,
        uv_coords=uv_coords,
        uv_faces=uv_faces,
        regions=regions,
        points=points,
        meta=meta,
        **lmk,
    )


# ----------------------------------------------------------------------------------------------
# rig


def _jaw_weight(p: np.ndarray, ctx: dict) -> np.ndarray:
    """Jaw influence ``(N,)`` in [0, 1]: the lower face below the mouth line and the jaw line."""
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    ax = np.abs(x)
    my = ctx["mouth_y"]
    y_b = my + (-0.004 - my) * smoothstep(ax, 0.028, 0.072)
    band = 0.001 + 0.012 * smoothstep(ax, 0.02, 0.045)
    w = smoothstep(y_b - y, -band, band)
    w *= smoothstep(z, -0.035, -0.005)
    w *= smoothstep(y, -0.118, -0.092)
    # lips: the upper chain is the upper lip, the lower copies are the lower lip
    gidx, mrow, jin = ctx["gidx"], ctx["mouth_row"], ctx["jin"]
    w[gidx[mrow, jin]] = 0.0
    w[ctx["dup_idx"]] = 1.0
    w[ctx["is_eye"]] = 0.0
    return w


def _skinning(v: np.ndarray, ctx: dict) -> tuple[np.ndarray, np.ndarray]:
    p = ctx["base"]
    n = len(v)
    head = smoothstep(p[:, 1], _NECK_Y + 0.005, -0.085)
    jaw = _jaw_weight(p, ctx)
    w = np.zeros((n, NUM_JOINTS))
    w[:, 0] = 1.0 - head
    w[:, 1] = head * (1.0 - jaw)
    w[:, 2] = head * jaw
    for e, rng_ in enumerate(ctx["eye_ranges"]):
        w[rng_] = 0.0
        w[rng_, 3 + e] = 1.0
    w /= w.sum(axis=1, keepdims=True)
    return w, jaw * head


def _joint_regressor(v: np.ndarray, ctx: dict) -> np.ndarray:
    lay, gidx = ctx["lay"], ctx["gidx"]
    n = len(v)
    J = np.zeros((NUM_JOINTS, n))
    J[0, gidx[lay.rows - 3:].ravel()] = 1.0  # lowest neck rows -> neck base
    J[1, gidx[lay.head_rows - 2: lay.head_rows].ravel()] = 1.0  # head/neck junction
    p = ctx["base"]
    skin = ctx["skin"]
    jaw_g = np.zeros(n)
    for sx in (1.0, -1.0):
        d2 = (p[:, 0] - sx * 0.062) ** 2 + (p[:, 1] + 0.020) ** 2 + (p[:, 2] + 0.004) ** 2
        jaw_g += np.exp(-0.5 * d2 / 0.009**2)
    jaw_g[~skin] = 0.0
    jaw_g[jaw_g < 1e-3 * jaw_g.max()] = 0.0
    J[2] = jaw_g
    for e, rng_ in enumerate(ctx["eye_ranges"]):
        J[3 + e, rng_] = 1.0
    return J / J.sum(axis=1, keepdims=True)


# ----------------------------------------------------------------------------------------------
# blendshapes


def _rbf_fields(p: np.ndarray, centres: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``(K, N, 3)`` smooth random vector fields: Gaussian bumps times random directions."""
    d2 = ((p[None, :, :] - centres[:, None, :]) ** 2).sum(-1)
    bump = np.exp(-0.5 * d2 / sigma**2)
    dirs = rng.standard_normal((len(centres), 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    return bump[:, :, None] * dirs[:, None, :]


def _shape_dirs(v: np.ndarray, ctx: dict, rng: np.random.Generator) -> np.ndarray:
    p = ctx["base"]  # eyeballs at their centres: shape moves them rigidly
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    n = len(v)
    ax = np.abs(x)
    my = ctx["mouth_y"]
    lower_face = smoothstep(y, my + 0.02, my - 0.01) * smoothstep(z, -0.03, 0.02)
    comps = []
    comps.append(np.stack([0.0065 * x / 0.077, 0 * x, 0 * x], 1))  # head width
    comps.append(np.stack([0 * x, 0.0060 * smoothstep(y, -0.09, 0.1) * (y + 0.09) / 0.2, 0 * x], 1))  # height
    comps.append(np.stack([0 * x, 0 * x, 0.0055 * z / 0.097], 1))  # head length
    comps.append(np.stack([0.0045 * x / 0.06 * lower_face, 0 * x, 0 * x], 1))  # jaw width
    nose = _nose_field(p)
    comps.append(np.stack([0 * x, -0.08 * nose, 0.30 * nose], 1))  # nose size
    chin = smoothstep(y, my, -0.09) * smoothstep(z, 0.0, 0.04)
    comps.append(np.stack([0 * x, -0.004 * chin, 0.0015 * chin], 1))  # face length / chin drop
    eyes = np.exp(-0.5 * (((ax - _EYE_X) / 0.018) ** 2 + ((y - _EYE_Y) / 0.016) ** 2)) * smoothstep(z, 0.0, 0.04)
    comps.append(np.stack([0.0022 * np.tanh(x / 0.01) * eyes, 0 * x, 0 * x], 1))  # eye spacing
    ear = _ear_field(p)
    comps.append(np.stack([0.35 * np.sign(x) * ear, 0.1 * ear, 0 * x], 1))  # ear protrusion
    brow = gauss(y, 0.052, 0.012) * smoothstep(ax, 0.07, 0.03) * smoothstep(z, 0.0, 0.05)
    comps.append(np.stack([0 * x, 0 * x, 0.0025 * brow], 1))  # brow ridge
    cheek = np.exp(-0.5 * (((ax - 0.05) / 0.018) ** 2 + ((y + 0.02) / 0.02) ** 2)) * smoothstep(z, -0.01, 0.03)
    comps.append(np.stack([0.0025 * np.sign(x) * cheek, 0 * x, 0.0015 * cheek], 1))  # cheek fullness
    semantic = np.stack(comps, axis=2)  # (N, 3, 10)

    skin = np.nonzero(ctx["skin"])[0]
    n_rbf = 48
    centres = p[skin[np.linspace(0, len(skin) - 1, n_rbf).astype(np.int64)]]
    fields = _rbf_fields(p, centres, 0.035, rng)  # (K, N, 3)
    n_rand = NUM_SHAPE - semantic.shape[2]
    mix = rng.standard_normal((n_rand, n_rbf)) / np.sqrt(n_rbf)
    scale = 0.0022 * 0.985 ** np.arange(n_rand)
    rand = np.einsum("kb,bnc->nck", mix * scale[:, None], fields)
    out = np.concatenate([semantic, rand], axis=2)
    assert out.shape == (n, 3, NUM_SHAPE)
    return out


def _expression_dirs(v: np.ndarray, ctx: dict, jaw_w: np.ndarray, joints: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    p = ctx["base"]
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    ax = np.abs(x)
    sx = np.sign(x)
    my = ctx["mouth_y"]
    front = smoothstep(z, 0.0, 0.05)
    eye = ctx["is_eye"]
    comps = []
    # 0: jaw opening, a linearised rotation of the lower face about the jaw joint (x axis)
    rel = v - joints[2]
    omega = np.array([0.12, 0.0, 0.0])
    comps.append(jaw_w[:, None] * np.cross(omega[None], rel))
    # 1: smile: mouth corners up, out and back
    corners = np.exp(-0.5 * (((ax - 0.026) / 0.011) ** 2 + ((y - my) / 0.010) ** 2)) * front
    comps.append(np.stack([0.0018 * sx * corners, 0.0035 * corners, -0.0015 * corners], 1))
    # 2: brow raise
    brow = gauss(y, 0.050, 0.010) * smoothstep(ax, 0.07, 0.02) * front
    comps.append(np.stack([0 * x, 0.0035 * brow, 0.0005 * brow], 1))
    # 3: pucker: lips forward and together
    lips = np.exp(-0.5 * ((x / 0.022) ** 2 + ((y - my) / 0.010) ** 2)) * front
    comps.append(np.stack([-0.004 * x / 0.025 * lips, 0 * x, 0.0035 * lips], 1))
    # 4: eye squint: lower lids and cheeks up
    squint = np.exp(-0.5 * (((ax - _EYE_X) / 0.014) ** 2 + ((y - _EYE_Y + 0.014) / 0.008) ** 2)) * front
    comps.append(np.stack([0 * x, 0.0025 * squint, 0.001 * squint], 1))
    # 5: mouth stretch: corners outwards
    comps.append(np.stack([0.003 * sx * corners, -0.001 * corners, 0 * x], 1))
    # 6: frown: brows down and together
    comps.append(np.stack([-0.0015 * np.tanh(x / 0.01) * brow, -0.0025 * brow, 0 * x], 1))
    # 7: cheek puff
    cheek = np.exp(-0.5 * (((ax - 0.042) / 0.014) ** 2 + ((y - my) / 0.015) ** 2)) * front
    comps.append(np.stack([0.003 * sx * cheek, 0 * x, 0.002 * cheek], 1))
    # 8: lip press: lips inwards
    comps.append(np.stack([0 * x, 0 * x, -0.0025 * lips], 1))
    # 9: nose wrinkle
    nose = _nose_field(p) / 0.026
    comps.append(np.stack([0 * x, 0.002 * nose * smoothstep(y, -0.02, 0.02), 0 * x], 1))
    semantic = np.stack(comps, axis=2)

    face_mask = front * smoothstep(y, 0.085, 0.06) * smoothstep(y, -0.11, -0.08)
    skin = np.nonzero(ctx["skin"] & (face_mask > 0.5))[0]
    n_rbf = 40
    centres = p[skin[np.linspace(0, len(skin) - 1, n_rbf).astype(np.int64)]]
    fields = _rbf_fields(p, centres, 0.02, rng) * face_mask[None, :, None]
    n_rand = NUM_EXPRESSION - semantic.shape[2]
    mix = rng.standard_normal((n_rand, n_rbf)) / np.sqrt(n_rbf)
    scale = 0.0018 * 0.97 ** np.arange(n_rand)
    rand = np.einsum("kb,bnc->nck", mix * scale[:, None], fields)
    out = np.concatenate([semantic, rand], axis=2)
    out[eye] = 0.0
    return out


def _pose_dirs(v: np.ndarray, ctx: dict, jaw_w: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    p = ctx["base"]
    y = p[:, 1]
    n = len(v)
    out = np.zeros((n, 3, 4 * 9))
    neck = smoothstep(y, _NECK_Y, _NECK_Y + 0.025) * smoothstep(y, -0.03, -0.08)
    neck[ctx["is_eye"]] = 0.0
    dirs = rng.standard_normal((9, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    out[:, :, 0:9] = 0.004 * neck[:, None, None] * dirs.T[None]
    chin = jaw_w * smoothstep(y, ctx["mouth_y"] - 0.015, ctx["mouth_y"] - 0.045)
    dirs = rng.standard_normal((9, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    out[:, :, 9:18] = 0.003 * chin[:, None, None] * dirs.T[None]
    return out


# ----------------------------------------------------------------------------------------------
# regions, points


def _regions_points(v: np.ndarray, faces: np.ndarray, ctx: dict) -> tuple[dict, dict]:
    lay = ctx["lay"]
    p = ctx["base"]
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    ax = np.abs(x)
    skin = ctx["skin"]
    row = ctx["row_of"]
    az = np.abs(np.rad2deg(ctx["azim"]))
    neck = skin & (row >= lay.head_rows)
    hairline = np.interp(az, [0, 45, 75, 95, 120, 150, 180], [0.064, 0.060, 0.045, 0.042, 0.0, -0.045, -0.055])
    ear_amt = _ear_field(p)
    ears = skin & (ear_amt > 0.002)
    scalp = skin & ~neck & ~ears & (y > hairline)
    scalp[0] = True
    face = skin & ~neck & ~scalp & ~ears & (az < 85)
    my = ctx["mouth_y"]
    nose = skin & (_nose_field(p) > 0.002)
    lips = skin & ~neck & (ax < 0.028) & (np.abs(y - my) < 0.013) & (z > 0.04)
    regions = {
        "scalp": np.nonzero(scalp)[0],
        "neck": np.nonzero(neck)[0],
        "face": np.nonzero(face)[0],
        "forehead": np.nonzero(face & (y > 0.045) & (ax < 0.05))[0],
        "nose": np.nonzero(nose)[0],
        "lips": np.nonzero(lips)[0],
        "left_ear": np.nonzero(ears & (x > 0))[0],
        "right_ear": np.nonzero(ears & (x < 0))[0],
        "left_eye_region": np.nonzero(skin & (np.hypot(x - _EYE_X, y - _EYE_Y) < 0.02) & (z > 0.03))[0],
        "right_eye_region": np.nonzero(skin & (np.hypot(x + _EYE_X, y - _EYE_Y) < 0.02) & (z > 0.03))[0],
        "boundary": ctx["gidx"][lay.rows - 1].astype(np.int64),
        "left_eyeball": ctx["eye_ranges"][0].astype(np.int64),
        "right_eyeball": ctx["eye_ranges"][1].astype(np.int64),
    }
    skin_idx = np.nonzero(skin)[0]
    col0 = ctx["gidx"][: lay.head_rows, 0]
    below = col0[v[col0, 1] < my - 0.02]
    mrow, jin = ctx["mouth_row"], ctx["jin"]
    centre = int(np.nonzero(jin == 0)[0][0])
    points = {
        "nose_tip": int(col0[np.argmax(v[col0, 2])]),
        "chin": int(below[np.argmax(v[below, 2] - 0.3 * v[below, 1])]),
        "left_ear": int(skin_idx[np.argmax(v[skin_idx, 0])]),
        "right_ear": int(skin_idx[np.argmin(v[skin_idx, 0])]),
        "left_eye": int(ctx["eye_ranges"][0][0]),
        "right_eye": int(ctx["eye_ranges"][1][0]),
        "head_top": 0,
        "lip_upper": int(ctx["gidx"][mrow, 0]),
        "lip_lower": int(ctx["dup_idx"][centre]),
    }
    return regions, points


# ----------------------------------------------------------------------------------------------
# UVs


def _uvs(faces: np.ndarray, mouth_faces: np.ndarray, ctx: dict, eye_polar: list) -> tuple:
    lay = ctx["lay"]
    C, R = lay.cols, lay.rows
    n = len(ctx["base"])
    v_top, v_bot = 0.98, 0.14
    uv = np.zeros((n, 2))
    col = ctx["col_of"]
    row = ctx["row_of"]
    grid = col >= 0
    js = np.where(col <= C // 2 - 1, col, col - C)
    uv[grid, 0] = 0.5 + js[grid] / C
    uv[grid, 1] = v_top - (row[grid] + 1) / R * (v_top - v_bot)
    uv[0] = [0.5, v_top]
    n_grid_like = 1 + R * C + len(ctx["dup_idx"])
    eye_start = int(ctx["eye_ranges"][0][0])
    # splits: the split vertex m is the third vertex of the replaced face (a, b, m)
    split_ids = np.arange(n_grid_like, eye_start)
    if len(split_ids):
        sk = faces[: ctx["n_skin_faces"]]
        for m in split_ids:
            fs = sk[(sk == m).any(axis=1)]
            nb = np.unique(fs[fs != m])
            uv[m] = uv[nb].mean(axis=0)
    for e, (rng_, ep) in enumerate(zip(ctx["eye_ranges"], eye_polar)):
        cx = 0.25 if e == 1 else 0.75  # left eye (e=0) on the image right, like the face
        rad = 0.05 * ep[:, 0] / np.pi
        uv[rng_, 0] = cx + rad * np.cos(ep[:, 1])
        uv[rng_, 1] = 0.065 + rad * np.sin(ep[:, 1])

    coords = [uv]
    n_u = n
    fuv = np.asarray(faces, dtype=np.int64).copy()
    # top fan: one pole copy per column
    pole = n_u + np.arange(C)
    us = (uv[fuv[:C, 1], 0] + np.where(np.arange(C) == C // 2 - 1, 1.0, uv[fuv[:C, 2], 0])) / 2.0
    coords.append(np.stack([us, np.full(C, v_top)], axis=1))
    fuv[:C, 0] = pole
    n_u += C
    # back seam: faces spanning the u = 0 / 1 cut get copies of the u = 0 column at u = 1
    seam_col = C // 2  # signed column -C/2 -> u = 0
    seam_v = ctx["gidx"][:, seam_col]
    seam_copy = n_u + np.arange(R)
    coords.append(np.stack([np.ones(R), uv[seam_v, 1]], axis=1))
    n_u += R
    remap = dict(zip(seam_v.tolist(), seam_copy.tolist()))
    sk = fuv[: ctx["n_skin_faces"]]
    fu = uv[faces[: ctx["n_skin_faces"]], 0]
    wrap = (fu.max(axis=1) - fu.min(axis=1)) > 0.5
    for fi in np.nonzero(wrap)[0]:
        for c_ in range(3):
            if sk[fi, c_] in remap and fu[fi, c_] < 0.25:
                sk[fi, c_] = remap[sk[fi, c_]]
    fuv[: ctx["n_skin_faces"]] = sk
    # eyeball back poles: one copy per column
    ncols = lay.eye_cols
    start = ctx["n_skin_faces"]
    for e, (rng_, _ep) in enumerate(zip(ctx["eye_ranges"], eye_polar)):
        nf_eye = 2 * ncols + 2 * ncols * (lay.eye_rings - 1)
        back_faces = np.arange(start + nf_eye - ncols, start + nf_eye)
        back = int(rng_[-1])
        cx = 0.25 if e == 1 else 0.75
        ang = 2 * np.pi * (np.arange(ncols) + 0.5) / ncols
        coords.append(np.stack([cx + 0.05 * np.cos(ang), 0.065 + 0.05 * np.sin(ang)], axis=1))
        copies = n_u + np.arange(ncols)
        n_u += ncols
        for t, fi in enumerate(back_faces):
            fuv[fi, fuv[fi] == back] = copies[t]
        start += nf_eye
    uv_coords = np.concatenate(coords)
    uv_faces = np.concatenate([fuv, mouth_faces]).astype(np.int64)
    return uv, uv_coords, uv_faces


# ----------------------------------------------------------------------------------------------
# landmarks

# frontal targets (x, y) of iBUG-68 points 17..59 (y relative to named heights); x > 0 is the
# subject's left, which iBUG numbers second (points 22..26, 42..47, 54..).
def _frontal_targets(my: float, nose_tip_y: float) -> np.ndarray:
    brow_x = np.array([0.056, 0.046, 0.036, 0.025, 0.014])
    brow_y = np.array([0.046, 0.052, 0.055, 0.054, 0.051])
    pts = []
    pts += [(-bx, by) for bx, by in zip(brow_x, brow_y)]  # 17..21 right brow, outer -> inner
    pts += [(bx, by) for bx, by in zip(brow_x[::-1], brow_y[::-1])]  # 22..26 left brow, inner -> outer
    nose_top = 0.030
    for t in np.linspace(0.0, 1.0, 4):  # 27..30 bridge -> tip
        pts.append((0.0, nose_top + t * (nose_tip_y - nose_top)))
    nb = nose_tip_y - 0.010
    pts += [(-0.012, nb + 0.002), (-0.006, nb - 0.001), (0.0, nb - 0.002), (0.006, nb - 0.001), (0.012, nb + 0.002)]
    ex, ey = _EYE_X, _EYE_Y
    eye = [(-0.013, 0.0), (-0.005, 0.0048), (0.005, 0.0048), (0.013, 0.0), (0.005, -0.0042), (-0.005, -0.0042)]
    pts += [(-ex + dx, ey + dy) for dx, dy in eye]  # 36..41 right eye from its outer corner
    pts += [(ex - dx, ey + dy) for dx, dy in [eye[3], eye[2], eye[1], eye[0], eye[5], eye[4]]]  # 42..47
    # outer lips 48..59
    up = [(-0.024, 0.0), (-0.015, 0.006), (-0.006, 0.009), (0.0, 0.0075), (0.006, 0.009), (0.015, 0.006),
          (0.024, 0.0)]
    low = [(0.016, -0.008), (0.007, -0.0115), (0.0, -0.012), (-0.007, -0.0115), (-0.016, -0.008)]
    pts += [(dx, my + dy) for dx, dy in up + low]
    return np.asarray(pts, dtype=np.float64)


def _vertex_landmark(faces: np.ndarray, n_faces: int, vi: int) -> tuple[int, np.ndarray]:
    """A landmark exactly at vertex ``vi``: the first skin face using it, one-hot barycentrics."""
    sk = faces[:n_faces]
    fi = int(np.nonzero((sk == vi).any(axis=1))[0][0])
    b = (sk[fi] == vi).astype(np.float64)
    return fi, b


def _contour_rays(psi: np.ndarray, origin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k = 0.08 + 1.0 * np.cos(psi) ** 2
    d = np.stack([np.sin(psi), -k, np.cos(psi) + 0.25], axis=1)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return np.repeat(origin[None], len(psi), axis=0), d


def _landmarks(v: np.ndarray, faces: np.ndarray, ctx: dict, points: dict) -> dict:
    n_sf = ctx["n_skin_faces"]
    skin_faces = faces[:n_sf]
    my = ctx["mouth_y"]
    nose_tip_y = float(v[points["nose_tip"], 1])
    tgt = _frontal_targets(my, nose_tip_y)
    origins = np.stack([tgt[:, 0], tgt[:, 1], np.full(len(tgt), 0.4)], axis=1)
    dirs = np.repeat(np.array([[0.0, 0.0, -1.0]]), len(tgt), axis=0)
    fi, bc, _ = ray_cast(v, skin_faces, origins, dirs)
    if (fi < 0).any():
        raise AssertionError(f"landmark rays missed the head: {np.nonzero(fi < 0)[0]}")
    # inner lips 60..67 at the slit vertices: corners, upper chain, lower chain
    k = ctx["lay"].mouth_k
    gidx, mrow, jin, dup = ctx["gidx"], ctx["mouth_row"], ctx["jin"], ctx["dup_idx"]
    C = ctx["lay"].cols
    js = (jin + C // 2) % C - C // 2  # signed
    h = max(1, k // 2)
    pos = {int(s): i for i, s in enumerate(js)}
    inner = [int(gidx[mrow, (-k) % C]), int(gidx[mrow, (-h) % C]), int(gidx[mrow, 0]), int(gidx[mrow, h % C]),
             int(gidx[mrow, k % C]), int(dup[pos[h]]), int(dup[pos[0]]), int(dup[pos[-h]])]
    in_f, in_b = zip(*[_vertex_landmark(faces, n_sf, vi) for vi in inner])
    static_f = np.concatenate([fi, np.asarray(in_f, dtype=np.int64)])
    static_b = np.concatenate([bc, np.asarray(in_b)])

    # contour: sampled along a jaw curve, 0.5 degree steps
    psi_s = np.deg2rad(np.arange(-90.0, 90.0 + 1e-9, 0.5))
    o, d = _contour_rays(psi_s, np.array([0.0, -0.005, 0.0]))
    cf, cb, _ = ray_cast(v, skin_faces, o, d, last=True)
    if (cf < 0).any():
        raise AssertionError("contour rays missed the head")
    psi_l = np.deg2rad(85.0) * (np.arange(17) - 8) / 8.0  # 0 = subject's right (x < 0)
    dyn_f = np.zeros((79, 17), dtype=np.int64)
    dyn_b = np.zeros((79, 17, 3))
    for row in range(79):
        ang = row if row <= 39 else -(row - 39)  # the smplx lookup value (minus the head yaw)
        psi = psi_l.copy()
        s = min(1.0, (80.0 - abs(ang)) / 85.0)
        if ang > 0:
            psi[psi < 0] *= s  # head turned towards its right: its right side goes to the silhouette
        elif ang < 0:
            psi[psi > 0] *= s
        idx = np.clip(np.round((np.rad2deg(psi) + 90.0) / 0.5).astype(np.int64), 0, len(psi_s) - 1)
        dyn_f[row] = cf[idx]
        dyn_b[row] = cb[idx]
    return {
        "lmk_faces_idx": static_f.astype(np.int64),
        "lmk_bary_coords": static_b,
        "dynamic_lmk_faces_idx": dyn_f,
        "dynamic_lmk_bary_coords": dyn_b,
        "full_lmk_faces_idx": np.concatenate([dyn_f[0], static_f]).astype(np.int64),
        "full_lmk_bary_coords": np.concatenate([dyn_b[0], static_b]),
    }


# ----------------------------------------------------------------------------------------------
# writers


class _Py2Pickler(pickle._Pickler):
    """Protocol-2 pickler that writes ``bytes`` as Python 2 strings (``BINSTRING``), the layout of
    the FLAME and RingNet files, which were pickled by Python 2. Readers need
    ``encoding='latin1'`` (as ``smplx`` passes); numpy rebuilds its arrays from the latin-1 text.
    Python 3's own protocol 2 would re-encode every array buffer as UTF-8 text (about 1.4x larger).
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_bytes_py2(self, obj: bytes) -> None:
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_bytes_py2


def _dump_pickle(obj, path: Path, protocol: int) -> None:
    buf = io.BytesIO()
    if protocol == 2:
        _Py2Pickler(buf, protocol=2).dump(obj)
    else:
        pickle.dump(obj, buf, protocol=protocol)
    write_bytes_atomic(path, buf.getvalue())


_STORAGE_KEY = re.compile(rb"Storage\nq\x01X(....)")


def _stable_storage_keys(blob: bytes) -> bytes:
    """Replace the per-process storage keys (memory addresses) that pickled torch tensors carry
    by zeros of the same length, so the same tensors always pickle to the same bytes."""
    out = blob
    for m in _STORAGE_KEY.finditer(blob):
        length = int.from_bytes(m.group(1), "little")
        start = m.end()
        key = blob[start:start + length]
        if key.isdigit():
            out = out.replace(b"X" + m.group(1) + key, b"X" + m.group(1) + b"0" * length)
    return out


def write_flame_files(head: SyntheticHead, flame_dir: Path) -> None:
    """Write the head in FLAME's file formats into ``flame_dir`` (created if needed).

    Files: ``FLAME_NEUTRAL.pkl`` (v_template, f, shapedirs (N,3,400), posedirs (N,3,36),
    J_regressor (5,N) scipy.sparse csc, weights (N,5), kintree_table (2,5), J (5,3), bs_style,
    bs_type; plain numpy, pickle protocol 2), ``flame_static_embedding.pkl``,
    ``flame_dynamic_embedding.npy`` (RingNet formats) and ``landmark_embedding.npy`` (DECA format).
    Each file is written atomically.
    """
    import torch

    flame_dir = Path(flame_dir)
    flame_dir.mkdir(parents=True, exist_ok=True)
    n = head.num_vertices
    if head.shapedirs.shape != (n, 3, NUM_SHAPE + NUM_EXPRESSION):
        raise InputError(f"SyntheticHead.shapedirs: expected ({n}, 3, 400), found {head.shapedirs.shape}")
    kintree = np.stack([np.where(head.parents < 0, 2**32 - 1, head.parents), np.arange(NUM_JOINTS)]).astype(np.int64)
    model = {
        "v_template": np.ascontiguousarray(head.v_template, dtype=np.float64),
        "f": np.ascontiguousarray(head.faces, dtype=np.uint32),
        "shapedirs": np.ascontiguousarray(head.shapedirs, dtype=np.float64),
        "posedirs": np.ascontiguousarray(head.posedirs, dtype=np.float64),
        "J_regressor": scipy.sparse.csc_matrix(head.J_regressor.astype(np.float64)),
        "weights": np.ascontiguousarray(head.weights, dtype=np.float64),
        "kintree_table": kintree,
        "J": np.ascontiguousarray(head.joints, dtype=np.float64),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }
    _dump_pickle(model, flame_dir / "FLAME_NEUTRAL.pkl", protocol=2)
    static = {
        "lmk_face_idx": head.lmk_faces_idx.astype(np.uint32),
        "lmk_b_coords": head.lmk_bary_coords.astype(np.float64),
    }
    _dump_pickle(static, flame_dir / "flame_static_embedding.pkl", protocol=2)
    dynamic = {
        "lmk_face_idx": [row.astype(np.int64) for row in head.dynamic_lmk_faces_idx],
        "lmk_b_coords": [row.astype(np.float64) for row in head.dynamic_lmk_bary_coords],
    }
    with atomic_path(flame_dir / "flame_dynamic_embedding.npy") as tmp:
        np.save(tmp, np.array(dynamic, dtype=object), allow_pickle=True)
    deca = {
        "static_lmk_faces_idx": head.lmk_faces_idx.astype(np.int64),
        "static_lmk_bary_coords": head.lmk_bary_coords.astype(np.float64),
        "dynamic_lmk_faces_idx": torch.from_numpy(head.dynamic_lmk_faces_idx.astype(np.int64)),
        "dynamic_lmk_bary_coords": torch.from_numpy(head.dynamic_lmk_bary_coords.astype(np.float32)),
        "full_lmk_faces_idx": head.full_lmk_faces_idx.astype(np.int64)[None],
        "full_lmk_bary_coords": head.full_lmk_bary_coords.astype(np.float32)[None],
    }
    buf = io.BytesIO()
    np.save(buf, np.array(deca, dtype=object), allow_pickle=True)
    write_bytes_atomic(flame_dir / "landmark_embedding.npy", _stable_storage_keys(buf.getvalue()))
    logger.info("wrote synthetic FLAME files (%d vertices) to %s", n, flame_dir)


__all__ = [
    "FLAME_NUM_VERTICES",
    "NUM_SHAPE",
    "NUM_EXPRESSION",
    "JOINT_NAMES",
    "SyntheticHead",
    "build_head",
    "write_flame_files",
]
