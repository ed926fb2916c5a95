"""Watching a ROME training run (rank 0 only): per-step losses in ``metrics.jsonl``, TensorBoard
scalars and image grids, and validation metrics on held-out pairs at an interval.

* ``output_dir/metrics.jsonl``: one line per step, ``{"step": n, "train": {loss: value}}``, and one
  per validation, ``{"step": n, "val": {"psnr": .., "ssim": .., "mask_dice": .., "pairs": ..}}``.
  Always written (no extra needed); a resumed run first drops the lines after its checkpoint.
* ``output_dir/tensorboard/``: the same scalars (``train/<loss>``, ``val/<metric>``) and, every
  ``image_every`` steps, a grid of the first pairs of the batch: source | target | render | mask |
  offsets (the offset length on the rendered mesh, white = ``OFFSET_SCALE``). Needs the
  ``tensorboard`` package (in the ``dev`` extra); without it a warning is logged once and the rest
  of the monitoring goes on.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Optional

import torch
from torch import Tensor

logger = logging.getLogger(__name__)

__all__ = ["GRID_COLUMNS", "OFFSET_SCALE", "RunMonitor", "image_grid", "read_metrics"]

#: Columns of the image grid, left to right.
GRID_COLUMNS = ("source", "target", "render", "mask", "offsets")
#: Offset length shown as white in the grid's offsets column (metres: 5 cm).
OFFSET_SCALE = 0.05
_GRID_ROWS = 4


def read_metrics(output_dir: str | Path) -> list[dict[str, Any]]:
    """The lines of ``output_dir/metrics.jsonl`` (``[]`` when there is none)."""
    p = Path(output_dir) / "metrics.jsonl"
    if not p.is_file():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


@torch.no_grad()
def offsets_image(trainer, fw: dict[str, Any]) -> Tensor:
    """(B, 3, S, S) grey image of the offset length on the rendered mesh (1.0 = ``OFFSET_SCALE``)."""
    from rome_smplx.render.raster import interpolate, rasterize

    S = trainer.config.image_size
    ndc = fw["ndc"].detach().float()
    faces = trainer.head.faces
    frags = rasterize(ndc, faces, (S, S), faces_per_pixel=1, backend=trainer.config.backend)
    length = fw["offsets"].detach().float().norm(dim=-1, keepdim=True) / OFFSET_SCALE
    img = interpolate(frags, length, faces)[..., 0, :]  # (B, S, S, 1)
    return img.clamp(0, 1).permute(0, 3, 1, 2).expand(-1, 3, -1, -1)


@torch.no_grad()
def image_grid(trainer, fw: dict[str, Any], rows: int = _GRID_ROWS) -> Tensor:
    """(3, rows * S, 5 * S) grid of :data:`GRID_COLUMNS` for the first ``rows`` pairs of a step."""
    b = fw["batch"]
    n = min(rows, b["source_image"].shape[0])
    cols = [b["source_image"][:n], b["target_image"][:n], fw["render"].image[:n],
            fw["render"].mask[:n].expand(-1, 3, -1, -1), offsets_image(trainer, fw)[:n]]
    cols = [c.detach().float().cpu().clamp(0, 1) for c in cols]
    return torch.cat([torch.cat([c[i] for c in cols], dim=2) for i in range(n)], dim=1)


class RunMonitor:
    """What rank 0 writes while :meth:`RomeTrainer.fit` runs (see the module's description)."""

    def __init__(self, trainer, val_batch: Optional[dict[str, Tensor]] = None) -> None:
        cfg = trainer.config
        self.config = cfg
        self.root = Path(cfg.output_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        self.metrics_path = self.root / "metrics.jsonl"
        self._truncate_after(trainer.step)
        self._file = open(self.metrics_path, "a", encoding="utf-8")
        self.val_batch = val_batch
        self.writer = None
        if cfg.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                logger.warning("tensorboard is not installed: no TensorBoard events for this run (pip install "
                               "tensorboard, or the 'dev' extra); losses still go to %s", self.metrics_path)
            else:
                self.writer = SummaryWriter(log_dir=str(self.root / "tensorboard"), purge_step=trainer.step + 1)

    def _truncate_after(self, step: int) -> None:
        """Drop the lines of steps after ``step`` (a run killed after its last checkpoint)."""
        if not self.metrics_path.is_file():
            return
        from rome_smplx.io.atomic import atomic_path

        lines = self.metrics_path.read_text().splitlines()
        keep = []
        for line in lines:
            try:
                if json.loads(line)["step"] <= step:
                    keep.append(line)
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a kill
        if len(keep) != len(lines):
            with atomic_path(self.metrics_path) as tmp:
                tmp.write_text("".join(line + "\n" for line in keep))

    def _write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def step(self, trainer, values: dict[str, float], fw: dict[str, Any]) -> None:
        """After a training step: losses, an image grid every ``image_every`` steps, validation
        every ``val_every`` steps."""
        s = trainer.step
        self._write({"step": s, "train": values})
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(f"train/{k}", v, s)
            every = self.config.image_every
            if every and (s % every == 0 or s == 1):
                self.writer.add_image("train/source|target|render|mask|offsets", image_grid(trainer, fw), s)
        every = self.config.val_every
        if every and s % every == 0 and self.val_batch is not None:
            metrics = validate(trainer, self.val_batch)
            self._write({"step": s, "val": metrics})
            logger.info("step %d validation: %s", s, ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
            if self.writer is not None:
                for k, v in metrics.items():
                    self.writer.add_scalar(f"val/{k}", v, s)

    def close(self) -> None:
        self._file.close()
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()


@torch.no_grad()
def validate(trainer, batch: dict[str, Tensor]) -> dict[str, float]:
    """PSNR / SSIM of the render on the target's mask and the Dice score of E_img's mask, averaged
    over the held-out pairs of ``batch`` (eval mode, fixed backgrounds, training RNG untouched)."""
    from rome_smplx.trainers.losses import dice_loss

    from rome_smplx.metrics.image import psnr, ssim

    head = trainer.head
    was_training = head.training
    head.eval()
    n = batch["source_image"].shape[0]
    bs = max(1, trainer.config.batch_size)
    sums = {"psnr": 0.0, "ssim": 0.0, "mask_dice": 0.0}
    try:
        with torch.random.fork_rng(devices=[]):
            for s in range(0, n, bs):
                part = {k: v[s:s + bs] for k, v in batch.items()}
                fw = trainer.forward(part, torch.Generator().manual_seed(0))
                img = fw["render"].image.float().clamp(0, 1)
                tgt = fw["batch"]["target_image"].float()
                mask = fw["batch"]["target_mask"].float()
                k = img.shape[0]
                sums["psnr"] += float(psnr(img, tgt, mask).sum())
                sums["ssim"] += float(ssim(img, tgt, mask).sum())
                sums["mask_dice"] += k * (1.0 - float(dice_loss(fw["render"].mask.float(), mask)))
    finally:
        head.train(was_training)
    out = {k: v / n for k, v in sums.items()}
    out["pairs"] = float(n)
    return out
