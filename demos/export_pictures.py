"""Pictures of the exports: the textured avatar through pyrender (OpenGL) and the rigged GLB in Blender.

Builds person 0 of the synthetic world (the default assets, or ``--assets``), bakes its photo into
SMPL-X's UV layout, writes the rigged, textured, animated GLB, and renders

* ``docs/images/export_textured_pyrender.png``: the posed, textured mesh from the front and at 40
  degrees, next to the baked texture (pyrender, ``PYOPENGL_PLATFORM=egl``);
* ``docs/images/export_blender.png``: Blender (``bpy``, headless, workbench engine) after importing
  the GLB, at a frame of its animation (needs the ``blender`` extra; skipped otherwise).

Usage::

    PYOPENGL_PLATFORM=egl python demos/export_pictures.py [--assets DIR] [--out docs/images]
"""

from __future__ import annotations

import os

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import argparse
import importlib.util
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def _pyrender_views(avatar, texture: np.ndarray, size: int = 640) -> list[np.ndarray]:
    import pyrender
    import trimesh
    from PIL import Image

    from rome_smplx.io.gltf import split_uv_seams

    rig = avatar.rig
    v = avatar.vertices[0].detach().cpu().numpy()
    src, src_uv, faces = split_uv_seams(rig.faces.cpu().numpy(), rig.uv_faces.cpu().numpy())
    uv = rig.uvs.cpu().numpy()[src_uv]
    material = trimesh.visual.material.PBRMaterial(baseColorTexture=Image.fromarray(texture), metallicFactor=0.0,
                                                   roughnessFactor=0.9)
    tm = trimesh.Trimesh(v[src], faces, visual=trimesh.visual.TextureVisuals(uv=uv, material=material), process=False)
    lo, hi = v.min(0), v.max(0)
    centre = (lo + hi) / 2
    height = float(hi[1] - lo[1])
    out = []
    renderer = pyrender.OffscreenRenderer(size, int(size * 1.25))
    for side in (0.0, math.radians(40)):
        scene = pyrender.Scene(bg_color=[1.0, 1.0, 1.0, 1.0], ambient_light=[0.45, 0.45, 0.45])
        scene.add(pyrender.Mesh.from_trimesh(tm, smooth=True))
        yfov = math.radians(30)
        dist = 0.62 * height / math.tan(yfov / 2)
        eye = centre + dist * np.array([math.sin(side), 0.05, math.cos(side)])
        fwd = (centre - eye) / np.linalg.norm(centre - eye)
        right = np.cross(fwd, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        up = np.cross(right, fwd)
        pose = np.eye(4)
        pose[:3, :3] = np.stack([right, up, -fwd], 1)
        pose[:3, 3] = eye
        scene.add(pyrender.PerspectiveCamera(yfov=yfov, aspectRatio=0.8), pose=pose)
        scene.add(pyrender.DirectionalLight(color=[1.0, 1.0, 1.0], intensity=2.2), pose=pose)
        colour, _ = renderer.render(scene)
        out.append(colour)
    renderer.delete()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--assets", type=Path, default=None, help="asset folder (default: the synthetic stand-ins)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    ap.add_argument("--texture-size", type=int, default=1024)
    args = ap.parse_args()

    from PIL import Image
    from rome_smplx.bridges import deca, pixie

    import rome_smplx as rs
    from rome_smplx.avatar.export import write_avatar_file
    from rome_smplx.avatar.merge import merge
    from rome_smplx.io.atomic import atomic_path
    from rome_smplx.io.images import load_image, load_mask
    from rome_smplx.io.motion import wave_motion

    assets = rs.Assets.from_dir(args.assets) if args.assets else rs.Assets.discover()
    folder = assets.root / "people" / "person_000"
    has_weights = assets.find("rome_weights") is not None
    head = rs.HeadAvatar.from_assets(assets, variant="linear", size="full" if has_weights else "small",
                                     image_size=256, backend="auto")
    with torch.no_grad():
        recon = head.reconstruct(load_image(folder / "photo_256.png"), load_mask(folder / "mask_256.png"),
                                 deca.load(folder / "person_000_deca.pkl"))
        avatar = merge(recon, pixie.to_y_up(pixie.load(folder / "person_000_param.pkl")), assets,
                       flame_model=head.flame, renderer=head)
    baked = avatar.bake_texture(recon=recon, size=args.texture_size)
    tex = baked.to_uint8()

    views = _pyrender_views(avatar, tex)
    h = views[0].shape[0]
    tex_small = np.asarray(Image.fromarray(tex).resize((h, h), Image.BILINEAR))
    panel = np.concatenate(views + [tex_small], axis=1)
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out / "export_textured_pyrender.png") as tmp:
        Image.fromarray(panel).save(tmp)
    print(f"wrote {args.out / 'export_textured_pyrender.png'} (texture: {json.dumps(baked.stats)})")

    if importlib.util.find_spec("bpy") is None and not os.environ.get("ROME_SMPLX_BLENDER_PYTHON"):
        print("bpy is not installed: no Blender picture (pip install 'rome-smplx[blender]')")
        return
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        glb = write_avatar_file(avatar, work / "avatar.glb", motion=wave_motion(avatar.params, frames=24, fps=24.0),
                                texture=baked)
        png = work / "blender.png"
        req = {"glb": str(glb), "frame": 6, "render": str(png), "out": str(work / "probe.npz")}
        (work / "req.json").write_text(json.dumps(req))
        py = os.environ.get("ROME_SMPLX_BLENDER_PYTHON", sys.executable)
        subprocess.run([py, str(ROOT / "tests" / "io" / "blender_probe.py"), str(work / "req.json")], check=True,
                       capture_output=True)
        info = json.loads((work / "probe.npz.json").read_text())
        with atomic_path(args.out / "export_blender.png") as tmp:
            Image.open(png).convert("RGB").save(tmp)
    print(f"wrote {args.out / 'export_blender.png'} ({len(info['bones'])} bones, {len(info['shape_keys'])} shape keys)")


if __name__ == "__main__":
    main()
