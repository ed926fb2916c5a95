"""Training pairs from the reference's VoxCeleb2-HQ LMDB shards (reference section 7).

Layout::

    root/chunks/<k>_lmdb/                 LMDB environments (the reference has 128: 0..127)
    root/lists/train_keys.pkl             list of (chunk_id, [frame keys of one sequence])
    root/lists/test_keys.pkl

Each record is a pickled dict: ``image`` (encoded RGB bytes), ``mask`` (encoded one-channel matte),
``size`` (square crop side), ``face_scale``, ``keypoints_2d`` (68, 2) pixels of the crop,
``3dmm`` (3DDFA fit, unused) and ``transform_ffhq`` ``{"theta": (2, 3)}``. Records and key lists
are read with the restricted unpickler (they are untrusted input). Item ``i`` is sequence ``i``:
in ``train`` two distinct frames drawn from ``(seed, epoch, i)``, in ``test`` the first two listed.

The source is FFHQ-aligned like the reference's (``theta`` with its linear part scaled by
``zoom`` = 1.25, grid-sampled), and its landmarks are moved by the same transform. The shards store
no FLAME fits (the reference runs DECA online); given a ``flame`` model, this dataset fits FLAME to
each frame's landmarks (:func:`~rome_smplx.bridges.flame_fit.fit_flame_to_landmarks`) and fills
the DECA code fields, so items carry the keys of :mod:`rome_smplx.trainers.datasets`.

Requires the ``lmdb`` package (extra ``lmdb``).
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rome_smplx.errors import AssetError, BackendError, InputError

logger = logging.getLogger(__name__)

__all__ = ["RECORD_KEYS", "VoxCelebLmdbDataset", "decode_record", "write_lmdb_record"]

#: Keys every record must have (``3dmm`` and ``face_scale`` are read by the reference but unused here).
RECORD_KEYS = ("image", "mask", "size", "keypoints_2d", "transform_ffhq")


def _lmdb():
    try:
        import lmdb
    except ImportError:
        raise BackendError("reading LMDB shards needs the 'lmdb' package: pip install 'rome-smplx[lmdb]'") from None
    return lmdb


def _decode_image(data: Any, where: str, channels: int) -> Tensor:
    """Encoded bytes -> (1, C, H, W) float32 in [0, 1]."""
    from PIL import Image, UnidentifiedImageError

    if not isinstance(data, (bytes, bytearray)):
        raise InputError(f"{where}: expected encoded image bytes, found {type(data).__name__}")
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            im = im.convert("RGB" if channels == 3 else "L")
            a = np.asarray(im, dtype=np.uint8).astype(np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"{where}: not a decodable image ({type(exc).__name__}: {exc})") from None
    t = torch.from_numpy(a)
    return (t.permute(2, 0, 1) if channels == 3 else t[None])[None].contiguous()


def decode_record(data: bytes, where: str) -> dict[str, Any]:
    """One LMDB value -> ``image`` (1, 3, S, S), ``mask`` (1, 1, S, S), ``keypoints`` (68, 2) pixels,
    ``theta`` (2, 3), validated (``where`` names the shard and key in errors)."""
    from rome_smplx.io.pickle_safe import loads_restricted

    rec = loads_restricted(data, where)
    if not isinstance(rec, dict):
        raise InputError(f"{where}: expected a pickled dict record, found {type(rec).__name__}")
    missing = [k for k in RECORD_KEYS if k not in rec]
    if missing:
        raise InputError(f"{where}: record lacks the keys {missing} (expected {list(RECORD_KEYS)})")
    image = _decode_image(rec["image"], f"{where} 'image'", 3)
    mask = _decode_image(rec["mask"], f"{where} 'mask'", 1)
    S = int(rec["size"])
    if image.shape[-2:] != (S, S) or mask.shape[-2:] != (S, S):
        raise InputError(f"{where}: 'size' is {S} but the image is {tuple(image.shape[-2:])} and the mask "
                         f"{tuple(mask.shape[-2:])}")
    kp = np.asarray(rec["keypoints_2d"], dtype=np.float64)
    if kp.shape != (68, 2) or not np.isfinite(kp).all():
        raise InputError(f"{where}: 'keypoints_2d': expected (68, 2) finite pixels, found {kp.shape}")
    tf = rec["transform_ffhq"]
    theta = np.asarray(tf.get("theta") if isinstance(tf, dict) else None, dtype=np.float64)
    if theta.shape != (2, 3) or not np.isfinite(theta).all():
        raise InputError(f"{where}: 'transform_ffhq': expected {{'theta': (2, 3)}}, found {theta.shape}")
    return {"image": image, "mask": mask, "keypoints": torch.as_tensor(kp, dtype=torch.float32),
            "theta": torch.as_tensor(theta, dtype=torch.float32), "size": S}


def write_lmdb_record(image: Tensor, mask: Tensor, keypoints: Tensor, theta: Tensor, *, face_scale: float = 1.0) -> bytes:
    """Encode one frame as a record of the reference's layout (PNG bytes; for tests and conversions).

    Args:
        image: (1, 3, S, S) in [0, 1]; mask: (1, 1, S, S); keypoints: (68, 2) pixels; theta: (2, 3).
    """
    import pickle

    from PIL import Image

    def png(t: Tensor) -> bytes:
        a = (t[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        buf = io.BytesIO()
        Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a).save(buf, format="PNG")
        return buf.getvalue()

    rec = {
        "image": png(image), "mask": png(mask), "size": int(image.shape[-1]), "face_scale": float(face_scale),
        "keypoints_2d": keypoints.detach().double().numpy(),
        "3dmm": {"param": np.zeros(62, np.float32), "bbox": np.zeros(4, np.float32)},
        "transform_ffhq": {"theta": theta.detach().double().numpy()},
    }
    return pickle.dumps(rec, protocol=4)


def align_source(image: Tensor, mask: Tensor, keypoints: Tensor, theta: Tensor, size: int, zoom: float = 1.25):
    """FFHQ-align a frame like the reference: ``theta`` (normalised coordinates, output -> input)
    with its linear part scaled by ``zoom``, sampled to ``size``; keypoints (pixels) follow.

    Returns:
        image (1, 3, size, size), mask (1, 1, size, size), keypoints (68, 2) in pixels of the result.
    """
    A = theta.clone()
    A[:, :2] = A[:, :2] * zoom
    grid = F.affine_grid(A[None], [1, 1, size, size], align_corners=False)
    img = F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    msk = F.grid_sample(mask, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    S = image.shape[-1]
    n_in = 2 * keypoints / S - 1  # input NDC
    n_out = torch.linalg.solve(A[:, :2], (n_in - A[:, 2]).T).T
    return img.clamp(0, 1), msk.clamp(0, 1), (n_out + 1) * size / 2


class VoxCelebLmdbDataset(torch.utils.data.Dataset):
    """Pairs of frames from the reference's LMDB shards (see the module docstring).

    Args:
        root: the data root (``chunks/`` and ``lists/`` inside).
        split: ``"train"`` or ``"test"`` (``lists/<split>_keys.pkl``).
        image_size: side of the returned images (ROME: 256).
        seed: seed of the train pair draws.
        flame: a :class:`~rome_smplx.models.flame.FlameModel`; when given, FLAME is fitted to each
            frame's landmarks and the DECA code fields are filled (``has_codes`` 1).
        zoom: FFHQ zoom of the source (reference: 1.25).

    Raises:
        AssetError: missing folders, key list or shard; BackendError: ``lmdb`` not installed.
    """

    def __init__(self, root: str | os.PathLike, split: str = "train", image_size: int = 256, seed: int = 0,
                 flame: Optional[Any] = None, zoom: float = 1.25) -> None:
        from rome_smplx.io.pickle_safe import load_pickle

        _lmdb()
        self.root = Path(root)
        if split not in ("train", "test"):
            raise InputError(f"split: expected 'train' or 'test', found {split!r}")
        keys_file = self.root / "lists" / f"{split}_keys.pkl"
        if not (self.root / "chunks").is_dir():
            raise AssetError("LMDB data root has no chunks/ folder (expected chunks/<k>_lmdb)", path=self.root)
        if not keys_file.is_file():
            raise AssetError(f"key list not found (expected lists/{split}_keys.pkl)", path=keys_file)
        raw = load_pickle(keys_file)
        self.sequences: list[tuple[int, list[bytes]]] = []
        if not isinstance(raw, (list, tuple)):
            raise AssetError(f"expected a list of (chunk_id, [frame keys]), found {type(raw).__name__}", path=keys_file)
        for n, entry in enumerate(raw):
            if not (isinstance(entry, (list, tuple)) and len(entry) == 2 and isinstance(entry[1], (list, tuple))):
                raise AssetError(f"entry {n}: expected (chunk_id, [frame keys])", path=keys_file)
            chunk = int(entry[0])
            frames = [k if isinstance(k, bytes) else str(k).encode() for k in entry[1]]
            if not (self.root / "chunks" / f"{chunk}_lmdb").is_dir():
                raise AssetError(f"entry {n}: shard chunks/{chunk}_lmdb not found", path=self.root)
            if len(frames) >= 2:
                self.sequences.append((chunk, frames))
            else:
                logger.warning("%s entry %d: fewer than two frames, skipped", keys_file, n)
        if not self.sequences:
            raise AssetError("no sequence with at least two frames", path=keys_file)
        self.split, self.image_size, self.seed, self.zoom = split, int(image_size), int(seed), float(zoom)
        self.flame = flame
        self.epoch = 0
        self._envs: dict[int, Any] = {}
        self._pid = os.getpid()

    def __len__(self) -> int:
        return len(self.sequences)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _env(self, chunk: int):
        if os.getpid() != self._pid:  # a DataLoader worker: environments do not survive fork
            self._envs, self._pid = {}, os.getpid()
        if chunk not in self._envs:
            path = self.root / "chunks" / f"{chunk}_lmdb"
            try:
                self._envs[chunk] = _lmdb().open(str(path), readonly=True, lock=False, readahead=False,
                                                 max_readers=64, subdir=True)
            except Exception as exc:
                raise AssetError(f"cannot open the LMDB shard ({type(exc).__name__}: {exc})", path=path) from None
        return self._envs[chunk]

    def read(self, chunk: int, key: bytes) -> dict[str, Any]:
        """The decoded record ``key`` of shard ``chunk``."""
        where = f"{self.root / 'chunks' / f'{chunk}_lmdb'}[{key.decode(errors='replace')}]"
        with self._env(chunk).begin(write=False) as txn:
            data = txn.get(key)
        if data is None:
            raise AssetError(f"key {key!r} not in the shard", path=self.root / "chunks" / f"{chunk}_lmdb")
        return decode_record(bytes(data), where)

    def pair(self, index: int) -> tuple[int, bytes, bytes]:
        chunk, frames = self.sequences[index]
        if self.split == "test":
            return chunk, frames[0], frames[1]
        from rome_smplx.trainers.datasets import _mix_seed

        g = torch.Generator().manual_seed(_mix_seed(self.seed, self.epoch, index))
        i, j = torch.randperm(len(frames), generator=g)[:2].tolist()
        return chunk, frames[i], frames[j]

    def _codes(self, keypoints: Tensor, prefix: str) -> dict[str, Tensor]:
        from rome_smplx.bridges.flame_fit import fit_flame_to_landmarks
        from rome_smplx.trainers.datasets import code_items

        S = self.image_size
        fit = fit_flame_to_landmarks(self.flame, keypoints[None], (S, S))
        return code_items(fit.flame, prefix)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(f"VoxCelebLmdbDataset: index {index} out of range (0..{len(self) - 1})")
        chunk, ks, kt = self.pair(index)
        src, tgt = self.read(chunk, ks), self.read(chunk, kt)
        S = self.image_size
        s_img, s_mask, s_kp = align_source(src["image"], src["mask"], src["keypoints"], src["theta"], S, self.zoom)

        def resize(t: Tensor) -> Tensor:
            return F.interpolate(t, size=(S, S), mode="bilinear", align_corners=False, antialias=True)[0].clamp(0, 1)

        t_kp = tgt["keypoints"] * (S / tgt["size"])
        item: dict[str, Tensor] = {
            "source_image": s_img[0], "source_mask": s_mask[0],
            "target_image": resize(tgt["image"]), "target_mask": resize(tgt["mask"]),
            "source_keypoints": 2 * s_kp / S - 1, "target_keypoints": 2 * t_kp / S - 1,
            "has_keypoints": torch.tensor(1.0),
            "target_hair_mask": torch.zeros(1, S, S), "target_neck_mask": torch.zeros(1, S, S),
            "has_parsing": torch.tensor(0.0),
            "has_codes": torch.tensor(1.0 if self.flame is not None else 0.0),
        }
        if self.flame is not None:
            item.update(self._codes(s_kp, "source"))
            item.update(self._codes(t_kp, "target"))
        return {k: v.contiguous() for k, v in item.items()}
