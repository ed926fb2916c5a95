"""Render the synthetic stand-ins into docs/images: the body, the head and a person's photo.

    PYOPENGL_PLATFORM=egl python demos/render_synthetic.py [--out docs/images] [--seed 0]

Needs the ``render`` extra (pyrender with an offscreen OpenGL platform: EGL or OSMesa).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

log = logging.getLogger("render_synthetic")


def _render(vertices: np.ndarray, faces: np.ndarray, views: list[float], size: int, colors=None) -> np.ndarray:
    """Orthographic pyrender views (yaw angles in degrees) side by side: ``(size, size * len(views), 3)``."""
    import pyrender
    import trimesh

    out = []
    for yaw in views:
        R = trimesh.transformations.rotation_matrix(np.radians(yaw), [0, 1, 0])[:3, :3]
        v = vertices @ R.T
        mesh = trimesh.Trimesh(v, faces, vertex_colors=colors, process=False)
        scene = pyrender.Scene(bg_color=[1.0, 1.0, 1.0, 1.0], ambient_light=[0.35, 0.35, 0.35])
        material = None if colors is not None else pyrender.MetallicRoughnessMaterial(
            baseColorFactor=[0.85, 0.75, 0.65, 1.0], metallicFactor=0.0, roughnessFactor=0.8)
        scene.add(pyrender.Mesh.from_trimesh(mesh, material=material, smooth=True))
        c = 0.5 * (v.max(0) + v.min(0))
        half = 0.55 * (v.max(0) - v.min(0))[:2].max()
        pose = np.eye(4)
        pose[:3, 3] = [c[0], c[1], c[2] + 3.0]
        scene.add(pyrender.OrthographicCamera(half, half, znear=0.1, zfar=10.0), pose=pose)
        scene.add(pyrender.DirectionalLight(intensity=2.5), pose=pose)
        key = np.eye(4)
        key[:3, :3] = trimesh.transformations.rotation_matrix(np.radians(-35), [1, 0.4, 0])[:3, :3]
        scene.add(pyrender.DirectionalLight(intensity=2.0), pose=key)
        r = pyrender.OffscreenRenderer(size, size)
        img, _ = r.render(scene)
        r.delete()
        out.append(img)
    return np.concatenate(out, 1)


def main() -> None:
    from PIL import Image

    from rome_smplx.assets.synthetic import (
        build_body,
        build_head,
        build_rome_data,
        make_person,
        render_person,
    )

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "images")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.out.mkdir(parents=True, exist_ok=True)

    head = build_head(seed=args.seed)
    body = build_body(head, seed=args.seed)
    rome = build_rome_data(head, seed=args.seed)

    img = _render(body.v_template, body.faces, [0.0, 35.0, 90.0], 520)
    Image.fromarray(img).save(args.out / "synthetic_body.png")
    img = _render(head.v_template, head.faces_v2, [0.0, 35.0, 90.0], 420)
    Image.fromarray(img).save(args.out / "synthetic_head.png")
    photos = [render_person(head, make_person(head, rome, i, args.seed), 384)[0] for i in range(3)]
    Image.fromarray(np.concatenate(photos, 1)).save(args.out / "synthetic_people.png")
    log.info("wrote synthetic_body.png, synthetic_head.png, synthetic_people.png to %s", args.out)


if __name__ == "__main__":
    main()
