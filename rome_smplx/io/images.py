"""Image files and image tensors.

Tensors are ``(B, C, H, W)`` float32 in ``[0, 1]`` (C = 3 for colour, 1 for masks); numpy images
are ``(H, W, C)`` (uint8 in ``[0, 255]`` or float in ``[0, 1]``). Reading goes through Pillow (EXIF
orientation applied), writing is atomic.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
from torch import Tensor

from rome_smplx.errors import InputError
from rome_smplx.io.atomic import atomic_path
from rome_smplx.io.limits import DEFAULT_MAX_PIXELS

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_MAX_PIXELS", "as_float", "check_mask_aspect", "load_image", "load_mask", "save_image", "to_numpy", "to_tensor"]

PathLike = Union[str, os.PathLike]  # noqa: UP007



_PIL_LOCK = threading.Lock()


def _open(path: PathLike, what: str, max_pixels: int | None = DEFAULT_MAX_PIXELS,
          max_side: int | None = None):
    """Open, check the pixel count from the header, decode (downscaled to ``max_side`` on the long
    side when given: JPEG decodes at 1/2..1/8 scale directly) and apply the EXIF orientation."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: {what} file not found")
    if p.is_dir():
        raise InputError(f"{p}: expected an {what} file, found a directory")
    if max_pixels is not None and (isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1):
        raise InputError(f"max_pixels: expected a positive integer or None, found {max_pixels!r}")
    with _PIL_LOCK:  # Pillow's own bomb check is process-wide; ours replaces it for this call
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            try:
                img = Image.open(p)
            except UnidentifiedImageError:
                raise InputError(f"{p}: not a readable image (expected PNG, JPEG, BMP, TIFF or WebP)") from None
            except (OSError, ValueError, SyntaxError) as e:
                raise InputError(f"{p}: the image file is truncated or corrupt ({e})") from None
            w, h = img.size
            if max_pixels is not None and w * h > max_pixels:
                img.close()
                raise InputError(
                    f"{p}: the {what} has {w} x {h} = {w * h} pixels ({w * h / 1e6:.1f} MP), more than the limit "
                    f"of {max_pixels} ({max_pixels / 1e6:.1f} MP); pass --max-pixels {w * h} to read it anyway")
            if w < 1 or h < 1:
                raise InputError(f"{p}: the {what} is empty ({w} x {h} pixels)")
            scale = 1.0 if max_side is None or max(w, h) <= max_side else max_side / max(w, h)
            target = (max(1, round(w * scale)), max(1, round(h * scale)))
            try:
                if scale < 1.0 and img.format == "JPEG":
                    img.draft(img.mode if img.mode in ("RGB", "L") else None, target)
                img.load()
                if img.size != target:
                    img = _reduce_to(img, target)
            except (OSError, ValueError, SyntaxError, EOFError) as e:
                raise InputError(f"{p}: the image file is truncated or corrupt ({e})") from None
            except MemoryError:
                raise InputError(f"{p}: not enough memory to decode the {w} x {h} {what} "
                                 "(lower --max-pixels or use a smaller file)") from None
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    if scale < 1.0:
        logger.info("%s: %s of %d x %d read at %d x %d", p, what, w, h, *img.size)
    try:
        img = ImageOps.exif_transpose(img)
    except Exception as e:
        logger.debug("%s: ignoring unreadable EXIF orientation (%s)", p, e)
    return img


