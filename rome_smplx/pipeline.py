"""Photo -> full-body avatar, and avatar + motion -> animation: the orchestration behind the CLI.

:func:`reconstruct_photo` runs the whole data flow of DESIGN.md on files:

1. read the photo, the PIXIE ``_param.pkl`` (and the optional mask and DECA code dict) first, so
   bad input fails before any heavy step;
2. detect 68 iBUG landmarks (mediapipe face mesh, or the ``detector`` given);
3. matte the photo (the given mask, else mediapipe selfie segmentation);
4. cut ROME's FFHQ-style aligned crop (zoom 1.25, 256 px) of photo and matte;
5. FLAME parameters: the DECA code dict when given, else a landmark fit on the aligned crop
   (:func:`~rome_smplx.bridges.flame_fit.fit_flame_to_landmarks`);
6. :meth:`HeadAvatar.reconstruct <rome_smplx.avatar.head.HeadAvatar.reconstruct>`;
7. the PIXIE body in the y-up frame and :func:`~rome_smplx.avatar.merge.merge`.

:func:`build_avatar` returns just ``(HeadReconstruction, FullBodyAvatar)``. :func:`write_avatar`
and :func:`write_animation` write the results atomically (meshes, renders, previews, a GIF).
The demo (:mod:`rome_smplx.demo`) and ``batch`` run the same steps (:func:`load_head`,
:func:`reconstruct_and_merge`, :class:`StepTimer`, :func:`avatar_summary`). Nothing here prints:
progress goes to one bar per run (``progress``), everything else to :mod:`logging`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import torch
from torch import Tensor

from rome_smplx.bridges.flame_fit import FitResult, FitSettings, fit_flame_to_landmarks
from rome_smplx.errors import InputError
from rome_smplx.io.atomic import atomic_dir, check_output_dir, check_output_file
from rome_smplx.io.images import DEFAULT_MAX_PIXELS
from rome_smplx.io.meshes import MESH_FORMATS

if TYPE_CHECKING:  # pragma: no cover
    from rome_smplx.assets import Assets
    from rome_smplx.avatar.head import HeadAvatar
    from rome_smplx.avatar.merge import FullBodyAvatar
    from rome_smplx.bridges.landmarks import AlignedFace
    from rome_smplx.io.motion import Motion
    from rome_smplx.types import FlameParams, HeadReconstruction, SmplxParams

logger = logging.getLogger(__name__)

__all__ = [
    "ALIGN_SIZE",
    "ALIGN_ZOOM",
    "FIT_THREADS",
    "PHOTO_FIT",
    "PHOTO_MAX_SIDE",
    "PersonInputs",
    "PhotoAvatar",
    "StepTimer",
    "avatar_summary",
    "build_avatar",
    "check_avatar_outputs",
    "check_mesh_path",
    "frame_name",
    "load_head",
    "load_person",
    "merge_body",
    "pose_sequence",
    "reconstruct_and_merge",
    "reconstruct_photo",
    "trained_weights",
    "warn_untrained",
    "write_animation",
    "write_avatar",
]

PathLike = Union[str, os.PathLike]  # noqa: UP007

#: ROME's aligned source: FFHQ crop zoomed out by 1.25, resampled to 256x256.
ALIGN_ZOOM = 1.25
ALIGN_SIZE = 256
#: Intra-op threads during the landmark fit: its tensors are tiny (the landmark-only FLAME), so
#: more threads only add synchronisation; on busy cores 2 threads were measured 10x slower than 1.
FIT_THREADS = 1
#: Landmark-fit settings for photos: the Levenberg-Marquardt solve (``FitSettings(method="adam",
#: full_iters=1000)`` is the earlier first-order fit, about 15x slower at a higher landmark error).
PHOTO_FIT = FitSettings()
#: Photos are read with their long side at most this many pixels (downscaled while decoding). The
#: aligned crop is 256 px, so a face covering 1/16 of the long side still gives it full resolution;
#: a 12000 x 12000 photo then costs ~0.2 GB as a float tensor instead of 1.7 GB.
PHOTO_MAX_SIDE = 4096


@dataclass
class PhotoAvatar:
    """Everything :func:`reconstruct_photo` computed.

    Attributes:
        recon: the ROME :class:`~rome_smplx.types.HeadReconstruction` (batch 1).
        avatar: the merged :class:`~rome_smplx.avatar.merge.FullBodyAvatar` (posed with the PIXIE body).
        head: the :class:`~rome_smplx.avatar.head.HeadAvatar` used (for neural renders).
        aligned: the aligned crop (image (1, 3, 256, 256), matte, landmarks (1, 68, 2) in crop pixels).
        landmarks: (1, 68, 2) landmarks detected in the photo (photo pixels).
        flame_source: ``"deca"`` (code dict given, no fit ran) or ``"landmark_fit"``.
        fit: the landmark fit (``None`` when DECA codes were given).
        assets: the asset folder used.
        timings: seconds per step.
        body: the PIXIE body in the y-up frame (the merge's input).

    ``avatar`` is ``None`` when :func:`reconstruct_photo` ran with ``merge=False`` (the caller merges,
    e.g. a batch of photos at once with :func:`merge_body`).
    """

    recon: HeadReconstruction
    avatar: FullBodyAvatar | None
    head: HeadAvatar
    aligned: AlignedFace
    landmarks: Tensor
    flame_source: str
    fit: FitResult | None
    assets: Assets
    timings: dict[str, float] = field(default_factory=dict)
    body: SmplxParams | None = None


class StepTimer:
    """Seconds per named step of a run, and its progress bar: the one step timer of the photo pipeline and
    the demo.

    Args:
        desc: the bar's label.
        total: number of steps.
        progress: ``None`` shows the bar only on a terminal, ``True`` always, ``False`` never.

    :meth:`step` records the seconds since the previous step (or the start) under its label.
    """

    def __init__(self, desc: str, total: int, progress: bool | None = None) -> None:
        from tqdm.auto import tqdm

        self.timings: dict[str, float] = {}
        self._bar = tqdm(total=total, desc=desc, unit="step", disable=None if progress is None else not progress,
                         leave=False)
        self._start = self._last = time.perf_counter()

    def step(self, label: str) -> None:
        """End the current step as ``label``."""
        self.timings[label] = round(time.perf_counter() - self._last, 3)
        self._bar.set_postfix_str(label)
        self._bar.update()
        self._last = time.perf_counter()

    @property
    def total_s(self) -> float:
        """Seconds since the timer started."""
        return round(time.perf_counter() - self._start, 3)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> StepTimer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def trained_weights(assets: Assets) -> str | None:
    """The trained ROME weights a head model for ``assets`` uses: the folder's ``rome_weights`` file, else
    (on the synthetic stand-ins they were trained on) the weights shipped with the package; ``None`` when
    the networks are randomly initialised. This is the one rule behind the head's size (:func:`load_head`),
    the warning (:func:`warn_untrained`) and the ``weights`` field of every ``summary.json``."""
    from rome_smplx import weights as shipped

    found = assets.find("rome_weights")
    if found is not None:
        return str(found)
    if shipped.defaults_for(assets):
        return f"{shipped.path('full')} (trained on the synthetic world)"
    return None


def warn_untrained(assets: Assets) -> None:
    """The warning of a run whose head networks are randomly initialised (:func:`trained_weights` is None)."""
    logger.warning(
        "no trained ROME weights in %s: texture, hair and the neural renders come from randomly initialised "
        "networks (geometry, merge and animation are meaningful; the head images are not)", assets.root,
    )


def load_head(assets: Assets, variant: str = "linear", *, backend: str = "auto",
              device: torch.device | str | None = None, image_size: int | None = ALIGN_SIZE) -> HeadAvatar:
    """The :class:`~rome_smplx.avatar.head.HeadAvatar` :func:`reconstruct_photo` uses for ``assets``:
    full-size networks when trained weights apply (:func:`trained_weights`), else small ones; crops of
    ``image_size`` px (``None``: the trained networks' own resolution). Load it once and pass it as
    ``head=`` to reconstruct many photos with the same models."""
    from rome_smplx.avatar.head import VARIANTS, HeadAvatar

    if variant not in VARIANTS:
        raise InputError(f"variant: expected one of {VARIANTS}, found {variant!r}")
    return HeadAvatar.from_assets(
        assets, variant=variant, size="full" if trained_weights(assets) is not None else "small",
        image_size=image_size, backend=backend, device=device,
    )


def avatar_summary(avatar: FullBodyAvatar, assets: Assets, timings: dict[str, float]) -> dict[str, Any]:
    """The ``summary.json`` fields every command that builds an avatar writes, with one meaning each:
    :meth:`FullBodyAvatar.summary <rome_smplx.avatar.full_body.FullBodyAvatar.summary>` (vertex counts,
    merge scale), ``synthetic_assets``, ``weights`` (:func:`trained_weights`, or ``"random
    initialisation"``) and ``timings_s`` (seconds per step, :class:`StepTimer`)."""
    return {
        **avatar.summary(),
        "synthetic_assets": bool(assets.is_synthetic),
        "weights": trained_weights(assets) or "random initialisation",
        "timings_s": dict(timings),
    }


@dataclass
class PersonInputs:
    """One person folder's inputs (:func:`load_person`): the aligned photo ``(1, 3, S, S)``, its matte, the
    DECA codes (FLAME parameters of the photo) and the PIXIE body in the y-up frame."""

    image: Tensor
    mask: Tensor
    flame: FlameParams
    body: SmplxParams
    folder: Path


def load_person(folder: PathLike) -> PersonInputs:
    """Read a person folder as ``rome-smplx assets synth`` writes them (``people/person_NNN/``): the aligned
    ``photo_256.png`` and ``mask_256.png``, ``person_NNN_deca.pkl`` and ``person_NNN_param.pkl``.

    Raises:
        AssetError: the folder or one of its files is missing or unreadable.
    """
    from rome_smplx.bridges import deca, pixie
    from rome_smplx.errors import AssetError
    from rome_smplx.io.images import load_image, load_mask

    folder = Path(folder)
    if not folder.is_dir():
        raise AssetError(
            f"no demo person at {folder}; the demo needs the people/ folder that `rome-smplx assets synth` writes",
            path=folder,
        )
    name = folder.name
    return PersonInputs(
        image=load_image(folder / "photo_256.png"), mask=load_mask(folder / "mask_256.png"),
        flame=deca.load(folder / f"{name}_deca.pkl"), body=pixie.to_y_up(pixie.load(folder / f"{name}_param.pkl")),
        folder=folder,
    )


def reconstruct_and_merge(head: HeadAvatar, image: Tensor, mask: Tensor | None, flame: FlameParams,
                          body: SmplxParams | None, assets: Assets,
                          timer: StepTimer | None = None) -> tuple[HeadReconstruction, FullBodyAvatar | None]:
    """The last two steps of every run: :meth:`HeadAvatar.reconstruct
    <rome_smplx.avatar.head.HeadAvatar.reconstruct>` of the aligned crop ``image`` (its matte, its FLAME
    parameters), then :func:`merge_body` onto ``body`` (skipped when ``body`` is None), without gradients;
    ``timer`` records them as ``reconstruct`` and ``merge``."""
    with torch.no_grad():
        recon = head.reconstruct(image, mask, flame)
    if timer is not None:
        timer.step("reconstruct")
    if body is None:
        return recon, None
    avatar = merge_body(recon, body, assets, head)
    if timer is not None:
        timer.step("merge")
    return recon, avatar


def merge_body(recon: HeadReconstruction, body: SmplxParams, assets: Assets, head: HeadAvatar) -> FullBodyAvatar:
    """The merge step of :func:`reconstruct_photo`: ``recon`` (batch B) onto the y-up PIXIE ``body``
    (batch B) with ``head``'s FLAME model and renderer, without gradients."""
    from rome_smplx.avatar.merge import merge

    with torch.no_grad():
        return merge(recon, body.to(head.faces.device), assets, flame_model=head.flame, renderer=head)


def _is_assets(assets: Any) -> bool:
    from rome_smplx.assets import Assets

    return isinstance(assets, Assets)


def _resolve_assets(assets: Any) -> Assets:
    from rome_smplx.assets import Assets

    if assets is None:
        return Assets.discover()
    if isinstance(assets, Assets):
        return assets
    if isinstance(assets, (str, os.PathLike)):
        return Assets.from_dir(assets)
    raise InputError(f"assets: expected an Assets object, a folder or None, found {type(assets).__name__}")


def check_mesh_path(path: PathLike) -> Path:
    """Validate a mesh output path before any work is done: its extension (``.glb``, ``.ply``,
    ``.obj``) and the output policy of :func:`rome_smplx.io.atomic.check_output_file` (not a folder,
    the parent a writable folder)."""
    p = Path(path)
    if p.suffix.lower() not in MESH_FORMATS:
        raise InputError(f"{p}: unsupported mesh format {p.suffix.lower() or '(none)'!r}; expected one of {MESH_FORMATS}")
    if p.exists() and p.is_dir():
        raise InputError(f"{p}: expected a mesh file path, found a directory")
    return check_output_file(p)


def frame_name(i: int, count: int, ext: str = "") -> str:
    """``frame_NNNN<ext>``: zero-padded to the digits of ``count - 1`` (at least 4), so the names of a
    sequence sort in frame order however long it is."""
    return f"frame_{i:0{max(4, len(str(max(count - 1, 0))))}d}{ext}"


def _check_landmarks(lm: Any, where: str) -> Tensor:
    if not isinstance(lm, Tensor) or lm.shape != (1, 68, 2) or not lm.is_floating_point():
        found = tuple(lm.shape) if isinstance(lm, Tensor) else type(lm).__name__
        raise InputError(f"{where}: the detector must return (1, 68, 2) float landmarks in pixels, found {found}")
    if not bool(torch.isfinite(lm).all()):
        raise InputError(f"{where}: the detector returned NaN or inf landmarks")
    return lm.float()


def _crop_face(image: Tensor, mask: Tensor | None, name: str, detector: Callable[..., Tensor] | None,
               segmenter: Callable[..., Tensor] | None) -> tuple[Tensor, AlignedFace]:
    """Landmarks, matte and aligned crop of the photo's ``uint8`` pixels ``image``: mediapipe's detector and
    segmenter read the pixels as they are; a caller's own callables get the float image (made for the
    call and released after it)."""
    from rome_smplx.bridges.landmarks import MediapipeDetector, MediapipeSegmenter, align, matte
    from rome_smplx.io.images import as_float

    def pixels_for(fn: Any) -> Tensor:
        return image if isinstance(fn, (MediapipeDetector, MediapipeSegmenter)) else as_float(image)

    if detector is None:
        with MediapipeDetector() as det:
            lm = det(image, name=name)
    else:
        lm = detector(pixels_for(detector), name=name)
    lm = _check_landmarks(lm, name)
    if mask is None and segmenter is not None:
        alpha = matte(pixels_for(segmenter), None, segmenter)
    else:
        alpha = matte(image, mask)
    return lm, align(image, alpha, lm, output_size=ALIGN_SIZE, zoom=ALIGN_ZOOM)


def reconstruct_photo(
    image_path: PathLike,
    *,
    pixie_param: PathLike,
    assets: Any = None,
    mask_path: PathLike | None = None,
    deca_path: PathLike | None = None,
    variant: str = "linear",
    detector: Callable[..., Tensor] | None = None,
    segmenter: Callable[..., Tensor] | None = None,
    fit_settings: FitSettings = PHOTO_FIT,
    fit_threads: int | None = FIT_THREADS,
    backend: str = "auto",
    device: torch.device | str | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    head: HeadAvatar | None = None,
    merge: bool = True,
    progress: bool | None = None,
) -> PhotoAvatar:
    """One photo + PIXIE parameters -> ROME head + full-body avatar (see the module docstring).

    Args:
        image_path: the photo (any size; the face is found, aligned and resampled to 256 px).
        pixie_param: PIXIE's ``<name>_param.pkl`` for the same person (read with the restricted
            unpickler).
        assets: an :class:`~rome_smplx.assets.Assets`, an asset folder, or ``None`` for
            ``Assets.discover()``.
        mask_path: the photo's matte (alpha or luminance, any size); default: mediapipe selfie
            segmentation.
        deca_path: a DECA code dict (``.pkl``/``.npz``/``.pt``) of the aligned crop; when given the
            landmark fit is skipped.
        variant: ``"linear"`` (distilled hair model) or ``"full"``.
        detector: a callable ``detector(image (1, 3, H, W), name=str) -> (1, 68, 2)`` pixels;
            default a :class:`~rome_smplx.bridges.landmarks.MediapipeDetector` (created and closed here).
        segmenter: a callable ``segmenter(image) -> (1, 1, H, W)``; default mediapipe's.
        fit_settings: landmark-fit settings.
        fit_threads: torch intra-op threads while fitting (restored afterwards; ``None`` leaves the
            setting alone). ``torch.set_num_threads`` is process-wide.
        backend: rasteriser backend of the head avatar.
        device: where the networks run (default CPU).
        max_pixels: photos (and masks) with more pixels are refused before decoding (``None``: no
            limit); larger photos are read at :data:`PHOTO_MAX_SIDE` on the long side.
        head: a head model from :func:`load_head` for these assets and ``variant`` (reused across
            photos; then ``backend`` and ``device`` are the model's and the missing-weights warning is
            the caller's); default: loaded here.
        merge: ``False`` stops before the merge (``avatar`` is ``None``, ``body`` holds its input).
        progress: the step bar (:class:`StepTimer`): ``None`` on a terminal only, ``True``, ``False``.

    Returns:
        :class:`PhotoAvatar` (landmarks in the pixels of the photo as read).

    Raises:
        InputError: unreadable photo or mask, no face in the photo, bad parameters.
        AssetError: missing/corrupt/unsafe PIXIE or DECA file or asset folder.
        BackendError: mediapipe is needed (no detector given, or no mask and no segmenter) but not installed.
    """
    from rome_smplx.avatar.head import VARIANTS
    from rome_smplx.bridges import deca, pixie
    from rome_smplx.io.images import check_mask_aspect, load_image, load_mask

    if variant not in VARIANTS:
        raise InputError(f"variant: expected one of {VARIANTS}, found {variant!r}")
    if head is not None and (head.variant != variant or head.image_size != ALIGN_SIZE):
        raise InputError(f"head: expected a {variant!r} head model at {ALIGN_SIZE} px (load_head), found a "
                         f"{head.variant!r} one at {head.image_size} px")
    name = str(Path(image_path))
    timer = StepTimer("avatar", 6 if merge else 5, progress)
    try:
        # Read every input first: bad files fail before detection and networks run. The photo stays in
        # its decoded uint8 pixels (a quarter of a float copy) and is dropped once the face is cropped.
        image = load_image(image_path, max_pixels=max_pixels, max_side=PHOTO_MAX_SIDE, uint8=True)
        body = pixie.to_y_up(pixie.load(pixie_param))
        if body.batch_size != 1:
            raise InputError(f"{pixie_param}: expected one person, found a batch of {body.batch_size}")
        flame = deca.load(deca_path) if deca_path is not None else None
        if flame is not None and flame.batch_size != 1:
            raise InputError(f"{deca_path}: expected the codes of one image, found a batch of {flame.batch_size}")
        mask = load_mask(mask_path, max_pixels=max_pixels, max_side=PHOTO_MAX_SIDE) if mask_path is not None else None
        if mask is not None:
            check_mask_aspect(mask, image, str(mask_path))
        opened_here = not _is_assets(assets)
        assets = _resolve_assets(assets)
        timer.step("read")

        lm, aligned = _crop_face(image, mask, name, detector, segmenter)
        del image, mask  # the aligned crop is all that is used from here on
        timer.step("landmarks")

        warn_weights = head is None and trained_weights(assets) is None
        if head is None:
            head = load_head(assets, variant, backend=backend, device=device)
        fit = None
        if flame is None:
            fit = fit_flame_to_landmarks(
                head.flame, aligned.landmarks.to(head.faces.device), (ALIGN_SIZE, ALIGN_SIZE),
                settings=fit_settings, progress=progress is not False, threads=fit_threads,
            )
            flame = fit.flame
            logger.info("%s: FLAME fitted to the landmarks, mean error %.2f px at %d px", name, float(fit.error_px[0]), ALIGN_SIZE)
        else:
            logger.info("%s: FLAME parameters from the DECA codes in %s (no landmark fit)", name, deca_path)
        timer.step("flame")
        recon, avatar = reconstruct_and_merge(head, aligned.image, aligned.mask, flame, body if merge else None,
                                              assets, timer)
    finally:
        timer.close()
    if warn_weights:
        warn_untrained(assets)
    if opened_here and merge:
        # A folder opened here is returned as a fresh handle on the same (validated) folder: the SMPL-X and
        # FLAME arrays read for the checks and the merge (~130 MB) are not kept for the writing steps.
        assets = type(assets)(assets.root, gender=assets.gender)
    return PhotoAvatar(
        recon=recon, avatar=avatar, head=head, aligned=aligned, landmarks=lm,
        flame_source="landmark_fit" if fit is not None else "deca", fit=fit, assets=assets, timings=timer.timings,
        body=body,
    )


def build_avatar(
    image_path: PathLike,
    *,
    pixie_param: PathLike,
    assets: Any = None,
    mask_path: PathLike | None = None,
    deca_path: PathLike | None = None,
    variant: str = "linear",
    detector: Callable[..., Tensor] | None = None,
    segmenter: Callable[..., Tensor] | None = None,
) -> tuple[HeadReconstruction, FullBodyAvatar]:
    """Photo + PIXIE parameters -> ``(HeadReconstruction, FullBodyAvatar)``.

    The arguments are those of :func:`reconstruct_photo` (which also returns the aligned crop, the
    landmarks, the fit and the head model).
    """
    r = reconstruct_photo(
        image_path, pixie_param=pixie_param, assets=assets, mask_path=mask_path, deca_path=deca_path,
        variant=variant, detector=detector, segmenter=segmenter,
    )
    return r.recon, r.avatar


# ----------------------------------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------------------------------


def check_avatar_outputs(out: PathLike, render_dir: PathLike | None = None, *, force: bool = False) -> Path:
    """Check the outputs of :func:`write_avatar` before any work: the mesh path (:func:`check_mesh_path`),
    the render folder (:func:`~rome_smplx.io.atomic.check_output_dir`), and that the mesh is not
    inside the render folder (which replaces what it holds)."""
    out = check_mesh_path(out)
    if render_dir is not None:
        rd = check_output_dir(render_dir, force=force)
        a, b = Path(os.path.abspath(out)), Path(os.path.abspath(rd))
        if a == b or b in a.parents:
            raise InputError(f"{out}: the mesh must not be inside the render folder {rd} (it is replaced as a whole)")
        if a in b.parents:
            raise InputError(f"{rd}: the render folder must not be inside the mesh path {out}")
    return out


def write_avatar(result: PhotoAvatar, out: PathLike, *, render_dir: PathLike | None = None, preview_size: int = 512,
                 motion: Any = None, texture_size: int = 1024, force: bool = False) -> Path:
    """Write the merged mesh and, optionally, renders; each output atomically.

    Args:
        result: from :func:`reconstruct_photo`.
        out: mesh file: ``.glb`` textured, rigged and animated (``motion``, default a short wave), ``.obj``
            textured (+ ``.mtl`` + ``.png``), ``.ply`` with colours and part labels
            (:func:`rome_smplx.avatar.export.write_avatar_file`).
        motion: a :class:`~rome_smplx.io.motion.Motion` or motion file for the GLB's animation.
        texture_size: side of the texture baked from the photo (0: part colours).
        render_dir: optional folder (replaced as a whole) with ``source_aligned.png``,
            ``source_matte.png``, ``head_render.png`` (neural render in the source pose, on white),
            ``head_mask.png``, ``preview_front.png`` / ``preview_side.png`` (shaded body) and
            ``summary.json``.
        preview_size: side of the shaded previews.
        force: replace an existing ``render_dir`` even when rome-smplx did not write it.

    Returns:
        The mesh path.

    Raises:
        InputError: an output path breaks the policy of :mod:`rome_smplx.io.atomic` (checked first).
    """
    from rome_smplx.avatar.export import write_avatar_file
    from rome_smplx.io.images import save_image
    from rome_smplx.render.preview import front_camera, render_preview

    out = check_avatar_outputs(out, render_dir, force=force)
    if render_dir is None:
        return write_avatar_file(result.avatar, out, recon=result.recon, motion=motion, texture_size=texture_size)
    av = result.avatar
    with torch.no_grad():
        head = result.head.render(result.recon)
        colors = av.part_colors()
        front = render_preview(av.vertices, av.faces, colors, image_size=preview_size)
        side = render_preview(av.vertices, av.faces, colors, front_camera(av.vertices, side=math.radians(60)),
                              image_size=preview_size)
    summary = {
        "image_size": ALIGN_SIZE,
        "flame_source": result.flame_source,
        "landmark_fit_error_px": None if result.fit is None else round(float(result.fit.error_px[0]), 4),
        **avatar_summary(av, result.assets, result.timings),
    }
    with atomic_dir(render_dir, force=force) as tmp:
        save_image(tmp / "source_aligned.png", result.aligned.image)
        save_image(tmp / "source_matte.png", result.aligned.mask)
        save_image(tmp / "head_render.png", head.composite if head.composite is not None else head.image)
        save_image(tmp / "head_mask.png", head.mask)
        save_image(tmp / "preview_front.png", front)
        save_image(tmp / "preview_side.png", side)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2))
        write_avatar_file(av, out, recon=result.recon, motion=motion, texture_size=texture_size)
    return out


def pose_sequence(avatar: FullBodyAvatar, motion: Motion, *, progress: bool = True) -> Iterator[FullBodyAvatar]:
    """The avatar in every frame of ``motion`` (y-up; the avatar keeps its own ``betas``).

    Yields:
        One posed :class:`FullBodyAvatar` per frame (vertices (1, V, 3)).
    """
    from tqdm.auto import tqdm

    for frame in tqdm(motion, total=len(motion), desc="posing", unit="frame", disable=None if progress else True, leave=False):
        yield avatar.pose(frame)


def write_animation(
    avatar: FullBodyAvatar,
    motion: Motion,
    out_dir: PathLike,
    *,
    fmt: str = "ply",
    preview_size: int = 192,
    max_preview_frames: int = 48,
    strip_frames: int = 8,
    force: bool = False,
) -> Path:
    """Pose ``avatar`` with every frame of ``motion`` and write the folder ``out_dir`` atomically.

    Contents: ``frame_NNNN.<fmt>`` per frame (zero-padded to the sequence length, :func:`frame_name`) (``fmt`` ``"ply"``, ``"glb"`` or ``"obj"``),
    ``preview.gif`` (shaded, at most ``max_preview_frames`` evenly spaced frames, one camera
    framing them all), ``preview_strip.png`` (``strip_frames`` of them side by side),
    ``motion.npz`` (the frames used, :func:`~rome_smplx.io.motion.save_motion`) and
    ``summary.json``. ``force`` replaces an existing ``out_dir`` even when rome-smplx did not write it.

    Returns:
        ``out_dir`` as a :class:`~pathlib.Path`.

    Raises:
        InputError: bad format, no frames, or an output path that breaks the policy of
            :mod:`rome_smplx.io.atomic` (checked before any frame is posed).
    """
    from PIL import Image

    from rome_smplx.io.images import save_image, to_numpy
    from rome_smplx.io.motion import save_motion
    from rome_smplx.render.preview import front_camera, render_preview

    ext = "." + str(fmt).lower().lstrip(".")
    if ext not in MESH_FORMATS:
        raise InputError(f"format: expected one of {tuple(e[1:] for e in MESH_FORMATS)}, found {fmt!r}")
    T = len(motion)
    if T < 1:
        raise InputError(f"{motion.source or 'motion'}: no frames to animate")
    n_prev = max(1, min(T, int(max_preview_frames)))
    preview_idx = sorted({round(i * (T - 1) / max(n_prev - 1, 1)) for i in range(n_prev)})
    out_dir = check_output_dir(out_dir, force=force)
    t0 = time.perf_counter()
    kept: list[Tensor] = []
    with atomic_dir(out_dir, force=force) as tmp:
        for i, posed in enumerate(pose_sequence(avatar, motion)):
            posed.export(tmp / frame_name(i, T, ext))
            if i in preview_idx:
                kept.append(posed.vertices.detach())
        colors = avatar.part_colors()
        with torch.no_grad():
            cam = front_camera(torch.cat(kept, dim=1))
            images = [render_preview(v, avatar.faces, colors, cam, image_size=preview_size) for v in kept]
        frames = [Image.fromarray(to_numpy(im)) for im in images]
        step = preview_idx[1] - preview_idx[0] if len(preview_idx) > 1 else 1
        duration = round(1000.0 * step / motion.fps) if motion.fps else 100
        frames[0].save(tmp / "preview.gif", save_all=True, append_images=frames[1:], duration=max(duration, 20), loop=0)
        pick = sorted({round(i * (len(images) - 1) / max(min(strip_frames, len(images)) - 1, 1))
                       for i in range(min(strip_frames, len(images)))})
        save_image(tmp / "preview_strip.png", torch.cat([images[i] for i in pick], dim=3))
        save_motion(tmp / "motion.npz", motion)
        summary = {
            "frames": T,
            "fps": motion.fps,
            "format": ext[1:],
            "preview_frames": preview_idx,
            "vertices": int(avatar.vertices.shape[1]),
            "seconds": round(time.perf_counter() - t0, 3),
        }
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2))
    logger.info("wrote %d frames to %s in %.1f s", T, out_dir, time.perf_counter() - t0)
    return out_dir
