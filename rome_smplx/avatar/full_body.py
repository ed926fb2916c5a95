"""The full-body avatar: a batch of SMPL-X bodies whose templates carry ROME heads.

:class:`FullBodyAvatar` is what :func:`rome_smplx.avatar.merge.merge` returns: B merged rest templates
(``template``), their skeletons, part labels, seam weights and the head-to-body :class:`Similarity`, plus
the posed vertices of the current SMPL-X parameters. It is immutable in use: :meth:`~FullBodyAvatar.pose`,
:meth:`~FullBodyAvatar.to`, :meth:`~FullBodyAvatar.detach` and :meth:`~FullBodyAvatar.index` return new
avatars.

:class:`BodyRig` holds what every avatar built from one SMPL-X/FLAME pair shares: the skinning buffers
(read from the smplx layer, never written), the FLAME<->SMPL-X correspondence, the ROME vertex sets and
the graph distances the seam is built from. Avatars reference one rig; nothing in it depends on a
subject.

Posing is smplx's linear blend skinning (``smplx.lbs``: shape and expression blend shapes, pose
correctives, :func:`smplx.lbs.batch_rigid_transform`, skinning) applied to the merged template with the
avatar's rest skeleton, written out so that the template and skeleton can differ per batch element.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import torch
from torch import Tensor

from rome_smplx.errors import InputError
from rome_smplx.types import FlameParams, FullBodyRender, Similarity, SmplxParams

if TYPE_CHECKING:  # pragma: no cover
    from rome_smplx.avatar.head import HeadAvatar

logger = logging.getLogger(__name__)

__all__ = [
    "BodyRig",
    "EXPRESSION_BASES",
    "FullBodyAvatar",
    "PART_BODY",
    "PART_COLORS",
    "PART_FACE",
    "PART_HAIR",
    "PART_HEAD",
    "PART_NAMES",
    "PART_NECK",
    "RENDER_MODES",
]

#: Part labels of :attr:`FullBodyAvatar.parts`.
PART_BODY, PART_FACE, PART_HAIR, PART_NECK = 0, 1, 2, 3
#: Former name of :data:`PART_FACE` (the head vertices that are not hair).
PART_HEAD = PART_FACE
PART_NAMES = ("body", "face", "hair", "neck")
#: Preview colours per part (RGB in [0, 1]), indexed by the part labels.
PART_COLORS = np.array([[0.80, 0.66, 0.55], [0.86, 0.72, 0.62], [0.30, 0.22, 0.16], [0.83, 0.69, 0.58]])
EXPRESSION_BASES = ("smplx", "flame")
#: NDC units per metre of the head crop when the reconstruction has no source camera.
DEFAULT_HEAD_SCALE = 5.0
RENDER_MODES = ("neural", "shaded")


def _move(t: Optional[Tensor], *args: Any, **kwargs: Any) -> Optional[Tensor]:
    """``Tensor.to`` that keeps integer and bool tensors' dtypes."""
    if t is None:
        return None
    if t.is_floating_point():
        return t.to(*args, **kwargs)
    dev = kwargs.get("device")
    for a in args:
        if isinstance(a, (str, torch.device)):
            dev = a
    return t.to(device=dev) if dev is not None else t


def _pad_faces(face_uvs: Tensor, n: int) -> Tensor:
    """Per-face-corner attributes for ``n`` rasterised faces: the body's, then zeros for added head faces."""
    extra = n - face_uvs.shape[0]
    return face_uvs if extra <= 0 else torch.cat([face_uvs, face_uvs.new_zeros(extra, *face_uvs.shape[1:])])


