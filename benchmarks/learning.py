"""What the synthetic-trained models learned, measured on held-out synthetic subjects. Prints ONE JSON object.

On the subjects of ``--seeds A:B`` (default: the first 24 of the test split; they never overlap the
training range), with the tracked (noisy, DECA-sized) FLAME codes as the models' inputs and the
world's truth as the reference:

* ``offset_error_mm``: mean per-vertex L2 error of the hair+neck offsets over the deformable vertices
  (metres x 1000), for the full model, the linear model, the mean true offset of the training
  subjects (``mean``) and no offsets (``zero``); ``offset_error_reduction_vs_mean`` = 1 - model / mean.
* ``chamfer_mm``: symmetric surface-to-surface distance between the predicted and the true posed head
  (source frame), for ROME (FLAME + predicted offsets) and FLAME only (the paper's DECA row);
  ``chamfer_reduction_vs_flame``.
* ``self_driving`` / ``cross_driving``: PSNR and SSIM of the rendered target against the true render,
  per image over the target's face+hair mask (both composited on white by their masks), for ROME,
  the linear model, the "w/o offsets" ablation and the untrained (random-init) networks; and the
  ``ceiling``: the subject's *true* texture and offsets drawn by the world's own renderer at the
  tracked target codes (the source's tracked shape, as the heads take it; the target's light), the best a renderer driven by those codes can do
  without correcting the tracker (at ``--noise 0.5`` sub-pixel camera noise alone caps it near 19 dB).
* ``speedup_linear_over_full``: geometry-only time (E_tex + E_geom + G_geom vs regressor + basis),
  measured alternately in one run, batch 1.

Usage::

    python benchmarks/learning.py [--seeds 0:24] [--weights DIR] [--pairs 2] [--noise 0.5]

``--weights DIR`` reads ``rome_synthetic.safetensors``, ``rome_no_offsets.safetensors`` and
``linear_synthetic.safetensors`` from DIR (default: the shipped ones). ``--eval-only`` is accepted
for symmetry with the training scripts (this script never trains).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import statistics
import sys
import time
from pathlib import Path


def _seeds(text: str) -> range:
    a, b = (int(x) for x in text.split(":"))
    if not 0 <= a < b:
        raise SystemExit(f"--seeds: expected A:B with 0 <= A < B, found {text!r}")
    return range(a, b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0:24")
    ap.add_argument("--train-seeds", default="10000:10200", help="subjects whose mean offset is the 'mean' baseline")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--pairs", type=int, default=2, help="frame pairs per subject and mode")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--noise", type=float, default=0.5, help="tracking noise of the input codes")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-only", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    import torch

    torch.set_num_threads(args.threads)
    from rome_smplx.trainers.datasets import SyntheticVideoDataset, collate, flame_params_from_batch

    import rome_smplx as rs
    from rome_smplx import weights as shipped
    from rome_smplx.assets.synthetic.video import SyntheticSubject, hair_offsets, hair_style
    from rome_smplx.avatar.head import HeadAvatar
    from rome_smplx.metrics.geometry import mesh_to_mesh_distance
    from rome_smplx.metrics.image import psnr, ssim

    assets = rs.Assets.discover()
    wdir = Path(args.weights) if args.weights else shipped.WEIGHTS_DIR
    files = {k: wdir / v for k, v in shipped.FILES.items()}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise SystemExit(f"missing weight files: {missing}")
    heads = {
        "rome": HeadAvatar.from_assets(assets, "full", weights=str(files["full"]), backend="torch"),
        "linear": HeadAvatar.from_assets(assets, "linear", weights=str(files["full"]), linear_weights=str(files["linear"]),
                                         backend="torch"),
        "no_offsets": HeadAvatar.from_assets(assets, "full", weights=str(files["no_offsets"]), offsets=False,
                                             backend="torch"),
    }
    size = heads["rome"].image_size
    prof = heads["rome"].networks.profile
    heads["untrained"] = HeadAvatar.from_assets(assets, "full", defaults=False, profile=prof.name, size=prof.size,
                                                image_size=size, backend="torch")
    data = assets.rome_data()
    deform = data.deform_mask > 0
    faces = data.faces
    seeds = _seeds(args.seeds)

    # ---- the 'mean' baseline: the average true offset of training subjects (cheap: offsets only)
    fd = assets.flame_data()
    train = _seeds(args.train_seeds)
    mean_off = torch.zeros(fd["v_template"].shape[0], 3)
    for s in train:
        off, _ = hair_offsets(hair_style(s), fd["v_template"], faces.numpy(), data.hair_list.numpy(), data.neck_list.numpy(),
                              deform.numpy())
        mean_off += torch.as_tensor(off, dtype=torch.float32)
    mean_off /= len(train)

    out: dict = {"benchmark": "learning", "seeds": [seeds.start, seeds.stop], "pairs_per_subject": args.pairs,
                 "tracking_noise": args.noise, "image_size": size, "weights": str(wdir)}
    # ---- offsets and Chamfer on the source frames
    off_err = {k: [] for k in ("full", "linear", "mean", "zero")}
    chamfer = {"rome": [], "flame_only": []}
    with torch.no_grad():
        for s in seeds:
            subj = SyntheticSubject.from_seed(s, assets)
            fr = subj.render(subj.walk(1)[0], size, tracking_noise=args.noise, frame_ids=[0])
            truth = fr.offsets
            err = lambda o, t=truth: float((o - t).norm(dim=-1)[deform].mean() * 1000)
            preds = {}
            for key, head in (("full", heads["rome"]), ("linear", heads["linear"])):
                recon = head.reconstruct(fr.image[None], fr.matte[None], fr.tracked)
                preds[key] = recon.offsets[0]
                off_err[key].append(err(recon.offsets[0]))
            off_err["mean"].append(err(mean_off))
            off_err["zero"].append(err(torch.zeros_like(truth)))
            base = heads["rome"].flame(fr.tracked).vertices
            true_mesh = fr.vertices[None]
            for key, verts in (("rome", base + preds["full"][None]), ("flame_only", base)):
                d = mesh_to_mesh_distance(verts, faces, true_mesh, faces, num_samples=3000, seed=s)
                chamfer[key].append(float(d["symmetric"][0]) * 1000)
    m = {k: statistics.mean(v) for k, v in off_err.items()}
    out["offset_error_mm"] = {k: round(v, 3) for k, v in m.items()}
    out["offset_error_reduction_vs_mean"] = {k: round(1 - m[k] / m["mean"], 4) for k in ("full", "linear")}
    c = {k: statistics.mean(v) for k, v in chamfer.items()}
    out["chamfer_mm"] = {k: round(v, 3) for k, v in c.items()}
    out["chamfer_reduction_vs_flame"] = round(1 - c["rome"] / c["flame_only"], 4)

    # ---- self and cross driving
    def white(img, mask):
        return img * mask + (1 - mask)

    for mode in ("self", "cross"):
        ds = SyntheticVideoDataset(assets, seeds=seeds, frames=args.frames, image_size=size, mode=mode,
                                   tracking_noise=args.noise, seed=1234)
        scores = {k: {"psnr": [], "ssim": []} for k in (*heads, "ceiling")}
        with torch.no_grad():
            for epoch in range(args.pairs):
                ds.set_epoch(epoch)
                for i in range(0, len(ds), 4):
                    b = collate([ds[j] for j in range(i, min(i + 4, len(ds)))])
                    src, tgt = flame_params_from_batch(b, "source"), flame_params_from_batch(b, "target")
                    target = white(b["target_image"], b["target_mask"])
                    region = b["target_hair_mask"]
                    # the ceiling: the true texture and offsets drawn at the tracked target codes (identity shape
                    # from the source's codes, as the heads use it)
                    ceil = []
                    for k in range(len(b["source_seed"])):
                        who, drv = int(b["source_seed"][k]), ds.subject(int(b["target_seed"][k]))
                        frame = drv.walk(int(b["target_frame"][k]) + 1)[-1]
                        codes = dataclasses.replace(tgt.index(slice(k, k + 1)), shape=src.shape[k:k + 1])
                        c_img, c_mask = ds.subject(who).render_codes(codes, [frame], size)
                        ceil.append(white(c_img, c_mask))
                    ceil = torch.cat(ceil)
                    scores["ceiling"]["psnr"] += psnr(ceil, target, region).tolist()
                    scores["ceiling"]["ssim"] += ssim(ceil, target, region).tolist()
                    for key, head in heads.items():
                        recon = head.reconstruct(b["source_image"], b["source_mask"], src)
                        r = head.render(recon, tgt)
                        pred = white(r.image.clamp(0, 1), r.mask)
                        scores[key]["psnr"] += psnr(pred, target, region).tolist()
                        scores[key]["ssim"] += ssim(pred, target, region).tolist()
        out[f"{mode}_driving"] = {k: {m_: round(statistics.mean(v[m_]), 4) for m_ in ("psnr", "ssim")}
                                  for k, v in scores.items()}
        out[f"{mode}_driving"]["pairs"] = len(scores["rome"]["psnr"])

    # ---- geometry-only speed, alternating
    subj = SyntheticSubject.from_seed(seeds.start, assets)
    fr = subj.render(subj.walk(1)[0], size, tracking_noise=args.noise)
    img, msk = fr.image[None], fr.matte[None]
    full, lin = heads["rome"], heads["linear"]

    def geom_full():
        out = full.flame(fr.tracked)
        unwrapped = full.unwrap_source(img, msk, fr.tracked, out) if full.profile.texture_unwrap else None
        tex = full.encode_texture(img, msk, unwrapped)
        full.full_offsets(tex, out.vertices)

    def geom_linear():
        lin.linear_offsets(lin.regressor(img))

    times = {"full": [], "linear": []}
    with torch.no_grad():
        geom_full()
        geom_linear()
        for _ in range(7):
            for key, fn in (("full", geom_full), ("linear", geom_linear)):
                t = time.perf_counter()
                fn()
                times[key].append(time.perf_counter() - t)
    tf, tl = statistics.median(times["full"]), statistics.median(times["linear"])
    out["geometry_seconds"] = {"full": round(tf, 5), "linear": round(tl, 5)}
    out["speedup_linear_over_full"] = round(tf / tl, 2)
    out["threads"] = args.threads
    print(json.dumps(out))


if __name__ == "__main__":
    main()
