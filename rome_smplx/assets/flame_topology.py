"""Vertex-numbering facts of the FLAME 2020 head that ROME's released code relies on.

ROME lets the vertices of ``hair_list.pkl`` and ``neck_list.pkl`` move (hair, neck, shoulders),
except a patch of neck vertices under the chin and at the front of the throat, which the release
keeps fixed whatever the data files say. Those vertices are not in any data file; they are given
by their FLAME ids, so they only mean something on a head with FLAME's numbering. This module holds
them as data and states the rule once; :class:`rome_smplx.assets.RomeData` (loader, avatar,
trainer) and the synthetic generator (version 3 on) both use :func:`deformable_vertices`.

The rule needs a vertex count to decide whether the ids apply. It is compared with the FLAME count
named in :mod:`rome_smplx.assets.synthetic.head` (the one place that names it); every caller passes
the count read from its own arrays.
"""

from __future__ import annotations

import numpy as np

#: FLAME 2020 vertex ids (sorted) that ROME's release never deforms: the front of the throat and
#: the area under the chin. 79 ids; all below FLAME's vertex count.
FLAME_FIXED_NECK_VERTICES: tuple[int, ...] = (
    3383, 3385, 3387, 3389, 3392, 3393, 3395, 3397, 3399, 3413, 3414, 3415,
    3416, 3417, 3418, 3419, 3420, 3421, 3422, 3423, 3424, 3441, 3442, 3443,
    3444, 3445, 3446, 3447, 3448, 3449, 3450, 3451, 3452, 3453, 3454, 3455,
    3456, 3457, 3458, 3459, 3460, 3461, 3578, 3579, 3581, 3583, 3587, 3594,
    3595, 3598, 3600, 3630, 3634, 3635, 3636, 3637, 3643, 3644, 3646, 3649,
    3650, 3652, 3673, 3676, 3677, 3678, 3679, 3680, 3681, 3685, 3691, 3693,
    3695, 3697, 3698, 3701, 3703, 3707, 3709,
)


def flame_vertex_count() -> int:
    """Vertex count of the FLAME 2020 head (the size the fixed ids refer to)."""
    from rome_smplx.assets.synthetic.head import FLAME_NUM_VERTICES  # lazy: avoids an import cycle

    return int(FLAME_NUM_VERTICES)


def is_flame_sized(num_vertices: int) -> bool:
    """True when a head with ``num_vertices`` vertices can carry FLAME's numbering."""
    return int(num_vertices) == flame_vertex_count()


def fixed_neck_vertices(num_vertices: int) -> np.ndarray:
    """``(K,)`` int64: the ids ROME never deforms on a FLAME-sized head, empty for any other size."""
    if not is_flame_sized(num_vertices):
        return np.zeros(0, dtype=np.int64)
    return np.asarray(FLAME_FIXED_NECK_VERTICES, dtype=np.int64)


def deformable_vertices(hair_list, neck_list, num_vertices: int) -> np.ndarray:
    """ROME's deformable vertices: ``hair_list ∪ neck_list`` minus :func:`fixed_neck_vertices`.

    Args:
        hair_list, neck_list: vertex ids (any integer array-likes; duplicates allowed).
        num_vertices: vertex count of the head, read from its arrays.

    Returns:
        Sorted unique ``(D,)`` int64 vertex ids.
    """
    both = np.union1d(np.asarray(hair_list, dtype=np.int64).ravel(), np.asarray(neck_list, dtype=np.int64).ravel())
    return np.setdiff1d(both, fixed_neck_vertices(num_vertices)).astype(np.int64)


__all__ = [
    "FLAME_FIXED_NECK_VERTICES",
    "deformable_vertices",
    "fixed_neck_vertices",
    "flame_vertex_count",
    "is_flame_sized",
]
