"""Export benchmarks: texture baking and file writing times, file sizes. Prints ONE JSON object on stdout.

On a synthetic subject (person_000 of a freshly generated synthetic asset folder, linear head model):

* ``bake``: UV rasterisation and baking of the aligned head photo at 512, 1024 and 2048 texels
  (median seconds of the repetitions);
* ``files``: each writer (rigged GLB with texture, 50 expression morph targets and a 24- or 120-frame
  motion; a bare rigged GLB; a static textured GLB; OBJ + MTL + PNG; PLY with part labels): median seconds
  and bytes, and for the rigged ones the errors the export measures (4-weight truncation, baked
  correctives, fixed joints under expressions);
* ``validator``: Khronos glTF validator errors/warnings per GLB when node and gltf-validator are found
  (``.ci/node/node_modules`` or ``$GLTF_VALIDATOR_DIR``).

Usage::

    python benchmarks/export.py [--reps 3] [--out benchmarks/results/export_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _median_time(fn, reps: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return round(statistics.median(times), 4), out


def _size(paths) -> int:
    return int(sum(Path(p).stat().st_size for p in paths))


def _validate(paths) -> dict | None:
    node = shutil.which("node")
    where = Path(os.environ.get("GLTF_VALIDATOR_DIR", ROOT / ".ci" / "node" / "node_modules"))
    if node is None or not (where / "gltf-validator").is_dir():
        return None
    out = subprocess.run([node, str(ROOT / "tests" / "io" / "validate_gltf.mjs"), str(where), *map(str, paths)],
                         capture_output=True, text=True, timeout=600, check=True)
    return {Path(r["file"]).name: {"errors": r["numErrors"], "warnings": r["numWarnings"], "infos": r["numInfos"],
                                   "hints": r["numHints"]} for r in json.loads(out.stdout)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

    from rome_smplx.bridges import deca, pixie

    import rome_smplx as rs
    from rome_smplx.assets.synthetic import write_synthetic_assets
    from rome_smplx.avatar.export import export_rigged, rig_input
    from rome_smplx.avatar.merge import merge
    from rome_smplx.avatar.texture import head_photo_view
    from rome_smplx.io.images import load_image, load_mask
    from rome_smplx.io.motion import wave_motion
    from rome_smplx.render import bake

    work = Path(tempfile.mkdtemp(prefix="rome_smplx_export_bench_"))
    os.environ["ROME_SMPLX_CACHE"] = str(work / "cache")
    try:
        t = time.perf_counter()
        root = write_synthetic_assets(work / "assets", seed=0, people=1)
        setup = {"synthetic_assets_s": round(time.perf_counter() - t, 2)}
        assets = rs.Assets.from_dir(root)
        folder = root / "people" / "person_000"
        head = rs.HeadAvatar.from_assets(assets, variant="linear", size="small", image_size=256, backend="torch")
        with torch.no_grad():
            recon = head.reconstruct(load_image(folder / "photo_256.png"), load_mask(folder / "mask_256.png"),
                                     deca.load(folder / "person_000_deca.pkl"))
            avatar = merge(recon, pixie.to_y_up(pixie.load(folder / "person_000_param.pkl")), assets,
                           flame_model=head.flame, renderer=head)
        rig = avatar.rig
        view = head_photo_view(recon, rig.faces, rig.corr, rig.num_vertices, rig.flame_root_regressor)

        bake_res = {}
        textures = {}
        for size in (512, 1024, 2048):
            t_uv, uvr = _median_time(lambda s=size: bake.rasterize_uv(rig.uvs, rig.uv_faces, s), args.reps)
            t_bake, tex = _median_time(lambda u=uvr: bake.bake_texture(rig.faces, u, [view], parts=avatar.parts[0]),
                                       args.reps)
            t_all, tex_full = _median_time(lambda s=size: avatar.bake_texture(recon=recon, size=s), 1)
            textures[size] = tex_full
            bake_res[str(size)] = {"uv_raster_s": t_uv, "bake_head_view_s": t_bake,
                                   "avatar_bake_texture_s": t_all, "seen": tex_full.stats["seen"],
                                   "mirrored": tex_full.stats["mirrored"], "part_fill": tex_full.stats["part_fill"]}

        tex = textures[1024]
        out = work / "out"
        out.mkdir()
        wave24 = wave_motion(avatar.params, frames=24, fps=12.0)
        wave120 = wave_motion(avatar.params, frames=120, fps=30.0)
        rin = rig_input(avatar)
        cases = {
            "rigged_textured_wave24.glb": lambda p: export_rigged(p, rin, pose=avatar.params, motion=wave24,
                                                                  texture=tex.to_uint8()),
            "rigged_textured_wave120.glb": lambda p: export_rigged(p, rin, pose=avatar.params, motion=wave120,
                                                                   texture=tex.to_uint8()),
            "rigged_textured_expression_jaw.glb": lambda p: export_rigged(p, rin, pose=avatar.params, motion=wave24,
                                                                          morphs=("expression", "jaw"),
                                                                          texture=tex.to_uint8()),
            "rigged_bare.glb": lambda p: export_rigged(p, rin, morphs=(), correctives=False),
            "static_textured.glb": lambda p: avatar.export(p, texture=tex),
            "textured.obj": lambda p: avatar.export(p, texture=tex),
            "labelled.ply": lambda p: avatar.export(p, texture=tex),
        }
        files = {}
        for name, fn in cases.items():
            path = out / name
            secs, res = _median_time(lambda f=fn, p=path: f(p), args.reps)
            written = [path] + ([path.with_suffix(".mtl"), path.with_suffix(".png")] if name.endswith(".obj") else [])
            entry = {"seconds": secs, "bytes": _size(written)}
            if hasattr(res, "truncation_error_m"):
                entry.update(vertices=res.vertices, morph_targets=len(res.morph_targets), frames=res.frames,
                             truncation_error_mm=round(res.truncation_error_m * 1000, 5),
                             corrective_error_mm=round(res.corrective_error_m * 1000, 5),
                             expression_joint_error_mm=round(res.expression_joint_error_m * 1000, 5))
            files[name] = entry
        result = {
            "machine": {"python": platform.python_version(), "torch": torch.__version__,
                        "threads": torch.get_num_threads(), "cpu_count": os.cpu_count()},
            "subject": {"vertices": rig.num_vertices, "faces": int(rig.faces.shape[0]), "uv_vertices": int(rig.uvs.shape[0]),
                        "joints": int(rig.parents.shape[0]), "expression": rig.num_expression},
            "setup": setup,
            "reps": args.reps,
            "bake": bake_res,
            "files": files,
            "validator": _validate(sorted(out.glob("*.glb"))),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        from rome_smplx.io.atomic import write_bytes_atomic

        write_bytes_atomic(args.out, (text + "\n").encode())


if __name__ == "__main__":
    main()
