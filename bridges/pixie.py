"""PIXIE bridge: SMPL-X bodies from PIXIE's parameter files.

The format itself (decoding the raw regressor outputs, reading and writing ``<name>_param.pkl``, the
y-down/y-up frame change) lives in :mod:`rome_smplx.io.pixie`, the one reader and writer of PIXIE
files, so that motion files and the synthetic people, which sit below the bridges, use the same code.
This module is the public entry point and re-exports it unchanged:
``rome_smplx.bridges.pixie.load(path)`` is :func:`rome_smplx.io.pixie.load`.
"""

from rome_smplx.io.pixie import (  # noqa: F401  (re-exported)
    HEAD_CHAIN,
    HEAD_LIMITS_DEG,
    LEFT_WRIST_CHAIN,
    RAW_POSE_JOINTS,
    RIGHT_WRIST_CHAIN,
    check_head_pose,
    decode,
    from_decoded,
    load,
    pose_abs2rel,
    save_param_pkl,
    to_decoded,
    to_y_down,
    to_y_up,
)
