"""rome-smplx: realistic one-shot heads with hair (ROME) on SMPL-X bodies."""

from __future__ import annotations

__version__ = "0.1.0"

from rome_smplx.errors import AssetError, BackendError, CheckpointError, InputError, RomeSmplxError, ShapeError

__all__ = [
    "__version__",
    "RomeSmplxError",
    "AssetError",
    "InputError",
    "ShapeError",
    "CheckpointError",
    "BackendError",
    "Assets",
    "HeadAvatar",
    "merge",
    "FullBodyAvatar",
    "FlameParams",
    "SmplxParams",
    "HeadReconstruction",
    "RenderOutput",
]


def __getattr__(name: str):
    # Heavy submodules load on first use so `import rome_smplx` stays fast.
    if name in ("Assets",):
        from rome_smplx.assets import Assets

        return Assets
    if name in ("HeadAvatar",):
        from rome_smplx.avatar.head import HeadAvatar

        return HeadAvatar
    if name in ("merge", "FullBodyAvatar"):
        from rome_smplx.avatar import merge as _merge

        return getattr(_merge, name)
    if name in ("FlameParams", "SmplxParams", "HeadReconstruction", "RenderOutput"):
        from rome_smplx import types

        return getattr(types, name)
    if name == "bridges":
        import importlib

        return importlib.import_module("rome_smplx.bridges")
    raise AttributeError(f"module 'rome_smplx' has no attribute {name!r}")
