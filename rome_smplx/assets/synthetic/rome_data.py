"""ROME data files for the synthetic head: hair/neck lists, faces, UVs, linear basis, mean offsets.

The files follow the formats of the ``data/`` folder of the public ROME code (same names, Python
types, tensor shapes and dtypes); their contents are computed from the procedural head only:

- ``hair_list`` is the scalp, ``neck_list`` the neck down to the boundary ring; the ``*_edge_list``
  supersets add the one-ring around them, and ``hair_faces`` / ``neck_faces`` are the faces touching
  those vertices, indexed locally into the edge lists.
- ``u_full`` is a ``(3N, 60)`` basis with orthonormal columns: 50 smooth hair deformations (volume
  along the normals, length at the back, fringe, sides, ...) supported on ``hair_list`` and 10
  neck/shoulder deformations supported on the deformable part of ``neck_list``.
- ``mean_deform`` is a plausible mean hair volume, non-zero exactly on the deformable vertices.

Which vertices are deformable depends on the generator version:

- version 3 (current): ROME's own rule, :func:`rome_smplx.assets.flame_topology.deformable_vertices`:
  ``hair_list ∪ neck_list`` minus the FLAME throat ids the release fixes, and those only on a
  FLAME-sized head. The loader derives the deform mask from the lists with the same rule, so the
  support of ``mean_deform`` and of every basis column agrees with it, as on ROME's real files. On
  this procedural head the FLAME ids land wherever its numbering puts them (a few scalp vertices
  at FLAME's size); that is the point: real and synthetic folders obey one rule.
- version 2: the front-of-throat vertices of this head (chosen geometrically, ``throat_list``) are
  left out instead; the loader's rule then disagrees with the support of ``mean_deform`` (on 111
  vertices at FLAME's size). Kept byte for byte so that files made with it can be regenerated.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rome_smplx.assets.flame_topology import deformable_vertices
from rome_smplx.assets.synthetic._mesh import one_ring_closure, smoothstep, vertex_normals
from rome_smplx.assets.synthetic.head import SyntheticHead
from rome_smplx.errors import InputError
from rome_smplx.io.atomic import atomic_path, write_bytes_atomic

logger = logging.getLogger(__name__)

NUM_HAIR_COMPONENTS = 50
NUM_NECK_COMPONENTS = 10
#: Generator versions :func:`build_rome_data` can reproduce.
SUPPORTED_VERSIONS = (2, 3)


@dataclass
class SyntheticRomeData:
    """ROME's per-topology data for a :class:`SyntheticHead` (N vertices).

    Attributes:
        hair_list, neck_list: sorted vertex indices of the scalp and of the neck.
        hair_edge_list, neck_edge_list: the same plus their one-ring boundary (sorted).
        hair_faces, neck_faces: ``(Fh, 3)`` / ``(Fn, 3)`` faces touching the lists, indexed locally
            into the edge lists.
        faces, uv_faces: ``(F + M, 3)`` head faces plus mouth faces, and the matching UV faces.
        vertex_uvcoords: ``(N, 2)`` per-vertex UV as ``(2u - 1, -(2v - 1))``.
        basis: ``(3N, 60)`` float32, vertex-major, orthonormal columns (50 hair, 10 neck).
        mean_deform: ``(N, 3)`` float32 mean offsets, non-zero exactly on ``deformable``.
        throat_list: list vertices that never deform: version 3, ROME's fixed FLAME ids that fall in
            the lists (none unless the head is FLAME-sized); version 2, this head's front of the throat.
        deformable: sorted ``hair_list ∪ neck_list \\ throat_list``.
    """

    hair_list: np.ndarray
    neck_list: np.ndarray
    hair_edge_list: np.ndarray
    neck_edge_list: np.ndarray
    hair_faces: np.ndarray
    neck_faces: np.ndarray
    faces: np.ndarray
    uv_faces: np.ndarray
    vertex_uvcoords: np.ndarray
    basis: np.ndarray
    mean_deform: np.ndarray
    throat_list: np.ndarray
    deformable: np.ndarray


def _local_faces(faces: np.ndarray, core: np.ndarray, edge_list: np.ndarray) -> np.ndarray:
    """Faces with a vertex in ``core``, re-indexed into positions of the sorted ``edge_list``."""
    sel = faces[np.isin(faces, core).any(axis=1)]
    local = np.searchsorted(edge_list, sel)
    if not np.array_equal(edge_list[local], sel):
        raise AssertionError("edge list does not contain every vertex of its faces")
    return local.astype(np.int64)


def _orthonormal(fields: np.ndarray) -> np.ndarray:
    """Orthonormalise the columns of ``fields (D, K)`` in order (modified Gram-Schmidt, twice).

    Written with ``einsum`` rather than LAPACK so the result does not depend on the BLAS thread
    count: the basis bytes must be identical on every run.
    """
    q = np.array(fields, dtype=np.float64, copy=True)
    for k in range(q.shape[1]):
        for _ in range(2):
            for j in range(k):
                q[:, k] -= np.einsum("i,i->", q[:, j], q[:, k]) * q[:, j]
        norm = np.sqrt(np.einsum("i,i->", q[:, k], q[:, k]))
        if norm < 1e-12:
            raise AssertionError(f"basis field {k} is linearly dependent on the previous ones")
        q[:, k] /= norm
    return q


def _smooth_random(p: np.ndarray, count: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``(len(p), 3, count)`` random smooth vector fields over points ``p (P, 3)``."""
    centres = p[rng.choice(len(p), size=min(count, len(p)), replace=len(p) < count)]
    d2 = ((p[:, None, :] - centres[None, :, :]) ** 2).sum(-1)  # (P, K)
    bump = np.exp(-0.5 * d2 / sigma**2)
    dirs = rng.standard_normal((len(centres), 3))
    return bump[:, None, :] * dirs.T[None, :, :]


