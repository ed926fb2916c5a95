"""Procedural SMPL-X-format body: a smooth mannequin whose head IS the synthetic FLAME head.

The body is built from closed tubes with smooth radius profiles (torso, neck, arms, palms, fingers,
legs, feet) around the synthetic head. Frame: y up, facing +z, metres, the body's left at +x, the
pelvis joint at the origin (like SMPL-X), soles at ``FLOOR_Y``.

* Vertex order: the head's vertices and the tubes' vertices are permuted so that the vertex ids the
  smplx package reads for its extra joints (``smplx.vertex_ids.vertex_ids['smplx']``, read at run
  time) sit at the named parts (nose, eyes, ears, finger tips, toes, heels).
* Head: FLAME vertex ``i`` is body vertex ``corr[i]`` with ``v_template[corr] = head.v_template +
  HEAD_OFFSET`` exactly (same orientation and scale). The head's faces are the first faces of the
  body, so the head's landmark embeddings are valid for the body unchanged.
* Joints: 55, with SMPL-X's kinematic tree (names from ``smplx.joint_names.JOINT_NAMES[:55]``).
  ``J_regressor`` rows are convex combinations of nearby vertices of the part the joint belongs to;
  the neck, head, jaw and eye rows are the head's own regressor rows mapped through ``corr``.
* Shape space (400 = 300 shape + 100 expression): components ``0 .. BODY_SHAPE_COMPONENTS-1`` are
  whole-body fields (height, girth, shoulder width, ...; the head moves rigidly with them);
  components ``HEAD_SHAPE_START + k`` equal the head's shape component ``k`` on the head vertices;
  components ``300 + k`` equal the head's expression component ``k`` on the head vertices.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rome_smplx.errors import InputError

log = logging.getLogger(__name__)

#: SMPL-X's vertex count: the smplx package hard-codes extra-joint vertex ids up to 9929, so a
#: stand-in must have at least that many vertices; it uses the real count.
SMPLX_NUM_VERTICES = 10475
#: SMPL-X's joint count: pelvis + 21 body joints + jaw + 2 eyes + 2 x 15 finger joints.
SMPLX_NUM_JOINTS = 55
#: Size of the shape part of the SMPL-X shape space (the expression part follows it).
SHAPE_SPACE_DIM = 300
#: Size of the expression part of the SMPL-X shape space.
EXPRESSION_SPACE_DIM = 100
#: Number of whole-body shape components (height, girth, ...) at the start of the shape space.
BODY_SHAPE_COMPONENTS = 20
#: Body shape component ``HEAD_SHAPE_START + k`` equals the head's shape component ``k`` on the head.
HEAD_SHAPE_START = BODY_SHAPE_COMPONENTS
#: Translation from the FLAME frame (origin near the head centre) to the body frame: it puts the
#: head on the neck. ``v_template[corr] == head.v_template + HEAD_OFFSET``.
HEAD_OFFSET = np.array([0.0, 0.655, 0.0])
#: Height of the soles in the body frame (the body is about 1.7 m tall).
FLOOR_Y = -0.93
#: Fewest non-head vertices the tubes need (so the head may have at most
#: ``SMPLX_NUM_VERTICES - MIN_BODY_VERTICES`` vertices).
MIN_BODY_VERTICES = 2400

#: Side of the head's square chart in the body's UV atlas (the head's own [0, 1] layout, scaled).
HEAD_UV_SIDE = 0.5
#: Empty UV margin around every chart of the atlas (8 texels of a 1024 texture), room for dilation.
UV_GUTTER = 8.0 / 1024.0

_FLAME_TO_BODY_JOINT = ("neck", "head", "jaw", "left_eye_smplhf", "right_eye_smplhf")
_FINGERS = ("index", "middle", "pinky", "ring", "thumb")


def joint_names() -> list[str]:
    """The 55 SMPL-X joint names, in order (from the smplx package)."""
    from smplx.joint_names import JOINT_NAMES

    return list(JOINT_NAMES[:SMPLX_NUM_JOINTS])


def _parent_name(name: str) -> str | None:
    fixed = {
        "pelvis": None, "left_hip": "pelvis", "right_hip": "pelvis", "spine1": "pelvis",
        "left_knee": "left_hip", "right_knee": "right_hip", "spine2": "spine1",
        "left_ankle": "left_knee", "right_ankle": "right_knee", "spine3": "spine2",
        "left_foot": "left_ankle", "right_foot": "right_ankle", "neck": "spine3",
        "left_collar": "spine3", "right_collar": "spine3", "head": "neck",
        "left_shoulder": "left_collar", "right_shoulder": "right_collar",
        "left_elbow": "left_shoulder", "right_elbow": "right_shoulder",
        "left_wrist": "left_elbow", "right_wrist": "right_elbow",
        "jaw": "head", "left_eye_smplhf": "head", "right_eye_smplhf": "head",
    }
    if name in fixed:
        return fixed[name]
    side, finger = name.split("_", 1)
    n = int(finger[-1])
    return f"{side}_wrist" if n == 1 else f"{side}_{finger[:-1]}{n - 1}"


def kinematic_parents() -> np.ndarray:
    """``(55,)`` int64 parent index of each joint (``-1`` for the pelvis), SMPL-X's tree."""
    names = joint_names()
    idx = {n: i for i, n in enumerate(names)}
    return np.array([-1 if _parent_name(n) is None else idx[_parent_name(n)] for n in names], dtype=np.int64)


# ----------------------------------------------------------------------------------------------
# rest-pose skeleton (left side; the right side mirrors x)

def _left_skeleton() -> dict[str, np.ndarray]:
    a = np.array
    j = {
        "hip": a([0.085, -0.07, 0.0]), "knee": a([0.095, -0.50, 0.012]), "ankle": a([0.10, -0.855, -0.03]),
        "foot": a([0.11, -0.905, 0.085]), "collar": a([0.07, 0.415, -0.012]),
        "shoulder": a([0.175, 0.43, -0.02]), "elbow": a([0.435, 0.43, -0.035]), "wrist": a([0.67, 0.43, -0.03]),
    }
    knuckles = {"index": (0.765, 0.026), "middle": (0.77, 0.005), "ring": (0.765, -0.015), "pinky": (0.755, -0.034)}
    lengths = {"index": (0.038, 0.024, 0.022), "middle": (0.042, 0.027, 0.023), "ring": (0.039, 0.026, 0.022),
               "pinky": (0.030, 0.020, 0.019), "thumb": (0.036, 0.030, 0.025)}
    spread = {"index": 0.10, "middle": 0.0, "ring": -0.08, "pinky": -0.18}
    for f, (x, z) in knuckles.items():
        d = a([1.0, -0.02, spread[f]])
        d /= np.linalg.norm(d)
        p = a([x, 0.428, z])
        j[f + "1"] = p
        for k, ln in enumerate(lengths[f]):
            p = p + ln * d
            j[f + ("2", "3", "_tip")[k]] = p
    d = a([0.55, -0.12, 0.8])
    d /= np.linalg.norm(d)
    p = a([0.685, 0.418, 0.018])
    j["thumb1"] = p
    for k, ln in enumerate(lengths["thumb"]):
        p = p + ln * d
        j["thumb" + ("2", "3", "_tip")[k]] = p
    return j


