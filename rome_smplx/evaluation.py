"""The paper's evaluation protocol: self- and cross-driving image metrics and Chamfer, as a report.

For every frame pair, each head reconstructs the avatar from the source frame (image, matte, source
FLAME codes) and renders it with the target's codes. The rendered image is clamped to [0, 1] and
composited on white by the rendered mask; the target frame is composited on white by its matte. The
metrics compare the two over the target's face+hair mask:

* ``psnr`` and ``ssim`` (:func:`rome_smplx.metrics.image.psnr` / ``ssim``), per image;
* ``lpips`` (:func:`rome_smplx.metrics.image.lpips`) with a VGG/AlexNet trunk read from a file;
* ``csim``: cosine similarity of identity embeddings from a face-recognition network read from a
  file: prediction against the target in self-driving, against the source frame in cross-driving
  (identity preservation; a real cross-driving pair has no true target);
* ``chamfer``: symmetric surface-to-surface distance in mm between the predicted and the true posed
  head, on meshes that come with the truth (the synthetic video world; skipped otherwise);
* ``mask_dice``: Dice overlap of the rendered mask with the target's matte, per image (how well the
  silhouette itself is predicted).

Compositing (``composite``): ``"own"`` (the default, above) puts each image on white by its own mask, so
a silhouette in the wrong place costs what it looks like. ``"predicted"`` puts *both* on white by the
rendered mask, as the release's validation does before its metrics (``src/rome_full.py`` composites
prediction and ground truth with the predicted mask, then ``calc_test_losses``); it is the setting the
paper's figures come from, and it is blind to silhouette errors (an empty mask scores ``inf``), so read
it beside ``mask_dice``.

Averaging: every figure is the mean over images of the per-image value (the paper's protocol), not a
dataset-level PSNR computed from the pooled squared error. Identical images give PSNR ``inf``; it is
kept (the mean is then ``inf``) and written to ``report.json`` as the string ``"inf"``.

LPIPS and CSIM need real weights; :func:`load_backbones` refuses to build them without files unless
``allow_random=True``, and a report that used random backbones says so in its header.

The numbers on the synthetic world are those of ``benchmarks/learning.py`` for the same weights,
seeds, pairs per subject and tracking noise (same pair draws, batches of 4, same Chamfer sampling).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from torch import Tensor, nn

from rome_smplx.errors import CheckpointError, InputError

logger = logging.getLogger(__name__)

__all__ = [
    "AVERAGING",
    "EvalReport",
    "METRICS",
    "COMPOSITES",
    "PairSource",
    "evaluate",
    "folder_pairs",
    "load_backbones",
    "load_heads",
    "mask_dice",
    "mean_of",
    "parse_metrics",
    "render_markdown",
    "score_images",
    "synthetic_pairs",
    "write_report",
]

#: Metrics :func:`evaluate` knows, in report order.
METRICS = ("psnr", "ssim", "lpips", "csim", "mask_dice", "chamfer")
#: How prediction and target are put on white before the image metrics (see the module docstring).
COMPOSITES = ("own", "predicted")
#: The averaging statement every report carries.
AVERAGING = ("per-image means over the face+hair mask (the paper's protocol), not a dataset-level PSNR")
#: Higher is better for these (the others: lower is better).
_HIGHER = {"psnr": True, "ssim": True, "csim": True, "mask_dice": True, "lpips": False, "chamfer": False}
_UNITS = {"psnr": "dB", "ssim": "", "lpips": "", "csim": "", "mask_dice": "", "chamfer": "mm"}
_IMAGE_METRICS = ("psnr", "ssim", "lpips", "mask_dice")
_COMPOSITE_TEXT = {"own": "each image on white by its own mask (prediction: rendered mask; target: its matte)",
                   "predicted": "both images on white by the rendered mask, as the release's validation does "
                                "(blind to silhouette errors: read with mask_dice)"}


# ======================================================================================== inputs
def parse_metrics(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"psnr,ssim"`` (or a sequence of names) -> validated names in report order, duplicates removed."""
    names = [t.strip().lower() for t in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise InputError(f"--metrics: expected a comma-separated subset of {','.join(METRICS)}, found {text!r}")
    return tuple(m for m in METRICS if m in names)


@dataclass
class PairSource:
    """Where the pairs come from.

    Attributes:
        description: what the report says (``"synthetic seeds 0:24"`` or the folder).
        mode: ``"self"`` or ``"cross"``.
        batches: callable returning an iterator over collated batches (the trainer's item keys).
        total: number of pairs (for the progress bar and the report).
        has_target: False when the pairs have no true target image (cross-driving on real videos):
            PSNR, SSIM and LPIPS are then skipped.
        meshes: optional callable returning an iterator over geometry items ``{"image" (B,3,H,W),
            "mask" (B,1,H,W), "flame" FlameParams, "vertices" (B,V,3) true posed mesh, "seed" int}``;
            ``None``: no truth, no Chamfer.
        settings: what produced the pairs (written to the report).
        dataset: the dataset the pairs are drawn from, when there is one (for callers that need more
            of each pair than the batches carry, e.g. the synthetic subjects behind them).
    """

    description: str
    mode: str
    batches: Callable[[], Iterator[dict[str, Tensor]]]
    total: int
    has_target: bool = True
    meshes: Optional[Callable[[], Iterator[dict[str, Any]]]] = None
    settings: dict = field(default_factory=dict)
    dataset: Any = None


def _check_mode(mode: str) -> str:
    if mode not in ("self", "cross"):
        raise InputError(f"--mode: expected 'self' or 'cross', found {mode!r}")
    return mode


def _chunks(n: int, size: int) -> Iterator[range]:
    for i in range(0, n, size):
        yield range(i, min(i + size, n))


def synthetic_pairs(assets, seeds: range | Sequence[int], *, mode: str, image_size: int, pairs_per_subject: int = 2,
                    frames: int = 16, tracking_noise: float = 0.5, seed: int = 1234, batch_size: int = 4) -> PairSource:
    """Pairs of the synthetic video world, drawn as ``benchmarks/learning.py`` draws them.

    ``pairs_per_subject`` epochs of :class:`~rome_smplx.trainers.datasets.SyntheticVideoDataset`
    (one pair per subject and epoch), in batches of ``batch_size``. The geometry items are frame 0 of
    each subject with its tracked codes and its true mesh.
    """
    from rome_smplx.trainers.datasets import SyntheticVideoDataset, collate, flame_params_from_batch  # noqa: F401

    _check_mode(mode)
    if pairs_per_subject < 1:
        raise InputError(f"--pairs-per-subject: expected an integer >= 1, found {pairs_per_subject}")
    ds = SyntheticVideoDataset(assets, seeds=seeds, frames=frames, image_size=image_size, mode=mode,
                               tracking_noise=tracking_noise, seed=seed)

    def batches() -> Iterator[dict[str, Tensor]]:
        for epoch in range(pairs_per_subject):
            ds.set_epoch(epoch)
            for idx in _chunks(len(ds), batch_size):
                yield collate([ds[j] for j in idx])

    def meshes() -> Iterator[dict[str, Any]]:
        for s in ds.seeds:
            fr = ds.frame(s, 0)
            yield {"image": fr.image[None], "mask": fr.matte[None], "flame": fr.tracked, "vertices": fr.vertices[None],
                   "seed": int(s)}

    seeds = list(ds.seeds)
    span = f"{seeds[0]}:{seeds[-1] + 1}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else str(seeds)
    return PairSource(
        description=f"synthetic video world, seeds {span}", mode=mode, batches=batches,
        total=len(ds) * pairs_per_subject, has_target=True, meshes=meshes,
        settings={"source": "synthetic", "seeds": span, "pairs_per_subject": pairs_per_subject, "frames": frames,
                  "tracking_noise": tracking_noise, "seed": seed, "image_size": image_size},
        dataset=ds,
    )


def folder_pairs(root: str | os.PathLike, *, mode: str, image_size: int, pairs_per_subject: int = 2, seed: int = 0,
                 batch_size: int = 4) -> PairSource:
    """Pairs of a :class:`~rome_smplx.trainers.datasets.FramePairsDataset` folder (user videos).

    ``self``: source and target are two frames of one sequence. ``cross``: the source frame of
    sequence ``i`` is driven by the target codes of sequence ``i + 1`` (cyclically); there is no true
    target image, so only CSIM is measured. Targets without a parsing mask are compared over their
    matte instead of the face+hair mask (the report notes it).
    """
    from rome_smplx.trainers.datasets import FramePairsDataset, collate

    _check_mode(mode)
    if pairs_per_subject < 1:
        raise InputError(f"--pairs-per-subject: expected an integer >= 1, found {pairs_per_subject}")
    ds = FramePairsDataset(root, image_size=image_size, seed=seed)
    n = len(ds)
    if mode == "cross" and n < 2:
        raise InputError(f"{root}: cross-driving needs at least two sequences, found {n}")

    def batches() -> Iterator[dict[str, Tensor]]:
        for epoch in range(pairs_per_subject):
            ds.set_epoch(epoch)
            for idx in _chunks(n, batch_size):
                items = [ds[j] for j in idx]
                if mode == "cross":
                    for j, it in zip(idx, items):
                        drv = ds[(j + 1) % n]
                        for k in ("exp", "pose", "cam"):
                            it[f"target_{k}"] = drv[f"target_{k}"]
                        it["has_target"] = torch.tensor(0.0)
                yield collate(items)

    return PairSource(
        description=f"frame-pairs folder {root}", mode=mode, batches=batches, total=n * pairs_per_subject,
        has_target=mode == "self", meshes=None,
        settings={"source": "folder", "root": str(root), "pairs_per_subject": pairs_per_subject, "seed": seed,
                  "image_size": image_size},
    )


# ======================================================================================== heads
def load_heads(assets, weights: str | os.PathLike | None = None, *, linear: bool = False, no_offsets: bool = False,
               image_size: Optional[int] = None) -> tuple[dict[str, Any], str]:
    """The heads to compare, loaded as ``benchmarks/learning.py`` loads them (torch rasteriser).

    Args:
        assets: :class:`~rome_smplx.assets.Assets`.
        weights: a folder holding the files of :data:`rome_smplx.weights.FILES`
            (``rome_synthetic.safetensors``, and for the options ``linear_synthetic.safetensors`` /
            ``rome_no_offsets.safetensors``), or one full-model file (``.safetensors`` or the released
            ``.pth``). Default: the shipped folder when the assets are the ones it was trained on, else
            the asset folder's own ``rome/rome.pth``.
        linear: also evaluate the linear model (``linear``).
        no_offsets: also evaluate the "w/o offsets" ablation (``no_offsets``): the ablation's file of a
            weights folder, or, for a single file, that file rendered without offsets.
        image_size: render side (default: the networks' training resolution).

    Returns:
        ``({"rome": ..., ["linear": ...], ["no_offsets": ...]}, description of the weights)``.

    Raises:
        InputError: a weights path or a file the options need does not exist.
    """
    from rome_smplx import weights as shipped
    from rome_smplx.avatar.head import HeadAvatar

    kw = dict(backend="torch", image_size=image_size)
    if weights is None and shipped.defaults_for(assets):
        weights = shipped.WEIGHTS_DIR
    if weights is None:
        logger.warning("no --weights and the assets are not the shipped weights' synthetic set: using the asset "
                       "folder's ROME weights")
        if linear or no_offsets:
            raise InputError("--linear / --no-offsets need --weights DIR (a folder with "
                             f"{', '.join(shipped.FILES.values())})")
        return {"rome": HeadAvatar.from_assets(assets, "full", **kw)}, str(assets.root)
    w = Path(weights)
    if w.is_dir():
        files = {k: w / v for k, v in shipped.FILES.items()}
        need = ["full"] + (["linear"] if linear else []) + (["no_offsets"] if no_offsets else [])
        missing = [str(files[k]) for k in need if not files[k].is_file()]
        if missing:
            raise InputError(f"{w}: missing weight file(s) {', '.join(missing)}")
        heads = {"rome": HeadAvatar.from_assets(assets, "full", weights=str(files["full"]), **kw)}
        if linear:
            heads["linear"] = HeadAvatar.from_assets(assets, "linear", weights=str(files["full"]),
                                                     linear_weights=str(files["linear"]), **kw)
        if no_offsets:
            heads["no_offsets"] = HeadAvatar.from_assets(assets, "full", weights=str(files["no_offsets"]),
                                                         offsets=False, **kw)
        return heads, str(w)
    if not w.is_file():
        raise InputError(f"{w}: --weights: no such file or folder")
    if linear:
        raise InputError(f"{w}: --linear needs --weights DIR holding {shipped.FILES['full']} and "
                         f"{shipped.FILES['linear']}")
    heads = {"rome": HeadAvatar.from_assets(assets, "full", weights=str(w), **kw)}
    if no_offsets:
        logger.warning("--no-offsets with one weights file: %s rendered without offsets (not the trained ablation)", w)
        heads["no_offsets"] = HeadAvatar.from_assets(assets, "full", weights=str(w), offsets=False, **kw)
    return heads, str(w)


# ======================================================================================== backbones
class _RandomIdentityNet(nn.Module):
    """A seeded random conv net (B, 3, H, W) -> (B, 128): a stand-in, NOT a face-recognition model."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            chans = (3, 32, 64, 128, 128)
            layers: list[nn.Module] = []
            for a, b in zip(chans[:-1], chans[1:]):
                layers += [nn.Conv2d(a, b, 3, stride=2, padding=1), nn.ReLU()]
            self.body = nn.Sequential(*layers)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: Tensor) -> Tensor:
        return self.body(2 * x - 1).mean(dim=(2, 3))


def _load_identity_net(path: str | os.PathLike) -> Callable[[Tensor], Tensor]:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: CSIM weights not found (expected a TorchScript face-recognition network, "
                         f"(B, 3, H, W) in [0, 1] -> (B, D))")
    try:
        net = torch.jit.load(str(p), map_location="cpu")
    except Exception as exc:  # TorchScript raises RuntimeError / ValueError on foreign files
        raise CheckpointError(f"{p}: not a TorchScript module (CSIM expects torch.jit.save of an identity "
                              f"network): {type(exc).__name__}: {' '.join(str(exc).split())[:200]}") from None
    net.eval()
    return net


def load_backbones(metrics: Sequence[str], *, lpips_weights: str | os.PathLike | None = None,
                   lpips_heads: str | os.PathLike | None = None, lpips_net: str = "vgg",
                   csim_weights: str | os.PathLike | None = None, allow_random: bool = False,
                   ) -> tuple[Any, Any, list[str]]:
    """The LPIPS network and the CSIM embedding network the metrics need.

    Args:
        metrics: the requested metric names.
        lpips_weights: torchvision VGG16 (or AlexNet, ``lpips_net="alex"``) state dict of the trunk.
        lpips_heads: the LPIPS heads file (``lin{l}.model.1.weight``); without it the heads are ones
            (the "baseline" LPIPS variant).
        csim_weights: a TorchScript identity network, (B, 3, H, W) in [0, 1] -> (B, D) (it resizes
            and normalises its input itself).
        allow_random: build seeded random backbones where no file is given (the numbers are then
            not real LPIPS/CSIM; the report says so).

    Returns:
        ``(lpips_net or None, csim_embed or None, names of the metrics that use random weights)``.

    Raises:
        InputError: a needed file is not given (and ``allow_random`` is off) or not found.
        CheckpointError: a file that cannot be read as what it should be.
    """
    from rome_smplx.metrics.image import LPIPS, load_lpips

    random_used: list[str] = []
    net = embed = None
    if "lpips" in metrics:
        if lpips_weights is not None:
            for what, p in (("--lpips-weights", lpips_weights), ("--lpips-heads", lpips_heads)):
                if p is not None and not Path(p).is_file():
                    raise InputError(f"{p}: {what} file not found")
            net = load_lpips(lpips_weights, lpips_heads, net=lpips_net)
        elif allow_random:
            logger.warning("LPIPS with a RANDOM trunk (no --lpips-weights): its values are not LPIPS")
            net = LPIPS(lpips_net, seed=0)
            random_used.append("lpips")
        else:
            raise InputError("lpips: needs a real trunk (--lpips-weights: a torchvision vgg16 state dict, and "
                             "--lpips-heads: the LPIPS vgg.pth heads); --allow-random-backbones runs with random "
                             "weights whose numbers are not LPIPS")
    if "csim" in metrics:
        if csim_weights is not None:
            embed = _load_identity_net(csim_weights)
        elif allow_random:
            logger.warning("CSIM with a RANDOM identity network (no --csim-weights): its values are not CSIM")
            embed = _RandomIdentityNet(0)
            random_used.append("csim")
        else:
            raise InputError("csim: needs a face-recognition network (--csim-weights: a TorchScript file mapping "
                             "(B, 3, H, W) images in [0, 1] to embeddings); --allow-random-backbones runs with a "
                             "random network whose numbers are not CSIM")
    return net, embed, random_used


# ======================================================================================== scoring
def _white(image: Tensor, mask: Tensor) -> Tensor:
    return image * mask + (1 - mask)


def score_images(pred: Tensor, target: Optional[Tensor], region: Optional[Tensor], metrics: Sequence[str], *,
                 lpips_net=None, csim_embed: Optional[Callable[[Tensor], Tensor]] = None,
                 identity_ref: Optional[Tensor] = None, pred_mask: Optional[Tensor] = None,
                 target_mask: Optional[Tensor] = None) -> dict[str, list[float]]:
    """Per-image values of the image metrics for one batch.

    Args:
        pred: (B, 3, H, W) prediction (already composited).
        target: (B, 3, H, W) target (composited), or ``None`` (no true target: only CSIM).
        region: (B, 1, H, W) mask the metrics average over (``None``: the whole image).
        metrics: names among :data:`METRICS` (``chamfer`` is ignored here).
        lpips_net: an :class:`~rome_smplx.metrics.image.LPIPS` for ``lpips``.
        csim_embed: identity network for ``csim``.
        identity_ref: the image CSIM compares ``pred`` with (default: ``target``).
        pred_mask, target_mask: (B, 1, H, W) rendered mask and target matte, for ``mask_dice``.

    Returns:
        ``{metric: [one float per image]}`` (PSNR ``inf`` for identical images).
    """
    from rome_smplx.metrics.image import csim, lpips, psnr, ssim

    out: dict[str, list[float]] = {}
    if target is not None:
        if "psnr" in metrics:
            out["psnr"] = psnr(pred, target, region).tolist()
        if "ssim" in metrics:
            out["ssim"] = ssim(pred, target, region).tolist()
        if "lpips" in metrics:
            if lpips_net is None:
                raise InputError("score_images: lpips needs lpips_net (see load_backbones)")
            out["lpips"] = lpips(pred, target, lpips_net, region).tolist()
        if "mask_dice" in metrics:
            if pred_mask is None or target_mask is None:
                raise InputError("score_images: mask_dice needs pred_mask and target_mask")
            out["mask_dice"] = mask_dice(pred_mask, target_mask).tolist()
    if "csim" in metrics:
        if csim_embed is None:
            raise InputError("score_images: csim needs csim_embed (see load_backbones)")
        ref = target if identity_ref is None else identity_ref
        if ref is None:
            raise InputError("score_images: csim needs a target or an identity reference image")
        out["csim"] = csim(pred, ref, embed=csim_embed).tolist()
    return out


def mask_dice(pred_mask: Tensor, target_mask: Tensor) -> Tensor:
    """Per-image Dice overlap ``2 |P T| / (|P| + |T|)`` of two (B, 1, H, W) soft masks (1 when both are empty)."""
    from rome_smplx.checks import check_shape

    dims = check_shape(pred_mask, "B,1,H,W", "pred_mask")
    check_shape(target_mask, "B,1,H,W", "target_mask", dims=dims)
    p, t = pred_mask.flatten(1).to(torch.float64), target_mask.flatten(1).to(pred_mask.device, torch.float64)
    inter, total = (p * t).sum(1), (p + t).sum(1)
    return torch.where(total > 0, 2 * inter / total.clamp_min(1e-12), torch.ones_like(total)).to(torch.float32)


def mean_of(values: Sequence[float]) -> Optional[float]:
    """Mean of per-image values (``None`` when empty; ``inf`` if any value is ``inf``)."""
    vals = [float(v) for v in values]
    if not vals:
        return None
    if any(math.isinf(v) for v in vals):
        signs = {math.copysign(1.0, v) for v in vals if math.isinf(v)}
        return math.inf if signs == {1.0} else (-math.inf if signs == {-1.0} else math.nan)
    return math.fsum(vals) / len(vals)


@dataclass
class EvalReport:
    """What :func:`evaluate` measured.

    Attributes:
        mode: ``"self"`` or ``"cross"``.
        source: description of the pairs.
        pairs: number of frame pairs evaluated.
        metrics: requested metric names.
        results: ``{model: {metric: mean or None}}`` (per-image means; ``None``: not measured).
        per_image: ``{model: {metric: [values]}}``.
        random_backbones: metrics computed with random backbones (not real metrics).
        notes: what was skipped or substituted, and why.
        settings: weights, image size, pair settings.
    """

    mode: str
    source: str
    pairs: int
    metrics: tuple[str, ...]
    results: dict[str, dict[str, Optional[float]]]
    per_image: dict[str, dict[str, list[float]]]
    random_backbones: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (non-finite floats as the strings ``"inf"``, ``"-inf"``, ``"nan"``)."""
        return _jsonable({
            "mode": self.mode, "source": self.source, "pairs": self.pairs, "metrics": list(self.metrics),
            "averaging": AVERAGING, "random_backbones": list(self.random_backbones),
            "results": self.results, "per_image": self.per_image, "notes": list(self.notes),
            "settings": self.settings,
        })


def _jsonable(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else ("nan" if math.isnan(x) else ("inf" if x > 0 else "-inf"))
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    return x


def _region(batch: dict[str, Tensor], notes: set[str]) -> Tensor:
    """The target's face+hair mask; its matte where the parsing is absent or empty."""
    hair = batch["target_hair_mask"]
    matte = batch["target_mask"]
    has = batch.get("has_parsing")
    use = hair.flatten(1).sum(1) > 0
    if has is not None:
        use = use & (has > 0)
    if not bool(use.all()):
        notes.add("targets without a face+hair parsing mask were compared over their matte")
    return torch.where(use.view(-1, 1, 1, 1), hair, matte)


def evaluate(heads: Mapping[str, Any], pairs: PairSource | Iterable[dict[str, Tensor]], *,
             metrics: Sequence[str] = ("psnr", "ssim"), mode: Optional[str] = None, lpips_net=None,
             csim_embed: Optional[Callable[[Tensor], Tensor]] = None, random_backbones: Sequence[str] = (),
             chamfer_samples: int = 3000, flame_reference: bool = True, progress: bool = True,
             settings: Optional[dict] = None, composite: str = "own") -> EvalReport:
    """Run the protocol for every head on every pair.

    Args:
        heads: ``{name: HeadAvatar}`` (anything with ``reconstruct`` and ``render``; Chamfer also uses
            ``flame`` and ``faces``).
        pairs: a :class:`PairSource`, or an iterable of collated batches (trainer item keys:
            ``source_image/mask/shape/exp/pose/cam``, ``target_*``, ``target_hair_mask``).
        metrics: names among :data:`METRICS`.
        mode: ``"self"`` / ``"cross"`` (taken from a :class:`PairSource`).
        lpips_net, csim_embed: backbones (:func:`load_backbones`) for ``lpips`` / ``csim``.
        random_backbones: the metrics whose backbones are random (stated in the report).
        chamfer_samples: surface samples per mesh for Chamfer (seeded by the subject seed).
        flame_reference: add a ``flame_only`` row (the FLAME mesh without offsets) to Chamfer.
        progress: show tqdm bars.
        settings: extra settings for the report.
        composite: ``"own"`` or ``"predicted"`` (:data:`COMPOSITES`, see the module docstring).

    Returns:
        :class:`EvalReport`.
    """
    from tqdm.auto import tqdm

    from rome_smplx.trainers.datasets import flame_params_from_batch

    metrics = parse_metrics(metrics)
    if composite not in COMPOSITES:
        raise InputError(f"--composite: expected one of {', '.join(COMPOSITES)}, found {composite!r}")
    if not heads:
        raise InputError("evaluate: no heads to evaluate")
    src = pairs if isinstance(pairs, PairSource) else None
    mode = _check_mode(src.mode if src is not None and mode is None else (mode or "self"))
    if "lpips" in metrics and lpips_net is None:
        raise InputError("evaluate: lpips needs lpips_net (see load_backbones)")
    if "csim" in metrics and csim_embed is None:
        raise InputError("evaluate: csim needs csim_embed (see load_backbones)")
    notes: set[str] = set()
    has_target = src.has_target if src is not None else True
    if not has_target and any(m in metrics for m in _IMAGE_METRICS):
        notes.add("PSNR, SSIM and LPIPS skipped: the pairs have no true target image (cross-driving of real "
                  "videos); CSIM compares the prediction with the source frame")
    scores: dict[str, dict[str, list[float]]] = {k: {} for k in heads}
    count = 0
    batches = src.batches() if src is not None else iter(pairs)
    total = src.total if src is not None else None
    with torch.no_grad(), tqdm(total=total, desc=f"eval {mode}", unit="pair", disable=not progress) as bar:
        for b in batches:
            n = int(b["source_image"].shape[0])
            s_params, t_params = flame_params_from_batch(b, "source"), flame_params_from_batch(b, "target")
            batch_has_target = has_target and not bool((b.get("has_target", torch.ones(n)) <= 0).any())
            target = _white(b["target_image"], b["target_mask"]) if batch_has_target else None
            region = _region(b, notes) if batch_has_target else None
            source = _white(b["source_image"], b["source_mask"])
            ref = source if (mode == "cross" or target is None) else None
            for name, head in heads.items():
                recon = head.reconstruct(b["source_image"], b["source_mask"], s_params)
                r = head.render(recon, t_params)
                pred = _white(r.image.clamp(0, 1), r.mask)
                tgt = target
                if target is not None and composite == "predicted":
                    tgt = _white(b["target_image"], r.mask)
                if ref is not None and ref.shape[-2:] != pred.shape[-2:]:
                    ref = torch.nn.functional.interpolate(ref, size=pred.shape[-2:], mode="bilinear",
                                                          align_corners=False, antialias=True)
                vals = score_images(pred, tgt, region, metrics, lpips_net=lpips_net, csim_embed=csim_embed,
                                    identity_ref=ref, pred_mask=r.mask, target_mask=b["target_mask"])
                for m, v in vals.items():
                    scores[name].setdefault(m, []).extend(v)
            count += n
            bar.update(n)
    if "csim" in metrics and mode == "cross":
        notes.add("cross-driving CSIM compares the prediction with the source frame (identity preservation)")

    if "chamfer" in metrics:
        mesh_items = src.meshes if src is not None else None
        if mesh_items is None:
            notes.add("Chamfer skipped: the pairs carry no true meshes")
        else:
            _chamfer(heads, mesh_items(), scores, chamfer_samples, flame_reference, progress)
    if count == 0:
        raise InputError("evaluate: no pairs")
    results = {k: {m: mean_of(v[m]) if m in v else None for m in metrics} for k, v in scores.items()}
    for m in metrics:
        n_inf = sum(math.isinf(x) for v in scores.values() for x in v.get(m, []))
        if n_inf:
            notes.add(f"{m}: {n_inf} image(s) identical to their target (inf), kept in the mean")
    cfg = dict(src.settings) if src is not None else {}
    cfg.update(settings or {})
    cfg["chamfer_samples"] = chamfer_samples
    cfg["composite"] = composite
    report = EvalReport(mode=mode, source=src.description if src is not None else "batches", pairs=count,
                        metrics=metrics, results=results, per_image=scores,
                        random_backbones=[m for m in metrics if m in set(random_backbones)], notes=sorted(notes),
                        settings=cfg)
    logger.info("evaluated %d %s-driving pairs for %s", count, mode, ", ".join(heads))
    return report


def _chamfer(heads: Mapping[str, Any], items: Iterator[dict[str, Any]], scores: dict, samples: int,
             flame_reference: bool, progress: bool) -> None:
    from tqdm.auto import tqdm

    from rome_smplx.metrics.geometry import mesh_to_mesh_distance

    first = next(iter(heads.values()))
    faces = first.faces
    if flame_reference:
        scores.setdefault("flame_only", {})
    with torch.no_grad():
        for it in tqdm(items, desc="chamfer", unit="subject", disable=not progress):
            truth = it["vertices"]
            preds = {}
            for name, head in heads.items():
                recon = head.reconstruct(it["image"], it["mask"], it["flame"])
                preds[name] = recon.vertices
            if flame_reference:
                preds["flame_only"] = first.flame(it["flame"]).vertices
            for name, verts in preds.items():
                d = mesh_to_mesh_distance(verts, faces, truth.to(verts), faces, num_samples=samples,
                                          seed=int(it.get("seed", 0)))
                scores[name].setdefault("chamfer", []).extend((d["symmetric"] * 1000).tolist())


# ======================================================================================== report
def _fmt(v: Optional[float], metric: str) -> str:
    if v is None:
        return "—"
    if math.isinf(v) or math.isnan(v):
        return str(v)
    return f"{v:.3f}" if metric in ("psnr", "chamfer") else f"{v:.4f}"


def render_markdown(report: EvalReport) -> str:
    """The ``report.md`` text: a header (mode, pairs, averaging, backbones, notes) and a table."""
    lines = [f"# Evaluation: {report.mode}-driving", ""]
    if report.random_backbones:
        names = " and ".join(m.upper() for m in report.random_backbones)
        lines += [f"> **WARNING: {names} used RANDOM backbone weights (--allow-random-backbones). These columns "
                  f"are NOT real {names} values and must not be compared with published numbers.**", ""]
    lines += [f"- mode: {report.mode}-driving",
              f"- pairs: {report.pairs} ({report.source})",
              f"- averaging: {AVERAGING}",
              f"- compositing: {_COMPOSITE_TEXT[report.settings.get('composite', 'own')]}"]
    w = report.settings.get("weights")
    if w:
        lines.append(f"- weights: {w}")
    for note in report.notes:
        lines.append(f"- note: {note}")
    lines.append("")
    heads = [f"{m.upper()}{' (' + _UNITS[m] + ')' if _UNITS[m] else ''} {'↑' if _HIGHER[m] else '↓'}"
             for m in report.metrics]
    lines.append("| model | " + " | ".join(heads) + " |")
    lines.append("|---|" + "---:|" * len(report.metrics))
    for model, vals in report.results.items():
        lines.append(f"| {model} | " + " | ".join(_fmt(vals.get(m), m) for m in report.metrics) + " |")
    lines.append("")
    return "\n".join(lines)


def write_report(report: EvalReport, out_dir: str | os.PathLike, *, force: bool = False) -> Path:
    """Write ``report.json`` and ``report.md`` as the folder ``out_dir`` (replaced as a whole, atomically,
    under the policy of :mod:`rome_smplx.io.atomic`)."""
    from rome_smplx.io.atomic import atomic_dir

    text = json.dumps(report.to_dict(), indent=2, allow_nan=False)
    md = render_markdown(report)
    with atomic_dir(out_dir, force=force) as tmp:
        (tmp / "report.json").write_text(text + "\n")
        (tmp / "report.md").write_text(md)
    return Path(out_dir)
