"""Training datasets: synthetic self-reconstruction pairs and the frame-pairs folder format."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from rome_smplx.trainers.datasets import (
    FramePairsDataset,
    SyntheticPeopleDataset,
    collate,
    flame_params_from_batch,
    parsing_to_masks,
)

from rome_smplx.errors import AssetError, InputError

SIZE = 32


def _codes(seed: int) -> dict:
    g = np.random.default_rng(seed)
    return {
        "shape": g.normal(size=(1, 100)).astype(np.float32) * 0.1,
        "exp": g.normal(size=(1, 50)).astype(np.float32) * 0.1,
        "pose": np.array([[0.0, 0.1 * seed, 0.0, 0.05, 0.0, 0.0]], np.float32),
        "cam": np.array([[8.0, 0.0, 0.01 * seed]], np.float32),
    }


def _frame(folder, name, seed, size=48, parsing=False, kpts=False):
    g = np.random.default_rng(seed)
    Image.fromarray((g.random((size, size, 3)) * 255).astype(np.uint8)).save(folder / f"{name}.png")
    m = np.zeros((size, size), np.uint8)
    m[8:40, 10:38] = 255
    Image.fromarray(m).save(folder / f"{name}_mask.png")
    with open(folder / f"{name}_flame.pkl", "wb") as f:
        pickle.dump(_codes(seed), f, protocol=2)
    if parsing:
        lab = np.zeros((size, size), np.uint8)
        lab[8:20] = 17  # hair
        lab[20:30] = 1  # face
        lab[30:36] = 14  # neck
        lab[36:40] = 16  # cloth
        Image.fromarray(lab).save(folder / f"{name}_parsing.png")
    if kpts:
        np.save(folder / f"{name}_kpts.npy", np.full((68, 2), size / 4, np.float32))


@pytest.fixture
def frames_root(tmp_path):
    root = tmp_path / "data"
    for s, n in (("seq_a", 3), ("seq_b", 2)):
        (root / s).mkdir(parents=True)
        for i in range(n):
            _frame(root / s, f"{i:04d}", seed=10 * len(s) + i + (5 if s == "seq_b" else 0), parsing=(s == "seq_a"),
                   kpts=(s == "seq_a"))
    (root / "lonely").mkdir()
    _frame(root / "lonely", "0000", seed=99)
    return root


def test_parsing_groups():
    labels = torch.tensor([[0, 1, 7, 14], [16, 17, 18, 13]])
    hair, neck = parsing_to_masks(labels)
    assert hair.tolist() == [[0, 1, 1, 0], [0, 1, 1, 1]]
    assert neck.tolist() == [[0, 1, 1, 1], [1, 1, 1, 1]]


def test_frame_pairs_items_and_determinism(frames_root):
    ds = FramePairsDataset(frames_root, image_size=SIZE, seed=3)
    assert len(ds) == 2  # the one-frame sequence is skipped
    item = ds[0]
    assert item["source_image"].shape == (3, SIZE, SIZE) and item["target_mask"].shape == (1, SIZE, SIZE)
    assert item["source_shape"].shape == (100,) and item["target_pose"].shape == (6,) and item["target_cam"].shape == (3,)
    src, tgt = ds.pair(0)
    assert src != tgt
    # the FLAME code is the one of the drawn frames
    exp = _codes(int(tgt.stem) + 10 * 5)["exp"][0]
    assert torch.allclose(item["target_exp"], torch.from_numpy(exp), atol=1e-6)
    # parsing: hair rows 8..19 of 48 -> hair mask 1 there, neck mask includes neck and cloth
    assert item["has_parsing"].item() == 1.0
    assert item["target_hair_mask"][0, 6, 5] == 1 and item["target_hair_mask"][0, 22, 5] == 0
    assert item["target_neck_mask"][0, 22, 5] == 1
    assert item["has_keypoints"].item() == 1.0
    assert torch.allclose(item["target_keypoints"], torch.full((68, 2), -0.5))
    other = ds[1]
    assert other["has_parsing"].item() == 0.0 and other["has_keypoints"].item() == 0.0
    assert other["target_hair_mask"].abs().sum() == 0
    # same seed and epoch: same pair; the draws vary over epochs
    again = FramePairsDataset(frames_root, image_size=SIZE, seed=3)
    assert again.pair(0) == ds.pair(0)
    pairs = set()
    for e in range(12):
        ds.set_epoch(e)
        pairs.add(ds.pair(0))
    assert len(pairs) > 2
    batch = collate([ds[0], ds[1]])
    assert batch["source_image"].shape == (2, 3, SIZE, SIZE)
    params = flame_params_from_batch(batch, "target")
    assert params.batch_size == 2 and params.cam.shape == (2, 3)


def test_frame_pairs_clear_errors(tmp_path, frames_root):
    with pytest.raises(AssetError, match="not found"):
        FramePairsDataset(tmp_path / "nope")
    (frames_root / "seq_a" / "0001_mask.png").unlink()
    with pytest.raises(AssetError, match="0001_mask.png"):
        FramePairsDataset(frames_root)
    _frame(frames_root / "seq_a", "0001", seed=1)
    (frames_root / "seq_b" / "0000_flame.pkl").unlink()
    with pytest.raises(AssetError, match="0000_flame.pkl"):
        FramePairsDataset(frames_root)
    empty = tmp_path / "empty"
    (empty / "s").mkdir(parents=True)
    with pytest.raises(AssetError, match="at least two frames"):
        FramePairsDataset(empty)


def test_frame_pairs_corrupt_files(tmp_path):
    root = tmp_path / "d"
    (root / "s").mkdir(parents=True)
    _frame(root / "s", "a", 1)
    _frame(root / "s", "b", 2)
    (root / "s" / "b.png").write_bytes(b"not a png")
    (root / "s" / "a.png").write_bytes(b"not a png")
    ds = FramePairsDataset(root, image_size=SIZE)
    with pytest.raises(InputError, match=r"\.png"):
        ds[0]
    _frame(root / "s", "a", 1)
    _frame(root / "s", "b", 2)
    with open(root / "s" / "a_flame.pkl", "wb") as f:
        pickle.dump({"shape": np.zeros((1, 100), np.float32)}, f, protocol=2)
    with open(root / "s" / "b_flame.pkl", "wb") as f:
        pickle.dump({"shape": np.zeros((1, 100), np.float32)}, f, protocol=2)
    with pytest.raises(InputError, match="missing keys"):
        ds[0]
    _frame(root / "s", "a", 1)
    _frame(root / "s", "b", 2)
    np.save(root / "s" / "a_kpts.npy", np.zeros((5, 2)))
    np.save(root / "s" / "b_kpts.npy", np.zeros((5, 2)))
    with pytest.raises(InputError, match=r"\(68, 2\)"):
        ds[0]


def test_synthetic_people_self_reconstruction(synthetic_dir_small):
    ds = SyntheticPeopleDataset(synthetic_dir_small, image_size=64)
    assert len(ds) == 1
    item = ds[0]
    assert torch.equal(item["source_image"], item["target_image"])
    assert torch.equal(item["source_exp"], item["target_exp"])
    assert item["source_image"].shape == (3, 64, 64)
    hair, neck = item["target_hair_mask"], item["target_neck_mask"]
    # the hair mask (head without neck/shoulders) lies inside the matte and is a strict part of it
    assert float((hair * (1 - (neck > 0.5).float())).sum()) == 0.0
    assert 0.1 * neck.sum() < hair.sum() < neck.sum()
    kp = item["target_keypoints"]
    assert kp.shape == (68, 2) and kp.abs().max() < 1
    # landmarks fall on the person (inside the matte)
    cols = ((kp[:, 0] + 1) / 2 * 64).long().clamp(0, 63)
    rows = ((kp[:, 1] + 1) / 2 * 64).long().clamp(0, 63)
    assert (neck[0, rows, cols] > 0.5).float().mean() > 0.9
    with pytest.raises(AssetError, match="people"):
        SyntheticPeopleDataset(synthetic_dir_small / "flame")
