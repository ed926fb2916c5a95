"""Batch avatars: the local engine against Ray Data actors on the same rows. Prints ONE JSON object.

* ``engines.<local|ray>.avatars_per_minute``: rows written per minute of wall time, everything
  included (the local engine loads its models; the Ray engine starts its actors and loads theirs; the
  cluster start is reported apart as ``ray_init_s``);
* ``engines.<engine>.stage_s``: mean seconds per avatar of each stage (read, landmarks, FLAME,
  reconstruct, merge, export) from the rows' ``summary.json`` (a batched merge is shared evenly);
* ``flame_fit_s`` / ``flame_fit_error_px``: the landmark fit of every photo (mean seconds and mean
  landmark error at 256 px), and per photo, including skimage's astronaut (with person 0's body)
  when scikit-image is installed.

The rows are synthetic people written by the stand-in generator (seed 0, FLAME-sized head, so the
shipped synthetic-trained weights are used) into a temporary folder, each with its photo and matte.
The two engines run one after the other in this process on the same manifest; the machine's load
average is reported beside them because other processes slow both.

Usage::

    python benchmarks/batch.py [--people 8] [--workers 2] [--batch-size 4] [--texture-size 256]
                               [--out benchmarks/results/batch_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch


def _stage_means(out: Path, ids: list[str]) -> dict:
    from rome_smplx.batch import STAGES, SUMMARY_FILE

    summaries = [json.loads((out / i / SUMMARY_FILE).read_text()) for i in ids if (out / i / SUMMARY_FILE).is_file()]
    stages = {k: round(statistics.mean(s["timings_s"][k] for s in summaries), 3) for k in STAGES} if summaries else {}
    fits = {s["id"]: {"flame_fit_s": s["flame_fit_s"], "flame_fit_error_px": s["landmark_fit_error_px"]}
            for s in summaries if s["flame_fit_s"] is not None}
    return {"stage_s": stages, "fits": fits}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=8, help="synthetic people (rows)")
    ap.add_argument("--workers", type=int, default=2, help="Ray actors")
    ap.add_argument("--batch-size", type=int, default=4, help="rows merged together / rows per Ray batch")
    ap.add_argument("--texture-size", type=int, default=256, help="texture side baked per avatar")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the local engine (Ray: 1 per actor)")
    ap.add_argument("--no-astronaut", action="store_true", help="leave out skimage's astronaut photo")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    logging.basicConfig(level=logging.WARNING)

    from rome_smplx.assets.synthetic import write_synthetic_assets
    from rome_smplx.batch import BatchSettings, run_batch, start_local_ray

    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="rome_batch_bench_") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        assets = Path(write_synthetic_assets(work / "assets", seed=0, head_vertices=None, people=args.people))
        synth_s = time.perf_counter() - t0
        rows = []
        for i in range(args.people):
            p = assets / "people" / f"person_{i:03d}"
            rows.append({"id": f"person_{i:03d}", "image": str(p / "photo_256.png"), "mask": str(p / "mask_256.png"),
                         "pixie": str(p / f"person_{i:03d}_param.pkl")})
        try:
            from PIL import Image
            from skimage import data

            if not args.no_astronaut:
                Image.fromarray(data.astronaut()).save(work / "astronaut.png")
                rows.append({"id": "astronaut", "image": str(work / "astronaut.png"), "pixie": rows[0]["pixie"]})
        except ImportError:
            logging.getLogger("benchmarks.batch").warning("scikit-image is not installed: the astronaut photo is left out")
        manifest = work / "rows.jsonl"
        manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
        ids = [r["id"] for r in rows]
        settings = BatchSettings(texture_size=args.texture_size, batch_size=args.batch_size)

        engines: dict = {}
        t0 = time.perf_counter()
        res = run_batch(manifest, work / "local", engine="local", assets=assets, settings=settings, progress=False)
        wall = time.perf_counter() - t0
        ok = sum(r["status"] == "ok" for r in res)
        engines["local"] = {"wall_s": round(wall, 2), "ok": ok, "errors": {r["id"]: r["error"] for r in res if r["error"]},
                            "avatars_per_minute": round(60.0 * ok / wall, 3), **_stage_means(work / "local", ids)}

        import ray

        t0 = time.perf_counter()
        start_local_ray(num_cpus=args.workers)
        ray_init = time.perf_counter() - t0
        try:
            t0 = time.perf_counter()
            res = run_batch(manifest, work / "ray", engine="ray", assets=assets, settings=settings,
                            workers=args.workers, progress=False)
            wall = time.perf_counter() - t0
        finally:
            ray.shutdown()
        ok = sum(r["status"] == "ok" for r in res)
        engines["ray"] = {"wall_s": round(wall, 2), "ray_init_s": round(ray_init, 2), "workers": args.workers, "ok": ok,
                          "errors": {r["id"]: r["error"] for r in res if r["error"]},
                          "avatars_per_minute": round(60.0 * ok / wall, 3), **_stage_means(work / "ray", ids)}

    fits = engines["local"]["fits"]
    synth = [v for k, v in fits.items() if k != "astronaut"]
    result = {
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpu_count": os.cpu_count(),
                    "local_threads": args.threads, "load_average_start": round(load_start, 2),
                    "load_average_end": round(os.getloadavg()[0], 2), "ray": ray.__version__},
        "setup": {"people": args.people, "rows": len(rows), "texture_size": args.texture_size,
                  "batch_size": args.batch_size, "synthetic_assets_s": round(synth_s, 2)},
        "engines": engines,
        "ray_over_local_throughput": round(engines["ray"]["avatars_per_minute"]
                                           / max(engines["local"]["avatars_per_minute"], 1e-9), 3),
        "flame_fit_s": round(statistics.mean(v["flame_fit_s"] for v in synth), 3) if synth else None,
        "flame_fit_error_px": round(statistics.mean(v["flame_fit_error_px"] for v in synth), 3) if synth else None,
        "astronaut": fits.get("astronaut"),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
