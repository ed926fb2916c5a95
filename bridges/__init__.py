"""Bridges to other tools' formats: PIXIE (SMPL-X bodies), DECA (FLAME codes), landmark detectors.

Submodules load on first use (``rome_smplx.bridges.pixie``, ``.deca``, ``.landmarks``), so
optional backends such as mediapipe are imported only when needed.
"""

from __future__ import annotations

import importlib

__all__ = ["deca", "landmarks", "pixie"]


def __getattr__(name: str):
    if name.startswith("_"):
        raise AttributeError(f"module 'rome_smplx.bridges' has no attribute {name!r}")
    try:
        return importlib.import_module(f"rome_smplx.bridges.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"rome_smplx.bridges.{name}":
            raise
        raise AttributeError(f"module 'rome_smplx.bridges' has no attribute {name!r}") from None
