"""Procedural stand-ins for the licensed model files, in exactly the real formats.

* :mod:`.head`: a FLAME-format head (``FLAME_NEUTRAL.pkl`` and landmark embeddings);
* :mod:`.rome_data`: ROME's ``data/`` files for that head (lists, faces, UVs, linear basis);
* :mod:`.body`: an SMPL-X-format body whose head is that head (``SMPLX_NEUTRAL_2020.npz`` and the
  FLAME correspondence);
* :mod:`.people`: synthetic subjects with PIXIE/DECA files, photos and ground truth;
* :mod:`.writer`: the whole folder (:func:`write_synthetic_assets`) and the cached default set
  (:func:`default_dir`).
"""

from rome_smplx.assets.synthetic.body import HEAD_OFFSET, SyntheticBody, build_body, write_smplx_files
from rome_smplx.assets.synthetic.head import SyntheticHead, build_head, write_flame_files
from rome_smplx.assets.synthetic.people import SyntheticPerson, make_person, render_person, write_person
from rome_smplx.assets.synthetic.rome_data import SyntheticRomeData, build_rome_data, write_rome_files
from rome_smplx.assets.synthetic.writer import (
    GENERATOR_VERSION,
    MARKER_NAME,
    cache_root,
    default_dir,
    read_marker,
    write_synthetic_assets,
)

__all__ = [
    "GENERATOR_VERSION",
    "HEAD_OFFSET",
    "MARKER_NAME",
    "SyntheticBody",
    "SyntheticHead",
    "SyntheticPerson",
    "SyntheticRomeData",
    "build_body",
    "build_head",
    "build_rome_data",
    "cache_root",
    "default_dir",
    "make_person",
    "read_marker",
    "render_person",
    "write_flame_files",
    "write_person",
    "write_rome_files",
    "write_smplx_files",
    "write_synthetic_assets",
]
