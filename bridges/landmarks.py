"""Face landmarks, FFHQ-style alignment and matting for the source photo.

* :func:`ffhq_alignment` / :func:`align`: ROME's source alignment. From 68 iBUG landmarks build
  FFHQ's oriented crop square (eyes and mouth), zoom out by 1.25 and resample the image and its
  matte to 256x256 with ``grid_sample``.
* :class:`MediapipeDetector`: mediapipe face mesh (478 points) reduced to the iBUG 68-point
  scheme with :data:`MEDIAPIPE_TO_IBUG68` (optional extra ``landmarks``).
* :class:`MediapipeSegmenter` / :func:`matte`: a person matte from mediapipe selfie segmentation,
  or a mask the caller gives.

Pixel coordinates: ``x`` to the right, ``y`` down, with the image's top-left *corner* at
``(0, 0)`` and pixel ``(i, j)`` covering ``[j, j+1) x [i, i+1)`` (its centre at ``j + 0.5``); this
is mediapipe's normalised output times the image size. Normalised coordinates are
``ndc = 2 * px / size - 1`` in ``[-1, 1]`` (ROME's ``kp / (size / 2) - 1``), which is the
convention of ``F.affine_grid`` / ``F.grid_sample`` with ``align_corners=False``; every resampling
here uses that setting.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rome_smplx.errors import BackendError, InputError

logger = logging.getLogger(__name__)

__all__ = [
    "IBUG68_GROUPS",
    "MEDIAPIPE_TO_IBUG68",
    "AlignedFace",
    "MediapipeDetector",
    "MediapipeSegmenter",
    "align",
    "aligned_landmarks",
    "detect_file",
    "ffhq_alignment",
    "ffhq_quad",
    "matte",
]

_INSTALL_HINT = "install the optional extra: pip install 'rome-smplx[landmarks]' (mediapipe)"

#: Ranges of the iBUG 68-point scheme (``lm[a:b]``). "Left"/"right" are image left/right for a
#: face looking at the camera (the subject's right eye is ``eye_left``).
IBUG68_GROUPS = {
    "jaw": (0, 17),
    "brow_left": (17, 22),
    "brow_right": (22, 27),
    "nose_bridge": (27, 31),
    "nostrils": (31, 36),
    "eye_left": (36, 42),
    "eye_right": (42, 48),
    "mouth_outer": (48, 60),
    "mouth_inner": (60, 68),
}

#: Mediapipe face-mesh vertex for each iBUG-68 landmark.
#:
#: Built from the published canonical face-mesh topology (the contour sets of
#: ``mediapipe.solutions.face_mesh_connections``; mediapipe's "right" is the subject's right,
#: i.e. image left, which is iBUG's first half), picking points at the iBUG spacing along each
#: contour:
#:
#: * jaw 0..16: ``FACEMESH_FACE_OVAL`` from the subject's right ear (234) down to the chin (152)
#:   and up to the left ear (454); the oval runs 234-93-132-58-172-136-150-149-176-148-152, and
#:   the eight iBUG steps are taken at the nearest equal arc-length positions, mirrored for the
#:   other side (each index paired with its mirror vertex);
#: * brows 17..26: the upper brow contours of ``FACEMESH_RIGHT_EYEBROW`` (70-63-105-66-107,
#:   outer to inner) and ``FACEMESH_LEFT_EYEBROW`` (336-296-334-293-300, inner to outer);
#: * nose 27..30: the bridge of ``FACEMESH_NOSE`` 168 (between the eyes) - 197 - 5 - 1 (tip);
#:   nostrils 31..35: the base 98-97-2 (subnasale)-326-327;
#: * eyes 36..47: ``FACEMESH_RIGHT_EYE`` outer corner 33, upper lid 160, 158, inner corner 133,
#:   lower lid 153, 144; ``FACEMESH_LEFT_EYE`` inner corner 362, upper lid 385, 387, outer corner
#:   263, lower lid 373, 380 (each lid has 9 contour points; iBUG's two lid points are the 3rd
#:   and 5th of them from the start corner);
#: * mouth 48..67: ``FACEMESH_LIPS``: outer corners 61 / 291, upper outer 40-37-0-267-270,
#:   lower outer 321-314-17-84-91; inner corners 78 / 308, upper inner 81-13-311, lower inner
#:   402-14-178.
MEDIAPIPE_TO_IBUG68: tuple[int, ...] = (
    # jaw 0..16
    234, 93, 132, 58, 136, 150, 149, 148, 152, 377, 378, 379, 365, 288, 361, 323, 454,
    # brows 17..26
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
    # nose bridge 27..30, nostrils 31..35
    168, 197, 5, 1, 98, 97, 2, 326, 327,
    # eye (image left) 36..41, eye (image right) 42..47
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
    # outer lips 48..59
    61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91,
    # inner lips 60..67
    78, 81, 13, 311, 308, 402, 14, 178,
)


# ----------------------------------------------------------------------------------------------
# FFHQ alignment
# ----------------------------------------------------------------------------------------------


def _hw(image_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(image_size, int):
        return image_size, image_size
    if len(image_size) != 2:
        raise InputError(f"image_size: expected an int or (H, W), found {image_size!r}")
    return int(image_size[0]), int(image_size[1])


def _check_landmarks(landmarks: Tensor) -> None:
    if not isinstance(landmarks, Tensor) or not landmarks.is_floating_point():
        raise InputError("landmarks: expected a floating point tensor of shape (B, 68, 2)")
    if landmarks.dim() != 3 or landmarks.shape[1:] != (68, 2):
        raise InputError(f"landmarks: expected shape (B, 68, 2) (iBUG 68 points, pixels), found {tuple(landmarks.shape)}")
    if not torch.isfinite(landmarks).all():
        raise InputError("landmarks: contain NaN or inf values")


def _rot90(v: Tensor) -> Tensor:
    """``flipud(v) * [-1, 1]`` for 2-vectors: ``(a, b) -> (-b, a)``."""
    return torch.stack([-v[..., 1], v[..., 0]], -1)


def ffhq_quad(landmarks: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """FFHQ's oriented crop square from 68 landmarks.

    ``eye_left`` / ``eye_right`` = means of points 36..41 / 42..47, ``mouth`` = mean of 48 and 54,
    ``eye_to_eye = eye_right - eye_left``, ``eye_to_mouth = mouth - eye_avg``;
    ``x = eye_to_eye - flipud(eye_to_mouth) * [-1, 1]``, normalised and scaled by
    ``max(2.0 |eye_to_eye|, 1.8 |eye_to_mouth|)``; ``y = flipud(x) * [-1, 1]``;
    ``c = eye_avg + 0.1 eye_to_mouth``. The corners are ``c-x-y, c-x+y, c+x+y, c+x-y``.

    Args:
        landmarks: ``(B, 68, 2)`` pixels.

    Returns:
        ``c (B, 2)``, ``x (B, 2)``, ``y (B, 2)`` in pixels (half side vectors of the square).
    """
    _check_landmarks(landmarks)
    eye_left = landmarks[:, 36:42].mean(1)
    eye_right = landmarks[:, 42:48].mean(1)
    eye_avg = 0.5 * (eye_left + eye_right)
    eye_to_eye = eye_right - eye_left
    mouth_avg = 0.5 * (landmarks[:, 48] + landmarks[:, 54])
    eye_to_mouth = mouth_avg - eye_avg
    x = eye_to_eye - _rot90(eye_to_mouth)
    norm = x.norm(dim=-1, keepdim=True)
    if (norm < 1e-6).any():
        raise InputError("landmarks: eyes and mouth coincide; cannot build the face crop")
    scale = torch.maximum(2.0 * eye_to_eye.norm(dim=-1), 1.8 * eye_to_mouth.norm(dim=-1))
    x = x / norm * scale[:, None]
    y = _rot90(x)
    c = eye_avg + 0.1 * eye_to_mouth
    return c, x, y


def ffhq_alignment(
    landmarks: Tensor,
    image_size: int | Sequence[int],
    output_size: int = 256,
    zoom: float = 1.25,
) -> Tensor:
    """Affine ``theta`` for ``F.affine_grid`` that cuts ROME's aligned face crop out of an image.

    The output square ``[-1, 1]^2`` is mapped onto FFHQ's crop square (:func:`ffhq_quad`) scaled
    by ``zoom`` about its centre: output corner ``(-1, -1)`` (top left) lands on
    ``c - zoom (x + y)``, ``(1, 1)`` on ``c + zoom (x + y)``. The map is a similarity in pixels and
    is computed in closed form (ROME fits the same similarity to the four corners with 5 LBFGS
    steps, then multiplies by the zoom ``align_scale = 1.25``). Non-square images are handled
    (the normalisation uses W for x and H for y).

    Args:
        landmarks: ``(B, 68, 2)`` iBUG landmarks in input-image pixels.
        image_size: input ``H`` (= ``W``) or ``(H, W)``.
        output_size: side of the aligned crop (the map does not depend on it in normalised
            coordinates; it is validated and kept for symmetry with :func:`align`).
        zoom: zoom-out factor (1.25 in ROME).

    Returns:
        ``theta (B, 2, 3)``: ``input_ndc = theta @ [output_ndc, 1]`` for
        ``F.affine_grid(theta, (B, C, S, S), align_corners=False)``.
    """
    h, w = _hw(image_size)
    if output_size < 1 or h < 1 or w < 1 or zoom <= 0:
        raise InputError(f"ffhq_alignment: sizes and zoom must be positive, found image {h}x{w}, "
                         f"output {output_size}, zoom {zoom}")
    c, x, y = ffhq_quad(landmarks)
    to_ndc = torch.tensor([2.0 / w, 2.0 / h], dtype=landmarks.dtype, device=landmarks.device)
    A = torch.stack([x, y], -1) * zoom  # (B, 2, 2): columns x, y (pixels per output ndc unit)
    theta = torch.cat([A * to_ndc[:, None], (c * to_ndc - 1.0)[..., None]], -1)
    return theta


def _inverse_theta(theta: Tensor) -> Tensor:
    """Inverse of a ``(B, 2, 3)`` affine map."""
    A, t = theta[..., :2], theta[..., 2:]
    Ai = torch.linalg.inv(A)
    return torch.cat([Ai, -Ai @ t], -1)


def aligned_landmarks(
    landmarks: Tensor, theta: Tensor, image_size: int | Sequence[int], output_size: int = 256
) -> tuple[Tensor, Tensor]:
    """Move input-image pixel landmarks into the aligned crop given by ``theta``.

    Args:
        landmarks: ``(B, N, 2)`` input pixels.
        theta: ``(B, 2, 3)`` from :func:`ffhq_alignment`.
        image_size: input ``H`` or ``(H, W)``.
        output_size: crop side in pixels.

    Returns:
        ``(pixels (B, N, 2), ndc (B, N, 2))`` in the aligned crop.
    """
    h, w = _hw(image_size)
    size = torch.tensor([w, h], dtype=landmarks.dtype, device=landmarks.device)
    ndc_in = 2.0 * landmarks / size - 1.0
    inv = _inverse_theta(theta.to(landmarks.dtype))
    ndc_out = ndc_in @ inv[..., :2].transpose(1, 2) + inv[..., 2][:, None]
    return (ndc_out + 1.0) * (output_size / 2.0), ndc_out


@dataclass
class AlignedFace:
    """An aligned face crop (ROME's source input).

    Attributes:
        image: ``(B, 3, S, S)`` in ``[0, 1]``.
        mask: ``(B, 1, S, S)`` matte in ``[0, 1]`` (None if none was given).
        landmarks: ``(B, 68, 2)`` landmarks in crop pixels.
        landmarks_ndc: ``(B, 68, 2)`` the same in ``[-1, 1]`` (``2 px / S - 1``).
        theta: ``(B, 2, 3)`` crop -> input map (``F.affine_grid``, ``align_corners=False``).
    """

    image: Tensor
    mask: Tensor | None
    landmarks: Tensor
    landmarks_ndc: Tensor
    theta: Tensor


def align(
    image: Tensor,
    mask: Tensor | None,
    landmarks: Tensor,
    output_size: int = 256,
    zoom: float = 1.25,
) -> AlignedFace:
    """Cut ROME's FFHQ-style aligned crop (zoom-out 1.25) out of images and mattes.

    Bilinear ``grid_sample`` with ``align_corners=False`` and zero padding outside the image
    (ROME's choice).

    Args:
        image: ``(B, C, H, W)`` float, or ``uint8`` pixels in ``[0, 255]`` (sampled one channel at a time
            as float32 ``/ 255``, the values :func:`rome_smplx.io.images.as_float` gives, so a large
            photo is never held as floats whole).
        mask: ``(B, 1, H, W)`` float or None.
        landmarks: ``(B, 68, 2)`` pixels in ``image``.
        output_size: crop side S (256 in ROME).
        zoom: zoom-out factor.

    Returns:
        :class:`AlignedFace` (float32 crops for a ``uint8`` image).
    """
    if not isinstance(image, Tensor) or image.dim() != 4 or not (image.is_floating_point() or image.dtype == torch.uint8):
        raise InputError(f"image: expected a float or uint8 tensor (B, C, H, W), found "
                         f"{getattr(image, 'dtype', '')} {getattr(image, 'shape', type(image))}")
    b, _, h, w = image.shape
    _check_landmarks(landmarks)
    if landmarks.shape[0] != b:
        raise InputError(f"landmarks: batch size {landmarks.shape[0]} differs from the image's {b}")
    if mask is not None:
        if not isinstance(mask, Tensor) or mask.shape != (b, 1, h, w):
            raise InputError(f"mask: expected shape ({b}, 1, {h}, {w}), found {tuple(getattr(mask, 'shape', ()))}")
    dtype = image.dtype if image.is_floating_point() else torch.float32
    lm = landmarks.to(dtype)
    theta = ffhq_alignment(lm, (h, w), output_size, zoom)
    grid = F.affine_grid(theta, [b, 1, output_size, output_size], align_corners=False)
    if image.is_floating_point():
        out = F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    else:
        from rome_smplx.io.images import as_float

        out = torch.cat([F.grid_sample(as_float(image[:, c:c + 1]), grid, mode="bilinear", padding_mode="zeros",
                                       align_corners=False) for c in range(image.shape[1])], dim=1)
    out_mask = None
    if mask is not None:
        out_mask = F.grid_sample(mask.to(dtype), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    px, ndc = aligned_landmarks(lm, theta, (h, w), output_size)
    return AlignedFace(image=out, mask=out_mask, landmarks=px, landmarks_ndc=ndc, theta=theta)


# ----------------------------------------------------------------------------------------------
# mediapipe backends
# ----------------------------------------------------------------------------------------------


#: Quiet defaults for the native loggers inside mediapipe (glog/absl, TensorFlow Lite), set before it loads;
#: a value the user set is kept.
_NATIVE_LOG_ENV = {"GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}
#: Pixels converted to uint8 at once for mediapipe (bounds the float temporaries of a large photo).
_CONVERT_PIXELS = 1 << 20
#: A blank frame run once when a mediapipe graph is built (see :class:`MediapipeDetector`).
_WARM_UP = np.zeros((64, 64, 3), dtype=np.uint8)


#: The window stays open until native code has written nothing for this long (seconds) ...
_DRAIN_QUIET_S = 0.05
#: ... or for at most this long.
_DRAIN_MAX_S = 2.0


def _drain(sink: Any, quiet: float | None = None, limit: float | None = None) -> None:
    """Wait until nothing has been written to ``sink`` for ``quiet`` seconds (at most ``limit``): the
    graph's threads log on their own schedule (a calculator's start-up line can follow the call that
    started it by a few milliseconds), and a line written after the window closes reaches the terminal."""
    quiet = _DRAIN_QUIET_S if quiet is None else quiet
    deadline = time.monotonic() + (_DRAIN_MAX_S if limit is None else limit)
    try:
        size = os.fstat(sink.fileno()).st_size
        while time.monotonic() < deadline:
            time.sleep(quiet)
            now = os.fstat(sink.fileno()).st_size
            if now == size:
                return
            size = now
    except (OSError, ValueError):  # the sink is gone: nothing to wait for
        return


@contextlib.contextmanager
def _native_log_to_debug() -> Iterator[None]:
    """Send what native code writes to file descriptor 2 meanwhile (mediapipe's C++ log lines such as
    ``W0000 ... inference_feedback_manager.cc``, TensorFlow Lite's ``INFO: Created ... delegate``) to this
    module's logger at DEBUG level (``-vv``) instead of the terminal. Python's own ``sys.stderr`` is
    flushed first and written through the same descriptor afterwards, so no line of ours is lost. The
    window closes only once native code has gone quiet (:func:`_drain`)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable descriptor 2 (embedded interpreters)
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        python_stderr = sys.stderr
        sys.stderr = open(saved, "w", closefd=False, buffering=1, encoding="utf-8", errors="replace")
        try:
            yield
        finally:
            _drain(sink)
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
                sys.stderr.close()
            sys.stderr = python_stderr
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            for line in sink.read().decode("utf-8", "replace").splitlines():
                if line.strip():
                    logger.debug("mediapipe: %s", line)


def _import_mediapipe():
    """``import mediapipe``, on a short-lived thread the first time.

    While importing, mediapipe keeps an exception it caught (``sounddevice``'s "PortAudio library not
    found") as a module global. Its traceback holds the importing frames, and through their callers
    every frame on the stack at that moment, with their locals, for the life of the process (in the
    photo pipeline: the decoded photo and its matte, ~0.3 GB for a 4096 px photo). Imported from a
    thread of its own, the kept frames are that thread's.
    """
    for key, value in _NATIVE_LOG_ENV.items():
        os.environ.setdefault(key, value)
    mp = sys.modules.get("mediapipe")
    if mp is None:
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                import mediapipe

                outcome["module"] = mediapipe
            except BaseException as e:  # handed to the caller's thread below
                outcome["error"] = e

        with _native_log_to_debug():
            worker = threading.Thread(target=run, name="import-mediapipe", daemon=True)
            worker.start()
            worker.join()
        error = outcome.pop("error", None)
        if isinstance(error, ImportError):
            raise BackendError(f"mediapipe is not available ({error}); {_INSTALL_HINT}") from None
        if error is not None:
            raise error
        mp = outcome["module"]
    return mp


def _to_uint8_batch(image: Any, name: str) -> tuple[np.ndarray, str]:
    """Image input -> ``(B, H, W, 3)`` uint8 RGB and a name for messages."""
    if isinstance(image, (str, os.PathLike)):
        from rome_smplx.io.images import load_image

        name = str(image)
        image = load_image(image)
    if isinstance(image, Tensor):
        t = image.detach().cpu()
        if t.dim() == 3:
            t = t[None]
        if t.dim() != 4 or t.shape[1] != 3:
            raise InputError(f"{name}: expected an RGB tensor (B, 3, H, W), found {tuple(image.shape)}")
        if t.dtype == torch.uint8:  # pixels as decoded (io.images.load_image(..., uint8=True)): no conversion
            return np.ascontiguousarray(t.permute(0, 2, 3, 1).numpy()), name
        a = np.empty((t.shape[0], t.shape[2], t.shape[3], 3), dtype=np.uint8)
        step = max(1, _CONVERT_PIXELS // max(t.shape[3], 1))
        for r in range(0, t.shape[2], step):  # a few rows at a time: no float copy of a large photo
            a[:, r:r + step] = np.round(t[:, :, r:r + step].float().clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255.0)
    else:
        a = np.asarray(image)
        if a.ndim == 3:
            a = a[None]
        if a.ndim != 4 or a.shape[-1] != 3:
            raise InputError(f"{name}: expected an RGB array (H, W, 3), found {np.asarray(image).shape}")
        if a.dtype != np.uint8:
            a = np.round(np.clip(a.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.ascontiguousarray(a), name


class MediapipeDetector:
    """68-point landmarks from mediapipe's face mesh (478 points, iris refinement on).

    Example:
        >>> det = MediapipeDetector()                       # doctest: +SKIP
        >>> lm = det("photo.jpg")                           # (1, 68, 2) pixels  # doctest: +SKIP

    Args:
        min_detection_confidence: face detector threshold.
        refine_landmarks: run the attention mesh (478 points incl. irises).

    Raises:
        BackendError: mediapipe is not installed (install the ``landmarks`` extra).
    """

    def __init__(self, min_detection_confidence: float = 0.5, refine_landmarks: bool = True) -> None:
        mp = _import_mediapipe()
        with _native_log_to_debug():
            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True,
                max_num_faces=1,
                refine_landmarks=refine_landmarks,
                min_detection_confidence=min_detection_confidence,
            )
            # The graph's calculators open on its own threads after start-up and log as they do; one
            # run on a blank image waits for all of them inside this window, so none of their lines
            # reaches the terminal later.
            self._mesh.process(_WARM_UP)

    def close(self) -> None:
        """Release the mediapipe graph."""
        if self._mesh is not None:
            with _native_log_to_debug():
                self._mesh.close()
            self._mesh = None

    def __enter__(self) -> MediapipeDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def detect_mesh(self, image: Any, name: str = "image") -> Tensor:
        """All face-mesh points.

        Args:
            image: path, ``(B, 3, H, W)`` / ``(3, H, W)`` tensor in ``[0, 1]`` (or ``uint8`` pixels in
                ``[0, 255]``), or ``(H, W, 3)`` RGB array.
            name: used in error messages (a path's own name is used for paths).

        Returns:
            ``(B, P, 3)`` float32: x, y in pixels, z in mediapipe's scale (pixels of width,
            smaller is closer); P = 478 with refinement.

        Raises:
            InputError: no face found (message names the image).
        """
        if self._mesh is None:
            raise BackendError("MediapipeDetector: used after close()")
        batch, name = _to_uint8_batch(image, name)
        out = []
        for i, img in enumerate(batch):
            h, w = img.shape[:2]
            with _native_log_to_debug():
                res = self._mesh.process(img)
            if not res.multi_face_landmarks:
                where = name if len(batch) == 1 else f"{name}[{i}]"
                raise InputError(f"no face found in {where}")
            pts = res.multi_face_landmarks[0].landmark
            out.append(np.array([[p.x * w, p.y * h, p.z * w] for p in pts], dtype=np.float32))
        return torch.from_numpy(np.stack(out))

    def __call__(self, image: Any, name: str = "image") -> Tensor:
        """68 iBUG landmarks.

        Args:
            image: as in :meth:`detect_mesh`.
            name: used in error messages.

        Returns:
            ``(B, 68, 2)`` pixels (corner-origin convention of this module).
        """
        mesh = self.detect_mesh(image, name)
        return mesh[:, list(MEDIAPIPE_TO_IBUG68), :2].contiguous()


class MediapipeSegmenter:
    """Person matte from mediapipe selfie segmentation.

    Args:
        model_selection: 0 = general model (256x256), 1 = landscape model.

    Raises:
        BackendError: mediapipe is not installed.
    """

    def __init__(self, model_selection: int = 0) -> None:
        mp = _import_mediapipe()
        with _native_log_to_debug():
            self._seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=model_selection)
            self._seg.process(_WARM_UP)  # see MediapipeDetector: the calculators' start-up lines land here

    def close(self) -> None:
        """Release the mediapipe graph."""
        if self._seg is not None:
            with _native_log_to_debug():
                self._seg.close()
            self._seg = None

    def __enter__(self) -> MediapipeSegmenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __call__(self, image: Any, name: str = "image") -> Tensor:
        """Soft person matte.

        Args:
            image: path, ``(B, 3, H, W)`` tensor in ``[0, 1]`` (or ``uint8`` pixels) or ``(H, W, 3)`` RGB array.
            name: used in error messages.

        Returns:
            ``(B, 1, H, W)`` float32 in ``[0, 1]``.
        """
        if self._seg is None:
            raise BackendError("MediapipeSegmenter: used after close()")
        batch, _ = _to_uint8_batch(image, name)
        out = np.empty(batch.shape[:3], dtype=np.float32)
        with _native_log_to_debug():
            for i, img in enumerate(batch):
                np.clip(self._seg.process(img).segmentation_mask, 0.0, 1.0, out=out[i])
        return torch.from_numpy(out)[:, None]


def matte(image: Tensor, mask: Tensor | str | os.PathLike | None = None,
          segmenter: MediapipeSegmenter | None = None) -> Tensor:
    """The matte of ``image``: the given mask (validated, resized if needed) or a segmentation.

    Args:
        image: ``(B, 3, H, W)`` in ``[0, 1]`` (or ``uint8`` pixels; the matte is float32 then).
        mask: ``(B, 1, H, W)`` tensor, a mask file, or None to segment with mediapipe.
        segmenter: reuse a segmenter (otherwise one is created and closed).

    Returns:
        ``(B, 1, H, W)`` float32 in ``[0, 1]``.

    Raises:
        BackendError: no mask given and mediapipe is missing.
        InputError: the mask has the wrong shape or values outside ``[0, 1]``.
    """
    if not isinstance(image, Tensor) or image.dim() != 4 or image.shape[1] != 3:
        raise InputError(f"image: expected (B, 3, H, W), found {tuple(getattr(image, 'shape', ()))}")
    b, _, h, w = image.shape
    dtype = image.dtype if image.is_floating_point() else torch.float32
    if mask is None:
        if segmenter is not None:
            return segmenter(image).to(image.device, dtype)
        with MediapipeSegmenter() as seg:
            return seg(image).to(image.device, dtype)
    name = "mask"
    if isinstance(mask, (str, os.PathLike)):
        from rome_smplx.io.images import load_mask

        name = str(mask)
        mask = load_mask(mask)
    if not isinstance(mask, Tensor) or mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[0] not in (1, b):
        raise InputError(f"{name}: expected shape ({b}, 1, {h}, {w}), found {tuple(getattr(mask, 'shape', ()))}")
    mask = mask.to(image.device, dtype).expand(b, 1, *mask.shape[2:])
    if mask.min() < 0 or mask.max() > 1:
        raise InputError(f"{name}: values must lie in [0, 1], found [{float(mask.min()):.3g}, {float(mask.max()):.3g}]")
    if mask.shape[2:] != (h, w):
        logger.debug("resizing mask %s to %dx%d", tuple(mask.shape[2:]), h, w)
        mask = F.interpolate(mask, size=(h, w), mode="bilinear", align_corners=False)
    return mask.contiguous()


def detect_file(path: str | os.PathLike, detector: MediapipeDetector | None = None) -> tuple[Tensor, Tensor]:
    """Load an image file and detect its 68 landmarks.

    Args:
        path: image file.
        detector: reuse a detector (otherwise one is created and closed).

    Returns:
        ``(image (1, 3, H, W), landmarks (1, 68, 2))``.

    Raises:
        InputError: unreadable image, or ``no face found in <file>``.
    """
    from rome_smplx.io.images import load_image

    image = load_image(path)
    if detector is not None:
        return image, detector(image, name=str(Path(path)))
    with MediapipeDetector() as det:
        return image, det(image, name=str(Path(path)))
