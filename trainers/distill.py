"""Distillation of ROME's linear hair/shoulder model.

ROME's fast variant replaces E_geom + G_geom by a linear model: a ResNet-50 regresses ``K``
coefficients ``eta`` from the aligned source image and the offsets are ``F eta + mean``, with ``F``
a (3N, K) PCA basis (50 hair + 10 neck components) of offsets predicted by the full model. The paper
fits the basis on the full model's offsets, projects each offset set onto it,
``eta = (F^T F)^-1 F^T (dv - mean)``, and trains the regressor with ``MSE(eta)`` plus an occlusion
(silhouette) term and a Chamfer term; the release ships the result (``linear_hair.pth``,
``u_full.pt``, ``mean_deform.pt``) but not the training code. This module provides it:

* :func:`teacher_coefficients`: the full model's offsets on every image, projected onto the basis;
* :class:`LinearDistiller`: the regressor's training loop, safetensors + JSON checkpoints
  (:func:`load_checkpoint`) and :meth:`LinearDistiller.export_linear_hair`, which writes files in
  the release's formats (loadable by :func:`rome_smplx.models.rome.load_linear_regressor` and the
  asset layer); :func:`run_from_yaml` is ``rome-smplx train linear``.

The parts it builds on live with their kind (and are importable from here too):

* the basis and the projection: :func:`rome_smplx.models.rome.linear_basis.fit_pca_basis` and
  :func:`~rome_smplx.models.rome.linear_basis.project_coefficients`;
* the data: :class:`rome_smplx.trainers.datasets.DistillData`, built by
  :func:`~rome_smplx.trainers.datasets.load_people` (a folder of people) or
  :func:`~rome_smplx.trainers.datasets.load_video` (the synthetic video world);
* the settings: :class:`rome_smplx.trainers.config.LinearDistillConfig`.

Losses (weights in the config): ``w_coeffs * MSE(eta_pred, eta_target)``;
``w_chamfer * chamfer_2d`` between the projected vertices of the deformed head (FLAME + predicted
offsets, projected with the sample's DECA camera as ROME does; gradients reach only the hair/neck
vertices) and as many random pixels of the matte, in image NDC with squared distances (ROME's
Chamfer term); optionally ``w_silhouette * MSE(soft silhouette, matte)`` (the occlusion term).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from rome_smplx.trainers.config import LinearDistillConfig
from rome_smplx.trainers.datasets import DistillData, load_people, load_video
from torch import Tensor

from rome_smplx.errors import CheckpointError, InputError
from rome_smplx.models.rome import LinearHairRegressor
from rome_smplx.models.rome.linear_basis import fit_pca_basis, project_coefficients

if TYPE_CHECKING:  # pragma: no cover
    from rome_smplx.assets import Assets
    from rome_smplx.avatar.head import HeadAvatar

logger = logging.getLogger(__name__)

__all__ = [
    "LinearDistiller",
    "export_linear_hair",
    "load_checkpoint",
    "run_from_yaml",
    "teacher_coefficients",
]

CHECKPOINT_WEIGHTS = "regressor.safetensors"
CHECKPOINT_BASIS = "basis.safetensors"
CHECKPOINT_META = "distill.json"
CHECKPOINT_FORMAT = "rome-smplx-linear-distill-v1"


# ======================================================================================= teacher
@torch.no_grad()
def teacher_coefficients(head: HeadAvatar, data: DistillData, basis: Tensor, mean: Tensor, chunk: int = 4) -> tuple[Tensor, Tensor]:
    """Targets from a full-model teacher: its offsets on every image, projected onto the basis.

    Args:
        head: a :class:`HeadAvatar` of variant ``"full"`` (its offsets are the ones to distil).
        data: images, mattes and FLAME parameters (``targets`` are ignored).
        basis: (3N, K); mean: (N, 3).
        chunk: images per teacher forward pass.

    Returns:
        (coefficients (M, K), teacher offsets (M, N, 3)).
    """
    from tqdm.auto import tqdm

    if head.variant != "full":
        raise InputError(f"teacher_coefficients: the teacher must be a 'full' HeadAvatar, found variant {head.variant!r}")
    offs = []
    for s in tqdm(range(0, len(data), chunk), desc="teacher", unit="chunk", leave=False):
        sl = slice(s, s + chunk)
        recon = head.reconstruct(data.images[sl], data.masks[sl], data.flame.index(sl))
        offs.append(recon.offsets.detach().cpu())
    offsets = torch.cat(offs)
    return project_coefficients(offsets, basis, mean), offsets


# ======================================================================================= trainer
class LinearDistiller:
    """Trains a :class:`LinearHairRegressor` on (image, target coefficients) pairs.

    Args:
        config: :class:`LinearDistillConfig`.
        data: training pairs (:class:`DistillData`), e.g. from :func:`load_people`.
        basis: (3N, K) offset basis; mean: (N, 3) mean offsets.
        flame: :class:`~rome_smplx.models.flame.FlameModel` (needed when ``w_chamfer`` or
            ``w_silhouette`` > 0: the deformed head is projected with each sample's camera).
        faces: (F, 3) faces for the silhouette term.
        regressor: start from this regressor (default: a fresh one, seeded, with a small ``fc``).

    Use :meth:`from_config` to build everything from a config (assets, data, teacher).
    """

    def __init__(
        self,
        config: LinearDistillConfig,
        data: DistillData,
        basis: Tensor,
        mean: Tensor,
        flame=None,
        faces: Tensor | None = None,
        regressor: LinearHairRegressor | None = None,
    ) -> None:
        self.config = config
        self.device = torch.device(config.device)
        K = int(basis.shape[1])
        if data.targets.shape[1] != K:
            raise InputError(f"LinearDistiller: targets have {data.targets.shape[1]} coefficients, the basis has {K}")
        N = int(mean.shape[0])
        if tuple(basis.shape) != (3 * N, K):
            raise InputError(f"LinearDistiller: basis must be (3 * {N}, K), found {tuple(basis.shape)}")
        self.data = data
        self.basis = basis.to(self.device, torch.float32)
        self.mean = mean.to(self.device, torch.float32)
        self.faces = None if faces is None else faces.to(self.device, torch.long)
        needs_geometry = config.w_chamfer > 0 or config.w_silhouette > 0
        if needs_geometry and flame is None:
            raise InputError("LinearDistiller: the Chamfer/silhouette terms need a FlameModel (flame=...)")
        if config.w_silhouette > 0 and faces is None:
            raise InputError("LinearDistiller: the silhouette term needs the mesh faces (faces=...)")
        if needs_geometry and data.flame.cam is None:
            raise InputError("LinearDistiller: the Chamfer/silhouette terms need FLAME cameras (data.flame.cam)")
        self._base_verts = self._root = None
        if needs_geometry:
            with torch.no_grad():
                out = flame.to(self.device)(data.flame.to(self.device))
            if out.vertices.shape[1] != N:
                raise InputError(f"LinearDistiller: FLAME has {out.vertices.shape[1]} vertices, the basis {N}")
            self._base_verts = out.vertices.detach()
            self._root = out.joints[:, 0].detach()
        if regressor is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(config.seed)
                regressor = LinearHairRegressor(K)
                with torch.no_grad():  # start near the mean offsets
                    regressor.fc.weight.mul_(1e-2)
                    regressor.fc.bias.zero_()
        self.regressor = regressor.to(self.device)
        self.optimizer = torch.optim.Adam(self.regressor.parameters(), lr=config.lr, betas=config.betas)
        # torchrun: each rank takes its slice of every global batch (world * batch_size samples) and
        # DDP averages the gradients; BatchNorm statistics are per rank (SyncBatchNorm on CUDA)
        from rome_smplx.trainers.distributed import rank_world

        self.rank, self.world = rank_world()
        self._model: torch.nn.Module = self.regressor
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            if self.device.type == "cuda":
                self.regressor = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.regressor)
            self._model = DDP(self.regressor, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.step = 0
        self.history: list[dict[str, float]] = []
        self._gen = torch.Generator().manual_seed(config.seed)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_config(cls, config: LinearDistillConfig, assets: Assets | None = None) -> LinearDistiller:
        """Assets, people, targets (truth or teacher) and basis as the config says."""
        from rome_smplx.assets import Assets
        from rome_smplx.models.flame import FlameModel

        if assets is None:
            assets = Assets.from_dir(config.assets) if config.assets else Assets.discover()
        rd = assets.rome_data()
        folder = Path(config.data) if config.data else assets.root
        if config.video_seeds is not None:
            data, has_truth = load_video(assets, range(*config.video_seeds), config.video_frames, config.image_size,
                                         config.tracking_noise), False
        else:
            data, has_truth = load_people(folder, config.image_size, config.limit)
        basis, mean = rd.basis, rd.mean_deform
        if config.teacher == "truth":
            if not has_truth:
                raise InputError(f"{folder}: teacher 'truth' needs truth.npz in every person folder (synthetic people); "
                                 "use teacher: full for real images")
        else:
            from rome_smplx.avatar.head import HeadAvatar

            head = HeadAvatar.from_assets(assets, "full", size=config.teacher_size, weights=config.teacher_weights,
                                          image_size=config.image_size, device=config.device)
            targets, offsets = teacher_coefficients(head, data, basis, mean)
            if config.basis == "fit":
                deform = rd.deform_mask > 0
                basis, mean = fit_pca_basis(offsets, rd.hair_list, rd.neck_list, config.num_hair, config.num_neck,
                                            deform_mask=deform)
                targets = project_coefficients(offsets, basis, mean)
            data.targets = targets
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            regressor = LinearHairRegressor(int(basis.shape[1]), layers=config.regressor_layers,
                                            base_width=config.regressor_width)
            with torch.no_grad():  # start near the mean offsets
                regressor.fc.weight.mul_(1e-2)
                regressor.fc.bias.zero_()
        return cls(config, data, basis, mean, flame=FlameModel.from_assets(assets), faces=rd.faces, regressor=regressor)

    # ------------------------------------------------------------------ losses
    def offsets(self, coeffs: Tensor) -> Tensor:
        """``basis @ coeffs + mean``: (B, K) -> (B, N, 3)."""
        return (coeffs @ self.basis.T).view(coeffs.shape[0], -1, 3) + self.mean

    def _projected(self, idx: Tensor, coeffs: Tensor) -> Tensor:
        from rome_smplx.render.cameras import rome_project

        verts = self._base_verts[idx] + self.offsets(coeffs)
        fl = self.data.flame
        cam = fl.cam[idx].to(self.device)
        rot = fl.global_rot[idx].to(self.device)
        return rome_project(verts, cam, self._root[idx], rot)

    def _mask_points(self, masks: Tensor, count: int) -> Tensor:
        """``count`` random matte pixels per image (probability ~ matte value), NDC (B, count, 2)."""
        from rome_smplx.render.cameras import pixel_centers_ndc

        H, W = masks.shape[-2:]
        w = masks.flatten(1).clamp_min(0).cpu()
        empty = w.sum(1) <= 0
        if bool(empty.any()):
            raise InputError(f"LinearDistiller: empty matte for sample(s) {torch.nonzero(empty).flatten().tolist()}")
        pick = torch.multinomial(w, count, replacement=True, generator=self._gen).to(masks.device)
        grid = pixel_centers_ndc(H, W, dtype=masks.dtype, device=masks.device).reshape(-1, 2)
        return grid[pick]

    def losses(self, idx: Tensor) -> dict[str, Tensor]:
        """Loss terms on samples ``idx`` (B,): ``coeffs``, ``chamfer``, ``silhouette``, ``total``."""
        from rome_smplx.metrics.geometry import chamfer_distance

        cfg = self.config
        images = self.data.images[idx].to(self.device)
        target = self.data.targets[idx].to(self.device)
        pred = self._model(images) if self.regressor.training else self.regressor(images)
        out = {"coeffs": F.mse_loss(pred, target)}
        total = cfg.w_coeffs * out["coeffs"]
        if cfg.w_chamfer > 0 or cfg.w_silhouette > 0:
            ndc = self._projected(idx.to(self.device), pred)
            masks = self.data.masks[idx].to(self.device)
            if cfg.w_chamfer > 0:
                count = cfg.chamfer_points or ndc.shape[1]
                pts = self._mask_points(masks, count)
                out["chamfer"] = chamfer_distance(ndc[..., :2], pts).mean()
                total = total + cfg.w_chamfer * out["chamfer"]
            if cfg.w_silhouette > 0:
                from rome_smplx.render.cameras import ROME_DEPTH_SHIFT
                from rome_smplx.render.raster import soft_silhouette

                v = torch.cat([ndc[..., :2], ndc[..., 2:] + ROME_DEPTH_SHIFT], dim=-1)
                sil = soft_silhouette(v, self.faces, tuple(masks.shape[-2:]), backend="torch")
                out["silhouette"] = F.mse_loss(sil, masks[:, 0])
                total = total + cfg.w_silhouette * out["silhouette"]
        out["total"] = total
        return out

    # ------------------------------------------------------------------ loop
    def _batch(self) -> Tensor:
        M = len(self.data)
        b = min(self.config.batch_size, M // self.world) if self.world > 1 else min(self.config.batch_size, M)
        if b < 1:
            raise InputError(f"LinearDistiller: {M} samples for {self.world} processes")
        return torch.randperm(M, generator=self._gen)[self.rank * b:(self.rank + 1) * b]

    def train_step(self) -> dict[str, float]:
        """One optimiser step on a random batch; returns the loss values."""
        self.regressor.train()
        terms = self.losses(self._batch())
        self.optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        self.optimizer.step()
        self.step += 1
        rec = {k: float(v.detach()) for k, v in terms.items()}
        rec["step"] = self.step
        self.history.append(rec)
        return rec

    def train(self, steps: int | None = None, out: str | os.PathLike | None = None) -> list[dict[str, float]]:
        """Run ``steps`` (default ``config.steps``) steps with a progress bar; checkpoints go to
        ``out`` (default ``config.out``) every ``checkpoint_every`` steps and at the end."""
        from tqdm.auto import tqdm

        steps = self.config.steps if steps is None else int(steps)
        out = Path(self.config.out if out is None else out)
        t0 = time.perf_counter()
        main = self.rank == 0  # rank 0 shows progress, logs and writes
        bar = tqdm(range(steps), desc="distil linear", unit="step", disable=None if main else True)
        for _ in bar:
            rec = self.train_step()
            bar.set_postfix(mse=f"{rec['coeffs']:.4g}")
            if main and self.config.log_every and self.step % self.config.log_every == 0:
                logger.info("step %d: %s", self.step, ", ".join(f"{k} {v:.5g}" for k, v in rec.items() if k != "step"))
            if main and self.config.checkpoint_every and self.step % self.config.checkpoint_every == 0:
                self.save_checkpoint(out / f"step_{self.step:07d}")
        if self.config.recalibrate_bn:
            self.recalibrate_batchnorm()
        from rome_smplx.trainers.distributed import rank_digests

        self.rank_digests = rank_digests(self.regressor, self.world)  # bitwise-equal weights on every rank?
        if len(set(self.rank_digests)) > 1:
            logger.error("the ranks' regressors differ (SHA-256 per rank: %s)", self.rank_digests)
        if main:
            self.save_checkpoint(out / "final")
        logger.info("distilled %d steps in %.1f s (%.3f s/step, %d process(es)); checkpoint in %s", steps,
                    time.perf_counter() - t0, (time.perf_counter() - t0) / max(1, steps), self.world, out / "final")
        return self.history

    @torch.no_grad()
    def recalibrate_batchnorm(self, batch_size: int | None = None) -> None:
        """Replace the BatchNorm running statistics (an exponential average that lags behind the
        weights in short runs) by their average over all training images, in batches of
        ``batch_size`` (default ``config.batch_size``), so the eval-mode regressor (the exported one)
        matches the trained one."""
        bns = [m for m in self.regressor.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        saved = [m.momentum for m in bns]
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average
        self.regressor.train()
        b = batch_size or self.config.batch_size
        for s in range(0, len(self.data), b):
            self.regressor(self.data.images[s:s + b].to(self.device))
        for m, mom in zip(bns, saved):
            m.momentum = mom
        self.regressor.eval()

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Coefficient MSE and mean offset error (same units as the offsets) over all samples, eval mode."""
        self.regressor.eval()
        preds = torch.cat([self.regressor(self.data.images[s:s + 8].to(self.device))
                           for s in range(0, len(self.data), 8)])
        tgt = self.data.targets.to(self.device)
        err = (self.offsets(preds) - self.offsets(tgt)).norm(dim=-1)
        deform = self.mean.abs().sum(-1) > 0
        return {"coeff_mse": float(F.mse_loss(preds, tgt)),
                "offset_error": float(err[:, deform].mean()) if bool(deform.any()) else float(err.mean())}

    # ------------------------------------------------------------------ files
    def save_checkpoint(self, folder: str | os.PathLike) -> Path:
        """``regressor.safetensors`` + ``basis.safetensors`` + ``distill.json`` (config, step, history tail)."""
        from rome_smplx.io.checkpoints import save_safetensors, write_json_atomic

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_safetensors(self.regressor.state_dict(), folder / CHECKPOINT_WEIGHTS, {"format": CHECKPOINT_FORMAT})
        save_safetensors({"basis": self.basis, "mean_deform": self.mean}, folder / CHECKPOINT_BASIS,
                         {"format": CHECKPOINT_FORMAT})
        meta = {"format": CHECKPOINT_FORMAT, "num_coefficients": int(self.basis.shape[1]), "step": self.step,
                "config": self.config.to_dict(), "history": self.history[-100:],
                "world_size": self.world, "rank_weights_sha256": getattr(self, "rank_digests", None)}
        write_json_atomic(meta, folder / CHECKPOINT_META)
        return folder

    def export_linear_hair(self, path: str | os.PathLike) -> dict[str, Path]:
        """Write the release's files: ``path`` (``linear_hair.pth``: ``torch.save`` of a plain
        torchvision-keyed ResNet-50 state dict), and beside it ``u_full.pt`` (3N, K) and
        ``mean_deform.pt`` (N, 3) (``torch.save`` of float32 tensors)."""
        return export_linear_hair(self.regressor, self.basis, self.mean, path)


def export_linear_hair(regressor: LinearHairRegressor, basis: Tensor, mean: Tensor, path: str | os.PathLike) -> dict[str, Path]:
    """See :meth:`LinearDistiller.export_linear_hair`. Returns the three paths."""
    from rome_smplx.io.checkpoints import save_torch

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").clone().contiguous() for k, v in regressor.state_dict().items()}
    files = {"linear_hair": p, "u_full": p.parent / "u_full.pt", "mean_deform": p.parent / "mean_deform.pt"}
    for key, obj in (("linear_hair", state), ("u_full", basis.detach().to("cpu", torch.float32).contiguous().clone()),
                     ("mean_deform", mean.detach().to("cpu", torch.float32).contiguous().clone())):
        save_torch(obj, files[key])
    return files


def load_checkpoint(folder: str | os.PathLike, device: torch.device | str = "cpu") -> tuple[LinearHairRegressor, Tensor, Tensor, dict]:
    """Read a checkpoint of :meth:`LinearDistiller.save_checkpoint`: (regressor in eval mode, basis, mean, meta)."""
    from rome_smplx.io.checkpoints import load_safetensors, read_checkpoint_meta
    from rome_smplx.models.rome.resnet import regressor_from_state

    folder = Path(folder)
    meta = read_checkpoint_meta(folder / CHECKPOINT_META, CHECKPOINT_FORMAT)
    weights, _ = load_safetensors(folder / CHECKPOINT_WEIGHTS)
    tensors, _ = load_safetensors(folder / CHECKPOINT_BASIS)
    for key in ("basis", "mean_deform"):
        if key not in tensors:
            raise CheckpointError(f"{folder / CHECKPOINT_BASIS}: missing tensor {key!r}")
    regressor = regressor_from_state(weights, folder / CHECKPOINT_WEIGHTS, device=device)
    return regressor, tensors["basis"], tensors["mean_deform"], meta


def run_from_yaml(
    path: str | os.PathLike, *, assets_dir: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None, steps: int | None = None,
) -> dict[str, Any]:
    """``rome-smplx train linear``: train from a YAML config (``assets_dir``, ``out`` and ``steps``
    override it), export the release files into ``<out>/export/``; returns a summary (steps,
    first/last coefficient MSE, evaluation, files)."""
    config = LinearDistillConfig.from_yaml(path)
    changes = {k: v for k, v in (("assets", None if assets_dir is None else str(assets_dir)),
                                 ("out", None if out is None else str(out)), ("steps", steps)) if v is not None}
    if changes:
        config = dataclasses.replace(config, **changes)
    from rome_smplx.trainers.distributed import init_from_env, rank_world, shutdown_if_started

    started = rank_world()[1] == 1
    device = init_from_env(config.device)
    started = started and rank_world()[1] > 1
    if device != config.device:
        config = dataclasses.replace(config, device=device)
    try:
        torch.manual_seed(config.seed)
        distiller = LinearDistiller.from_config(config)
        history = distiller.train()
        if distiller.rank == 0:
            files = distiller.export_linear_hair(Path(config.out) / "export" / "linear_hair.pth")
        else:
            files = {k: Path(config.out) / "export" / n for k, n in
                     (("linear_hair", "linear_hair.pth"), ("u_full", "u_full.pt"), ("mean_deform", "mean_deform.pt"))}
    finally:
        shutdown_if_started(started)
    n = max(1, min(5, len(history) // 2))
    return {
        "steps": distiller.step,
        "coeff_mse_first": float(np.mean([h["coeffs"] for h in history[:n]])) if history else math.nan,
        "coeff_mse_last": float(np.mean([h["coeffs"] for h in history[-n:]])) if history else math.nan,
        "evaluation": distiller.evaluate(),
        "files": {k: str(v) for k, v in files.items()},
        "checkpoint": str(Path(config.out) / "final"),
    }
