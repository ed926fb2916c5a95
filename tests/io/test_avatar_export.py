"""A merged synthetic subject: its photo baked into SMPL-X's UV layout, exported rigged, textured, animated."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from rome_smplx.bridges import deca, pixie

import rome_smplx as rs
from rome_smplx.avatar.export import rig_input
from rome_smplx.avatar.merge import PART_BODY, PART_FACE, PART_HAIR, merge
from rome_smplx.avatar.texture import head_faces, head_photo_view
from rome_smplx.errors import InputError
from rome_smplx.io.images import load_image, load_mask
from rome_smplx.metrics import psnr
from rome_smplx.render import bake


@pytest.fixture(scope="module")
def subject(synthetic_dir, tmp_path_factory):
    """person_000 of the FLAME-sized synthetic world: reconstruction (linear, small nets) and merged avatar."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ROME_SMPLX_CACHE", str(tmp_path_factory.mktemp("cache")))
        assets = rs.Assets.from_dir(synthetic_dir)
        folder = synthetic_dir / "people" / "person_000"
        head = rs.HeadAvatar.from_assets(assets, variant="linear", size="small", image_size=256, backend="torch")
        flame = deca.load(folder / "person_000_deca.pkl")
        with torch.no_grad():
            recon = head.reconstruct(load_image(folder / "photo_256.png"), load_mask(folder / "mask_256.png"), flame)
            body = pixie.to_y_up(pixie.load(folder / "person_000_param.pkl"))
            avatar = merge(recon, body, assets, flame_model=head.flame, renderer=head)
    return {"assets": assets, "head": head, "recon": recon, "avatar": avatar}


@pytest.fixture(scope="module")
def baked(subject):
    return subject["avatar"].bake_texture(recon=subject["recon"], size=1024, erode=0)


def test_baked_head_reproduces_the_photo(subject, baked):
    """The issue's check: the texture rendered again from the source camera gives >= 30 dB on visible pixels.

    Visible: the photo's matte, the first surface along the pixel is a face of the avatar (not one of
    ROME's mouth-closing triangles, which SMPL-X lacks) and it faces the camera (not the inside of the neck
    seen through its opening).
    """
    from rome_smplx.render.raster import interpolate, rasterize

    avatar, recon = subject["avatar"], subject["recon"]
    rig = avatar.rig
    view = head_photo_view(recon, rig.faces, rig.corr, rig.num_vertices, rig.flame_root_regressor, erode=0)
    hf = head_faces(rig.faces, rig.corr, rig.num_vertices)
    photo = recon.source_image
    H, W = photo.shape[2:]
    tris = torch.cat([rig.faces[hf], view.occluder_triangles])
    nh = int(hf.sum())
    frags = rasterize(view.camera.project(view.vertices[None], (H, W)), tris, (H, W), backend="torch")
    uv_faces = torch.cat([rig.uv_faces[hf], torch.zeros(len(tris) - nh, 3, dtype=torch.long)])
    uv = interpolate(frags, rig.uvs[uv_faces][None])[0, :, :, 0]
    img = bake.sample_texture(baked.image, uv).permute(2, 0, 1)[None]
    v = view.vertices[tris]
    n = torch.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0], dim=-1)
    facing = (n * view.camera.toward_camera(v[None, :, 0])[0]).sum(-1) > 0
    p2f = frags.pix_to_face[0, :, :, 0]
    ours = (p2f >= 0) & (p2f < nh) & facing[p2f.clamp_min(0)]
    visible = (ours[None, None] & (recon.source_mask > 0.5)).float()
    assert float(visible.mean()) > 0.2
    value = float(psnr(img, photo, visible))
    print(f"head photo -> texture -> render: {value:.2f} dB on {float(visible.mean()):.1%} of the pixels")
    assert value >= 30.0, value
    # the face and hair texels were seen; the body, never photographed, took the face's skin tone
    assert baked.stats["views"]["head_photo"] > 0.05
    src = baked.source
    uvr = bake.rasterize_uv(rig.uvs, rig.uv_faces, 1024)
    part = avatar.parts[0][rig.faces[uvr.face.clamp_min(0), 0]]
    tex = baked.image[0].permute(1, 2, 0)
    face_seen = (src == bake.SOURCE_SEEN) & uvr.inside & (part == PART_FACE)
    body_fill = (src == bake.SOURCE_PART_FILL) & uvr.inside & (part == PART_BODY)
    assert face_seen.any() and body_fill.any()
    hair_seen = (src == bake.SOURCE_SEEN) & uvr.inside & (part == PART_HAIR)
    assert hair_seen.any()
    fill, skin, hair = (tex[m].median(0).values for m in (body_fill, face_seen, hair_seen))
    assert (fill - skin).abs().max() < 0.08 < (fill - hair).abs().max()  # skin, not hair
    assert torch.allclose(tex[body_fill], fill.expand_as(tex[body_fill]))  # one colour per part


