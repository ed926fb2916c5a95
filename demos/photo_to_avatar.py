"""A real photo to an animated full-body avatar: landmarks, alignment, FLAME fit, ROME head, merge
onto a PIXIE SMPL-X body, renders, and a short animation.

    python demos/photo_to_avatar.py --out photo_avatar                     # astronaut + synthetic body
    python demos/photo_to_avatar.py --image me.jpg --pixie me_param.pkl --motion walk.npz --out me_avatar

Without ``--image`` the photo is scikit-image's astronaut; without ``--pixie`` the body is the
synthetic person of the asset folder (``people/person_000``); without ``--motion`` the avatar waves.
Needs the ``landmarks`` extra (mediapipe). The same steps are ``rome-smplx avatar`` and
``rome-smplx animate``.
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

import torch

log = logging.getLogger("photo_to_avatar")


def _wave(params, frames: int, fps: float):
    """A motion that lowers both arms from the T-pose and waves the right forearm."""
    from rome_smplx.geometry.rotations import axis_angle_to_matrix
    from rome_smplx.io.motion import Motion

    T = frames
    t = torch.arange(T, dtype=torch.float32) * (2 * math.pi / max(T, 1))
    body = params.body_pose.expand(T, -1, -1, -1).clone()
    zeros = torch.zeros(T)
    # body_pose index = SMPL-X joint - 1: shoulders 16/17 -> 15/16, right elbow 19 -> 18.
    body[:, 15] = axis_angle_to_matrix(torch.stack([zeros, zeros, zeros - 1.1], 1))
    body[:, 16] = axis_angle_to_matrix(torch.stack([zeros, zeros, 0.9 - 0.4 * torch.sin(t)], 1))
    body[:, 18] = axis_angle_to_matrix(torch.stack([zeros, -1.2 - 0.5 * torch.sin(2 * t), zeros], 1))
    seq = params.index(torch.zeros(T, dtype=torch.long))
    seq.body_pose = body
    return Motion(seq, fps, "wave")


def main() -> None:
    import numpy as np
    from PIL import Image

    import rome_smplx as rs
    from rome_smplx.io.motion import load_motion, resample
    from rome_smplx.pipeline import reconstruct_photo, write_animation, write_avatar

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("photo_avatar"), help="output folder")
    ap.add_argument("--image", type=Path, default=None, help="photo (default: scikit-image's astronaut)")
    ap.add_argument("--pixie", type=Path, default=None, help="PIXIE _param.pkl (default: synthetic person_000)")
    ap.add_argument("--mask", type=Path, default=None, help="matte of the photo (default: mediapipe)")
    ap.add_argument("--deca", type=Path, default=None, help="DECA code dict (default: landmark fit)")
    ap.add_argument("--assets", type=Path, default=None, help="asset folder (default: discover)")
    ap.add_argument("--variant", choices=("linear", "full"), default="linear")
    ap.add_argument("--motion", type=Path, default=None, help="motion .npz or PIXIE folder (default: a wave)")
    ap.add_argument("--fps", type=float, default=30.0, help="animation frame rate")
    ap.add_argument("--frames", type=int, default=12, help="frames of the default wave")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    assets = rs.Assets.from_dir(args.assets) if args.assets is not None else rs.Assets.discover()
    args.out.mkdir(parents=True, exist_ok=True)
    image = args.image
    if image is None:
        from skimage import data

        image = args.out / "astronaut.png"
        Image.fromarray(np.asarray(data.astronaut())).save(image)
    pixie_param = args.pixie or assets.root / "people" / "person_000" / "person_000_param.pkl"

    result = reconstruct_photo(image, pixie_param=pixie_param, assets=assets, mask_path=args.mask,
                               deca_path=args.deca, variant=args.variant)
    if result.fit is not None:
        log.info("FLAME landmark fit: mean error %.2f px on the 256 px crop", float(result.fit.error_px[0]))
    write_avatar(result, args.out / "avatar.glb", render_dir=args.out / "renders")

    if args.motion is not None:
        motion = resample(load_motion(args.motion, fps=args.fps), args.fps)
    else:
        motion = _wave(result.avatar.params, args.frames, args.fps)
    write_animation(result.avatar, motion, args.out / "animation")
    log.info("wrote %s (avatar.glb, renders/, animation/)", args.out)


if __name__ == "__main__":
    main()
