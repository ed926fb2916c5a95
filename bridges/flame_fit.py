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
import copy
import logging
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from torch import Tensor

from rome_smplx.errors import InputError
from rome_smplx.geometry.rotations import axis_angle_to_matrix, contour_bins
from rome_smplx.models.flame import FlameModel
from rome_smplx.render.cameras import deca_project, ndc_to_pixels
from rome_smplx.types import FlameParams

logger = logging.getLogger(__name__)

__all__ = ["METHODS", "FitSettings", "FitResult", "fit_flame_to_landmarks", "project_landmarks", "landmark_flame", "intra_op_threads"]

#: iBUG-68 weights: jaw contour is less reliable than the inner face; mouth corners and nose matter.
_IBUG_WEIGHTS = torch.ones(68)
_IBUG_WEIGHTS[0:17] = 0.5
_IBUG_WEIGHTS[[30, 31, 35, 48, 54]] = 2.0


#: How often the LM solve re-reads the contour landmarks' yaw bins after converging with them held.
_MAX_REBINS = 3
#: The solvers of :class:`FitSettings`.
METHODS = ("lm", "adam")


@dataclass(frozen=True)
class FitSettings:
    """Optimisation settings (defaults suit 256-1024 px portraits).

    Both methods minimise the same objective: the weighted mean squared landmark error in NDC plus
    the squared-norm priors (in the joint stage).

    Attributes:
        method: ``"lm"`` (default): damped Gauss-Newton (Levenberg-Marquardt) with the exact
            Jacobian, batched over photos; ``"adam"``: the first-order fit with a cosine schedule.
        lm_rigid_iters, lm_iters: at most this many LM iterations in the rigid / joint stage (each
            photo stops earlier once a step lowers its cost by less than ``lm_tol`` relatively).
        lm_damping: initial damping ``lambda`` (relative to the diagonal of ``J^T J``).
        lm_tol: relative cost decrease below which a photo counts as converged.
        lm_fd_step: central-difference step of the rotation and camera unknowns (radians, log scale,
            NDC) in the Jacobian.
        rigid_iters, full_iters: Adam iterations of the camera + global rotation stage and of the
            joint stage.
        lr: Adam learning rate (parameters are normalised to similar scales).
        shape_prior, expression_prior, jaw_prior: weights of the squared-norm priors, in units of
            the mean squared landmark error in NDC.
        num_shape, num_expression: how many coefficients to fit (DECA: 100 / 50).
    """

    method: str = "lm"
    lm_rigid_iters: int = 10
    lm_iters: int = 40
    lm_damping: float = 1e-3
    lm_tol: float = 1e-4
    lm_fd_step: float = 1e-6
    rigid_iters: int = 150
    full_iters: int = 500
    lr: float = 0.02
    shape_prior: float = 1e-6
    expression_prior: float = 1e-6
    jaw_prior: float = 1e-5
    num_shape: int = 100
    num_expression: int = 50

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"FitSettings.method: expected one of {METHODS}, found {self.method!r}")
        for name in ("lm_rigid_iters", "lm_iters", "rigid_iters", "full_iters"):
            if int(getattr(self, name)) < 0:
                raise InputError(f"FitSettings.{name}: expected an integer >= 0, found {getattr(self, name)}")
        if not self.lm_damping > 0 or not self.lm_tol >= 0:
            raise InputError(f"FitSettings: lm_damping must be > 0 and lm_tol >= 0, found {self.lm_damping}, "
                             f"{self.lm_tol}")


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
    layout = _Layout(settings.num_shape, settings.num_expression)
    zeros = FlameParams(shape=torch.zeros(B, layout.S, dtype=dtype, device=dev),
                        expression=torch.zeros(B, layout.E, dtype=dtype, device=dev))
    cam0 = _initial_camera(target, flame_model(zeros).landmarks.detach())
    x0 = torch.zeros(B, layout.size, dtype=dtype, device=dev)
    x0[:, layout.rot] = (1e-3 * torch.randn(B, 3, generator=gen, dtype=dtype)).to(dev)
    x0[:, layout.log_s] = cam0[:, :1].log()
    x0[:, layout.trans] = cam0[:, 1:]
    prior = x0.new_zeros(layout.size)
    prior[layout.shape] = settings.shape_prior
    prior[layout.expr] = settings.expression_prior
    prior[layout.jaw] = settings.jaw_prior
    solve = _solve_lm if settings.method == "lm" else _solve_adam
    x = solve(flame_model, layout, x0, target, w, prior, settings, progress)
    with torch.no_grad():
        p = layout.params(x.to(dtype))
        fitted = project_landmarks(full_model, p, (H, W))
        err = (fitted - lmk).norm(dim=-1).mean(1)
    logger.info("FLAME landmark fit (%s): mean error %s px", settings.method, [round(float(e), 3) for e in err])
    return FitResult(flame=p.detach(), landmarks=fitted, error_px=err)