def _mirror(p: np.ndarray) -> np.ndarray:
    return p * np.array([-1.0, 1.0, 1.0])


# ----------------------------------------------------------------------------------------------
# tube meshes

def _smoothstep(x: np.ndarray, a: float, b: float) -> np.ndarray:
    t = np.clip((np.asarray(x, dtype=np.float64) - a) / (b - a), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


@dataclass
class _Tube:
    """A closed tube around a polyline axis (nodes with elliptic radii), with rounded ends."""

    name: str
    nodes: np.ndarray  # (K, 3)
    ru: np.ndarray  # (K,) radius along the frame's u axis
    rv: np.ndarray  # (K,) radius along v
    ref: np.ndarray  # (3,) reference direction for u
    density: float = 1.0  # vertex density multiplier
    min_segs: int = 6
    # filled by build():
    verts: np.ndarray = field(default=None, repr=False)
    faces: np.ndarray = field(default=None, repr=False)
    s: np.ndarray = field(default=None, repr=False)  # (n,) arclength of each vertex's ring
    centre: np.ndarray = field(default=None, repr=False)  # (n, 3) axis point of each vertex's ring
    start_pole: int = 0
    end_pole: int = 0
    last_ring: np.ndarray = field(default=None, repr=False)  # indices of the ring before the end cap
    uv: np.ndarray = field(default=None, repr=False)  # (U, 2) chart coordinates in metres (u around, v along)
    uv_faces: np.ndarray = field(default=None, repr=False)  # (F, 3) indices into ``uv``, one row per face

    def _axis(self, s: np.ndarray):
        seg = np.linalg.norm(np.diff(self.nodes, axis=0), axis=1)
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        L = cum[-1]
        sc = np.clip(s, 0.0, L)
        i = np.clip(np.searchsorted(cum, sc, side="right") - 1, 0, len(seg) - 1)
        t = (sc - cum[i]) / seg[i]
        pos = self.nodes[i] + t[:, None] * (self.nodes[i + 1] - self.nodes[i])
        ts = t * t * (3 - 2 * t)
        ru = self.ru[i] + ts * (self.ru[i + 1] - self.ru[i])
        rv = self.rv[i] + ts * (self.rv[i + 1] - self.rv[i])
        # tangent: average of the neighbouring segment directions (smooth at corners)
        eps = 0.25 * np.minimum(seg.min(), 0.02)
        a = self._point(np.clip(sc - eps, 0, L), cum)
        b = self._point(np.clip(sc + eps, 0, L), cum)
        d = b - a
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        return pos, ru, rv, d, L

    def _point(self, s, cum):
        seg = np.diff(cum)
        i = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(seg) - 1)
        t = (s - cum[i]) / seg[i]
        return self.nodes[i] + t[:, None] * (self.nodes[i + 1] - self.nodes[i])

    def counts(self, h: float) -> tuple[int, int, int]:
        hh = h / self.density
        seg = np.linalg.norm(np.diff(self.nodes, axis=0), axis=1).sum()
        rmean = 0.5 * (self.ru.mean() + self.rv.mean())
        segs = max(self.min_segs, round(2 * np.pi * rmean / hh))
        rings = max(3, int(np.ceil(seg / hh)) + 1)
        cap = max(2, int(np.ceil(0.5 * np.pi * rmean / hh)))
        return rings, segs, cap

    def num_vertices(self, h: float) -> int:
        rings, segs, cap = self.counts(h)
        return (rings + 2 * (cap - 1)) * segs + 2

    def build(self, h: float, consistent_caps: bool = False) -> None:
        """Build the mesh at edge length ``h``.

        ``consistent_caps`` winds the two end caps like the rest of the tube. Without it (generator
        version 2) the cap triangles are wound the other way round, which reverses their normals and
        leaves two half-edges per cap edge running the same way.
        """
        rings, segs, cap = self.counts(h)
        L = np.linalg.norm(np.diff(self.nodes, axis=0), axis=1).sum()
        s_in = np.linspace(0.0, L, rings)
        pos, ru, rv, d, _ = self._axis(s_in)
        # rounded caps: rings shrinking like a quarter ellipse beyond each end
        ca = np.arange(1, cap) / cap * (np.pi / 2)
        r0 = 0.5 * (ru[0] + rv[0])
        r1 = 0.5 * (ru[-1] + rv[-1])
        c_start = [(pos[0] - r0 * np.sin(a) * d[0], np.cos(a)) for a in ca[::-1]]
        c_end = [(pos[-1] + r1 * np.sin(a) * d[-1], np.cos(a)) for a in ca]
        centres = np.concatenate([[c for c, _ in c_start], pos, [c for c, _ in c_end]]) if cap > 1 else pos
        fac = np.concatenate([[f for _, f in c_start], np.ones(rings), [f for _, f in c_end]])
        rus = np.concatenate([np.full(cap - 1, ru[0]), ru, np.full(cap - 1, ru[-1])]) * fac
        rvs = np.concatenate([np.full(cap - 1, rv[0]), rv, np.full(cap - 1, rv[-1])]) * fac
        dirs = np.concatenate([np.repeat(d[:1], cap - 1, 0), d, np.repeat(d[-1:], cap - 1, 0)])
        svals = np.concatenate([-r0 * np.sin(ca[::-1]), s_in, L + r1 * np.sin(ca)])
        u = self.ref[None] - (dirs @ self.ref)[:, None] * dirs
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        v = np.cross(dirs, u)
        phi = np.arange(segs) / segs * 2 * np.pi
        ring_pts = (centres[:, None] + rus[:, None, None] * np.cos(phi)[None, :, None] * u[:, None]
                    + rvs[:, None, None] * np.sin(phi)[None, :, None] * v[:, None])
        nr = len(centres)
        verts = np.concatenate([[centres[0] - r0 * dirs[0] * (1.0 if cap > 1 else 0.5)], ring_pts.reshape(-1, 3),
                                [centres[-1] + r1 * dirs[-1] * (1.0 if cap > 1 else 0.5)]])
        # poles sit exactly at the rounded ends
        verts[0] = pos[0] - r0 * d[0]
        verts[-1] = pos[-1] + r1 * d[-1]
        idx = 1 + np.arange(nr * segs).reshape(nr, segs)
        nxt = np.roll(idx, -1, axis=1)
        quads_a = np.stack([idx[:-1], idx[1:], nxt[1:]], -1).reshape(-1, 3)
        quads_b = np.stack([idx[:-1], nxt[1:], nxt[:-1]], -1).reshape(-1, 3)
        top = len(verts) - 1
        fan0 = np.stack([np.zeros(segs, int), nxt[0], idx[0]], -1)
        fan1 = np.stack([np.full(segs, top), idx[-1], nxt[-1]], -1)
        if consistent_caps:
            fan0, fan1 = fan0[:, [0, 2, 1]], fan1[:, [0, 2, 1]]
        faces = np.concatenate([fan0, quads_a, quads_b, fan1]).astype(np.int64)
        # UV chart: the (around, along) cylinder coordinates unrolled; the column at phi = 2 pi repeats
        # phi = 0 (the seam), and each pole has one copy per column so the caps unroll without overlap.
        ring_len = np.linalg.norm(np.roll(ring_pts, -1, axis=1) - ring_pts, axis=2).sum(1)
        circ = float(ring_len[cap - 1:cap - 1 + rings].mean()) if cap > 1 else float(ring_len.mean())
        along = svals + r0  # distance along the axis from the start pole
        end = L + r1 + r0
        grid_uv = np.stack(np.broadcast_arrays(circ * np.arange(segs + 1)[None] / segs, along[:, None]), -1)
        mid = circ * (np.arange(segs) + 0.5) / segs
        uv = np.concatenate([grid_uv.reshape(-1, 2), np.stack([mid, np.zeros(segs)], 1),
                             np.stack([mid, np.full(segs, end)], 1)])
        g = np.arange(nr * (segs + 1)).reshape(nr, segs + 1)
        pole0 = nr * (segs + 1) + np.arange(segs)
        pole1 = pole0 + segs
        uf0 = np.stack([pole0, g[0, 1:], g[0, :-1]], -1)
        ua = np.stack([g[:-1, :-1], g[1:, :-1], g[1:, 1:]], -1).reshape(-1, 3)
        ub = np.stack([g[:-1, :-1], g[1:, 1:], g[:-1, 1:]], -1).reshape(-1, 3)
        uf1 = np.stack([pole1, g[-1, :-1], g[-1, 1:]], -1)
        if consistent_caps:
            uf0, uf1 = uf0[:, [0, 2, 1]], uf1[:, [0, 2, 1]]
        uv_faces = np.concatenate([uf0, ua, ub, uf1]).astype(np.int64)
        if _signed_volume(verts, faces) < 0:
            faces = faces[:, ::-1].copy()
            uv_faces = uv_faces[:, ::-1].copy()
        tri = uv[uv_faces]
        if np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]).sum() < 0:
            uv[:, 0] = circ - uv[:, 0]  # unroll the other way round: counter-clockwise in UV like the mesh
        self.verts, self.faces = verts, faces
        self.uv, self.uv_faces = uv, uv_faces
        self.s = np.concatenate([[-r0], np.repeat(svals, segs), [L + r1]])
        self.centre = np.concatenate([[verts[0]], np.repeat(centres, segs, axis=0), [verts[-1]]])
        self.start_pole, self.end_pole = 0, top
        self.last_ring = idx[rings - 1 + cap - 1]

    def axis_param(self, p: np.ndarray) -> float:
        """Arclength of the axis point nearest to ``p`` (3,)."""
        best, best_s, acc = np.inf, 0.0, 0.0
        for a, b in zip(self.nodes[:-1], self.nodes[1:]):
            ab = b - a
            t = float(np.clip((p - a) @ ab / (ab @ ab), 0.0, 1.0))
            dist = np.linalg.norm(a + t * ab - p)
            if dist < best:
                best, best_s = dist, acc + t * np.linalg.norm(ab)
            acc += np.linalg.norm(ab)
        return best_s


