"""A long-haired synthetic subject merged onto its SMPL-X body: the picture in docs/images.

    python demos/merge_long_hair.py [--out docs/images/merge_long_hair.png] [--seed 1] [--size 320]

Panels (left to right): front, three-quarter back and side views of the merged avatar (the subject's
skin and hair colours, Lambert-shaded), then a three-quarter front view coloured by what the merge did:
grey where the body is SMPL-X's, orange where it is ROME's head (the seam weight), blue where a neck
vertex's offset was judged to carry hair. The hair is the subject's true offsets (the curtain lies on
ROME's neck vertices), so the picture shows the merge itself, not a network's estimate.
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

import torch

log = logging.getLogger("merge_long_hair")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images/merge_long_hair.png"))
    parser.add_argument("--seed", type=int, default=1, help="SyntheticSubject seed (family 'long')")
    parser.add_argument("--size", type=int, default=320, help="side of each panel")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    import rome_smplx as rs
    from rome_smplx.assets.synthetic.video import SyntheticSubject
    from rome_smplx.avatar.merge import PART_BODY, PART_HAIR
    from rome_smplx.io.images import save_image
    from rome_smplx.render.full_body import OrthographicCamera
    from rome_smplx.types import FlameParams, HeadReconstruction, SmplxParams

    assets = rs.Assets.discover()
    subj = SyntheticSubject.from_seed(args.seed, assets, family="long")
    data = assets.rome_data()
    N = assets.num_flame_vertices
    # The subject's truth as a reconstruction (no network is involved in the geometry).
    recon = HeadReconstruction(
        texture=torch.zeros(1, 8, 4, 4), offsets=subj.offsets[None], vertices=torch.zeros(1, N, 3),
        faces=data.faces, uv_faces=data.uv_faces, uvs=data.vertex_uvs,
        flame=FlameParams(shape=subj.shape[None], expression=torch.zeros(1, 50)),
    )
    b = subj.body
    body = SmplxParams(betas=torch.as_tensor(b["betas"], dtype=torch.float32)[None], expression=torch.zeros(1, 50),
                       body_pose=torch.as_tensor(b["body_pose"], dtype=torch.float32)[None],
                       left_hand_pose=torch.as_tensor(b["left_hand_pose"], dtype=torch.float32)[None],
                       right_hand_pose=torch.as_tensor(b["right_hand_pose"], dtype=torch.float32)[None])
    with torch.no_grad():
        avatar = rs.merge(recon, body, assets)
        parts = avatar.parts[0]
        skin = torch.as_tensor(subj.skin_rgb, dtype=torch.float32)
        hair = torch.as_tensor(subj.hair_rgb, dtype=torch.float32)
        colors = torch.where((parts == PART_HAIR)[:, None], hair, skin)
        seam = avatar.seam_weights[0, :, None]
        grey, orange, blue = (torch.tensor(c) for c in ((0.7, 0.7, 0.7), (0.95, 0.55, 0.15), (0.2, 0.45, 0.9)))
        what = grey * (1 - seam) + orange * seam
        neck_hair = torch.zeros_like(seam[:, 0])
        neck_hair[avatar.rig.corr[avatar.rig.neck_index]] = avatar.hair_weights[0]
        what = what * (1 - neck_hair[:, None]) + blue * neck_hair[:, None]
        y = avatar.vertices[0, :, 1]
        chin = float(y[parts != PART_BODY].min())
        upper = avatar.vertices[:, y > chin - 0.22]
        panels = []
        for side, cols in ((0.0, colors), (math.radians(145), colors), (math.radians(90), colors),
                           (math.radians(70), what)):
            cam = OrthographicCamera.framing(upper, side=side, margin=1.1)
            panels.append(avatar.render(cam, "shaded", image_size=args.size, body_colors=cols).image)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_image(args.out, torch.cat(panels, dim=3))
    log.info("wrote %s: %d neck vertices carry hair (%d of ROME's neck list), seam band over %d body vertices",
             args.out, int((avatar.hair_weights >= 0.5).sum()), int(avatar.rig.neck_index.numel()),
             int(((avatar.seam_weights > 0) & (avatar.seam_weights < 1)).sum()))


if __name__ == "__main__":
    main()