def _render_table(rig: "BodyRig", head: "HeadAvatar") -> dict:
    """Faces to rasterise, which of them the network renders and their neural-texture UVs (cached).

    A body face whose three vertices are head vertices takes the UVs of the head face with the same
    vertices (corner by corner), or the per-vertex UVs when the head has no such face; head faces the
    body lacks (ROME's mouth-closing triangles, after FLAME's own faces) are added.
    """
    key = ("render", head.faces.data_ptr(), head.uv_faces.data_ptr(), head.uv_coords.data_ptr(),
           tuple(head.faces.shape), str(rig.device))
    if key in rig.cache:
        return rig.cache[key]
    corr = rig.corr.cpu().numpy()
    N, V = len(corr), rig.num_vertices
    inv = np.full(V, -1, dtype=np.int64)
    inv[corr] = np.arange(N)
    body_faces = rig.faces.cpu().numpy()
    fi = inv[body_faces]
    all_head = (fi >= 0).all(1)
    hfaces = head.faces.cpu().numpy()
    uvf = head.uv_faces.cpu().numpy()
    uvc = head.uv_coords.detach().cpu().numpy()
    vuv = head.vertex_uvs.detach().cpu().numpy()

    def keys(tri: np.ndarray) -> np.ndarray:
        t = np.sort(tri, axis=1).astype(np.int64)
        return (t[:, 0] * N + t[:, 1]) * N + t[:, 2]

    hk = keys(hfaces)
    order = np.argsort(hk, kind="stable")
    sorted_k = hk[order]
    bk = keys(np.where(fi >= 0, fi, 0))
    pos = np.clip(np.searchsorted(sorted_k, bk), 0, len(sorted_k) - 1)
    match = all_head & (sorted_k[pos] == bk)
    g = order[pos]
    face_uvs = np.zeros((len(body_faces), 3, 2), dtype=np.float32)
    rows = np.nonzero(match)[0]
    for c in range(3):  # the corner of head face g that holds the same vertex
        where = (hfaces[g[rows]] == fi[rows, c : c + 1]).argmax(1)
        face_uvs[rows, c] = uvc[uvf[g[rows], where]]
    lone = np.nonzero(all_head & ~match)[0]
    face_uvs[lone] = vuv[fi[lone]]
    n_own = int(head.flame.faces.shape[0])
    extra = np.arange(n_own, len(hfaces))
    extra = extra[~np.isin(hk[extra], bk[all_head])]
    faces = np.concatenate([body_faces, corr[hfaces[extra]]])
    head_face = np.concatenate([all_head, np.ones(len(extra), dtype=bool)])
    face_uvs = np.concatenate([face_uvs, uvc[uvf[extra]].astype(np.float32)])
    dev = rig.device
    table = {"faces": torch.as_tensor(faces, device=dev), "head_face": torch.as_tensor(head_face, device=dev),
             "face_uvs": torch.as_tensor(face_uvs, device=dev)}
    logger.debug("render table: %d head faces (%d matched, %d by vertex UVs, %d added)",
                 int(head_face.sum()), len(rows), len(lone), len(extra))
    rig.cache[key] = table
    return table


