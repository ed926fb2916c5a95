"""Finding, validating and loading the licensed model files (SMPL-X, FLAME, ROME, ...).

Main entry points: :class:`Assets` (``from_dir``, ``discover``, ``check``), :class:`AssetReport`
and the restricted unpickler :func:`load_pickle`. The folder layout is in
:mod:`rome_smplx.assets.layout`; procedural stand-ins in :mod:`rome_smplx.assets.synthetic`.
"""

from rome_smplx.assets.core import Assets, LandmarkEmbedding, RomeData, cache_root
from rome_smplx.io.pickle_safe import load_npy, load_pickle
from rome_smplx.assets.validate import AssetEntry, AssetReport

__all__ = [
    "AssetEntry",
    "AssetReport",
    "Assets",
    "LandmarkEmbedding",
    "RomeData",
    "cache_root",
    "load_npy",
    "load_pickle",
]
