"""The full-body demo: a synthetic person's photo -> ROME head -> head merged onto the PIXIE body ->
neural renders of the head and of the whole avatar, a turntable, shaded previews, a short animation and
exported meshes.

It is the photo pipeline's steps (:mod:`rome_smplx.pipeline`: :func:`~rome_smplx.pipeline.load_head`,
:func:`~rome_smplx.pipeline.reconstruct_and_merge`, :class:`~rome_smplx.pipeline.StepTimer`,
:func:`~rome_smplx.pipeline.avatar_summary`) run on a person folder (its aligned photo, matte, DECA codes and
PIXIE body, :func:`~rome_smplx.pipeline.load_person`), followed by the demo's renders.

Runs on the embedded synthetic stand-ins (``Assets.discover()``) with no downloads; with a real asset
folder (and real weights) the same steps give real results. Reachable as ``rome-smplx demo --out DIR``.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Optional

import torch

from rome_smplx.errors import AssetError, InputError
from rome_smplx.io.atomic import atomic_dir, check_output_dir

logger = logging.getLogger(__name__)

__all__ = ["DEMO_SUBJECT", "run_full_body_demo"]

#: The video-world subject the demo shows when the synthetic-trained weights are in use (a test-split
#: seed: never seen in training).
DEMO_SUBJECT = 7


def _video_source(assets, seed: int, image_size: int):
    """A held-out synthetic subject's first frame (image, matte, tracked FLAME), its body (PIXIE-style
    SMPL-X parameters, y-up, the head joint carrying the frame's head rotation), three later frames of
    its video (tracked FLAME) and their true renders."""
    import numpy as np

    from rome_smplx.assets.synthetic.video import SyntheticSubject
    from rome_smplx.types import SmplxParams

    subj = SyntheticSubject.from_seed(seed, assets)
    walk = subj.walk(16)
    frames = subj.render([walk[0], walk[5], walk[10], walk[15]], image_size, tracking_noise=0.5,
                         frame_ids=[0, 5, 10, 15])
    src = frames[0]
    pose = np.array(subj.body["body_pose"], copy=True)
    pose[14] = walk[0].rotation()
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)[None]
    body = SmplxParams(
        betas=t(subj.body["betas"]), expression=src.flame.expression[:, :50].clone(), global_orient=t(np.eye(3)),
        body_pose=t(pose), jaw_pose=src.flame.jaw_rot.clone(), left_hand_pose=t(subj.body["left_hand_pose"]),
        right_hand_pose=t(subj.body["right_hand_pose"]), cam=t(subj.body["cam"]), frame="y_up",
    )
    targets = frames[1:]
    return subj, src, body, targets


def run_full_body_demo(
    out: str | Path,
    *,
    assets_dir: Optional[str | Path] = None,
    person: int = 0,
    variant: str = "linear",
    frames: int = 4,
    image_size: int = 256,
    render_size: int = 384,
    turntable_frames: int = 12,
    texture_size: int = 1024,
    force: bool = False,
    progress: Optional[bool] = None,
) -> Path:
    """Run the demo and write its outputs to ``out`` (atomically: all or nothing).

    Outputs: ``head_source.png``, ``head_render_{i}.png`` (neural head renders at three targets),
    ``hair_edit.png`` (hair components edited to order statistics of the model's coefficients, as in
    the supplement's Fig. 6),
    ``neural_render.png`` (the whole avatar through the deferred neural renderer, front and
    three-quarter), ``turntable.gif`` (the same, turning), ``avatar.glb`` (textured, rigged, with a
    24-frame wave), ``avatar_textured.obj`` (+ ``.mtl``, ``.png``), ``avatar.obj`` (part colours),
    ``preview_front.png``, ``preview_side.png``, ``animation.png`` and ``motion/frame_NNN.ply``
    (a short wave, names zero-padded to the frame count), ``summary.json``.

    Args:
        out: output folder (replaced as a whole when the run succeeds).
        assets_dir: asset folder; default ``Assets.discover()`` (``$ROME_SMPLX_ASSETS`` or synthetic).
        person: index of the synthetic person (``people/person_NNN``) to use.
        variant: ``"linear"`` (default, the distilled model) or ``"full"``.
        frames: number of animation frames.
        image_size: resolution of the head network (and of the head renders).
        render_size: side of each full-body neural render.
        turntable_frames: views in the turntable.
        texture_size: side of the texture baked from the photo (0: part colours).
        force: replace an existing ``out`` even when rome-smplx did not write it.
        progress: the step bar (:class:`~rome_smplx.pipeline.StepTimer`): ``None`` on a terminal only.

    Returns:
        The output folder.

    Raises:
        InputError: ``frames`` is not a positive integer, or ``out`` breaks the output policy of
            :mod:`rome_smplx.io.atomic` (both checked before any work).
    """
    from PIL import Image

    import rome_smplx as rs
    from rome_smplx.avatar.merge import PART_BODY
    from rome_smplx.geometry.rotations import axis_angle_to_matrix
    from rome_smplx.io.images import save_image, to_numpy
    from rome_smplx.io.motion import wave_motion, wave_pose
    from rome_smplx.pipeline import (
        StepTimer,
        avatar_summary,
        frame_name,
        load_head,
        load_person,
        reconstruct_and_merge,
        trained_weights,
        warn_untrained,
    )
    from rome_smplx.render.full_body import OrthographicCamera
    from rome_smplx.render.preview import front_camera, render_preview
    from rome_smplx.types import FlameParams

    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise InputError(f"frames: expected an integer >= 1, found {frames!r}")
    out = check_output_dir(out, force=force)
    assets = rs.Assets.from_dir(assets_dir) if assets_dir is not None else rs.Assets.discover()
    folder = assets.root / "people" / f"person_{person:03d}"
    if not folder.is_dir():
        raise AssetError(
            f"no demo person at {folder}; the demo needs the people/ folder that `rome-smplx assets synth` writes",
            path=folder,
        )
    timer = StepTimer("demo", 7, progress)

    weights = trained_weights(assets)
    shipped = weights is not None and assets.find("rome_weights") is None  # the synthetic-trained weights
    head = load_head(assets, variant, backend="auto", image_size=None if shipped else image_size)
    video_targets = None
    if shipped:
        # the synthetic-trained weights: show a held-out subject of the world they learned from
        subject, src_frame, body, video_targets = _video_source(assets, DEMO_SUBJECT, head.image_size)
        image, mask, flame = src_frame.image[None], src_frame.matte[None], src_frame.tracked
    else:
        inputs = load_person(folder)
        image, mask, flame, body = inputs.image, inputs.mask, inputs.flame, inputs.body
    timer.step("load")

    recon, avatar = reconstruct_and_merge(head, image, mask, flame, body, assets, timer)
    with torch.no_grad():
        jaw = axis_angle_to_matrix(torch.tensor([[0.0, 0, 0], [0.25, 0, 0], [0.1, 0, 0]]))
        turn = axis_angle_to_matrix(torch.tensor([[0.0, 0.35, 0], [0.0, -0.3, 0], [0.2, 0.0, 0]]))
        targets = FlameParams(
            shape=flame.shape.expand(3, -1), expression=flame.expression.expand(3, -1).clone(),
            global_rot=turn @ flame.global_rot, jaw_rot=jaw, cam=flame.cam.expand(3, -1),
        )
        if video_targets is not None:  # three later frames of the subject's video, with their truth
            targets = FlameParams(**{k: torch.cat([getattr(f.tracked, k) for f in video_targets])
                                     for k in ("shape", "expression", "global_rot", "jaw_rot", "neck_rot", "eye_rots",
                                               "cam")})
        renders = head.render(recon, targets)
        grid = None
        if video_targets is not None:
            white = lambda im, m: im * m + (1 - m)
            top = [recon.source_image] + [renders.composite[i:i + 1] for i in range(3)]
            bottom = [white(recon.source_image, recon.source_mask)] + [
                white(f.image[None], f.matte[None]) for f in video_targets]
            grid = torch.cat([torch.cat(top, dim=3), torch.cat(bottom, dim=3)], dim=2)
        # Fig. 6 of the supplement: rows = the first 3 hair and the first neck component, columns = the
        # min / 10% / 25% / 75% / 90% / max order statistics of the model's coefficients
        from rome_smplx.avatar.editing import hair_edit_figure

        hair_edit = hair_edit_figure(head, recon, assets, neural=weights is not None)
        timer.step("neural head render")

        baked = None  # the photo baked into SMPL-X's UV layout: the body's texture in renders and files
        if texture_size and avatar.rig.uvs is not None:
            baked = avatar.bake_texture(recon=recon, size=texture_size)
        # the whole avatar through the neural renderer, framed on the upper body, driven by the photo's face
        faced = avatar.pose(avatar.params, flame=flame)
        y = faced.vertices[0, :, 1]
        chin_level = float(y[avatar.parts[0] != PART_BODY].min())
        upper = faced.vertices[:, y > chin_level - 0.25]  # head, shoulders and chest

        def view(side: float):
            cam = OrthographicCamera.framing(upper, side=side, margin=1.15)
            return faced.render(cam, "neural", image_size=render_size, body_texture=baked).image

        neural = torch.cat([view(0.0), view(math.radians(40))], dim=3)
        turntable = [view(2 * math.pi * i / max(turntable_frames, 1)) for i in range(turntable_frames)]
        timer.step("neural full-body render")
        colors = avatar.part_colors(0)
        rest = avatar.vertices
        front = render_preview(rest, avatar.faces, colors, image_size=512)
        side = render_preview(rest, avatar.faces, colors, front_camera(rest, side=math.radians(60)), image_size=512)
        # the arms of the GLB's wave (io.motion), without its head nod: the previews show the body's motion
        posed = [avatar.pose(wave_pose(avatar.params, 2 * math.pi * i / max(frames, 1), nod=0.0))
                 for i in range(frames)]
        motion = wave_motion(avatar.params.index(0), frames=24, fps=12.0)
        cam = front_camera(torch.cat([p.vertices for p in posed]).reshape(1, -1, 3))
        strip = [render_preview(p.vertices, avatar.faces, colors, cam, image_size=384) for p in posed]
        timer.step("animate")

    with atomic_dir(out, force=force) as tmp:
        save_image(tmp / "head_source.png", recon.source_image)
        if grid is not None:  # source | renders at 3 new poses (top) ; the true renders there (bottom)
            save_image(tmp / "head_grid.png", grid)
        save_image(tmp / "hair_edit.png", hair_edit)
        for i in range(renders.batch_size):
            save_image(tmp / f"head_render_{i}.png", renders.composite[i : i + 1])
        save_image(tmp / "neural_render.png", neural)
        gif = [Image.fromarray(to_numpy(im)) for im in turntable]
        gif[0].save(tmp / "turntable.gif", save_all=True, append_images=gif[1:], duration=120, loop=0)
        save_image(tmp / "preview_front.png", front)
        save_image(tmp / "preview_side.png", side)
        save_image(tmp / "animation.png", torch.cat(strip, dim=3))
        # textured, rigged, animated GLB (the photo baked into SMPL-X's UV layout) and a textured OBJ
        from rome_smplx.avatar.export import write_avatar_file

        write_avatar_file(avatar, tmp / "avatar.glb", motion=motion, texture=baked)
        write_avatar_file(avatar, tmp / "avatar_textured.obj", texture=baked)
        avatar.export(tmp / "avatar.obj")
        for i, p in enumerate(posed):
            p.export(tmp / "motion" / frame_name(i, len(posed), ".ply"))
        summary = {
            "assets": str(assets.root),
            "trained_weights": weights is not None,
            "source": (f"synthetic video subject {DEMO_SUBJECT} (test split), frame 0" if shipped
                       else f"people/person_{person:03d}"),
            "variant": variant,
            "person": person,
            "head_vertices": int(head.flame.num_vertices),
            **avatar_summary(avatar, assets, timer.timings),
            "total_s": timer.total_s,
        }
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2))
    timer.step("write")
    timer.close()
    if weights is None:
        warn_untrained(assets)
    logger.info("demo written to %s in %.1f s", out, timer.total_s)
    return Path(out)
