"""Distil the linear hair/neck model on synthetic people and load the result into a linear HeadAvatar.

    python demos/distill_linear.py --out distill_demo --people 8 --steps 60 --size 64

Steps: write a synthetic asset folder with ``--people`` people (their true basis coefficients are in
``truth.npz``), train the ResNet-50 regressor on (photo, true coefficients) with the MSE + 2D Chamfer
losses, export ``linear_hair.pth`` / ``u_full.pt`` / ``mean_deform.pt`` into ``OUT/export``, build
``HeadAvatar.from_assets(..., variant="linear", linear_weights=...)`` from the export and compare
its offsets on person 0 with the truth. Writes ``OUT/summary.json``. The same run is available as
``rome-smplx train linear --config CFG.yaml`` (see ``OUT/config.yaml``, written here).

With a handful of synthetic people this shows the machinery working (the training loss falls); a
regressor that generalises needs a real dataset and a full-model teacher (``teacher: full``).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch


def run(out: Path, people: int = 8, steps: int = 60, size: int = 64, assets_dir: Path | None = None, seed: int = 0) -> dict:
    import numpy as np
    import yaml
    from rome_smplx.bridges import deca
    from rome_smplx.trainers.distill import LinearDistillConfig, LinearDistiller

    import rome_smplx as rs
    from rome_smplx.assets.synthetic import write_synthetic_assets
    from rome_smplx.io.images import load_image, load_mask

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if assets_dir is None:
        assets_dir = out / "assets"
        if not (assets_dir / "people").is_dir():
            write_synthetic_assets(assets_dir, seed=seed, people=people)
    config = LinearDistillConfig(assets=str(assets_dir), steps=steps, image_size=size, batch_size=min(8, people),
                                 lr=3e-5, seed=seed, out=str(out / "run"), log_every=10)
    (out / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=True))
    torch.manual_seed(seed)
    assets = rs.Assets.from_dir(assets_dir)
    distiller = LinearDistiller.from_config(config, assets)
    before = distiller.evaluate()
    history = distiller.train()
    after = distiller.evaluate()
    files = distiller.export_linear_hair(out / "export" / "linear_hair.pth")

    head = rs.HeadAvatar.from_assets(assets, variant="linear", linear_weights=str(files["linear_hair"]),
                                     size="small", image_size=size, backend="torch")
    person = min((Path(assets_dir) / "people").iterdir())
    with torch.no_grad():
        recon = head.reconstruct(load_image(person / "photo_256.png"), load_mask(person / "mask_256.png"),
                                 deca.load(next(person.glob("*_deca.pkl"))))
    with np.load(person / "truth.npz") as z:
        true_offsets = torch.as_tensor(z["offsets"], dtype=torch.float32)
    deform = head.deform_mask > 0
    err = (recon.offsets[0] - true_offsets).norm(dim=-1)[deform].mean().item()
    n = min(5, max(1, len(history) // 2))
    summary = {
        "people": len(distiller.data),
        "steps": distiller.step,
        "train_coeff_mse_first5": float(np.mean([h["coeffs"] for h in history[:n]])),
        "train_coeff_mse_last5": float(np.mean([h["coeffs"] for h in history[-n:]])),
        "eval_before": before,
        "eval_after": after,
        "head_avatar_offset_error_person0": err,
        "files": {k: str(v) for k, v in files.items()},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("distill_demo"))
    ap.add_argument("--people", type=int, default=8)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--size", type=int, default=64, help="regressor input size (ROME: 256)")
    ap.add_argument("--assets", type=Path, default=None, help="asset folder with people/ (default: written under OUT)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    summary = run(args.out, args.people, args.steps, args.size, args.assets)
    logging.getLogger("distill_linear").info("%s", json.dumps(summary))


if __name__ == "__main__":
    main()
