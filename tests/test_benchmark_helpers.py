"""Helpers of the benchmark scripts that their figures rest on, checked against analytic answers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_geometric_median_is_the_best_constant_for_the_mean_distance():
    gm = _module("learning").geometric_median
    # on a line, the median of 1, 2, 3, 4, 100 is 3 (the mean, 22, follows the outlier)
    x = torch.zeros(5, 2, 3)
    x[:, 0, 0] = torch.tensor([1.0, 2.0, 3.0, 4.0, 100.0])
    # the corners of an equilateral triangle: the median is their centre (the Fermat point)
    tri = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.5, 3 ** 0.5 / 2]])
    x[:3, 1, :2] = tri
    x[3:, 1, :2] = tri.mean(0)
    m = gm(x, iters=200)
    torch.testing.assert_close(m[0], torch.tensor([3.0, 0.0, 0.0]), atol=1e-3, rtol=0)
    torch.testing.assert_close(m[1, :2], tri.mean(0), atol=1e-4, rtol=0)
    # and no other constant does better: a nudge in any direction raises the mean distance
    cost = lambda c: float((x - c).norm(dim=-1).mean())
    for d in torch.eye(3) * 1e-2:
        assert cost(m) <= cost(m + d) + 1e-7 and cost(m) <= cost(m - d) + 1e-7
    assert cost(m) < cost(x.mean(0))
