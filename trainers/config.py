"""Configuration of the training runs: :class:`RomeTrainConfig` (the ROME trainer) and
:class:`LinearDistillConfig` (the linear distillation).

Both are dataclasses that validate themselves; both are read from mappings and YAML files by
:func:`rome_smplx.io.config.from_mapping` / :func:`~rome_smplx.io.config.from_yaml` (one wording for
unknown keys, bad files and values, each message naming the file) and written back as JSON beside
every checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from rome_smplx.errors import InputError
from rome_smplx.io.config import from_mapping, from_yaml

__all__ = ["DATA_KINDS", "DEFAULT_LOSS_WEIGHTS", "LinearDistillConfig", "RomeTrainConfig"]

#: ROME's loss weights (``run_train.sh``, reference section 4). ``0`` switches a loss off.
DEFAULT_LOSS_WEIGHTS: dict[str, float] = {
    "perceptual": 1.0,  # VGG19
    "gaze": 1.0,  # VGG16 eye features (needs gaze_weights and target landmarks)
    "identity": 0.1,  # face-id embedding (needs face_id_weights)
    "adversarial": 0.1,  # hinge, generator and discriminator sides
    "feature_matching": 1.0,
    "seg": 10.0,  # Dice of E_img's mask vs the dataset mask
    "seg_hair": 10.0,  # silhouette with neck vertices detached vs face + ears + hair
    "seg_neck": 1.0,  # silhouette with hair vertices detached vs face + ears + neck + cloth + hair
    "chamfer": 0.01,
    "laplacian": 10.0,  # on the offsets only
    "keypoints": 1.0,
    # Substitutes for the perceptual term when no VGG19 weights exist (off by default): L1 on the
    # composites and 1 - SSIM. They are not perceptual losses; configs say when they are used.
    "l1": 0.0,
    "ssim": 0.0,
    # Beyond the release (off by default): mean squared length of the hair/neck offsets in cm^2, a
    # prior that keeps offsets the silhouettes do not constrain (seen from no view) near the FLAME surface.
    "offset_l2": 0.0,
    # 3D supervision (off by default, and off in the shipped recipe, whose offsets learn from 2D losses
    # only as the paper's do): mean distance in cm between the predicted and the true hair/neck offsets
    # of the source subject, over the deformable vertices. Needs batches with ``source_offsets``
    # (the synthetic video world has them; real videos do not).
    "offsets_3d": 0.0,
}

#: How the prediction and the ground truth are put on the random background before the photometric
#: and adversarial losses: ``"predicted"`` (the release: both on E_img's detached mask) or ``"own"``
#: (each on its own mask: the prediction on E_img's mask, with gradient, the target on the dataset
#: mask), which is how masked PSNR / SSIM compare them at evaluation.
COMPOSITES = ("predicted", "own")

#: Training data kinds: the synthetic people of the asset folder, the synthetic video world, or a
#: frame-pairs folder (``data_dir``).
DATA_KINDS = ("people", "video", "frames")


@dataclass
class RomeTrainConfig:
    """Everything a ROME training run needs besides the asset folder and the data.

    Attributes:
        profile, size: network profile (``official``/``paper``) and width (``full``/``small``).
        image_size: training resolution (ROME: 256); the UV maps (texture, geometry latent) use it too.
        batch_size: pairs per step (per process under torchrun).
        accumulate: micro-batches per step. Each step averages the gradients of ``accumulate``
            batches of ``batch_size`` before one update, so the global batch is
            ``batch_size * accumulate * processes`` (the paper's 32 on a machine that holds 4). One
            process with ``accumulate: K`` computes what ``K`` processes with ``accumulate: 1`` do:
            the same pairs, the same background colours, the same per-pair arithmetic.
        betas: Adam betas (ROME: (0, 0.999)); lr_g, lr_d: learning rates of the generator networks
            (E_tex, E_geom, G_geom, E_img[, segmentation U-Net]) and of the discriminator; lr_geom:
            learning rate of E_geom and G_geom alone (``None``: ``lr_g``, as the release trains them; a
            higher one lets the geometry follow its input sooner on short runs).
        loss_weights: per loss, see :data:`DEFAULT_LOSS_WEIGHTS` (keys there only; missing keys keep
            their default; ``0`` turns a loss off).
        steps: optimisation steps of :meth:`RomeTrainer.fit`; checkpoint_every: steps between
            checkpoints (0: only at the end); seed; device (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...).
        output_dir: where checkpoints go (``step_NNNNNNN/`` folders).
        vgg_weights, gaze_weights, face_id_weights: optional weight files (torchvision VGG19, a VGG16
            gaze network, a ResNet-50 face-id network). Without VGG19 weights the perceptual loss runs
            on a random VGG (warning); without gaze / face-id weights those losses are off (warning).
        data_dir: optional frame-pairs folder (:class:`FramePairsDataset`); ``None`` trains on the
            synthetic people of the asset folder.
        backend: rasteriser backend.
        offsets: learn the hair/neck offsets (E_geom, G_geom); ``False`` is the "w/o offsets" ablation
            (deferred neural rendering on the bare FLAME mesh).
        data: one of :data:`DATA_KINDS`; ``"frames"`` when ``data_dir`` is set, else ``"people"`` unless
            given. ``"video"`` uses :class:`~rome_smplx.trainers.datasets.SyntheticVideoDataset` with
            ``seeds`` ``[start, stop)``, ``frames`` per subject, ``mode`` and ``tracking_noise``.
        threads: intra-op CPU threads (0: leave torch's default).
        chamfer_points: visible vertices (and matte pixels) drawn per sample for the 2D Chamfer term
            (0: all of them, as the release does).
        profile_options: fields of :class:`~rome_smplx.models.rome.RomeProfile` to change from the
            named profile (scalars only), e.g. ``{texture_unwrap: true, offset_scale: 0.08}``.
        warmup_steps: steps of linear learning-rate warm-up (0: none).
        composite: one of :data:`COMPOSITES` (the release: ``"predicted"``).
        init_weights: networks file to start a new run from (a warm start, fresh optimisers at step
            0; ignored when the run resumes from a checkpoint): a ``.safetensors`` written by
            :func:`rome_smplx.models.rome.save` (e.g. a shipped model; same profile as the run; its
            discriminator is used when it has one), or the released ``rome.pth`` for fine-tuning (the
            ``official`` profile at ``full`` size; the discriminator starts new).
        precision: ``"fp32"`` or ``"bf16"`` (autocast of the forward pass and the losses; CUDA only,
            refused on the CPU).
        tensorboard: write TensorBoard scalars and image grids into ``output_dir/tensorboard`` (rank 0;
            needs the ``tensorboard`` package, else a warning and none). Per-step losses always go to
            ``output_dir/metrics.jsonl``.
        image_every: steps between image grids (source | target | render | mask | offsets; 0: none).
        val_every: steps between validations on held-out pairs (0: none); val_pairs: how many pairs;
            they come from the synthetic video world's subjects ``val_seeds`` ``[start, stop)`` or from
            the frame-pairs folder ``val_data_dir`` (one of the two is needed).
    """

    profile: str = "official"
    size: str = "full"
    image_size: int = 256
    batch_size: int = 4
    accumulate: int = 1
    betas: tuple[float, float] = (0.0, 0.999)
    lr_g: float = 1e-4
    lr_d: float = 4e-4
    lr_geom: Optional[float] = None
    loss_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_LOSS_WEIGHTS))
    steps: int = 1000
    checkpoint_every: int = 500
    seed: int = 0
    device: str = "cpu"
    output_dir: str = "rome_train_out"
    vgg_weights: Optional[str] = None
    gaze_weights: Optional[str] = None
    face_id_weights: Optional[str] = None
    data_dir: Optional[str] = None
    backend: str = "auto"
    offsets: bool = True
    data: Optional[str] = None
    seeds: tuple[int, int] = (10_000, 10_200)
    frames: int = 16
    mode: str = "self"
    tracking_noise: float = 1.0
    threads: int = 0
    chamfer_points: int = 0
    profile_options: dict[str, Any] = field(default_factory=dict)
    warmup_steps: int = 0
    composite: str = "predicted"
    init_weights: Optional[str] = None
    precision: str = "fp32"
    tensorboard: bool = True
    image_every: int = 100
    val_every: int = 0
    val_pairs: int = 8
    val_seeds: Optional[tuple[int, int]] = None
    val_data_dir: Optional[str] = None

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Check types and ranges; raise :class:`InputError` naming the field."""
        from rome_smplx.models.rome import PROFILES, SIZES

        if self.profile not in PROFILES:
            raise InputError(f"config 'profile': expected one of {PROFILES}, found {self.profile!r}")
        if self.size not in SIZES:
            raise InputError(f"config 'size': expected one of {SIZES}, found {self.size!r}")
        for name in ("image_size", "batch_size", "accumulate", "steps", "checkpoint_every", "seed", "frames", "threads", "chamfer_points",
                     "warmup_steps", "image_every", "val_every", "val_pairs"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise InputError(f"config '{name}': expected an integer, found {v!r}")
        if self.image_size < 16 or self.image_size % 16:
            raise InputError(f"config 'image_size': expected a multiple of 16 (>= 16), found {self.image_size}")
        if self.accumulate < 1:
            raise InputError(f"config 'accumulate': expected an integer >= 1, found {self.accumulate}")
        if self.batch_size < 1 or self.steps < 0 or self.checkpoint_every < 0:
            raise InputError("config: batch_size must be >= 1, steps and checkpoint_every >= 0; found "
                             f"{self.batch_size}, {self.steps}, {self.checkpoint_every}")
        for name in ("warmup_steps", "image_every", "val_every"):
            if getattr(self, name) < 0:
                raise InputError(f"config '{name}': expected an integer >= 0, found {getattr(self, name)}")
        if self.val_pairs < 1:
            raise InputError(f"config 'val_pairs': expected an integer >= 1, found {self.val_pairs}")
        from rome_smplx.trainers.distributed import PRECISIONS

        if self.precision not in PRECISIONS:
            raise InputError(f"config 'precision': expected one of {PRECISIONS}, found {self.precision!r}")
        if not isinstance(self.tensorboard, bool):
            raise InputError(f"config 'tensorboard': expected true or false, found {self.tensorboard!r}")
        if self.val_seeds is not None:
            vs = tuple(self.val_seeds) if isinstance(self.val_seeds, (list, tuple)) else None
            if (vs is None or len(vs) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in vs)
                    or not 0 <= vs[0] < vs[1]):
                raise InputError(f"config 'val_seeds': expected [start, stop) with 0 <= start < stop, found "
                                 f"{self.val_seeds!r}")
            self.val_seeds = (int(vs[0]), int(vs[1]))
        if self.val_every and self.val_seeds is None and self.val_data_dir is None:
            raise InputError("config 'val_every': validation needs held-out pairs: 'val_seeds' (subjects of the "
                             "synthetic video world) or 'val_data_dir' (a frame-pairs folder)")
        if not isinstance(self.profile_options, dict):
            raise InputError(f"config 'profile_options': expected a mapping, found {type(self.profile_options).__name__}")
        from rome_smplx.models.rome import RomeProfile

        allowed = {f.name for f in dataclasses.fields(RomeProfile)} - {"name", "size", "image_size"}
        for k, v in self.profile_options.items():
            if k not in allowed:
                raise InputError(f"config 'profile_options': unknown profile field {k!r}; known: {sorted(allowed)}")
            if isinstance(v, (dict, list, tuple)):
                raise InputError(f"config 'profile_options.{k}': expected a scalar, found {v!r}")
        if not isinstance(self.offsets, bool):
            raise InputError(f"config 'offsets': expected true or false, found {self.offsets!r}")
        if self.data is None:
            self.data = "frames" if self.data_dir is not None else "people"
        if self.data not in DATA_KINDS:
            raise InputError(f"config 'data': expected one of {DATA_KINDS}, found {self.data!r}")
        if self.data == "frames" and self.data_dir is None:
            raise InputError("config 'data': 'frames' needs 'data_dir' (a frame-pairs folder)")
        seeds = tuple(self.seeds) if isinstance(self.seeds, (list, tuple)) else None
        if (seeds is None or len(seeds) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in seeds)
                or not 0 <= seeds[0] < seeds[1]):
            raise InputError(f"config 'seeds': expected [start, stop) with 0 <= start < stop, found {self.seeds!r}")
        self.seeds = (int(seeds[0]), int(seeds[1]))
        if self.frames < 2 or self.threads < 0 or self.chamfer_points < 0:
            raise InputError(f"config: frames must be >= 2, threads and chamfer_points >= 0, found {self.frames}, "
                             f"{self.threads}, {self.chamfer_points}")
        if self.composite not in COMPOSITES:
            raise InputError(f"config 'composite': expected one of {COMPOSITES}, found {self.composite!r}")
        if self.mode not in ("self", "cross"):
            raise InputError(f"config 'mode': expected 'self' or 'cross', found {self.mode!r}")
        if isinstance(self.tracking_noise, bool) or not isinstance(self.tracking_noise, (int, float)) or self.tracking_noise < 0:
            raise InputError(f"config 'tracking_noise': expected a number >= 0, found {self.tracking_noise!r}")
        self.tracking_noise = float(self.tracking_noise)
        betas = tuple(self.betas) if isinstance(self.betas, (list, tuple)) else None
        if betas is None or len(betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas):
            raise InputError(f"config 'betas': expected two numbers in [0, 1), found {self.betas!r}")
        self.betas = (float(betas[0]), float(betas[1]))
        for name in ("lr_g", "lr_d", "lr_geom"):
            v = getattr(self, name)
            if name == "lr_geom" and v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                raise InputError(f"config '{name}': expected a positive number, found {v!r}")
            setattr(self, name, float(v))
        if not isinstance(self.loss_weights, dict):
            raise InputError(f"config 'loss_weights': expected a mapping, found {type(self.loss_weights).__name__}")
        unknown = sorted(set(self.loss_weights) - set(DEFAULT_LOSS_WEIGHTS))
        if unknown:
            raise InputError(f"config 'loss_weights': unknown loss(es) {unknown}; known: {sorted(DEFAULT_LOSS_WEIGHTS)}")
        weights = dict(DEFAULT_LOSS_WEIGHTS)
        for k, v in self.loss_weights.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise InputError(f"config 'loss_weights.{k}': expected a number >= 0, found {v!r}")
            weights[k] = float(v)
        self.loss_weights = weights
        for name in ("device", "output_dir", "backend"):
            if not isinstance(getattr(self, name), str):
                raise InputError(f"config '{name}': expected a string, found {getattr(self, name)!r}")
        for name in ("vgg_weights", "gaze_weights", "face_id_weights", "data_dir", "init_weights",
                     "val_data_dir"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, (str, os.PathLike)):
                raise InputError(f"config '{name}': expected a path or null, found {v!r}")
            if v is not None:
                setattr(self, name, str(v))

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        d["seeds"] = list(self.seeds)
        d["val_seeds"] = None if self.val_seeds is None else list(self.val_seeds)
        return d

    @classmethod
    def from_dict(cls, data: Any, source: str = "config") -> "RomeTrainConfig":
        """Build from a mapping (:func:`rome_smplx.io.config.from_mapping`); unknown keys raise
        :class:`InputError` naming them."""
        return from_mapping(cls, data, source)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> "RomeTrainConfig":
        """Read a YAML file (a mapping of the fields above; an empty file gives the defaults)."""
        return from_yaml(cls, path)

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "RomeTrainConfig":
        p = Path(path)
        try:
            data = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{p}: unreadable config JSON: {exc}") from None
        return cls.from_dict(data, str(p))

    def save_json(self, path: str | os.PathLike) -> Path:
        """Write the config as JSON, atomically."""
        from rome_smplx.io.checkpoints import write_json_atomic

        return write_json_atomic(self.to_dict(), path)

    def save_yaml(self, path: str | os.PathLike) -> Path:
        """Write the config as YAML, atomically (readable by :meth:`from_yaml`)."""
        import yaml

        from rome_smplx.io.atomic import atomic_path

        p = Path(path)
        with atomic_path(p) as tmp:
            tmp.write_text(yaml.safe_dump(self.to_dict(), sort_keys=True))
        return p

    def replace(self, **changes: Any) -> "RomeTrainConfig":
        """A copy with some fields changed (validated)."""
        return self.from_dict({**self.to_dict(), **changes})


# ======================================================================================= linear
@dataclass
class LinearDistillConfig:
    """Settings of a distillation run (YAML keys = field names).

    Attributes:
        assets: asset folder (``None``: :meth:`Assets.discover`).
        data: folder of people (``None``: ``<assets>/people``); limit: use at most this many.
        teacher: ``"truth"`` (synthetic ``truth.npz`` coefficients) or ``"full"`` (a full
            :class:`HeadAvatar` teacher; ``teacher_weights`` = its checkpoint, ``teacher_size``).
        basis: ``"assets"`` (the folder's ``u_full.pt``/``mean_deform.pt``) or ``"fit"`` (PCA of the
            teacher's offsets, ``num_hair`` + ``num_neck`` components; teacher ``"full"`` only).
        out: output folder (checkpoints, export).
        steps, lr, batch_size, image_size, seed: optimisation (Adam with ``betas``).
        w_coeffs, w_chamfer, w_silhouette: loss weights (paper: MSE 1, Chamfer 0.01; silhouette
            optional, 0 = off).
        chamfer_points: matte pixels sampled per image (0: as many as the mesh has vertices).
        checkpoint_every: steps between checkpoints (0: only at the end); log_every: steps between
            log lines.
        recalibrate_bn: after training, recompute the BatchNorm running statistics as exact averages
            over the training images (see :meth:`~rome_smplx.trainers.distill.LinearDistiller.recalibrate_batchnorm`).
        device: torch device string.
        video_seeds: ``[start, stop)`` subjects of the synthetic video world as the data (instead of
            ``data``); video_frames frames each, with tracker noise ``tracking_noise``.
        regressor_layers, regressor_width: blocks per stage and base width of the regressor
            (ROME: ResNet-50, ``[3, 4, 6, 3]`` and 64).
    """

    assets: str | None = None
    data: str | None = None
    limit: int | None = None
    teacher: str = "truth"
    teacher_weights: str | None = None
    teacher_size: str = "full"
    basis: str = "assets"
    num_hair: int = 50
    num_neck: int = 10
    out: str = "runs/linear"
    steps: int = 2000
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    batch_size: int = 8
    image_size: int = 256
    seed: int = 0
    w_coeffs: float = 1.0
    w_chamfer: float = 0.01
    w_silhouette: float = 0.0
    chamfer_points: int = 0
    checkpoint_every: int = 0
    log_every: int = 10
    recalibrate_bn: bool = True
    device: str = "cpu"
    video_seeds: list | None = None
    video_frames: int = 2
    tracking_noise: float = 1.0
    regressor_layers: tuple[int, int, int, int] = (3, 4, 6, 3)
    regressor_width: int = 64

    def __post_init__(self) -> None:
        self._check_kinds()
        if self.teacher not in ("truth", "full"):
            raise InputError(f"config.teacher: expected 'truth' or 'full', found {self.teacher!r}")
        if self.basis not in ("assets", "fit"):
            raise InputError(f"config.basis: expected 'assets' or 'fit', found {self.basis!r}")
        if self.basis == "fit" and self.teacher != "full":
            raise InputError("config.basis: 'fit' needs teacher 'full' (the basis is fitted on the teacher's offsets)")
        for name in ("steps", "batch_size", "image_size"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"config.{name}: must be >= 1, found {getattr(self, name)}")
        if self.lr <= 0:
            raise InputError(f"config.lr: must be > 0, found {self.lr}")
        for name in ("w_coeffs", "w_chamfer", "w_silhouette"):
            if getattr(self, name) < 0:
                raise InputError(f"config.{name}: must be >= 0, found {getattr(self, name)}")
        self.betas = tuple(float(b) for b in self.betas)  # type: ignore[assignment]
        self.regressor_layers = tuple(int(n) for n in self.regressor_layers)  # type: ignore[assignment]
        if self.video_seeds is not None:
            vs = list(self.video_seeds)
            if len(vs) != 2 or not all(isinstance(v, int) for v in vs) or not 0 <= vs[0] < vs[1]:
                raise InputError(f"config.video_seeds: expected [start, stop) with 0 <= start < stop, found {self.video_seeds!r}")
            if self.teacher != "full":
                raise InputError("config.video_seeds: the video world is distilled from a full-model teacher (teacher: full)")

    def _check_kinds(self) -> None:
        """Each value of the default's kind (an int where an int goes, a list where a tuple goes, ...)."""
        kinds = {bool: lambda x: isinstance(x, bool),
                 int: lambda x: isinstance(x, int) and not isinstance(x, bool),
                 float: lambda x: isinstance(x, (int, float)) and not isinstance(x, bool),
                 str: lambda x: isinstance(x, str),
                 tuple: lambda x: isinstance(x, (list, tuple))}
        for f in dataclasses.fields(self):
            d, v = f.default, getattr(self, f.name)
            ok = kinds.get(type(d))
            if ok is not None and not ok(v):
                raise InputError(f"config.{f.name}: expected {type(d).__name__ if type(d) is not tuple else 'a list'}"
                                 f" like {d!r}, found {v!r}")

    @classmethod
    def from_dict(cls, values: Any, source: str = "config") -> "LinearDistillConfig":
        """Build from a mapping (:func:`rome_smplx.io.config.from_mapping`)."""
        return from_mapping(cls, values, source)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> "LinearDistillConfig":
        """Read a YAML file; a top-level ``linear:`` section is used when present."""
        return from_yaml(cls, path, section="linear")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        d["regressor_layers"] = list(self.regressor_layers)
        return d
