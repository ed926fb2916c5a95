"""Rendering benchmarks. Prints ONE JSON object on stdout.

Rasteriser section: our pure-PyTorch rasteriser vs pytorch3d's rasteriser (CPU here) and vs software
OpenGL (pyrender offscreen, colour and depth read back) on a procedural ~10k-face mesh (a bumpy
latitude-longitude sphere filling most of the frame like a head crop; no licensed data).

* hard pass: 1 face per pixel, forward only;
* soft pass: ROME's soft silhouette (10 faces per pixel, blur radius 1e-4, sigma 1e-4), forward +
  backward of a weighted-sum loss w.r.t. the vertices;
* image sizes 256 and 512, batch 1 and 4.

Backends are measured alternately inside every repetition (the order flips each repetition) and
medians are reported, so load from other processes affects both sides of a ratio alike.

Usage::

    python benchmarks/render.py            # 3 pytorch3d repetitions (several minutes on 2 cores)
    python benchmarks/render.py --quick    # 1 pytorch3d repetition, fewer of the fast ones

The output is built from independent *sections* (see ``SECTIONS`` at the bottom): each is a function
``(args) -> dict`` whose keys are merged into the JSON object. New measurements (for example avatar
reconstruction and driving) are added as another section function appended to ``SECTIONS``.
"""

from __future__ import annotations

import os

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import argparse
import importlib.util
import json
import math
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch

from rome_smplx.render.raster import ROME_SOFT_BLUR_RADIUS, rasterize, soft_silhouette

SIZES = (256, 512)
BATCHES = (1, 4)
SOFT_K = 10
SIGMA = 1e-4


