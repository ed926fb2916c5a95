"""The synthetic video world: subjects that move, hair outside the linear basis, truth for every frame.

A :class:`SyntheticSubject` is one identity, a pure function of its seed and the asset files: a FLAME
shape, an SMPL-X body consistent with it, skin and hair colours, a hair style from one of
:data:`HAIR_FAMILIES` (offsets on the deformable scalp *and* neck vertices, the way ROME represents
hair), and a procedural UV texture with high-frequency detail (eyebrows, lips, cheeks, freckles or
stubble on the skin; strand-like stripes on the hair).

Its "video" is a seeded, smooth random walk of :class:`FrameParams` (head yaw/pitch/roll, expression,
jaw opening, DECA camera, light). :meth:`SyntheticSubject.render` draws any :class:`FrameParams` with
the SDK's rasteriser and returns a :class:`SyntheticFrame` with the image, matte, segmentation,
landmarks, the true and the *tracked* (noisy, as a DECA-style tracker gives) FLAME parameters, the
true posed mesh and the true offsets.

Geometry follows ROME: FLAME is posed with an identity global rotation, the hair/neck offsets are
added in that frame, and the global rotation and DECA's orthographic camera are applied at projection
time (:func:`rome_smplx.render.cameras.rome_project`). All arrays of a subject are float32 tensors on
the CPU; rendering runs on any device the caller moves the subject to with :meth:`SyntheticSubject.to`.

The hair families are deliberately *not* in the span of the synthetic basis ``u_full``: curls, sharp
partings, buns and long curtains have detail that 60 smooth components cannot reproduce, so the
linear model approximates them, as ROME's does real hair (:func:`basis_residual` measures it).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from rome_smplx.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from rome_smplx.assets import Assets

logger = logging.getLogger(__name__)

#: Hair families, each with continuous parameters (:class:`HairStyle`).
HAIR_FAMILIES = ("crop", "bob", "long", "fringe", "bun", "ponytail", "curly")
#: Segmentation labels of :attr:`SyntheticFrame.segmentation`.
SEGMENTATION_LABELS = {"background": 0, "face": 1, "hair": 2, "neck": 3}
#: Pose ranges of the random walk (radians): yaw, pitch, roll.
POSE_LIMITS = (math.radians(40.0), math.radians(25.0), math.radians(15.0))
#: Maximum jaw opening of the walk (radians).
JAW_LIMIT = 0.3
#: Seed ranges of the synthetic world's splits (never overlapping). Any other range can be used and
#: evaluated too; the shipped weights were trained on ``train`` only.
SPLITS = {"test": range(0, 1000), "validation": range(1000, 2000), "train": range(10_000, 1_000_000)}
#: Side of the procedural UV texture.
TEXTURE_SIZE = 256
#: DECA camera scale of a head-and-shoulders crop (as the synthetic portraits use).
BASE_SCALE = 5.2
#: Standard deviations of a DECA-style tracker at ``tracking_noise=1``: shape, expression, rotation
#: (radians), jaw (radians), camera scale (relative), camera translation (NDC / s).
TRACKING_NOISE = {"shape": 0.15, "expression": 0.12, "rotation": math.radians(1.5), "jaw": 0.02,
                  "scale": 0.01, "translation": 0.004}

_SKIN_TONES = np.array([[0.96, 0.80, 0.69], [0.89, 0.70, 0.57], [0.78, 0.57, 0.42], [0.62, 0.43, 0.30],
                        [0.45, 0.31, 0.22], [0.93, 0.76, 0.62]])
_HAIR_COLOURS = np.array([[0.10, 0.07, 0.05], [0.30, 0.19, 0.10], [0.55, 0.38, 0.20], [0.80, 0.65, 0.40],
                          [0.45, 0.12, 0.05], [0.55, 0.55, 0.55], [0.20, 0.12, 0.08]])
_BACKGROUNDS = np.array([[0.82, 0.84, 0.86], [0.55, 0.62, 0.70], [0.75, 0.70, 0.62], [0.35, 0.38, 0.42],
                         [0.62, 0.72, 0.62], [0.90, 0.88, 0.80]])


def _smoothstep(x, lo, hi):
    t = np.clip((np.asarray(x, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) & 0xFFFFFFFF for k in keys]))


def _rot_euler(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """``R_y(yaw) R_x(pitch) R_z(roll)`` (FLAME frame: y up, facing +z)."""
    cy, sy, cp, sp, cr, sr = (math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch), math.cos(roll),
                              math.sin(roll))
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return ry @ rx @ rz


def _rot_x(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _vertex_normals_np(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    n = np.zeros_like(v)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    return n / (np.linalg.norm(n, axis=1, keepdims=True) + 1e-12)


class _Waves:
    """A smooth random scalar field on R^3: a sum of random plane waves (deterministic in ``rng``)."""

    def __init__(self, rng: np.random.Generator, count: int, freq: float, spread: float = 0.5) -> None:
        d = rng.standard_normal((count, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        self.k = d * (freq * np.exp(rng.normal(0, spread, count)))[:, None]
        self.phase = rng.uniform(0, 2 * np.pi, count)
        self.amp = 1.0 / math.sqrt(count / 2.0)

    def __call__(self, p: np.ndarray) -> np.ndarray:
        return self.amp * np.sin(p @ self.k.T + self.phase).sum(-1)


# ============================================================================================ hair
@dataclass(frozen=True)
class HairStyle:
    """A hair style: one family and its continuous parameters.

    Attributes:
        family: one of :data:`HAIR_FAMILIES`.
        length: 0..1, how far the hair falls (bob to chin, long past the neck onto the shoulders,
            fringe over the forehead, ponytail down the back).
        volume: 0..1, thickness of the hair layer.
        parting: -1..1, sideways position of the parting line (0: centre).
        asymmetry: -1..1, how much fuller one side is than the other.
        curl: 0..1, amplitude of curls / tufts (high for ``curly``).
        seed: seed of the style's random detail (curl phases, tufts).
    """

    family: str
    length: float
    volume: float
    parting: float
    asymmetry: float
    curl: float
    seed: int = 0

    def __post_init__(self) -> None:
        if self.family not in HAIR_FAMILIES:
            raise InputError(f"HairStyle.family: expected one of {HAIR_FAMILIES}, found {self.family!r}")
        for name, lo, hi in (("length", 0, 1), ("volume", 0, 1), ("parting", -1, 1), ("asymmetry", -1, 1),
                             ("curl", 0, 1)):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and lo <= v <= hi and math.isfinite(v)):
                raise InputError(f"HairStyle.{name}: expected a number in [{lo}, {hi}], found {v!r}")

    @classmethod
    def sample(cls, rng: np.random.Generator, family: Optional[str] = None) -> "HairStyle":
        """Draw a style (uniform family unless given, parameters uniform in their family's range)."""
        fam = family if family is not None else HAIR_FAMILIES[int(rng.integers(len(HAIR_FAMILIES)))]
        u = lambda lo, hi: float(rng.uniform(lo, hi))
        curl = u(0.55, 1.0) if fam == "curly" else u(0.0, 0.25)
        return cls(family=fam, length=u(0.3, 1.0), volume=u(0.2, 1.0), parting=u(-0.8, 0.8),
                   asymmetry=u(-0.6, 0.6), curl=curl, seed=int(rng.integers(2**31)))


def hair_offsets(style: HairStyle, v_template: np.ndarray, faces: np.ndarray, hair_idx: np.ndarray,
                 neck_idx: np.ndarray, deform_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True hair/neck offsets of a style on a head template.

    Args:
        style: the :class:`HairStyle`.
        v_template: ``(N, 3)`` template (FLAME frame, metres).
        faces: ``(F, 3)`` faces (for the normals).
        hair_idx, neck_idx: ROME's ``hair_list`` and ``neck_list``.
        deform_mask: ``(N,)`` bool, the vertices ROME may move; offsets are 0 elsewhere.

    Returns:
        offsets ``(N, 3)`` float64 and a per-vertex hair weight ``(N,)`` in [0, 1] (1 where the surface
        is hair: the scalp, and neck vertices that long hair covers).
    """
    v = np.asarray(v_template, dtype=np.float64)
    n = len(v)
    nrm = _vertex_normals_np(v, np.asarray(faces))
    rng = _rng(style.seed, 0x4A17)
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    az = np.abs(np.arctan2(x, z))  # 0 at the face, pi at the back
    hair_w = np.zeros(n)
    is_hair = np.zeros(n, dtype=bool)
    is_hair[np.asarray(hair_idx)] = True
    is_neck = np.zeros(n, dtype=bool)
    is_neck[np.asarray(neck_idx)] = True
    fam, L, V = style.family, style.length, style.volume

    # ---- scalp: volume along the normals, thin at the hairline, with a parting and an asymmetry
    h = is_hair
    y_lo = y[h].min()
    y_hi = y[h].max()
    rel = (y - y_lo) / (y_hi - y_lo + 1e-12)  # 0 at the lowest scalp vertex, 1 on top
    hairline = np.interp(np.degrees(az), [0, 45, 75, 95, 120, 150, 180], [0.064, 0.060, 0.045, 0.042, 0.0, -0.045, -0.055])
    depth = _smoothstep(y - hairline, -0.005, 0.025)
    back = _smoothstep(-z, -0.01, 0.06)
    front = _smoothstep(z, 0.02, 0.07)
    thick = {"crop": 0.004, "bob": 0.010, "long": 0.009, "fringe": 0.007, "bun": 0.005, "ponytail": 0.004,
             "curly": 0.018}[fam] * (0.5 + V)
    vol = thick * (0.35 + 0.65 * depth) * (0.8 + 0.2 * rel)
    part_x = 0.03 * style.parting
    part = np.exp(-0.5 * ((x - part_x) / 0.006) ** 2) * _smoothstep(y, 0.06, 0.10) * _smoothstep(z, -0.06, 0.0)
    vol = vol * (1.0 - 0.7 * part) * (1.0 + 0.45 * style.asymmetry * np.tanh(x / 0.03))
    # strands and tufts: fine detail the smooth basis cannot hold
    strands = _Waves(rng, 24, 180.0, 0.3)(v)
    curls = _Waves(rng, 32, 110.0 + 60.0 * style.curl, 0.3)(v)
    vol = vol * (1.0 + 0.12 * strands + 0.6 * style.curl * curls)
    off = nrm * vol[:, None]
    sweep = np.sign(x - part_x) * 0.004 * _smoothstep(y, 0.03, 0.09) * (1 - part)
    off[:, 0] += sweep
    # ---- families
    if fam == "bob":
        # the lower scalp at the sides/back falls to the chin and flares out
        low = _smoothstep(-rel, -0.55, -0.05)
        drop = (0.012 + 0.03 * L) * low * (1 - front)
        off[:, 1] -= drop
        off += nrm * (0.006 * low * (1 - front))[:, None]
    elif fam == "long":
        low = _smoothstep(-rel, -0.6, -0.05)
        off[:, 1] -= (0.02 + 0.02 * L) * low * back
        off[:, 2] -= 0.006 * low * back
    elif fam == "fringe":
        f = front * _smoothstep(-(y - hairline), -0.04, 0.01) * _smoothstep(0.025 - np.abs(x - 0.3 * part_x), 0.0, 0.02)
        off[:, 1] -= (0.012 + 0.03 * L) * f
        off[:, 2] += 0.008 * f
    elif fam in ("bun", "ponytail"):
        c = np.array([0.0, 0.075, -0.07]) if fam == "bun" else np.array([0.0, 0.035, -0.09])
        c = c + np.array([0.012 * style.asymmetry, 0.0, 0.0])
        d2 = ((v - c) ** 2).sum(1)
        r = 0.022 + 0.012 * V
        bump = np.exp(-0.5 * d2 / r**2)
        if fam == "bun":
            off += nrm * (0.025 + 0.02 * L) * bump[:, None]
        else:
            off += (np.array([0.0, -0.7, -0.7]) * (0.02 + 0.04 * L))[None] * bump[:, None]
            off += nrm * 0.008 * bump[:, None]
    off[~h] = 0.0
    hair_w[h] = 1.0

    # ---- neck: long hair and bobs cover the nape; everything else only breathes a little
    nk = is_neck
    ny = y[nk]
    nlo, nhi = ny.min(), ny.max()
    down = (nhi - y) / (nhi - nlo + 1e-12)  # 0 at the top of the neck, 1 at the boundary ring
    back_n = _smoothstep(-z, -0.02, 0.035) * _smoothstep(np.degrees(az), 70.0, 120.0)
    cover = np.zeros(n)
    neck_off = np.zeros((n, 3))
    if fam == "long":
        reach = 0.35 + 0.65 * L  # fraction of the neck covered
        cover = back_n * _smoothstep(reach - down, -0.05, 0.1)
        out_amt = (0.008 + 0.010 * V) + 0.022 * down  # thicker curtain towards the shoulders
        radial = np.stack([x, np.zeros(n), z], 1)
        radial /= np.linalg.norm(radial, axis=1, keepdims=True) + 1e-12
        neck_off = radial * (out_amt * cover)[:, None]
        neck_off[:, 1] -= (0.012 * down * cover) * L  # onto the shoulders
        neck_off += nrm * (0.003 * strands * cover)[:, None]
    elif fam == "bob":
        reach = 0.2 + 0.3 * L
        cover = back_n * _smoothstep(reach - down, -0.05, 0.08)
        neck_off = nrm * ((0.008 + 0.006 * V) * cover)[:, None]
    elif fam == "ponytail":
        c = np.array([0.0, -0.075, -0.075])
        d2 = ((v - c) ** 2).sum(1)
        cover = np.exp(-0.5 * d2 / (0.016 + 0.008 * L) ** 2) * back_n
        neck_off = nrm * (0.02 * cover)[:, None]
    # thin neck/shoulder layer (clothing, posture) everywhere on the deformable neck
    neck_off += nrm * (0.0015 + 0.001 * _Waves(rng, 6, 30.0)(v))[:, None]
    neck_off[~nk] = 0.0
    off[nk] = neck_off[nk]
    hair_w[nk] = np.clip(cover[nk] * 1.6, 0.0, 1.0)
    mask = np.asarray(deform_mask, dtype=bool)
    off[~mask] = 0.0
    hair_w[~(mask | h)] = 0.0
    hair_w[h & ~mask] = 1.0  # scalp vertices that stay put are still hair-coloured
    return off, hair_w


def basis_residual(offsets: np.ndarray | Tensor, basis: np.ndarray | Tensor, mean: np.ndarray | Tensor) -> float:
    """Relative error of the best linear-basis fit: ``|o - (m + B Bᵀ (o - m))| / |o|``.

    Args:
        offsets: ``(N, 3)`` true offsets; basis: ``(3N, K)`` orthonormal columns; mean: ``(N, 3)``.
    """
    o = torch.as_tensor(offsets, dtype=torch.float64).reshape(-1)
    m = torch.as_tensor(mean, dtype=torch.float64).reshape(-1)
    b = torch.as_tensor(basis, dtype=torch.float64)
    fit = m + b @ (b.T @ (o - m))
    return float(torch.linalg.norm(o - fit) / torch.linalg.norm(o).clamp_min(1e-12))


# ============================================================================================ frames
@dataclass(frozen=True)
class FrameParams:
    """What changes from frame to frame of a synthetic video.

    Attributes:
        yaw, pitch, roll: head rotation in radians (``R = R_y(yaw) R_x(pitch) R_z(roll)`` about FLAME's
            root joint; within :data:`POSE_LIMITS` for the random walk).
        expression: ``(E,)`` FLAME expression coefficients (tuple of floats).
        jaw: jaw opening in radians (rotation about x).
        cam: DECA camera ``(s, tx, ty)``.
        light: light direction ``(x, y, z)`` in camera space (unit; +z towards the camera).
        ambient: ambient light level.
    """

    yaw: float
    pitch: float
    roll: float
    expression: tuple
    jaw: float
    cam: tuple
    light: tuple = (0.35, 0.45, 1.0)
    ambient: float = 0.35

    def rotation(self) -> np.ndarray:
        return _rot_euler(self.yaw, self.pitch, self.roll)

    def jaw_rotation(self) -> np.ndarray:
        return _rot_x(self.jaw)


@dataclass
class SyntheticFrame:
    """One rendered frame with its truth (tensors; no batch dimension).

    Attributes:
        image: ``(3, S, S)`` in [0, 1], composited on the subject's background.
        matte: ``(1, S, S)`` 0/1 coverage of the true mesh.
        segmentation: ``(S, S)`` int64 labels (:data:`SEGMENTATION_LABELS`).
        landmarks: ``(68, 2)`` image NDC (x right, y down, [-1, 1]) of the true mesh's landmark points.
        flame: true :class:`~rome_smplx.types.FlameParams` (batch 1, with ``cam``).
        tracked: the same with tracker noise (what a DECA-style fit of the frame would give).
        vertices: ``(N, 3)`` true posed mesh (FLAME + offsets, before the global rotation).
        offsets: ``(N, 3)`` true offsets; root_joint: ``(3,)``; params: the :class:`FrameParams`.
    """

    image: Tensor
    matte: Tensor
    segmentation: Tensor
    landmarks: Tensor
    flame: object
    tracked: object
    vertices: Tensor
    offsets: Tensor
    root_joint: Tensor
    params: FrameParams


class _World:
    """Asset-derived tensors shared by every subject of one asset folder (built once per folder)."""

    def __init__(self, assets: "Assets") -> None:
        from rome_smplx.render.neural import world2uv

        fd = assets.flame_data()
        data = assets.rome_data()
        emb = assets.landmark_embedding()
        f32 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)
        self.v_template_np = np.asarray(fd["v_template"], dtype=np.float64)
        self.n = len(self.v_template_np)
        self.v_template = f32(self.v_template_np)
        sd = np.asarray(fd["shapedirs"])
        self.n_shape_total = sd.shape[2] - 100
        self.shapedirs = f32(sd[:, :, :100])
        self.exprdirs = f32(sd[:, :, self.n_shape_total:self.n_shape_total + 50])
        pd = np.asarray(fd["posedirs"])
        self.posedirs = f32(pd.reshape(-1, pd.shape[2]).T)
        self.J_regressor = f32(fd["J_regressor"])
        self.weights = f32(fd["weights"])
        self.parents = torch.as_tensor(np.asarray(fd["kintree_table"])[0].astype(np.int64))
        self.parents[0] = -1
        self.faces = data.faces.to(torch.long)
        self.flame_faces = torch.as_tensor(np.asarray(fd["f"]).astype(np.int64))
        self.hair_idx = data.hair_list.numpy()
        self.neck_idx = data.neck_list.numpy()
        dm = data.deform_mask if hasattr(data, "deform_mask") else (data.mean_deform.abs().sum(-1) > 0)
        self.deform_mask = np.asarray(dm, dtype=np.float64) > 0.5
        self.basis = data.basis
        self.mean_deform = data.mean_deform
        uv, uvf = assets.uv_layout()
        if uv is None:
            uv, uvf = data.vertex_uvs, data.faces
        self.uv_coords = uv.to(torch.float32)
        self.uv_faces = uvf.to(torch.long)
        self.lmk_static_faces = torch.as_tensor(np.asarray(emb.static_faces).astype(np.int64))
        self.lmk_static_bary = f32(emb.static_bary)
        self.lmk_dyn_faces = torch.as_tensor(np.asarray(emb.dynamic_faces).astype(np.int64))
        self.lmk_dyn_bary = f32(emb.dynamic_bary)
        # template positions at every texel of the UV layout (for the procedural textures)
        self.uv_xyz = world2uv(self.v_template[None], self.faces, self.uv_coords, self.uv_faces, TEXTURE_SIZE,
                               backend="torch")[0].permute(1, 2, 0).numpy().astype(np.float64)
        cover = world2uv(torch.ones(1, self.n, 1), self.faces, self.uv_coords, self.uv_faces, TEXTURE_SIZE,
                         backend="torch")[0, 0].numpy()
        self.uv_cover = cover > 0.5
        # eyeballs: the vertices skinned to the eye joints (FLAME's joints 3 and 4)
        wts = np.asarray(fd["weights"], dtype=np.float64)
        eye_w = wts[:, 3:5].sum(1) if wts.shape[1] >= 5 else np.zeros(self.n)
        self.uv_eye = world2uv(torch.as_tensor(eye_w, dtype=torch.float32)[None, :, None], self.faces, self.uv_coords,
                               self.uv_faces, TEXTURE_SIZE, backend="torch")[0, 0].numpy().astype(np.float64)
        j_all = np.asarray(fd["J_regressor"], dtype=np.float64) @ self.v_template_np
        self.eye_centres = [j_all[3], j_all[4]] if len(j_all) >= 5 else []
        self.regions = self._regions()
        j = self.J_regressor.numpy().astype(np.float64) @ self.v_template_np
        self.root = j[0]
        face = np.nonzero(self.regions["face"])[0]
        self.face_centre = self.v_template_np[face].mean(0) if len(face) else self.v_template_np.mean(0)

    def _regions(self) -> dict[str, np.ndarray]:
        v = self.v_template_np
        is_hair = np.zeros(self.n, dtype=bool)
        is_hair[self.hair_idx] = True
        is_neck = np.zeros(self.n, dtype=bool)
        is_neck[self.neck_idx] = True
        return {"hair": is_hair, "neck": is_neck, "face": ~is_hair & ~is_neck & (v[:, 2] > 0.0)}


_WORLDS: dict[str, _World] = {}


def _world(assets: "Assets") -> _World:
    key = str(getattr(assets, "root", id(assets)))
    if key not in _WORLDS:
        _WORLDS[key] = _World(assets)
    return _WORLDS[key]


def _dilate(col: np.ndarray, cover: np.ndarray, steps: int = 6) -> np.ndarray:
    """Grow the colours of covered texels into the uncovered ones (no dark seams when sampling)."""
    c = torch.as_tensor(col).permute(2, 0, 1)[None]
    m = torch.as_tensor(cover, dtype=c.dtype)[None, None]
    for _ in range(steps):
        num = torch.nn.functional.avg_pool2d(c * m, 3, 1, 1)
        den = torch.nn.functional.avg_pool2d(m, 3, 1, 1)
        grown = num / den.clamp_min(1e-8)
        c = torch.where(m > 0, c, grown)
        m = torch.maximum(m, (den > 0).to(m.dtype))
    return c[0].permute(1, 2, 0).numpy()


def _texture(world: _World, rng: np.random.Generator, skin: np.ndarray, hair: np.ndarray, hair_uv: np.ndarray,
             detail: str) -> np.ndarray:
    """Procedural ``(T, T, 3)`` albedo in the UV layout, painted from the template position of each texel."""
    p = world.uv_xyz
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    T = p.shape[0]
    face_free = world.uv_eye
    blotch = _Waves(rng, 12, 40.0)(p.reshape(-1, 3)).reshape(T, T)
    col = skin[None, None] * (1.0 + 0.05 * blotch)[..., None]
    # cheeks
    for sx in (-1.0, 1.0):
        d2 = (x - sx * 0.045) ** 2 + (y + 0.012) ** 2
        w = np.exp(-0.5 * d2 / 0.014**2) * (z > 0.03)
        col = col * (1 - 0.25 * w[..., None]) + 0.25 * w[..., None] * np.array([0.85, 0.45, 0.42])
    # lips
    my = -0.048
    lip = np.exp(-0.5 * ((y - my) / 0.006) ** 2) * _smoothstep(0.028 - np.abs(x), 0.0, 0.008) * (z > 0.04)
    col = col * (1 - 0.55 * lip[..., None]) + 0.55 * lip[..., None] * np.array([0.70, 0.28, 0.30])
    # eyebrows, with short strokes
    strokes = 0.75 + 0.25 * np.sin(900.0 * x + 40.0 * y)
    for sx in (-1.0, 1.0):
        ex = (x - sx * 0.034) / 0.019
        ey = (y - 0.053 - 0.004 * (1 - ex**2)) / 0.0042
        w = np.exp(-0.5 * (ex**4 + ey**2)) * (z > 0.04)
        col = col * (1 - 0.8 * w[..., None]) + 0.8 * w[..., None] * (hair[None, None] * strokes[..., None])
    # freckles or stubble
    dots = np.zeros((T, T))
    if detail == "freckles":
        centres = rng.normal(0, 1, (160, 3)) * np.array([0.03, 0.012, 0.0]) + np.array([0.0, 0.005, 0.0])
        for c in centres:
            d2 = (x - c[0]) ** 2 + (y - c[1]) ** 2
            dots += np.exp(-0.5 * d2 / 0.0012**2) * (z > 0.05)
        col = col * (1 - 0.35 * np.clip(dots, 0, 1)[..., None]) + 0.35 * np.clip(dots, 0, 1)[..., None] * np.array(
            [0.55, 0.33, 0.2])
    elif detail == "stubble":
        grain = _Waves(rng, 40, 900.0, 0.2)(p.reshape(-1, 3)).reshape(T, T)
        chin = _smoothstep(-(y - my) - 0.004, 0.0, 0.01) * _smoothstep(y, -0.105, -0.085) * (z > 0.01)
        moustache = _smoothstep(0.004 - np.abs(y - my - 0.012), 0, 0.004) * (z > 0.04)
        w = np.clip(chin + moustache, 0, 1) * (grain > 0.4) * (1 - face_free)
        col = col * (1 - 0.45 * w[..., None]) + 0.45 * w[..., None] * (0.5 * hair[None, None])
    # hair: strand-like stripes along the meridians, a highlight band
    ang = np.arctan2(x, z)
    wob = _Waves(rng, 8, 25.0)(p.reshape(-1, 3)).reshape(T, T)
    stripes = np.sin(70.0 * ang + 3.0 * wob) * 0.5 + 0.5 * np.sin(160.0 * ang + 5.0 * wob)
    highlight = np.exp(-0.5 * ((y - 0.085) / 0.012) ** 2)
    hair_col = hair[None, None] * (0.8 + 0.22 * stripes[..., None]) + 0.18 * highlight[..., None] * (
        0.3 + hair[None, None])
    col = col * (1 - hair_uv[..., None]) + hair_col * hair_uv[..., None]
    # eyes: white, iris and pupil by the angle from each eyeball's forward axis
    eye = world.uv_eye > 0.5
    iris_rgb = np.array([[0.25, 0.16, 0.08], [0.2, 0.35, 0.5], [0.3, 0.4, 0.22]])[int(rng.integers(3))]
    for c in world.eye_centres:
        d = p - c
        front = d[..., 2] / (np.linalg.norm(d, axis=-1) + 1e-12)
        near = np.linalg.norm(d, axis=-1) < 0.03
        sel = eye & near
        e = np.where((front > 0.93)[..., None], np.array([0.04, 0.03, 0.03]),
                     np.where((front > 0.8)[..., None], iris_rgb, np.array([0.93, 0.91, 0.88])))
        col = np.where(sel[..., None], e, col)
    return np.clip(_dilate(col, world.uv_cover), 0.0, 1.0)


# ============================================================================================ subject
@dataclass
class SyntheticSubject:
    """One synthetic identity (see the module docstring). Build with :meth:`from_seed`.

    Attributes:
        seed: the subject's seed.
        shape: ``(100,)`` FLAME shape; style: :class:`HairStyle`; offsets: ``(N, 3)`` true hair/neck
            offsets (0 outside the deformable vertices); hair_weight: ``(N,)``.
        skin_rgb, hair_rgb, background: ``(3,)``; detail: ``"freckles"``, ``"stubble"`` or ``"plain"``.
        texture: ``(3, T, T)`` albedo in the UV layout.
        body: dict of numpy arrays, the SMPL-X body consistent with the head (PIXIE layout, y-up):
            ``betas (200,)``, ``expression (50,)``, ``global_orient``, ``body_pose (21, 3, 3)``, ``jaw_pose``,
            ``left_hand_pose``/``right_hand_pose (15, 3, 3)``, ``cam (3,)``.
    """

    seed: int
    shape: Tensor
    style: HairStyle
    offsets: Tensor
    hair_weight: Tensor
    skin_rgb: np.ndarray
    hair_rgb: np.ndarray
    background: np.ndarray
    detail: str
    texture: Tensor
    body: dict
    _world: _World = dataclasses.field(repr=False, default=None)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_seed(cls, seed: int, assets: "Assets", *, family: Optional[str] = None) -> "SyntheticSubject":
        """The subject of ``seed`` (deterministic: the same seed and assets give identical tensors).

        Args:
            seed: any integer >= 0.
            assets: the asset folder (FLAME, ROME data files, landmark embedding).
            family: force a hair family (default: drawn from the seed).
        """
        from rome_smplx.assets.synthetic.people import DECA_NUM_SHAPE, draw_body

        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InputError(f"SyntheticSubject.from_seed: seed must be an integer >= 0, found {seed!r}")
        w = _world(assets)
        rng = _rng(seed, 0x5B1E)
        shape = np.zeros(DECA_NUM_SHAPE)
        shape[:10] = rng.normal(0, 1.0, 10)
        shape[10:] = rng.normal(0, 0.3, DECA_NUM_SHAPE - 10)
        style = hair_style(seed, family)
        skin = np.clip(_SKIN_TONES[rng.integers(len(_SKIN_TONES))] + rng.normal(0, 0.03, 3), 0, 1)
        hair = np.clip(_HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))] + rng.normal(0, 0.03, 3), 0, 1)
        bg = np.clip(_BACKGROUNDS[rng.integers(len(_BACKGROUNDS))] + rng.normal(0, 0.04, 3), 0, 1)
        detail = ("freckles", "stubble", "plain")[int(rng.integers(3))]
        offsets, hair_w = hair_offsets(style, w.v_template_np, w.faces.numpy(), w.hair_idx, w.neck_idx,
                                       w.deform_mask)
        from rome_smplx.render.neural import world2uv

        hair_uv = world2uv(torch.as_tensor(hair_w, dtype=torch.float32)[None, :, None], w.faces, w.uv_coords,
                           w.uv_faces, TEXTURE_SIZE, backend="torch")[0, 0].numpy().astype(np.float64)
        tex = _texture(w, rng, skin, hair, np.clip(hair_uv, 0, 1), detail)
        body = draw_body(rng, shape, np.eye(3))
        f32 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)
        return cls(seed=int(seed), shape=f32(shape), style=style, offsets=f32(offsets), hair_weight=f32(hair_w),
                   skin_rgb=skin, hair_rgb=hair, background=bg, detail=detail,
                   texture=f32(tex).permute(2, 0, 1).contiguous(), body=body, _world=w)

    # ------------------------------------------------------------------ video
    def walk(self, frames: int, *, start: int = 0) -> list[FrameParams]:
        """Frames ``start .. start + frames - 1`` of the subject's video: a smooth seeded random walk.

        Frame ``k`` depends on the seed and ``k`` only (not on how many frames are asked for).
        """
        if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1 or start < 0:
            raise InputError(f"walk: frames must be an integer >= 1 and start >= 0, found {frames!r}, {start!r}")
        rng = _rng(self.seed, 0x71DE0)
        # an Ornstein-Uhlenbeck walk in unbounded coordinates, squashed into the limits
        dim = 3 + 1 + 50 + 3 + 1
        state = rng.normal(0, 1, dim)
        theta, sigma = 0.15, math.sqrt(2 * 0.15)
        out: list[FrameParams] = []
        light_base = np.array([0.35, 0.45, 1.0]) + rng.normal(0, 0.25, 3)
        for k in range(start + frames):
            if k > 0:
                state = state - theta * state + sigma * rng.normal(0, 1, dim)
            if k < start:
                continue
            s = state
            yaw = POSE_LIMITS[0] * math.tanh(0.8 * s[0])
            pitch = POSE_LIMITS[1] * math.tanh(0.6 * s[1])
            roll = POSE_LIMITS[2] * math.tanh(0.5 * s[2])
            jaw = JAW_LIMIT * 0.5 * (1 + math.tanh(1.2 * s[3] - 1.0))
            expr = np.zeros(50)
            expr[:10] = 0.8 * s[4:14]
            expr[10:] = 0.15 * s[14:54]
            R = _rot_euler(yaw, pitch, roll)
            c = R @ (self._world.face_centre - self._world.root) + self._world.root
            scale = BASE_SCALE * math.exp(0.06 * s[54])
            cam = (scale, float(-c[0] + 0.02 * s[55]), float(0.12 / scale - c[1] + 0.02 * s[56]))
            light = light_base + 0.15 * s[55:58]
            light = light / (np.linalg.norm(light) + 1e-12)
            out.append(FrameParams(yaw=float(yaw), pitch=float(pitch), roll=float(roll),
                                   expression=tuple(float(e) for e in expr), jaw=float(jaw), cam=tuple(cam),
                                   light=tuple(float(v) for v in light), ambient=float(0.35 + 0.05 * math.tanh(s[57]))))
        return out

    def flame_params(self, frames: Sequence[FrameParams]):
        """True :class:`~rome_smplx.types.FlameParams` of ``frames`` (batch ``len(frames)``)."""
        from rome_smplx.types import FlameParams

        B = len(frames)
        f32 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)
        return FlameParams(
            shape=self.shape[None].expand(B, -1).clone(), expression=f32([f.expression for f in frames]),
            global_rot=f32(np.stack([f.rotation() for f in frames])),
            jaw_rot=f32(np.stack([f.jaw_rotation() for f in frames])), cam=f32([f.cam for f in frames]),
        )

    def tracked_params(self, frames: Sequence[FrameParams], noise: float = 1.0, *, frame_ids: Optional[Sequence[int]] = None):
        """The FLAME parameters a DECA-style tracker would report: truth + seeded noise.

        The noise of frame ``k`` depends on the seed and ``frame_ids[k]`` (default 0..B-1) only.
        ``noise`` scales :data:`TRACKING_NOISE` (0: the truth).
        """
        from rome_smplx.types import FlameParams

        truth = self.flame_params(frames)
        if noise == 0:
            return truth
        ids = range(len(frames)) if frame_ids is None else frame_ids
        sh, ex, gr, jr, cm = [], [], [], [], []
        tn = TRACKING_NOISE
        for i, fid in enumerate(ids):
            r = _rng(self.seed, 0x7AC, int(fid))
            f = frames[i]
            sh.append(self.shape.numpy() + noise * tn["shape"] * r.normal(0, 1, self.shape.shape[0]))
            ex.append(np.asarray(f.expression) + noise * tn["expression"] * r.normal(0, 1, len(f.expression)))
            d = noise * tn["rotation"] * r.normal(0, 1, 3)
            gr.append(_rot_euler(f.yaw + d[0], f.pitch + d[1], f.roll + d[2]))
            jr.append(_rot_x(max(0.0, f.jaw + noise * tn["jaw"] * r.normal())))
            s = f.cam[0] * math.exp(noise * tn["scale"] * r.normal())
            cm.append([s, f.cam[1] + noise * tn["translation"] * r.normal(), f.cam[2] + noise * tn["translation"] * r.normal()])
        f32 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)
        return FlameParams(shape=f32(np.stack(sh)), expression=f32(np.stack(ex)), global_rot=f32(np.stack(gr)),
                           jaw_rot=f32(np.stack(jr)), cam=f32(cm))

    # ------------------------------------------------------------------ geometry
    def posed(self, flame) -> tuple[Tensor, Tensor, Tensor]:
        """True posed meshes for FLAME parameters: vertices (B, N, 3) (FLAME + offsets, no global
        rotation), root joints (B, 3) and the FLAME vertices without offsets (B, N, 3)."""
        from smplx.lbs import lbs

        w = self._world
        B = flame.batch_size
        betas = torch.cat([flame.shape[:, :100], flame.expression[:, :50]], dim=1).to(torch.float32)
        eye = torch.eye(3).expand(B, 3, 3)
        pose = torch.stack([eye, flame.neck_rot, flame.jaw_rot, flame.eye_rots[:, 0], flame.eye_rots[:, 1]], 1)
        dirs = torch.cat([w.shapedirs, w.exprdirs], dim=-1)
        verts, joints = lbs(betas, pose.to(torch.float32), w.v_template, dirs, w.posedirs, w.J_regressor,
                            w.parents, w.weights, pose2rot=False)
        return verts + self.offsets[None], joints[:, 0], verts

    def landmarks(self, verts: Tensor, global_rot: Tensor) -> Tensor:
        """The 68 landmark points (B, 68, 3) of meshes ``verts`` (dynamic contour picked by the rotation)."""
        from smplx.lbs import vertices2landmarks

        from rome_smplx.geometry.rotations import contour_bins

        w = self._world
        B = verts.shape[0]
        rows = contour_bins(global_rot, w.lmk_dyn_faces.shape[0])
        fidx = torch.cat([w.lmk_dyn_faces[rows], w.lmk_static_faces.expand(B, -1)], 1)
        bary = torch.cat([w.lmk_dyn_bary[rows], w.lmk_static_bary.expand(B, -1, -1)], 1)
        return vertices2landmarks(verts, w.flame_faces, fidx, bary)

    def face_labels(self) -> Tensor:
        """Per-face segmentation label of the rendered faces (hair where every corner is hair)."""
        w = self._world
        hw = self.hair_weight.numpy() > 0.5
        f = w.faces.numpy()
        hair = hw[f].all(1)
        neck = w.regions["neck"][f].any(1) & ~hair
        lab = np.full(len(f), SEGMENTATION_LABELS["face"], dtype=np.int64)
        lab[neck] = SEGMENTATION_LABELS["neck"]
        lab[hair] = SEGMENTATION_LABELS["hair"]
        return torch.as_tensor(lab)

    # ------------------------------------------------------------------ rendering
    def render(self, frame: FrameParams | Sequence[FrameParams], image_size: int = 128, *, tracking_noise: float = 1.0,
               frame_ids: Optional[Sequence[int]] = None, backend: str = "torch"):
        """Render one :class:`FrameParams` (-> :class:`SyntheticFrame`) or a list (-> list, one batch)."""
        single = isinstance(frame, FrameParams)
        frames = [frame] if single else list(frame)
        if not frames or not all(isinstance(f, FrameParams) for f in frames):
            raise InputError("render: expected a FrameParams or a non-empty list of them")
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 16:
            raise InputError(f"render: image_size must be an integer >= 16, found {image_size!r}")
        out = self._render(frames, image_size, tracking_noise, frame_ids, backend)
        return out[0] if single else out

    def render_codes(self, codes, frames: Sequence[FrameParams], image_size: int = 128, *,
                     backend: str = "torch") -> tuple[Tensor, Tensor]:
        """This subject (its true texture and offsets) drawn at other FLAME codes, lit as ``frames``.

        With the *tracked* codes of a frame this is the best any renderer driven by those codes can do
        without correcting the tracker: the evaluation's ceiling (``benchmarks/learning.py``).

        Args:
            codes: :class:`~rome_smplx.types.FlameParams` of batch ``len(frames)`` (shape, expression,
                global/jaw rotation, camera are used).
            frames: the :class:`FrameParams` whose light and ambient level are used.

        Returns:
            image ``(B, 3, S, S)`` on the subject's background and matte ``(B, 1, S, S)``.
        """
        frames = list(frames)
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 16:
            raise InputError(f"render_codes: image_size must be an integer >= 16, found {image_size!r}")
        if codes.batch_size != len(frames):
            raise InputError(f"render_codes: {codes.batch_size} codes for {len(frames)} frames")
        img, cover, _, _, _ = self._draw(codes, frames, image_size, backend)
        return img, cover[:, None]

    def _draw(self, geo, frames, S, backend):
        """Rasterise and shade the subject at FLAME parameters ``geo`` with the frames' lights."""
        from rome_smplx.geometry.mesh import vertex_normals
        from rome_smplx.render.cameras import rome_project_for_raster, rotate_about_joint
        from rome_smplx.render.raster import interpolate, rasterize

        w = self._world
        verts, root, _ = self.posed(geo)
        R = geo.global_rot
        ndc = rome_project_for_raster(verts, geo.cam, root, R)
        frags = rasterize(ndc, w.faces, (S, S), backend=backend)
        p2f = frags.pix_to_face[..., 0]  # (B, S, S)
        cover = (p2f >= 0).to(torch.float32)
        B = len(frames)
        uv = interpolate(frags, w.uv_coords[w.uv_faces].unsqueeze(0).expand(B, -1, -1, -1))[:, :, :, 0]
        albedo = torch.nn.functional.grid_sample(self.texture[None].expand(B, -1, -1, -1), uv, mode="bilinear",
                                                 align_corners=False)  # (B, 3, S, S)
        world = rotate_about_joint(verts, root, R)
        nrm = vertex_normals(world, w.faces)
        npix = interpolate(frags, nrm)[:, :, :, 0]
        npix = npix / npix.norm(dim=-1, keepdim=True).clamp_min(1e-8)
        light = torch.as_tensor(np.array([f.light for f in frames]), dtype=torch.float32)
        amb = torch.as_tensor([f.ambient for f in frames], dtype=torch.float32).view(B, 1, 1)
        lam = (npix * light.view(B, 1, 1, 3)).sum(-1).clamp_min(0)
        shade = (amb + (1.05 - amb) * lam)[:, None]
        bg = torch.as_tensor(self.background, dtype=torch.float32).view(1, 3, 1, 1)
        ramp = torch.linspace(1.04, 0.9, S).view(1, 1, S, 1)
        img = torch.where(cover[:, None] > 0, (albedo * shade).clamp(0, 1), (bg * ramp).clamp(0, 1))
        return img, cover, p2f, verts, root

    def _render(self, frames, S, noise, frame_ids, backend) -> list[SyntheticFrame]:
        from rome_smplx.render.cameras import rome_project

        truth = self.flame_params(frames)
        tracked = self.tracked_params(frames, noise, frame_ids=frame_ids)
        img, cover, p2f, verts, root = self._draw(truth, frames, S, backend)
        R = truth.global_rot
        labels = self.face_labels()
        seg = torch.where(p2f >= 0, labels[p2f.clamp_min(0)], torch.zeros_like(p2f))
        lmk = self.landmarks(verts, R)
        lmk_ndc = rome_project(lmk, truth.cam, root, R)[..., :2]
        out = []
        for i, f in enumerate(frames):
            out.append(SyntheticFrame(
                image=img[i].contiguous(), matte=cover[i][None].contiguous(), segmentation=seg[i].contiguous(),
                landmarks=lmk_ndc[i].contiguous(), flame=truth.index(slice(i, i + 1)),
                tracked=tracked.index(slice(i, i + 1)), vertices=verts[i].contiguous(), offsets=self.offsets,
                root_joint=root[i].contiguous(), params=f))
        return out


#: BiSeNet parsing label written for each segmentation label (skin, hair, neck) in the on-disk layout.
_PARSING_LABEL = {0: 0, 1: 1, 2: 17, 3: 14}


def _parse_seeds(seeds) -> list[int]:
    out = [int(s) for s in seeds]
    if not out or any(s < 0 for s in out):
        raise InputError(f"seeds: expected a non-empty range of integers >= 0, found {seeds!r}")
    return out


def write_video(directory, assets: "Assets", seeds: Sequence[int], frames: int = 16, image_size: int = 256, *,
                tracking_noise: float = 1.0, progress: bool = True):
    """Write subjects as user videos, in the folder layout :class:`~rome_smplx.trainers.datasets.FramePairsDataset`
    reads, plus the truth of every frame.

    Layout: ``DIR/subject_SSSSSS/frame_KKK.png`` (RGB), ``frame_KKK_mask.png`` (matte),
    ``frame_KKK_flame.npz`` (the *tracked* DECA codes: ``shape (1, 100)``, ``exp (1, 50)``,
    ``pose (1, 6)`` axis-angle [global, jaw], ``cam (1, 3)``), ``frame_KKK_parsing.png`` (BiSeNet-style
    labels: 1 skin, 17 hair, 14 neck), ``frame_KKK_kpts.npy`` ((68, 2) landmark pixels) and
    ``truth/frame_KKK.npz`` (``vertices``, ``offsets`` (N, 3), ``root_joint``, the true ``shape``,
    ``expression``, ``global_rot``, ``jaw_rot``, ``cam``, the frame's ``yaw pitch roll jaw light ambient``).
    Each subject folder is written atomically; the whole output appears only when complete.

    Returns:
        the folder.
    """
    from pathlib import Path

    from PIL import Image
    from tqdm.auto import tqdm

    from rome_smplx.geometry.rotations import matrix_to_axis_angle
    from rome_smplx.io.atomic import atomic_dir

    seeds = _parse_seeds(seeds)
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 2:
        raise InputError(f"frames: expected an integer >= 2, found {frames!r}")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 16:
        raise InputError(f"image_size: expected an integer >= 16, found {image_size!r}")
    root = Path(directory)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise InputError(f"{root}: exists and is not an empty folder (choose a new output folder)")
    u8 = lambda t: (t.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()
    with atomic_dir(root) as tmp:
        for seed in tqdm(seeds, desc="synthetic videos", unit="subject", disable=not progress):
            subj = SyntheticSubject.from_seed(seed, assets)
            walk = subj.walk(frames)
            rendered = subj.render(walk, image_size, tracking_noise=tracking_noise, frame_ids=list(range(frames)))
            folder = tmp / f"subject_{seed:06d}"
            (folder / "truth").mkdir(parents=True)
            for k, fr in enumerate(rendered):
                name = f"frame_{k:03d}"
                Image.fromarray(u8(fr.image).transpose(1, 2, 0)).save(folder / f"{name}.png")
                Image.fromarray(u8(fr.matte[0])).save(folder / f"{name}_mask.png")
                lab = np.vectorize(_PARSING_LABEL.get)(fr.segmentation.numpy()).astype(np.uint8)
                Image.fromarray(lab).save(folder / f"{name}_parsing.png")
                np.save(folder / f"{name}_kpts.npy", ((fr.landmarks.numpy() + 1.0) * 0.5 * image_size).astype(np.float32))
                tr = fr.tracked
                pose = torch.cat([matrix_to_axis_angle(tr.global_rot), matrix_to_axis_angle(tr.jaw_rot)], -1)
                np.savez(folder / f"{name}_flame.npz", shape=tr.shape.numpy(), exp=tr.expression.numpy(),
                         pose=pose.numpy(), cam=tr.cam.numpy())
                t = fr.flame
                p = fr.params
                np.savez_compressed(
                    folder / "truth" / f"{name}.npz", vertices=fr.vertices.numpy(), offsets=fr.offsets.numpy(),
                    root_joint=fr.root_joint.numpy(), shape=t.shape[0].numpy(), expression=t.expression[0].numpy(),
                    global_rot=t.global_rot[0].numpy(), jaw_rot=t.jaw_rot[0].numpy(), cam=t.cam[0].numpy(),
                    yaw=p.yaw, pitch=p.pitch, roll=p.roll, jaw=p.jaw, light=np.asarray(p.light), ambient=p.ambient,
                    family=np.array(subj.style.family),
                )
    logger.info("wrote %d synthetic videos (%d frames, %d px) to %s", len(seeds), frames, image_size, root)
    return root


def family_mix(seeds: Sequence[int]) -> dict[str, int]:
    """How many of ``seeds`` draw each hair family (cheap: does not build the subjects)."""
    counts = dict.fromkeys(HAIR_FAMILIES, 0)
    for s in seeds:
        counts[hair_style(s).family] += 1
    return counts


def hair_style(seed: int, family: Optional[str] = None) -> HairStyle:
    """The :class:`HairStyle` of subject ``seed`` (cheap: what :meth:`SyntheticSubject.from_seed` draws)."""
    return HairStyle.sample(_rng(seed, 0x5B1E, 1), family)


__all__ = [
    "HAIR_FAMILIES",
    "POSE_LIMITS",
    "SEGMENTATION_LABELS",
    "SPLITS",
    "TRACKING_NOISE",
    "FrameParams",
    "HairStyle",
    "SyntheticFrame",
    "SyntheticSubject",
    "basis_residual",
    "family_mix",
    "write_video",
    "hair_offsets",
    "hair_style",
]
