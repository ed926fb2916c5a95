"""The reference's VoxCeleb2-HQ LMDB layout: a small LMDB written from synthetic frames, read back."""

from __future__ import annotations

import pickle

import pytest
import torch

lmdb = pytest.importorskip("lmdb")

from rome_smplx.trainers.lmdb_data import VoxCelebLmdbDataset, align_source, write_lmdb_record  # noqa: E402

from rome_smplx.errors import AssetError, InputError  # noqa: E402

S = 64
THETA = torch.tensor([[0.8, 0.0, 0.05], [0.0, 0.8, -0.02]])


def _frame(seq: int, k: int):
    """A smooth procedural frame (so bilinear sampling is accurate), a disc matte and 68 points."""
    g = torch.Generator().manual_seed(100 * seq + k)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, S), torch.linspace(-1, 1, S), indexing="ij")
    ph = torch.rand(3, generator=g) * 6.28
    image = torch.stack([0.5 + 0.4 * torch.sin(2 * xx + 1.5 * yy + ph[c]) for c in range(3)])[None]
    mask = ((xx**2 + yy**2) < 0.6).float()[None, None]
    kp = S / 2 + (torch.rand(68, 2, generator=g) - 0.5) * S * 0.5
    return image, mask, kp


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("voxceleb_lmdb")
    (root / "chunks").mkdir()
    (root / "lists").mkdir()
    seqs = {0: [(0, 3), (1, 3)], 1: [(2, 4)]}  # chunk -> [(sequence, frames)]
    keys = []
    for chunk, entries in seqs.items():
        env = lmdb.open(str(root / "chunks" / f"{chunk}_lmdb"), map_size=1 << 24)
        with env.begin(write=True) as txn:
            for seq, n in entries:
                names = []
                for k in range(n):
                    name = f"id{seq:05d}/clip/{k:06d}"
                    txn.put(name.encode(), write_lmdb_record(*_frame(seq, k), THETA))
                    names.append(name)
                keys.append((chunk, names))
        env.close()
    (root / "lists" / "train_keys.pkl").write_bytes(pickle.dumps(keys))
    (root / "lists" / "test_keys.pkl").write_bytes(pickle.dumps(keys[:2]))
    return root


def test_test_split_reads_the_listed_frames(root):
    ds = VoxCelebLmdbDataset(root, split="test", image_size=S)
    assert len(ds) == 2
    item = ds[1]
    image, mask, kp = _frame(1, 1)
    # target: frame 1 of sequence 1, through PNG (8 bits)
    torch.testing.assert_close(item["target_image"], image[0], atol=0.5 / 255 + 1e-6, rtol=0)
    torch.testing.assert_close(item["target_mask"], mask[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(item["target_keypoints"], 2 * kp / S - 1, atol=1e-5, rtol=0)
    assert float(item["has_codes"]) == 0.0 and float(item["has_keypoints"]) == 1.0
    assert item["source_image"].shape == (3, S, S) and item["source_mask"].shape == (1, S, S)


def test_source_alignment_moves_image_and_landmarks_together(root):
    ds = VoxCelebLmdbDataset(root, split="test", image_size=S)
    item = ds[0]
    image, _, kp = _frame(0, 0)
    # Analytic: output NDC = (input NDC - t) / (1.25 a) for theta = [a I | t].
    n_in = 2 * kp / S - 1
    expected = (n_in - THETA[:, 2]) / (1.25 * 0.8)
    torch.testing.assert_close(item["source_keypoints"], expected, atol=1e-5, rtol=0)
    # The aligned image at an aligned landmark shows the original image at the original landmark.
    inside = (expected.abs() < 0.9).all(1)
    grid_out = item["source_keypoints"][inside][None, :, None]
    grid_in = n_in[inside][None, :, None]
    a = torch.nn.functional.grid_sample(item["source_image"][None], grid_out, align_corners=False)
    b = torch.nn.functional.grid_sample(image, grid_in, align_corners=False)
    assert float((a - b).abs().max()) < 0.03


def test_align_source_identity_keeps_the_frame():
    image, mask, kp = _frame(3, 0)
    eye = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    img, msk, kp2 = align_source(image, mask, kp, eye, S, zoom=1.0)
    torch.testing.assert_close(img, image, atol=1e-5, rtol=0)
    torch.testing.assert_close(kp2, kp, atol=1e-4, rtol=0)


def test_train_pairs_are_distinct_seeded_and_change_with_the_epoch(root):
    ds = VoxCelebLmdbDataset(root, split="train", image_size=S, seed=3)
    assert len(ds) == 3
    pairs0 = [ds.pair(i) for i in range(3)]
    assert all(s != t for _, s, t in pairs0)
    assert pairs0 == [VoxCelebLmdbDataset(root, split="train", image_size=S, seed=3).pair(i) for i in range(3)]
    draws = set()
    for e in range(8):
        ds.set_epoch(e)
        draws.add(ds.pair(2))
    assert len(draws) > 1  # sequence 2 has 4 frames: 12 ordered pairs
    batch = torch.utils.data.default_collate([ds[0], ds[2]])
    assert batch["target_image"].shape == (2, 3, S, S)


def test_bad_layouts_and_records_are_clear_errors(root, tmp_path):
    with pytest.raises(AssetError, match="chunks"):
        VoxCelebLmdbDataset(tmp_path)
    (tmp_path / "chunks").mkdir()
    with pytest.raises(AssetError, match="train_keys.pkl"):
        VoxCelebLmdbDataset(tmp_path)
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "train_keys.pkl").write_bytes(pickle.dumps([(5, ["a", "b"])]))
    with pytest.raises(AssetError, match="5_lmdb"):
        VoxCelebLmdbDataset(tmp_path)
    # A record that is a malicious pickle is refused by the restricted unpickler.
    import os

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    env = lmdb.open(str(tmp_path / "chunks" / "5_lmdb"), map_size=1 << 20)
    with env.begin(write=True) as txn:
        txn.put(b"a", pickle.dumps(Evil()))
        txn.put(b"b", pickle.dumps({"image": b"not a png", "mask": b"", "size": 4, "keypoints_2d": [],
                                    "transform_ffhq": {"theta": [[1, 0, 0], [0, 1, 0]]}}))
    env.close()
    ds = VoxCelebLmdbDataset(tmp_path, split="train")
    with pytest.raises(AssetError, match="refused"):
        ds.read(5, b"a")
    with pytest.raises(InputError, match=r"5_lmdb\[b\] 'image'"):
        ds.read(5, b"b")
    with pytest.raises(AssetError, match="not in the shard"):
        ds.read(5, b"zzz")