# ------------------------------------------------------------------------------------- helpers
def bumpy_sphere(n_lat: int = 50, n_lon: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed latitude-longitude sphere with bumps: 2 * n_lon * (n_lat - 1) faces (9800 by default).

    Returns:
        (V, 3) float32 vertices (y up, radius about 1) and (F, 3) int64 faces.
    """
    theta = torch.linspace(0, math.pi, n_lat + 1, dtype=torch.float64)[1:-1]
    phi = torch.arange(n_lon, dtype=torch.float64) * (2 * math.pi / n_lon)
    T, P = torch.meshgrid(theta, phi, indexing="ij")
    r = 1 + 0.05 * torch.sin(5 * T) * torch.cos(3 * P)
    v = torch.stack([r * torch.sin(T) * torch.cos(P), r * torch.cos(T), r * torch.sin(T) * torch.sin(P)], -1)
    v = torch.cat([v.reshape(-1, 3), torch.tensor([[0.0, 1.0, 0.0], [0.0, -1.0, 0.0]], dtype=torch.float64)])
    rings = n_lat - 1
    idx = torch.arange(rings * n_lon).reshape(rings, n_lon)
    a, b, c, d = idx[:-1], idx[:-1].roll(-1, 1), idx[1:], idx[1:].roll(-1, 1)
    top, bottom = rings * n_lon, rings * n_lon + 1
    faces = torch.cat(
        [
            torch.stack([a, c, b], -1).reshape(-1, 3),
            torch.stack([b, c, d], -1).reshape(-1, 3),
            torch.stack([torch.full((n_lon,), top), idx[0], idx[0].roll(-1)], -1),
            torch.stack([torch.full((n_lon,), bottom), idx[-1].roll(-1), idx[-1]], -1),
        ]
    )
    return v.float(), faces


def to_image_ndc(v: torch.Tensor, batch: int) -> torch.Tensor:
    """(V, 3) y-up mesh -> (batch, V, 3) image NDC (x right, y down, depth +10 like ROME), ~85% of the frame."""
    out = v * torch.tensor([0.85, -0.85, -0.85]) + torch.tensor([0.0, 0.0, 10.0])
    return out.unsqueeze(0).repeat(batch, 1, 1).contiguous()


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def _hard(verts: torch.Tensor, faces: torch.Tensor, size: int, backend: str) -> Callable[[], object]:
    return lambda: rasterize(verts, faces, (size, size), faces_per_pixel=1, backend=backend)


def _soft(verts: torch.Tensor, faces: torch.Tensor, size: int, backend: str) -> Callable[[], object]:
    weights = torch.rand(verts.shape[0], size, size, generator=torch.Generator().manual_seed(0))

    def run():
        x = verts.detach().clone().requires_grad_(True)
        alpha = soft_silhouette(
            x,
            faces,
            (size, size),
            sigma=SIGMA,
            faces_per_pixel=SOFT_K,
            blur_radius=ROME_SOFT_BLUR_RADIUS,
            backend=backend,
        )
        (alpha * weights).sum().backward()
        return x.grad

    return run


# ------------------------------------------------------------------------------------ sections
def section_environment(args: argparse.Namespace) -> dict:
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "quick": bool(args.quick),
        "note": "shared machine: absolute times are noisy; ratios are measured alternately in the same run",
    }


def section_rasterizer(args: argparse.Namespace) -> dict:
    """torch vs pytorch3d (hard forward, soft forward+backward) and torch vs pyrender (hard)."""
    v, faces = bumpy_sphere()
    have_p3d = importlib.util.find_spec("pytorch3d") is not None
    backends = ["torch"] + (["pytorch3d"] if have_p3d else [])
    fast_reps = 3 if args.quick else 7
    slow_reps = 1 if args.quick else 3
    out: dict = {
        "raster_mesh": {
            "name": "bumpy lat-long sphere",
            "faces": int(faces.shape[0]),
            "vertices": int(v.shape[0]),
        },
        "raster_soft_pass": {"faces_per_pixel": SOFT_K, "blur_radius": ROME_SOFT_BLUR_RADIUS, "sigma": SIGMA},
    }
    times: dict = {}
    for size in SIZES:
        for batch in BATCHES:
            verts = to_image_ndc(v, batch)
            for name, make in (("hard_fwd", _hard), ("soft_fwd_bwd", _soft)):
                fns = {b: make(verts, faces, size, b) for b in backends}
                for fn in fns.values():  # warm-up (allocations, lazy imports)
                    if fn is fns.get("pytorch3d"):
                        continue
                    fn()
                rec = {b: [] for b in backends}
                for rep in range(max(fast_reps, slow_reps)):
                    order = backends if rep % 2 == 0 else backends[::-1]
                    for b in order:
                        if b == "pytorch3d" and rep >= slow_reps:
                            continue
                        rec[b].append(_timed(fns[b]))
                key = f"{name}_{size}_b{batch}"
                times[key] = {b: round(_median(ts), 5) for b, ts in rec.items()}
    out["raster_seconds"] = times
    if have_p3d:
        out["raster_fwd_bwd_ratio_torch_over_pytorch3d"] = {
            str(s): round(
                times[f"soft_fwd_bwd_{s}_b1"]["torch"] / times[f"soft_fwd_bwd_{s}_b1"]["pytorch3d"], 5
            )
            for s in SIZES
        }
        out["raster_hard_fwd_ratio_torch_over_pytorch3d"] = {
            str(s): round(times[f"hard_fwd_{s}_b1"]["torch"] / times[f"hard_fwd_{s}_b1"]["pytorch3d"], 5)
            for s in SIZES
        }
    out.update(_opengl_comparison(v, faces, reps=5 if args.quick else 15))
    return out


def _opengl_comparison(v: torch.Tensor, faces: torch.Tensor, reps: int) -> dict:
    """Our hard pass vs pyrender's offscreen render of the same mesh (colour + depth read back)."""
    if importlib.util.find_spec("pyrender") is None:
        return {"raster_hard_fwd_ratio_torch_over_opengl": None, "opengl_error": "pyrender is not installed"}
    try:
        import numpy as np
        import pyrender
        import trimesh

        mesh = trimesh.Trimesh(v.numpy().astype(np.float64), faces.numpy(), process=False)
        scene = pyrender.Scene(bg_color=[0.0, 0.0, 0.0, 0.0], ambient_light=[0.3, 0.3, 0.3])
        scene.add(pyrender.Mesh.from_trimesh(mesh, smooth=True))
        pose = np.eye(4)
        pose[2, 3] = 10.0
        scene.add(pyrender.OrthographicCamera(xmag=1 / 0.85, ymag=1 / 0.85, znear=1.0, zfar=20.0), pose=pose)
        scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=3.0), pose=pose)
    except Exception as exc:
        return {
            "raster_hard_fwd_ratio_torch_over_opengl": None,
            "opengl_error": f"{type(exc).__name__}: {exc}",
        }
    seconds, ratios, coverage = {}, {}, {}
    for size in SIZES:
        try:
            renderer = pyrender.OffscreenRenderer(size, size)
        except Exception as exc:
            return {
                "raster_hard_fwd_ratio_torch_over_opengl": None,
                "opengl_error": f"{type(exc).__name__}: {exc}",
            }
        try:
            verts = to_image_ndc(v, 1)
            ours = _hard(verts, faces, size, "torch")
            gl = lambda r=renderer: r.render(scene)
            ours()
            _, depth = gl()
            frags = rasterize(verts, faces, (size, size), backend="torch")
            coverage[str(size)] = round(float(((depth > 0) == frags.mask[0].numpy()).mean()), 5)
            t_ours, t_gl = [], []
            for rep in range(reps):
                if rep % 2 == 0:
                    t_ours.append(_timed(ours))
                    t_gl.append(_timed(gl))
                else:
                    t_gl.append(_timed(gl))
                    t_ours.append(_timed(ours))
        finally:
            renderer.delete()
        seconds[str(size)] = {"torch": round(_median(t_ours), 5), "opengl": round(_median(t_gl), 5)}
        ratios[str(size)] = round(_median(t_ours) / _median(t_gl), 5)
    return {
        "raster_hard_fwd_ratio_torch_over_opengl": ratios,
        "raster_hard_vs_opengl_seconds": seconds,
        "raster_mask_agreement_with_opengl": coverage,
    }