@dataclass
class BodyRig:
    """Subject-independent tensors shared by the avatars of one SMPL-X/FLAME model pair (read-only).

    SMPL-X side (``V`` vertices, ``J`` joints, ``S`` shape and ``E`` expression coefficients, ``P`` pose
    features): ``v_template (V, 3)``, ``shapedirs (S, 3V)`` (coefficient-major), ``expr_rows (Ve,)`` the
    vertices any expression direction moves and ``exprdirs (E, 3 Ve)`` on them, ``posedirs (P, 3V)``,
    ``lbs_weights (V, J)``, ``parents (J,)``, ``faces (F, 3)``, ``joints_template (J, 3)`` and the joint
    blend shapes ``joint_shapedirs (S, 3J)`` / ``joint_exprdirs (E, 3J)`` (the regressor applied to the
    blend shapes, so joints never need the full regressor), ``joint_regressor_head (J, N)`` (the
    regressor's columns of the head vertices).

    FLAME side (``N`` vertices): ``corr (N,)`` SMPL-X index of each FLAME vertex, ``flame_template (N, 3)``,
    ``flame_shapedirs (Sf, 3N)``, ``flame_exprdirs (Ef, 3N)``, ``flame_root_regressor (N,)`` and its
    expression blend shapes ``flame_root_exprdirs (Ef, 3)``, masks
    ``align (N,)`` (face and ears: the similarity is fitted there), ``hair (N,)`` (ROME's ``hair_list``),
    ``neck_index (Nn,)`` (ROME's ``neck_list``).

    Seam: ``neck_core_distance`` / ``neck_border_distance (Nn,)``: graph distances over the SMPL-X
    template surface from the head (every FLAME vertex outside the neck list) and from the head's
    border with the rest of the body; ``neck_adjacency (Nn, Nn)`` row-normalised neighbours;
    ``probe_index (Nn, K)`` SMPL-X vertices around each neck vertex (the surface its offset is tested
    against; also as positions ``probe_local (Nn, K)`` in their union ``probe_vertices (U,)``) and
    ``probe_stencil (U, 4)``: vertices ``a, b, c, d`` whose chords ``(a - b) x (c - d)`` give the outward
    normal at each probe vertex of any shaped body.

    UV layout (when the SMPL-X file has one): ``uvs (U, 2)`` (v up) and ``uv_faces (F, 3)``.
    """

    v_template: Tensor
    shapedirs: Tensor
    expr_rows: Tensor
    exprdirs: Tensor
    posedirs: Tensor
    lbs_weights: Tensor
    parents: Tensor
    faces: Tensor
    joints_template: Tensor
    joint_shapedirs: Tensor
    joint_exprdirs: Tensor
    joint_regressor_head: Tensor
    corr: Tensor
    flame_template: Tensor
    flame_shapedirs: Tensor
    flame_exprdirs: Tensor
    flame_root_regressor: Tensor
    flame_root_exprdirs: Tensor
    align: Tensor
    hair: Tensor
    neck_index: Tensor
    neck_core_distance: Tensor
    neck_border_distance: Tensor
    neck_adjacency: Tensor
    probe_index: Tensor
    probe_vertices: Tensor
    probe_local: Tensor
    probe_stencil: Tensor
    head_joint: int
    joint_names: tuple = ()
    uvs: Optional[Tensor] = None
    uv_faces: Optional[Tensor] = None
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def num_head_vertices(self) -> int:
        return int(self.corr.shape[0])

    @property
    def num_betas(self) -> int:
        return int(self.shapedirs.shape[0])

    @property
    def num_expression(self) -> int:
        return int(self.exprdirs.shape[0])

    @property
    def device(self) -> torch.device:
        return self.v_template.device

    @property
    def dtype(self) -> torch.dtype:
        return self.v_template.dtype

    def to(self, *args: Any, **kwargs: Any) -> "BodyRig":
        """A copy on another device/dtype (cached, so avatars moved together share it)."""
        probe = self.v_template.to(*args, **kwargs)
        key = (probe.device, probe.dtype)
        if key == (self.device, self.dtype):
            return self
        if key not in self.cache:
            changes = {f.name: _move(getattr(self, f.name), *args, **kwargs)
                       for f in dataclasses.fields(self) if isinstance(getattr(self, f.name), Tensor)}
            moved = dataclasses.replace(self, **changes, cache={})
            moved.cache[(self.device, self.dtype)] = self
            self.cache[key] = moved
        return self.cache[key]

    def neck_falloff(self, blend_width: float) -> Tensor:
        """``(Nn,)`` weight of the neck reshaping: 1 at the head, 0 from ``blend_width`` (metres of graph
        distance over the SMPL-X surface) on, and 0 at the head's border with the body whatever the width.

        ``w = 1 - smoothstep(t)`` with ``t = d_head / min(width, d_head + d_border)``: C1 at both ends, so
        the offsets leave the head without a kink and reach the body without a step.
        """
        d0, d1 = self.neck_core_distance, self.neck_border_distance
        span = torch.clamp(d0 + d1, max=float(blend_width))
        t = torch.where(span > 0, d0 / span.clamp_min(1e-12), torch.ones_like(d0)).clamp(0.0, 1.0)
        return 1.0 - t * t * (3.0 - 2.0 * t)


