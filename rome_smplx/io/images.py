"""Image files and image tensors.

Tensors are ``(B, C, H, W)`` float32 in ``[0, 1]`` (C = 3 for colour, 1 for masks); numpy images
are ``(H, W, C)`` (uint8 in ``[0, 255]`` or float in ``[0, 1]``). Reading goes through Pillow (EXIF
orientation applied), writing is atomic.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
from torch import Tensor

from rome_smplx.errors import InputError
from rome_smplx.io.atomic import atomic_path

logger = logging.getLogger(__name__)

__all__ = ["load_image", "load_mask", "save_image", "to_numpy", "to_tensor"]

PathLike = Union[str, os.PathLike]  # noqa: UP007


def _open(path: PathLike, what: str):
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: {what} file not found")
    if p.is_dir():
        raise InputError(f"{p}: expected an {what} file, found a directory")
    try:
        img = Image.open(p)
        img.load()
    except UnidentifiedImageError:
        raise InputError(f"{p}: not a readable image (expected PNG, JPEG, BMP, TIFF or WebP)") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise InputError(f"{p}: the image file is truncated or corrupt ({e})") from None
    try:
        img = ImageOps.exif_transpose(img)
    except Exception as e:
        logger.debug("%s: ignoring unreadable EXIF orientation (%s)", p, e)
    return img


def _pil_to_float(img: Any) -> np.ndarray:
    """PIL image -> (H, W, C) float32 in [0, 1] (16-bit and float modes handled)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(img, dtype=np.float64)
        scale = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        a = (a / scale).astype(np.float32)[..., None]
    elif img.mode == "F":
        a = np.asarray(img, dtype=np.float32)[..., None]
    else:
        a = np.asarray(img, dtype=np.uint8).astype(np.float32) / 255.0
        if a.ndim == 2:
            a = a[..., None]
    return np.clip(a, 0.0, 1.0)


def load_image(path: PathLike) -> Tensor:
    """Read an RGB image.

    Grey images are repeated to 3 channels; an alpha channel is dropped (use :func:`load_mask` to
    read it as a matte).

    Args:
        path: image file.

    Returns:
        ``(1, 3, H, W)`` float32 in ``[0, 1]``.

    Raises:
        InputError: missing file, directory, not an image, truncated/corrupt data.
    """
    img = _open(path, "image")
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = _pil_to_float(img).repeat(3, axis=-1)
    else:
        a = _pil_to_float(img.convert("RGB"))
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]


def load_mask(path: PathLike) -> Tensor:
    """Read a matte / segmentation mask.

    Images with an alpha channel (``LA``, ``RGBA``, palette with transparency) give their alpha;
    other images give their luminance.

    Args:
        path: image file.

    Returns:
        ``(1, 1, H, W)`` float32 in ``[0, 1]``.

    Raises:
        InputError: missing file, directory, not an image, truncated/corrupt data.
    """
    img = _open(path, "mask")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("LA", "RGBA", "PA"):
        a = _pil_to_float(img.getchannel("A"))
    elif img.mode in ("I;16", "I;16B", "I;16L", "I", "F", "L"):
        a = _pil_to_float(img)
    else:
        a = _pil_to_float(img.convert("L"))
    return torch.from_numpy(np.ascontiguousarray(a[..., 0]))[None, None]


def to_tensor(image: Any) -> Tensor:
    """Numpy / PIL image to a ``(1, C, H, W)`` float32 tensor in ``[0, 1]``.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` array (uint8 scaled by 1/255, uint16 by 1/65535, bool to
            0/1, float kept and required to lie in ``[0, 1]``), or a PIL image.

    Returns:
        ``(1, C, H, W)``.
    """
    if hasattr(image, "mode") and hasattr(image, "size") and not isinstance(image, np.ndarray):
        a = _pil_to_float(image)
    else:
        a = np.asarray(image)
        if a.ndim == 2:
            a = a[..., None]
        if a.ndim != 3 or a.shape[-1] not in (1, 2, 3, 4):
            raise InputError(f"image: expected shape (H, W) or (H, W, C) with C in 1..4, found {a.shape}")
        if a.dtype == np.uint8:
            a = a.astype(np.float32) / 255.0
        elif a.dtype == np.uint16:
            a = a.astype(np.float32) / 65535.0
        elif a.dtype == np.bool_:
            a = a.astype(np.float32)
        elif np.issubdtype(a.dtype, np.floating):
            a = a.astype(np.float32)
            if a.size and (not np.isfinite(a).all() or a.min() < 0.0 or a.max() > 1.0):
                raise InputError(
                    f"image: float values must lie in [0, 1], found range [{a.min():.3g}, {a.max():.3g}]"
                )
        else:
            raise InputError(f"image: unsupported dtype {a.dtype} (expected uint8, uint16, bool or float)")
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]


def to_numpy(tensor: Tensor, dtype: Any = np.uint8) -> np.ndarray:
    """Image tensor to a numpy image.

    Args:
        tensor: ``(1, C, H, W)``, ``(C, H, W)`` or ``(H, W)`` with values in ``[0, 1]`` (clipped).
        dtype: ``np.uint8`` (rounded to ``[0, 255]``) or a float dtype (``[0, 1]``).

    Returns:
        ``(H, W, C)`` array (``(H, W)`` for a 2-D input).
    """
    if not isinstance(tensor, Tensor):
        raise InputError(f"tensor: expected a torch.Tensor, found {type(tensor).__name__}")
    t = tensor.detach().cpu().float()
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise InputError(f"tensor: expected a single image (1, C, H, W), found batch size {t.shape[0]}")
        t = t[0]
    if t.dim() == 3:
        a = t.permute(1, 2, 0).numpy()
    elif t.dim() == 2:
        a = t.numpy()
    else:
        raise InputError(f"tensor: expected shape (1, C, H, W), (C, H, W) or (H, W), found {tuple(tensor.shape)}")
    a = np.clip(np.nan_to_num(a, nan=0.0), 0.0, 1.0)
    if np.dtype(dtype) == np.uint8:
        return np.round(a * 255.0).astype(np.uint8)
    return a.astype(dtype)


def save_image(path: PathLike, tensor: Tensor) -> Path:
    """Write an image tensor atomically (format from the extension: .png, .jpg, .bmp, .tif, .webp).

    Args:
        path: output file.
        tensor: ``(1, C, H, W)``, ``(C, H, W)`` or ``(H, W)``, C in {1, 3, 4}, values in ``[0, 1]``.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    from PIL import Image

    a = to_numpy(tensor)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim == 3 and a.shape[-1] not in (3, 4):
        raise InputError(f"tensor: expected 1, 3 or 4 channels to save as an image, found {a.shape[-1]}")
    path = Path(path)
    img = Image.fromarray(a)
    if path.suffix.lower() in (".jpg", ".jpeg") and img.mode == "RGBA":
        img = img.convert("RGB")
    with atomic_path(path) as tmp:
        try:
            img.save(tmp, format=Image.registered_extensions().get(path.suffix.lower()))
        except (KeyError, ValueError) as e:
            raise InputError(f"{path}: cannot write an image with this extension ({e})") from None
    return path
