"""The synthetic video world: determinism, hair outside the basis, per-frame truth, datasets, on-disk layout."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from rome_smplx.assets import Assets
from rome_smplx.assets.synthetic.video import (
    HAIR_FAMILIES,
    POSE_LIMITS,
    SEGMENTATION_LABELS,
    SPLITS,
    TRACKING_NOISE,
    HairStyle,
    SyntheticSubject,
    basis_residual,
    family_mix,
    hair_offsets,
    write_video,
)
from rome_smplx.errors import InputError


@pytest.fixture(scope="module")
def assets(synthetic_dir):
    return Assets.from_dir(synthetic_dir)


@pytest.fixture(scope="module")
def subject(assets):
    return SyntheticSubject.from_seed(11, assets, family="long")


def test_same_seed_same_bytes_other_seed_other_person(assets, subject):
    again = SyntheticSubject.from_seed(11, assets, family="long")
    assert torch.equal(again.texture, subject.texture) and torch.equal(again.offsets, subject.offsets)
    frames = subject.walk(3)
    a = subject.render(frames, 64)
    b = again.render(frames, 64)
    for x, y in zip(a, b):
        assert x.image.numpy().tobytes() == y.image.numpy().tobytes()
        assert torch.equal(x.tracked.shape, y.tracked.shape)
    other = SyntheticSubject.from_seed(12, assets)
    assert not torch.allclose(other.shape, subject.shape)
    assert not torch.equal(other.texture, subject.texture)


def test_every_family_drawn_and_walk_is_prefix_stable(subject):
    mix = family_mix(range(200))
    assert set(mix) == set(HAIR_FAMILIES) and min(mix.values()) >= 10 and sum(mix.values()) == 200
    long_walk = subject.walk(12)
    assert subject.walk(5) == long_walk[:5]
    assert subject.walk(4, start=8) == long_walk[8:12]


def test_walk_stays_in_range_and_is_smooth(subject):
    frames = subject.walk(200)
    yaw = np.array([f.yaw for f in frames])
    pitch = np.array([f.pitch for f in frames])
    roll = np.array([f.roll for f in frames])
    for v, lim in zip((yaw, pitch, roll), POSE_LIMITS):
        assert np.abs(v).max() <= lim + 1e-9
    assert yaw.std() > math.radians(8)  # it moves
    assert np.abs(np.diff(yaw)).mean() < 0.35 * yaw.std() * 2  # consecutive frames are close
    assert all(0.0 <= f.jaw <= 0.3 + 1e-9 for f in frames)


def test_hair_is_not_in_the_basis(assets):
    """The best 60-component fit leaves >= 10% of the offsets on average (the basis approximates)."""
    data = assets.rome_data()
    fd = assets.flame_data()
    rng = np.random.default_rng(0)
    res = []
    for k in range(40):
        style = HairStyle.sample(rng, HAIR_FAMILIES[k % len(HAIR_FAMILIES)])
        off, _ = hair_offsets(style, fd["v_template"], data.faces.numpy(), data.hair_list.numpy(),
                              data.neck_list.numpy(), data.deform_mask.numpy() > 0)
        assert np.abs(off[data.deform_mask.numpy() == 0]).max() == 0.0  # only deformable vertices move
        res.append(basis_residual(off, data.basis, data.mean_deform))
    assert np.mean(res) >= 0.10
    # ... and the fit is a projection: a field inside the span is reproduced exactly
    inside = (data.basis @ torch.randn(data.basis.shape[1], dtype=torch.float32) * 0.01).reshape(-1, 3) + data.mean_deform
    assert basis_residual(inside, data.basis, data.mean_deform) < 1e-5


def test_long_hair_reaches_the_shoulders(assets, subject):
    data = assets.rome_data()
    v = assets.flame_data()["v_template"]
    neck = data.neck_list.numpy()
    w = subject.hair_weight.numpy()
    carried = neck[w[neck] > 0.5]
    assert len(carried) > 20
    # hair-covered neck vertices go down to the lowest third of the neck, and stand off it
    y = v[neck, 1]
    assert v[carried, 1].min() < y.min() + 0.34 * (y.max() - y.min())
    assert np.linalg.norm(subject.offsets.numpy()[carried], axis=1).mean() > 0.01


def test_landmarks_equal_the_projection_of_the_true_mesh(assets, subject):
    """Against an independent path: the SDK's FLAME model's landmark embedding on the true mesh."""
    from rome_smplx.trainers.datasets import landmarks_from_vertices

    from rome_smplx.models.flame import FlameModel
    from rome_smplx.render.cameras import rome_project

    flame = FlameModel.from_assets(assets)
    S = 128
    for fr in subject.render(subject.walk(6), S):
        t = fr.flame
        lmk = landmarks_from_vertices(flame, fr.vertices[None], t.global_rot @ t.neck_rot)
        ndc = rome_project(lmk, t.cam, fr.root_joint[None], t.global_rot)[0, :, :2]
        err_px = ((ndc - fr.landmarks) * S / 2).norm(dim=-1).max()
        assert float(err_px) < 0.5
        # and the true mesh is FLAME with the offsets added
        out = flame(dataclasses.replace(t, cam=None))
        assert torch.allclose(out.vertices[0] + fr.offsets, fr.vertices, atol=2e-5)


@pytest.mark.pytorch3d
def test_matte_equals_coverage_of_the_true_mesh_other_backend(assets, subject):
    from rome_smplx.render.cameras import rome_project
    from rome_smplx.render.raster import rasterize

    S = 96
    faces = assets.rome_data().faces
    for fr in subject.render(subject.walk(3), S):
        t = fr.flame
        ndc = rome_project(fr.vertices[None], t.cam, fr.root_joint[None], t.global_rot)
        ndc = torch.cat([ndc[..., :2], ndc[..., 2:] + 10.0], -1)
        cov = (rasterize(ndc, faces, (S, S), backend="pytorch3d").pix_to_face[0, ..., 0] >= 0).float()
        diff = (cov != fr.matte[0]).sum()
        assert int(diff) <= 3  # edge pixels may round differently between the backends
        assert float(fr.matte.sum()) > 0.1 * S * S


def test_segmentation_labels_cover_the_matte(subject):
    fr = subject.render(subject.walk(1)[0], 96)
    seg = fr.segmentation
    assert torch.equal(seg > 0, fr.matte[0] > 0)
    for name in ("face", "hair", "neck"):
        assert int((seg == SEGMENTATION_LABELS[name]).sum()) > 20, name


def test_render_codes_is_the_render_at_the_true_codes(subject):
    from rome_smplx.errors import InputError

    frames = subject.walk(3)
    rendered = subject.render(frames, 96, tracking_noise=0.5)
    img, matte = subject.render_codes(subject.flame_params(frames), frames, 96)
    assert torch.equal(img, torch.stack([f.image for f in rendered]))
    assert torch.equal(matte, torch.stack([f.matte for f in rendered]))
    tracked = subject.tracked_params(frames, 0.5)
    moved, _ = subject.render_codes(tracked, frames, 96)
    assert float((moved - img).abs().mean()) > 1e-3  # tracker noise moves the head
    with pytest.raises(InputError, match="3 codes for 2 frames"):
        subject.render_codes(tracked, frames[:2], 96)
    with pytest.raises(InputError, match="image_size"):
        subject.render_codes(tracked, frames, 8)


def test_tracking_noise_has_the_stated_size(subject):
    frames = subject.walk(300)
    truth = subject.flame_params(frames)
    assert torch.equal(subject.tracked_params(frames, 0.0).expression, truth.expression)
    tr = subject.tracked_params(frames, 1.0)
    d_exp = (tr.expression - truth.expression).std()
    assert abs(float(d_exp) / TRACKING_NOISE["expression"] - 1) < 0.1
    d_scale = (tr.cam[:, 0] / truth.cam[:, 0]).log().std()
    assert abs(float(d_scale) / TRACKING_NOISE["scale"] - 1) < 0.2
    half = subject.tracked_params(frames, 0.5)
    assert abs(float((half.expression - truth.expression).std() / d_exp) - 0.5) < 0.02


def test_bad_arguments(assets, subject):
    with pytest.raises(InputError):
        SyntheticSubject.from_seed(-1, assets)
    with pytest.raises(InputError):
        HairStyle("mohawk", 0.5, 0.5, 0.0, 0.0, 0.0)
    with pytest.raises(InputError):
        HairStyle("bob", 1.5, 0.5, 0.0, 0.0, 0.0)
    with pytest.raises(InputError):
        subject.render(subject.walk(1)[0], 8)
    with pytest.raises(InputError):
        subject.walk(0)


def test_other_vertex_count(synthetic_dir_small):
    a = Assets.from_dir(synthetic_dir_small)
    s = SyntheticSubject.from_seed(3, a)
    assert s.offsets.shape == (a.num_flame_vertices, 3)
    fr = s.render(s.walk(1)[0], 64)
    assert fr.vertices.shape == (a.num_flame_vertices, 3) and float(fr.matte.sum()) > 100


# ------------------------------------------------------------------------------------------ datasets
def test_video_dataset_self_and_cross(assets):
    from rome_smplx.trainers.datasets import SyntheticVideoDataset, collate

    ds = SyntheticVideoDataset(assets, seeds=range(20, 24), frames=6, image_size=64, mode="self")
    item = ds[1]
    again = SyntheticVideoDataset(assets, seeds=range(20, 24), frames=6, image_size=64, mode="self")[1]
    assert all(torch.equal(item[k], again[k]) for k in item)
    assert int(item["source_seed"]) == int(item["target_seed"]) == 21
    assert not torch.equal(item["source_image"], item["target_image"])
    ds.set_epoch(1)
    assert not torch.equal(ds[1]["target_image"], item["target_image"]) or not torch.equal(
        ds[1]["source_image"], item["source_image"])
    batch = collate([ds[i] for i in range(3)])
    assert batch["target_keypoints"].shape == (3, 68, 2) and batch["source_pose"].shape == (3, 6)

    cross = SyntheticVideoDataset(assets, seeds=range(20, 24), frames=6, image_size=64, mode="cross")
    it = cross[0]
    src, _, drv, j = cross.draw(0)
    assert src == 20 and drv != src and int(it["target_seed"]) == drv
    subj = cross.subject(src)
    driver_frame = cross.subject(drv).walk(j + 1)[j]
    truth = subj.render(driver_frame, 64, tracking_noise=0.0)
    assert torch.equal(it["target_image"], truth.image)  # the source identity in the driver's pose
    assert torch.equal(it["target_mask"], truth.matte)
    # the source subject's true offsets ride along (the optional 3D-supervised loss reads them)
    assert torch.equal(it["source_offsets"], subj.offsets.float()) and it["source_offsets"].abs().max() > 1e-3
    assert torch.equal(item["source_offsets"], ds.subject(21).offsets.float())
    with pytest.raises(InputError):
        SyntheticVideoDataset(assets, seeds=[5], mode="cross")
    assert set(SPLITS["train"]).isdisjoint(SPLITS["test"]) and set(SPLITS["validation"]).isdisjoint(SPLITS["test"])


def test_written_videos_read_back_through_the_user_reader(assets, tmp_path):
    from rome_smplx.trainers.datasets import FramePairsDataset

    out = write_video(tmp_path / "videos", assets, range(30, 32), frames=3, image_size=64, progress=False)
    ds = FramePairsDataset(out, image_size=64)
    assert len(ds) == 2
    item = ds[0]
    assert item["has_parsing"] == 1 and item["has_keypoints"] == 1
    src_file, tgt_file = ds.pair(0)
    subj = SyntheticSubject.from_seed(30, assets)
    k = int(tgt_file.stem.split("_")[1])
    fr = subj.render(subj.walk(k + 1)[k], 64, frame_ids=[k])
    assert (item["target_image"] - fr.image).abs().max() <= 1 / 255 + 1e-6
    assert torch.allclose(item["target_keypoints"], fr.landmarks, atol=1e-5)
    assert torch.allclose(item["target_exp"], fr.tracked.expression[0], atol=1e-6)
    hair = ((fr.segmentation == 1) | (fr.segmentation == 2)).float()
    assert torch.equal(item["target_hair_mask"][0], hair)
    truth = np.load(out / "subject_000030" / "truth" / f"frame_{k:03d}.npz")
    assert np.allclose(truth["vertices"], fr.vertices.numpy())
    with pytest.raises(InputError):
        write_video(out, assets, range(1), frames=2, image_size=32, progress=False)  # not an empty folder


def test_cli_video_bad_arguments(tmp_path):
    from click.testing import CliRunner

    from rome_smplx.cli import main

    r = CliRunner().invoke(main, ["assets", "video", str(tmp_path / "v"), "--seeds", "5:2"])
    assert r.exit_code == 2 and "--seeds" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["assets", "video", str(tmp_path / "v"), "--frames", "1"])
    assert r.exit_code == 2 and not (tmp_path / "v").exists()
