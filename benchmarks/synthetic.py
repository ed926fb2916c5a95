"""Throughput of the synthetic video world. Prints ONE JSON object on stdout.

Measures, on the synthetic default assets:

* ``subject_seconds``: building one :class:`SyntheticSubject` (identity, hair offsets, texture), median;
* ``frames_per_second``: rendering frames with their truth at ``--size`` (default 128) in batches of
  ``--batch`` frames of one subject (what :class:`SyntheticVideoDataset` does with cached subjects);
* ``dataset_items_per_second``: ``SyntheticVideoDataset`` items (two frames each, self mode) with
  the subjects already cached, i.e. what a training loop draws per second.

A training step of ``configs/synthetic_cpu.yaml`` consumes 8 frames (4 pairs); ``frames_per_second``
>= 20 keeps it fed with room to spare. The machine may be shared: treat timings as indicative.

Usage::

    python benchmarks/synthetic.py [--size 128] [--batch 8] [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    import torch

    torch.set_num_threads(args.threads)
    from rome_smplx.trainers.datasets import SyntheticVideoDataset

    import rome_smplx as rs
    from rome_smplx.assets.synthetic.video import SyntheticSubject

    assets = rs.Assets.discover()
    SyntheticSubject.from_seed(0, assets)  # builds the per-folder tables once
    t_subj = []
    subjects = []
    for s in range(1, 1 + args.repeats):
        t = time.perf_counter()
        subjects.append(SyntheticSubject.from_seed(10_000 + s, assets))
        t_subj.append(time.perf_counter() - t)
    fps = []
    for subj in subjects:
        frames = subj.walk(args.batch)
        subj.render(frames[:1], args.size)
        t = time.perf_counter()
        subj.render(frames, args.size)
        fps.append(args.batch / (time.perf_counter() - t))
    ds = SyntheticVideoDataset(assets, seeds=range(10_001, 10_001 + args.repeats), frames=16, image_size=args.size)
    for i in range(len(ds)):
        ds[i]
    ds.set_epoch(1)
    t = time.perf_counter()
    n = 0
    for _ in range(3):
        for i in range(len(ds)):
            ds[i]
            n += 1
    items = n / (time.perf_counter() - t)
    print(json.dumps({
        "benchmark": "synthetic_video_world",
        "image_size": args.size, "batch": args.batch, "threads": args.threads,
        "subject_seconds": round(statistics.median(t_subj), 4),
        "frames_per_second": round(statistics.median(fps), 2),
        "frames_per_second_min": round(min(fps), 2),
        "dataset_items_per_second": round(items, 2),
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpus": torch.get_num_threads()},
    }))


if __name__ == "__main__":
    main()
