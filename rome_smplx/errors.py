"""Errors raised by rome-smplx.

Every error raised on bad input is a :class:`RomeSmplxError`. Messages name the file, the key or
field, what was expected, what was found and, for licensed model files, where to get them. The CLI
prints the message (no traceback) and exits non-zero.
"""

from __future__ import annotations

from pathlib import Path


class RomeSmplxError(Exception):
    """Base class of every error rome-smplx raises on purpose."""


class AssetError(RomeSmplxError):
    """A model file (SMPL-X, FLAME, ROME data, weights, ...) is missing, unreadable or malformed."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        key: str | None = None,
        source: str | None = None,
    ) -> None:
        self.path = None if path is None else Path(path)
        self.key = key
        self.source = source
        parts = []
        if path is not None:
            parts.append(f"{path}")
        if key is not None:
            parts.append(f"key '{key}'")
        head = ": ".join([", ".join(parts), message]) if parts else message
        if source:
            head += f" (get it from: {source})"
        super().__init__(head)


class InputError(RomeSmplxError):
    """A user input (image, parameters, tensor shape, motion file, ...) is not what was expected."""


class ShapeError(InputError):
    """A tensor argument has the wrong type, shape or kind of dtype (see :func:`rome_smplx.checks.check_shape`).

    A subclass of :class:`InputError`, so ``except InputError`` catches it too.
    """


class CheckpointError(RomeSmplxError):
    """A network checkpoint is missing, unreadable, unsafe, or does not fit the network."""


class BackendError(RomeSmplxError):
    """An optional backend (pytorch3d, mediapipe, pyrender) was requested but is not available."""


__all__ = ["RomeSmplxError", "AssetError", "InputError", "ShapeError", "CheckpointError", "BackendError"]
