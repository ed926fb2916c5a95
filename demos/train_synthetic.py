"""Train the small ROME profile on the synthetic people for a few dozen steps; write before/after renders.

    python demos/train_synthetic.py --out train_demo --steps 40 --size 96

Writes ``OUT/before_after.png`` (target | render before training | render after), ``OUT/losses.json``
and the checkpoints under ``OUT/checkpoints``. The synthetic people give self-reconstruction pairs
(see :class:`rome_smplx.trainers.SyntheticPeopleDataset`); the VGG of the perceptual loss is random
(no weights ship), so this shows the machinery working, not ROME's quality.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch


def _render(trainer, batch) -> torch.Tensor:
    with torch.no_grad():
        trainer.head.eval()
        fw = trainer.forward(batch, torch.Generator().manual_seed(0))
        r = fw["render"]
        return (r.image * r.mask + (1 - r.mask))[:1]


def run(out: Path, steps: int = 40, size: int = 96, assets_dir: Path | None = None, seed: int = 0) -> dict:
    from rome_smplx.trainers import RomeTrainConfig, RomeTrainer, SyntheticPeopleDataset

    from rome_smplx.assets.synthetic import default_dir
    from rome_smplx.io.images import save_image

    assets_dir = Path(assets_dir) if assets_dir is not None else default_dir()
    out = Path(out)
    config = RomeTrainConfig(size="small", image_size=size, batch_size=1, steps=steps, checkpoint_every=0, seed=seed,
                             lr_g=3e-4, output_dir=str(out / "checkpoints"), backend="torch")
    dataset = SyntheticPeopleDataset(assets_dir, image_size=size)
    trainer = RomeTrainer(config, assets_dir)
    batch = trainer.make_batch(dataset, 0)
    before = _render(trainer, batch)
    history = trainer.fit(dataset, steps)
    after = _render(trainer, batch)
    target = batch["target_image"][:1] * batch["target_mask"][:1] + (1 - batch["target_mask"][:1])
    out.mkdir(parents=True, exist_ok=True)
    save_image(out / "before_after.png", torch.cat([target, before, after], dim=-1).clamp(0, 1))
    summary = {
        "steps": steps, "image_size": size,
        "total_first5": sum(h["total"] for h in history[:5]) / max(1, len(history[:5])),
        "total_last5": sum(h["total"] for h in history[-5:]) / max(1, len(history[-5:])),
        "l1_before": float((before - target).abs().mean()), "l1_after": float((after - target).abs().mean()),
    }
    (out / "losses.json").write_text(json.dumps({"summary": summary, "history": history}, indent=1))
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("train_demo"))
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--size", type=int, default=96, help="training resolution (multiple of 16)")
    ap.add_argument("--assets", type=Path, default=None, help="synthetic asset folder (default: the cached one)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    summary = run(args.out, args.steps, args.size, args.assets)
    logging.getLogger("train_synthetic").info("%s", json.dumps(summary))


if __name__ == "__main__":
    main()
