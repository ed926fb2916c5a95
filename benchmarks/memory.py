"""Peak memory of ``rome-smplx avatar``: a small and a very large photo. Prints ONE JSON object on stdout.

Each case runs the real command in its own process (the one measured), on person_000 of a freshly
generated synthetic asset folder (its PIXIE parameters, mediapipe landmarks and matte, the default
textured, rigged and animated ``.glb``):

* ``photo_256``: the person's 256 x 256 photo;
* ``photo_12000``: the person's 512 px photo upscaled to 12000 x 12000 (a 144 MP JPEG; read at
  :data:`rome_smplx.pipeline.PHOTO_MAX_SIDE` on the long side).

Peak RSS is the child's ``ru_maxrss`` (what ``/usr/bin/time -v`` reports as "Maximum resident set
size (kbytes)"), given as ``peak_rss_kb`` and as ``peak_rss_gb`` (kbytes / 10^6, how issue 15 quotes it).
``baseline_import`` is the peak of a process that only imports the pipeline, the CLI and mediapipe (the
part no step can give back). The issue's bound is 1.5 GB; ``--limit-gb`` changes it, and the exit status
is 1 when a case exceeds it.

Usage::

    python benchmarks/memory.py [--cases photo_256,photo_12000] [--limit-gb 1.5] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = ("photo_256", "photo_12000")
BIG_SIDE = 12000

_IMPORT_ONLY = "import rome_smplx.pipeline, rome_smplx.cli, mediapipe"


def _run(cmd: list[str], env: dict[str, str]) -> dict:
    """Run ``cmd`` as the only child of a fresh helper process and return its peak RSS and wall time."""
    probe = (
        "import json, resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(json.dumps({'returncode': done.returncode, 'peak_rss_kb': peak, 'seconds': time.perf_counter() - t,"
        " 'stderr_tail': done.stderr[-2000:]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe, *cmd], capture_output=True, text=True, env=env, check=True)
    res = json.loads(out.stdout)
    if res["returncode"] != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({res['returncode']}):\n{res['stderr_tail']}")
    return {"peak_rss_kb": int(res["peak_rss_kb"]), "peak_rss_gb": round(res["peak_rss_kb"] / 1e6, 3),
            "seconds": round(res["seconds"], 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {CASES}")
    ap.add_argument("--limit-gb", type=float, default=1.5, help="peak RSS allowed per case (kbytes / 10^6)")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args()
    cases = [c for c in args.cases.split(",") if c]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        ap.error(f"unknown case(s) {unknown}; expected a subset of {CASES}")

    from PIL import Image

    from rome_smplx.assets.synthetic import write_synthetic_assets

    exe = shutil.which("rome-smplx", path=str(Path(sys.executable).parent)) or "rome-smplx"
    work = Path(tempfile.mkdtemp(prefix="rome_smplx_memory_bench_"))
    env = dict(os.environ, ROME_SMPLX_CACHE=str(work / "cache"))
    try:
        root = write_synthetic_assets(work / "assets", seed=0, people=1)
        folder = root / "people" / "person_000"
        photos = {"photo_256": folder / "photo_256.png"}
        if "photo_12000" in cases:
            big = work / f"photo_{BIG_SIDE}.jpg"
            Image.MAX_IMAGE_PIXELS = None
            with Image.open(folder / "photo.png") as im:
                im.convert("RGB").resize((BIG_SIDE, BIG_SIDE), Image.BICUBIC).save(big, quality=90)
            photos["photo_12000"] = big
        result: dict = {
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
            "command": "rome-smplx avatar --image PHOTO --pixie person_000_param.pkl --assets DIR --out avatar.glb",
            "limit_gb": args.limit_gb,
            "baseline_import": _run([sys.executable, "-c", _IMPORT_ONLY], env),
            "cases": {},
        }
        for case in cases:
            out = work / f"{case}.glb"
            cmd = [exe, "avatar", "--image", str(photos[case]), "--pixie", str(folder / "person_000_param.pkl"),
                   "--assets", str(root), "--out", str(out)]
            entry = _run(cmd, env)
            entry["photo_bytes"] = photos[case].stat().st_size
            entry["glb_bytes"] = out.stat().st_size
            entry["within_limit"] = entry["peak_rss_gb"] <= args.limit_gb
            result["cases"][case] = entry
        text = json.dumps(result, indent=2)
        print(text)
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text + "\n")
        if not all(c["within_limit"] for c in result["cases"].values()):
            sys.exit(1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
