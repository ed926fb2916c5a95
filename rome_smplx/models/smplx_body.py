"""SMPL-X body model with rotation-matrix inputs (:class:`~rome_smplx.types.SmplxParams`).

A thin module around ``smplx.SMPLXLayer`` built from the sanitized asset copy with ``num_betas`` and
``num_expression_coeffs`` passed explicitly (PIXIE: 200 and 50). Full (non-PCA) hand rotations in
the flat-hand convention, as PIXIE predicts them; no pose mean is added.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from rome_smplx.errors import InputError
from rome_smplx.types import SmplxParams, _TensorDataclass

if TYPE_CHECKING:  # pragma: no cover
    from rome_smplx.assets import Assets


@dataclass
class SmplxOutput(_TensorDataclass):
    """SMPL-X evaluation result.

    Attributes:
        vertices: ``(B, V, 3)`` in the frame of the input parameters (``params.frame``).
        joints: ``(B, J, 3)``: the 55 skeleton joints, smplx's extra vertex joints and its landmarks.
    """

    vertices: Tensor
    joints: Tensor

    _batch_field = "vertices"


class SmplxModel(nn.Module):
    """SMPL-X with rotation matrices; wraps ``smplx.SMPLXLayer`` (``self.layer``)."""

    def __init__(self, layer: nn.Module, num_betas: int, num_expression_coeffs: int) -> None:
        super().__init__()
        self.layer = layer
        self.num_betas = int(num_betas)
        self.num_expression_coeffs = int(num_expression_coeffs)

    @classmethod
    def from_assets(
        cls, assets: Assets, num_betas: int = 200, num_expression_coeffs: int = 50, **kwargs: Any
    ) -> SmplxModel:
        """Build from an asset folder (``kwargs`` go to :meth:`Assets.smplx_layer`)."""
        layer = assets.smplx_layer(num_betas=num_betas, num_expression_coeffs=num_expression_coeffs, **kwargs)
        return cls(layer, num_betas, num_expression_coeffs)

    @property
    def faces(self) -> Tensor:
        """``(F, 3)`` int64 faces."""
        return self.layer.faces_tensor

    @property
    def num_vertices(self) -> int:
        return int(self.layer.v_template.shape[0])

    def _coeffs(self, t: Tensor, n: int, name: str) -> Tensor:
        if t.shape[1] > n:
            raise InputError(f"SmplxParams.{name}: the model has {n} coefficients, found {t.shape[1]}")
        if t.shape[1] < n:  # fewer coefficients: the remaining ones are zero
            t = torch.cat([t, t.new_zeros(t.shape[0], n - t.shape[1])], dim=1)
        return t

    def forward(self, params: SmplxParams) -> SmplxOutput:
        """Evaluate SMPL-X.

        Args:
            params: betas (B, S<=num_betas), expression (B, E<=num_expression_coeffs), rotations as
                matrices (global (B, 3, 3), body (B, 21, 3, 3), hands (B, 15, 3, 3), ...), optional
                transl (B, 3). Missing trailing coefficients count as zero.

        Returns:
            :class:`SmplxOutput` with vertices (B, V, 3) and joints (B, J, 3).
        """
        if not isinstance(params, SmplxParams):
            raise InputError(f"SmplxModel.forward: expected SmplxParams, found {type(params).__name__}")
        ref = self.layer.v_template
        p = params.to(device=ref.device, dtype=ref.dtype)
        out = self.layer(
            betas=self._coeffs(p.betas, self.num_betas, "betas"),
            expression=self._coeffs(p.expression, self.num_expression_coeffs, "expression"),
            global_orient=p.global_orient,
            body_pose=p.body_pose,
            jaw_pose=p.jaw_pose,
            leye_pose=p.leye_pose,
            reye_pose=p.reye_pose,
            left_hand_pose=p.left_hand_pose,
            right_hand_pose=p.right_hand_pose,
            transl=p.transl,
        )
        return SmplxOutput(vertices=out.vertices, joints=out.joints)


__all__ = ["SmplxModel", "SmplxOutput"]
