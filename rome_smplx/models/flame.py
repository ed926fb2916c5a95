"""FLAME head model with rotation-matrix inputs and 68 landmarks (DECA / ROME conventions).

Linear blend skinning is :func:`smplx.lbs.lbs` (``pose2rot=False``) on buffers taken from the
validated asset arrays, so the vertices equal ``smplx.FLAME``'s for the same file. Like ROME, the
head is posed with an identity global rotation by default; ``apply_global=True`` rotates the result
by ``global_rot`` about the root joint, which equals skinning with the global rotation.

Landmarks follow DECA's 68-point order: 17 contour points chosen from the dynamic embedding by the
head's yaw (global rotation times neck rotation, binned per degree in [-39, 39]) followed by the 51
static inner-face points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from smplx.lbs import lbs, vertices2landmarks
from torch import Tensor, nn

from rome_smplx.errors import InputError
from rome_smplx.geometry.rotations import contour_bins
from rome_smplx.types import FlameParams, _TensorDataclass

if TYPE_CHECKING:  # pragma: no cover
    from rome_smplx.assets import Assets


@dataclass
class FlameOutput(_TensorDataclass):
    """FLAME evaluation result.

    Attributes:
        vertices: ``(B, N, 3)``.
        joints: ``(B, 5, 3)`` (root, neck, jaw, left eye, right eye).
        landmarks: ``(B, 68, 3)``: 17 dynamic contour points then 51 static points.
    """

    vertices: Tensor
    joints: Tensor
    landmarks: Tensor

    _batch_field = "vertices"


class FlameModel(nn.Module):
    """FLAME as a module with rotation-matrix inputs (:class:`~rome_smplx.types.FlameParams`).

    Buffers: ``v_template`` (N, 3), ``shapedirs`` (N, 3, S), ``exprdirs`` (N, 3, E), ``posedirs``
    (36, 3N), ``J_regressor`` (5, N), ``lbs_weights`` (N, 5), ``parents`` (5,), ``faces`` (F, 3),
    ``lmk_faces_idx`` (51,), ``lmk_bary_coords`` (51, 3), ``dynamic_lmk_faces_idx`` (79, 17),
    ``dynamic_lmk_bary_coords`` (79, 17, 3).
    """

    def __init__(self, flame_data: dict, embedding, num_shape: int = 100, num_expression: int = 50) -> None:
        super().__init__()
        import smplx

        shape_space, expr_space = smplx.FLAME.SHAPE_SPACE_DIM, smplx.FLAME.EXPRESSION_SPACE_DIM
        if not 1 <= num_shape <= shape_space:
            raise InputError(f"num_shape: expected an integer in [1, {shape_space}], found {num_shape}")
        if not 1 <= num_expression <= expr_space:
            raise InputError(f"num_expression: expected an integer in [1, {expr_space}], found {num_expression}")
        self.num_shape = int(num_shape)
        self.num_expression = int(num_expression)

        def f32(a):
            return torch.as_tensor(a, dtype=torch.float32).clone()

        sd = flame_data["shapedirs"]
        n = flame_data["v_template"].shape[0]
        self.register_buffer("v_template", f32(flame_data["v_template"]))
        self.register_buffer("shapedirs", f32(sd[:, :, :num_shape]))
        self.register_buffer("exprdirs", f32(sd[:, :, shape_space : shape_space + num_expression]))
        pd = flame_data["posedirs"]
        self.register_buffer("posedirs", f32(pd.reshape(3 * n, pd.shape[-1]).T))
        self.register_buffer("J_regressor", f32(flame_data["J_regressor"]))
        self.register_buffer("lbs_weights", f32(flame_data["weights"]))
        self.register_buffer("parents", torch.as_tensor(flame_data["parents"], dtype=torch.long).clone())
        self.register_buffer("faces", torch.as_tensor(flame_data["f"], dtype=torch.long).clone())
        self.register_buffer("lmk_faces_idx", torch.as_tensor(embedding.static_faces, dtype=torch.long).clone())
        self.register_buffer("lmk_bary_coords", f32(embedding.static_bary))
        self.register_buffer("dynamic_lmk_faces_idx", torch.as_tensor(embedding.dynamic_faces, dtype=torch.long).clone())
        self.register_buffer("dynamic_lmk_bary_coords", f32(embedding.dynamic_bary))

    @classmethod
    def from_assets(cls, assets: Assets, num_shape: int = 100, num_expression: int = 50) -> FlameModel:
        """Build from validated asset arrays (counts from the files; DECA uses 100 shape / 50 expression)."""
        return cls(assets.flame_data(), assets.landmark_embedding(), num_shape, num_expression)

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    def _coeffs(self, t: Tensor, n: int, name: str) -> Tensor:
        if t.shape[1] > n:
            raise InputError(f"FlameParams.{name}: the model has {n} coefficients, found {t.shape[1]}")
        if t.shape[1] < n:  # fewer coefficients: the remaining ones are zero
            t = torch.cat([t, t.new_zeros(t.shape[0], n - t.shape[1])], dim=1)
        return t

    def forward(self, flame: FlameParams, apply_global: bool = False) -> FlameOutput:
        """Evaluate FLAME.

        Args:
            flame: parameters; ``shape`` (B, S<=num_shape), ``expression`` (B, E<=num_expression)
                (missing trailing coefficients count as zero), rotations as matrices.
            apply_global: rotate by ``global_rot`` about the root joint (ROME poses the head with an
                identity global rotation and applies it at projection time).

        Returns:
            :class:`FlameOutput` with vertices (B, N, 3), joints (B, 5, 3), landmarks (B, 68, 3).
        """
        if not isinstance(flame, FlameParams):
            raise InputError(f"FlameModel.forward: expected FlameParams, found {type(flame).__name__}")
        dtype = self.v_template.dtype
        p = flame.to(device=self.v_template.device, dtype=dtype)
        b = p.batch_size
        betas = torch.cat(
            [self._coeffs(p.shape, self.num_shape, "shape"), self._coeffs(p.expression, self.num_expression, "expression")],
            dim=1,
        )
        eye = torch.eye(3, dtype=dtype, device=betas.device).expand(b, 3, 3)
        pose = torch.stack([eye, p.neck_rot, p.jaw_rot, p.eye_rots[:, 0], p.eye_rots[:, 1]], dim=1)
        dirs = torch.cat([self.shapedirs, self.exprdirs], dim=-1)
        verts, joints = lbs(betas, pose, self.v_template, dirs, self.posedirs, self.J_regressor,
                            self.parents, self.lbs_weights, pose2rot=False)
        if apply_global:
            root = joints[:, :1]
            rot = p.global_rot
            verts = torch.einsum("bij,bnj->bni", rot, verts - root) + root
            joints = torch.einsum("bij,bnj->bni", rot, joints - root) + root

        head_rot = p.global_rot @ p.neck_rot
        rows = contour_bins(head_rot, self.dynamic_lmk_faces_idx.shape[0])
        dyn_faces = self.dynamic_lmk_faces_idx[rows]
        dyn_bary = self.dynamic_lmk_bary_coords[rows]
        faces_idx = torch.cat([dyn_faces, self.lmk_faces_idx.expand(b, -1)], dim=1)
        bary = torch.cat([dyn_bary, self.lmk_bary_coords.expand(b, -1, -1)], dim=1)
        landmarks = vertices2landmarks(verts, self.faces, faces_idx, bary)
        return FlameOutput(vertices=verts, joints=joints, landmarks=landmarks)


__all__ = ["FlameModel", "FlameOutput", "contour_bins"]
