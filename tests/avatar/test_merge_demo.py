"""Merging the ROME hair onto SMPL-X, posing, export, and the full-body demo end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import trimesh
from click.testing import CliRunner
from rome_smplx.bridges import deca, pixie

import rome_smplx as rs
from rome_smplx.avatar.merge import PART_HAIR, merge
from rome_smplx.cli import main
from rome_smplx.io.images import load_image, load_mask


@pytest.fixture(scope="module")
def merged(synthetic_dir_small):
    assets = rs.Assets.from_dir(synthetic_dir_small)
    folder = synthetic_dir_small / "people" / "person_000"
    head = rs.HeadAvatar.from_assets(assets, variant="linear", size="small", image_size=64, backend="torch")
    with torch.no_grad():
        recon = head.reconstruct(load_image(folder / "photo_256.png"), load_mask(folder / "mask_256.png"),
                                 deca.load(folder / "person_000_deca.pkl"))
    body = pixie.to_y_up(pixie.load(folder / "person_000_param.pkl"))
    return assets, recon, body, merge(recon, body, assets, flame_model=head.flame, renderer=head)


def test_hair_offsets_land_on_the_body_head_and_nowhere_else(merged):
    assets, recon, body, avatar = merged
    corr = torch.as_tensor(assets.correspondence())
    hair = assets.rome_data().hair_list
    # The synthetic body's head is the FLAME template shifted: the similarity is a pure translation.
    sim = avatar.similarity
    assert abs(float(sim.scale[0]) - 1) < 1e-4 and torch.allclose(sim.rotation[0], torch.eye(3), atol=1e-4)
    torch.testing.assert_close(avatar.offsets[0, corr[hair]], recon.offsets[0, hair], atol=1e-4, rtol=0)
    head = torch.zeros(avatar.offsets.shape[1], dtype=torch.bool)
    head[corr] = True
    assert float(avatar.offsets[0, ~head].abs().max()) == 0.0  # nothing off the head moves
    assert int((avatar.parts[0, corr[hair]] == PART_HAIR).sum()) == hair.numel()
    # The neck keeps only a faded share of ROME's reshaping (these short offsets carry no hair).
    neck = assets.rome_data().neck_list
    kept = avatar.offsets[0, corr[neck]].norm(dim=-1)
    rome = recon.offsets[0, neck].norm(dim=-1)
    assert bool((kept <= rome + 1e-6).all()) and float(kept.sum()) < 0.8 * float(rome.sum())


def test_posing_moves_the_hair_with_the_head(merged):
    assets, recon, body, avatar = merged
    from rome_smplx.geometry.rotations import axis_angle_to_matrix

    turned = body.index(0)
    pose = turned.body_pose.clone()
    pose[:, 14] = axis_angle_to_matrix(torch.tensor([[0.0, 0.6, 0.0]])) @ pose[:, 14]  # head joint 15
    turned.body_pose = pose
    moved = avatar.pose(turned)
    hair = avatar.parts[0] == PART_HAIR
    feet = avatar.vertices[0, :, 1] < avatar.vertices[0, :, 1].min() + 0.05
    assert float((moved.vertices[0, hair] - avatar.vertices[0, hair]).norm(dim=-1).mean()) > 0.02
    assert float((moved.vertices[0, feet] - avatar.vertices[0, feet]).norm(dim=-1).max()) < 1e-5


def test_export_round_trips_through_trimesh(merged, tmp_path):
    *_, avatar = merged
    for ext in ("glb", "ply", "obj"):
        path = avatar.export(tmp_path / f"avatar.{ext}")
        mesh = trimesh.load(path, force="mesh", process=False)
        assert len(mesh.vertices) == avatar.vertices.shape[1]
        assert np.allclose(np.asarray(mesh.vertices), avatar.vertices[0].numpy(), atol=1e-5)
    assert not list(tmp_path.glob(".*tmp*"))  # atomic: no temporary leftovers


@pytest.mark.slow
def test_demo_cli_writes_every_output(synthetic_dir_small, tmp_path):
    out = tmp_path / "demo"
    res = CliRunner().invoke(main, ["demo", "--out", str(out), "--assets", str(synthetic_dir_small), "--frames", "2"])
    assert res.exit_code == 0, res.output
    names = {p.name for p in out.iterdir()}
    assert {"avatar.glb", "avatar.obj", "preview_front.png", "animation.png", "head_render_0.png", "summary.json",
            "neural_render.png", "turntable.gif", "avatar_textured.obj", "avatar_textured.mtl",
            "avatar_textured.png"} <= names
    summary = json.loads((out / "summary.json").read_text())
    assert summary["synthetic_assets"] and summary["hair_vertices"] > 0
    assert len(list((out / "motion").glob("frame_*.ply"))) == 2
    front = load_image(out / "preview_front.png")
    assert 0.02 < float((front < 0.99).any(1).float().mean()) < 0.6  # a figure on a white background
    neural = load_image(out / "neural_render.png")
    assert neural.shape[-1] == 2 * neural.shape[-2]  # front and three-quarter side by side
    for half in (neural[..., : neural.shape[-2]], neural[..., neural.shape[-2]:]):
        assert 0.1 < float((half < 0.99).any(1).float().mean()) < 0.9
    from PIL import Image

    with Image.open(out / "turntable.gif") as gif:
        assert gif.n_frames >= 4
    # hair_edit.png: 4 components x 2 views (rows), 6 order statistics (columns), one head per cell
    # (that the columns differ is tested in test_editing with a model whose coefficients spread)
    edit = load_image(out / "hair_edit.png")
    H, W = edit.shape[-2:]
    assert W % 6 == 0 and H == 8 * (W // 6)
    S = W // 6
    for r in range(8):
        cell = edit[..., r * S:(r + 1) * S, :S]
        assert 0.01 < float((cell < 0.99).any(1).float().mean()) < 0.9  # a head on white in every row


def test_demo_on_a_folder_without_people_fails_cleanly(synthetic_dir_small, tmp_path):
    import shutil

    src = tmp_path / "assets"
    shutil.copytree(synthetic_dir_small, src, ignore=shutil.ignore_patterns("people"))
    res = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "out"), "--assets", str(src)])
    assert res.exit_code == 2 and "people" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "out").exists()


def test_part_colors_and_summary_have_one_meaning(merged):
    """Part colours and the summary.json counts come from the avatar, the same for the demo and `avatar --render`."""
    from rome_smplx.avatar.full_body import PART_COLORS
    from rome_smplx.pipeline import avatar_summary

    assets, _, _, avatar = merged
    colors = avatar.part_colors()
    assert colors.shape == (1, avatar.vertices.shape[1], 3) and colors.dtype == avatar.vertices.dtype
    torch.testing.assert_close(avatar.part_colors(0), torch.as_tensor(PART_COLORS, dtype=colors.dtype)[avatar.parts[0]])
    s = avatar_summary(avatar, assets, {"merge": 0.5})
    assert s["hair_vertices"] == int((avatar.parts[0] == PART_HAIR).sum()) > 0
    assert s["neck_hair_vertices"] == int((avatar.hair_weights[0] >= 0.5).sum())
    assert s["body_vertices"] == avatar.vertices.shape[1] and s["merge_scale"] == pytest.approx(
        float(avatar.similarity.scale[0]))
    assert s["synthetic_assets"] is True and s["timings_s"] == {"merge": 0.5}
    assert s["weights"] == "random initialisation"  # another head than the shipped weights were trained on


def test_wave_pose_is_the_wave_motion_frame(merged):
    from smplx.joint_names import JOINT_NAMES

    from rome_smplx.io.motion import wave_motion, wave_pose

    params = merged[3].params
    motion = wave_motion(params, frames=6)
    torch.testing.assert_close(motion.params.body_pose[2:3], wave_pose(params, 2 * np.pi * 2 / 6).body_pose,
                               rtol=0, atol=0)
    still = wave_pose(params, 1.0, nod=0.0)  # the demo's previews: arms only
    head = JOINT_NAMES.index("head") - 1
    assert torch.equal(still.body_pose[:, head], params.body_pose[:, head])
    assert not torch.equal(still.body_pose, params.body_pose)