class _Layout:
    """Where each unknown sits in the packed vector ``x`` (B, P): shape, expression, global
    rotation and jaw (axis-angle), log camera scale, camera translation."""

    def __init__(self, num_shape: int, num_expression: int) -> None:
        S, E = int(num_shape), int(num_expression)
        self.S, self.E = S, E
        self.shape = slice(0, S)
        self.expr = slice(S, S + E)
        self.rot = slice(S + E, S + E + 3)
        self.jaw = slice(S + E + 3, S + E + 6)
        self.log_s = slice(S + E + 6, S + E + 7)
        self.trans = slice(S + E + 7, S + E + 9)
        self.size = S + E + 9

    def rigid(self) -> list[int]:
        """Indices of the rigid stage's unknowns (global rotation and camera)."""
        return [*range(self.size)[self.rot], *range(self.size)[self.log_s], *range(self.size)[self.trans]]

    def params(self, x: Tensor) -> FlameParams:
        return FlameParams(
            shape=x[:, self.shape], expression=x[:, self.expr], global_rot=axis_angle_to_matrix(x[:, self.rot]),
            jaw_rot=axis_angle_to_matrix(x[:, self.jaw]),
            cam=torch.cat([x[:, self.log_s].exp(), x[:, self.trans]], dim=1),
        )


def _projected(model: FlameModel, layout: _Layout, x: Tensor, bins_rot: Optional[Tensor] = None) -> Tensor:
    """(B, 68, 2) landmarks of the packed parameters ``x`` in image NDC.

    ``bins_rot`` (B, 3, 3), when given, is the head rotation that picks the contour landmarks
    (instead of ``x``'s own): with it fixed the landmarks are a smooth function of ``x``. The global
    rotation is then applied here, about the root joint, exactly as ``apply_global=True`` does.
    """
    p = layout.params(x)
    if bins_rot is None:
        return deca_project(model(p, apply_global=True).landmarks, p.cam)[..., :2]
    rot = p.global_rot
    p.global_rot = bins_rot
    out = model(p, apply_global=False)
    root = out.joints[:, :1]
    lmk = torch.einsum("bij,bnj->bni", rot, out.landmarks - root) + root
    return deca_project(lmk, p.cam)[..., :2]


def _solve_adam(model, layout, x0, target, w, prior, settings, progress) -> Tensor:
    """The first-order fit: Adam with a cosine schedule, rigid stage then joint stage."""
    from tqdm.auto import tqdm

    x = x0.clone().requires_grad_(True)
    rigid = torch.zeros(layout.size, dtype=x0.dtype, device=x0.device)
    rigid[layout.rigid()] = 1.0
    stages = [("rigid", rigid, settings.rigid_iters), ("full", torch.ones_like(rigid), settings.full_iters)]
    for name, free, iters in stages:
        opt = torch.optim.Adam([x], lr=settings.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(iters, 1), eta_min=settings.lr * 0.05)
        for _ in tqdm(range(iters), desc=f"FLAME fit ({name})", disable=not progress, leave=False):
            opt.zero_grad(set_to_none=True)
            loss = ((_projected(model, layout, x) - target).pow(2).sum(-1) * w).mean(1)
            if name == "full":
                loss = loss + (prior * x.pow(2)).sum(1)
            loss.sum().backward()
            x.grad.mul_(free)  # frozen unknowns get no gradient, so Adam leaves them exactly
            opt.step()
            sched.step()
    return x.detach()


