"""ROME network benchmarks (CPU). Prints ONE JSON object on stdout.

For each network of the ``official`` profile (E_tex, E_geom, E_img, G_geom on a full FLAME vertex
set, the discriminator) at 256x256, batch 1 and 4: wall time of a forward pass (eval mode, no
grad) and of a forward + backward pass (train mode, gradients of the mean output w.r.t. all
parameters), and the peak memory of each.

Method:

* Every (network, batch, pass) runs in its own fresh subprocess, so one measurement's allocations
  and allocator caches cannot affect another.
* Memory: ``peak_rss_delta_mb`` = the process's peak resident set size (``getrusage`` ``ru_maxrss``)
  after the FIRST call minus its current resident size (``/proc/self/statm``) just before it, with
  the network and inputs already built. This is the extra RAM the call needed (activations, saved
  tensors, gradients, workspace), as the OS sees it; it includes allocator slack, so it is an upper
  bound of the tensors' own size. (``tracemalloc`` does not see torch's allocations; the torch
  profiler's CPU memory events miss untracked workspace.)
* Time: after that first call, ``--repeats`` more calls are timed with ``time.perf_counter`` and the
  median is reported (``min`` too). The machine may be shared: treat timings as indicative.

Usage::

    python benchmarks/networks.py                    # full size, batch 1 and 4
    python benchmarks/networks.py --batches 1        # batch 1 only
    python benchmarks/networks.py --size small       # quick run with the small widths
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

NETWORKS = ("E_tex", "E_geom", "E_img", "G_geom", "discriminator")


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _measure(network: str, batch: int, mode: str, size: str, image_size: int, vertices: int, repeats: int, threads: int):
    """Runs inside the child process; returns one measurement dict."""
    import torch

    from rome_smplx.models.rome import RomeNetworks

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    nets = RomeNetworks.from_profile("official", size, with_discriminator=network == "discriminator")
    module = {
        "E_tex": nets.autoencoder, "E_geom": nets.mesh_deformer, "E_img": nets.unet,
        "G_geom": nets.mlp_deformer, "discriminator": nets.discriminator,
    }[network]
    s = image_size
    if network == "E_tex":
        x = torch.rand(batch, 4, s, s)
    elif network in ("E_geom", "E_img"):
        x = torch.randn(batch, module.in_channels, s, s)
    elif network == "G_geom":
        x = torch.randn(batch * vertices, module.in_channels)  # ROME flattens (B, V, C) to (B*V, C)
    else:
        x = torch.rand(batch, 3, s, s)

    def first_tensor(out):
        while isinstance(out, (tuple, list)):
            out = out[0]
        return out

    def run():
        if mode == "forward":
            with torch.no_grad():
                first_tensor(module(x))
        else:
            module.zero_grad(set_to_none=True)
            first_tensor(module(x)).mean().backward()

    module.train(mode != "forward")
    if mode == "forward":
        module.eval()
    params = sum(p.numel() for p in module.parameters())
    before = _rss_mb()
    t0 = time.perf_counter()
    run()
    first = time.perf_counter() - t0
    peak = _peak_rss_mb()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return {
        "network": network, "batch": batch, "pass": mode, "parameters": params,
        "input_shape": list(x.shape),
        "first_call_s": round(first, 4),
        "median_s": round(statistics.median(times), 4) if times else None,
        "min_s": round(min(times), 4) if times else None,
        "repeats": repeats,
        "peak_rss_delta_mb": round(max(0.0, peak - before), 1),
        "rss_before_mb": round(before, 1),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=("full", "small"), default="full")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--networks", nargs="+", choices=NETWORKS, default=list(NETWORKS))
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--vertices", type=int, default=None, help="G_geom points per sample (default: FLAME's count)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.vertices is None:
        from rome_smplx.assets.synthetic.head import FLAME_NUM_VERTICES

        args.vertices = FLAME_NUM_VERTICES
    if args.child:
        network, batch, mode = args.child.split(":")
        res = _measure(network, int(batch), mode, args.size, args.image_size, args.vertices, args.repeats, args.threads)
        sys.stdout.write(json.dumps(res) + "\n")
        return

    results = []
    for network in args.networks:
        for batch in args.batches:
            for mode in ("forward", "forward_backward"):
                cmd = [sys.executable, os.path.abspath(__file__), "--child", f"{network}:{batch}:{mode}",
                       "--size", args.size, "--image-size", str(args.image_size), "--vertices", str(args.vertices),
                       "--repeats", str(args.repeats), "--threads", str(args.threads)]
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if proc.returncode != 0:
                    results.append({"network": network, "batch": batch, "pass": mode,
                                    "error": proc.stderr.strip().splitlines()[-1:] or ["failed"]})
                else:
                    results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
                print(f"{network} batch {batch} {mode} done", file=sys.stderr)
    out = {
        "benchmark": "rome_networks",
        "profile": "official", "size": args.size, "image_size": args.image_size, "g_geom_vertices": args.vertices,
        "device": "cpu", "threads": args.threads, "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "memory_method": "peak RSS (getrusage ru_maxrss) after the first call minus RSS just before it, "
                         "one fresh subprocess per measurement",
        "time_method": f"median of {args.repeats} calls after the first",
        "results": results,
    }
    sys.stdout.write(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