def _reduce_to(img: Any, size: tuple[int, int]) -> Any:
    """Downscale ``img`` to ``size``: an integer box reduction first (cheap), then an area resample."""
    from PIL import Image

    if img.mode in ("P", "PA", "1"):
        img = img.convert("RGBA" if "transparency" in img.info or img.mode == "PA" else "RGB")
    factor = max(1, min(img.size[0] // size[0], img.size[1] // size[1]))
    if factor > 1 and img.mode not in ("I;16", "I;16B", "I;16L"):
        img = img.reduce(factor)
    if img.size != size:
        img = img.resize(size, Image.BOX if img.mode not in ("I;16", "I;16B", "I;16L") else Image.NEAREST)
    return img


def _pil_to_float(img: Any) -> np.ndarray:
    """PIL image -> (H, W, C) float32 in [0, 1] (16-bit and float modes handled)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(img, dtype=np.float64)
        scale = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        a = (a / scale).astype(np.float32)[..., None]
    elif img.mode == "F":
        a = np.asarray(img, dtype=np.float32)[..., None]
    else:  # uint8: exact in [0, 1], converted in place (a large photo is not copied three times)
        a = np.asarray(img, dtype=np.uint8).astype(np.float32)
        a /= 255.0
        return a[..., None] if a.ndim == 2 else a
    return np.clip(a, 0.0, 1.0, out=a if a.flags.writeable else None)


def load_image(path: PathLike, *, max_pixels: int | None = DEFAULT_MAX_PIXELS, max_side: int | None = None,
               uint8: bool = False) -> Tensor:
    """Read an RGB image.

    Grey images are repeated to 3 channels; an alpha channel is dropped (use :func:`load_mask` to
    read it as a matte).

    Args:
        path: image file.
        max_pixels: refuse files with more pixels than this, before decoding (``None``: no limit).
        max_side: downscale (while decoding where the format allows) so that the long side is at most
            this (``None``: full size).
        uint8: return 8-bit files as their decoded ``uint8`` pixels in ``[0, 255]`` (a quarter of the
            float image's memory; a channels-last view, not copied); 16-bit and float files still
            come back as float32. :func:`as_float` turns either into the float image.

    Returns:
        ``(1, 3, H, W)`` float32 in ``[0, 1]`` (or ``uint8``, see above).

    Raises:
        InputError: missing file, directory, not an image, truncated/corrupt data, too many pixels.
    """
    img = _open(path, "image", max_pixels, max_side)
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = _pil_to_float(img).repeat(3, axis=-1)
        return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]
    rgb = np.asarray(img if img.mode == "RGB" else img.convert("RGB"), dtype=np.uint8)
    del img
    pixels = torch.from_numpy(rgb if rgb.flags.writeable else rgb.copy()).permute(2, 0, 1)[None]
    return pixels if uint8 else as_float(pixels)


def as_float(image: Tensor) -> Tensor:
    """``(B, C, H, W)`` image as float32 in ``[0, 1]``: ``uint8`` pixels divided by 255 one channel at a time
    (exactly :func:`load_image`'s values; no temporary the size of the float image), contiguous; float
    images are returned as they are."""
    if image.is_floating_point():
        return image
    if image.dtype != torch.uint8:
        raise InputError(f"image: expected uint8 or float pixels, found {image.dtype}")
    out = torch.empty(image.shape, dtype=torch.float32, device=image.device)
    for c in range(image.shape[1]):
        out[:, c] = image[:, c]
        out[:, c] /= 255.0
    return out


def load_mask(path: PathLike, *, max_pixels: int | None = DEFAULT_MAX_PIXELS, max_side: int | None = None) -> Tensor:
    """Read a matte / segmentation mask.

    Images with an alpha channel (``LA``, ``RGBA``, palette with transparency) give their alpha;
    other images give their luminance.

    Args:
        path: image file.
        max_pixels, max_side: as in :func:`load_image`.

    Returns:
        ``(1, 1, H, W)`` float32 in ``[0, 1]``.

    Raises:
        InputError: missing file, directory, not an image, truncated/corrupt data, too many pixels.
    """
    img = _open(path, "mask", max_pixels, max_side)
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("LA", "RGBA", "PA"):
        a = _pil_to_float(img.getchannel("A"))
    elif img.mode in ("I;16", "I;16B", "I;16L", "I", "F", "L"):
        a = _pil_to_float(img)
    else:
        a = _pil_to_float(img.convert("L"))
    return torch.from_numpy(np.ascontiguousarray(a[..., 0]))[None, None]


def check_mask_aspect(mask: Tensor, image: Tensor, where: str, tolerance: float = 0.01) -> None:
    """Refuse a mask whose aspect ratio differs from the image's (it would be stretched onto it).

    Args:
        mask: ``(B, 1, h, w)``; image: ``(B, C, H, W)``; where: the mask's name for the message;
        tolerance: relative difference of ``w / h`` allowed (rounding of a downscaled copy).

    Raises:
        InputError: the aspect ratios differ by more than ``tolerance``.
    """
    (h, w), (H, W) = tuple(mask.shape[-2:]), tuple(image.shape[-2:])
    a, b = w / max(h, 1), W / max(H, 1)
    rounding = 1.0 / max(min(h, w, H, W), 1)
    if abs(a - b) / b > max(tolerance, 2 * rounding):
        raise InputError(f"{where}: the mask is {w} x {h} (aspect {a:.3f}) but the photo is {W} x {H} (aspect {b:.3f}); "
                         "expected a mask of the photo's shape")


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
