"""Offsets-only time of the full ROME model vs the distilled linear model. Prints ONE JSON object.

* full: ``world2uv`` of the posed FLAME mesh (256 px UV map), its harmonic encoding, E_geom (U-Net at
  the release's widths) on [neural texture, encoded xyz], G_geom (per-vertex MLP, 256 wide) and the
  normal-scaled tanh offsets (:meth:`HeadAvatar.full_offsets`);
* linear: the ResNet-50 regressor on the 256 px image and ``basis @ coeffs + mean``
  (:meth:`HeadAvatar.linear_offsets`).

Both run on CPU, batch 1, random weights (time does not depend on the values), on the asset folder
:meth:`Assets.discover` finds (the synthetic stand-ins by default, FLAME's vertex count). The two are
measured alternately within every repetition (the order flips each time) and medians are reported,
so load from other processes affects both sides of the ratio alike. The paper reports the linear
model as roughly 10x faster.

Usage::

    python benchmarks/linear_vs_full.py [--reps 5] [--threads 2]
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
    parser.add_argument("--reps", type=int, default=5, help="alternating repetitions (after one warm-up each)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import rome_smplx as rs
    from rome_smplx.types import FlameParams

    assets = rs.Assets.discover()
    head = rs.HeadAvatar.from_assets(assets, variant="linear", size="full", image_size=256, backend="torch")
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 256, 256, generator=g)
    texture = torch.randn(1, head.profile.neural_texture_channels, 256, 256, generator=g)
    eye = torch.eye(3)[None]
    flame = FlameParams(shape=0.5 * torch.randn(1, 100, generator=g), expression=0.5 * torch.randn(1, 50, generator=g),
                        global_rot=eye, jaw_rot=eye)
    with torch.no_grad():
        verts = head.flame(flame).vertices

    def full():
        head.full_offsets(texture, verts)

    def linear():
        head.linear_offsets(head.regressor(image))

    def uv_only():
        head.uv_xyz(verts)

    def gflops(fn) -> float:
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter:
            fn()
        return counter.get_total_flops() / 1e9

    times = {"full": [], "linear": [], "world2uv": []}
    with torch.no_grad():
        full(), linear(), uv_only()  # warm-up
        for r in range(args.reps):
            order = (("full", full), ("linear", linear)) if r % 2 == 0 else (("linear", linear), ("full", full))
            for name, fn in order:
                times[name].append(_timed(fn))
            times["world2uv"].append(_timed(uv_only))
        flops = {"full": gflops(full), "linear": gflops(linear)}
    med = {k: statistics.median(v) for k, v in times.items()}
    out = {
        "device": "cpu",
        "threads": args.threads,
        "reps": args.reps,
        "image_size": 256,
        "num_vertices": int(verts.shape[1]),
        "params_full_offsets_M": round(sum(p.numel() for p in head.networks.mesh_deformer.parameters()) / 1e6
                                       + sum(p.numel() for p in head.networks.mlp_deformer.parameters()) / 1e6, 2),
        "params_linear_M": round(sum(p.numel() for p in head.regressor.parameters()) / 1e6, 2),
        "gflops_full_offsets": round(flops["full"], 2),
        "gflops_linear": round(flops["linear"], 2),
        "full_offsets_s": round(med["full"], 4),
        "full_world2uv_part_s": round(med["world2uv"], 4),
        "linear_offsets_s": round(med["linear"], 4),
        "full_over_linear": round(med["full"] / med["linear"], 2),
        "all_s": {k: [round(x, 4) for x in v] for k, v in times.items()},
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "torch": torch.__version__,
        "machine": platform.machine(),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
