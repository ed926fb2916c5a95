"""Hair editing with the linear model (supplementary Figs. 6 and 8).

The linear variant of :class:`~rome_smplx.avatar.head.HeadAvatar` writes the hair/neck offsets as
``offsets = F @ eta + mean`` with a PCA basis ``F`` (3N, K) whose first columns are supported on the
hair vertices only and whose last ones on the neck/shoulder vertices only (ROME: 50 hair + 10 neck).
Its coefficients ``eta`` are semantic: moving one of them along the range it takes over a dataset edits
the hairstyle, and copying the hair block from one person to another transfers the hair while the neck
stays.

* :class:`HairStats`: per-component order statistics of the regressed coefficients over M subjects
  (:meth:`HairStats.from_dataset`), saved and loaded as a small JSON file tied to the model it was
  computed with (:func:`model_fingerprint`). The synthetic default assets ship stats of the shipped
  linear model over its training subjects (:data:`STATS_FILE`; regenerate with
  ``python -m rome_smplx.avatar.editing --write-stats``).
* :func:`edit_hair`: coefficient ``k`` set to a quantile of the stats or to a value.
* :func:`transfer_hair`: the target takes the source's hair coefficients and keeps its own neck.
* :func:`set_coefficients` / :func:`project_offsets`: the two directions between coefficients and offsets.
* :func:`hair_edit_grid`: the Fig. 6 picture (rows: components, columns: order statistics).

Every edit returns a new :class:`~rome_smplx.types.HeadReconstruction` (the input is never changed); it
renders (``head.render``), merges (:func:`rome_smplx.merge`) and exports like any other.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from rome_smplx.checks import check_shape
from rome_smplx.errors import InputError
from rome_smplx.types import FlameParams, HeadReconstruction

if TYPE_CHECKING:  # pragma: no cover
    from rome_smplx.assets import Assets
    from rome_smplx.avatar.head import HeadAvatar

logger = logging.getLogger(__name__)

#: The order statistics of Fig. 6's columns: min, 10 %, 25 %, 75 %, 90 %, max.
FIG6_QUANTILES = (0.0, 0.1, 0.25, 0.75, 0.9, 1.0)
#: Quantile levels a :class:`HairStats` file stores (every percent; any other ``q`` is interpolated).
STATS_LEVELS = 101
#: Format tag of the stats file.
STATS_FORMAT = "rome_smplx.hair_stats"
#: The stats shipped with the synthetic-trained linear model (beside the weights).
STATS_FILE = Path(__file__).resolve().parent.parent / "weights" / "hair_stats.json"
#: Training subjects the shipped stats are computed over (the distillation's range).
STATS_SEEDS = range(10_000, 10_200)

__all__ = [
    "FALLBACK_SEEDS",
    "FIG6_QUANTILES",
    "STATS_FILE",
    "STATS_FORMAT",
    "STATS_SEEDS",
    "HairStats",
    "component_kinds",
    "default_stats",
    "edit_hair",
    "hair_edit_figure",
    "hair_edit_grid",
    "model_fingerprint",
    "project_offsets",
    "set_coefficients",
    "stats_for",
    "transfer_hair",
    "write_default_stats",
]


# ------------------------------------------------------------------------------------ checks
def _check_linear(head: "HeadAvatar", fn: str) -> None:
    if getattr(head, "variant", None) != "linear":
        raise InputError(f"{fn}: hair editing needs a HeadAvatar of variant 'linear' (its basis coefficients are "
                         f"what is edited), found variant {getattr(head, 'variant', type(head).__name__)!r}")


def _check_recon(head: "HeadAvatar", recon: HeadReconstruction, fn: str, name: str = "recon") -> Tensor:
    if not isinstance(recon, HeadReconstruction):
        raise InputError(f"{fn}: {name} must be a HeadReconstruction, found {type(recon).__name__}")
    c = recon.hair_coeffs
    check_shape(c, "B,K", f"{fn}: {name}.hair_coeffs (coefficients of the linear model: reconstruct with a 'linear' "
                "HeadAvatar)", dims={"K": head.basis.shape[1]})
    return c


def _check_component(k, K: int, fn: str) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < K:
        raise InputError(f"{fn}: component must be an integer in 0..{K - 1}, found {k!r}")
    return k


# ------------------------------------------------------------------------------------ basis
def component_kinds(basis: Tensor, hair_list, neck_list) -> tuple[str, ...]:
    """What each basis column moves: ``"hair"`` (support inside ``hair_list``), ``"neck"`` (inside
    ``neck_list``) or ``"mixed"``.

    Args:
        basis: (3N, K) vertex-major basis (row ``3 v + c``).
        hair_list, neck_list: vertex indices (e.g. :attr:`~rome_smplx.assets.RomeData.hair_list`).
    """
    if not isinstance(basis, Tensor) or basis.dim() != 2 or basis.shape[0] % 3:
        raise InputError(f"component_kinds: basis must be (3N, K), found "
                         f"{tuple(basis.shape) if isinstance(basis, Tensor) else type(basis).__name__}")
    n = basis.shape[0] // 3
    support = basis.view(n, 3, -1).abs().amax(1) > 0  # (N, K)
    inside = {}
    for name, idx in (("hair", hair_list), ("neck", neck_list)):
        m = torch.zeros(n, dtype=torch.bool)
        m[torch.as_tensor(idx, dtype=torch.long)] = True
        inside[name] = ~(support & ~m[:, None]).any(0)  # no support outside the list
    return tuple("hair" if h else "neck" if k else "mixed" for h, k in zip(inside["hair"].tolist(), inside["neck"].tolist()))


def _head_kinds(head: "HeadAvatar", assets: "Assets") -> tuple[str, ...]:
    data = assets.rome_data()
    return component_kinds(head.basis.cpu(), data.hair_list, data.neck_list)


def project_offsets(offsets: Tensor, basis: Tensor, mean: Tensor) -> Tensor:
    """Least-squares coefficients of offsets: ``eta = (F^T F)^-1 F^T (dv - mean)`` (the paper's projection,
    :func:`rome_smplx.models.rome.linear_basis.project_coefficients` on a batch).

    Args:
        offsets: (B, N, 3) offsets dv; basis: (3N, K) F; mean: (N, 3).

    Returns:
        (B, K) coefficients (float64 solve, returned in the dtype of ``offsets``).
    """
    from rome_smplx.models.rome.linear_basis import project_coefficients

    if not isinstance(offsets, Tensor) or offsets.dim() != 3:
        raise InputError(f"project_offsets: offsets must be (B, N, 3), found "
                         f"{tuple(offsets.shape) if isinstance(offsets, Tensor) else type(offsets).__name__}")
    return project_coefficients(offsets, basis, mean)


def set_coefficients(head: "HeadAvatar", recon: HeadReconstruction, coeffs: Tensor) -> HeadReconstruction:
    """A new reconstruction with basis coefficients ``coeffs`` (B, K): offsets ``F @ coeffs + mean`` and
    vertices moved by the change of offsets; texture, FLAME parameters and source image are kept."""
    _check_linear(head, "set_coefficients")
    old = _check_recon(head, recon, "set_coefficients")
    if not isinstance(coeffs, Tensor) or tuple(coeffs.shape) != tuple(old.shape):
        raise InputError(f"set_coefficients: coeffs must have the shape of recon.hair_coeffs {tuple(old.shape)}, "
                         f"found {tuple(coeffs.shape) if isinstance(coeffs, Tensor) else type(coeffs).__name__}")
    if not bool(torch.isfinite(coeffs).all()):
        raise InputError("set_coefficients: coeffs contain NaN or inf values")
    coeffs = coeffs.to(old.device, old.dtype)
    offsets = head.linear_offsets(coeffs.to(head.basis.device)).to(recon.offsets.device, recon.offsets.dtype)
    base = recon.vertices - recon.offsets  # the source FLAME mesh
    return dataclasses.replace(recon, hair_coeffs=coeffs.clone(), offsets=offsets, vertices=base + offsets)


# ------------------------------------------------------------------------------------ stats
def model_fingerprint(head: "HeadAvatar") -> str:
    """SHA-256 (hex, 16 digits) of the linear model's regressor state, basis and mean: ties a
    :class:`HairStats` file to the model whose coefficients it describes."""
    _check_linear(head, "model_fingerprint")
    h = hashlib.sha256()
    tensors = [("basis", head.basis), ("mean_deform", head.mean_deform)]
    tensors += sorted(head.regressor.state_dict().items())
    for name, t in tensors:
        h.update(name.encode())
        h.update(t.detach().to("cpu", torch.float32 if t.is_floating_point() else torch.int64).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True, eq=False)  # tensor fields: compare .values etc. explicitly
class HairStats:
    """Per-component order statistics of linear-model coefficients over a dataset.

    Attributes:
        levels: ``(L,)`` ascending quantile levels from 0 to 1.
        values: ``(K, L)`` the coefficient of each component at each level (``values[:, 0]`` the
            minimum, ``values[:, -1]`` the maximum; linear interpolation between order statistics,
            ``torch.quantile``'s default).
        mean, std: ``(K,)`` mean and standard deviation of each component.
        kinds: ``K`` names, ``"hair"``, ``"neck"`` or ``"mixed"`` (:func:`component_kinds`).
        count: number of subjects M.
        fingerprint: :func:`model_fingerprint` of the model the coefficients came from.
        source: what the subjects were (free text).
    """

    levels: Tensor
    values: Tensor
    mean: Tensor
    std: Tensor
    kinds: tuple[str, ...]
    count: int
    fingerprint: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        K, L = self.values.shape if self.values.dim() == 2 else (None, None)
        if K is None or tuple(self.levels.shape) != (L,) or L < 2:
            raise InputError(f"HairStats: values must be (K, L) with levels (L,), L >= 2; found "
                             f"{tuple(self.values.shape)} and {tuple(self.levels.shape)}")
        if abs(float(self.levels[0])) > 1e-9 or abs(float(self.levels[-1]) - 1) > 1e-9 or bool((self.levels.diff() <= 0).any()):
            raise InputError("HairStats: levels must increase from 0 to 1")
        if tuple(self.mean.shape) != (K,) or tuple(self.std.shape) != (K,) or len(self.kinds) != K:
            raise InputError(f"HairStats: mean, std and kinds must have {K} entries, found {tuple(self.mean.shape)}, "
                             f"{tuple(self.std.shape)}, {len(self.kinds)}")
        if bool((self.values.diff(dim=1) < 0).any()):
            raise InputError("HairStats: values must be non-decreasing along the levels of each component")

    @property
    def num_components(self) -> int:
        return int(self.values.shape[0])

    def components(self, kind: str) -> list[int]:
        """Indices of the components of one kind (``"hair"``, ``"neck"``)."""
        return [i for i, k in enumerate(self.kinds) if k == kind]

    def quantile(self, component: int, q: float) -> float:
        """The coefficient of ``component`` at quantile ``q`` in [0, 1] (interpolated between levels)."""
        k = _check_component(component, self.num_components, "HairStats.quantile")
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0.0 <= float(q) <= 1.0:
            raise InputError(f"HairStats.quantile: q must be a number in [0, 1], found {q!r}")
        lv = self.levels.to(torch.float64)
        i = int(torch.searchsorted(lv, torch.tensor([float(q)], dtype=torch.float64), right=True).clamp(1, len(lv) - 1))
        t = (float(q) - float(lv[i - 1])) / float(lv[i] - lv[i - 1])
        a, b = float(self.values[k, i - 1]), float(self.values[k, i])
        return a + (b - a) * t

    # -------------------------------------------------------------- building
    @classmethod
    def from_coefficients(cls, coeffs: Tensor, kinds: Sequence[str], *, levels: int = STATS_LEVELS,
                          fingerprint: str = "", source: str = "") -> "HairStats":
        """Stats of coefficients ``(M, K)`` of M subjects (M >= 2)."""
        if not isinstance(coeffs, Tensor) or coeffs.dim() != 2 or coeffs.shape[0] < 2:
            raise InputError(f"HairStats.from_coefficients: expected coefficients (M, K) with M >= 2, found "
                             f"{tuple(coeffs.shape) if isinstance(coeffs, Tensor) else type(coeffs).__name__}")
        if not bool(torch.isfinite(coeffs).all()):
            raise InputError("HairStats.from_coefficients: coefficients contain NaN or inf values")
        c = coeffs.detach().to("cpu", torch.float64)
        lv = torch.linspace(0, 1, int(levels), dtype=torch.float64)
        values = torch.quantile(c, lv, dim=0).T.contiguous()  # (K, L)
        return cls(levels=lv, values=values, mean=c.mean(0), std=c.std(0), kinds=tuple(kinds), count=int(c.shape[0]),
                   fingerprint=fingerprint, source=source)

    @classmethod
    def from_dataset(cls, head: "HeadAvatar", dataset: Iterable, assets: "Assets", *, batch_size: int = 8,
                     source: str = "", levels: int = STATS_LEVELS) -> "HairStats":
        """Stats of the coefficients ``head`` regresses on the source images of a dataset.

        Args:
            head: a linear :class:`HeadAvatar`.
            dataset: a sized dataset of items with ``source_image`` ``(3, S, S)`` in [0, 1] (any dataset of
                :mod:`rome_smplx.trainers.datasets`; a :class:`SyntheticVideoDataset` item is one subject),
                or an iterable of image tensors ``(3, S, S)``.
            assets: the asset folder (its hair and neck vertex lists name the components' kinds).
            batch_size: images per regressor pass.
        """
        from tqdm.auto import tqdm

        _check_linear(head, "HairStats.from_dataset")
        coeffs, batch = [], []

        def flush():
            if batch:
                img = torch.stack(batch).to(head.basis.device, head.basis.dtype)
                coeffs.append(_regress(head, img).cpu())
                batch.clear()

        with torch.no_grad():
            for item in tqdm(dataset, desc="hair stats", unit="image", leave=False):
                img = item["source_image"] if isinstance(item, dict) else item
                if not isinstance(img, Tensor) or img.dim() != 3 or img.shape[0] != 3:
                    raise InputError(f"HairStats.from_dataset: expected source images (3, S, S), found "
                                     f"{tuple(img.shape) if isinstance(img, Tensor) else type(img).__name__}")
                batch.append(img)
                if len(batch) >= batch_size:
                    flush()
            flush()
        if not coeffs:
            raise InputError("HairStats.from_dataset: the dataset is empty")
        return cls.from_coefficients(torch.cat(coeffs), _head_kinds(head, assets), levels=levels,
                                     fingerprint=model_fingerprint(head), source=source)

    # -------------------------------------------------------------- files
    def to_dict(self) -> dict:
        r = lambda t: [float(f"{v:.7g}") for v in t.tolist()]
        return {"format": STATS_FORMAT, "version": 1, "count": self.count, "fingerprint": self.fingerprint,
                "source": self.source, "kinds": list(self.kinds), "levels": r(self.levels),
                "mean": r(self.mean), "std": r(self.std), "values": [r(v) for v in self.values]}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the stats as JSON (atomically)."""
        from rome_smplx.io.atomic import write_bytes_atomic

        write_bytes_atomic(path, (json.dumps(self.to_dict(), separators=(",", ":")) + "\n").encode())
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "HairStats":
        """Read :meth:`save`'s file.

        Raises:
            InputError: unreadable file, another format, missing keys or inconsistent shapes.
        """
        p = Path(path)
        try:
            d = json.loads(p.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{p}: not a readable hair stats file ({type(exc).__name__}: {exc})") from None
        if not isinstance(d, dict) or d.get("format") != STATS_FORMAT:
            raise InputError(f"{p}: not a hair stats file (expected format '{STATS_FORMAT}')")
        missing = [k for k in ("count", "kinds", "levels", "mean", "std", "values") if k not in d]
        if missing:
            raise InputError(f"{p}: missing keys {missing}")
        try:
            t = lambda v: torch.tensor(v, dtype=torch.float64)
            stats = cls(levels=t(d["levels"]), values=t(d["values"]), mean=t(d["mean"]), std=t(d["std"]),
                        kinds=tuple(d["kinds"]), count=int(d["count"]), fingerprint=str(d.get("fingerprint", "")),
                        source=str(d.get("source", "")))
        except (TypeError, ValueError) as exc:
            raise InputError(f"{p}: malformed hair stats ({exc})") from None
        except InputError as exc:
            raise InputError(f"{p}: {exc}") from None
        return stats


def _regress(head: "HeadAvatar", image: Tensor) -> Tensor:
    """The coefficients :meth:`HeadAvatar.reconstruct` regresses for ``(B, 3, H, W)`` images (same resize)."""
    s = head.image_size
    if image.shape[-2:] != (s, s):
        image = F.interpolate(image, size=(s, s), mode="bilinear", align_corners=False, antialias=True)
    return head.regressor(image)


def default_stats(head: "HeadAvatar", path: str | os.PathLike | None = None) -> Optional[HairStats]:
    """The stats file beside the shipped weights (or ``path``) when it belongs to ``head``'s model.

    Returns ``None`` (and logs why) when the file is absent or was computed with another model: stats
    are only meaningful for the coefficients of the model that produced them.
    """
    p = Path(path) if path is not None else STATS_FILE
    if not p.is_file():
        logger.info("no hair stats at %s", p)
        return None
    stats = HairStats.load(p)
    fp = model_fingerprint(head)
    if stats.fingerprint != fp:
        logger.warning("%s was computed with another linear model (fingerprint %s, this model %s); regenerate it with "
                       "`python -m rome_smplx.avatar.editing --write-stats`", p, stats.fingerprint or "none", fp)
        return None
    if stats.num_components != head.basis.shape[1]:
        return None
    return stats


#: Subjects of the stats computed on the fly when no stats file belongs to the model (:func:`stats_for`).
FALLBACK_SEEDS = range(10_000, 10_032)


def stats_for(head: "HeadAvatar", assets: "Assets", path: str | os.PathLike | None = None) -> HairStats:
    """The :class:`HairStats` of ``head``'s model.

    ``path`` given: that file, which must belong to the model (same :func:`model_fingerprint`). Otherwise the
    shipped stats when they belong to it (:func:`default_stats`), else, on synthetic assets, stats computed on
    the first frames of :data:`FALLBACK_SEEDS` (with a warning: few subjects, coarse order statistics).

    Raises:
        InputError: the file is unreadable or belongs to another model; no stats for a model on real assets.
    """
    _check_linear(head, "stats_for")
    if path is not None:
        stats = HairStats.load(path)
        fp = model_fingerprint(head)
        if stats.fingerprint != fp or stats.num_components != head.basis.shape[1]:
            raise InputError(f"{path}: hair stats of another linear model (fingerprint {stats.fingerprint or 'none'}, "
                             f"{stats.num_components} components; this model {fp}, {head.basis.shape[1]} components)")
        return stats
    stats = default_stats(head)
    if stats is not None:
        return stats
    if not getattr(assets, "is_synthetic", False):
        raise InputError(f"no hair stats for the linear model of {assets.root}: compute them with "
                         "HairStats.from_dataset(head, dataset, assets).save(FILE) and pass that file")
    a, b = FALLBACK_SEEDS.start, FALLBACK_SEEDS.stop - 1
    logger.warning("no hair stats for this linear model: computing them on %d synthetic video subjects",
                   len(FALLBACK_SEEDS))
    return HairStats.from_dataset(head, _video_images(assets, FALLBACK_SEEDS, head.image_size), assets,
                                  source=f"synthetic video world, subjects {a}..{b}")


def _video_images(assets: "Assets", seeds: Sequence[int], image_size: int):
    """The first frame of each synthetic video subject of ``seeds`` (tracked like the training data)."""
    from rome_smplx.assets.synthetic.video import SyntheticSubject

    class _Frames:
        def __len__(self) -> int:
            return len(seeds)

        def __iter__(self):
            for s in seeds:
                subj = SyntheticSubject.from_seed(int(s), assets)
                yield subj.render(subj.walk(1)[0], image_size, tracking_noise=0.5, frame_ids=[0]).image

    return _Frames()


def write_default_stats(out: str | os.PathLike | None = None, *, assets: "Assets | None" = None,
                        seeds: Sequence[int] = STATS_SEEDS) -> Path:
    """Recompute the shipped stats: the default linear model on the synthetic default assets, over the first
    frame of each training subject of ``seeds``. Writes :data:`STATS_FILE` (or ``out``)."""
    from rome_smplx.assets import Assets
    from rome_smplx.avatar.head import HeadAvatar

    assets = assets if assets is not None else Assets.discover()
    head = HeadAvatar.from_assets(assets, "linear", backend="torch")
    seeds = range(seeds.start, seeds.stop) if isinstance(seeds, range) else list(seeds)
    ds = _video_images(assets, seeds, head.image_size)
    src = f"synthetic video world, training subjects {seeds[0]}..{seeds[-1]} ({len(seeds)}), first frame of each"
    stats = HairStats.from_dataset(head, ds, assets, source=src)
    return stats.save(out if out is not None else STATS_FILE)


# ------------------------------------------------------------------------------------ edits
def edit_hair(head: "HeadAvatar", recon: HeadReconstruction, component: int, *, quantile: Optional[float] = None,
              value: Optional[float] = None, stats: Optional[HairStats] = None) -> HeadReconstruction:
    """Replace coefficient ``component`` of every reconstruction in the batch.

    Args:
        head: the linear :class:`HeadAvatar` that reconstructed ``recon``.
        recon: its reconstruction (``hair_coeffs`` (B, K)).
        component: which coefficient (hair components first, then neck; see :attr:`HairStats.kinds`).
        quantile: set it to this quantile in [0, 1] of ``stats`` (e.g. 0.9), or
        value: set it to this value.
        stats: the :class:`HairStats` of ``head``'s model (needed with ``quantile``).

    Returns:
        a new :class:`HeadReconstruction` (offsets and vertices follow the new coefficients).
    """
    _check_linear(head, "edit_hair")
    coeffs = _check_recon(head, recon, "edit_hair")
    k = _check_component(component, coeffs.shape[1], "edit_hair")
    if (quantile is None) == (value is None):
        raise InputError("edit_hair: pass exactly one of quantile= and value=")
    if quantile is not None:
        if stats is None:
            raise InputError("edit_hair: quantile= needs stats= (HairStats of this model; see default_stats)")
        if stats.num_components != coeffs.shape[1]:
            raise InputError(f"edit_hair: stats describe {stats.num_components} components, the model has {coeffs.shape[1]}")
        value = stats.quantile(k, quantile)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise InputError(f"edit_hair: value must be a finite number, found {value!r}")
    new = coeffs.clone()
    new[:, k] = float(value)
    return set_coefficients(head, recon, new)


def transfer_hair(head: "HeadAvatar", source: HeadReconstruction, target: HeadReconstruction,
                  kinds: Sequence[str] | HairStats) -> HeadReconstruction:
    """The target with the source's hair (Fig. 8): hair coefficients from ``source``, neck from ``target``.

    Args:
        head: the linear :class:`HeadAvatar` of both reconstructions.
        source: whose hair (batch 1 or the target's batch).
        target: who receives it.
        kinds: per-component kinds (:func:`component_kinds`, or a :class:`HairStats` carrying them).

    Returns:
        a new reconstruction of the target (its texture, FLAME parameters and neck offsets unchanged).
    """
    _check_linear(head, "transfer_hair")
    cs = _check_recon(head, source, "transfer_hair", "source")
    ct = _check_recon(head, target, "transfer_hair", "target")
    kinds = kinds.kinds if isinstance(kinds, HairStats) else tuple(kinds)
    if len(kinds) != ct.shape[1]:
        raise InputError(f"transfer_hair: kinds name {len(kinds)} components, the model has {ct.shape[1]}")
    if cs.shape[0] not in (1, ct.shape[0]):
        raise InputError(f"transfer_hair: source batch {cs.shape[0]} must be 1 or the target's {ct.shape[0]}")
    hair = torch.tensor([k == "hair" for k in kinds], device=ct.device)
    if not bool(hair.any()):
        raise InputError("transfer_hair: no component is a hair component")
    new = torch.where(hair[None], cs.to(ct.device, ct.dtype).expand_as(ct), ct)
    return set_coefficients(head, target, new)


# ------------------------------------------------------------------------------------ picture
def _rot_y(angle: float) -> Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def hair_edit_grid(
    head: "HeadAvatar",
    recon: HeadReconstruction,
    stats: HairStats,
    *,
    components: Optional[Sequence[int]] = None,
    quantiles: Sequence[float] = FIG6_QUANTILES,
    mode: str = "neural",
    yaw: float = 0.6,
    image_size: Optional[int] = None,
    colour_scale: float = 0.01,
) -> Tensor:
    """Fig. 6: rows are components, columns the order statistics ``quantiles`` of each.

    Every cell shows the edited head twice: the render at the source pose turned by ``yaw`` (radians)
    and, below it, the shaded geometry from the side, so the hair's shape reads even where the neural
    renderer is untrained. The shaded views are coloured by the displacement along the normal from the
    row's median edit (red outwards, blue inwards, saturated at ``colour_scale`` metres).

    Args:
        head, recon: a linear head and its reconstruction (batch 1).
        stats: :class:`HairStats` of the model.
        components: rows (default: the first 3 hair components and the first neck component).
        mode: ``"neural"`` (ROME's renderer, composited on white) or ``"shaded"`` (both views shaded).
        image_size: side of each view (default ``head.image_size``).

    Returns:
        ``(1, 3, rows * 2 * S, columns * S)`` image in [0, 1].
    """
    from rome_smplx.geometry.mesh import vertex_normals
    from rome_smplx.render.preview import front_camera, render_preview

    _check_linear(head, "hair_edit_grid")
    coeffs = _check_recon(head, recon, "hair_edit_grid")
    if coeffs.shape[0] != 1:
        raise InputError(f"hair_edit_grid: expected a reconstruction of batch 1, found {coeffs.shape[0]}")
    if mode not in ("neural", "shaded"):
        raise InputError(f"hair_edit_grid: mode must be 'neural' or 'shaded', found {mode!r}")
    if components is None:
        components = stats.components("hair")[:3] + stats.components("neck")[:1]
    rows = [_check_component(k, coeffs.shape[1], "hair_edit_grid") for k in components]
    cols = list(quantiles)
    S = head.image_size if image_size is None else int(image_size)
    B = len(rows) * len(cols)
    new = coeffs.expand(B, -1).clone()
    for r, k in enumerate(rows):
        for c, q in enumerate(cols):
            new[r * len(cols) + c, k] = stats.quantile(k, q)
    expanded = dataclasses.replace(
        recon, texture=recon.texture.expand(B, *recon.texture.shape[1:]), offsets=recon.offsets.expand(B, -1, -1),
        vertices=recon.vertices.expand(B, -1, -1), hair_coeffs=coeffs.expand(B, -1), flame=recon.flame,
        source_image=None, source_mask=None)
    edited = set_coefficients(head, expanded, new)
    fl = recon.flame
    turn = _rot_y(yaw).to(fl.global_rot)
    ex = lambda t: None if t is None else t.expand(B, *t.shape[1:])
    target = FlameParams(shape=ex(fl.shape), expression=ex(fl.expression), global_rot=ex(turn @ fl.global_rot),
                         jaw_rot=ex(fl.jaw_rot), neck_rot=ex(fl.neck_rot), eye_rots=ex(fl.eye_rots), cam=ex(fl.cam))
    # colour of the shaded views: displacement along the normal from the row's median edit
    mid = coeffs.expand(B, -1).clone()
    for r, k in enumerate(rows):
        mid[r * len(cols):(r + 1) * len(cols), k] = stats.quantile(k, 0.5)
    ref = set_coefficients(head, expanded, mid).vertices
    disp = ((edited.vertices - ref) * vertex_normals(ref, head.faces)).sum(-1)  # (B, N) metres
    t = (disp / colour_scale).clamp(-1, 1)[..., None]
    grey = torch.full_like(edited.vertices, 0.78)
    red, blue = torch.tensor([0.85, 0.2, 0.15]).to(grey), torch.tensor([0.15, 0.35, 0.85]).to(grey)
    colors = torch.where(t > 0, grey + (red - grey) * t, grey + (blue - grey) * (-t))
    with torch.no_grad():
        if mode == "neural":
            out = head.render(edited, target, image_size=S)
            top = out.image.clamp(0, 1) * out.mask + (1 - out.mask)
        else:
            verts = edited.vertices @ (turn @ fl.global_rot[0]).T
            top = render_preview(verts, head.faces, colors, front_camera(verts[:1], margin=1.2), image_size=S)
        side = edited.vertices @ _rot_y(math.radians(80)).to(edited.vertices).T  # profile: the hair's volume
        bottom = render_preview(side, head.faces, colors, front_camera(side[:1], margin=1.2), image_size=S)
    cells = torch.stack([top, bottom], 1)  # (B, 2, 3, S, S)
    cells = cells.view(len(rows), len(cols), 2, 3, S, S).permute(3, 0, 2, 4, 1, 5)  # (3, R, 2, S, C, S)
    return cells.reshape(1, 3, len(rows) * 2 * S, len(cols) * S).contiguous()


def hair_edit_figure(head: "HeadAvatar", recon: HeadReconstruction, assets: "Assets", *, neural: bool = True,
                     stats: Optional[HairStats] = None) -> Tensor:
    """The demo's ``hair_edit.png``: :func:`hair_edit_grid` for any head.

    A ``"full"`` head is replaced by the linear model of the same assets (reconstructed from the same source
    image); the stats are ``stats``, else :func:`default_stats`, else computed on 32 subjects of the
    synthetic video world (with a warning: few subjects, coarse order statistics).
    """
    from rome_smplx.avatar.head import HeadAvatar

    if head.variant != "linear":
        if recon.source_image is None or recon.source_mask is None:
            raise InputError("hair_edit_figure: a 'full' reconstruction without its source image cannot be re-done "
                             "with the linear model")
        head = HeadAvatar.from_assets(assets, "linear", image_size=head.image_size, backend=head.backend)
        with torch.no_grad():
            recon = head.reconstruct(recon.source_image, recon.source_mask, recon.flame)
    if stats is None:
        stats = stats_for(head, assets)
    return hair_edit_grid(head, recon.index(slice(0, 1)), stats, mode="neural" if neural else "shaded")


def _main(argv: Optional[Sequence[str]] = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m rome_smplx.avatar.editing",
                                 description="Recompute the hair stats shipped with the synthetic-trained linear model.")
    ap.add_argument("--write-stats", action="store_true", help=f"write {STATS_FILE.name} beside the shipped weights")
    ap.add_argument("--out", default=None, help=f"another output file [default: {STATS_FILE}]")
    ap.add_argument("--seeds", default=f"{STATS_SEEDS.start}:{STATS_SEEDS.stop}", help="training subjects A:B")
    args = ap.parse_args(argv)
    if not args.write_stats:
        ap.error("nothing to do (pass --write-stats)")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    a, b = (int(x) for x in args.seeds.split(":"))
    path = write_default_stats(args.out, seeds=range(a, b))
    logger.info("hair stats written to %s", path)


if __name__ == "__main__":  # pragma: no cover
    _main()
