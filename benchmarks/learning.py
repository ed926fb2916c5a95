"""What the synthetic-trained models learned, measured on held-out synthetic subjects. Prints ONE JSON object.

On the subjects of ``--seeds A:B`` (default: the first 24 of the test split; they never overlap the
training range), with the tracked (noisy, DECA-sized) FLAME codes as the models' inputs and the
world's truth as the reference:

* ``offset_error_mm``: mean per-vertex L2 error of the hair+neck offsets over the deformable vertices
  (metres x 1000), for the full model, the linear model, the mean true offset of the training
  subjects (``mean``) and no offsets (``zero``); ``offset_error_reduction_vs_mean`` = 1 - model / mean.
  ``median`` is the per-vertex geometric median of the training offsets: the best *constant*
  prediction for this error (the mean minimises the squared error instead, and long hair pulls it
  away from most subjects), so a model that only learnt one hairstyle for everyone scores near it.
* ``offset_spread_mm``: the across-subject standard deviation of the offsets (mean over the deformable
  vertices of the per-vertex std's length) for the full and linear models' predictions and for the
  truth: a one-shot model must follow the truth's spread, not only its average.
* ``chamfer_mm``: symmetric surface-to-surface distance between the predicted and the true posed head
  (source frame), for ROME (FLAME + predicted offsets) and FLAME only (the paper's DECA row);
  ``chamfer_reduction_vs_flame``.
* ``self_driving`` / ``cross_driving``: PSNR and SSIM of the rendered target against the true render,
  per image over the target's face+hair mask (both composited on white by their masks), for ROME,
  the linear model, the "w/o offsets" ablation and the untrained (random-init) networks; and the
  ``ceiling``: the subject's *true* texture and offsets drawn by the world's own renderer at the
  tracked target codes (the source's tracked shape, as the heads take it; the target's light), the best a renderer driven by those codes can do
  without correcting the tracker (at ``--noise 0.5`` sub-pixel camera noise alone caps it near 19 dB).
* ``release_composite``: the same pairs scored with the release's compositing (both images on white by
  the rendered mask, as ``src/rome_full.py`` does before its validation metrics; the ceiling on its own
  matte): the setting the paper's figures come from. It is blind to silhouette errors, so the main
  figures above keep each image on its own mask; ``mask_dice`` (rendered mask vs the target matte) is
  reported beside them.
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


def geometric_median(x, iters: int = 50):
    """Per-vertex geometric median of ``x`` (M, N, 3) over M (Weiszfeld): the constant offset set with the
    least mean per-vertex distance to the M sets (the mean minimises the squared distance instead)."""
    import torch

    m = x.mean(0)
    for _ in range(iters):
        w = 1.0 / (x - m).norm(dim=-1, keepdim=True).clamp_min(1e-9)
        m = (w * x).sum(0) / w.sum(0)
    return m


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
    from rome_smplx.trainers.datasets import flame_params_from_batch

    import rome_smplx as rs
    from rome_smplx import weights as shipped
    from rome_smplx.assets.synthetic.video import SyntheticSubject, hair_offsets, hair_style
    from rome_smplx.avatar.head import HeadAvatar
    from rome_smplx.evaluation import evaluate, load_heads, synthetic_pairs
    from rome_smplx.metrics.image import psnr, ssim

    assets = rs.Assets.discover()
    wdir = Path(args.weights) if args.weights else shipped.WEIGHTS_DIR
    missing = [str(wdir / v) for v in shipped.FILES.values() if not (wdir / v).is_file()]
    if missing:
        raise SystemExit(f"missing weight files: {missing}")
    # the heads `rome-smplx eval --weights DIR --linear --no-offsets` loads, plus random-init networks
    heads, _ = load_heads(assets, wdir, linear=True, no_offsets=True)
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
    train_off = torch.stack([torch.as_tensor(hair_offsets(hair_style(s), fd["v_template"], faces.numpy(),
                                                          data.hair_list.numpy(), data.neck_list.numpy(),
                                                          deform.numpy())[0], dtype=torch.float32) for s in train])
    mean_off = train_off.mean(0)
    median_off = geometric_median(train_off)

    out: dict = {"benchmark": "learning", "seeds": [seeds.start, seeds.stop], "pairs_per_subject": args.pairs,
                 "tracking_noise": args.noise, "image_size": size, "weights": str(wdir)}
    # ---- offsets on the source frames (frame 0 of each subject, its tracked codes)
    off_err = {k: [] for k in ("full", "linear", "mean", "median", "zero")}
    preds = {"full": [], "linear": [], "truth": []}
    with torch.no_grad():
        for s in seeds:
            subj = SyntheticSubject.from_seed(s, assets)
            fr = subj.render(subj.walk(1)[0], size, tracking_noise=args.noise, frame_ids=[0])
            truth = fr.offsets
            err = lambda o, t=truth: float((o - t).norm(dim=-1)[deform].mean() * 1000)
            for key, head in (("full", heads["rome"]), ("linear", heads["linear"])):
                recon = head.reconstruct(fr.image[None], fr.matte[None], fr.tracked)
                off_err[key].append(err(recon.offsets[0]))
                preds[key].append(recon.offsets[0][deform])
            preds["truth"].append(truth[deform])
            off_err["mean"].append(err(mean_off))
            off_err["median"].append(err(median_off))
            off_err["zero"].append(err(torch.zeros_like(truth)))
    m = {k: statistics.mean(v) for k, v in off_err.items()}
    out["offset_error_mm"] = {k: round(v, 3) for k, v in m.items()}
    out["offset_error_reduction_vs_mean"] = {k: round(1 - m[k] / m["mean"], 4) for k in ("full", "linear")}
    # how much the offsets change from subject to subject: a one-shot model must follow the truth's spread
    out["offset_spread_mm"] = {k: round(float(torch.stack(v).std(0).norm(dim=-1).mean() * 1000), 3)
                               for k, v in preds.items()}

    # ---- self and cross driving, and Chamfer: the protocol of `rome-smplx eval` (rome_smplx.evaluation),
    # so `rome-smplx eval --synthetic A:B --weights DIR --linear --no-offsets` gives the same figures
    def white(img, mask):
        return img * mask + (1 - mask)

    for mode in ("self", "cross"):
        pairs = synthetic_pairs(assets, seeds, mode=mode, image_size=size, pairs_per_subject=args.pairs,
                                frames=args.frames, tracking_noise=args.noise, seed=1234)
        metrics = ("psnr", "ssim", "mask_dice", "chamfer") if mode == "self" else ("psnr", "ssim", "mask_dice")
        report = evaluate(heads, pairs, metrics=metrics, progress=False)
        # the release's compositing (both images on the rendered mask), which the paper's figures use
        release = evaluate(heads, pairs, metrics=("psnr", "ssim"), progress=False, composite="predicted")
        if mode == "self":  # Chamfer is a property of the source frame: measured once
            c = {"rome": report.results["rome"]["chamfer"], "flame_only": report.results["flame_only"]["chamfer"]}
            out["chamfer_mm"] = {k: round(v, 6) for k, v in c.items()}
            out["chamfer_reduction_vs_flame"] = round(1 - c["rome"] / c["flame_only"], 4)
        # the ceiling: the true texture and offsets drawn at the tracked target codes (identity shape from the
        # source's codes, as the heads use it), on the same pairs
        ds = pairs.dataset
        ceiling = {"psnr": [], "ssim": []}
        ceiling_rel = {"psnr": [], "ssim": []}
        with torch.no_grad():
            for b in pairs.batches():
                src, tgt = flame_params_from_batch(b, "source"), flame_params_from_batch(b, "target")
                target = white(b["target_image"], b["target_mask"])
                region = b["target_hair_mask"]
                ceil, ceil_mask = [], []
                for k in range(len(b["source_seed"])):
                    who, drv = int(b["source_seed"][k]), ds.subject(int(b["target_seed"][k]))
                    frame = drv.walk(int(b["target_frame"][k]) + 1)[-1]
                    codes = dataclasses.replace(tgt.index(slice(k, k + 1)), shape=src.shape[k:k + 1])
                    c_img, c_mask = ds.subject(who).render_codes(codes, [frame], size)
                    ceil.append(white(c_img, c_mask))
                    ceil_mask.append(c_mask)
                ceil, ceil_mask = torch.cat(ceil), torch.cat(ceil_mask)
                ceiling["psnr"] += psnr(ceil, target, region).tolist()
                ceiling["ssim"] += ssim(ceil, target, region).tolist()
                target_rel = white(b["target_image"], ceil_mask)
                ceiling_rel["psnr"] += psnr(ceil, target_rel, region).tolist()
                ceiling_rel["ssim"] += ssim(ceil, target_rel, region).tolist()
        res = {k: {m_: v[m_] for m_ in ("psnr", "ssim", "mask_dice")} for k, v in report.results.items() if k in heads}
        res["ceiling"] = {m_: statistics.mean(v) for m_, v in ceiling.items()}
        out[f"{mode}_driving"] = {k: {m_: round(x, 6) for m_, x in v.items()} for k, v in res.items()}
        out[f"{mode}_driving"]["pairs"] = report.pairs
        rel = {k: {m_: v[m_] for m_ in ("psnr", "ssim")} for k, v in release.results.items() if k in heads}
        rel["ceiling"] = {m_: statistics.mean(v) for m_, v in ceiling_rel.items()}
        out.setdefault("release_composite", {})[f"{mode}_driving"] = {
            k: {m_: round(x, 6) for m_, x in v.items()} for k, v in rel.items()}

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
