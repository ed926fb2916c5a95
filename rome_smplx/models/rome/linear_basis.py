"""The linear model's offset basis in ROME's layout (``u_full.pt`` / ``mean_deform.pt``).

ROME's fast variant writes a head's hair/shoulder offsets as ``F eta + mean``: ``F`` a (3N, K) basis
with vertex-major rows (row ``3 v + c``) and orthonormal columns, the first ``num_hair`` (50)
supported on the hair vertices only and the last ``num_neck`` (10) on the neck vertices only;
``mean`` (N, 3) the mean offsets. The release ships the basis but not how it was made; the paper fits
it by PCA on offsets of the full model and projects offsets onto it by least squares.

* :func:`fit_pca_basis`: the basis and mean of a set of offsets (two PCA blocks, deterministic signs);
* :func:`project_coefficients`: ``eta = (F^T F)^-1 F^T (dv - mean)``.

Pure tensor functions (no module state); the distillation
(:mod:`rome_smplx.trainers.distill`) and hair editing (:mod:`rome_smplx.avatar.editing`) use them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from rome_smplx.errors import InputError

__all__ = ["fit_pca_basis", "project_coefficients"]


def _index_list(name: str, idx: Any, n: int) -> Tensor:
    t = torch.as_tensor(np.asarray(idx) if not isinstance(idx, Tensor) else idx).to(torch.long).flatten()
    if t.numel() == 0:
        raise InputError(f"fit_pca_basis: {name} is empty")
    if int(t.min()) < 0 or int(t.max()) >= n:
        raise InputError(f"fit_pca_basis: {name} indexes vertex {int(t.max())}, but the offsets have {n} vertices")
    return torch.unique(t)


def _pca_block(centred: Tensor, support: Tensor, k: int, n: int) -> tuple[Tensor, Tensor]:
    """Top-k principal directions of ``centred`` (M, N, 3) restricted to ``support`` -> ((3N, k), (k,))."""
    x = centred[:, support].reshape(centred.shape[0], -1).to(torch.float64)  # (M, 3|S|), vertex-major
    if x.shape[1] < k:
        raise InputError(f"fit_pca_basis: {k} components requested on {support.numel()} vertices "
                         f"({x.shape[1]} coordinates)")
    _, s, vh = torch.linalg.svd(x, full_matrices=False)
    if vh.shape[0] < k:
        raise InputError(f"fit_pca_basis: {k} components need at least {k} offset sets, found {x.shape[0]}")
    comps = vh[:k]  # (k, 3|S|), orthonormal rows
    # deterministic signs: the largest-magnitude entry of each component is positive
    big = comps.abs().argmax(1)
    comps = comps * torch.sign(comps.gather(1, big[:, None]))
    block = torch.zeros(n, 3, k, dtype=torch.float64, device=centred.device)
    block[support] = comps.T.reshape(support.numel(), 3, k)
    var = s[:k] ** 2 / max(x.shape[0] - 1, 1)
    return block.reshape(3 * n, k), var


def fit_pca_basis(
    offsets: Tensor,
    hair_list: Any,
    neck_list: Any,
    num_hair: int = 50,
    num_neck: int = 10,
    deform_mask: Tensor | None = None,
    return_variance: bool = False,
) -> tuple[Tensor, Tensor] | tuple[Tensor, Tensor, Tensor]:
    """PCA basis of offset sets in ROME's layout.

    Args:
        offsets: (M, N, 3) offset sets (e.g. the full model's offsets on M images).
        hair_list: (Nh,) hair vertex indices; neck_list: (Nn,) neck/shoulder vertex indices.
        num_hair, num_neck: components per block (ROME: 50 and 10).
        deform_mask: optional (N,) bool; vertices outside it are left out of both supports and of
            the mean (ROME's deformable set excludes some front-of-throat neck vertices).
        return_variance: also return the explained variance of each column.

    Returns:
        basis (3N, K) float32 with ``K = num_hair + num_neck``, vertex-major rows (row ``3 v + c``),
        orthonormal columns; columns ``< num_hair`` are zero outside the hair vertices, the others
        zero outside the neck vertices; mean (N, 3) float32, the mean offset, zero outside the
        deformable vertices; [variance (K,) float32, descending within each block].
    """
    if not isinstance(offsets, Tensor) or offsets.dim() != 3 or offsets.shape[-1] != 3 or not offsets.is_floating_point():
        found = f"{tuple(offsets.shape)}" if isinstance(offsets, Tensor) else type(offsets).__name__
        raise InputError(f"fit_pca_basis: offsets must be a float tensor (M, N, 3), found {found}")
    if not bool(torch.isfinite(offsets).all()):
        raise InputError("fit_pca_basis: offsets contain NaN or inf values")
    if num_hair < 0 or num_neck < 0 or num_hair + num_neck == 0:
        raise InputError(f"fit_pca_basis: num_hair/num_neck must be >= 0 with a positive sum, found {num_hair}/{num_neck}")
    N = offsets.shape[1]
    hair = _index_list("hair_list", hair_list, N).to(offsets.device)
    neck = _index_list("neck_list", neck_list, N).to(offsets.device)
    if deform_mask is not None:
        if tuple(deform_mask.shape) != (N,):
            raise InputError(f"fit_pca_basis: deform_mask must have shape ({N},), found {tuple(deform_mask.shape)}")
        keep = deform_mask.to(offsets.device, torch.bool)
        hair, neck = hair[keep[hair]], neck[keep[neck]]
    both = np.intersect1d(hair.cpu().numpy(), neck.cpu().numpy())
    if both.size:
        raise InputError(f"fit_pca_basis: hair_list and neck_list share {both.size} vertices (e.g. {both[:5].tolist()}); "
                         "the two blocks need disjoint supports")
    support = torch.zeros(N, dtype=torch.bool, device=offsets.device)
    support[hair] = True
    support[neck] = True
    x = offsets.to(torch.float64)
    mean = x.mean(0) * support[:, None]
    centred = x - mean
    blocks, var = [], []
    for idx, k in ((hair, num_hair), (neck, num_neck)):
        if k:
            b, v = _pca_block(centred, idx, k, N)
            blocks.append(b)
            var.append(v)
    basis = torch.cat(blocks, 1).to(torch.float32)
    out = (basis, mean.to(torch.float32))
    return (*out, torch.cat(var).to(torch.float32)) if return_variance else out


def project_coefficients(offsets: Tensor, basis: Tensor, mean: Tensor) -> Tensor:
    """The paper's projection ``eta = (F^T F)^-1 F^T (dv - mean)``.

    Args:
        offsets: (B, N, 3) or (N, 3) offsets dv.
        basis: (3N, K) basis F (vertex-major rows).
        mean: (N, 3) mean offsets.

    Returns:
        (B, K) (or (K,) for unbatched input) coefficients, in the dtype of ``offsets``.
    """
    single = isinstance(offsets, Tensor) and offsets.dim() == 2
    if single:
        offsets = offsets[None]
    if not isinstance(offsets, Tensor) or offsets.dim() != 3 or offsets.shape[-1] != 3:
        raise InputError(f"project_coefficients: offsets must be (B, N, 3), found "
                         f"{tuple(offsets.shape) if isinstance(offsets, Tensor) else type(offsets).__name__}")
    B, N, _ = offsets.shape
    if basis.dim() != 2 or basis.shape[0] != 3 * N:
        raise InputError(f"project_coefficients: basis must be (3 * {N}, K), found {tuple(basis.shape)}")
    if tuple(mean.shape) != (N, 3):
        raise InputError(f"project_coefficients: mean must be ({N}, 3), found {tuple(mean.shape)}")
    Fm = basis.to(offsets.device, torch.float64)
    r = (offsets.to(torch.float64) - mean.to(offsets.device, torch.float64)).reshape(B, 3 * N)
    eta = torch.linalg.solve(Fm.T @ Fm, Fm.T @ r.T).T  # (B, K)
    eta = eta.to(offsets.dtype)
    return eta[0] if single else eta