def _solve_lm(model, layout, x0, target, w, prior, settings, progress) -> Tensor:
    """Levenberg-Marquardt on the same objective as :func:`_solve_adam`, batched over photos.

    Residuals: ``sqrt(w / 68) (projected - target)`` (136 per photo) and ``sqrt(prior) x``. The
    Jacobian of the landmark residuals comes from one batched model call: unit differences for the
    shape and expression coefficients (exact: the landmarks are affine in them), float64 central
    differences for the 9 rotation and camera unknowns; the prior's is diagonal.

    The contour landmarks jump between the embedding's yaw bins (one per degree), which would make
    the objective piecewise. So each solve holds every photo's bins fixed (a smooth least-squares
    problem), then re-reads the bins from the solution and solves again for the photos whose bins
    changed (at most ``_MAX_REBINS`` times; the iteration budget is shared). Each photo keeps its
    own damping ``lambda`` (Marquardt's scaling by ``diag(J^T J)``, Nielsen's update) and stops
    when a step lowers its cost by less than ``settings.lm_tol`` relatively. A rejected step
    reuses the Jacobian. Runs in float64 on a copy of the model.
    """
    from tqdm.auto import tqdm

    f64 = torch.float64
    model = copy.deepcopy(model).to(f64)
    x = x0.to(f64)
    target, prior = target.to(f64), prior.to(f64)
    sqrt_w = (w.to(f64) / w.shape[1]).sqrt()[..., None]  # (B, 68, 1)
    B, P = x.shape
    n_bins = int(model.dynamic_lmk_faces_idx.shape[0])
    affine = torch.zeros(P, dtype=torch.bool, device=x.device)
    affine[layout.shape] = True
    affine[layout.expr] = True
    h = float(settings.lm_fd_step)

    def residual(z: Tensor, bins_rot: Tensor, sel: Tensor) -> Tensor:
        """(b, 136) weighted landmark residuals of the photos ``sel`` at ``z`` (b, P)."""
        return ((_projected(model, layout, z, bins_rot) - target[sel]) * sqrt_w[sel]).flatten(1)

    def jacobian(z: Tensor, bins_rot: Tensor, sel: Tensor, cols: Tensor) -> Tensor:
        """(b, 136, K) Jacobian of ``residual`` for the photos ``sel`` and the unknowns ``cols``.

        One batched model call. Rows evaluated: z, z + step_k e_k for every k, z - h e_k for the
        non-affine k. For fixed rotations and camera the landmarks are affine in the shape and
        expression coefficients (blend shapes, joints and skinning are linear in them), so a unit
        forward difference is exact; the rotation and camera unknowns get central differences
        (error about h^2).
        """
        b, K = z.shape[0], int(cols.numel())
        lin = affine[cols]
        ones = torch.ones(K, dtype=f64, device=z.device)
        step = torch.where(lin, ones, h * ones)
        E = torch.eye(P, dtype=f64, device=z.device)
        deltas = torch.cat([E.new_zeros(1, P), step[:, None] * E[cols], -h * E[cols[~lin]]])  # (R, P)
        R = deltas.shape[0]
        zr = (z[:, None] + deltas).reshape(b * R, P)
        br = bins_rot[:, None].expand(b, R, 3, 3).reshape(b * R, 3, 3)
        proj = _projected(model, layout, zr, br).view(b, R, -1, 2) * sqrt_w[sel, None]
        plus = proj[:, 1 : K + 1]
        minus = proj[:, :1].expand_as(plus).clone()
        minus[:, ~lin] = proj[:, K + 1 :]
        denom = torch.where(lin, step, 2.0 * step)
        return ((plus - minus) / denom[None, :, None, None]).flatten(2).transpose(1, 2)

    everyone = torch.arange(B, device=x.device)
    stages = [("rigid", layout.rigid(), settings.lm_rigid_iters, False),
              ("full", list(range(P)), settings.lm_iters, True)]
    for name, free, iters, with_prior in stages:
        cols = torch.as_tensor(free, device=x.device)
        K = int(cols.numel())
        pr_full = prior if with_prior else torch.zeros_like(prior)
        pr = pr_full[cols]  # (K,)

        def cost_of(r: Tensor, z: Tensor, pr_full: Tensor = pr_full) -> Tensor:
            return r.pow(2).sum(1) + (pr_full * z.pow(2)).sum(1)

        bins_rot = axis_angle_to_matrix(x[:, layout.rot])
        bins = contour_bins(bins_rot, n_bins)
        r = residual(x, bins_rot, everyone)
        cost = cost_of(r, x)
        lam = torch.full((B,), float(settings.lm_damping), dtype=f64, device=x.device)
        nu = torch.full_like(lam, 2.0)
        done = torch.zeros(B, dtype=torch.bool, device=x.device)
        # Per photo: the normal equations at its current x (recomputed only after it moved).
        Hm = x.new_zeros(B, K, K)
        g = x.new_zeros(B, K)
        stale = torch.ones(B, dtype=torch.bool, device=x.device)
        rebins = 0
        bar = tqdm(range(iters), desc=f"FLAME fit ({name})", disable=not progress, leave=False)
        for _ in bar:
            need = (stale & ~done).nonzero()[:, 0]
            if need.numel():
                J = jacobian(x[need], bins_rot[need], need, cols)  # (b, 136, K)
                Hm[need] = J.transpose(1, 2) @ J + torch.diag_embed(pr.expand(len(need), -1))
                g[need] = (J.transpose(1, 2) @ r[need, :, None])[..., 0] + pr * x[need][:, cols]
                stale[need] = False
            act = (~done).nonzero()[:, 0]
            Ha, ga, la = Hm[act], g[act], lam[act]
            D = torch.diagonal(Ha, dim1=1, dim2=2).clamp_min(1e-12)
            step = -torch.linalg.solve(Ha + torch.diag_embed(la[:, None] * D), ga[..., None])[..., 0]
            x_new = x[act].clone()
            x_new[:, cols] = x_new[:, cols] + step
            r_new = residual(x_new, bins_rot[act], act)
            cost_new = cost_of(r_new, x_new)
            # The decrease the damped quadratic model predicts for this step (> 0).
            predicted = 0.5 * (step * (la[:, None] * D * step - ga)).sum(1)
            old = cost[act]
            rho = (old - cost_new) / predicted.clamp_min(1e-300)
            ok = (cost_new < old) & torch.isfinite(cost_new)
            small = ok & ((old - cost_new) <= settings.lm_tol * old)
            acc = act[ok]
            x[acc], r[acc], cost[acc] = x_new[ok], r_new[ok], cost_new[ok]
            stale[acc] = True
            shrink = (1.0 - (2.0 * rho - 1.0).pow(3)).clamp_min(1.0 / 3.0)
            lam[act] = torch.where(ok, la * shrink, la * nu[act])
            nu[act] = torch.where(ok, torch.full_like(la, 2.0), nu[act] * 2.0)
            done[act] = small | (lam[act] > 1e12)
            logger.debug("LM %s: cost %s lambda %s", name, cost.tolist(), lam.tolist())
            bar.set_postfix_str(f"cost {float(cost.max()):.3g}")
            if bool(done.all()):
                # Converged with the bins held; re-read them and go on where they changed.
                new_rot = axis_angle_to_matrix(x[:, layout.rot])
                new_bins = contour_bins(new_rot, n_bins)
                moved = new_bins != bins
                if not bool(moved.any()) or rebins >= _MAX_REBINS:
                    break
                rebins += 1
                bins_rot = torch.where(moved[:, None, None], new_rot, bins_rot)
                bins = new_bins
                r = residual(x, bins_rot, everyone)
                cost = cost_of(r, x)
                done, stale = ~moved, moved.clone()
        bar.close()
    return x.to(x0.dtype)
