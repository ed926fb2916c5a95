"""Training pairs for the ROME trainer.

Every dataset yields dicts of tensors without a batch dimension (``collate`` stacks them):

==========================  ==============  =====================================================
key                         shape           meaning
==========================  ==============  =====================================================
``source_image``            (3, S, S)       source frame in [0, 1]
``source_mask``             (1, S, S)       its matte
``source_shape/exp``        (100,) / (50,)  DECA code of the source (FLAME identity / expression)
``source_pose/cam``         (6,) / (3,)     axis-angle [global, jaw], camera [s, tx, ty]
``target_*``                same            the same for the target frame
``target_hair_mask``        (1, S, S)       face + ears + hair parsing mask (0 when absent)
``target_neck_mask``        (1, S, S)       face + ears + neck + cloth + hair (0 when absent)
``has_parsing``             ()              1.0 when the two parsing masks are real
``target_keypoints``        (68, 2)         landmarks in image NDC (x right, y down, [-1, 1])
``has_keypoints``           ()              1.0 when the landmarks are real
==========================  ==============  =====================================================

Randomness (which frames form a pair) is a pure function of ``(seed, epoch, index)``, so a run
resumed from a checkpoint sees the same pairs. Call :meth:`set_epoch` per epoch.

The reference's LMDB shards (VoxCeleb2-HQ records with 3DDFA fits, reference section 7) are out of
scope: convert such data to the :class:`FramePairsDataset` folder format.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rome_smplx.errors import AssetError, InputError, RomeSmplxError
from rome_smplx.types import FlameParams

if TYPE_CHECKING:  # pragma: no cover
    from rome_smplx.assets import Assets

logger = logging.getLogger(__name__)

__all__ = [
    "PARSING_GROUPS",
    "PERSON_PHOTOS",
    "DistillData",
    "FramePairsDataset",
    "SyntheticPeopleDataset",
    "SyntheticVideoDataset",
    "collate",
    "landmarks_from_vertices",
    "load_people",
    "load_video",
    "parsing_to_masks",
    "person_files",
    "person_folders",
    "read_person",
]

#: BiSeNet face-parsing label groups (19 classes) used by ROME's silhouette losses.
PARSING_GROUPS = {
    "face": (1, 2, 3, 4, 5, 6, 10, 11, 12, 13),
    "ears": (7, 8, 9),
    "neck": (14, 15),
    "cloth": (16,),
    "hair": (17, 18),
}
_DECA_KEYS = ("shape", "exp", "pose", "cam")


def _mix_seed(*values: int) -> int:
    """A 63-bit seed from integers (splitmix-style), stable across runs and platforms."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (int(v) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h & 0x7FFFFFFFFFFFFFFF


def parsing_to_masks(labels: Tensor) -> tuple[Tensor, Tensor]:
    """BiSeNet labels -> ROME's hair and neck silhouette targets.

    Args:
        labels: ``(..., H, W)`` integer labels 0..18.

    Returns:
        hair mask (face + ears + hair) and neck mask (face + ears + neck + cloth + hair), float 0/1,
        same shape as ``labels``.
    """
    def group(*names: str) -> Tensor:
        ids = torch.tensor([i for n in names for i in PARSING_GROUPS[n]], dtype=labels.dtype, device=labels.device)
        return torch.isin(labels, ids).to(torch.float32)

    return group("face", "ears", "hair"), group("face", "ears", "neck", "cloth", "hair")


def landmarks_from_vertices(flame, verts: Tensor, head_rot: Tensor) -> Tensor:
    """DECA's 68 landmarks on any vertices of FLAME's topology (e.g. with hair/neck offsets).

    Args:
        flame: :class:`~rome_smplx.models.flame.FlameModel` (its landmark embedding and faces).
        verts: ``(B, N, 3)``.
        head_rot: ``(B, 3, 3)`` global (times neck) rotation, which picks the contour row.

    Returns:
        ``(B, 68, 3)``.
    """
    from smplx.lbs import vertices2landmarks

    from rome_smplx.geometry.rotations import contour_bins

    b = verts.shape[0]
    rows = contour_bins(head_rot, flame.dynamic_lmk_faces_idx.shape[0])
    faces_idx = torch.cat([flame.dynamic_lmk_faces_idx[rows], flame.lmk_faces_idx.expand(b, -1)], dim=1)
    bary = torch.cat([flame.dynamic_lmk_bary_coords[rows], flame.lmk_bary_coords.expand(b, -1, -1)], dim=1)
    return vertices2landmarks(verts, flame.faces, faces_idx, bary.to(verts.dtype))