@dataclass
class FullBodyAvatar:
    """A batch of SMPL-X bodies with ROME heads, posed.

    Attributes:
        template: ``(B, V, 3)`` merged rest template: the body's shaped SMPL-X template (betas applied)
            plus ``offsets``. Posing blends expressions and pose correctives on it and skins it.
        offsets: ``(B, V, 3)`` what the merge added to the shaped SMPL-X template (zero on the body).
        rest_joints: ``(B, J, 3)`` the rest skeleton (see ``skeleton`` of :func:`merge`).
        vertices: ``(B, V, 3)`` posed vertices (y-up body frame).
        joints: ``(B, J, 3)`` posed skeleton joints.
        transforms: ``(B, J, 4, 4)`` rest-to-posed rigid transform of every joint (smplx's ``A``).
        params: the current :class:`SmplxParams` (batch B; ``betas`` are the body's).
        parts: ``(B, V)`` int64 labels :data:`PART_BODY`, :data:`PART_FACE`, :data:`PART_HAIR`,
            :data:`PART_NECK` (neck vertices whose offsets carry hair are labelled hair).
        seam_weights: ``(B, V)`` in [0, 1]: how much of ROME's head a vertex takes (1 on the face and
            hair, falling off over the neck, 0 on the body).
        hair_weights: ``(B, Nn)`` in [0, 1]: how much each ROME neck vertex's offset is judged to be hair.
        similarity: :class:`Similarity` FLAME head frame -> SMPL-X body frame (batch B).
        flame_mask: ``(N,)`` the neck falloff on FLAME's vertices (1 off the neck): masks FLAME's
            expression directions in ``expression_basis="flame"``.
        flame_root: ``(B, 3)`` FLAME's root joint in the rest body frame (frames the head crop).
        texture: ``(B, C, Ht, Wt)`` ROME's neural texture, or ``None``.
        source_cam: ``(B, 3)`` the reconstruction's DECA camera ``[s, tx, ty]``, or ``None``.
        rig: the shared :class:`BodyRig`.
        renderer: the :class:`~rome_smplx.avatar.head.HeadAvatar` whose networks render the head, or ``None``.
        head: ``"hair"`` or ``"full"`` (the merge mode).
    """

    template: Tensor
    offsets: Tensor
    rest_joints: Tensor
    vertices: Tensor
    joints: Tensor
    transforms: Tensor
    params: SmplxParams
    parts: Tensor
    seam_weights: Tensor
    hair_weights: Tensor
    similarity: Similarity
    flame_mask: Tensor
    flame_root: Tensor
    rig: BodyRig
    texture: Optional[Tensor] = None
    source_cam: Optional[Tensor] = None
    renderer: Optional["HeadAvatar"] = None
    head: str = "hair"

    _BATCHED = ("template", "offsets", "rest_joints", "vertices", "joints", "transforms", "parts", "seam_weights",
                "hair_weights", "flame_root", "texture", "source_cam")

    # ------------------------------------------------------------------ structure
    @property
    def batch_size(self) -> int:
        return int(self.template.shape[0])

    @property
    def device(self) -> torch.device:
        return self.template.device

    @property
    def faces(self) -> Tensor:
        """``(F, 3)`` int64 SMPL-X faces."""
        return self.rig.faces

    @property
    def template_offsets(self) -> Tensor:
        """Former name of :attr:`offsets`."""
        return self.offsets

    def part_colors(self, index: Optional[int] = None) -> Tensor:
        """The preview colour of every vertex's part (:data:`PART_COLORS`): ``(B, V, 3)``, or ``(V, 3)`` for
        batch element ``index``; the avatar's dtype and device."""
        parts = self.parts if index is None else self.parts[index]
        return torch.as_tensor(PART_COLORS, dtype=self.vertices.dtype, device=self.device)[parts]

    def summary(self, index: int = 0) -> dict[str, Any]:
        """Counts and merge figures of batch element ``index``, as every ``summary.json`` reports them.

        ``body_vertices``: vertices of the merged mesh; ``hair_vertices``: vertices labelled
        :data:`PART_HAIR` (the head's hair region); ``neck_hair_vertices``: vertices of ROME's neck list whose
        offsets are judged hair (``hair_weights >= 0.5``); ``merge_scale``: the similarity's scale (head onto
        body).
        """
        return {
            "body_vertices": int(self.vertices.shape[1]),
            "hair_vertices": int((self.parts[index] == PART_HAIR).sum()),
            "neck_hair_vertices": int((self.hair_weights[index] >= 0.5).sum()),
            "merge_scale": float(self.similarity.scale[index]),
        }

    def to(self, *args: Any, **kwargs: Any) -> "FullBodyAvatar":
        """Move every tensor (and the rig) like :meth:`torch.Tensor.to`; integer tensors keep their dtype.

        The ``renderer`` module is shared, not moved: move it yourself (``nn.Module.to`` works in place).
        """
        changes = {name: _move(getattr(self, name), *args, **kwargs) for name in self._BATCHED}
        changes["flame_mask"] = _move(self.flame_mask, *args, **kwargs)
        changes["params"] = self.params.to(*args, **kwargs)
        changes["similarity"] = self.similarity.to(*args, **kwargs)
        changes["rig"] = self.rig.to(*args, **kwargs)
        return dataclasses.replace(self, **changes)

    def detach(self) -> "FullBodyAvatar":
        """Every tensor detached from the autograd graph."""
        changes = {name: None if getattr(self, name) is None else getattr(self, name).detach() for name in self._BATCHED}
        changes["flame_mask"] = self.flame_mask.detach()
        changes["params"] = self.params.detach()
        changes["similarity"] = self.similarity.detach()
        return dataclasses.replace(self, **changes)

    def index(self, idx: int | slice | Tensor) -> "FullBodyAvatar":
        """Select batch elements (``idx``: int, slice or index tensor); an int keeps a batch of 1."""
        def pick(t: Optional[Tensor]) -> Optional[Tensor]:
            if t is None:
                return None
            return t[idx : idx + 1] if isinstance(idx, int) else t[idx]

        if isinstance(idx, int) and not -self.batch_size <= idx < self.batch_size:
            raise InputError(f"index: {idx} is out of range for an avatar batch of {self.batch_size}")
        if isinstance(idx, int) and idx < 0:
            idx += self.batch_size
        changes = {name: pick(getattr(self, name)) for name in self._BATCHED}
        changes["params"] = self.params.index(idx)
        changes["similarity"] = self.similarity.index(idx)
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ posing
    def pose(
        self,
        params: Optional[SmplxParams] = None,
        flame: Optional[FlameParams] = None,
        *,
        expression_basis: str = "smplx",
    ) -> "FullBodyAvatar":
        """Pose with SMPL-X parameters, optionally driving the face with FLAME expression and jaw.

        Args:
            params: SMPL-X pose and expression (y-up). Batch B, or 1 (broadcast over the avatars), or any
                T when the avatar has batch 1 (a motion: the result has batch T). ``betas`` are ignored:
                the identity is the avatar's. ``None`` keeps the current parameters.
            flame: :class:`FlameParams` whose ``expression``, ``jaw_rot`` and ``eye_rots`` replace the
                SMPL-X ones (a DECA or landmark-fit frame); rotations are carried into the body frame
                by the similarity. Its shape, global rotation and camera are not used.
            expression_basis: ``"smplx"`` blends SMPL-X's own expression directions with the coefficients
                (SMPL-X and FLAME share them); ``"flame"`` blends FLAME's expression directions, carried
                onto the SMPL-X head vertices through the correspondence and the similarity, with the
                neck masked by the seam falloff.

        Returns:
            A new :class:`FullBodyAvatar` with ``vertices``, ``joints``, ``transforms`` and ``params`` of
            that pose.
        """
        from smplx.lbs import batch_rigid_transform

        if params is None:
            params = self.params
        if not isinstance(params, SmplxParams):
            raise InputError(f"pose: expected SmplxParams, found {type(params).__name__}")
        if params.frame != "y_up":
            raise InputError("pose: expected y-up parameters; convert PIXIE's with rome_smplx.bridges.pixie.to_y_up")
        if expression_basis not in EXPRESSION_BASES:
            raise InputError(f"expression_basis: expected one of {EXPRESSION_BASES}, found {expression_basis!r}")
        if flame is not None and not isinstance(flame, FlameParams):
            raise InputError(f"pose: flame must be FlameParams or None, found {type(flame).__name__}")
        B, P = self.batch_size, params.batch_size
        T = max(B, P, flame.batch_size if flame is not None else 1)
        for name, n in (("avatar", B), ("params", P), ("flame", flame.batch_size if flame is not None else 1)):
            if n not in (1, T):
                raise InputError(f"pose: batch sizes differ: avatar {B}, params {P}"
                                 f"{'' if flame is None else f', flame {flame.batch_size}'} ({name} has {n}; "
                                 "each must be 1 or the common batch)")
        rig = self.rig
        dtype, dev = self.template.dtype, self.template.device
        p = params.to(device=dev, dtype=dtype)
        sim = self.similarity

        def ex(t: Tensor) -> Tensor:
            return t.expand(T, *t.shape[1:]) if t.shape[0] != T else t

        jaw, leye, reye = p.jaw_pose, p.leye_pose, p.reye_pose
        expression = p.expression
        if flame is not None:
            f = flame.to(device=dev, dtype=dtype)
            R = sim.rotation  # (B, 3, 3) broadcasts against the frames' (1 or T, 3, 3)
            Rt = R.transpose(-1, -2)
            jaw = R @ f.jaw_rot @ Rt
            leye = R @ f.eye_rots[:, 0] @ Rt
            reye = R @ f.eye_rots[:, 1] @ Rt
            expression = f.expression

        template = ex(self.template)
        joints = ex(self.rest_joints)
        E = expression.shape[1]
        coeffs = ex(expression)
        if expression_basis == "smplx":
            if E > rig.num_expression:
                raise InputError(f"pose: the SMPL-X model has {rig.num_expression} expression coefficients, found {E}")
            if E:
                blend = (coeffs @ rig.exprdirs[:E]).view(T, -1, 3)
                rows = rig.expr_rows  # unique: a gather, an add and a copy beat index_add
                template = template.index_copy(1, rows, template.index_select(1, rows) + blend)
                joints = joints + (coeffs @ rig.joint_exprdirs[:E]).view(T, -1, 3)
        else:
            ef = rig.flame_exprdirs.shape[0]
            if E > ef:
                raise InputError(f"pose: the FLAME model has {ef} expression coefficients, found {E}")
            if E:
                d = (coeffs @ rig.flame_exprdirs[:E]).view(T, -1, 3) * self.flame_mask[None, :, None]
                d = Similarity(ex(sim.scale), ex(sim.rotation), ex(sim.translation)).apply_vectors(d)
                template = template.index_copy(1, rig.corr, template.index_select(1, rig.corr) + d)
                joints = joints + torch.einsum("jn,bnc->bjc", rig.joint_regressor_head, d)

        full_pose = torch.cat([
            ex(p.global_orient)[:, None], ex(p.body_pose), ex(jaw)[:, None], ex(leye)[:, None], ex(reye)[:, None],
            ex(p.left_hand_pose), ex(p.right_hand_pose)], dim=1)
        eye = torch.eye(3, dtype=dtype, device=dev)
        pose_feature = (full_pose[:, 1:] - eye).reshape(T, -1)
        v_posed = template + (pose_feature @ rig.posedirs).view(T, -1, 3)
        posed_joints, A = batch_rigid_transform(full_pose, joints, rig.parents, dtype=dtype)
        J = A.shape[1]
        # skinning: blend the top three rows of the joint transforms (the fourth is [0, 0, 0, 1])
        Tm = (rig.lbs_weights @ A[:, :, :3, :].reshape(T, J, 12)).view(T, -1, 3, 4)
        verts = torch.einsum("bvij,bvj->bvi", Tm[..., :3], v_posed) + Tm[..., 3]
        if p.transl is not None:
            tr = ex(p.transl)[:, None, :]
            verts = verts + tr
            posed_joints = posed_joints + tr
            A = A.clone()
            A[..., :3, 3] = A[..., :3, 3] + tr
        new_params = SmplxParams(
            betas=ex(self.params.betas), expression=ex(expression), global_orient=ex(p.global_orient),
            body_pose=ex(p.body_pose), jaw_pose=ex(jaw), leye_pose=ex(leye), reye_pose=ex(reye),
            left_hand_pose=ex(p.left_hand_pose), right_hand_pose=ex(p.right_hand_pose),
            transl=None if p.transl is None else ex(p.transl),
        )
        base = self if B == T else self._expanded(T)
        return dataclasses.replace(base, vertices=verts, joints=posed_joints, transforms=A, params=new_params)

    def _expanded(self, T: int) -> "FullBodyAvatar":
        """The batch-1 avatar repeated T times (views, no copies)."""
        changes = {}
        for name in self._BATCHED:
            t = getattr(self, name)
            changes[name] = None if t is None else t.expand(T, *t.shape[1:])
        sim = self.similarity
        changes["similarity"] = Similarity(sim.scale.expand(T), sim.rotation.expand(T, 3, 3), sim.translation.expand(T, 3))
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ rendering
    def render(
        self,
        camera,
        mode: str = "neural",
        *,
        image_size: int | tuple[int, int] = 512,
        renderer: Optional["HeadAvatar"] = None,
        body_colors: Optional[Tensor] = None,
        body_texture=None,
        background: float | tuple[float, float, float] = 1.0,
        backend: Optional[str] = None,
    ) -> FullBodyRender:
        """Render the posed avatars.

        ``"neural"``: the merged mesh is rasterised once; head and hair pixels go through ROME's deferred
        neural renderer (the neural texture sampled through the FLAME UVs of the SMPL-X head faces,
        harmonic-encoded head-frame normals, E_img on a head crop at the network's resolution, pasted back
        by its mask); body pixels are shaded from ``body_colors``; the two are composited by depth with
        soft edges along the seam. ``"shaded"``: the whole mesh Lambert-shaded (part colours by default).

        Args:
            camera: a camera with ``project(verts (B, V, 3), (H, W)) -> (B, V, 3)`` image NDC with depth and
                a world-to-view rotation ``R (B, 3, 3)``:
                :class:`~rome_smplx.render.cameras.PerspectiveCamera` or
                :class:`~rome_smplx.render.full_body.OrthographicCamera`.
            mode: ``"neural"`` or ``"shaded"``.
            image_size: side or (H, W).
            renderer: the :class:`~rome_smplx.avatar.head.HeadAvatar` whose E_img renders the head
                (default: the one given to :func:`merge`).
            body_colors: body albedo: ``(B, V, 3)`` / ``(V, 3)`` per vertex (e.g. a baked photo texture
                sampled at the vertices) or ``(B, 3)`` / ``(3,)`` flat. Default: in neural mode a flat albedo
                taken from the rendered face, in shaded mode the part colours.
            body_texture: a texture in SMPL-X's UV layout, e.g. the photo baked by :meth:`bake_texture`
                (anything with ``image (1, 3, S, S)``, ``uvs (U, 2)`` with v up and ``uv_faces (F, 3)``);
                it replaces ``body_colors``.
            background: grey level or RGB.
            backend: rasteriser backend (default: the renderer's, else ``"auto"``).

        Returns:
            :class:`~rome_smplx.types.FullBodyRender`.
        """
        from rome_smplx.render.full_body import AlbedoTexture, render_full_body

        if mode not in RENDER_MODES:
            raise InputError(f"mode: expected one of {RENDER_MODES}, found {mode!r}")
        head = renderer if renderer is not None else self.renderer
        B, V = self.batch_size, self.rig.num_vertices
        colors = None
        if body_colors is not None:
            c = torch.as_tensor(body_colors, dtype=self.vertices.dtype, device=self.device)
            if c.shape in ((3,), (B, 3)):
                colors = c.reshape(-1, 1, 3).expand(B, V, 3)
            elif c.shape in ((V, 3), (B, V, 3)):
                colors = c.expand(B, V, 3)
            else:
                raise InputError(f"body_colors: expected (3,), (B, 3), (V, 3) or (B, V, 3) with B={B}, V={V}, "
                                 f"found {tuple(c.shape)}")
        elif mode == "shaded":
            colors = self.part_colors()
        texture = None
        if body_texture is not None:
            uvs, uv_faces = body_texture.uvs, body_texture.uv_faces
            if tuple(uv_faces.shape) != tuple(self.faces.shape):
                raise InputError(f"body_texture: its uv_faces {tuple(uv_faces.shape)} do not match the body's faces "
                                 f"{tuple(self.faces.shape)}")
            uv = torch.as_tensor(uvs, dtype=self.vertices.dtype, device=self.device)
            grid = torch.stack([2 * uv[:, 0] - 1, 1 - 2 * uv[:, 1]], dim=-1)[torch.as_tensor(uv_faces, device=self.device)]
            texture = AlbedoTexture(body_texture.image, grid)
        flat = body_colors is None and body_texture is None and mode == "neural"
        if mode == "shaded":
            return render_full_body(self.vertices, self.faces, camera, image_size, colors=colors,
                                    background=background, backend=backend or "auto", texture=texture)
        if head is None:
            raise InputError("render: neural mode needs the HeadAvatar whose networks render the head; pass "
                             "renderer=head to merge() or to render()")
        if self.texture is None:
            raise InputError("render: this avatar has no neural texture (its reconstruction carried none)")
        inputs = self.head_render_inputs(head, camera, image_size)
        return render_full_body(
            self.vertices, self.faces, camera, image_size, colors=colors, background=background,
            backend=backend or head.backend, head=inputs, flat_albedo_from_face=flat,
            texture=None if texture is None else AlbedoTexture(texture.image, _pad_faces(texture.face_uvs, inputs.faces.shape[0])),
        )

    def head_render_inputs(self, head: "HeadAvatar", camera, image_size: int | tuple[int, int]):
        """The :class:`~rome_smplx.render.full_body.HeadRenderInputs` of this pose, camera and network.

        The crop gives the head the scale it had in the source photo and puts FLAME's root (ROME's
        rotation pivot, as the current expression places it, carried by the head joint) where the
        source camera puts it (from the reconstruction's camera; without one at
        :data:`DEFAULT_HEAD_SCALE` NDC per metre, the root at the centre), so E_img sees the framing it
        was trained on, and ROME's own camera (:meth:`OrthographicCamera.from_rome`) gives the identity
        crop.
        """
        from rome_smplx.render.full_body import HeadRenderInputs

        if head.faces.device != self.device:
            raise InputError(f"render: the head network is on {head.faces.device} and the avatar on {self.device}; "
                             "move one of them")
        H, W = (image_size, image_size) if isinstance(image_size, int) else (int(image_size[0]), int(image_size[1]))
        rig, dtype = self.rig, self.vertices.dtype
        table = _render_table(rig, head)
        B = self.batch_size
        sim = self.similarity
        G = self.transforms[:, rig.head_joint, :3, :3]
        to_head = sim.rotation.transpose(-1, -2) @ G.transpose(-1, -2)
        # the crop: FLAME's root, carried by the head joint, lands where it was in the source image
        # FLAME's root as the current expression places it (ROME's rotation pivot), carried by the head joint
        expr = self.params.expression.to(dtype)
        E = min(expr.shape[1], rig.flame_root_exprdirs.shape[0])
        root_f = sim.inverse().apply(self.flame_root[:, None])[:, 0] + expr[:, :E] @ rig.flame_root_exprdirs[:E]
        A = self.transforms[:, rig.head_joint]
        root = (A[:, :3, :3] @ sim.apply(root_f[:, None])[:, 0, :, None])[..., 0] + A[:, :3, 3]
        R = camera.R.to(dtype)
        if R.shape[0] not in (1, B):
            raise InputError(f"render: the camera has batch {R.shape[0]}, the avatar {B}")
        R = R.expand(B, 3, 3)
        eps = 0.01
        pts = torch.stack([root, root + eps * R[:, 0], root + eps * R[:, 1]], dim=1)
        proj = camera.project(pts, (H, W))
        kx = (proj[:, 1, 0] - proj[:, 0, 0]) / eps
        ky = (proj[:, 2, 1] - proj[:, 0, 1]) / eps
        if self.source_cam is not None:
            cam = self.source_cam.to(dtype)
            s_src = cam[:, 0] / sim.scale
            src = torch.stack([cam[:, 0] * (root_f[:, 0] + cam[:, 1]), -cam[:, 0] * (root_f[:, 1] + cam[:, 2])], dim=-1)
        else:
            s_src = torch.full_like(sim.scale, DEFAULT_HEAD_SCALE)
            src = torch.zeros(B, 2, dtype=dtype, device=self.device)
        hx, hy = kx.abs() / s_src, ky.abs() / s_src
        crop = torch.stack([proj[:, 0, 0] - hx * src[:, 0], proj[:, 0, 1] - hy * src[:, 1], hx, hy], dim=-1)
        skin = (self.parts == PART_FACE).to(dtype)
        return HeadRenderInputs(
            faces=table["faces"], head_face=table["head_face"], face_uvs=table["face_uvs"].to(dtype),
            head_vertices=rig.corr, head_faces=head.faces, to_head_frame=to_head, seam=self.seam_weights,
            skin=skin, texture=self.texture, render_logits=head.networks.render_logits,
            harmonic=head.profile.harmonic, crop=crop, size=int(head.image_size),
        )

    # ------------------------------------------------------------------ texture and export
    def bake_texture(self, image: Optional[Tensor] = None, camera=None, size: int = 1024, **kwargs: Any):
        """Bake photos into a texture in SMPL-X's UV layout (delegates to :func:`rome_smplx.avatar.texture.bake_avatar`).

        Args:
            image: optional ``(1, 3, H, W)`` full photo of the body, seen by ``camera`` in the current pose.
            camera: its camera (:class:`~rome_smplx.render.cameras.PerspectiveCamera`, a ``(1, 3)`` weak-perspective
                ``[s, tx, ty]`` in the y-up frame, or :func:`rome_smplx.avatar.texture.crop_camera`).
            size: texture side in texels.
            **kwargs: ``recon=`` (the head's :class:`HeadReconstruction`: its aligned photo), ``mask=``,
                ``neural_views=`` (yaw angles rendered by ROME and back-projected; ``renderer`` needed),
                ``index=``, ``erode=``; see :func:`~rome_smplx.avatar.texture.bake_avatar`.

        Returns:
            :class:`~rome_smplx.render.bake.BakedTexture`.
        """
        from rome_smplx.avatar.texture import bake_avatar

        return bake_avatar(self, image, camera, size, **kwargs)

    def export(
        self,
        path: str | Path,
        *,
        index: int = 0,
        rigged: bool = False,
        motion=None,
        morphs: tuple = ("expression",),
        texture=None,
        **kwargs: Any,
    ):
        """Write batch element ``index``, atomically.

        ``rigged=False``: the posed mesh (``.glb``, ``.ply`` with part labels, ``.obj``); with ``texture`` (a
        :class:`~rome_smplx.render.bake.BakedTexture` or an ``(S, S, 3)`` uint8 image) a textured OBJ
        (+ MTL + PNG) or GLB, else per-part vertex colours (:func:`rome_smplx.io.meshes.export_mesh`).

        ``rigged=True`` (``.glb``): SMPL-X's skeleton, skin, ``morphs`` morph targets and an optional
        ``motion`` (a :class:`~rome_smplx.io.motion.Motion` or motion file) with the current pose as the
        static pose (:func:`rome_smplx.avatar.export.export_avatar`); what the file cannot reproduce and
        the errors measured are in its ``asset.extras`` and the log. ``kwargs`` go to
        :func:`~rome_smplx.avatar.export.export_rigged` (``num_expression``, ``correctives``, ...).

        Returns:
            The written path.
        """
        from rome_smplx.avatar.export import export_avatar

        if not -self.batch_size <= index < self.batch_size:
            raise InputError(f"export: index {index} is out of range for an avatar batch of {self.batch_size}")
        return export_avatar(self, path, index=index, rigged=rigged, motion=motion, morphs=morphs, texture=texture,
                             **kwargs)
