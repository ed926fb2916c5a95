"""Merge + pose of full-body avatars against a bare SMPL-X forward of the same batch. Prints ONE JSON object.

* ``merge_over_smplx``: time of ``rs.merge`` (which returns the avatars posed with the bodies' own
  parameters) over ``SmplxModel.forward`` on the same bodies, at batch 1, 16 and 64;
* ``merge_over_smplx_long_hair``: the same with long hair on ROME's neck vertices (the long-haired
  synthetic subjects' offsets), where every long neck offset is tested against the body;
* ``pose_over_smplx``: re-posing merged avatars with new SMPL-X parameters over the same forward;
* ``avatars_per_second``: merged and posed avatars per second at each batch size.

The ROME reconstruction (run once, outside the timings) is the linear variant on the synthetic people;
the batch tiles them with perturbed body shapes. For every repetition the three measurements run in a
rotating order within one process, and medians are reported, so load from other processes affects
every side of a ratio alike. Everything runs under ``torch.no_grad`` on CPU, on the asset folder
:meth:`Assets.discover` finds (the synthetic stand-ins by default).

Usage::

    python benchmarks/merge.py [--reps 15] [--threads 1] [--batches 1 16 64]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15, help="rotating repetitions per batch size (after warm-up)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from rome_smplx.bridges import deca, pixie

    import rome_smplx as rs
    from rome_smplx.geometry.rotations import axis_angle_to_matrix
    from rome_smplx.io.images import load_image, load_mask
    from rome_smplx.models.smplx_body import SmplxModel
    from rome_smplx.types import SmplxParams

    assets = rs.Assets.discover()
    head = rs.HeadAvatar.from_assets(assets, variant="linear", size="small", image_size=64, backend="torch")
    people = sorted((assets.root / "people").glob("person_*"))
    if not people:
        raise SystemExit(f"no people/ folder in {assets.root}: run `rome-smplx assets synth` first")
    g = torch.Generator().manual_seed(0)
    recons, bodies = [], []
    with torch.no_grad():
        for folder in people:
            name = folder.name
            recons.append(head.reconstruct(load_image(folder / "photo_256.png"), load_mask(folder / "mask_256.png"),
                                           deca.load(folder / f"{name}_deca.pkl")))
            bodies.append(pixie.to_y_up(pixie.load(folder / f"{name}_param.pkl")))
    model = SmplxModel.from_assets(assets)
    # long hair on ROME's neck vertices (the synthetic subjects' true offsets): every neck offset is tested
    from rome_smplx.assets.synthetic.video import SyntheticSubject

    long_offsets = [SyntheticSubject.from_seed(s, assets, family="long").offsets[None] for s in range(4)]

    def batch_of(B: int):
        idx = torch.arange(B) % len(people)
        rec = [recons[int(i)] for i in idx]
        recon = rec[0].index(torch.zeros(B, dtype=torch.long))
        recon = type(recon)(**{**recon.__dict__, "texture": torch.cat([r.texture for r in rec]),
                               "offsets": torch.cat([r.offsets for r in rec]),
                               "vertices": torch.cat([r.vertices for r in rec]),
                               "flame": type(rec[0].flame)(
                                   shape=torch.cat([r.flame.shape for r in rec]),
                                   expression=torch.cat([r.flame.expression for r in rec]),
                                   cam=torch.cat([r.flame.cam for r in rec]))})
        bs = [bodies[int(i)] for i in idx]
        body = SmplxParams(
            betas=torch.cat([b.betas for b in bs]) + 0.1 * torch.randn(B, bs[0].betas.shape[1], generator=g),
            expression=torch.cat([b.expression for b in bs]),
            global_orient=torch.cat([b.global_orient for b in bs]), body_pose=torch.cat([b.body_pose for b in bs]),
            jaw_pose=torch.cat([b.jaw_pose for b in bs]), left_hand_pose=torch.cat([b.left_hand_pose for b in bs]),
            right_hand_pose=torch.cat([b.right_hand_pose for b in bs]))
        motion = SmplxParams(
            betas=body.betas, expression=0.3 * torch.randn(B, 50, generator=g),
            body_pose=axis_angle_to_matrix(0.3 * torch.randn(B, 21, 3, generator=g)),
            global_orient=body.global_orient)
        long_recon = type(recon)(**{**recon.__dict__, "offsets": torch.cat([long_offsets[int(i) % 4] for i in idx])})
        return recon, long_recon, body, motion

    out: dict = {
        "device": "cpu",
        "threads": args.threads,
        "reps": args.reps,
        "num_vertices": int(assets.num_smplx_vertices),
        "num_head_vertices": int(assets.num_flame_vertices),
        "synthetic_assets": bool(assets.is_synthetic),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "merge_over_smplx": {},
        "merge_over_smplx_long_hair": {},
        "pose_over_smplx": {},
        "avatars_per_second": {},
        "median_s": {},
    }
    with torch.no_grad():
        for B in args.batches:
            recon, long_recon, body, motion = batch_of(B)
            avatar = rs.merge(recon, body, assets)
            fns = {
                "smplx": lambda body=body: model(body),
                "merge": lambda recon=recon, body=body: rs.merge(recon, body, assets),
                "merge_long_hair": lambda recon=long_recon, body=body: rs.merge(recon, body, assets),
                "pose": lambda avatar=avatar, motion=motion: avatar.pose(motion),
            }
            for fn in fns.values():  # warm-up (builds and caches the rig)
                fn()
                fn()
            times: dict[str, list[float]] = {k: [] for k in fns}
            names = list(fns)
            for r in range(args.reps):
                order = names[r % len(names):] + names[: r % len(names)]
                for k in order:
                    times[k].append(_timed(fns[k]))
            med = {k: statistics.median(v) for k, v in times.items()}
            key = f"batch{B}"
            out["merge_over_smplx"][key] = round(med["merge"] / med["smplx"], 3)
            out["merge_over_smplx_long_hair"][key] = round(med["merge_long_hair"] / med["smplx"], 3)
            out["pose_over_smplx"][key] = round(med["pose"] / med["smplx"], 3)
            out["avatars_per_second"][key] = round(B / med["merge"], 1)
            out["median_s"][key] = {k: round(v, 5) for k, v in med.items()}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