def test_rigged_textured_animated_export(subject, baked, tmp_path, decode_glb, evaluate_glb, gltf_validator):
    from rome_smplx.avatar.export import export_rigged, sample_poses
    from rome_smplx.io.motion import Motion
    from rome_smplx.types import SmplxParams

    avatar = subject["avatar"]
    R = torch.as_tensor(sample_poses(55, 5, seed=2, scale=0.3), dtype=torch.float32)
    motion = Motion(SmplxParams(betas=torch.zeros(5, 1), expression=0.5 * torch.randn(5, 50), global_orient=R[:, 0],
                                body_pose=R[:, 1:22], jaw_pose=R[:, 22], leye_pose=R[:, 23], reye_pose=R[:, 24],
                                left_hand_pose=R[:, 25:40], right_hand_pose=R[:, 40:55]), fps=30.0)
    path = avatar.export(tmp_path / "avatar.glb", rigged=True, motion=motion, texture=baked)
    d = decode_glb(path)
    src = d["attributes"]["_SOURCE_VERTEX"][:, 0].astype(np.int64)
    np.testing.assert_array_equal(d["texture"], baked.to_uint8())
    # the static pose of the file is the avatar's current pose (PIXIE's), the frames are the avatar posed
    report = export_rigged(tmp_path / "again.glb", rig_input(avatar), pose=avatar.params, motion=motion,
                           texture=baked.to_uint8())
    bound = report.truncation_error_m + report.corrective_error_m + report.expression_joint_error_m + 1e-4
    static = evaluate_glb(d)
    assert np.linalg.norm(static - avatar.vertices[0].numpy()[src], axis=1).max() < bound
    posed = avatar.pose(motion.params).vertices.numpy()
    for t in range(5):
        assert np.linalg.norm(evaluate_glb(d, t) - posed[t][src], axis=1).max() < bound
    for r in gltf_validator(path):
        assert (r["numErrors"], r["numWarnings"]) == (0, 0), r["messages"]


def test_textured_obj_and_labelled_ply(subject, baked, tmp_path):
    import trimesh

    avatar = subject["avatar"]
    obj = avatar.export(tmp_path / "avatar_textured.obj", texture=baked)
    assert {p.name for p in tmp_path.iterdir()} == {"avatar_textured.obj", "avatar_textured.mtl", "avatar_textured.png"}
    tm = trimesh.load(obj, process=False)
    assert tm.visual.uv is not None and len(tm.faces) == avatar.faces.shape[0]
    ply = avatar.export(tmp_path / "avatar.ply", texture=baked)
    raw = trimesh.load(ply, process=False).metadata["_ply_raw"]["vertex"]["data"]
    np.testing.assert_array_equal(raw["part"], avatar.parts[0].numpy())
    # colours at the vertices come from the texture: hair darker than the face (the photo's colours)
    rgb = np.stack([raw["red"], raw["green"], raw["blue"]], 1).astype(float)
    parts = avatar.parts[0].numpy()
    assert rgb[parts == PART_HAIR].mean() < rgb[parts == PART_FACE].mean()


@pytest.mark.slow
def test_neural_views_are_back_projected_under_the_photo(subject):
    avatar, recon = subject["avatar"], subject["recon"]
    tex = avatar.bake_texture(recon=recon, size=256, neural_views=(-60.0, 60.0), erode=0)
    assert set(tex.stats["views"]) == {"head_photo", "neural_yaw-60", "neural_yaw+60"}
    assert tex.stats["views"]["neural_yaw-60"] > 0 and tex.stats["views"]["head_photo"] > 0


def test_missing_inputs_are_errors(subject):
    avatar = subject["avatar"]
    with pytest.raises(InputError, match="nothing to bake"):
        avatar.bake_texture(size=64)
    with pytest.raises(InputError, match="camera"):
        avatar.bake_texture(torch.zeros(1, 3, 8, 8), None, 64)
    bare = dataclasses.replace(avatar, rig=dataclasses.replace(avatar.rig, uvs=None, uv_faces=None))
    with pytest.raises(InputError, match="vt and ft"):
        bare.bake_texture(recon=subject["recon"], size=64)
    with pytest.raises(InputError, match="rigged=True"):
        avatar.export("x.ply", motion="m.npz")


