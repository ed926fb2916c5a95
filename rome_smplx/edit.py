"""Photo -> hair-edited head (and full-body avatar): the orchestration behind ``rome-smplx edit``.

:func:`edit_photo` reads the inputs, reconstructs the head with the *linear* model (the steps of
:func:`rome_smplx.pipeline.reconstruct_photo`: landmarks, matte, ROME's aligned crop, FLAME from the DECA
codes or a landmark fit), replaces one basis coefficient (:func:`rome_smplx.avatar.editing.edit_hair`)
and, when PIXIE parameters are given, merges the edited head onto the body. :func:`write_edit` writes
the outputs atomically as one folder.

Nothing here prints: progress goes to tqdm bars, everything else to :mod:`logging`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

import torch
from torch import Tensor

from rome_smplx.errors import InputError
from rome_smplx.io.atomic import atomic_dir, check_output_dir
from rome_smplx.io.images import DEFAULT_MAX_PIXELS

if TYPE_CHECKING:  # pragma: no cover
    from rome_smplx.assets import Assets
    from rome_smplx.avatar.editing import HairStats
    from rome_smplx.avatar.head import HeadAvatar
    from rome_smplx.avatar.merge import FullBodyAvatar
    from rome_smplx.types import HeadReconstruction

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]  # noqa: UP007

__all__ = ["EDIT_FILES", "HairEdit", "check_edit_request", "edit_photo", "write_edit"]

#: What :func:`write_edit` writes (``avatar.glb`` only with a body).
EDIT_FILES = ("head_edited.ply", "head_unedited.ply", "render.png", "render_unedited.png", "preview.png",
              "edit.json")


@dataclass
class HairEdit:
    """What :func:`edit_photo` computed.

    Attributes:
        head: the linear :class:`~rome_smplx.avatar.head.HeadAvatar`.
        original, edited: the reconstruction before and after the edit (batch 1).
        component: the edited coefficient; kind: ``"hair"``, ``"neck"`` or ``"mixed"``.
        quantile: the requested quantile (``None`` with a value); value: the coefficient set;
        before: the coefficient the regressor predicted.
        stats: the :class:`~rome_smplx.avatar.editing.HairStats` used (``None`` with a value).
        avatar: the edited head merged onto the PIXIE body (``None`` without ``pixie_param``).
        assets: the asset folder used.
        flame_source: ``"deca"`` or ``"landmark_fit"``.
        timings: seconds per step.
    """

    head: HeadAvatar
    original: HeadReconstruction
    edited: HeadReconstruction
    component: int
    kind: str
    quantile: Optional[float]
    value: float
    before: float
    stats: Optional[HairStats]
    avatar: Optional[FullBodyAvatar]
    assets: Assets
    flame_source: str
    timings: dict[str, float] = field(default_factory=dict)


def check_edit_request(component: Any, quantile: Any = None, value: Any = None) -> None:
    """Validate an edit before any work: ``component`` an integer >= 0, exactly one of ``quantile`` (in
    [0, 1]) and ``value`` (finite). The upper bound of ``component`` is the model's and is checked once
    the model is built.

    Raises:
        InputError: naming the option that is wrong.
    """
    if isinstance(component, bool) or not isinstance(component, int) or component < 0:
        raise InputError(f"--component: expected an integer >= 0, found {component!r}")
    if (quantile is None) == (value is None):
        raise InputError("expected exactly one of --quantile and --value, found "
                         + ("both" if quantile is not None else "neither"))
    if quantile is not None and not (isinstance(quantile, (int, float)) and 0.0 <= float(quantile) <= 1.0):
        raise InputError(f"--quantile: expected a number in [0, 1], found {quantile!r}")
    if value is not None and not (isinstance(value, (int, float)) and math.isfinite(float(value))):
        raise InputError(f"--value: expected a finite number, found {value!r}")


def _resolve_assets(assets: Any) -> Assets:
    from rome_smplx.assets import Assets

    if assets is None:
        return Assets.discover()
    if isinstance(assets, Assets):
        return assets
    return Assets.from_dir(assets)


def edit_photo(
    image_path: PathLike,
    *,
    component: int,
    quantile: Optional[float] = None,
    value: Optional[float] = None,
    pixie_param: Optional[PathLike] = None,
    assets: Any = None,
    mask_path: Optional[PathLike] = None,
    deca_path: Optional[PathLike] = None,
    stats_path: Optional[PathLike] = None,
    detector: Optional[Callable[..., Tensor]] = None,
    segmenter: Optional[Callable[..., Tensor]] = None,
    max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
    backend: str = "auto",
    device: torch.device | str | None = None,
) -> HairEdit:
    """One photo -> linear-model head with coefficient ``component`` set to ``quantile`` of the hair stats
    or to ``value`` (and the edited head merged onto the PIXIE body when ``pixie_param`` is given).

    Args:
        image_path: the photo (any size, one face).
        component: which basis coefficient (hair components first, then neck).
        quantile: a quantile in [0, 1] of the coefficient over the stats' subjects, or
        value: the coefficient itself.
        pixie_param: optional PIXIE ``_param.pkl`` of the same person.
        assets: an :class:`~rome_smplx.assets.Assets`, a folder, or ``None`` (``Assets.discover()``).
        mask_path, deca_path, detector, segmenter, max_pixels, backend, device: as in
            :func:`rome_smplx.pipeline.reconstruct_photo`.
        stats_path: a :class:`~rome_smplx.avatar.editing.HairStats` file of this model (default: the shipped
            one when it belongs to the model, else computed on synthetic subjects for synthetic assets).

    Raises:
        InputError: bad edit request (also a component beyond the model's), unreadable inputs, no face,
            stats of another model.
        AssetError: missing/corrupt PIXIE, DECA or asset files.
    """
    from tqdm.auto import tqdm

    from rome_smplx.avatar import editing as E
    from rome_smplx.avatar.head import HeadAvatar
    from rome_smplx.avatar.merge import merge
    from rome_smplx.bridges import deca, pixie
    from rome_smplx.bridges.flame_fit import fit_flame_to_landmarks
    from rome_smplx.bridges.landmarks import MediapipeDetector, align, matte
    from rome_smplx.io.images import check_mask_aspect, load_image, load_mask
    from rome_smplx.pipeline import (
        ALIGN_SIZE,
        ALIGN_ZOOM,
        FIT_THREADS,
        PHOTO_FIT,
        PHOTO_MAX_SIDE,
        _check_landmarks,
    )

    check_edit_request(component, quantile, value)
    name = str(Path(image_path))
    timings: dict[str, float] = {}
    bar = tqdm(total=5, desc="edit", unit="step", disable=None, leave=False)

    def step(label: str, start: float) -> float:
        timings[label] = round(time.perf_counter() - start, 3)
        bar.set_postfix_str(label)
        bar.update()
        return time.perf_counter()

    try:
        t = time.perf_counter()
        image = load_image(image_path, max_pixels=max_pixels, max_side=PHOTO_MAX_SIDE)
        body = None
        if pixie_param is not None:
            body = pixie.to_y_up(pixie.load(pixie_param))
            if body.batch_size != 1:
                raise InputError(f"{pixie_param}: expected one person, found a batch of {body.batch_size}")
        flame = deca.load(deca_path) if deca_path is not None else None
        if flame is not None and flame.batch_size != 1:
            raise InputError(f"{deca_path}: expected the codes of one image, found a batch of {flame.batch_size}")
        mask = load_mask(mask_path, max_pixels=max_pixels, max_side=PHOTO_MAX_SIDE) if mask_path is not None else None
        if mask is not None:
            check_mask_aspect(mask, image, str(mask_path))
        assets = _resolve_assets(assets)
        has_weights = assets.find("rome_weights") is not None
        head = HeadAvatar.from_assets(assets, variant="linear", size="full" if has_weights else "small",
                                      image_size=ALIGN_SIZE, backend=backend, device=device)
        K = int(head.basis.shape[1])
        if component >= K:
            raise InputError(f"--component: the linear model has {K} components (0..{K - 1}), found {component}")
        stats = None
        if quantile is not None:
            stats = E.stats_for(head, assets, stats_path)
        kinds = stats.kinds if stats is not None else E.component_kinds(
            head.basis.cpu(), assets.rome_data().hair_list, assets.rome_data().neck_list)
        t = step("read", t)

        if detector is None:
            with MediapipeDetector() as det:
                lm = det(image, name=name)
        else:
            lm = detector(image, name=name)
        lm = _check_landmarks(lm, name)
        alpha = matte(image, mask, segmenter)
        aligned = align(image, alpha, lm, output_size=ALIGN_SIZE, zoom=ALIGN_ZOOM)
        t = step("landmarks", t)
        if flame is None:
            fit = fit_flame_to_landmarks(head.flame, aligned.landmarks.to(head.faces.device), (ALIGN_SIZE, ALIGN_SIZE),
                                         settings=PHOTO_FIT, progress=True, threads=FIT_THREADS)
            flame = fit.flame
        t = step("flame", t)
        with torch.no_grad():
            original = head.reconstruct(aligned.image, aligned.mask, flame)
            edited = E.edit_hair(head, original, component, quantile=quantile, value=value, stats=stats)
        t = step("edit", t)
        avatar = None
        if body is not None:
            with torch.no_grad():
                avatar = merge(edited, body.to(head.faces.device), assets, flame_model=head.flame, renderer=head)
        step("merge", t)
    finally:
        bar.close()
    before, after = float(original.hair_coeffs[0, component]), float(edited.hair_coeffs[0, component])
    logger.info("%s: component %d (%s) %.4g -> %.4g", name, component, kinds[component], before, after)
    return HairEdit(head=head, original=original, edited=edited, component=component, kind=kinds[component],
                    quantile=None if quantile is None else float(quantile), value=after, before=before, stats=stats,
                    avatar=avatar, assets=assets, flame_source="deca" if deca_path is not None else "landmark_fit",
                    timings=timings)


def write_edit(result: HairEdit, out_dir: PathLike, *, texture_size: int = 1024, preview_size: int = 384,
               force: bool = False) -> Path:
    """Write an edit as the folder ``out_dir`` (replaced as a whole, atomically).

    Contents: ``head_edited.ply`` and ``head_unedited.ply`` (the head in the source pose, FLAME's topology),
    ``render.png`` / ``render_unedited.png`` (neural renders in the source pose, on white),
    ``preview.png`` (shaded profile, unedited | edited: the hair's shape reads even with untrained
    networks), ``edit.json`` (component, kind, quantile, coefficient before/after, stats source) and,
    with a body, ``avatar.glb`` (the edited head on the body, textured, rigged, animated).
    """
    from rome_smplx.avatar.editing import _rot_y
    from rome_smplx.avatar.export import write_avatar_file
    from rome_smplx.io.images import save_image
    from rome_smplx.io.meshes import write_ply
    from rome_smplx.render.preview import front_camera, render_preview

    out_dir = check_output_dir(out_dir, force=force)
    head = result.head
    faces = head.faces
    with torch.no_grad():
        renders = {k: head.render(r) for k, r in (("edited", result.edited), ("unedited", result.original))}
        both = torch.cat([result.original.vertices, result.edited.vertices])
        side = both @ _rot_y(math.radians(80)).to(both).T
        cam = front_camera(side.reshape(1, -1, 3), margin=1.2)
        shaded = [render_preview(side[i:i + 1], faces, None, cam, image_size=preview_size) for i in range(2)]
    moved = (result.edited.vertices - result.original.vertices).norm(dim=-1)[0]
    summary = {
        "component": result.component,
        "kind": result.kind,
        "quantile": result.quantile,
        "value": result.value,
        "coefficient_before": result.before,
        "num_components": int(head.basis.shape[1]),
        "vertices_moved": int((moved > 0).sum()),
        "max_displacement_m": float(moved.max()),
        "stats": None if result.stats is None else {"source": result.stats.source, "count": result.stats.count,
                                                    "fingerprint": result.stats.fingerprint},
        "flame_source": result.flame_source,
        "body": result.avatar is not None,
        "synthetic_assets": bool(result.assets.is_synthetic),
        "timings_s": result.timings,
    }
    with atomic_dir(out_dir, force=force) as tmp:
        write_ply(tmp / "head_edited.ply", result.edited.vertices[0], faces)
        write_ply(tmp / "head_unedited.ply", result.original.vertices[0], faces)
        for key, r in renders.items():
            img = r.composite if r.composite is not None else r.image
            save_image(tmp / ("render.png" if key == "edited" else "render_unedited.png"), img)
        save_image(tmp / "preview.png", torch.cat(shaded, dim=3))
        if result.avatar is not None:
            write_avatar_file(result.avatar, tmp / "avatar.glb", recon=result.edited, texture_size=texture_size)
        (tmp / "edit.json").write_text(json.dumps(summary, indent=2))
    return out_dir
