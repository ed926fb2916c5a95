"""Training the full ROME model (reference section 4).

One iteration on a batch of (source, target) pairs:

1. **Generator step.** E_tex encodes the source; FLAME is posed with the source identity and the
   target expression/jaw/global rotation/camera; E_geom + G_geom predict the offsets; the deferred
   neural renderer (E_img) renders the target. Prediction and ground truth are composited on one
   random uniform colour per sample, with the *predicted* mask (detached) as alpha. Every loss
   with a non-zero weight (see :data:`~rome_smplx.trainers.config.DEFAULT_LOSS_WEIGHTS`) is added;
   the discriminator runs in eval mode with frozen parameters. A step whose gradients hold NaN or
   inf is skipped (logged).
2. **Discriminator step** on the same composites (hinge loss), with only its parameters trainable.

Randomness (batch order, pair draws, background colours, Chamfer pixel draws) is a pure function of
``(seed, step)``, and checkpoints hold the networks, both Adam states and the step, so
:meth:`RomeTrainer.resume` continues exactly where the run stopped.

Several processes (``torchrun``, see :mod:`rome_smplx.trainers.distributed`): when
``torch.distributed`` is initialised, each rank takes its own contiguous slice of every global batch
(``world_size * batch_size`` pairs drawn from a seeded per-epoch permutation, the slicing a
``DistributedSampler`` does, but addressed by step so a resumed run needs no replay of a loader),
the generator step and the discriminator step each run through a ``DistributedDataParallel``
wrapper (bucketed gradient all-reduce overlapped with the backward pass), and the per-sample random
draws of the global batch (background colours) are sliced the same way, so two processes with batch
``B`` compute what one process with batch ``2 B`` computes (tested, except for the Chamfer term's
pixel draws, which each rank takes from its own stream). The skip decision for non-finite
gradients and the logged losses are reduced over the ranks. Rank 0 logs, shows the progress bar,
writes checkpoints, ``metrics.jsonl`` and TensorBoard events.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import torch
from rome_smplx.trainers import losses as L
from rome_smplx.trainers.config import DEFAULT_LOSS_WEIGHTS, RomeTrainConfig
from rome_smplx.trainers.datasets import (
    _mix_seed,
    collate,
    flame_params_from_batch,
    landmarks_from_vertices,
)
from rome_smplx.trainers.distributed import autocast, rank_digests, rank_world
from torch import Tensor, nn

from rome_smplx.errors import CheckpointError, InputError

logger = logging.getLogger(__name__)

__all__ = ["CHECKPOINT_FORMAT", "RomeTrainer", "build_dataset", "latest_checkpoint", "train_from_config"]

CHECKPOINT_FORMAT = "rome_smplx.rome_trainer"
_GEN_MODULES = ("autoencoder", "unwrap", "mesh_deformer", "mlp_deformer", "unet", "unet_seg")


def _all_finite(params: list[nn.Parameter]) -> bool:
    return all(p.grad is None or bool(torch.isfinite(p.grad).all()) for p in params)


def _all_ranks(flag: bool, world: int) -> bool:
    """``flag`` on every rank (a collective: all ranks must call it)."""
    if world == 1:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0])
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item() > 0.5)


_LOGGED = (*sorted(DEFAULT_LOSS_WEIGHTS), "total", "dis")


def _mean_over_ranks(values: dict[str, float], world: int) -> dict[str, float]:
    """The mean of each value over the ranks that have it (a loss whose inputs a rank's slice lacks,
    e.g. keypoints, is missing there)."""
    if world == 1:
        return values
    import torch.distributed as dist

    t = torch.zeros(2, len(_LOGGED), dtype=torch.float64)
    for i, k in enumerate(_LOGGED):
        if k in values:
            t[0, i], t[1, i] = values[k], 1.0
    dist.all_reduce(t)
    return {k: float(t[0, i] / t[1, i]) for i, k in enumerate(_LOGGED) if t[1, i] > 0}


class _GeneratorStep(nn.Module):
    """The generator's forward pass and losses as one module (what DDP wraps): its parameters are
    the trainable generator networks; the trainer (renderer, FLAME, losses) is held outside the
    module tree so DDP neither broadcasts nor reduces anything else."""

    def __init__(self, trainer: "RomeTrainer", modules: list[nn.Module]) -> None:
        super().__init__()
        self.nets = nn.ModuleList(modules)
        object.__setattr__(self, "_trainer", trainer)

    def forward(self, batch, generator):
        tr = self._trainer
        with tr._autocast():
            fw = tr.forward(batch, generator)
            parts = tr.generator_losses(fw, generator)
        if not parts:
            raise InputError("every generator loss is off (all loss weights are 0 or lack their inputs)")
        return sum(v.float() for v in parts.values()), parts, fw


class _DiscriminatorStep(nn.Module):
    """The discriminator's hinge loss on (real, fake) as one module (one DDP forward per step)."""

    def __init__(self, discriminator: nn.Module, weight: float, trainer: "RomeTrainer") -> None:
        super().__init__()
        self.discriminator = discriminator
        self.weight = weight
        object.__setattr__(self, "_trainer", trainer)

    def forward(self, real_images: Tensor, fake_images: Tensor) -> Tensor:
        with self._trainer._autocast():
            real = self.discriminator(real_images)
            fake = self.discriminator(fake_images)
            return self.weight * L.hinge_discriminator_loss(real.scores, fake.scores).float()