def collate(items: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Stack a list of dataset items into a batch (every value gets a leading batch dimension)."""
    if not items:
        raise InputError("collate: empty list of items")
    keys = items[0].keys()
    return {k: torch.stack([it[k] for it in items]) for k in keys}


def _resize(t: Tensor, size: int, mode: str) -> Tensor:
    """(1, C, H, W) -> (C, size, size)."""
    if t.shape[-2:] != (size, size):
        if mode == "nearest":
            t = F.interpolate(t, size=(size, size), mode="nearest")
        else:
            t = F.interpolate(t, size=(size, size), mode=mode, align_corners=False, antialias=True)
    return t[0].clamp(0, 1)


def _deca_params(path: Path) -> FlameParams:
    """One frame's DECA code dict file as :class:`FlameParams` (batch 1)."""
    from rome_smplx.bridges import deca

    params = deca.load(path)
    if params.batch_size != 1:
        raise InputError(f"{path}: expected one frame's DECA code (batch 1), found batch {params.batch_size}")
    return params


def _codes(path: Path) -> dict[str, Tensor]:
    """A DECA code dict file -> flat tensors ``shape, exp, pose, cam`` (validated)."""
    from rome_smplx.geometry.rotations import matrix_to_axis_angle

    params = _deca_params(path)
    if params.cam is None:
        raise InputError(f"{path}: key 'cam': missing; training targets need DECA's camera [s, tx, ty]")
    if params.shape.shape[1] > 100 or params.expression.shape[1] > 50:
        raise InputError(f"{path}: expected DECA's 100 shape / 50 expression coefficients, found "
                         f"{params.shape.shape[1]} / {params.expression.shape[1]}")
    pad = lambda t, n: torch.cat([t, t.new_zeros(1, n - t.shape[1])], 1)[0]
    pose = torch.cat([matrix_to_axis_angle(params.global_rot), matrix_to_axis_angle(params.jaw_rot)], dim=-1)[0]
    return {"shape": pad(params.shape, 100), "exp": pad(params.expression, 50), "pose": pose, "cam": params.cam[0]}


def flame_params_from_batch(batch: dict[str, Tensor], prefix: str):
    """:class:`~rome_smplx.types.FlameParams` from the flat ``{prefix}_shape/exp/pose/cam`` entries."""
    from rome_smplx.bridges import deca

    return deca.from_codedict({k: batch[f"{prefix}_{k}"] for k in _DECA_KEYS}, where=f"{prefix} batch")


# ======================================================================================== synthetic
class SyntheticPeopleDataset(torch.utils.data.Dataset):
    """Self-reconstruction pairs from the synthetic people of a synthetic asset folder.

    Each person in ``assets_dir/people/person_NNN/`` has one portrait, so there is no second view:
    **source and target are the same image with the same FLAME parameters** (a self-reconstruction
    pair). That trains texture, geometry and rendering to reproduce the source but not to generalise
    across poses; use :class:`FramePairsDataset` with video frames for real training.

    Per person: ``photo.png``/``mask.png`` resized to ``image_size``; the DECA code dict
    ``person_NNN_deca.pkl``; from ``truth.npz`` the true mesh gives the landmarks (projected
    68 points) and the parsing targets: the neck mask is the matte, the hair mask is the coverage
    of the true mesh without the faces touching neck/shoulder vertices (face + ears + hair).

    Args:
        assets_dir: synthetic asset folder (``rome-smplx assets synth``).
        image_size: side of the returned images.
    """

    def __init__(self, assets_dir: str | os.PathLike, image_size: int = 256) -> None:
        from rome_smplx.assets import Assets

        self.root = Path(assets_dir)
        people = self.root / "people"
        if not people.is_dir():
            raise AssetError("no 'people' folder (expected synthetic people: rome-smplx assets synth DIR)", path=self.root)
        self.folders = person_folders(people)
        self.image_size = int(image_size)
        if self.image_size < 8:
            raise InputError(f"image_size: expected >= 8, found {image_size}")
        self.assets = Assets.from_dir(self.root)
        self._cache: dict[int, dict[str, Tensor]] = {}

    def __len__(self) -> int:
        return len(self.folders)

    def set_epoch(self, epoch: int) -> None:
        """No randomness here (pairs are fixed); present for the common interface."""

    def _load(self, index: int) -> dict[str, Tensor]:
        from rome_smplx.io.images import load_image, load_mask
        from rome_smplx.models.flame import FlameModel
        from rome_smplx.render.cameras import rome_project, rome_project_for_raster
        from rome_smplx.render.raster import rasterize

        folder = self.folders[index]
        files = person_files(folder, self.image_size)
        if not files["truth"].is_file():
            raise AssetError("missing synthetic person file 'truth.npz'", path=files["truth"])
        image = _resize(load_image(files["photo"]), self.image_size, "bilinear")
        mask = _resize(load_mask(files["mask"]), self.image_size, "bilinear")
        codes = _codes(files["deca"])
        try:
            with np.load(folder / "truth.npz", allow_pickle=False) as z:
                truth = {k: torch.as_tensor(np.asarray(z[k]), dtype=torch.float32)
                         for k in ("vertices", "root_joint", "flame_global_rot", "deca_cam")}
        except (KeyError, ValueError, OSError) as exc:
            raise AssetError(f"cannot read truth.npz ({type(exc).__name__}: {exc})", path=folder / "truth.npz") from None
        flame = FlameModel.from_assets(self.assets)
        data = self.assets.rome_data()
        verts, root, rot, cam = (truth["vertices"][None], truth["root_joint"][None], truth["flame_global_rot"][None],
                                 truth["deca_cam"][None])
        if verts.shape[1] != flame.num_vertices:
            raise AssetError(f"truth.npz 'vertices' has {verts.shape[1]} vertices, the head model {flame.num_vertices}",
                             path=folder / "truth.npz")
        ndc = rome_project_for_raster(verts, cam, root, rot)
        lmk = landmarks_from_vertices(flame, verts, rot)
        lmk_ndc = rome_project(lmk, cam, root, rot)[0, :, :2]
        neck = torch.zeros(flame.num_vertices, dtype=torch.bool)
        neck[data.neck_list] = True
        faces = data.faces
        keep = faces[~neck[faces].any(1)]
        frags = rasterize(ndc, keep, (self.image_size, self.image_size), backend="torch")
        hair_mask = (frags.pix_to_face[0, :, :, 0] >= 0).to(torch.float32)[None]
        return {
            "image": image, "mask": mask, **codes, "hair_mask": hair_mask * (mask > 0.5), "neck_mask": mask,
            "keypoints": lmk_ndc,
        }

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(f"SyntheticPeopleDataset: index {index} out of range (0..{len(self) - 1})")
        if index not in self._cache:
            self._cache[index] = self._load(index)
        d = self._cache[index]
        item: dict[str, Tensor] = {}
        for side in ("source", "target"):
            item[f"{side}_image"] = d["image"]
            item[f"{side}_mask"] = d["mask"]
            for k in _DECA_KEYS:
                item[f"{side}_{k}"] = d[k]
        item.update(
            target_hair_mask=d["hair_mask"], target_neck_mask=d["neck_mask"], has_parsing=torch.tensor(1.0),
            target_keypoints=d["keypoints"], has_keypoints=torch.tensor(1.0),
        )
        return {k: v.clone() for k, v in item.items()}


# ======================================================================================== video world
def code_items(flame, prefix: str) -> dict[str, Tensor]:
    """DECA-style code fields (``shape``, ``exp``, ``pose`` axis-angle [global, jaw], ``cam``) of a batch-1
    :class:`~rome_smplx.types.FlameParams`."""
    from rome_smplx.geometry.rotations import matrix_to_axis_angle

    pose = torch.cat([matrix_to_axis_angle(flame.global_rot[0]), matrix_to_axis_angle(flame.jaw_rot[0])])
    return {f"{prefix}_shape": flame.shape[0], f"{prefix}_exp": flame.expression[0], f"{prefix}_pose": pose,
            f"{prefix}_cam": flame.cam[0]}


def frame_item(frame, prefix: str, *, with_targets: bool) -> dict[str, Tensor]:
    """Dataset-item fields of one :class:`~rome_smplx.assets.synthetic.video.SyntheticFrame`."""
    from rome_smplx.assets.synthetic.video import SEGMENTATION_LABELS

    item = {f"{prefix}_image": frame.image, f"{prefix}_mask": frame.matte, **code_items(frame.tracked, prefix)}
    if with_targets:
        seg = frame.segmentation
        hair = ((seg == SEGMENTATION_LABELS["face"]) | (seg == SEGMENTATION_LABELS["hair"])).to(torch.float32)
        item.update(target_hair_mask=hair[None], target_neck_mask=frame.matte, has_parsing=torch.tensor(1.0),
                    target_keypoints=frame.landmarks, has_keypoints=torch.tensor(1.0))
    return item


class SyntheticVideoDataset(torch.utils.data.Dataset):
    """Frame pairs of the synthetic video world, rendered on the fly (same items as :class:`FramePairsDataset`).

    Item ``i`` is subject ``seeds[i]`` (:class:`~rome_smplx.assets.synthetic.video.SyntheticSubject`):
    two distinct frames of its ``frames``-long video, drawn from ``(seed, epoch, i)``.

    * ``mode="self"``: source and target are two frames of the same subject (what a video gives).
    * ``mode="cross"``: the source is a frame of subject ``seeds[i]``, the driver a frame of another
      subject of the range; the target is the *true* render of the source identity in the driver's
      :class:`FrameParams`, and the target codes are the driver's tracked expression/pose/camera
      (a truth real data never has).

    The FLAME codes are the *tracked* parameters (truth plus DECA-sized noise, scaled by
    ``tracking_noise``); images, mattes, parsing masks and landmarks are the truth. Extra keys
    ``source_seed``, ``target_seed`` and ``target_frame`` name what was drawn, and ``source_offsets``
    ``(N, 3)`` holds the source subject's true hair/neck offsets (for the optional 3D-supervised loss
    ``offsets_3d`` and for evaluation; the shipped recipe never reads it).

    Randomness is a pure function of ``(seed, epoch, index)``, so items are identical in every worker
    process and after a resume. Subjects are cached per process (``cache_subjects`` of them, LRU), and
    so are rendered frames (``cache_frames`` of them, LRU, about 0.5 MB each at 128 px; 0: none): a
    training run that draws every frame of its videos many times renders each once.

    Splits: :data:`rome_smplx.assets.synthetic.video.SPLITS` (train, validation and test ranges never
    overlap); pass ``seeds=SPLITS["test"]`` or any ``range``.

    Args:
        assets: :class:`~rome_smplx.assets.Assets` or an asset folder.
        seeds: subject seeds (a ``range`` or a sequence of ints >= 0, at least 2 for ``cross``).
        frames: length of each subject's video (>= 2).
        image_size: side of the rendered frames.
        mode: ``"self"`` or ``"cross"``.
        tracking_noise: scale of the tracker noise on the codes (0: true codes).
        seed: seed of the pair draws.
    """

    def __init__(self, assets, seeds: Sequence[int] = range(10_000, 10_100), frames: int = 16, image_size: int = 128,
                 mode: str = "self", tracking_noise: float = 1.0, seed: int = 0, cache_subjects: int = 64,
                 cache_frames: int = 0) -> None:
        from collections import OrderedDict

        from rome_smplx.assets import Assets

        self.assets = assets if isinstance(assets, Assets) else Assets.from_dir(assets)
        self.seeds = [int(s) for s in seeds]
        if not self.seeds or any(s < 0 for s in self.seeds):
            raise InputError(f"SyntheticVideoDataset: seeds must be a non-empty range of integers >= 0, found {seeds!r}")
        if mode not in ("self", "cross"):
            raise InputError(f"SyntheticVideoDataset: mode must be 'self' or 'cross', found {mode!r}")
        if mode == "cross" and len(set(self.seeds)) < 2:
            raise InputError("SyntheticVideoDataset: mode 'cross' needs at least two subjects")
        if isinstance(frames, bool) or not isinstance(frames, int) or frames < 2:
            raise InputError(f"SyntheticVideoDataset: frames must be an integer >= 2, found {frames!r}")
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 16:
            raise InputError(f"SyntheticVideoDataset: image_size must be an integer >= 16, found {image_size!r}")
        if not (isinstance(tracking_noise, (int, float)) and tracking_noise >= 0):
            raise InputError(f"SyntheticVideoDataset: tracking_noise must be a number >= 0, found {tracking_noise!r}")
        self.frames, self.image_size, self.mode = frames, image_size, mode
        self.tracking_noise, self.seed, self.epoch = float(tracking_noise), int(seed), 0
        self._cache: "OrderedDict[int, Any]" = OrderedDict()
        self._cache_size = max(1, int(cache_subjects))
        self._frames: "OrderedDict[tuple[int, int], Any]" = OrderedDict()
        self._frames_size = max(0, int(cache_frames))

    def __len__(self) -> int:
        return len(self.seeds)

    def set_epoch(self, epoch: int) -> None:
        """Select the pair draws of ``epoch``."""
        self.epoch = int(epoch)

    def subject(self, seed: int):
        """The (cached) :class:`SyntheticSubject` of ``seed``."""
        from rome_smplx.assets.synthetic.video import SyntheticSubject

        if seed in self._cache:
            self._cache.move_to_end(seed)
            return self._cache[seed]
        subj = SyntheticSubject.from_seed(seed, self.assets)
        self._cache[seed] = subj
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return subj

    def frame(self, seed: int, index: int):
        """Frame ``index`` of subject ``seed``'s video (:class:`~rome_smplx.assets.synthetic.video.SyntheticFrame`,
        tracked codes with this dataset's noise), from the frame cache when it is on."""
        key = (int(seed), int(index))
        if key in self._frames:
            self._frames.move_to_end(key)
            return self._frames[key]
        subj = self.subject(seed)
        fr = subj.render(subj.walk(index + 1)[index], self.image_size, tracking_noise=self.tracking_noise,
                         frame_ids=[index])
        if self._frames_size:
            self._frames[key] = fr
            if len(self._frames) > self._frames_size:
                self._frames.popitem(last=False)
        return fr

    def draw(self, index: int) -> tuple[int, int, int, int]:
        """``(source seed, source frame, driver seed, driver frame)`` of item ``index`` this epoch."""
        g = torch.Generator().manual_seed(_mix_seed(self.seed, self.epoch, index, 7))
        i, j = torch.randperm(self.frames, generator=g)[:2].tolist()
        src = self.seeds[index]
        drv = src
        if self.mode == "cross":
            others = [s for s in self.seeds if s != src]
            drv = others[int(torch.randint(len(others), (1,), generator=g))]
        return src, i, drv, j

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(f"SyntheticVideoDataset: index {index} out of range (0..{len(self) - 1})")
        src_seed, i, drv_seed, j = self.draw(index)
        subj = self.subject(src_seed)
        src = self.frame(src_seed, i)
        if self.mode == "self":
            tgt = self.frame(src_seed, j)
            item = {**frame_item(src, "source", with_targets=False), **frame_item(tgt, "target", with_targets=True)}
        else:
            driver = self.subject(drv_seed)
            drv_frame = driver.walk(j + 1)[j]
            tgt = subj.render(drv_frame, self.image_size, tracking_noise=0.0)
            tracked = driver.tracked_params([drv_frame], self.tracking_noise, frame_ids=[j])
            item = {**frame_item(src, "source", with_targets=False), **frame_item(tgt, "target", with_targets=True),
                    **code_items(tracked, "target")}
        item.update(source_seed=torch.tensor(src_seed), target_seed=torch.tensor(drv_seed), target_frame=torch.tensor(j),
                    source_offsets=subj.offsets.to(torch.float32))
        return {k: v.contiguous() for k, v in item.items()}


# ======================================================================================== folders
class FramePairsDataset(torch.utils.data.Dataset):
    """Pairs of frames of one video sequence, from a plain folder tree.

    Layout (one folder per sequence, at least two frames each)::

        root/<sequence>/<frame>.png           RGB frame (square crop around the head, any size)
        root/<sequence>/<frame>_mask.png      matte (grey or alpha), same size
        root/<sequence>/<frame>_flame.pkl     DECA code dict: shape (1, 100), exp (1, 50),
                                              pose (1, 6) axis-angle [global, jaw], cam (1, 3)
                                              (.npz / .pt also accepted: <frame>_flame.npz ...)
        root/<sequence>/<frame>_parsing.png   optional: BiSeNet face-parsing labels 0..18 (8-bit grey)
        root/<sequence>/<frame>_kpts.npy      optional: (68, 2) landmarks in pixels of the frame

    Landmark pixels ``p`` become NDC as ``2 p / side - 1``. Frames are resized to ``image_size``
    (bilinear with antialiasing; parsing labels nearest). Item ``i`` is sequence ``i``: two distinct
    frames drawn at random from ``(seed, epoch, i)``, the first the source, the second the target.

    The reference's LMDB shards are out of scope (see the module docstring); neither FFHQ alignment
    of the source nor colour jitter is applied: store frames already aligned.

    Args:
        root: the folder.
        image_size: side of the returned images (ROME: 256).
        seed: seed of the pair draws.

    Raises:
        AssetError: missing root, no usable sequence, a frame without its mask or FLAME file.
    """

    _FLAME_SUFFIXES = ("_flame.pkl", "_flame.npz", "_flame.pt", "_flame.pth")

    def __init__(self, root: str | os.PathLike, image_size: int = 256, seed: int = 0) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise AssetError("training data folder not found (expected root/<sequence>/<frame>.png ...)", path=self.root)
        self.image_size = int(image_size)
        if self.image_size < 8:
            raise InputError(f"image_size: expected >= 8, found {image_size}")
        self.seed = int(seed)
        self.epoch = 0
        self.sequences: list[tuple[str, list[Path]]] = []
        for seq in sorted(p for p in self.root.iterdir() if p.is_dir()):
            frames = sorted(
                p for p in seq.glob("*.png") if not p.stem.endswith(("_mask", "_parsing"))
            )
            for f in frames:
                if not f.with_name(f.stem + "_mask.png").is_file():
                    raise AssetError(f"frame '{f.name}' has no mask (expected {f.stem}_mask.png beside it)", path=f)
                if self._flame_file(f) is None:
                    raise AssetError(
                        f"frame '{f.name}' has no FLAME file (expected {f.stem}_flame.pkl, a DECA code dict)", path=f
                    )
            if len(frames) >= 2:
                self.sequences.append((seq.name, frames))
            elif frames:
                logger.warning("%s: only one frame, skipped (pairs need two)", seq)
        if not self.sequences:
            raise AssetError("no sequence with at least two frames (<frame>.png + _mask.png + _flame.pkl)",
                             path=self.root)

    def _flame_file(self, frame: Path) -> Optional[Path]:
        for suffix in self._FLAME_SUFFIXES:
            p = frame.with_name(frame.stem + suffix)
            if p.is_file():
                return p
        return None

    def __len__(self) -> int:
        return len(self.sequences)

    def set_epoch(self, epoch: int) -> None:
        """Select the pair draws of ``epoch`` (a different pair per sequence and epoch)."""
        self.epoch = int(epoch)

    def pair(self, index: int) -> tuple[Path, Path]:
        """The (source, target) frame files of item ``index`` in the current epoch."""
        _, frames = self.sequences[index]
        g = torch.Generator().manual_seed(_mix_seed(self.seed, self.epoch, index))
        i, j = torch.randperm(len(frames), generator=g)[:2].tolist()
        return frames[i], frames[j]

    def _frame(self, f: Path) -> dict[str, Tensor]:
        from rome_smplx.io.images import load_image, load_mask

        image = load_image(f)
        H, W = image.shape[-2:]
        mask = load_mask(f.with_name(f.stem + "_mask.png"))
        if mask.shape[-2:] != (H, W):
            raise InputError(f"{f.with_name(f.stem + '_mask.png')}: mask is {tuple(mask.shape[-2:])}, "
                             f"its frame {(H, W)}")
        out = {"image": _resize(image, self.image_size, "bilinear"), "mask": _resize(mask, self.image_size, "bilinear")}
        out.update(_codes(self._flame_file(f)))
        out["parsing"] = self._parsing(f.with_name(f.stem + "_parsing.png"), (H, W))
        out["keypoints"] = self._keypoints(f.with_name(f.stem + "_kpts.npy"), (H, W))
        return out

    def _parsing(self, p: Path, hw: tuple[int, int]) -> Optional[tuple[Tensor, Tensor]]:
        if not p.is_file():
            return None
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(p) as im:
                im.load()
                if im.mode not in ("L", "P", "I", "I;16"):
                    raise InputError(f"{p}: expected an 8-bit label image (mode L or P), found mode {im.mode}")
                labels = torch.from_numpy(np.asarray(im).astype(np.int64))
        except (UnidentifiedImageError, OSError) as exc:
            raise InputError(f"{p}: not a readable parsing image ({type(exc).__name__}: {exc})") from None
        if tuple(labels.shape) != hw:
            raise InputError(f"{p}: parsing is {tuple(labels.shape)}, its frame {hw}")
        if int(labels.max()) > 18 or int(labels.min()) < 0:
            raise InputError(f"{p}: expected BiSeNet labels 0..18, found values up to {int(labels.max())}")
        hair, neck = parsing_to_masks(labels)
        return (_resize(hair[None, None], self.image_size, "nearest"), _resize(neck[None, None], self.image_size, "nearest"))

    def _keypoints(self, p: Path, hw: tuple[int, int]) -> Optional[Tensor]:
        if not p.is_file():
            return None
        try:
            a = np.load(p, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise InputError(f"{p}: not a readable .npy array ({type(exc).__name__}: {exc})") from None
        if a.shape != (68, 2) or not np.issubdtype(a.dtype, np.number) or not np.isfinite(a).all():
            raise InputError(f"{p}: expected (68, 2) finite pixel coordinates, found {a.shape} {a.dtype}")
        t = torch.as_tensor(a, dtype=torch.float32)
        H, W = hw
        return torch.stack([2 * t[:, 0] / W - 1, 2 * t[:, 1] / H - 1], dim=-1)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(f"FramePairsDataset: index {index} out of range (0..{len(self) - 1})")
        src_file, tgt_file = self.pair(index)
        try:
            src, tgt = self._frame(src_file), self._frame(tgt_file)
        except RomeSmplxError:
            raise
        except Exception as exc:  # a corrupt file the readers did not classify
            raise InputError(f"{src_file} / {tgt_file}: cannot read ({type(exc).__name__}: {exc})") from None
        item: dict[str, Any] = {}
        for side, d in (("source", src), ("target", tgt)):
            item[f"{side}_image"] = d["image"]
            item[f"{side}_mask"] = d["mask"]
            for k in _DECA_KEYS:
                item[f"{side}_{k}"] = d[k]
        zeros = torch.zeros(1, self.image_size, self.image_size)
        parsing = tgt["parsing"]
        item["target_hair_mask"] = parsing[0] if parsing is not None else zeros
        item["target_neck_mask"] = parsing[1] if parsing is not None else zeros.clone()
        item["has_parsing"] = torch.tensor(1.0 if parsing is not None else 0.0)
        kp = tgt["keypoints"]
        item["target_keypoints"] = kp if kp is not None else torch.zeros(68, 2)
        item["has_keypoints"] = torch.tensor(1.0 if kp is not None else 0.0)
        return item


# ======================================================================================== people folders
#: The photo / matte pairs a person folder may hold, smallest first, with their side (``None``: any).
#: ``rome-smplx assets synth`` writes both (``photo.png`` at 512); a user's folder needs one of them.
PERSON_PHOTOS: tuple[tuple[str, str, Optional[int]], ...] = (
    ("photo_256.png", "mask_256.png", 256),
    ("photo.png", "mask.png", None),
)


def person_folders(root: str | os.PathLike) -> list[Path]:
    """The person folders of ``root/people`` (or of ``root`` itself when it has no ``people``): the
    sub-folders holding a photo of :data:`PERSON_PHOTOS`, sorted by name.

    Raises:
        AssetError: no such sub-folder (the message names ``root``).
    """
    root = Path(root)
    base = root / "people" if (root / "people").is_dir() else root
    found = sorted(p for p in base.iterdir() if p.is_dir() and any((p / ph).is_file() for ph, _, _ in PERSON_PHOTOS)) \
        if base.is_dir() else []
    if not found:
        raise AssetError("no people found (expected sub-folders with photo.png or photo_256.png, the matching mask "
                         "and <name>_deca.pkl, e.g. the 'people' folder of `rome-smplx assets synth`)", path=root)
    return found


def person_files(folder: str | os.PathLike, image_size: int) -> dict[str, Path]:
    """The files of one person folder: ``photo`` and ``mask`` (the smallest stored pair at least
    ``image_size`` wide, else the largest), ``deca`` (``<name>_deca.pkl``, or the folder's only
    ``*_deca.pkl``) and ``truth`` (``truth.npz``, present for synthetic people only; not checked).

    Raises:
        AssetError: a missing photo, matte or DECA file (naming the file expected).
    """
    folder = Path(folder)
    pairs = [(ph, mk) for ph, mk, side in PERSON_PHOTOS if (folder / ph).is_file() and (side is None or side >= image_size)]
    pairs = pairs or [(ph, mk) for ph, mk, _ in reversed(PERSON_PHOTOS) if (folder / ph).is_file()]
    if not pairs:
        raise AssetError(f"missing person file '{PERSON_PHOTOS[-1][0]}'", path=folder / PERSON_PHOTOS[-1][0])
    photo, mask = pairs[0]
    if not (folder / mask).is_file():
        raise AssetError(f"missing person file '{mask}' (the matte of {photo})", path=folder / mask)
    deca = folder / f"{folder.name}_deca.pkl"
    if not deca.is_file():
        others = sorted(folder.glob("*_deca.pkl"))
        if len(others) != 1:
            raise AssetError(f"missing person file '{deca.name}' (DECA parameters)"
                             + (f"; found several: {[p.name for p in others]}" if others else ""), path=deca)
        deca = others[0]
    return {"photo": folder / photo, "mask": folder / mask, "deca": deca, "truth": folder / "truth.npz"}


def read_person(folder: str | os.PathLike, image_size: int) -> tuple[Tensor, Tensor, FlameParams, dict[str, Path]]:
    """One person folder: image (1, 3, S, S) and matte (1, 1, S, S) in [0, 1] at ``S = image_size``,
    the DECA parameters (batch 1) and the files (:func:`person_files`)."""
    from rome_smplx.io.images import load_image, load_mask

    files = person_files(folder, image_size)
    image = _resize(load_image(files["photo"]), image_size, "bilinear")[None]
    mask = _resize(load_mask(files["mask"]), image_size, "bilinear")[None]
    return image, mask, _deca_params(files["deca"]), files


def _cat_flame(flames: list[FlameParams]) -> FlameParams:
    return FlameParams(**{
        f.name: (None if getattr(flames[0], f.name) is None else torch.cat([getattr(x, f.name) for x in flames]))
        for f in dataclasses.fields(FlameParams)
    })


# ======================================================================================== distillation data
@dataclass
class DistillData:
    """Training pairs for the regressor (all tensors share the first dimension M).

    Attributes:
        images: (M, 3, S, S) aligned source images in [0, 1].
        masks: (M, 1, S, S) mattes in [0, 1].
        flame: :class:`FlameParams` with batch M (``cam`` needed for the Chamfer/silhouette terms).
        targets: (M, K) target coefficients.
        names: M sample names (for logs).

    Built by :func:`load_people` (a people folder) or :func:`load_video` (the synthetic video world).
    """

    images: Tensor
    masks: Tensor
    flame: FlameParams
    targets: Tensor
    names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        M = self.images.shape[0]
        if self.images.dim() != 4 or self.images.shape[1] != 3:
            raise InputError(f"DistillData.images: expected (M, 3, S, S), found {tuple(self.images.shape)}")
        if tuple(self.masks.shape) != (M, 1, *self.images.shape[-2:]):
            raise InputError(f"DistillData.masks: expected ({M}, 1, {self.images.shape[-2]}, {self.images.shape[-1]}), "
                             f"found {tuple(self.masks.shape)}")
        if self.targets.dim() != 2 or self.targets.shape[0] != M:
            raise InputError(f"DistillData.targets: expected ({M}, K), found {tuple(self.targets.shape)}")
        if self.flame.batch_size != M:
            raise InputError(f"DistillData.flame: expected batch {M}, found {self.flame.batch_size}")

    def __len__(self) -> int:
        return int(self.images.shape[0])


def load_people(folder: str | os.PathLike, image_size: int = 256, limit: int | None = None) -> tuple[DistillData, bool]:
    """Images, mattes and DECA parameters of a folder of people (:func:`read_person` on each of
    :func:`person_folders`), for the linear distillation.

    For synthetic people the ``hair_coeffs`` of ``truth.npz`` become the targets.

    Args:
        folder: an asset folder with ``people/`` or the ``people`` folder itself.
        image_size: side the images are resized to (the regressor's input).
        limit: use at most this many people.

    Returns:
        (data, has_truth): when some person lacks ``truth.npz`` the targets are zeros and
        ``has_truth`` is False (fill them with :func:`rome_smplx.trainers.distill.teacher_coefficients`).

    Raises:
        AssetError: no people, a missing file, a ``truth.npz`` without ``hair_coeffs``, or
            ``hair_coeffs`` of different lengths.
    """
    images, masks, flames, targets, names = [], [], [], [], []
    has_truth = True
    for p in person_folders(folder)[:limit]:
        img, msk, flame, files = read_person(p, image_size)
        images.append(img)
        masks.append(msk)
        flames.append(flame)
        truth = files["truth"]
        if truth.is_file():
            try:
                with np.load(truth, allow_pickle=False) as z:
                    coeffs = z["hair_coeffs"]
            except (KeyError, ValueError, OSError) as exc:
                raise AssetError(f"cannot read 'hair_coeffs' ({type(exc).__name__}: {exc})", path=truth) from None
            targets.append(torch.as_tensor(coeffs, dtype=torch.float32).flatten())
        else:
            has_truth = False
            targets.append(None)
        names.append(p.name)
    K = next((t.numel() for t in targets if t is not None), 0)
    if any(t is not None and t.numel() != K for t in targets):
        raise AssetError("the people's truth.npz 'hair_coeffs' have different lengths", path=folder)
    tgt = torch.stack([t if t is not None else torch.zeros(K) for t in targets]) if K else torch.zeros(len(names), 0)
    return DistillData(torch.cat(images), torch.cat(masks), _cat_flame(flames), tgt, names), has_truth


def load_video(assets: "Assets", seeds, frames: int = 2, image_size: int = 128,
               tracking_noise: float = 1.0) -> DistillData:
    """Source frames of the synthetic video world: ``frames`` frames of each subject of ``seeds``.

    Images, mattes and the *tracked* FLAME codes of every frame; ``targets`` are empty (fill them
    with :func:`rome_smplx.trainers.distill.teacher_coefficients`). Names are ``"<seed>/<frame>"``.
    """
    from tqdm.auto import tqdm

    from rome_smplx.assets.synthetic.video import SyntheticSubject

    images, masks, flames, names = [], [], [], []
    for seed in tqdm(list(seeds), desc="video frames", unit="subject", leave=False):
        subj = SyntheticSubject.from_seed(int(seed), assets)
        walk = subj.walk(frames)
        for k, fr in enumerate(subj.render(walk, image_size, tracking_noise=tracking_noise, frame_ids=list(range(frames)))):
            images.append(fr.image[None])
            masks.append(fr.matte[None])
            flames.append(fr.tracked)
            names.append(f"{seed}/{k}")
    if not names:
        raise InputError("load_video: no subjects (empty seed range)")
    return DistillData(torch.cat(images), torch.cat(masks), _cat_flame(flames), torch.zeros(len(names), 0), names)
