"""Self-driving PSNR / SSIM of one ROME checkpoint on held-out synthetic subjects, for following a
training run without the three shipped models. The protocol is rome_smplx.evaluation's, the one of
benchmarks/learning.py and `rome-smplx eval` (face+hair mask, white background, tracking noise 0.5).
Prints one JSON object.

    python benchmarks/checkpoint_psnr.py runs/rome_synthetic_v3/step_0000800/networks.safetensors \
        [--seeds 0:12] [--grid out.png]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", help="networks.safetensors of a checkpoint (or a shipped model)")
    ap.add_argument("--seeds", default="0:12", help="held-out subject seeds A:B")
    ap.add_argument("--noise", type=float, default=0.5, help="tracking noise of the frames")
    ap.add_argument("--grid", default=None, help="write source | render | truth of the first 4 pairs here")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-offsets", action="store_true", help="render the bare FLAME mesh (the ablation's weights)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import torch

    torch.set_num_threads(args.threads)
    import rome_smplx as rs
    from rome_smplx.avatar.head import HeadAvatar
    from rome_smplx.evaluation import evaluate, synthetic_pairs

    a, b_ = (int(x) for x in args.seeds.split(":"))
    assets = rs.Assets.discover()
    # a checkpoint of the "w/o offsets" ablation renders the bare FLAME mesh (its trainer config says so)
    from pathlib import Path

    cfg = Path(args.weights).parent / "config.json"
    offsets = not args.no_offsets and (not cfg.is_file() or json.loads(cfg.read_text()).get("offsets", True))
    head = HeadAvatar.from_assets(assets, "full", weights=args.weights, backend="torch", offsets=offsets)
    S = head.image_size

    pairs = synthetic_pairs(assets, range(a, b_), mode="self", image_size=S, pairs_per_subject=1, frames=16,
                            tracking_noise=args.noise, seed=1234)
    report = evaluate({"rome": head}, pairs, metrics=("psnr", "ssim"), progress=False)
    P, Q = report.per_image["rome"]["psnr"], report.per_image["rome"]["ssim"]
    if args.grid:  # source | render | truth of the first batch
        from rome_smplx.trainers.datasets import flame_params_from_batch
        from torchvision.utils import make_grid

        from rome_smplx.io.images import save_image

        b = next(iter(pairs.batches()))
        with torch.no_grad():
            src, tgt = flame_params_from_batch(b, "source"), flame_params_from_batch(b, "target")
            r = head.render(head.reconstruct(b["source_image"], b["source_mask"], src), tgt)
        white = lambda img, m: img * m + (1 - m)
        pred, target = white(r.image.clamp(0, 1), r.mask), white(b["target_image"], b["target_mask"])
        save_image(args.grid, make_grid(torch.cat([b["source_image"], pred, target]), nrow=len(pred)))
    print(json.dumps({"benchmark": "checkpoint_psnr", "weights": args.weights, "offsets": bool(offsets), "seeds": [a, b_],
                      "tracking_noise": args.noise, "pairs": len(P), "psnr": round(statistics.mean(P), 3),
                      "ssim": round(statistics.mean(Q), 4)}))


if __name__ == "__main__":
    main()