def test_the_avatar_file_of_the_cli_and_demo(subject, tmp_path, decode_glb, gltf_validator):
    """``write_avatar_file``: a .glb is textured, rigged and animated (a wave by default, or the motion file)."""
    from rome_smplx.avatar.export import write_avatar_file
    from rome_smplx.io.motion import save_motion, wave_motion

    avatar, recon = subject["avatar"], subject["recon"]
    default = write_avatar_file(avatar, tmp_path / "a.glb", recon=recon, texture_size=256)
    d = decode_glb(default)
    assert d["texture"].shape == (256, 256, 3) and len(d["gltf"].skins) == 1
    times = [v for (node, kind), v in d["animation"].items() if kind == "rotation"][0]
    assert len(times) == 24  # the default wave
    wave = wave_motion(avatar.params, frames=6, fps=10.0)
    save_motion(tmp_path / "m.npz", wave)
    other = write_avatar_file(avatar, tmp_path / "b.glb", recon=recon, motion=tmp_path / "m.npz", texture_size=0)
    d2 = decode_glb(other)
    assert "texture" not in d2 and "COLOR_0" in d2["attributes"]
    assert len([v for (node, kind), v in d2["animation"].items() if kind == "rotation"][0]) == 6
    for r in gltf_validator(default, other):
        assert (r["numErrors"], r["numWarnings"]) == (0, 0), r["messages"]
    obj = write_avatar_file(avatar, tmp_path / "c.obj", recon=recon, texture_size=128)
    assert obj.with_suffix(".png").is_file() and obj.with_suffix(".mtl").is_file()


def test_body_photo_through_a_crop_camera(subject):
    """A full photo whose body sits in a PIXIE-style crop: baked through ``crop_camera`` and rendered back."""
    from rome_smplx.avatar.texture import crop_camera
    from rome_smplx.render.raster import interpolate, rasterize

    avatar = subject["avatar"]
    rig = avatar.rig
    V = avatar.vertices[0]
    y = V[:, 1]
    col = 0.5 + 0.4 * torch.stack([torch.sin(8 * V[:, 0].abs()), torch.cos(5 * y), torch.sin(6 * V[:, 2] + 2 * y)], 1)
    H, W = 320, 480  # the photo; the body's crop box is a square in it
    bbox = (150.0, 20.0, 420.0, 300.0)
    cam = crop_camera(torch.tensor([[1.05, 0.0, 0.0]]), bbox, (H, W))
    frags = rasterize(cam.project(V[None], (H, W)), rig.faces, (H, W), backend="torch")
    photo = interpolate(frags, col[None])[0, :, :, 0]
    photo = torch.where(frags.mask[0, ..., None], photo, torch.ones(3)).permute(2, 0, 1)[None]
    mask = frags.mask[None].float()
    box = cam.box
    assert box[2] == box[3] == pytest.approx(1.1 * 280.0)  # PIXIE's square: 1.1 x the longer side
    tex = avatar.bake_texture(photo, cam, 1024, mask=mask, erode=0)
    assert tex.stats["views"]["body_photo"] > 0.2
    img, covered = bake.render_textured(V, rig.faces, rig.uvs, rig.uv_faces, tex.image, cam, (H, W))
    value = float(psnr(img, photo, covered * mask))
    print(f"body photo through the crop camera: {value:.2f} dB")
    assert value >= 30.0


@pytest.mark.slow
def test_the_avatar_file_opens_in_blender(subject, baked, tmp_path, blender, decode_glb, evaluate_glb):
    """The file ``rome-smplx avatar`` writes: one armature of the 55 joints, shape keys, the texture, and the
    animation playing back as the file says (within 1 mm)."""
    from smplx.joint_names import JOINT_NAMES

    from rome_smplx.avatar.export import write_avatar_file
    from rome_smplx.io.motion import wave_motion

    avatar = subject["avatar"]
    path = write_avatar_file(avatar, tmp_path / "avatar.glb", motion=wave_motion(avatar.params, frames=8, fps=24.0),
                             texture=baked)
    info, arrays = blender({"glb": str(path), "frame": 2})
    J = int(avatar.rig.parents.shape[0])
    assert info["armatures"] == 1 and sorted(info["bones"]) == sorted(JOINT_NAMES[:J]) and info["images"]
    d = decode_glb(path)
    assert info["shape_keys"] == ["Basis"] + d["target_names"]
    assert np.linalg.norm(arrays["posed"] - evaluate_glb(d, 2), axis=1).max() < 1e-3
