"""Rendering: cameras, rasteriser backends (and the deferred neural renderer built on them)."""

from rome_smplx.render.cameras import (
    PerspectiveCamera,
    deca_project,
    flip_frame_camera,
    flip_frame_points,
    flip_frame_rotation,
    ndc_to_pixels,
    pixels_to_ndc,
    pixie_project,
    rome_project,
    rome_project_for_raster,
)
from rome_smplx.render.raster import Fragments, interpolate, rasterize, soft_silhouette

__all__ = [
    "Fragments",
    "PerspectiveCamera",
    "deca_project",
    "flip_frame_camera",
    "flip_frame_points",
    "flip_frame_rotation",
    "interpolate",
    "ndc_to_pixels",
    "pixels_to_ndc",
    "pixie_project",
    "rasterize",
    "rome_project",
    "rome_project_for_raster",
    "soft_silhouette",
]
