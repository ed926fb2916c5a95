"""Training curves of ROME runs from their logs (``step N: loss v, ...`` lines) as one PNG.

Usage::

    python demos/plot_training.py runs/rome_synthetic.log runs/rome_no_offsets.log --out docs/images/training_curves.png
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

LINE = re.compile(r"step (\d+): (.*)$")
KEYS = ("total", "l1", "ssim", "seg", "seg_hair", "feature_matching")


def read_log(path: Path) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for line in path.read_text(errors="replace").replace("\r", "\n").splitlines():
        m = LINE.search(line)
        if not m:
            continue
        step = int(m.group(1))
        for part in m.group(2).split(", "):
            k, _, v = part.partition(" ")
            try:
                out.setdefault(k, []).append((step, float(v)))
            except ValueError:
                continue
    return out


def smooth(vals: list[float], k: int = 5) -> list[float]:
    return [sum(vals[max(0, i - k + 1):i + 1]) / len(vals[max(0, i - k + 1):i + 1]) for i in range(len(vals))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("logs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path("training_curves.png"))
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    for log in args.logs:
        data = read_log(log)
        for ax, key in zip(axes.flat, KEYS):
            if key in data:
                steps, vals = zip(*data[key])
                ax.plot(steps, smooth(list(vals)), label=log.stem)
            ax.set_title(key)
            ax.set_xlabel("step")
    axes.flat[0].legend()
    fig.suptitle("ROME on the synthetic video world (weighted losses, 5-point moving average)")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)


if __name__ == "__main__":
    main()
