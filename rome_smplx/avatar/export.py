"""Rigged glTF export of a full-body avatar: skeleton, skin, morph targets, animation, texture.

:func:`export_rigged` takes plain tensors (:class:`RigInput`: the merged rest template, its skeleton,
skinning weights and blend shapes), so it does not depend on how the avatar was merged. The file
layout is :mod:`rome_smplx.io.gltf`'s: SMPL-X's joints as nodes named by smplx's ``JOINT_NAMES``,
one skin, ``JOINTS_0``/``WEIGHTS_0`` with the 4 largest weights renormalised, y-up metres.

Morph targets (``morphs``):

* ``"expression"``: SMPL-X's expression directions, ``expression_000_pos`` / ``expression_000_neg``
  ... (the first ``num_expression``), weighted by the expression coefficients (the static pose's by
  default, the motion's per frame).
* ``"jaw"``: ``jaw_open``, the rest-pose offsets of opening the jaw by :data:`JAW_OPEN_ANGLE`
  (with its pose correctives), for viewers that drive faces by morphs only; the skeleton's ``jaw``
  joint animates the jaw in the motion.
* pose correctives (``correctives=True``, with a motion or a non-rest static pose): the corrective
  offsets of every animated frame and of the static pose, stored as a few principal morph targets
  ``pose_corrective_00`` ... with per-frame weights (:func:`rome_smplx.io.gltf.bake_pose_correctives`).

Every morph weight in the file lies in [0, 1]: a signed coefficient ``w`` drives a ``_pos`` target by
``max(w, 0) / c`` and a ``_neg`` target (the negated offsets) by ``max(-w, 0) / c``, the targets scaled by
``c = max(1, max |w|)`` (``mesh.extras.targetScales``), because viewers clamp weights: Blender's glTF
importer sets a shape key's slider range from the first keyframe only, Unity clamps blend shapes to
0-100 %.

What a plain viewer cannot reproduce is listed in the file (``asset.extras.not_reproduced``) and in
:class:`ExportReport`, with the size of each effect.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor

from rome_smplx.errors import InputError
from rome_smplx.io import gltf
from rome_smplx.types import SmplxParams

logger = logging.getLogger(__name__)

__all__ = ["JAW_OPEN_ANGLE", "MORPHS", "ExportReport", "RigInput", "export_avatar", "export_rigged", "full_pose",
           "rig_input", "sample_poses", "write_avatar_file"]

MORPHS = ("expression", "jaw")
#: Jaw rotation (radians, about x) of the ``jaw_open`` morph target.
JAW_OPEN_ANGLE = 0.35
#: Poses the weight-truncation error is measured over (besides the motion's frames).
NUM_TEST_POSES = 16
#: Most motion frames the export's error measurements use (evenly spaced).
MAX_CHECK_FRAMES = 32


def _np(t: Any, dtype=np.float64) -> np.ndarray:
    if isinstance(t, Tensor):
        t = t.detach().cpu().numpy()
    return np.asarray(t, dtype=dtype)


@dataclass
class RigInput:
    """What a rigged export needs (one avatar; numpy arrays or tensors).

    Attributes:
        template: ``(V, 3)`` rest vertices with identity and merge applied, zero expression and pose.
        faces: ``(F, 3)``.
        joints: ``(J, 3)`` rest joints of ``template``.
        parents: ``(J,)``, ``-1`` for the root.
        weights: ``(V, J)`` skinning weights.
        joint_names: ``J`` names (node names).
        expr_dirs: optional ``(V, 3, E)`` expression directions.
        posedirs: optional ``(9 (J - 1), 3 V)`` pose correctives (smplx's layout; float32 stays float32).
        joint_expr_dirs: optional ``(J, 3, E)``: how the regressed joints move per expression
            coefficient (to measure what fixed glTF joints miss).
        uvs, uv_faces: optional ``(U, 2)`` / ``(F, 3)`` UV layout (v up).
    """

    template: Any
    faces: Any
    joints: Any
    parents: Any
    weights: Any
    joint_names: Sequence[str]
    expr_dirs: Any = None
    posedirs: Any = None
    joint_expr_dirs: Any = None
    uvs: Any = None
    uv_faces: Any = None

    def __post_init__(self) -> None:
        self.template = _np(self.template)
        self.faces = _np(self.faces, np.int64)
        self.joints = _np(self.joints)
        self.parents = _np(self.parents, np.int64)
        self.weights = _np(self.weights)
        V, J = self.template.shape[0], self.joints.shape[0]
        if self.template.ndim != 2 or self.template.shape[1] != 3:
            raise InputError(f"RigInput.template: expected (V, 3), found {self.template.shape}")
        if self.weights.shape != (V, J) or self.parents.shape != (J,) or len(self.joint_names) != J:
            raise InputError(f"RigInput: expected weights ({V}, {J}), parents ({J},) and {J} joint names; found "
                             f"{self.weights.shape}, {self.parents.shape}, {len(self.joint_names)}")
        for name in ("expr_dirs", "joint_expr_dirs", "uvs"):
            if getattr(self, name) is not None:
                setattr(self, name, _np(getattr(self, name)))
        if self.posedirs is not None:  # the largest array by far: kept in its float dtype, used in float64 blocks
            pd = _np(self.posedirs, dtype=None)
            self.posedirs = pd if pd.dtype in (np.float32, np.float64) else pd.astype(np.float64)
        if self.uv_faces is not None:
            self.uv_faces = _np(self.uv_faces, np.int64)
        if self.expr_dirs is not None and self.expr_dirs.shape[:2] != (V, 3):
            raise InputError(f"RigInput.expr_dirs: expected ({V}, 3, E), found {self.expr_dirs.shape}")
        if self.posedirs is not None and self.posedirs.shape != (9 * (J - 1), 3 * V):
            raise InputError(f"RigInput.posedirs: expected ({9 * (J - 1)}, {3 * V}), found {self.posedirs.shape}")

    @property
    def num_expression(self) -> int:
        return 0 if self.expr_dirs is None else int(self.expr_dirs.shape[2])


@dataclass
class ExportReport:
    """What :func:`export_rigged` wrote and measured.

    Attributes:
        path: the file; bytes: its size; seconds: time taken.
        vertices: glTF vertices (split at UV seams); joints; morph_targets: their names; frames.
        truncation_error_m: largest vertex error of keeping 4 weights per vertex, over the motion's frames
            (at most :data:`MAX_CHECK_FRAMES`, evenly spaced) and :data:`NUM_TEST_POSES` seeded poses.
        corrective_error_m: largest vertex error of the baked pose correctives (0 without them).
        expression_joint_error_m: largest vertex error of fixed joints under the motion's expressions.
        not_reproduced: what a plain glTF viewer cannot reproduce.
    """

    path: Path
    bytes: int
    seconds: float
    vertices: int
    joints: int
    morph_targets: list = field(default_factory=list)
    frames: int = 0
    truncation_error_m: float = 0.0
    corrective_error_m: float = 0.0
    expression_joint_error_m: float = 0.0
    not_reproduced: list = field(default_factory=list)

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["path"] = str(self.path)
        return d


def full_pose(params: SmplxParams) -> np.ndarray:
    """``(T, 55, 3, 3)`` local joint rotations in SMPL-X's joint order (global, body, jaw, eyes, hands)."""
    if not isinstance(params, SmplxParams):
        raise InputError(f"expected SmplxParams, found {type(params).__name__}")
    p = params
    R = torch.cat([p.global_orient[:, None], p.body_pose, p.jaw_pose[:, None], p.leye_pose[:, None],
                   p.reye_pose[:, None], p.left_hand_pose, p.right_hand_pose], dim=1)
    return _np(R)


def sample_poses(num_joints: int, n: int = NUM_TEST_POSES, seed: int = 0, scale: float = 0.35) -> np.ndarray:
    """``(n, J, 3, 3)`` seeded random local rotations (axis-angle ~ N(0, scale) per joint, root upright)."""
    from rome_smplx.geometry.rotations import axis_angle_to_matrix

    g = torch.Generator().manual_seed(seed)
    aa = torch.randn(n, num_joints, 3, generator=g, dtype=torch.float64) * scale
    aa[:, 0] = 0.0
    return axis_angle_to_matrix(aa).numpy()


def _load_motion(motion):
    from rome_smplx.io.motion import Motion, load_motion

    if motion is None or isinstance(motion, Motion):
        return motion
    if isinstance(motion, (str, os.PathLike)):
        return load_motion(motion)
    raise InputError(f"motion: expected a Motion, a motion file or None, found {type(motion).__name__}")


def _one_sided(names: list[str], offsets: list[np.ndarray], w0: np.ndarray, wt: np.ndarray, both: list[bool]):
    """Morph targets whose weights stay in [0, 1], for viewers that clamp them (Blender's importer sets each
    shape key's slider range from the first keyframe only; Unity clamps blend shapes to 0-100 %).

    A signed channel ``w * d`` becomes ``name_pos`` (``c d``, weight ``max(w, 0) / c``) and ``name_neg``
    (``-c d``, weight ``max(-w, 0) / c``) with ``c = max(1, max |w|)``; a side is kept when it is used or
    ``both`` asks for it (expressions: a user may drive either sign). Returns
    ``(targets {name: offsets}, w0 (M',), wt (T, M'), scales {name: c})``.
    """
    out, w0_out, wt_out, scales = {}, [], [], {}
    for k, (name, d) in enumerate(zip(names, offsets)):
        w = np.concatenate([w0[k:k + 1], wt[:, k]])
        c = float(max(1.0, np.abs(w).max(initial=0.0)))
        if (w >= 0).all() and not both[k]:
            out[name] = c * d
            w0_out.append(w0[k] / c)
            wt_out.append(wt[:, k] / c)
            scales[name] = c
            continue
        for suffix, sign in (("_pos", 1.0), ("_neg", -1.0)):
            if both[k] or (sign * w > 0).any():
                out[name + suffix] = sign * c * d
                w0_out.append(max(sign * w0[k], 0.0) / c)
                wt_out.append(np.maximum(sign * wt[:, k], 0.0) / c)
                scales[name + suffix] = c
    wt_arr = np.stack(wt_out, 1) if wt_out else np.zeros((wt.shape[0], 0))
    return out, np.asarray(w0_out), wt_arr, scales


def export_rigged(
    path: str | os.PathLike,
    rig: RigInput,
    *,
    pose: Optional[SmplxParams] = None,
    motion=None,
    morphs: Sequence[str] = ("expression",),
    num_expression: Optional[int] = None,
    correctives: bool = True,
    texture: Optional[np.ndarray] = None,
    colors: Optional[np.ndarray] = None,
    name: str = "avatar",
    max_corrective_targets: int = 16,
    extras: Optional[dict] = None,
) -> ExportReport:
    """Write a rigged (optionally animated and textured) GLB.

    Args:
        path: output ``.glb``.
        rig: :class:`RigInput`.
        pose: the static pose the nodes show (batch 1; default the rest pose); its expression sets the
            default morph weights.
        motion: optional :class:`~rome_smplx.io.motion.Motion` or motion file (AMASS-style ``.npz``, our
            ``.npz``, a PIXIE folder): joint rotations, root translation and expression weights per frame.
        morphs: morph targets to include, from :data:`MORPHS`.
        num_expression: expression targets (default: all of ``rig.expr_dirs``).
        correctives: bake pose correctives of the static pose and the motion's frames as morph targets.
        texture: optional ``(S, S, 3)`` uint8 base colour texture (needs ``rig.uvs``).
        colors: optional ``(V, 3)`` vertex colours (used when there is no texture).
        name: mesh name.
        max_corrective_targets: most morph targets for the correctives.
        extras: more metadata for ``asset.extras``.

    Returns:
        :class:`ExportReport`.
    """
    t0 = time.perf_counter()
    path = Path(path)
    if path.suffix.lower() != ".glb":
        raise InputError(f"{path}: a rigged export is a .glb file")
    bad = [m for m in morphs if m not in MORPHS]
    if bad:
        raise InputError(f"morphs: unknown {bad}; expected a subset of {MORPHS}")
    if texture is not None and rig.uvs is None:
        raise InputError("texture: the model has no UV layout (vt/ft) to map it with")
    motion = _load_motion(motion)
    J = rig.joints.shape[0]
    static = np.repeat(np.eye(3)[None], J, 0) if pose is None else full_pose(pose)[0]
    if static.shape != (J, 3, 3):
        raise InputError(f"pose: expected {J} joint rotations, found {static.shape[0]}")
    static_tr = None if pose is None or pose.transl is None else _np(pose.transl)[0]

    frames = full_pose(motion.params) if motion is not None else np.zeros((0, J, 3, 3))
    if motion is not None and frames.shape[1] != J:
        raise InputError(f"motion: has {frames.shape[1]} joints, the avatar {J}")
    T = frames.shape[0]

    targets: dict[str, np.ndarray] = {}
    weights0: list[float] = []
    frame_w: list[np.ndarray] = []
    n_expr = 0
    if "expression" in morphs:
        if rig.expr_dirs is None:
            raise InputError("morphs: 'expression' needs the model's expression directions")
        n_expr = rig.num_expression if num_expression is None else int(num_expression)
        if not 0 < n_expr <= rig.num_expression:
            raise InputError(f"num_expression: expected 1..{rig.num_expression}, found {num_expression}")
        for k in range(n_expr):
            targets[f"expression_{k:03d}"] = rig.expr_dirs[:, :, k]

        def coeffs(p: Optional[SmplxParams], n: int) -> np.ndarray:
            out = np.zeros((n, n_expr))
            if p is not None:
                e = _np(p.expression)[:, :n_expr]
                out[:, : e.shape[1]] = e
            return out

        weights0 += list(coeffs(pose, 1)[0])
        frame_w.append(coeffs(motion.params if motion is not None else None, T))
    if "jaw" in morphs:
        jaw = np.repeat(np.eye(3)[None], J, 0)
        from rome_smplx.geometry.rotations import axis_angle_to_matrix

        jaw_idx = list(rig.joint_names).index("jaw")
        jaw[jaw_idx] = axis_angle_to_matrix(torch.tensor([JAW_OPEN_ANGLE, 0.0, 0.0], dtype=torch.float64)).numpy()
        v = rig.template[None]
        if rig.posedirs is not None:
            v = v + gltf.pose_correctives(rig.posedirs, jaw[None])
        targets["jaw_open"] = gltf.skin_vertices(v, rig.joints, rig.parents, rig.weights, jaw[None])[0] - rig.template
        weights0.append(0.0)
        frame_w.append(np.zeros((T, 1)))
    corr_err = 0.0
    not_reproduced = []
    posed_any = T > 0 or not np.allclose(static, np.eye(3))
    if correctives and rig.posedirs is not None and posed_any:
        sets = np.concatenate([static[None], frames])
        offs = gltf.pose_correctives(rig.posedirs, sets)
        ct, cw, corr_err = gltf.bake_pose_correctives(offs, max_targets=max_corrective_targets)
        for k in range(ct.shape[0]):
            targets[f"pose_corrective_{k:02d}"] = ct[k]
        weights0 += list(cw[0])
        frame_w.append(cw[1:])
        not_reproduced.append(
            f"pose correctives: baked for the static pose and the {T} animated frame(s) as {ct.shape[0]} morph "
            f"target(s) (largest error {corr_err * 1000:.3f} mm); other poses set in a viewer get none")
    elif rig.posedirs is not None:
        not_reproduced.append("pose correctives: not included (SMPL-X's pose-dependent offsets are missing in "
                              "every non-rest pose)")

    # measurements (over at most MAX_CHECK_FRAMES evenly spaced frames of the motion, plus seeded poses)
    pick = np.unique(np.linspace(0, T - 1, min(T, MAX_CHECK_FRAMES)).round().astype(int)) if T else np.zeros(0, int)
    checks = np.concatenate([frames[pick], sample_poses(J)]) if T else sample_poses(J)
    trunc = gltf.truncation_error(rig.template, rig.joints, rig.parents, rig.weights, checks)
    n_inf = int((rig.weights > 0).sum(1).max())
    not_reproduced.append(f"skin weights: {n_inf} influences at most per vertex in the model, 4 in the file "
                          f"(largest vertex error {trunc * 1000:.3f} mm over {len(checks)} poses)")
    ejoint = 0.0
    if n_expr and rig.joint_expr_dirs is not None:
        if T:
            E, rots = _np(motion.params.expression)[pick, :n_expr], frames[pick]
        else:
            E = np.zeros((1, n_expr)) if pose is None else _np(pose.expression)[:, :n_expr]
            rots = static[None]
        ejoint = gltf.expression_joint_error(rig.template, rig.joints, rig.parents, rig.weights, rig.expr_dirs,
                                             rig.joint_expr_dirs, E, rots)
        not_reproduced.append(
            f"joints regressed with the expression: SMPL-X moves the jaw and eye joints with the expression, glTF "
            f"joints stay put (largest vertex error {ejoint * 1000:.3f} mm with the expressions used)")

    names = list(targets)
    W0 = np.asarray(weights0, np.float64)
    WT = np.concatenate(frame_w, axis=1) if frame_w else np.zeros((T, 0))
    targets, W0, WT, scales = _one_sided(names, [targets[n] for n in names], W0, WT,
                                         both=[n.startswith("expression_") for n in names])

    mesh = gltf.GltfMesh(
        vertices=rig.template, faces=rig.faces, uvs=rig.uvs if texture is not None else None,
        uv_faces=rig.uv_faces if texture is not None else None, texture=texture,
        colors=colors if texture is None else None, morph_targets=targets,
        morph_weights=W0 if targets else None, name=name,
        extras={"targetScales": scales} if targets else {},
    )
    skel = gltf.GltfSkeleton(names=list(rig.joint_names), parents=rig.parents, joints=rig.joints,
                             weights=rig.weights, pose=static, translation=static_tr)
    anim = None
    if T:
        tr = _np(motion.params.transl) if motion.params.transl is not None else np.zeros((T, 3))
        mw = WT if targets else None
        anim = gltf.GltfAnimation(rotations=frames, translation=tr, morph_weights=mw,
                                  fps=float(motion.fps or 30.0), name=Path(str(motion.source or "motion")).stem or "motion")
    meta = {
        "skinning_truncation_max_error_m": trunc,
        "pose_corrective_max_error_m": corr_err,
        "expression_joint_shift_max_m": ejoint,
        "not_reproduced": not_reproduced,
        "frames": T,
        **(extras or {}),
    }
    gltf.write_glb(path, mesh, skel, anim, extras=meta)
    src, _, _ = gltf.split_uv_seams(rig.faces, mesh.uv_faces)
    report = ExportReport(
        path=path, bytes=path.stat().st_size, seconds=round(time.perf_counter() - t0, 3),
        vertices=int(len(src)), joints=J, morph_targets=list(targets), frames=T, truncation_error_m=trunc,
        corrective_error_m=corr_err, expression_joint_error_m=ejoint, not_reproduced=not_reproduced,
    )
    logger.info("rigged export %s: %.2f MB, %d joints, %d morph targets, %d frames; 4-weight truncation %.3f mm",
                path, report.bytes / 1e6, J, len(targets), T, trunc * 1000)
    if not math.isfinite(trunc):  # pragma: no cover - defensive
        raise InputError("export: non-finite skinning error; check the weights")
    return report


def _texture_array(texture) -> Optional[np.ndarray]:
    from rome_smplx.io.meshes import _texture_uint8
    from rome_smplx.render.bake import BakedTexture

    if texture is None:
        return None
    if isinstance(texture, BakedTexture):
        return texture.to_uint8()
    return _texture_uint8(texture)


def rig_input(avatar, index: int = 0) -> RigInput:
    """The :class:`RigInput` of batch element ``index`` of a :class:`~rome_smplx.avatar.full_body.FullBodyAvatar`."""
    from smplx.joint_names import JOINT_NAMES

    rig = avatar.rig
    V, J, E = rig.num_vertices, rig.parents.shape[0], rig.num_expression
    expr = torch.zeros(V, 3, E, dtype=rig.exprdirs.dtype)
    if E:
        expr[rig.expr_rows.cpu()] = rig.exprdirs.detach().cpu().view(E, -1, 3).permute(1, 2, 0)
    jexpr = rig.joint_exprdirs.detach().cpu().view(E, J, 3).permute(1, 2, 0) if E else None
    names = list(rig.joint_names) if rig.joint_names else list(JOINT_NAMES[:J])
    return RigInput(
        template=avatar.template[index], faces=rig.faces, joints=avatar.rest_joints[index], parents=rig.parents,
        weights=rig.lbs_weights, joint_names=names, expr_dirs=expr if E else None, posedirs=rig.posedirs,
        joint_expr_dirs=jexpr, uvs=rig.uvs, uv_faces=rig.uv_faces,
    )


def export_avatar(avatar, path, *, index: int = 0, rigged: bool = False, motion=None, morphs=("expression",),
                  texture=None, **kwargs) -> Path:
    """Write batch element ``index`` of a full-body avatar (see :meth:`FullBodyAvatar.export`).

    Static meshes go through :func:`rome_smplx.io.meshes.export_mesh` (a PLY gets the texture's colours at
    the vertices and the part labels); ``rigged=True`` through :func:`export_rigged`.
    """
    from rome_smplx.io.meshes import export_mesh

    path = Path(path)
    tex = _texture_array(texture)
    rig = avatar.rig
    parts = avatar.parts[index].detach().cpu().numpy()
    colors = avatar.part_colors(index).detach().cpu().numpy().astype(np.float64)
    if tex is not None and rig.uvs is None:
        raise InputError("export: a texture needs the SMPL-X model's UV layout (keys vt and ft)")
    if rigged:
        report = export_rigged(path, rig_input(avatar, index), pose=avatar.params.index(index), motion=motion,
                               morphs=morphs, texture=tex, colors=colors, **kwargs)
        return report.path
    if motion is not None or kwargs:
        raise InputError("export: motion and rig options need rigged=True (a .glb)")
    verts = avatar.vertices[index].detach().cpu().numpy()
    faces = rig.faces.cpu().numpy()
    uvs = None if rig.uvs is None else rig.uvs.detach().cpu().numpy()
    uv_faces = None if rig.uv_faces is None else rig.uv_faces.cpu().numpy()
    if tex is not None and path.suffix.lower() == ".ply":
        colors = _vertex_colors_from_texture(tex, uvs, uv_faces, faces, len(verts))
        tex = None
    return export_mesh(path, verts, faces, vertex_colors=colors, uvs=uvs if tex is not None else None,
                       uv_faces=uv_faces if tex is not None else None, texture=tex, parts=parts)


def _vertex_colors_from_texture(tex: np.ndarray, uvs, uv_faces, faces, V: int) -> np.ndarray:
    """``(V, 3)`` texture colours at the vertices (the mean over a seam vertex's UV copies)."""
    from rome_smplx.render.bake import sample_texture

    t = torch.from_numpy(tex).permute(2, 0, 1)[None].float() / 255.0
    corner = sample_texture(t, torch.as_tensor(uvs, dtype=torch.float32)[torch.as_tensor(uv_faces)]).numpy()
    out = np.zeros((V, 3))
    n = np.zeros(V)
    np.add.at(out, faces.reshape(-1), corner.reshape(-1, 3))
    np.add.at(n, faces.reshape(-1), 1.0)
    return out / np.maximum(n, 1.0)[:, None]


def write_avatar_file(avatar, path, *, recon=None, motion=None, texture_size: int = 1024, index: int = 0,
                      texture=None, **kwargs) -> Path:
    """The avatar file ``rome-smplx avatar`` and the demo write, by extension:

    * ``.glb``: textured (baked from ``recon``'s photo when the model has a UV layout), rigged and animated
      (``motion``: a :class:`~rome_smplx.io.motion.Motion` or motion file; default
      :func:`~rome_smplx.io.motion.wave_motion` of the avatar's pose);
    * ``.obj``: the posed mesh, textured (``NAME.obj`` + ``.mtl`` + ``.png``) when a texture is baked;
    * ``.ply``: the posed mesh with the texture's colours (or part colours) and part labels.

    ``texture_size=0`` skips the texture (part colours); ``texture`` passes one already baked (then
    ``recon`` is not needed). ``kwargs`` go to :func:`export_rigged`.
    """
    from rome_smplx.io.motion import wave_motion

    path = Path(path)
    tex = texture
    if tex is not None:
        pass
    elif texture_size and recon is not None and avatar.rig.uvs is not None:
        tex = avatar.bake_texture(recon=recon, size=int(texture_size), index=index)
    elif texture_size and recon is not None:
        logger.warning("%s: the SMPL-X model file has no UV layout (vt/ft): writing part colours, no texture", path)
    if path.suffix.lower() == ".glb":
        if motion is None:
            motion = wave_motion(avatar.params.index(index))
        return avatar.export(path, index=index, rigged=True, motion=motion, texture=tex, **kwargs)
    return avatar.export(path, index=index, texture=tex)
