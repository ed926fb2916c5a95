"""docs/images/synthetic_video.png: 6 synthetic subjects (one per row, families named) x 5 frames of their videos.

Usage::

    python demos/synthetic_video_picture.py [--out docs/images/synthetic_video.png] [--size 160]
"""

from __future__ import annotations

import argparse
from pathlib import Path

FAMILIES = ("long", "bob", "curly", "fringe", "bun", "ponytail")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/images/synthetic_video.png"))
    ap.add_argument("--size", type=int, default=160)
    args = ap.parse_args()
    import numpy as np
    import torch
    from PIL import Image, ImageDraw

    import rome_smplx as rs
    from rome_smplx.assets.synthetic.video import SPLITS, SyntheticSubject

    assets = rs.Assets.discover()
    rows = []
    for i, fam in enumerate(FAMILIES):
        subj = SyntheticSubject.from_seed(SPLITS["test"][100 + i], assets, family=fam)
        frames = subj.walk(41)[::10]  # 5 frames, 10 apart
        imgs = [f.image for f in subj.render(frames, args.size)]
        row = (torch.cat(imgs, 2).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
        im = Image.fromarray(row)
        d = ImageDraw.Draw(im)
        d.text((4, 4), f"{fam} (seed {subj.seed})", fill=(0, 0, 0))
        rows.append(np.asarray(im))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, 0)).save(args.out)


if __name__ == "__main__":
    main()
