"""Train, distil and ship the default models of the synthetic world (what ``rome_smplx/weights/`` holds).

Steps (each resumable; a finished step is skipped):

1. ROME (``configs/synthetic_cpu.yaml``) into ``RUNS/rome_synthetic`` and the "w/o offsets" ablation
   (same recipe, ``offsets: false``) into ``RUNS/rome_no_offsets``, both to ``--steps`` steps
   (``rome-smplx train rome --resume latest`` does the same one run at a time);
2. the linear model (``configs/linear_synthetic_cpu.yaml``) distilled from the ROME checkpoint;
3. the package files: fp16 networks, the linear model, and ``README.md`` with the commands, ranges,
   wall times and (with ``--evaluate``) the output of ``benchmarks/learning.py``.

Usage::

    python demos/train_default_model.py --runs runs --steps 2200 --ablation-steps 800 [--skip-train] [--evaluate]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger("train_default_model")
ROOT = Path(__file__).resolve().parents[1]


def _checkpoint(run: Path, step: int) -> Path:
    p = run / f"step_{step:07d}"
    if not (p / "state.json").is_file():
        raise SystemExit(f"{p}: no checkpoint at step {step} (train first, or pass the step you have)")
    return p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--steps", type=int, default=2200)
    ap.add_argument("--ablation-steps", type=int, default=None,
                    help="steps of the 'w/o offsets' run (default: --steps; the shipped one has 800)")
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--evaluate", action="store_true")
    ap.add_argument("--eval-seeds", default="0:24")
    ap.add_argument("--out", default=str(ROOT / "rome_smplx" / "weights"))
    ap.add_argument("--note", default="", help="free text for the README (e.g. measured wall times)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)

    import torch
    from rome_smplx.trainers.config import RomeTrainConfig
    from rome_smplx.trainers.distill import LinearDistillConfig, LinearDistiller
    from rome_smplx.trainers.rome_trainer import train_from_config

    import rome_smplx as rs
    from rome_smplx import weights as W
    from rome_smplx.models.rome import load as load_nets
    from rome_smplx.models.rome import save as save_nets

    runs = Path(args.runs)
    cfg_path = ROOT / "rome_smplx" / "configs" / "synthetic_cpu.yaml"
    base = RomeTrainConfig.from_yaml(cfg_path).replace(steps=args.steps)
    times = {}
    if not args.skip_train:
        for name, offsets, steps in (("rome_synthetic", True, args.steps), ("rome_no_offsets", False,
                                                                               args.ablation_steps or args.steps)):
            t = time.time()
            train_from_config(base.replace(output_dir=str(runs / name), offsets=offsets, steps=steps), resume="latest")
            times[name] = time.time() - t
    full_ck = _checkpoint(runs / "rome_synthetic", args.steps)
    abl_steps = args.ablation_steps or args.steps
    abl_ck = _checkpoint(runs / "rome_no_offsets", abl_steps)

    lin_cfg = LinearDistillConfig.from_yaml(ROOT / "rome_smplx" / "configs" / "linear_synthetic_cpu.yaml")
    lin_cfg = dataclasses.replace(lin_cfg, teacher_weights=str(full_ck / "networks.safetensors"),
                                  out=str(runs / "linear_synthetic"))
    final = Path(lin_cfg.out) / "final"
    t = time.time()
    if (final / "distill.json").is_file() and json.loads((final / "distill.json").read_text())["config"].get(
            "teacher_weights") == lin_cfg.teacher_weights:
        from rome_smplx.trainers.distill import load_checkpoint

        regressor, basis, mean, meta = load_checkpoint(final)
        lin_eval = meta.get("evaluation")
    else:
        torch.manual_seed(lin_cfg.seed)
        distiller = LinearDistiller.from_config(lin_cfg, rs.Assets.discover())
        distiller.train()
        regressor, basis, mean = distiller.regressor, distiller.basis, distiller.mean
        lin_eval = distiller.evaluate()
    times["linear"] = time.time() - t

    out = Path(args.out)
    for key, ck in (("full", full_ck), ("no_offsets", abl_ck)):
        nets = load_nets(ck / "networks.safetensors").half()
        save_nets(nets, out / W.FILES[key])
    W.save_linear(regressor.eval(), basis, mean, out / W.FILES["linear"])
    sizes = {k: (out / v).stat().st_size for k, v in W.FILES.items()}
    report = None
    if args.evaluate:
        res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "learning.py"), "--seeds", args.eval_seeds,
                              "--weights", str(out)], capture_output=True, text=True, check=True)
        report = json.loads(res.stdout.strip().splitlines()[-1])
        (out / "metrics.json").write_text(json.dumps(report, indent=1) + "\n")
    summary = {"steps": {"full": args.steps, "no_offsets": abl_steps}, "checkpoints": {"full": str(full_ck), "no_offsets": str(abl_ck)},
               "linear_evaluation_on_training_frames": lin_eval, "file_bytes": sizes, "wall_seconds_this_call": times}
    (out / "training.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({"summary": summary, "metrics": report}))


if __name__ == "__main__":
    main()
