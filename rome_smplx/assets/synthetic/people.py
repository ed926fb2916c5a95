"""Synthetic people: seeded subjects with SMPL-X/FLAME parameters, a hair style, colours and a photo.

Each person is consistent across the two models: the SMPL-X betas ``HEAD_SHAPE_START ..
HEAD_SHAPE_START + 100`` equal the FLAME shape, the SMPL-X expression equals the FLAME expression,
the jaw rotations agree, and the SMPL-X head joint carries the FLAME global rotation (spine, neck and
pelvis are upright, so the head's world rotation is the FLAME one).

The photo is a head-and-shoulders portrait of the ROME head: FLAME (shape, expression, jaw, no global
rotation) plus the hair/neck offsets ``basis @ coeffs + mean_deform``, rotated about the FLAME root
joint by the global rotation and projected with DECA's orthographic camera ``[s, tx, ty]``
(:func:`rome_smplx.render.cameras.rome_project`), rasterised with the SDK's pure-PyTorch
rasteriser and shaded with per-vertex colours (skin, hair, lips, eyes) and a Lambertian light.

Files in ``DIR/people/person_NNN/``: ``photo.png``/``mask.png`` (512), ``photo_256.png``/
``mask_256.png``, ``person_NNN_param.pkl`` (PIXIE, y-down), ``person_NNN_deca.pkl`` (DECA code dict)
and ``truth.npz`` (see :func:`write_person`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rome_smplx.errors import InputError

log = logging.getLogger(__name__)

#: PIXIE's shape / expression sizes and DECA's.
PIXIE_NUM_BETAS = 200
PIXIE_NUM_EXPRESSION = 50
DECA_NUM_SHAPE = 100
DECA_NUM_EXPRESSION = 50
#: Photo size in pixels (a half-size copy is written too).
PHOTO_SIZE = 512

_SKIN_TONES = np.array([[0.96, 0.80, 0.69], [0.89, 0.70, 0.57], [0.78, 0.57, 0.42], [0.62, 0.43, 0.30],
                        [0.45, 0.31, 0.22], [0.93, 0.76, 0.62]])
_HAIR_COLOURS = np.array([[0.10, 0.07, 0.05], [0.30, 0.19, 0.10], [0.55, 0.38, 0.20], [0.80, 0.65, 0.40],
                          [0.45, 0.12, 0.05], [0.55, 0.55, 0.55]])


@dataclass
class SyntheticPerson:
    """Ground truth of one synthetic subject (numpy, y-up frames unless named otherwise).

    Attributes:
        flame_shape: ``(100,)``; flame_expression: ``(50,)``; flame_global_rot, flame_jaw_rot: ``(3, 3)``.
        deca_cam: ``(3,)`` DECA ``[s, tx, ty]`` of the photo.
        betas: ``(200,)``; expression: ``(50,)``; global_orient: ``(3, 3)`` (y-up);
        body_pose: ``(21, 3, 3)``; jaw_pose: ``(3, 3)``; left/right_hand_pose: ``(15, 3, 3)``.
        body_cam: ``(3,)`` weak-perspective body camera in the y-up frame (PIXIE's has ``-ty``).
        hair_coeffs: ``(K,)`` coefficients in the ROME basis; offsets: ``(N, 3)`` = basis @ coeffs + mean.
        vertices: ``(N, 3)`` FLAME + offsets before the global rotation; root_joint: ``(3,)``.
        vertex_colors: ``(N, 3)`` in [0, 1]; skin_rgb, hair_rgb: ``(3,)``.
    """

    flame_shape: np.ndarray
    flame_expression: np.ndarray
    flame_global_rot: np.ndarray
    flame_jaw_rot: np.ndarray
    deca_cam: np.ndarray
    betas: np.ndarray
    expression: np.ndarray
    global_orient: np.ndarray
    body_pose: np.ndarray
    jaw_pose: np.ndarray
    left_hand_pose: np.ndarray
    right_hand_pose: np.ndarray
    body_cam: np.ndarray
    hair_coeffs: np.ndarray
    offsets: np.ndarray
    vertices: np.ndarray
    root_joint: np.ndarray
    vertex_colors: np.ndarray
    skin_rgb: np.ndarray
    hair_rgb: np.ndarray


def _rotvec(v) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_rotvec(np.asarray(v, dtype=np.float64)).as_matrix()


def _flame_vertices(head, shape: np.ndarray, expression: np.ndarray, jaw: np.ndarray):
    """FLAME with identity global/neck/eye rotations: ``(N, 3)`` vertices and ``(5, 3)`` joints."""
    from smplx.lbs import lbs

    n_shape = head.shapedirs.shape[2] - 100
    betas = np.zeros(head.shapedirs.shape[2])
    betas[: len(shape)] = shape
    betas[n_shape:n_shape + len(expression)] = expression
    from rome_smplx.assets.synthetic.head import JOINT_NAMES as FLAME_JOINTS

    rots = np.repeat(np.eye(3)[None], head.joints.shape[0], 0)
    rots[FLAME_JOINTS.index("jaw")] = jaw
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float64)
    posedirs = t(head.posedirs).reshape(-1, head.posedirs.shape[2]).T
    v, j = lbs(t(betas)[None], t(rots)[None], t(head.v_template), t(head.shapedirs), posedirs,
               t(head.J_regressor), torch.as_tensor(head.parents), t(head.weights), pose2rot=False)
    return v[0].numpy(), j[0].numpy()


def draw_body(rng: np.random.Generator, shape: np.ndarray, head_rot: np.ndarray) -> dict[str, np.ndarray]:
    """An SMPL-X body consistent with a FLAME head: its head betas equal ``shape`` and its head joint
    carries ``head_rot``; arms down, slightly bent elbows and knees, relaxed hands.

    Returns numpy arrays (y-up): ``betas (200,)``, ``body_pose (21, 3, 3)``, ``left_hand_pose`` /
    ``right_hand_pose (15, 3, 3)``, ``cam (3,)`` (weak perspective, PIXIE's with ``-ty``).
    """
    from rome_smplx.assets.synthetic.body import HEAD_SHAPE_START

    betas = np.zeros(PIXIE_NUM_BETAS)
    betas[:10] = rng.normal(0, 0.8, 10)
    betas[HEAD_SHAPE_START:HEAD_SHAPE_START + DECA_NUM_SHAPE] = shape
    from rome_smplx.types import NUM_BODY_JOINTS, body_pose_index as j

    pose = np.repeat(np.eye(3)[None], NUM_BODY_JOINTS, 0)
    ang = lambda m, s_: rng.normal(m, s_)
    # (the random draws keep their order, so a seed gives the same person as before)
    pose[j("left_shoulder")] = _rotvec([0, 0, -ang(1.2, 0.08)])  # arm down
    pose[j("right_shoulder")] = _rotvec([0, 0, ang(1.2, 0.08)])
    pose[j("left_elbow")] = _rotvec([0, -abs(ang(0.25, 0.1)), 0])  # forward
    pose[j("right_elbow")] = _rotvec([0, abs(ang(0.25, 0.1)), 0])
    pose[j("left_hip")] = _rotvec([ang(-0.05, 0.03), 0, 0.02])
    pose[j("right_hip")] = _rotvec([ang(-0.05, 0.03), 0, -0.02])
    pose[j("left_knee")] = _rotvec([abs(ang(0.08, 0.04)), 0, 0])
    pose[j("right_knee")] = _rotvec([abs(ang(0.08, 0.04)), 0, 0])
    pose[j("head")] = head_rot  # the FLAME global rotation
    lh = np.stack([_rotvec([0, 0, -abs(ang(0.3, 0.1))]) for _ in range(15)])
    rh = np.stack([_rotvec([0, 0, abs(ang(0.3, 0.1))]) for _ in range(15)])
    body_cam = np.array([1.05 * np.exp(rng.normal(0, 0.03)), rng.normal(0, 0.02), 0.08 + rng.normal(0, 0.02)])
    return {"betas": betas, "body_pose": pose, "left_hand_pose": lh, "right_hand_pose": rh, "cam": body_cam}


def make_person(head, rome, index: int, seed: int = 0) -> SyntheticPerson:
    """Draw person ``index`` of the set seeded by ``seed``.

    Args:
        head: :class:`~rome_smplx.assets.synthetic.head.SyntheticHead` (N vertices).
        rome: :class:`~rome_smplx.assets.synthetic.rome_data.SyntheticRomeData` (basis ``(3N, K)``).
        index: person number (>= 0).
        seed: set seed.

    Returns:
        :class:`SyntheticPerson`.
    """
    if index < 0:
        raise InputError(f"make_person: index must be >= 0, found {index}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(index), 0x9E0]))
    N = head.v_template.shape[0]
    # ---- head
    shape = np.zeros(DECA_NUM_SHAPE)
    shape[:10] = rng.normal(0, 1.0, 10)
    shape[10:] = rng.normal(0, 0.3, DECA_NUM_SHAPE - 10)
    expr = np.zeros(DECA_NUM_EXPRESSION)
    expr[:8] = rng.normal(0, 0.6, 8)
    expr[8:] = rng.normal(0, 0.15, DECA_NUM_EXPRESSION - 8)
    jaw = _rotvec([abs(rng.normal(0, 0.08)), 0.0, rng.normal(0, 0.01)])
    yaw, pitch, roll = rng.normal(0, [0.22, 0.1, 0.05])
    g_rot = _rotvec([0, yaw, 0]) @ _rotvec([pitch, 0, 0]) @ _rotvec([0, 0, roll])
    # ---- hair
    K = rome.basis.shape[1]
    n_hair = K - 10
    sig = np.concatenate([0.5 / (1 + np.arange(n_hair) / 1.5), 0.25 / (1 + np.arange(K - n_hair) / 2.0)])
    coeffs = rng.normal(0, 1, K) * sig
    offsets = (rome.basis.astype(np.float64) @ coeffs).reshape(N, 3) + rome.mean_deform.astype(np.float64)
    v, j = _flame_vertices(head, shape, expr, jaw)
    verts = v + offsets
    # ---- camera: the head slightly above the image centre, shoulders at the bottom
    vr = (verts - j[0]) @ g_rot.T + j[0]
    face = np.asarray(head.regions["face"])
    cx, cy = vr[face, 0].mean(), vr[face, 1].mean()
    s = float(5.2 * np.exp(rng.normal(0, 0.05)))
    cam = np.array([s, -cx + rng.normal(0, 0.005), 0.12 / s - cy + rng.normal(0, 0.005)])
    # ---- body: consistent with the head
    body = draw_body(rng, shape, g_rot)
    # ---- colours
    skin = np.clip(_SKIN_TONES[rng.integers(len(_SKIN_TONES))] + rng.normal(0, 0.02, 3), 0, 1)
    hair = np.clip(_HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))] + rng.normal(0, 0.02, 3), 0, 1)
    colors = _vertex_colors(head, rome, skin, hair, offsets)
    return SyntheticPerson(
        flame_shape=shape, flame_expression=expr, flame_global_rot=g_rot, flame_jaw_rot=jaw, deca_cam=cam,
        betas=body["betas"], expression=expr.copy(), global_orient=np.eye(3), body_pose=body["body_pose"],
        jaw_pose=jaw.copy(), left_hand_pose=body["left_hand_pose"], right_hand_pose=body["right_hand_pose"],
        body_cam=body["cam"], hair_coeffs=coeffs, offsets=offsets,
        vertices=verts, root_joint=j[0], vertex_colors=colors, skin_rgb=skin, hair_rgb=hair,
    )


def _vertex_colors(head, rome, skin, hair, offsets) -> np.ndarray:
    N = head.v_template.shape[0]
    v = head.v_template
    col = np.repeat(skin[None], N, 0)
    # hair on the scalp, fading into the neck where the offsets are large (long hair)
    hair_w = np.zeros(N)
    hair_w[np.asarray(rome.hair_list)] = 1.0
    mag = np.linalg.norm(offsets, axis=1)
    neck = np.asarray(rome.neck_list)
    hair_w[neck] = np.clip((mag[neck] - 0.01) / 0.02, 0, 1) * (v[neck, 2] < 0.02)
    col = (1 - hair_w[:, None]) * col + hair_w[:, None] * hair[None]
    lips = np.asarray(head.regions.get("lips", []), dtype=np.int64)
    col[lips] = 0.75 * skin + 0.25 * np.array([0.75, 0.3, 0.3])
    for key in ("left_eyeball", "right_eyeball"):
        eye = np.asarray(head.regions.get(key, []), dtype=np.int64)
        if len(eye):
            c = v[eye].mean(0)
            r = np.linalg.norm(v[eye] - c, axis=1).max()
            front = (v[eye, 2] - c[2]) / r
            col[eye] = np.where((front > 0.8)[:, None], np.array([0.08, 0.06, 0.05]),
                                np.where((front > 0.6)[:, None], np.array([0.3, 0.22, 0.12]),
                                         np.array([0.92, 0.9, 0.88])))
    return col


def _vertex_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    n = np.zeros_like(v)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    return n / (np.linalg.norm(n, axis=1, keepdims=True) + 1e-12)


def render_person(head, person: SyntheticPerson, size: int = PHOTO_SIZE, background=None):
    """Render the portrait of ``person``.

    Args:
        head: the synthetic head (faces incl. mouth faces are used).
        person: from :func:`make_person`.
        size: image size in pixels.
        background: ``(3,)`` RGB in [0, 1] (default light grey).

    Returns:
        ``(image (size, size, 3) uint8, mask (size, size) uint8 in {0, 255})``.
    """
    from rome_smplx.render.cameras import rome_project
    from rome_smplx.render.raster import interpolate, rasterize

    faces = np.asarray(head.faces_v2, dtype=np.int64)
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)[None]
    ndc = rome_project(t(person.vertices), t(person.deca_cam), t(person.root_joint), t(person.flame_global_rot))
    ndc = ndc.clone()
    ndc[..., 2] = ndc[..., 2] + 10.0  # positive depth
    fr = rasterize(ndc, torch.as_tensor(faces), (size, size), backend="torch")
    vr = (person.vertices - person.root_joint) @ person.flame_global_rot.T + person.root_joint
    normals = _vertex_normals(vr, faces)
    light = np.array([0.35, 0.45, 1.0])
    light /= np.linalg.norm(light)
    shade = 0.35 + 0.75 * np.clip(normals @ light, 0, 1)
    rgb = np.clip(person.vertex_colors * shade[:, None], 0, 1)
    img = interpolate(fr, t(rgb))[0, :, :, 0].numpy()
    mask = fr.mask[0].numpy()
    bg = np.array([0.82, 0.84, 0.86]) if background is None else np.asarray(background)
    yy = np.linspace(0, 1, size)[:, None, None]
    bgimg = bg[None, None] * (1.05 - 0.15 * yy)
    out = np.where(mask[..., None], img, bgimg)
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8), (mask * 255).astype(np.uint8)


def _downsample(a: np.ndarray) -> np.ndarray:
    h, w = a.shape[:2]
    b = a.astype(np.float64).reshape(h // 2, 2, w // 2, 2, *a.shape[2:]).mean((1, 3))
    return (b + 0.5).astype(np.uint8)


def write_person(head, rome, person: SyntheticPerson, folder, name: str) -> Path:
    """Write one person's folder (photos, PIXIE and DECA files, ``truth.npz``).

    ``truth.npz`` keys: ``flame_shape (100,)``, ``flame_expression (50,)``, ``flame_global_rot (3, 3)``,
    ``flame_jaw_rot (3, 3)``, ``deca_cam (3,)``, ``betas (200,)``, ``expression (50,)``,
    ``global_orient (3, 3)`` (y-up), ``body_pose (21, 3, 3)``, ``jaw_pose (3, 3)``,
    ``left_hand_pose``/``right_hand_pose (15, 3, 3)``, ``body_cam (3,)`` (y-up), ``hair_coeffs (K,)``,
    ``offsets (N, 3)``, ``vertices (N, 3)``, ``root_joint (3,)``, ``vertex_colors (N, 3)``,
    ``skin_rgb``, ``hair_rgb (3,)``, ``image_size ()``.

    Returns:
        the folder.
    """
    from PIL import Image

    from rome_smplx.io.deca import save_codedict
    from rome_smplx.io.pixie import save_param_pkl, to_y_down
    from rome_smplx.io.atomic import atomic_path
    from rome_smplx.types import FlameParams, SmplxParams

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    img, mask = render_person(head, person, PHOTO_SIZE)
    for arr, fname in ((img, "photo.png"), (mask, "mask.png"), (_downsample(img), "photo_256.png"),
                       (_downsample(mask), "mask_256.png")):
        with atomic_path(folder / fname) as tmp:
            Image.fromarray(arr).save(tmp, format="PNG")
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)[None]
    params = SmplxParams(
        betas=t(person.betas), expression=t(person.expression), global_orient=t(person.global_orient),
        body_pose=t(person.body_pose), jaw_pose=t(person.jaw_pose), left_hand_pose=t(person.left_hand_pose),
        right_hand_pose=t(person.right_hand_pose), cam=t(person.body_cam), frame="y_up",
    )
    save_param_pkl(folder / f"{name}_param.pkl", to_y_down(params))
    flame = FlameParams(shape=t(person.flame_shape), expression=t(person.flame_expression),
                        global_rot=t(person.flame_global_rot), jaw_rot=t(person.flame_jaw_rot), cam=t(person.deca_cam))
    save_codedict(folder / f"{name}_deca.pkl", flame)
    arrays = {k: np.asarray(getattr(person, k)) for k in SyntheticPerson.__dataclass_fields__}
    arrays["image_size"] = np.array(PHOTO_SIZE)
    with atomic_path(folder / "truth.npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return folder


__all__ = ["PHOTO_SIZE", "SyntheticPerson", "draw_body", "make_person", "render_person", "write_person"]