class RomeTrainer:
    """Trains a full-variant :class:`~rome_smplx.avatar.head.HeadAvatar` and a discriminator.

    Args:
        config: :class:`RomeTrainConfig`.
        assets: :class:`~rome_smplx.assets.Assets` or an asset folder path (FLAME, ROME data files).

    Attributes:
        head: the avatar (``head.networks`` holds E_tex, E_geom, G_geom, E_img and the discriminator).
        step: optimisation steps done.
        history: per-step dict of loss values (floats, weighted; ``total``, ``dis`` and ``skipped``).
    """

    def __init__(self, config: RomeTrainConfig, assets: Any, profile=None) -> None:
        import dataclasses

        from rome_smplx.assets import Assets
        from rome_smplx.avatar.head import HeadAvatar
        from rome_smplx.models.flame import FlameModel
        from rome_smplx.models.rome import RomeNetworks, get_profile

        if not isinstance(config, RomeTrainConfig):
            raise InputError(f"RomeTrainer: expected a RomeTrainConfig, found {type(config).__name__}")
        config.validate()
        self.config = config
        self.assets = assets if isinstance(assets, Assets) else Assets.from_dir(assets)
        try:
            self.device = torch.device(config.device)
        except RuntimeError as exc:
            raise InputError(f"config 'device': {exc}") from None
        from rome_smplx.trainers.distributed import check_precision

        check_precision(config.precision, self.device)
        flame = FlameModel.from_assets(self.assets)
        data = self.assets.rome_data()
        if profile is None:
            profile = get_profile(config.profile, config.size)
            if config.profile_options:
                try:
                    profile = dataclasses.replace(profile, **config.profile_options)
                except (TypeError, InputError) as exc:
                    raise InputError(f"config 'profile_options': {exc}") from None
        if profile.image_size != config.image_size:
            # The UV maps (neural texture, geometry latent) follow the training resolution.
            profile = dataclasses.replace(profile, image_size=config.image_size)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            networks = RomeNetworks(profile, with_discriminator=True)
        if config.init_weights is not None:
            self._warm_start(networks, Path(config.init_weights))
        uv_coords, uv_faces = self.assets.uv_layout()
        if uv_coords is None:
            uv_coords, uv_faces = data.vertex_uvs, data.faces
        deform_mask = data.deform_mask
        self.head = HeadAvatar(
            flame, networks, data.faces, uv_coords, uv_faces, data.vertex_uvs, deform_mask, data.basis,
            data.mean_deform, variant="full", image_size=config.image_size, backend=config.backend,
            offsets=config.offsets,
        ).to(self.device)
        n = flame.num_vertices
        self.hair_select = torch.zeros(n, dtype=torch.bool, device=self.device)
        self.hair_select[data.hair_list.to(self.device)] = True
        self.neck_select = torch.zeros(n, dtype=torch.bool, device=self.device)
        self.neck_select[data.neck_list.to(self.device)] = True
        self.weights = dict(config.loss_weights)
        self._build_losses()
        nets = self.head.networks
        modules = [m for m in _GEN_MODULES if config.offsets or m not in ("mesh_deformer", "mlp_deformer")]
        self.gen_params = [p for m in modules if getattr(nets, m) is not None for p in getattr(nets, m).parameters()]
        self.dis_params = list(nets.discriminator.parameters())
        groups: list[dict[str, Any]] = [{"params": self.gen_params, "base_lr": config.lr_g}]
        if config.lr_geom is not None and config.offsets:  # E_geom and G_geom in a group of their own
            geom = {id(p) for m in ("mesh_deformer", "mlp_deformer") for p in getattr(nets, m).parameters()}
            groups = [{"params": [p for p in self.gen_params if id(p) not in geom], "base_lr": config.lr_g},
                      {"params": [p for p in self.gen_params if id(p) in geom], "base_lr": config.lr_geom}]
        self._g_base_lrs = [g["base_lr"] for g in groups]
        self.opt_g = torch.optim.Adam([dict(g, lr=g["base_lr"]) for g in groups], lr=config.lr_g, betas=config.betas)
        self.opt_d = torch.optim.Adam(self.dis_params, lr=config.lr_d, betas=config.betas)
        self.step = 0
        self.history: list[dict[str, float]] = []
        #: samples skipped because they could not be read or held NaN/inf, by reason (saved with checkpoints)
        self.skipped_samples: dict[str, int] = {}
        #: generator steps skipped for a non-finite loss or gradients (saved with checkpoints)
        self.skipped_steps = 0
        self.rank, self.world = rank_world()
        #: micro-batch being computed within a step (``config.accumulate`` of them per step)
        self._micro = 0
        gen_modules = [getattr(nets, m) for m in modules if getattr(nets, m) is not None]
        self._gen_step: nn.Module = _GeneratorStep(self, gen_modules)
        self._dis_step: nn.Module = _DiscriminatorStep(nets.discriminator, self.weights["adversarial"], self)
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            # find_unused_parameters: a loss switched off (or a profile's unused branch) leaves some
            # generator parameters without gradients in a step
            self._gen_step = DDP(self._gen_step, device_ids=ids, find_unused_parameters=True,
                                 broadcast_buffers=False)
            self._dis_step = DDP(self._dis_step, device_ids=ids, broadcast_buffers=False)
        self.monitor = None  # a rome_smplx.trainers.monitor.RunMonitor while fit() runs (rank 0)
        self.val_dataset = None

    # ------------------------------------------------------------------ setup
    def _build_losses(self) -> None:
        w, c = self.weights, self.config
        self.perceptual = None
        if w["perceptual"] > 0:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(c.seed + 1)  # a random VGG (no weights file) is the same in every run
                self.perceptual = L.PerceptualLoss(c.vgg_weights).to(self.device)
        self.gaze = None
        if w["gaze"] > 0:
            if c.gaze_weights is None:
                logger.warning("loss 'gaze' is off: no gaze_weights given (a VGG16 gaze network state dict)")
                w["gaze"] = 0.0
            else:
                self.gaze = L.GazeLoss(c.gaze_weights).to(self.device)
        self.identity = None
        if w["identity"] > 0:
            if c.face_id_weights is None:
                logger.warning("loss 'identity' is off: no face_id_weights given (a ResNet-50 face-id state dict)")
                w["identity"] = 0.0
            else:
                self.identity = L.IdentityLoss(weights_path=c.face_id_weights).to(self.device)
        self.laplacian = (
            L.LaplacianLoss(self.head.faces, self.head.flame.num_vertices).to(self.device) if w["laplacian"] > 0 else None
        )
        self.keypoint = L.KeypointLoss().to(self.device)

    def set_identity_network(self, embedder: nn.Module, weight: Optional[float] = None) -> None:
        """Use any face-embedding module ``(B, 3, H, W) -> (B, D)`` for the identity loss."""
        self.identity = L.IdentityLoss(embedder).to(self.device)
        self.weights["identity"] = self.config.loss_weights["identity"] if weight is None else float(weight)

    def _set_trainable(self, gen: bool, dis: bool) -> None:
        for p in self.gen_params:
            p.requires_grad_(gen)
        for p in self.dis_params:
            p.requires_grad_(dis)

    def _autocast(self):
        return autocast(self.config.precision, self.device)

    # ------------------------------------------------------------------ forward
    def _to_device(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        return {k: v.to(self.device) for k, v in batch.items()}

    def forward(self, batch: dict[str, Tensor], generator: Optional[torch.Generator] = None) -> dict[str, Any]:
        """Render the targets of a batch from its sources.

        Returns a dict: ``render`` (:class:`~rome_smplx.types.RenderOutput`), ``verts`` (B, N, 3),
        ``ndc`` (B, N, 3), ``offsets`` (B, N, 3), ``params`` (mixed FlameParams), ``root`` (B, 3),
        ``pred`` and ``target`` composited on the random background (B, 3, S, S).
        """

        head, S = self.head, self.config.image_size
        b = self._to_device(batch)
        src = flame_params_from_batch(b, "source")
        tgt = flame_params_from_batch(b, "target")
        for key in ("source_image", "source_mask", "target_image", "target_mask"):
            t = b[key]
            if t.dim() != 4 or t.shape[-2:] != (S, S):
                raise InputError(f"batch '{key}': expected (B, C, {S}, {S}), found {tuple(t.shape)}")
        unwrapped = None
        if head.profile.texture_unwrap:
            unwrapped = head.unwrap_source(b["source_image"], b["source_mask"], src)
        texture = head.encode_texture(b["source_image"], b["source_mask"], unwrapped)
        params = head.mix_params(src, tgt)
        verts, ndc, offsets, root = head.deform(params, texture=texture)
        render = head.renderer(texture, verts, ndc, head.faces, head.uv_coords, head.uv_faces, (S, S))
        B = ndc.shape[0]
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        # the colours of the whole global batch are drawn and this rank's slice taken, so several
        # processes use the colours one process would; the later draws (Chamfer) are per rank
        # (a micro-batch of an accumulated step counts as one more rank: one process with accumulate K
        # draws what K processes draw)
        vrank, vworld = self._virtual_rank()
        bg = torch.rand(B * vworld, 3, 1, 1, generator=g)[vrank * B:(vrank + 1) * B]
        bg = bg.to(self.device, render.image.dtype)
        if vrank > 0:
            g.manual_seed(_mix_seed(self.config.seed, self.step, 1, vrank))
        if self.config.composite == "own":  # each on its own mask, as masked metrics compare them
            alpha, alpha_t = render.mask, b["target_mask"]
        else:  # the release: both on the predicted mask, detached
            alpha = alpha_t = render.mask.detach()
        pred = render.image * alpha + bg * (1 - alpha)
        target = b["target_image"] * alpha_t + bg * (1 - alpha_t)
        return dict(render=render, verts=verts, ndc=ndc, offsets=offsets, params=params, root=root, pred=pred,
                    target=target, batch=b)

    def generator_losses(self, fw: dict[str, Any], generator: Optional[torch.Generator] = None) -> dict[str, Tensor]:
        """Weighted generator losses (only those with a non-zero weight and the inputs they need)."""
        from rome_smplx.render.cameras import rome_project
        from rome_smplx.render.raster import rasterize, soft_silhouette

        w, b, S = self.weights, fw["batch"], self.config.image_size
        pred, target, render, ndc = fw["pred"], fw["target"], fw["render"], fw["ndc"]
        faces = self.head.faces
        out: dict[str, Tensor] = {}
        if w["perceptual"] > 0:
            out["perceptual"] = w["perceptual"] * self.perceptual(pred, target)
        if w["l1"] > 0:
            out["l1"] = w["l1"] * (pred - target).abs().mean()
        if w["ssim"] > 0:
            from rome_smplx.metrics.image import ssim

            out["ssim"] = w["ssim"] * (1.0 - ssim(pred, target)).mean()
        has_kp = b["has_keypoints"].to(pred.dtype)
        if w["gaze"] > 0 and bool(has_kp.any()):
            eyes = L.eye_masks_from_keypoints(b["target_keypoints"], (S, S)) * has_kp.view(-1, 1, 1, 1)
            out["gaze"] = w["gaze"] * self.gaze(pred, target, eyes)
        if w["identity"] > 0 and self.identity is not None:
            out["identity"] = w["identity"] * self.identity(pred, target)
        if w["adversarial"] > 0 or w["feature_matching"] > 0:
            dis = self.head.networks.discriminator
            dis.eval()
            with torch.no_grad():
                real = dis(target)
            fake = dis(pred)
            if w["adversarial"] > 0:
                out["adversarial"] = w["adversarial"] * L.hinge_generator_loss(fake.scores)
            if w["feature_matching"] > 0:
                out["feature_matching"] = w["feature_matching"] * L.feature_matching_loss(real.features, fake.features)
        if w["seg"] > 0:
            out["seg"] = w["seg"] * L.dice_loss(render.mask, b["target_mask"])
        has_parsing = b["has_parsing"].to(pred.dtype)
        if bool(has_parsing.any()):
            if w["seg_hair"] > 0:
                sil = soft_silhouette(L.detach_where(ndc, ~self.hair_select), faces, (S, S), backend=self.config.backend)
                out["seg_hair"] = w["seg_hair"] * L.silhouette_mse(sil[:, None], b["target_hair_mask"], has_parsing)
            if w["seg_neck"] > 0:
                sil = soft_silhouette(L.detach_where(ndc, self.hair_select), faces, (S, S), backend=self.config.backend)
                out["seg_neck"] = w["seg_neck"] * L.silhouette_mse(sil[:, None], b["target_neck_mask"], has_parsing)
        if w["chamfer"] > 0:
            frags = rasterize(ndc.detach(), faces, (S, S), faces_per_pixel=1, backend=self.config.backend)
            B, N = ndc.shape[:2]
            visible = torch.zeros(B, N, dtype=torch.bool, device=ndc.device)
            for i in range(B):
                hit = frags.pix_to_face[i, ..., 0]
                hit = hit[hit >= 0].unique()
                visible[i, faces[hit].flatten()] = True
            cap = self.config.chamfer_points
            if cap:  # a random subset of the visible vertices (and as many mask pixels): cheaper, unbiased
                for i in range(B):
                    idx = visible[i].nonzero()[:, 0]
                    if idx.numel() > cap:
                        keep = idx[torch.randperm(idx.numel(), generator=generator)[:cap].to(idx.device)]
                        visible[i] = False
                        visible[i, keep] = True
            counts = visible.sum(1)
            pts = ndc.new_zeros(B, int(counts.max()), 2)
            for i in range(B):
                pts[i, : int(counts[i])] = ndc[i, visible[i], :2]
            tgt_pts, tgt_len = L.mask_points(b["target_mask"], counts.cpu(), generator)
            out["chamfer"] = w["chamfer"] * L.chamfer_2d(pts, tgt_pts, counts, tgt_len)
        if w["laplacian"] > 0 and self.config.offsets:
            out["laplacian"] = w["laplacian"] * self.laplacian(fw["offsets"])
        if w["offset_l2"] > 0 and self.config.offsets:
            off = fw["offsets"][:, self.head.deform_mask.to(fw["offsets"].device) > 0]
            out["offset_l2"] = w["offset_l2"] * (off * 100.0).pow(2).sum(-1).mean()
        if w["offsets_3d"] > 0 and self.config.offsets:
            if "source_offsets" not in b:
                raise InputError("loss 'offsets_3d' needs the true offsets of the source subject (batch key "
                                 "'source_offsets', which the synthetic video world provides); this data has none")
            sel = self.head.deform_mask.to(fw["offsets"].device) > 0
            out["offsets_3d"] = w["offsets_3d"] * L.offset_distance_cm(fw["offsets"], b["source_offsets"], sel)
        if w["keypoints"] > 0 and bool(has_kp.any()):
            p = fw["params"]
            lmk = landmarks_from_vertices(self.head.flame, fw["verts"], p.global_rot @ p.neck_rot)
            lmk = rome_project(lmk, p.cam, fw["root"], p.global_rot)[..., :2]
            out["keypoints"] = w["keypoints"] * self.keypoint(lmk, b["target_keypoints"], has_kp)
        return out

    # ------------------------------------------------------------------ one iteration
    def _virtual_rank(self) -> tuple[int, int]:
        """(rank, world) counting each micro-batch of an accumulated step as a process of its own."""
        k = self.config.accumulate
        return self.rank * k + self._micro, self.world * k

    def train_step(self, batch: dict[str, Tensor] | Sequence[dict[str, Tensor]]) -> dict[str, float]:
        """Generator step then discriminator step on ``batch`` (collated dataset items), or on a list of
        ``config.accumulate`` micro-batches (:meth:`make_batch` with ``micro=0, 1, ...``) whose gradients
        are averaged before one update.

        Returns the loss values of this step (weighted, means over the micro-batches and processes),
        their sum ``total``, the discriminator's ``dis`` and ``skipped`` (1.0 when a step was skipped
        for non-finite gradients).
        """
        micro = [batch] if isinstance(batch, dict) else list(batch)
        if len(micro) != self.config.accumulate:
            raise InputError(f"train_step: expected {self.config.accumulate} micro-batch(es) (config 'accumulate'), "
                             f"found {len(micro)}")
        K = len(micro)
        nets = self.head.networks
        self.head.train()
        self._set_trainable(True, False)
        if self.config.warmup_steps:
            f = min(1.0, (self.step + 1) / self.config.warmup_steps)
            for opt, lr in ((self.opt_g, self.config.lr_g), (self.opt_d, self.config.lr_d)):
                for group in opt.param_groups:
                    group["lr"] = group.get("base_lr", lr) * f
        self.opt_g.zero_grad(set_to_none=True)
        sums: dict[str, Tensor] = {}
        fakes = []
        for j, mb in enumerate(micro):
            self._micro = j
            g = torch.Generator().manual_seed(_mix_seed(self.config.seed, self.step, 1))
            with self._sync(self._gen_step, j == K - 1):
                total_j, parts_j, fw = self._gen_step(mb, g)
                (total_j / K).backward()  # under DDP the gradients are averaged over the ranks at the last one
            for k, v in parts_j.items():
                sums[k] = sums.get(k, 0.0) + v.detach() / K
            sums["total"] = sums.get("total", 0.0) + total_j.detach() / K
            fakes.append((fw["target"].detach(), fw["pred"].detach()))
        self._micro = 0
        total = sums.pop("total")
        parts = sums
        skipped = 0.0
        if _all_ranks(_all_finite(self.gen_params) and bool(torch.isfinite(total)), self.world):
            self.opt_g.step()
        else:
            skipped = 1.0
            self.skipped_steps += 1
            logger.warning("step %d: non-finite generator loss or gradients (%s), generator update skipped; "
                           "%d step(s) skipped so far", self.step,
                           ", ".join(k for k, v in parts.items() if not bool(torch.isfinite(v))) or "gradients",
                           self.skipped_steps)
        self.opt_g.zero_grad(set_to_none=True)
        values = {k: float(v.detach()) for k, v in parts.items()}
        values["total"] = float(total.detach())
        if self.weights["adversarial"] > 0:
            self._set_trainable(False, True)
            nets.discriminator.train()
            self.opt_d.zero_grad(set_to_none=True)
            # spectral norm runs its power iteration in every training forward: each micro-batch starts
            # from the same vectors, as each process does, so K micro-batches update them once
            power = {k: v.clone() for k, v in nets.discriminator.state_dict().items() if k.endswith(("_u", "_v"))}
            loss_d = 0.0
            for j, (real, fake) in enumerate(fakes):
                if j:
                    nets.discriminator.load_state_dict(power, strict=False)
                with self._sync(self._dis_step, j == K - 1):
                    loss_j = self._dis_step(real, fake)
                    (loss_j / K).backward()
                loss_d = loss_d + loss_j.detach() / K
            if _all_ranks(_all_finite(self.dis_params) and bool(torch.isfinite(loss_d)), self.world):
                self.opt_d.step()
            else:
                skipped = 1.0
                logger.warning("step %d: non-finite discriminator loss or gradients, discriminator update skipped",
                               self.step)
            self.opt_d.zero_grad(set_to_none=True)
            values["dis"] = float(loss_d.detach())
        self._set_trainable(True, True)
        values = _mean_over_ranks(values, self.world)
        values["skipped"] = skipped
        self.step += 1
        self.history.append(values)
        if self.monitor is not None:
            self.monitor.step(self, values, fw)
        return values

    def _sync(self, module: nn.Module, last: bool):
        """DDP's gradient reduction only at the last micro-batch of a step (``no_sync`` before it)."""
        if self.world > 1 and not last:
            return module.no_sync()
        return contextlib.nullcontext()

    # ------------------------------------------------------------------ data
    def batch_indices(self, dataset_len: int, step: int, micro: int = 0) -> list[tuple[int, int]]:
        """(epoch, index) of this rank's items at ``step`` (micro-batch ``micro`` of an accumulated
        step): epochs are seeded permutations, read in the order of (step, rank, micro-batch)."""
        B, K, out = self.config.batch_size, self.config.accumulate, []
        for k in range(B):
            pos = ((step * self.world + self.rank) * K + micro) * B + k
            epoch = pos // dataset_len
            perm = torch.randperm(dataset_len, generator=torch.Generator().manual_seed(_mix_seed(self.config.seed, epoch, 2)))
            out.append((epoch, int(perm[pos % dataset_len])))
        return out

    def make_batch(self, dataset, step: int, micro: int = 0) -> dict[str, Tensor]:
        """The collated batch of ``step`` (micro-batch ``micro`` of it when ``config.accumulate`` > 1),
        deterministic in ``(seed, step, micro)``."""
        if len(dataset) == 0:
            raise InputError("the training dataset is empty")
        items = []
        n = len(dataset)
        for epoch, index in self.batch_indices(n, step, micro):
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)
            for attempt in range(n):  # a bad sample is skipped for the next one (deterministically)
                j = (index + attempt) % n
                item, why, detail = _load_item(dataset, j)
                if item is not None:
                    items.append(item)
                    break
                self.skipped_samples[why] = self.skipped_samples.get(why, 0) + 1
                logger.warning("step %d: skipped sample %d (%s: %s); %d skipped so far", step, j, why, detail,
                               sum(self.skipped_samples.values()))
            else:
                raise InputError(f"no usable sample in the training dataset ({n} tried; last: {why}: {detail})")
        return collate(items)

    def fit(self, dataset, steps: Optional[int] = None, *, progress: bool = True) -> list[dict[str, float]]:
        """Train until ``self.step == steps`` (default ``config.steps``), checkpointing every
        ``config.checkpoint_every`` steps and at the end. Returns the history of this call."""
        from tqdm.auto import tqdm

        end = self.config.steps if steps is None else int(steps)
        start = self.step
        every = self.config.checkpoint_every
        if self.rank == 0 and end > start:
            from rome_smplx.trainers.monitor import RunMonitor

            self.monitor = RunMonitor(self, self.validation_batch() if self.config.val_every else None)
        bar = tqdm(range(start, end), desc="train rome", unit="step", disable=not progress or self.rank != 0)
        t0 = time.perf_counter()
        try:
            for _ in bar:
                micro = [self.make_batch(dataset, self.step, j) for j in range(self.config.accumulate)]
                values = self.train_step(micro[0] if len(micro) == 1 else micro)
                bar.set_postfix(total=f"{values['total']:.4f}", dis=f"{values.get('dis', 0.0):.4f}")
                if self.step % 10 == 0 or self.step == end:
                    logger.info("step %d: %s", self.step, ", ".join(f"{k} {v:.5g}" for k, v in values.items()))
                if every and self.step % every == 0 and self.step != end:
                    self.save_checkpoint()
            if end > start:
                self.save_checkpoint()
                logger.info("%d steps in %.1f s (%.3f s/step, %d process(es), global batch %d)", end - start,
                            time.perf_counter() - t0, (time.perf_counter() - t0) / (end - start), self.world,
                            self.world * self.config.batch_size * self.config.accumulate)
        finally:
            if self.monitor is not None:
                self.monitor.close()
                self.monitor = None
        return self.history[len(self.history) - (end - start) if end > start else len(self.history):]

    def validation_batch(self) -> dict[str, Tensor]:
        """The held-out pairs of ``val_seeds`` / ``val_data_dir`` (``val_pairs`` of them, evenly
        spread over the dataset), collated."""
        from rome_smplx.trainers.datasets import FramePairsDataset, SyntheticVideoDataset

        c = self.config
        if c.val_data_dir is not None:
            ds = FramePairsDataset(c.val_data_dir, image_size=c.image_size, seed=c.seed)
        elif c.val_seeds is not None:
            seeds = range(*c.val_seeds)
            ds = SyntheticVideoDataset(self.assets.root, seeds=seeds, frames=c.frames, image_size=c.image_size,
                                       mode=c.mode, tracking_noise=c.tracking_noise, seed=c.seed,
                                       cache_subjects=len(seeds), cache_frames=0)
        else:
            raise InputError("validation needs 'val_seeds' or 'val_data_dir' in the config")
        n = len(ds)
        if n == 0:
            raise InputError("the validation dataset is empty")
        picks = sorted({round(i * (n - 1) / max(1, c.val_pairs - 1)) for i in range(min(c.val_pairs, n))})
        items = [it for it in (_load_item(ds, i)[0] for i in picks) if it is not None]
        if not items:
            raise InputError("no readable pair in the validation dataset")
        return collate(items)

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_dir(self, step: Optional[int] = None) -> Path:
        return Path(self.config.output_dir) / f"step_{self.step if step is None else step:07d}"

    def save_checkpoint(self, path: Optional[str | os.PathLike] = None) -> Optional[Path]:
        """Write ``networks.safetensors`` (+ ``.json``), ``optimizers.pt``, ``config.json`` and
        ``state.json`` into a folder (default ``output_dir/step_NNNNNNN``), atomically. Rank 0 only."""
        from rome_smplx.io.atomic import atomic_dir, atomic_path
        from rome_smplx.io.checkpoints import write_json_atomic
        from rome_smplx.models.rome import save

        digests = rank_digests(self.head.networks, self.world)  # a collective under torchrun
        if len(set(digests)) > 1:
            logger.error("step %d: the ranks' networks differ (SHA-256 per rank: %s)", self.step, digests)
        if self.rank != 0:
            return None
        folder = Path(path) if path is not None else self.checkpoint_dir()
        with atomic_dir(folder) as tmp:
            save(self.head.networks, tmp / "networks.safetensors")
            with atomic_path(tmp / "optimizers.pt") as f:
                torch.save({"opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict()}, f)
            self.config.save_json(tmp / "config.json")
            write_json_atomic({"format": CHECKPOINT_FORMAT, "step": self.step,
                               "last_losses": self.history[-1] if self.history else {},
                               "skipped_samples": dict(self.skipped_samples),
                               "skipped_steps": self.skipped_steps, "world_size": self.world,
                               "rank_weights_sha256": digests}, tmp / "state.json")
        logger.info("checkpoint written to %s (step %d)", folder, self.step)
        return folder

    @staticmethod
    def _warm_start(networks, path: Path) -> None:
        """Fill ``networks`` from a networks file (config ``init_weights``): our ``.safetensors`` (the
        discriminator too when the file has one) or the released ``rome.pth`` (generators only)."""
        from rome_smplx.io.checkpoints import fill_module
        from rome_smplx.models.rome import load, load_official

        if not path.exists():
            raise InputError(f"config 'init_weights': {path} does not exist (expected a networks .safetensors "
                             "or the released rome.pth)")
        if path.suffix in (".pth", ".pt", ".ckpt"):
            # the released rome.pth (fine-tuning): its four generator networks, a fresh discriminator
            nets = load_official(path, networks.profile.name, size=networks.profile.size)
            for name in ("autoencoder", "mesh_deformer", "mlp_deformer", "unet"):
                fill_module(getattr(networks, name), getattr(nets, name).state_dict(), path, prefix=f"{name}.")
            logger.info("warm start from the released networks in %s (discriminator: new)", path)
            return
        nets = load(path)
        if nets.profile != networks.profile:
            raise CheckpointError(f"{path}: its network profile differs from this run's (config 'init_weights' "
                                  "needs the same profile, size and profile_options)")
        for name, module in networks.named_children():
            src = getattr(nets, name, None)
            if src is not None:
                fill_module(module, src.state_dict(), path, prefix=f"{name}.")
            elif name != "discriminator":
                raise CheckpointError(f"{path}: has no '{name}' networks")
        logger.info("warm start from %s", path)

    def resume(self, path: str | os.PathLike) -> "RomeTrainer":
        """Load networks, optimiser states and step from a checkpoint folder of :meth:`save_checkpoint`."""
        from rome_smplx.io.checkpoints import fill_module, safe_torch_load
        from rome_smplx.models.rome import load

        t0 = time.perf_counter()
        folder = Path(path)
        state_file = folder / "state.json"
        if not state_file.is_file():
            raise CheckpointError(f"{folder}: not a trainer checkpoint (no state.json)")
        try:
            state = json.loads(state_file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{state_file}: unreadable ({exc})") from None
        if state.get("format") != CHECKPOINT_FORMAT or not isinstance(state.get("step"), int):
            raise CheckpointError(f"{state_file}: expected format '{CHECKPOINT_FORMAT}' with an integer 'step'")
        nets = load(folder / "networks.safetensors")
        if nets.profile != self.head.networks.profile:
            raise CheckpointError(f"{folder}: the checkpoint's network profile differs from this trainer's config")
        fill_module(self.head.networks, nets.state_dict(), folder / "networks.safetensors")
        opt = safe_torch_load(folder / "optimizers.pt", map_location=self.device)
        if not isinstance(opt, dict) or "opt_g" not in opt or "opt_d" not in opt:
            raise CheckpointError(f"{folder / 'optimizers.pt'}: expected keys 'opt_g' and 'opt_d'")
        try:
            self.opt_g.load_state_dict(opt["opt_g"])
            self.opt_d.load_state_dict(opt["opt_d"])
        except (ValueError, KeyError) as exc:
            raise CheckpointError(f"{folder / 'optimizers.pt'}: does not fit these networks ({exc}; a run "
                                  "resumes with the lr_geom setting it was started with)") from None
        for group, base in zip(self.opt_g.param_groups, self._g_base_lrs):  # this config's rates
            group["base_lr"] = base
        self.step = state["step"]
        self.skipped_samples = dict(state.get("skipped_samples", {}))
        self.skipped_steps = int(state.get("skipped_steps", 0))
        logger.info("resumed from %s at step %d in %.2f s", folder, self.step, time.perf_counter() - t0)
        return self

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, assets: Any, **overrides: Any) -> "RomeTrainer":
        """A trainer with the checkpoint's config (fields in ``overrides`` replaced), resumed."""
        config = RomeTrainConfig.from_json(Path(path) / "config.json")
        if overrides:
            config = config.replace(**overrides)
        return cls(config, assets).resume(path)


def _load_item(dataset, index: int) -> tuple[Optional[dict[str, Tensor]], str, str]:
    """``(item, "", "")``, or ``(None, "unreadable" | "non-finite", detail)`` for a bad sample."""
    try:
        item = dataset[index]
    except (InputError, OSError, ValueError, KeyError) as exc:
        return None, "unreadable", str(exc)
    for k, v in item.items():
        if isinstance(v, Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all()):
            return None, "non-finite", k
    return item, "", ""


def latest_checkpoint(output_dir: str | os.PathLike) -> Optional[Path]:
    """The newest complete ``step_NNNNNNN`` checkpoint folder in ``output_dir`` (``None`` if none)."""
    root = Path(output_dir)
    if not root.is_dir():
        return None
    done = [p for p in root.glob("step_*") if p.is_dir() and (p / "state.json").is_file()]
    return max(done, key=lambda p: p.name) if done else None


def build_dataset(config: RomeTrainConfig, assets_dir: str | os.PathLike):
    """The run's dataset (``config.data``): :class:`FramePairsDataset` on ``config.data_dir``, the
    synthetic video world on the seed range ``config.seeds``, or the synthetic people."""
    from rome_smplx.trainers.datasets import FramePairsDataset, SyntheticPeopleDataset, SyntheticVideoDataset

    if config.data == "frames":
        return FramePairsDataset(config.data_dir, image_size=config.image_size, seed=config.seed)
    if config.data == "video":
        seeds = range(*config.seeds)
        return SyntheticVideoDataset(assets_dir, seeds=seeds, frames=config.frames, image_size=config.image_size,
                                     mode=config.mode, tracking_noise=config.tracking_noise, seed=config.seed,
                                     cache_subjects=len(seeds), cache_frames=len(seeds) * config.frames)
    return SyntheticPeopleDataset(assets_dir, image_size=config.image_size)


def _resume_from(config: RomeTrainConfig, resume: Optional[str]) -> Optional[Path]:
    """The checkpoint folder a run starts from: ``resume`` itself, the newest in the output folder for
    ``"latest"`` (``None`` when there is none yet), or ``None``."""
    if resume == "latest":
        return latest_checkpoint(config.output_dir)
    return None if resume is None else Path(resume)


def describe_run(config: RomeTrainConfig, assets_dir: Optional[str | os.PathLike] = None, *,
                 resume: Optional[str] = None) -> dict[str, Any]:
    """What :func:`train_from_config` would do, without building networks or training
    (``rome-smplx train rome --dry-run``): the resolved config, the assets, the data found and the
    checkpoint a resume would start from."""
    from rome_smplx.assets import Assets

    config.validate()
    assets = Assets.from_dir(assets_dir) if assets_dir is not None else Assets.discover()
    ds = build_dataset(config, assets.root)
    data: dict[str, Any] = {"kind": config.data or "people", "class": type(ds).__name__, "items": len(ds)}
    if config.data == "video":
        data.update(seeds=list(config.seeds), frames=config.frames, mode=config.mode,
                    tracking_noise=config.tracking_noise)
    elif config.data == "frames":
        data.update(folder=str(config.data_dir))
    start = _resume_from(config, resume)
    return {"config": config.to_dict(), "assets": str(assets.root), "data": data,
            "resume_from": None if start is None else str(start),
            "warm_start_from": None if start is not None else config.init_weights,
            "steps_per_epoch": max(1, len(ds) // config.batch_size)}


def train_from_config(
    config: RomeTrainConfig, assets_dir: Optional[str | os.PathLike] = None, *, resume: Optional[str] = None
) -> RomeTrainer:
    """Run a whole training from a config (what ``rome-smplx train rome`` does).

    ``assets_dir`` defaults to ``$ROME_SMPLX_ASSETS`` or the synthetic stand-ins.
    """
    from rome_smplx.trainers.distributed import init_from_env, rank_world, shutdown_if_started

    from rome_smplx.assets import Assets

    t0 = time.perf_counter()
    started = rank_world()[1] == 1
    device = init_from_env(config.device)
    started = started and rank_world()[1] > 1
    if device != config.device:
        config = config.replace(device=device)
    assets = Assets.from_dir(assets_dir) if assets_dir is not None else Assets.discover()
    if config.threads:
        torch.set_num_threads(config.threads)
    asked, resume = resume, _resume_from(config, resume)
    if asked == "latest" and resume is None:
        logger.info("no checkpoint in %s yet: starting from step 0", config.output_dir)
    profile = None
    if resume is not None:
        # continue with the networks' own profile (checkpoints written before a profile gained new
        # switches keep the behaviour they were trained with)
        from rome_smplx.models.rome import load as load_nets

        profile = load_nets(Path(resume) / "networks.safetensors").profile
    trainer = RomeTrainer(config, assets, profile=profile)
    if resume is not None:
        trainer.resume(resume)
    dataset = build_dataset(config, assets.root)
    logger.info("ready to train at step %d after %.2f s (networks, data%s)", trainer.step,
                time.perf_counter() - t0, ", checkpoint" if resume is not None else "")
    try:
        trainer.fit(dataset, config.steps)
    finally:
        shutdown_if_started(started)
    return trainer