def build_rome_data(head: SyntheticHead, seed: int = 0, generator_version: int | None = None) -> SyntheticRomeData:
    """Compute the ROME data for ``head``.

    Args:
        head: the procedural head (any vertex count).
        seed: seed of the random smooth basis components beyond the named ones.
        generator_version: 3 (default: the current generator version) or 2 (see the module
            docstring for how they differ).

    Returns:
        A :class:`SyntheticRomeData`; a deterministic function of ``(head, seed, generator_version)``.
    """
    if generator_version is None:
        from rome_smplx.assets.synthetic.writer import GENERATOR_VERSION

        generator_version = GENERATOR_VERSION
    if isinstance(generator_version, bool) or generator_version not in SUPPORTED_VERSIONS:
        raise InputError(
            f"build_rome_data: generator_version must be one of {SUPPORTED_VERSIONS}, found {generator_version!r}")
    for key in ("scalp", "neck"):
        if key not in head.regions or len(head.regions[key]) == 0:
            raise InputError(f"build_rome_data: head.regions['{key}'] is missing or empty")
    v = head.v_template
    n = len(v)
    faces = head.faces
    faces_v2 = head.faces_v2
    hair = np.unique(head.regions["scalp"]).astype(np.int64)
    neck = np.unique(head.regions["neck"]).astype(np.int64)
    if len(np.intersect1d(hair, neck)):
        raise InputError("build_rome_data: head regions 'scalp' and 'neck' overlap")
    hair_edge = one_ring_closure(faces, hair)
    neck_edge = one_ring_closure(faces, neck)
    hair_faces = _local_faces(faces, hair, hair_edge)
    neck_faces = _local_faces(faces, neck, neck_edge)

    normals = vertex_normals(v, faces_v2)
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    azim = np.degrees(np.abs(np.arctan2(x, z)))

    ny = y[neck]
    if generator_version >= 3:
        # ROME's rule on the lists (FLAME's fixed throat ids, on a FLAME-sized head only)
        deformable = deformable_vertices(hair, neck, n)
        throat = np.setdiff1d(np.union1d(hair, neck), deformable)
    else:
        # version 2: this head's own front of the throat (the upper front half of the neck)
        y_mid = 0.5 * (ny.min() + ny.max())
        throat = neck[(azim[neck] < 45.0) & (y[neck] > y_mid)]
        deformable = np.union1d(hair, np.setdiff1d(neck, throat))
    neck_def = np.setdiff1d(neck, throat)
    # rows of the hair arrays below that may move (all of them in version 2)
    keep_h = np.isin(hair, deformable)
    hair_def = hair[keep_h]

    # ---- hair fields on the scalp
    ph, nh = v[hair], normals[hair]
    hx, hy, hz = ph[:, 0], ph[:, 1], ph[:, 2]
    hairline = np.interp(azim[hair], [0, 45, 75, 95, 120, 150, 180], [0.064, 0.060, 0.045, 0.042, 0.0, -0.045, -0.055])
    depth = smoothstep(hy - hairline, 0.0, 0.03)  # 0 at the hairline, 1 well inside the scalp
    back = smoothstep(-hz, 0.0, 0.07)
    front = smoothstep(hz, 0.02, 0.07)
    side = smoothstep(np.abs(hx), 0.04, 0.07)
    top = smoothstep(hy, 0.05, 0.11)
    low = smoothstep(hy, 0.03, -0.04)
    ones = np.ones_like(hx)
    named = [
        nh * (0.3 + 0.7 * depth)[:, None],  # volume along the normals
        np.stack([0 * hx, -ones, -0.4 * ones], 1) * (back * low)[:, None],  # length at the back
        np.stack([0 * hx, -0.6 * ones, ones], 1) * (front * (1 - 0.7 * depth))[:, None],  # fringe
        np.stack([np.sign(hx), 0 * hx, 0 * hx], 1) * side[:, None],  # width at the sides
        np.stack([0 * hx, ones, 0 * hx], 1) * top[:, None],  # height on top
        np.stack([ones, 0 * hx, 0 * hx], 1) * (top * depth)[:, None],  # parting / sideways sweep
        nh * (back * (1 - low))[:, None],  # volume at the back of the crown
        np.stack([np.sign(hx) * 0.5, -ones, 0 * hx], 1) * (side * low)[:, None],  # length at the sides
    ]
    rng = np.random.default_rng(seed)
    rand_h = _smooth_random(ph, NUM_HAIR_COMPONENTS - len(named), 0.035, rng)
    fields_h = np.concatenate([np.stack(named, axis=2), rand_h], axis=2)[keep_h]  # (H, 3, 50)
    q_h = _orthonormal(fields_h.reshape(-1, NUM_HAIR_COMPONENTS))

    # ---- neck/shoulder fields
    pn, nn = v[neck_def], normals[neck_def]
    ny_ = pn[:, 1]
    low_n = smoothstep(ny_, ny.max(), ny.min())
    ones_n = np.ones(len(pn))
    named_n = [
        nn,  # thickness
        nn * low_n[:, None],  # flare towards the base (shoulders)
        np.stack([0 * ones_n, 0 * ones_n, -ones_n], 1) * (1 - low_n)[:, None],  # nape depth
        np.stack([np.sign(pn[:, 0]), 0 * ones_n, 0 * ones_n], 1) * low_n[:, None],  # width
    ]
    rand_n = _smooth_random(pn, NUM_NECK_COMPONENTS - len(named_n), 0.04, rng)
    fields_n = np.concatenate([np.stack(named_n, axis=2), rand_n], axis=2)
    q_n = _orthonormal(fields_n.reshape(-1, NUM_NECK_COMPONENTS))

    basis = np.zeros((n, 3, NUM_HAIR_COMPONENTS + NUM_NECK_COMPONENTS))
    basis[hair_def, :, :NUM_HAIR_COMPONENTS] = q_h.reshape(len(hair_def), 3, -1)
    basis[neck_def, :, NUM_HAIR_COMPONENTS:] = q_n.reshape(len(neck_def), 3, -1)
    basis = basis.reshape(3 * n, -1).astype(np.float32)

    # ---- mean offsets: hair volume (thicker on top, longer at the back), a thin neck layer
    mean = np.zeros((n, 3))
    vol = 0.003 + 0.014 * depth * (0.6 + 0.4 * top)
    mean_h = nh * vol[:, None] + np.stack([0 * hx, -0.008 * back * low, -0.004 * back * low], 1)
    mean[hair_def] = mean_h[keep_h]
    mean[neck_def] = nn * (0.0015 + 0.0015 * (1 - low_n))[:, None]

    uv = head.uv
    vertex_uvcoords = np.stack([2.0 * uv[:, 0] - 1.0, -(2.0 * uv[:, 1] - 1.0)], axis=1).astype(np.float32)
    logger.debug("synthetic ROME data: %d hair, %d neck (%d throat) vertices", len(hair), len(neck), len(throat))
    return SyntheticRomeData(
        hair_list=hair,
        neck_list=neck,
        hair_edge_list=hair_edge,
        neck_edge_list=neck_edge,
        hair_faces=hair_faces,
        neck_faces=neck_faces,
        faces=faces_v2.astype(np.int64),
        uv_faces=head.uv_faces.astype(np.int64),
        vertex_uvcoords=vertex_uvcoords,
        basis=basis,
        mean_deform=mean.astype(np.float32),
        throat_list=throat.astype(np.int64),
        deformable=deformable.astype(np.int64),
    )


