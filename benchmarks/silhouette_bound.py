"""How much of the hair and neck geometry the 2D silhouette losses can recover at all. Prints ONE JSON object.

For each subject of ``--seeds A:B`` (default: the first 3 of the training range), this fits *free* offsets,
one set per subject (no networks), to ``--frames`` frames of its video with the silhouette terms of the
ROME recipe (``seg_hair`` against the face+hair parsing mask with the non-hair vertices held fixed,
``seg_neck`` against the matte with the hair vertices held fixed, the offset Laplacian), at the codes
the frames were tracked with (``--noise 0``: the true codes). The offsets are parameterised as ROME's are
(``tanh(m) * offset_scale * deform_mask * normals``, per axis), so the fit reaches whatever those losses can
teach a network in the limit of a perfect predictor on seen views. It reports the mean per-vertex error of
the fitted offsets over the deformable vertices against the truth, beside no offsets (``zero``) and the
best offsets the parameterisation can hold (``representable``).

Usage::

    python benchmarks/silhouette_bound.py [--seeds 10000:10003] [--frames 8] [--size 64] [--steps 300]
        [--sigma 1e-4] [--faces-per-pixel 10] [--noise 0] [--hair-target parsing|matte]

``--sigma`` / ``--faces-per-pixel`` set the soft silhouette (ROME: 1e-4 and 10, blur radius 1e-4); any other
sigma uses the radius at which a face's weight falls to 1e-4 (``default_blur_radius``).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="10000:10003")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--sigma", type=float, default=1e-4)
    ap.add_argument("--faces-per-pixel", type=int, default=10)
    ap.add_argument("--noise", type=float, default=0.0, help="tracking noise of the codes the fit uses")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--backend", default="torch", help="rasteriser: torch or pytorch3d")
    ap.add_argument("--hair-target", choices=("parsing", "matte"), default="parsing",
                    help="what seg_hair compares the mesh's silhouette with: the face+hair parsing mask (the "
                         "recipe's) or the whole matte (the mesh's own outline, neck included)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    import torch

    torch.set_num_threads(args.threads)
    from rome_smplx.trainers import losses as L

    import rome_smplx as rs
    from rome_smplx.assets.synthetic.video import SEGMENTATION_LABELS, SyntheticSubject
    from rome_smplx.avatar.head import HeadAvatar
    from rome_smplx.geometry.mesh import vertex_normals
    from rome_smplx.render.raster import ROME_SOFT_BLUR_RADIUS, default_blur_radius, soft_silhouette
    from rome_smplx.types import FlameParams

    a, b = (int(x) for x in args.seeds.split(":"))
    assets = rs.Assets.discover()
    head = HeadAvatar.from_assets(assets, "full", defaults=False, backend="torch")
    data = assets.rome_data()
    faces, deform = head.faces, head.deform_mask > 0
    hair = torch.zeros(deform.shape[0], dtype=torch.bool)
    hair[data.hair_list] = True
    lap = L.LaplacianLoss(faces, deform.shape[0])
    scale = float(head.profile.offset_scale)
    radius = ROME_SOFT_BLUR_RADIUS if args.sigma == 1e-4 else default_blur_radius(args.sigma)
    S = args.size

    def sil(ndc):
        return soft_silhouette(ndc, faces, (S, S), sigma=args.sigma, faces_per_pixel=args.faces_per_pixel,
                               blur_radius=radius, backend=args.backend)

    rows = []
    for seed in range(a, b):
        t0 = time.perf_counter()
        subj = SyntheticSubject.from_seed(seed, assets)
        frs = subj.render(subj.walk(args.frames), S, tracking_noise=args.noise, frame_ids=list(range(args.frames)))
        seg = torch.stack([f.segmentation for f in frs])
        hair_mask = ((seg == SEGMENTATION_LABELS["face"]) | (seg == SEGMENTATION_LABELS["hair"])).float()
        matte = torch.stack([f.matte[0] for f in frs])
        if args.hair_target == "matte":
            hair_mask = matte
        codes = FlameParams(**{k: torch.cat([getattr(f.tracked, k) for f in frs])
                               for k in ("shape", "expression", "global_rot", "jaw_rot", "cam")})
        with torch.no_grad():
            out = head.flame(codes)
        base, root = out.vertices, out.joints[:, 0]
        normals = vertex_normals(base, faces)
        m = torch.zeros(1, base.shape[1], 3, requires_grad=True)
        opt = torch.optim.Adam([m], lr=args.lr)
        gate = head.deform_mask[None, :, None] * scale
        for _ in range(args.steps):
            off = torch.tanh(m) * gate * normals
            ndc = head.project(base + off, codes, root)
            loss = (10 * L.silhouette_mse(sil(L.detach_where(ndc, ~hair)), hair_mask)
                     + 1 * L.silhouette_mse(sil(L.detach_where(ndc, hair)), matte) + 10 * lap(off))
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            truth = frs[0].offsets
            n0 = vertex_normals(frs[0].vertices[None] - truth[None], faces)[0]
            fit = (torch.tanh(m) * gate * normals)[0]
            best = (truth / (scale * n0)).nan_to_num().clamp(-1, 1) * scale * n0
            err = lambda o, t=truth: float((o - t).norm(dim=-1)[deform].mean() * 1000)
            rows.append({"seed": seed, "fit": err(fit), "zero": err(torch.zeros_like(truth)),
                         "representable": err(best), "loss": float(loss), "seconds": time.perf_counter() - t0})
        logging.getLogger("silhouette_bound").warning("seed %d: %s", seed, rows[-1])
    mean = {k: round(statistics.mean(r[k] for r in rows), 3) for k in ("fit", "zero", "representable")}
    print(json.dumps({"benchmark": "silhouette_bound", "seeds": [a, b], "frames": args.frames, "size": S,
                      "steps": args.steps, "sigma": args.sigma, "blur_radius": radius,
                      "faces_per_pixel": args.faces_per_pixel, "tracking_noise": args.noise,
                      "hair_target": args.hair_target,
                      "offset_error_mm": mean, "reduction_vs_zero": round(1 - mean["fit"] / mean["zero"], 4),
                      "subjects": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]}))


if __name__ == "__main__":
    main()
