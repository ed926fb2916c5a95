"""Validation metrics: PSNR, SSIM, MS-SSIM, LPIPS, CSIM (images) and Chamfer / surface / vertex
distances (geometry), batched and masked."""

from rome_smplx.metrics.geometry import (
    chamfer_distance,
    mean_vertex_error,
    mesh_to_mesh_distance,
    nearest_distances,
    point_to_mesh_distance,
    sample_surface,
)
from rome_smplx.metrics.image import (
    LPIPS,
    MS_SSIM_WEIGHTS,
    csim,
    gaussian_window,
    load_lpips,
    lpips,
    ms_ssim,
    psnr,
    ssim,
)

__all__ = [
    "LPIPS",
    "MS_SSIM_WEIGHTS",
    "chamfer_distance",
    "csim",
    "gaussian_window",
    "load_lpips",
    "lpips",
    "mean_vertex_error",
    "mesh_to_mesh_distance",
    "ms_ssim",
    "nearest_distances",
    "point_to_mesh_distance",
    "psnr",
    "sample_surface",
    "ssim",
]