def _dump_list(values, path: Path) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            pickle.dump(values, fh, protocol=4)


def _save_tensor(array: np.ndarray, path: Path) -> None:
    """``torch.save`` through memory: the archive folder is named ``archive/`` as in ROME's files,
    not after the temporary file, so the bytes depend on the array only."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(torch.from_numpy(np.ascontiguousarray(array)), buf)
    write_bytes_atomic(path, buf.getvalue())


def write_rome_files(data: SyntheticRomeData, rome_dir: Path) -> None:
    """Write ``data`` in the formats of ROME's ``data/`` folder into ``rome_dir``.

    Pickles (protocol 4): ``hair_list.pkl``, ``hair_edge_list.pkl``, ``neck_edge_list.pkl`` are
    lists of Python ints and ``neck_list.pkl`` a list of numpy int64 scalars, as in the public
    files. Tensors (``torch.save``): ``hair_faces.pth`` / ``neck_faces.pth`` ``(1, Fh, 3)`` int64,
    ``faces_v2.pth`` / ``uvfaces_v2.pth`` ``(1, F + M, 3)`` int64, ``vertex_uvcoords.pth``
    ``(1, N, 2)`` float32, ``u_full.pt`` ``(3N, 60)`` float32, ``mean_deform.pt`` ``(N, 3)`` float32.
    """
    rome_dir = Path(rome_dir)
    rome_dir.mkdir(parents=True, exist_ok=True)
    n = data.vertex_uvcoords.shape[0]
    if data.basis.shape != (3 * n, NUM_HAIR_COMPONENTS + NUM_NECK_COMPONENTS):
        raise InputError(f"SyntheticRomeData.basis: expected ({3 * n}, 60), found {data.basis.shape}")
    if data.mean_deform.shape != (n, 3):
        raise InputError(f"SyntheticRomeData.mean_deform: expected ({n}, 3), found {data.mean_deform.shape}")
    _dump_list([int(i) for i in data.hair_list], rome_dir / "hair_list.pkl")
    _dump_list([np.int64(i) for i in data.neck_list], rome_dir / "neck_list.pkl")
    _dump_list([int(i) for i in data.hair_edge_list], rome_dir / "hair_edge_list.pkl")
    _dump_list([int(i) for i in data.neck_edge_list], rome_dir / "neck_edge_list.pkl")
    _save_tensor(data.hair_faces.astype(np.int64)[None], rome_dir / "hair_faces.pth")
    _save_tensor(data.neck_faces.astype(np.int64)[None], rome_dir / "neck_faces.pth")
    _save_tensor(data.faces.astype(np.int64)[None], rome_dir / "faces_v2.pth")
    _save_tensor(data.uv_faces.astype(np.int64)[None], rome_dir / "uvfaces_v2.pth")
    _save_tensor(data.vertex_uvcoords.astype(np.float32)[None], rome_dir / "vertex_uvcoords.pth")
    _save_tensor(data.basis.astype(np.float32), rome_dir / "u_full.pt")
    _save_tensor(data.mean_deform.astype(np.float32), rome_dir / "mean_deform.pt")
    logger.info("wrote synthetic ROME data (%d vertices) to %s", n, rome_dir)


__all__ = [
    "NUM_HAIR_COMPONENTS",
    "NUM_NECK_COMPONENTS",
    "SyntheticRomeData",
    "build_rome_data",
    "write_rome_files",
]