def _signed_volume(v: np.ndarray, f: np.ndarray) -> float:
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def _ring_fit(pts: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Centre and x/z half extents of a (roughly horizontal) vertex ring ``(n, 3)``."""
    c = pts.mean(0)
    rx = float(np.abs(pts[:, 0] - c[0]).max())
    rz = float(np.abs(pts[:, 2] - c[2]).max())
    return c, rx, rz


def _make_tubes(head_ring: tuple[np.ndarray, float, float]) -> list[_Tube]:
    a = np.array
    Y, Z = a([0, 1.0, 0]), a([0, 0, 1.0])
    J = _left_skeleton()
    tubes = []
    # torso: a vertical tube with an elliptic cross-section (u = z depth, v = x width)
    ty = a([-0.10, -0.07, 0.0, 0.10, 0.22, 0.32, 0.39, 0.43])
    tz = a([-0.012, -0.015, -0.012, -0.005, 0.0, 0.005, -0.005, -0.012])
    twidth = a([0.135, 0.165, 0.16, 0.135, 0.148, 0.162, 0.165, 0.12])
    tdepth = a([0.085, 0.105, 0.10, 0.095, 0.105, 0.112, 0.10, 0.075])
    tubes.append(_Tube("torso", np.stack([np.zeros_like(ty), ty, tz], 1), tdepth, twidth, Z, density=1.0))
    # neck: from inside the torso up through the head's neck ring
    c, rx, rz = head_ring
    nodes = a([[0.0, 0.36, -0.015], [0.0, c[1] - 0.045, 0.6 * c[2] - 0.006], c, c + a([0, 0.03, 0.0])])
    tubes.append(_Tube("neck", nodes, a([0.055, 0.97 * rz, 0.97 * rz, 0.85 * rz]),
                       a([0.06, 0.97 * rx, 0.97 * rx, 0.85 * rx]), Z, density=1.0))
    for side, m in (("left", lambda p: p), ("right", _mirror)):
        # arm: shoulder (inside the torso) to the wrist; u = y (height), v = z (depth)
        nodes = a([m(a([0.11, 0.43, -0.02])), m(J["shoulder"]), m(a([0.30, 0.43, -0.028])), m(J["elbow"]),
                   m(a([0.55, 0.43, -0.033])), m(J["wrist"]), m(a([0.685, 0.43, -0.028]))])
        tubes.append(_Tube(f"{side}_arm", nodes, a([0.05, 0.05, 0.044, 0.035, 0.036, 0.025, 0.024]),
                           a([0.055, 0.052, 0.046, 0.038, 0.038, 0.031, 0.03]), Y))
        # palm: wrist to knuckles, flat (u = y thickness, v = z width)
        nodes = a([m(a([0.665, 0.43, -0.025])), m(a([0.70, 0.43, -0.008])), m(a([0.752, 0.429, -0.004]))])
        tubes.append(_Tube(f"{side}_palm", nodes, a([0.02, 0.017, 0.013]), a([0.031, 0.042, 0.046]), Y,
                           density=2.5))
        for f in _FINGERS:
            d = J[f + "_tip"] - J[f + "3"]
            d /= np.linalg.norm(d)
            r = {"index": 0.0088, "middle": 0.0092, "ring": 0.0086, "pinky": 0.0076, "thumb": 0.0105}[f]
            start = J[f + "1"] - (0.02 if f == "thumb" else 0.012) * (J[f + "2"] - J[f + "1"]) / np.linalg.norm(
                J[f + "2"] - J[f + "1"])
            end = J[f + "_tip"] - 0.8 * r * d
            nodes = np.stack([m(start), m(J[f + "1"]), m(J[f + "2"]), m(J[f + "3"]), m(end)])
            radii = r * a([1.05, 1.0, 0.93, 0.86, 0.8])
            tubes.append(_Tube(f"{side}_{f}", nodes, radii, radii * 1.05, Y, density=3.2, min_segs=6))
        # leg: from inside the torso down to the ankle; u = z, v = x
        nodes = a([m(a([0.085, -0.02, -0.005])), m(J["hip"]), m(a([0.09, -0.28, 0.0])), m(J["knee"]),
                   m(a([0.098, -0.64, -0.01])), m(J["ankle"]), m(a([0.10, -0.875, -0.035]))])
        tubes.append(_Tube(f"{side}_leg", nodes, a([0.08, 0.082, 0.072, 0.052, 0.055, 0.036, 0.034]),
                           a([0.078, 0.08, 0.068, 0.05, 0.05, 0.034, 0.032]), Z))
        # foot: heel to toes along z; u = y (height), v = x (width)
        nodes = a([m(a([0.10, -0.90, -0.065])), m(a([0.105, -0.895, 0.0])), m(J["foot"]),
                   m(a([0.115, -0.91, 0.15]))])
        tubes.append(_Tube(f"{side}_foot", nodes, a([0.03, 0.034, 0.025, 0.017]), a([0.032, 0.038, 0.043, 0.04]),
                           Y, density=1.8))
    return tubes


# ----------------------------------------------------------------------------------------------
# the body

@dataclass
class SyntheticBody:
    """A procedural SMPL-X-format body (arrays in the file's layout; V = ``SMPLX_NUM_VERTICES``).

    Attributes:
        v_template: ``(V, 3)`` float64 rest vertices (T-pose, y up, facing +z, metres).
        faces: ``(F, 3)`` int64; the first ``F_head`` faces are ``corr[head.faces]``.
        shapedirs: ``(V, 3, 400)`` float32 (300 shape + 100 expression).
        posedirs: ``(V, 3, 486)`` float32 pose correctives (54 joints x 9).
        J_regressor: ``(55, V)`` float64, rows are convex vertex combinations.
        weights: ``(V, 55)`` float64 skinning weights (rows sum to 1).
        parents: ``(55,)`` int64, ``-1`` for the pelvis.
        joints: ``(55, 3)`` rest joints (``J_regressor @ v_template``).
        hands_components_l/r: ``(45, 45)`` orthonormal rows; hands_mean_l/r: ``(45,)``.
        lmk_faces_idx, lmk_bary_coords, dynamic_lmk_faces_idx, dynamic_lmk_bary_coords: the head's
            embeddings, ``(51,)``, ``(51, 3)``, ``(79, 17)``, ``(79, 17, 3)`` (valid for the body's faces).
        corr: ``(N,)`` int64 FLAME vertex -> body vertex.
        parts: part name -> body vertex indices (``head`` plus every tube).
        extra_vertices: smplx extra-joint name -> body vertex index (the package's ids).
        vt: ``(U, 2)`` float32 UV atlas in [0, 1] (v up, as SMPL-X's ``vt``), or ``None`` (built with
            ``with_uv=False``).
        ft: ``(F, 3)`` int64 per-face indices into ``vt`` (SMPL-X's ``ft``), or ``None``.
    """

    v_template: np.ndarray
    faces: np.ndarray
    shapedirs: np.ndarray
    posedirs: np.ndarray
    J_regressor: np.ndarray
    weights: np.ndarray
    parents: np.ndarray
    joints: np.ndarray
    hands_components_l: np.ndarray
    hands_components_r: np.ndarray
    hands_mean_l: np.ndarray
    hands_mean_r: np.ndarray
    lmk_faces_idx: np.ndarray
    lmk_bary_coords: np.ndarray
    dynamic_lmk_faces_idx: np.ndarray
    dynamic_lmk_bary_coords: np.ndarray
    corr: np.ndarray
    parts: dict
    extra_vertices: dict
    joint_names: list
    head_offset: np.ndarray
    vt: np.ndarray | None = None
    ft: np.ndarray | None = None


def _chain_weights(s: np.ndarray, bounds: list[tuple[float, int, float]], first: int, nj: int) -> np.ndarray:
    """Weights along an axis: joint ``first`` before the first bound, then each bound's joint.

    ``bounds``: ``(s_k, joint_k, half_width_k)`` in increasing ``s_k``; the switch is a smoothstep
    of width ``2 * half_width_k`` centred on ``s_k``.
    """
    w = np.zeros((len(s), nj))
    w[:, first] = 1.0
    for sk, jk, hw in bounds:
        t = _smoothstep(s, sk - hw, sk + hw)[:, None]
        e = np.zeros(nj)
        e[jk] = 1.0
        w = (1 - t) * w + t * e[None]
    return w


def _blend(w: np.ndarray, t: np.ndarray, j: int) -> np.ndarray:
    e = np.zeros(w.shape[1])
    e[j] = 1.0
    return (1 - t[:, None]) * w + t[:, None] * e[None]


def _convex_regressor(target: np.ndarray, cand: np.ndarray, verts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative weights (summing to 1) on candidate vertices whose combination is ``target``."""
    from scipy.optimize import nnls

    d = np.linalg.norm(verts[cand] - target, axis=1)
    for k in (16, 40, 120, len(cand)):
        sel = cand[np.argsort(d)[: min(k, len(cand))]]
        A = np.concatenate([verts[sel].T, 10.0 * np.ones((1, len(sel)))])
        b = np.concatenate([target, [10.0]])
        w, res = nnls(A, b)
        if res < 1e-9:
            break
    keep = w > 1e-12
    w = w[keep] / w[keep].sum()
    return sel[keep], w


def _winding(points: np.ndarray, v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Generalised winding number of ``points`` ``(P, 3)`` w.r.t. the triangles ``f`` of ``v``."""
    out = np.zeros(len(points))
    for i, p in enumerate(points):
        a, b, c = v[f[:, 0]] - p, v[f[:, 1]] - p, v[f[:, 2]] - p
        la, lb, lc = (np.linalg.norm(x, axis=1) for x in (a, b, c))
        num = np.einsum("ij,ij->i", a, np.cross(b, c))
        den = la * lb * lc + np.einsum("ij,ij->i", a, b) * lc + np.einsum("ij,ij->i", b, c) * la \
            + np.einsum("ij,ij->i", c, a) * lb
        out[i] = 2 * np.arctan2(num, den).sum() / (4 * np.pi)
    return out


def body_winding_numbers(body: SyntheticBody, head_faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Winding number of ``points`` ``(P, 3)`` w.r.t. the body, as the sum over its closed parts.

    The body is a union of closed tubes plus the head, which is closed except its neck ring; the ring
    is capped with a fan at its centroid for this purpose. Each closed, outward-oriented component
    contributes 1 inside and 0 outside, so the sum is >= 1 exactly for points inside the body.
    """
    total = np.zeros(len(points))
    v = body.v_template
    head_faces_b = body.corr[np.asarray(head_faces)]
    # cap the head's open ring: its boundary edges fanned to their centroid
    e = np.concatenate([head_faces_b[:, [0, 1]], head_faces_b[:, [1, 2]], head_faces_b[:, [2, 0]]])
    key = {tuple(x) for x in e.tolist()}
    border = np.array([x for x in e.tolist() if (x[1], x[0]) not in key])
    vv = np.concatenate([v, v[np.unique(border)].mean(0, keepdims=True)])
    cap = np.concatenate([border[:, [1, 0]], np.full((len(border), 1), len(v))], 1) if len(border) else \
        np.zeros((0, 3), np.int64)
    wh = _winding(points, vv, np.concatenate([head_faces_b, cap]))
    total += np.abs(wh)
    n_head = len(head_faces)
    rest = body.faces[n_head:]
    for name, idx in body.parts.items():
        if name == "head":
            continue
        mask = np.isin(rest[:, 0], idx)
        total += _winding(points, v, rest[mask])
    return total


def build_body(head, seed: int = 0, with_uv: bool = True) -> SyntheticBody:
    """Build the mannequin around ``head`` (a ``SyntheticHead`` in the FLAME frame).

    Args:
        head: the synthetic head (``v_template (N, 3)``, ``faces``, ``joints (5, 3)``, ``weights (N, 5)``,
            ``shapedirs (N, 3, 400)``, ``posedirs (N, 3, 36)``, ``J_regressor (5, N)``, ``regions``,
            ``points``, landmark embeddings and, for ``with_uv``, ``uv_coords`` / ``uv_faces``).
        seed: seeds the random smooth shape components and the hand PCA completion.
        with_uv: the generator-version-3 body: a UV atlas (``vt``, ``ft``; see :func:`_uv_atlas`) and
            consistently wound tube start caps (``f`` differs from version 2 only in the winding of
            those triangles). ``False`` reproduces version 2 exactly.

    Returns:
        :class:`SyntheticBody` with ``SMPLX_NUM_VERTICES`` vertices.

    Raises:
        InputError: the head leaves fewer than ``MIN_BODY_VERTICES`` vertices for the body.
    """
    from smplx.vertex_ids import vertex_ids

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xB0D1]))
    hv = np.asarray(head.v_template, dtype=np.float64)
    N = hv.shape[0]
    budget = SMPLX_NUM_VERTICES - N
    if budget < MIN_BODY_VERTICES:
        raise InputError(
            f"synthetic body: the head has {N} vertices; at most {SMPLX_NUM_VERTICES - MIN_BODY_VERTICES} "
            f"leave room for the body (SMPL-X has {SMPLX_NUM_VERTICES} vertices)")
    names = joint_names()
    jidx = {n: i for i, n in enumerate(names)}
    nj = len(names)

    head_v = hv + HEAD_OFFSET
    ring = np.asarray(head.regions["boundary"], dtype=np.int64)
    ring_fit = _ring_fit(head_v[ring])
    tubes = _make_tubes(ring_fit)

    # choose the tube resolution so that head + tubes fit the budget, then pad exactly
    lo, hi = 0.002, 0.2
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        if sum(t.num_vertices(mid) for t in tubes) > budget:
            lo = mid
        else:
            hi = mid
    for t in tubes:
        t.build(hi, consistent_caps=with_uv)
    # natural order: head vertices, then tubes
    verts = [head_v]
    faces = [np.asarray(head.faces, dtype=np.int64)]
    parts = {"head": np.arange(N)}
    off = N
    s_all = np.zeros(N)
    centre_all = [np.repeat(ring_fit[0][None], N, 0)]
    tube_of = {}
    for t in tubes:
        n = len(t.verts)
        verts.append(t.verts)
        faces.append(t.faces + off)
        parts[t.name] = np.arange(off, off + n)
        tube_of[t.name] = (t, off)
        s_all = np.concatenate([s_all, t.s])
        centre_all.append(t.centre)
        off += n
    V = np.concatenate(verts)
    Fc = np.concatenate(faces)
    C = np.concatenate(centre_all)
    VT, FT = _uv_atlas(head, tubes) if with_uv else (None, None)
    # pad with centroid splits of the torso's largest triangles
    pad = SMPLX_NUM_VERTICES - len(V)
    if pad > 0:
        t, o = tube_of["torso"]
        tf = np.where((Fc >= o).all(1) & (Fc < o + len(t.verts)).all(1))[0]
        area = np.linalg.norm(np.cross(V[Fc[tf, 1]] - V[Fc[tf, 0]], V[Fc[tf, 2]] - V[Fc[tf, 0]]), axis=1)
        pick = tf[np.argsort(-area, kind="stable")[:pad]]
        newv = V[Fc[pick]].mean(1)
        new_c = C[Fc[pick, 0]]
        new_s = s_all[Fc[pick, 0]]
        new_idx = len(V) + np.arange(pad)
        a, b, c = Fc[pick, 0], Fc[pick, 1], Fc[pick, 2]
        extra_f = np.concatenate([np.stack([b, c, new_idx], 1), np.stack([c, a, new_idx], 1)])
        Fc[pick] = np.stack([a, b, new_idx], 1)
        Fc = np.concatenate([Fc, extra_f])
        if with_uv:  # the split vertex sits at the UV centroid of the face it splits
            ta, tb, tc = FT[pick, 0], FT[pick, 1], FT[pick, 2]
            new_t = len(VT) + np.arange(pad)
            VT = np.concatenate([VT, VT[FT[pick]].mean(1)])
            FT = np.concatenate([FT, np.stack([tb, tc, new_t], 1), np.stack([tc, ta, new_t], 1)])
            FT[pick] = np.stack([ta, tb, new_t], 1)
        V = np.concatenate([V, newv])
        C = np.concatenate([C, new_c])
        s_all = np.concatenate([s_all, new_s])
        parts["torso"] = np.concatenate([parts["torso"], new_idx])
    assert len(V) == SMPLX_NUM_VERTICES
    part_of = np.empty(len(V), dtype=object)
    for k, idx in parts.items():
        part_of[idx] = k

    # ---- skinning weights (natural order)
    W = np.zeros((len(V), nj))
    hw = np.asarray(head.weights, dtype=np.float64)
    for fj, bj in enumerate(_FLAME_TO_BODY_JOINT):
        W[:N, jidx[bj]] = hw[:, fj]
    Jl = _left_skeleton()
    head_joints = np.asarray(head.joints, dtype=np.float64) + HEAD_OFFSET
    for name, (t, _o) in tube_of.items():
        idx = parts[name]
        s = s_all[idx]
        if name == "torso":
            sy = V[idx, 1]
            w = _chain_weights(sy, [(0.10, jidx["spine1"], 0.05), (0.2, jidx["spine2"], 0.05),
                                    (0.29, jidx["spine3"], 0.04)], jidx["pelvis"], nj)
            for side, sg in (("left", 1.0), ("right", -1.0)):
                xs = sg * V[idx, 0]
                hip = _smoothstep(-sy, 0.0, 0.08) * _smoothstep(xs, 0.02, 0.09)
                w = _blend(w, hip, jidx[f"{side}_hip"])
                col = _smoothstep(sy, 0.32, 0.40) * _smoothstep(xs, 0.03, 0.10)
                w = _blend(w, col, jidx[f"{side}_collar"])
                sh = _smoothstep(xs, 0.11, 0.17) * _smoothstep(sy, 0.34, 0.42)
                w = _blend(w, sh, jidx[f"{side}_shoulder"])
        elif name == "neck":
            w = _chain_weights(V[idx, 1], [(0.44, jidx["neck"], 0.03),
                                           (head_joints[1, 1], jidx["head"], 0.02)], jidx["spine3"], nj)
        else:
            side, kind = name.split("_", 1)

            def sj(j, t=t, side=side):
                return t.axis_param(Jl[j] if side == "left" else _mirror(Jl[j]))

            if kind == "arm":
                w = _chain_weights(s, [(sj("shoulder"), jidx[f"{side}_shoulder"], 0.05),
                                       (sj("elbow"), jidx[f"{side}_elbow"], 0.04),
                                       (sj("wrist"), jidx[f"{side}_wrist"], 0.02)], jidx[f"{side}_collar"], nj)
            elif kind == "palm":
                w = np.zeros((len(idx), nj))
                w[:, jidx[f"{side}_wrist"]] = 1.0
                zs = V[idx, 2]
                for f in ("index", "middle", "ring", "pinky"):
                    k = Jl[f + "1"]
                    near = np.exp(-((zs - k[2]) / 0.011) ** 2) * _smoothstep(np.abs(V[idx, 0]), k[0] - 0.025, k[0])
                    w = _blend(w, 0.5 * near, jidx[f"{side}_{f}1"])
            elif kind in _FINGERS:
                f = kind
                w = _chain_weights(s, [(sj(f + "1"), jidx[f"{side}_{f}1"], 0.006),
                                       (sj(f + "2"), jidx[f"{side}_{f}2"], 0.006),
                                       (sj(f + "3"), jidx[f"{side}_{f}3"], 0.005)], jidx[f"{side}_wrist"], nj)
            elif kind == "leg":
                w = _chain_weights(s, [(sj("hip"), jidx[f"{side}_hip"], 0.05),
                                       (sj("knee"), jidx[f"{side}_knee"], 0.05),
                                       (sj("ankle"), jidx[f"{side}_ankle"], 0.03)], jidx["pelvis"], nj)
            elif kind == "foot":
                w = _chain_weights(V[idx, 2], [(Jl["foot"][2], jidx[f"{side}_foot"], 0.03)],
                                   jidx[f"{side}_ankle"], nj)
                w = _blend(w, _smoothstep(V[idx, 1], -0.885, -0.86), jidx[f"{side}_ankle"])
            else:  # pragma: no cover - every tube kind is handled above
                raise AssertionError(name)
        W[idx] = w
    W /= W.sum(1, keepdims=True)

    # ---- joint regressor (natural order)
    JR = np.zeros((nj, len(V)))
    hjr = np.asarray(head.J_regressor, dtype=np.float64)
    for fj, bj in enumerate(_FLAME_TO_BODY_JOINT):
        JR[jidx[bj], :N] = hjr[fj]
    targets = {"pelvis": (np.array([0.0, 0.0, -0.01]), "torso"), "spine1": (np.array([0.0, 0.10, -0.015]), "torso"),
               "spine2": (np.array([0.0, 0.22, -0.01]), "torso"), "spine3": (np.array([0.0, 0.29, -0.005]), "torso")}
    for side, m in (("left", lambda p: p), ("right", _mirror)):
        targets[f"{side}_collar"] = (m(Jl["collar"]), "torso")
        for j, part in (("hip", "leg"), ("knee", "leg"), ("ankle", "leg"), ("foot", "foot"),
                        ("shoulder", "arm"), ("elbow", "arm"), ("wrist", "arm")):
            targets[f"{side}_{j}"] = (m(Jl[j]), f"{side}_{part}")
        for f in _FINGERS:
            for k in "123":
                targets[f"{side}_{f}{k}"] = (m(Jl[f + k]), f"{side}_{f}")
    for name, (p, part) in targets.items():
        sel, w = _convex_regressor(p, parts[part], V)
        JR[jidx[name], sel] = w

    # ---- extra-joint vertices: choose natural indices, then permute to smplx's ids
    pts = head.points
    special = {"nose": int(pts["nose_tip"]), "reye": int(pts["right_eye"]), "leye": int(pts["left_eye"]),
               "rear": int(pts["right_ear"]), "lear": int(pts["left_ear"])}
    short = {"thumb": "thumb", "index": "index", "middle": "middle", "ring": "ring", "pinky": "pinky"}
    for side, s in (("left", "l"), ("right", "r")):
        for f in _FINGERS:
            t, o = tube_of[f"{side}_{f}"]
            special[s + short[f]] = o + t.end_pole
        t, o = tube_of[f"{side}_foot"]
        S = "L" if side == "left" else "R"
        ring_v = o + t.last_ring
        xs = V[ring_v, 0] * (1 if side == "left" else -1)
        lowish = V[ring_v, 1] < V[ring_v, 1].mean() + 0.005
        special[f"{S}BigToe"] = int(ring_v[lowish][np.argmin(xs[lowish])])
        special[f"{S}SmallToe"] = int(ring_v[lowish][np.argmax(xs[lowish])])
        special[f"{S}Heel"] = o + t.start_pole
    ids = vertex_ids["smplx"]
    missing = set(ids) - set(special)
    if missing:
        raise InputError(f"synthetic body: no body part for smplx extra-joint vertices {sorted(missing)}")
    final = np.full(len(V), -1, dtype=np.int64)
    taken = np.zeros(len(V), dtype=bool)
    for k, nat in special.items():
        final[nat] = ids[k]
        taken[ids[k]] = True
    free_slots = np.where(~taken)[0]
    final[final < 0] = free_slots
    inv = np.argsort(final)

    v_t = V[inv]
    faces_f = final[Fc]
    W_f = W[inv]
    JR_f = JR[:, inv]
    corr = final[:N].copy()
    parts_f = {k: np.sort(final[v]) for k, v in parts.items()}
    extra = {k: int(ids[k]) for k in special}

    # ---- shape space
    shapedirs = np.zeros((len(V), 3, SHAPE_SPACE_DIM + EXPRESSION_SPACE_DIM), dtype=np.float32)
    body_fields = _body_shape_fields(V, C, part_of, N, ring_fit[0], rng)
    shapedirs[:, :, :BODY_SHAPE_COMPONENTS] = body_fields
    hs = np.asarray(head.shapedirs, dtype=np.float32)
    n_head_shape = min(SHAPE_SPACE_DIM - HEAD_SHAPE_START, hs.shape[2] - EXPRESSION_SPACE_DIM)
    shapedirs[:N, :, HEAD_SHAPE_START:HEAD_SHAPE_START + n_head_shape] = hs[:, :, :n_head_shape]
    shapedirs[:N, :, SHAPE_SPACE_DIM:] = hs[:, :, hs.shape[2] - EXPRESSION_SPACE_DIM:]
    shapedirs = shapedirs[inv]

    # ---- pose correctives: the head's (neck/jaw/eyes) plus bulges at the elbows and knees
    posedirs = np.zeros((len(V), 3, 9 * (nj - 1)), dtype=np.float32)
    hp = np.asarray(head.posedirs, dtype=np.float32)
    for k, bj in enumerate(_FLAME_TO_BODY_JOINT[1:]):
        b = 9 * (jidx[bj] - 1)
        posedirs[:N, :, b:b + 9] = hp[:, :, 9 * k:9 * k + 9]
    for side in ("left", "right"):
        for j, part, width, amount in (("elbow", "arm", 0.035, 0.08), ("knee", "leg", 0.045, 0.08)):
            t, o = tube_of[f"{side}_{part}"]
            idx = parts[f"{side}_{part}"]
            sj = t.axis_param(Jl[j] if side == "left" else _mirror(Jl[j]))
            g = np.exp(-((s_all[idx] - sj) / width) ** 2)
            radial = V[idx] - C[idx]
            b = 9 * (jidx[f"{side}_{j}"] - 1)
            for d in (0, 4, 8):  # diagonal of (R - I): sums to 2 (cos(theta) - 1)
                posedirs[idx, :, b + d] = (-amount * g[:, None] * radial).astype(np.float32)
    posedirs = posedirs[inv]

    # ---- hands
    hcl, hml = _hand_pca(+1.0, rng)
    hcr, hmr = _hand_pca(-1.0, rng)

    joints = JR_f @ v_t
    if with_uv:  # drop UV vertices no face uses (the head's pole, which its fan replaces by copies)
        used, FT_used = np.unique(FT, return_inverse=True)
        FT_used = FT_used.reshape(FT.shape).astype(np.int64)
    return SyntheticBody(
        v_template=v_t, faces=faces_f, shapedirs=shapedirs, posedirs=posedirs, J_regressor=JR_f, weights=W_f,
        parents=kinematic_parents(), joints=joints, hands_components_l=hcl, hands_components_r=hcr,
        hands_mean_l=hml, hands_mean_r=hmr,
        lmk_faces_idx=np.asarray(head.lmk_faces_idx, dtype=np.int64),
        lmk_bary_coords=np.asarray(head.lmk_bary_coords, dtype=np.float64),
        dynamic_lmk_faces_idx=np.asarray(head.dynamic_lmk_faces_idx, dtype=np.int64),
        dynamic_lmk_bary_coords=np.asarray(head.dynamic_lmk_bary_coords, dtype=np.float64),
        corr=corr, parts=parts_f, extra_vertices=extra, joint_names=names, head_offset=HEAD_OFFSET.copy(),
        vt=None if VT is None else VT[used].astype(np.float32), ft=None if FT is None else FT_used,
    )


def _skyline_pack(sizes: list[tuple[float, float]], gutter: float, res: int = 512):
    """Place rectangles ``(w, h)`` (UV units) bottom-left on a skyline of ``res`` columns over [0, 1].

    Largest first; each rectangle may be turned by 90 degrees, whichever ends lower. Returns
    ``(placements [(x, y, turned)], top)``; ``top`` > 1 means the set does not fit.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    sky = np.zeros(res)
    place: list = [None] * len(sizes)
    for i in sorted(range(len(sizes)), key=lambda k: -max(sizes[k])):
        w, h = sizes[i]
        best = None
        for ww, hh, turned in ((w, h, False), (h, w, True)):
            cols = int(np.ceil((ww + gutter) * res))
            if cols > res:
                continue
            tops = sliding_window_view(sky, cols).max(1)
            x = int(np.argmin(tops))
            if best is None or tops[x] + hh < best[1] + best[3] - 1e-12:
                best = (x, float(tops[x]), cols, hh, turned)
        if best is None:
            return place, np.inf
        x, y, cols, hh, turned = best
        sky[x:x + cols] = y + hh + gutter
        place[i] = (x / res, y, turned)
    return place, float(sky.max())


def _uv_atlas(head, tubes: list[_Tube]) -> tuple[np.ndarray, np.ndarray]:
    """The body's UV atlas in natural face order (head faces, then each tube's): ``(vt (U, 2), ft (F, 3))``.

    Charts: the head's own UV layout scaled into a ``HEAD_UV_SIDE`` square, and every tube unrolled
    (around x along, in metres), all tube charts scaled by one factor (the largest that fits), so
    the body's texel density is uniform; charts never overlap and keep ``UV_GUTTER`` apart.
    """
    head_uv = np.asarray(head.uv_coords, dtype=np.float64)
    head_ft = np.asarray(head.uv_faces, dtype=np.int64)[: len(head.faces)]
    metric = [(float(np.ptp(t.uv[:, 0])), float(np.ptp(t.uv[:, 1]))) for t in tubes]
    lo, hi = 0.0, 4.0
    for _ in range(40):  # largest tube scale at which everything fits in the unit square
        k = 0.5 * (lo + hi)
        _, top = _skyline_pack([(HEAD_UV_SIDE, HEAD_UV_SIDE)] + [(k * w, k * h) for w, h in metric], UV_GUTTER)
        lo, hi = (k, hi) if top <= 1.0 - UV_GUTTER else (lo, k)
    k = lo
    place, _ = _skyline_pack([(HEAD_UV_SIDE, HEAD_UV_SIDE)] + [(k * w, k * h) for w, h in metric], UV_GUTTER)
    gx, gy = 0.5 * UV_GUTTER, 0.5 * UV_GUTTER
    x, y, turned = place[0]
    hu = head_uv * HEAD_UV_SIDE
    if turned:  # a square does not need turning, but keep the rule uniform
        hu = np.stack([HEAD_UV_SIDE - hu[:, 1], hu[:, 0]], 1)
    vts, fts, n = [hu + [x + gx, y + gy]], [head_ft], len(head_uv)
    for t, (x, y, turned) in zip(tubes, place[1:]):
        uv = k * (t.uv - t.uv.min(0))
        if turned:  # a quarter turn (not a mirror: triangles keep their orientation in UV)
            uv = np.stack([uv[:, 1].max() - uv[:, 1], uv[:, 0]], 1)
        vts.append(uv + [x + gx, y + gy])
        fts.append(t.uv_faces + n)
        n += len(t.uv)
    return np.concatenate(vts), np.concatenate(fts)


def _body_shape_fields(V, C, part_of, n_head, ring_centre, rng) -> np.ndarray:
    """``(V, 3, BODY_SHAPE_COMPONENTS)`` whole-body shape fields in natural vertex order.

    The head moves rigidly (by the field's value at the neck ring centre); the neck blends from the
    body field to that translation.
    """
    x, y = V[:, 0], V[:, 1]
    sx = np.sign(x)
    radial = V - C
    body = np.array([p != "head" for p in part_of])
    hands = np.array([any(k in str(p) for k in ("palm",) + _FINGERS) for p in part_of])
    arms = np.array([str(p).endswith("_arm") for p in part_of]) | hands
    legs = np.array([str(p).endswith("_leg") for p in part_of])
    feet = np.array([str(p).endswith("_foot") for p in part_of])
    torso = part_of == "torso"
    hip_y = -0.07
    fields = []

    def add(f):
        fields.append(f)

    # 0 height: stretch mostly vertically about the floor
    add((V - np.array([0, FLOOR_Y, 0])) * np.array([0.012, 0.045, 0.012]) / 1.7)
    # 1 girth: radial growth of torso, limbs (less on hands and feet)
    g = np.where(hands | feet, 0.03, 0.12)[:, None] * radial
    g[torso] *= 1.0 + 0.6 * np.exp(-((y[torso] - 0.1) / 0.12) ** 2)[:, None]
    add(g)
    # 2 shoulder width
    f = np.zeros_like(V)
    f[arms, 0] = 0.025 * sx[arms]
    f[torso, 0] = 0.025 * sx[torso] * _smoothstep(np.abs(x[torso]), 0.04, 0.17) * _smoothstep(y[torso], 0.25, 0.4)
    add(f)
    # 3 hip width
    f = np.zeros_like(V)
    f[legs | feet, 0] = 0.015 * sx[legs | feet]
    f[torso, 0] = 0.015 * x[torso] / 0.165 * (1 - _smoothstep(y[torso], 0.0, 0.14))
    add(f)
    # 4 leg length
    f = np.zeros_like(V)
    f[:, 1] = -0.04 * np.clip((hip_y - y) / (hip_y - FLOOR_Y), 0, 1)
    f[~body, 1] = 0.0
    add(f)
    # 5 arm length
    f = np.zeros_like(V)
    f[arms, 0] = 0.03 * sx[arms] * np.clip((np.abs(x[arms]) - 0.17) / 0.5, 0, 1)
    add(f)
    # 6 belly
    f = np.zeros_like(V)
    nz = np.clip(radial[torso, 2] / (np.linalg.norm(radial[torso], axis=1) + 1e-9), 0, 1)
    f[torso, 2] = 0.03 * np.exp(-((y[torso] - 0.08) / 0.1) ** 2) * nz
    add(f)
    # 7 chest
    f = np.zeros_like(V)
    f[torso, 2] = 0.02 * np.exp(-((y[torso] - 0.3) / 0.07) ** 2) * nz * np.exp(-(x[torso] / 0.09) ** 2) ** 0.3
    add(f)
    # 8 leg muscle
    f = np.zeros_like(V)
    f[legs] = 0.1 * radial[legs] * (0.5 + 0.5 * np.exp(-((y[legs] + 0.3) / 0.15) ** 2))[:, None]
    add(f)
    # 9 torso length
    f = np.zeros_like(V)
    f[:, 1] = 0.025 * _smoothstep(y, 0.0, 0.25)
    add(f)
    # 10.. smooth random symmetric radial bumps
    while len(fields) < BODY_SHAPE_COMPONENTS:
        f = np.zeros_like(V)
        for _ in range(3):
            c = V[rng.integers(n_head, len(V))]
            amp = rng.normal() * 0.012
            for cc in (c, c * np.array([-1, 1, 1])):
                g = np.exp(-np.sum((V - cc) ** 2, 1) / (2 * 0.08**2))
                f += amp * g[:, None] * radial / (np.linalg.norm(radial, axis=1, keepdims=True) + 1e-9)
        f[~body] = 0.0
        add(f)
    out = np.stack(fields, -1)  # (V, 3, K)
    # head rigid with the value at the neck ring; neck blends
    at_ring = np.zeros((3, out.shape[-1]))
    k = np.argmin(np.linalg.norm(V[n_head:] - ring_centre, axis=1)) + n_head
    at_ring[:] = out[k]
    neck = part_of == "neck"
    a = _smoothstep(y[neck], 0.40, ring_centre[1])[:, None, None]
    out[neck] = (1 - a) * out[neck] + a * at_ring[None]
    out[:n_head] = at_ring[None]
    return out.astype(np.float32)


def _hand_pca(sign: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """``(45, 45)`` orthonormal components (curl, spread, thumb first) and a relaxed ``(45,)`` mean.

    ``sign`` is +1 for the left hand (fingers along +x; curling rotates about -z) and -1 for the right.
    """
    names = joint_names()
    hand_names = [n for n in names if n.startswith("left_") and n[-1] in "123" and "eye" not in n]
    curl = np.zeros((15, 3))
    spread = np.zeros((15, 3))
    thumb = np.zeros((15, 3))
    for i, n in enumerate(hand_names):
        if "thumb" in n:
            thumb[i] = [0.0, -sign * 0.6, -sign * 0.8]
        else:
            curl[i] = [0.0, 0.0, -sign]
            if n.endswith("1"):
                fz = {"index": 1.0, "middle": 0.0, "ring": -1.0, "pinky": -2.0}[n.split("_")[1][:-1]]
                spread[i] = [0.0, sign * fz, 0.0]
    basis = np.stack([curl.ravel(), spread.ravel(), thumb.ravel()], 1)
    m = np.concatenate([basis, rng.normal(size=(45, 42))], 1)
    q, r = np.linalg.qr(m)
    q = q * np.sign(np.diag(r))[None]
    comps = q.T.copy()
    mean = 0.15 * curl.ravel() + 0.1 * thumb.ravel()
    return comps, mean


def write_smplx_files(body: SyntheticBody, smplx_dir, corr_dir, with_uv: bool = True) -> tuple[Path, Path]:
    """Write ``SMPLX_NEUTRAL_2020.npz`` and ``SMPL-X__FLAME_vertex_ids.npy``.

    Args:
        body: from :func:`build_body`.
        smplx_dir: folder for the SMPL-X npz (created).
        corr_dir: folder for the correspondence (created).
        with_uv: write the UV atlas as SMPL-X's ``vt`` / ``ft`` keys (when the body has one).

    Returns:
        ``(npz_path, corr_path)``.
    """
    from rome_smplx.assets.layout import SPEC_BY_KEY
    from rome_smplx.io.atomic import atomic_path

    smplx_dir, corr_dir = Path(smplx_dir), Path(corr_dir)
    npz = smplx_dir / SPEC_BY_KEY["smplx"].names[0]
    corr_path = corr_dir / SPEC_BY_KEY["smplx_flame_correspondence"].names[0]
    kintree = np.stack([body.parents, np.arange(len(body.parents))]).astype(np.int64)
    arrays = dict(
        v_template=body.v_template, f=body.faces.astype(np.int64), shapedirs=body.shapedirs,
        posedirs=body.posedirs, J_regressor=body.J_regressor.astype(np.float32), weights=body.weights.astype(np.float32),
        kintree_table=kintree, hands_componentsl=body.hands_components_l, hands_componentsr=body.hands_components_r,
        hands_meanl=body.hands_mean_l, hands_meanr=body.hands_mean_r, lmk_faces_idx=body.lmk_faces_idx,
        lmk_bary_coords=body.lmk_bary_coords, dynamic_lmk_faces_idx=body.dynamic_lmk_faces_idx,
        dynamic_lmk_bary_coords=body.dynamic_lmk_bary_coords,
    )
    if with_uv and body.vt is not None:
        arrays.update(vt=body.vt, ft=body.ft)
    with atomic_path(npz) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    with atomic_path(corr_path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, body.corr.astype(np.int64))
    log.debug("wrote %s and %s", npz, corr_path)
    return npz, corr_path


__all__ = [
    "BODY_SHAPE_COMPONENTS",
    "FLOOR_Y",
    "HEAD_OFFSET",
    "HEAD_UV_SIDE",
    "HEAD_SHAPE_START",
    "SMPLX_NUM_JOINTS",
    "SMPLX_NUM_VERTICES",
    "SyntheticBody",
    "UV_GUTTER",
    "body_winding_numbers",
    "build_body",
    "joint_names",
    "kinematic_parents",
    "write_smplx_files",
]
