"""Merge a ROME head reconstruction onto a SMPL-X body (hair from ROME, shoulders from SMPL-X).

Recipe (the paper's Fig. 7b demonstration, made explicit):

1. Evaluate the reconstructed identity's FLAME head in its neutral pose and expression, and the SMPL-X
   body's shaped template (``betas``, zero pose); the SMPL-X↔FLAME correspondence selects the body's
   head vertices.
2. Fit a similarity (Umeyama) from the FLAME head to the SMPL-X head on the non-deformable vertices
   (face, ears, ...: everything outside ROME's hair and neck sets), which absorbs frame, scale and
   placement differences.
3. Take ROME's offsets on the scalp (``hair_list``) only — neck and shoulder offsets are dropped so the
   body keeps SMPL-X's shoulders — rotate and scale them into the body frame and add them to the
   body's template head vertices.
4. The result is a SMPL-X template with hair; SMPL-X's own skinning animates it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np
import torch
from torch import Tensor

from rome_smplx.errors import InputError
from rome_smplx.geometry.mesh import umeyama
from rome_smplx.types import FlameParams, HeadReconstruction, SmplxParams

if TYPE_CHECKING:  # pragma: no cover
    from rome_smplx.assets import Assets
    from rome_smplx.models.smplx_body import SmplxModel

logger = logging.getLogger(__name__)

__all__ = ["FullBodyAvatar", "merge", "PART_BODY", "PART_HEAD", "PART_HAIR", "PART_COLORS"]

PART_BODY, PART_HEAD, PART_HAIR = 0, 1, 2
#: Preview colours per part (RGB in [0, 1]).
PART_COLORS = np.array([[0.80, 0.66, 0.55], [0.86, 0.72, 0.62], [0.30, 0.22, 0.16]])


@dataclass
class FullBodyAvatar:
    """A SMPL-X body with a ROME head's hair.

    Attributes:
        model: the SMPL-X model whose template now carries the hair offsets.
        params: the body's :class:`SmplxParams` (batch 1, y-up frame).
        template_offsets: (V, 3) offsets added to the SMPL-X template (non-zero on hair vertices).
        parts: (V,) int64 part label per vertex (``PART_BODY``, ``PART_HEAD``, ``PART_HAIR``).
        similarity: (scale, R (3, 3), t (3,)) FLAME-head -> SMPL-X-head similarity.
        vertices: (1, V, 3) vertices in the current pose.
    """

    model: "SmplxModel"
    params: SmplxParams
    template_offsets: Tensor
    parts: Tensor
    similarity: tuple[Tensor, Tensor, Tensor]
    vertices: Tensor

    @property
    def faces(self) -> Tensor:
        """(F, 3) SMPL-X faces."""
        return self.model.faces

    def pose(self, params: Optional[SmplxParams] = None) -> "FullBodyAvatar":
        """Re-pose with new SMPL-X parameters (a motion frame); identity (betas) stays the avatar's.

        Args:
            params: pose/expression of one frame (batch 1); ``betas`` are ignored. ``None`` keeps
                the current pose.

        Returns:
            A new :class:`FullBodyAvatar` with ``vertices`` in that pose.
        """
        if params is None:
            params = self.params
        if not isinstance(params, SmplxParams) or params.batch_size != 1:
            raise InputError("pose: expected SmplxParams with batch 1")
        if params.frame != "y_up":
            raise InputError("pose: expected y-up parameters; convert PIXIE's with rome_smplx.bridges.pixie.to_y_up")
        p = SmplxParams(
            betas=self.params.betas, expression=params.expression, global_orient=params.global_orient,
            body_pose=params.body_pose, jaw_pose=params.jaw_pose, leye_pose=params.leye_pose,
            reye_pose=params.reye_pose, left_hand_pose=params.left_hand_pose,
            right_hand_pose=params.right_hand_pose, transl=params.transl,
        )
        with torch.no_grad():
            verts = self.model(p).vertices
        return FullBodyAvatar(self.model, p, self.template_offsets, self.parts, self.similarity, verts)

    def export(self, path: str | Path) -> Path:
        """Write the posed mesh (``.glb``, ``.ply`` or ``.obj``) with per-part vertex colours, atomically."""
        from rome_smplx.io.meshes import export_mesh

        colors = PART_COLORS[self.parts.cpu().numpy()]
        return export_mesh(path, self.vertices[0].detach().cpu().numpy(), self.faces.cpu().numpy(), vertex_colors=colors)


def merge(
    recon: HeadReconstruction,
    body: SmplxParams,
    assets: "Assets",
    *,
    smplx_model: Optional["SmplxModel"] = None,
    flame_model=None,
) -> FullBodyAvatar:
    """Put the hair of a ROME reconstruction on a SMPL-X body.

    Args:
        recon: :class:`HeadReconstruction` (batch 1) from :meth:`HeadAvatar.reconstruct`.
        body: SMPL-X parameters (batch 1), y-up (use ``bridges.pixie.to_y_up`` for PIXIE's).
        assets: the asset folder (SMPL-X model, correspondence, ROME vertex lists).
        smplx_model, flame_model: reuse already built models (optional).

    Returns:
        :class:`FullBodyAvatar` posed with ``body``.
    """
    from rome_smplx.models.flame import FlameModel
    from rome_smplx.models.smplx_body import SmplxModel

    if recon.batch_size != 1 or body.batch_size != 1:
        raise InputError(f"merge: expected batch 1, found reconstruction {recon.batch_size} and body {body.batch_size}")
    if body.frame != "y_up":
        raise InputError("merge: the body parameters are in PIXIE's y-down frame; convert with bridges.pixie.to_y_up")
    model = smplx_model if smplx_model is not None else SmplxModel.from_assets(assets)
    flame = flame_model if flame_model is not None else FlameModel.from_assets(assets)
    data = assets.rome_data()
    corr = torch.as_tensor(assets.correspondence(), dtype=torch.long)
    n = flame.num_vertices
    if recon.offsets.shape[1] != n or corr.numel() != n:
        raise InputError(f"merge: reconstruction has {recon.offsets.shape[1]} vertices, FLAME {n}, correspondence {corr.numel()}")

    layer = model.layer
    dtype = layer.v_template.dtype
    with torch.no_grad():
        neutral = FlameParams(shape=recon.flame.shape.detach().to(dtype), expression=recon.flame.expression.new_zeros(1, 1).to(dtype))
        head = flame(neutral).vertices[0]
        betas = model._coeffs(body.betas.to(dtype), model.num_betas, "betas")
        shaped = layer.v_template + torch.einsum("vck,k->vc", layer.shapedirs[..., : model.num_betas], betas[0])
        target = shaped[corr]
        deform = torch.zeros(n, dtype=torch.bool)
        deform[data.hair_list] = True
        deform[data.neck_list] = True
        s, R, t = umeyama(head[~deform][None], target[~deform][None])
        s, R, t = s[0], R[0], t[0]
        hair = torch.zeros(n, dtype=torch.bool)
        hair[data.hair_list] = True
        offsets = recon.offsets[0].detach().to(dtype) * hair[:, None]
        body_offsets = s * offsets @ R.T
        template_offsets = torch.zeros_like(layer.v_template)
        template_offsets[corr] = body_offsets
        residual = (s * head[~deform] @ R.T + t - target[~deform]).norm(dim=-1).mean()
    logger.info("merge: head->body similarity scale %.4f, mean residual %.2f mm", float(s), 1000 * float(residual))
    layer.v_template = layer.v_template + template_offsets
    parts = torch.full((layer.v_template.shape[0],), PART_BODY, dtype=torch.long)
    parts[corr] = PART_HEAD
    parts[corr[data.hair_list]] = PART_HAIR
    avatar = FullBodyAvatar(model, body, template_offsets, parts, (s, R, t), torch.empty(0))
    return avatar.pose(body)