_MEMORY_PROBE = r"""
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
sys.path.insert(0, sys.argv[2])
from render import bumpy_sphere, to_image_ndc
from rome_smplx.render.raster import ROME_SOFT_BLUR_RADIUS, rasterize, soft_silhouette


def peak_mb():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM")) / 1024.0


def reset_peak():
    with open("/proc/self/clear_refs", "w") as fh:  # "5" resets this process's peak RSS
        fh.write("5")


v, f = bumpy_sphere(71, 142)
x = to_image_ndc(v, 4).requires_grad_(True)
rasterize(x.detach(), f[:10], (8, 8), backend="torch")
reset_peak()
base = peak_mb()
rasterize(x.detach(), f, (512, 512), backend="torch")
hard = peak_mb() - base
reset_peak()
base = peak_mb()
a = soft_silhouette(x, f, (512, 512), faces_per_pixel=10, blur_radius=ROME_SOFT_BLUR_RADIUS, backend="torch")
a.sum().backward()
soft = peak_mb() - base
print(f.shape[0], hard, soft)
"""


def section_raster_memory(args: argparse.Namespace) -> dict:
    """Peak extra resident memory of the torch backend at 512 px, ~20k faces, batch 4 (fresh process)."""
    here = os.path.dirname(os.path.abspath(__file__))
    res = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(torch.get_num_threads()), here],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if res.returncode != 0:
        return {
            "raster_torch_peak_mb_512_b4": None,
            "raster_memory_error": res.stderr.strip().splitlines()[-1:],
        }
    n_faces, hard_mb, soft_mb = res.stdout.split()
    return {
        "raster_torch_peak_mb_512_b4": {
            "faces": int(n_faces),
            "hard_fwd": round(float(hard_mb), 1),
            "soft_fwd_bwd": round(float(soft_mb), 1),
        }
    }


# Each section returns a dict merged into the output object, in this order.
def section_head_avatar(args: argparse.Namespace) -> dict:
    """HeadAvatar reconstruct and drive times per frame at the release's widths (official profile,
    full size, random weights: time does not depend on the values), 256 px, torch rasteriser,
    on the synthetic stand-in head (FLAME's vertex count)."""
    import tempfile

    import rome_smplx as rs
    from rome_smplx.assets.synthetic import write_synthetic_assets
    from rome_smplx.geometry.rotations import axis_angle_to_matrix
    from rome_smplx.types import FlameParams

    reps = 1 if args.quick else 3
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        assets = rs.Assets.from_dir(write_synthetic_assets(f"{tmp}/assets", people=0))
        n = 4
        frames = FlameParams(
            shape=torch.zeros(n, 100),
            expression=0.5 * torch.randn(n, 50),
            global_rot=axis_angle_to_matrix(0.2 * torch.randn(n, 3)),
            jaw_rot=axis_angle_to_matrix(torch.tensor([[0.15, 0.0, 0.0]]).expand(n, 3)),
            cam=torch.tensor([[7.0, 0.0, 0.0]]).expand(n, 3),
        )
        image, mask = torch.rand(1, 3, 256, 256), torch.ones(1, 1, 256, 256)
        for variant in ("full", "linear"):
            head = rs.HeadAvatar.from_assets(assets, variant=variant, size="full", backend="torch")
            with torch.no_grad():
                source = frames.index(0)

                def reconstruct(h=head, src=source):
                    return h.reconstruct(image, mask, src)

                rec = reconstruct()

                def drive(h=head, r=rec):
                    return h.render(r, frames)

                rec_t = _median([_timed(reconstruct) for _ in range(reps)])
                drive_t = _median([_timed(drive) for _ in range(reps)]) / n
            out[variant] = {"reconstruct_s": round(rec_t, 4), "drive_s_per_frame": round(drive_t, 4)}
    out["linear_over_full_reconstruct"] = round(
        out["linear"]["reconstruct_s"] / out["full"]["reconstruct_s"], 4
    )
    out["linear_over_full_drive"] = round(
        out["linear"]["drive_s_per_frame"] / out["full"]["drive_s_per_frame"], 4
    )
    return {"head_avatar": out}


SECTIONS: list[Callable[[argparse.Namespace], dict]] = [
    section_environment,
    section_rasterizer,
    section_raster_memory,
    section_head_avatar,
]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (1 for pytorch3d)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    result: dict = {}
    for section in SECTIONS:
        result.update(section(args))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
