"""FLAME parameters from 2D landmarks: the fallback when DECA's weights are not available.

Fits FLAME shape, expression, jaw, global rotation and DECA's weak-perspective camera to 68 iBUG
landmarks through the model's landmark embedding (static 51 + yaw-dependent contour 17), with
Gaussian priors on the coefficients, in two stages:

1. rigid: camera and global rotation (the face's scale, position and orientation);
2. everything, with priors (shape and expression close to 0, small jaw rotation).

The result is a :class:`~rome_smplx.types.FlameParams` whose ``cam`` maps FLAME to the landmarks'
image exactly like DECA's (``s (xy + t)``, y flipped; pixels ``(x + 1) W / 2``), so it drops in where
DECA's code dict would. Deterministic for a given input and seed.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from torch import Tensor

from rome_smplx.errors import InputError
from rome_smplx.geometry.rotations import axis_angle_to_matrix
from rome_smplx.models.flame import FlameModel
from rome_smplx.render.cameras import deca_project, ndc_to_pixels
from rome_smplx.types import FlameParams

logger = logging.getLogger(__name__)

__all__ = ["FitSettings", "FitResult", "fit_flame_to_landmarks", "project_landmarks", "landmark_flame", "intra_op_threads"]

#: iBUG-68 weights: jaw contour is less reliable than the inner face; mouth corners and nose matter.
_IBUG_WEIGHTS = torch.ones(68)
_IBUG_WEIGHTS[0:17] = 0.5
_IBUG_WEIGHTS[[30, 31, 35, 48, 54]] = 2.0


@dataclass(frozen=True)
class FitSettings:
    """Optimisation settings (defaults suit 256-1024 px portraits).

    Attributes:
        rigid_iters: iterations of the camera + global rotation stage.
        full_iters: iterations of the joint stage.
        lr: Adam learning rate (parameters are normalised to similar scales).
        shape_prior, expression_prior, jaw_prior: weights of the squared-norm priors, in units of
            the mean squared landmark error in NDC.
        num_shape, num_expression: how many coefficients to fit (DECA: 100 / 50).
    """

    rigid_iters: int = 150
    full_iters: int = 500
    lr: float = 0.02
    shape_prior: float = 1e-6
    expression_prior: float = 1e-6
    jaw_prior: float = 1e-5
    num_shape: int = 100
    num_expression: int = 50


@dataclass
class FitResult:
    """Fitted parameters and diagnostics.

    Attributes:
        flame: fitted :class:`FlameParams` (with ``cam``).
        landmarks: (B, 68, 2) fitted landmarks in pixels.
        error_px: (B,) mean Euclidean landmark error in pixels.
    """

    flame: FlameParams
    landmarks: Tensor
    error_px: Tensor


def project_landmarks(flame_model: FlameModel, params: FlameParams, image_size: Sequence[int]) -> Tensor:
    """The 68 FLAME landmarks of ``params`` in pixels ``(B, 68, 2)`` (DECA's camera in ``params.cam``)."""
    if params.cam is None:
        raise InputError("project_landmarks: params.cam is None; a weak-perspective camera [s, tx, ty] is needed")
    H, W = int(image_size[0]), int(image_size[1])
    lmk = flame_model(params, apply_global=True).landmarks
    return ndc_to_pixels(deca_project(lmk, params.cam)[..., :2], H, W)


@contextlib.contextmanager
def intra_op_threads(n: Optional[int]):
    """Temporarily cap torch's intra-op thread count (``None``: unchanged). Process-wide while active."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(int(n), before)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def landmark_flame(flame_model: FlameModel) -> FlameModel:
    """A copy of ``flame_model`` restricted to the vertices its landmarks need (fast fitting).

    Keeps the vertices of every static and dynamic landmark face, plus the joints as 5 extra
    "virtual" vertices (template ``J_regressor @ v_template``, directions ``J_regressor @ dirs``, no
    pose correctives, rigidly bound to their joint) whose one-hot regressor reproduces the full
    model's joints exactly. Its landmarks equal the full model's for any parameters.
    """
    import copy

    fm = flame_model
    used_faces = torch.cat([fm.lmk_faces_idx.flatten(), fm.dynamic_lmk_faces_idx.flatten()]).unique()
    verts = fm.faces[used_faces].flatten().unique()
    N, S, J = fm.num_vertices, int(verts.numel()), int(fm.J_regressor.shape[0])
    remap = torch.zeros(N, dtype=torch.long, device=verts.device)
    remap[verts] = torch.arange(S, device=verts.device)
    red = copy.deepcopy(fm)
    Jr = fm.J_regressor
    red.v_template = torch.cat([fm.v_template[verts], Jr @ fm.v_template])
    red.shapedirs = torch.cat([fm.shapedirs[verts], torch.einsum("jn,nck->jck", Jr, fm.shapedirs)])
    red.exprdirs = torch.cat([fm.exprdirs[verts], torch.einsum("jn,nck->jck", Jr, fm.exprdirs)])
    P = fm.posedirs.shape[0]
    pd = fm.posedirs.view(P, N, 3)[:, verts]
    red.posedirs = torch.cat([pd, pd.new_zeros(P, J, 3)], dim=1).reshape(P, (S + J) * 3)
    jreg = Jr.new_zeros(J, S + J)
    jreg[torch.arange(J), S + torch.arange(J)] = 1.0
    red.J_regressor = jreg
    red.lbs_weights = torch.cat([fm.lbs_weights[verts], torch.eye(J, dtype=fm.lbs_weights.dtype, device=verts.device)])
    red.faces = remap[fm.faces]  # only the landmark faces are ever indexed
    return red


def _initial_camera(lmk_ndc: Tensor, model_lmk: Tensor) -> Tensor:
    """Scale and translation aligning the template landmarks' xy to the target (least squares)."""
    src = model_lmk[..., :2] * lmk_ndc.new_tensor([1.0, -1.0])  # DECA flips y
    src_c = src - src.mean(1, keepdim=True)
    dst_c = lmk_ndc - lmk_ndc.mean(1, keepdim=True)
    s = (src_c * dst_c).sum((1, 2)) / src_c.pow(2).sum((1, 2)).clamp_min(1e-12)
    # s * (x + tx) = dst  =>  tx = mean(dst) / s - mean(x); y analogous with the flip.
    mean_src = model_lmk[..., :2].mean(1)
    t = lmk_ndc.mean(1) / s[:, None] * lmk_ndc.new_tensor([1.0, -1.0]) - mean_src
    return torch.cat([s[:, None], t], dim=1)


def fit_flame_to_landmarks(
    flame_model: FlameModel,
    landmarks: Tensor,
    image_size: Sequence[int],
    *,
    settings: FitSettings = FitSettings(),
    weights: Optional[Tensor] = None,
    seed: int = 0,
    progress: bool = False,
    threads: Optional[int] = 1,
) -> FitResult:
    """Fit FLAME to 2D landmarks.

    Args:
        flame_model: FLAME with a landmark embedding (see :class:`~rome_smplx.models.flame.FlameModel`).
        landmarks: (B, 68, 2) iBUG-68 landmarks in pixels (pixel centres at ``i + 0.5``).
        image_size: (H, W) of the image the landmarks live in.
        settings: optimisation settings.
        weights: optional (68,) or (B, 68) per-landmark weights (default: contour 0.5, nose and mouth
            corners 2).
        seed: seed of the (tiny) initial jitter, for determinism across runs.
        progress: show a tqdm bar.
        threads: torch intra-op threads while fitting (restored afterwards; ``None`` leaves the
            setting alone). The landmark-only model's tensors are tiny, so extra threads only add
            synchronisation: on busy cores 2 threads were measured about 10x slower than 1.

    Returns:
        :class:`FitResult`.
    """
    with intra_op_threads(threads):
        return _fit(flame_model, landmarks, image_size, settings, weights, seed, progress)


def _fit(flame_model, landmarks, image_size, settings, weights, seed, progress) -> FitResult:
    if not isinstance(landmarks, Tensor) or landmarks.dim() != 3 or landmarks.shape[1:] != (68, 2):
        found = tuple(landmarks.shape) if isinstance(landmarks, Tensor) else type(landmarks).__name__
        raise InputError(f"landmarks: expected (B, 68, 2) pixel coordinates, found {found}")
    if not bool(torch.isfinite(landmarks).all()):
        raise InputError("landmarks: contains NaN or inf values")
    H, W = int(image_size[0]), int(image_size[1])
    dev = flame_model.v_template.device
    dtype = flame_model.v_template.dtype
    lmk = landmarks.to(dev, dtype)
    B = lmk.shape[0]
    target = torch.stack([lmk[..., 0] * 2.0 / W - 1.0, lmk[..., 1] * 2.0 / H - 1.0], dim=-1)
    w = (_IBUG_WEIGHTS if weights is None else weights).to(dev, dtype)
    w = w.expand(B, 68) / w.expand(B, 68).mean(1, keepdim=True)

    gen = torch.Generator(device="cpu").manual_seed(seed)
    full_model, flame_model = flame_model, landmark_flame(flame_model)
    zeros = FlameParams(shape=torch.zeros(B, settings.num_shape, dtype=dtype, device=dev),
                        expression=torch.zeros(B, settings.num_expression, dtype=dtype, device=dev))
    cam0 = _initial_camera(target, flame_model(zeros).landmarks.detach())
    shape = torch.zeros(B, settings.num_shape, dtype=dtype, device=dev, requires_grad=True)
    expr = torch.zeros(B, settings.num_expression, dtype=dtype, device=dev, requires_grad=True)
    rot = (1e-3 * torch.randn(B, 3, generator=gen, dtype=dtype)).to(dev).requires_grad_(True)
    jaw = torch.zeros(B, 3, dtype=dtype, device=dev, requires_grad=True)
    log_s = cam0[:, :1].log().clone().requires_grad_(True)
    trans = cam0[:, 1:].clone().requires_grad_(True)

    def params() -> FlameParams:
        return FlameParams(
            shape=shape, expression=expr, global_rot=axis_angle_to_matrix(rot), jaw_rot=axis_angle_to_matrix(jaw),
            cam=torch.cat([log_s.exp(), trans], dim=1),
        )

    def data_term(p: FlameParams) -> Tensor:
        pred = deca_project(flame_model(p, apply_global=True).landmarks, p.cam)[..., :2]
        return ((pred - target).pow(2).sum(-1) * w).mean(1)

    from tqdm.auto import tqdm

    stages = [
        ("rigid", [rot, log_s, trans], settings.rigid_iters),
        ("full", [shape, expr, rot, jaw, log_s, trans], settings.full_iters),
    ]
    for name, variables, iters in stages:
        opt = torch.optim.Adam(variables, lr=settings.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(iters, 1), eta_min=settings.lr * 0.05)
        for _ in tqdm(range(iters), desc=f"FLAME fit ({name})", disable=not progress, leave=False):
            opt.zero_grad(set_to_none=True)
            p = params()
            loss = data_term(p)
            if name == "full":
                loss = (
                    loss
                    + settings.shape_prior * shape.pow(2).sum(1)
                    + settings.expression_prior * expr.pow(2).sum(1)
                    + settings.jaw_prior * jaw.pow(2).sum(1)
                )
            loss.sum().backward()
            opt.step()
            sched.step()
    with torch.no_grad():
        p = params()
        fitted = project_landmarks(full_model, p, (H, W))
        err = (fitted - lmk).norm(dim=-1).mean(1)
    logger.info("FLAME landmark fit: mean error %s px", [round(float(e), 3) for e in err])
    return FitResult(flame=p.detach(), landmarks=fitted, error_px=err)
