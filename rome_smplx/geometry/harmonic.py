"""Harmonic (Fourier-feature) encoding of coordinates, as used by ROME's geometry and render inputs.

Two frequency conventions exist:

* ``"pow2"`` (the released code): frequencies ``2**k`` for ``k = 0 .. K-1`` (1, 2, 4, ...).
* ``"linear"`` (the paper's supplementary text): frequencies ``k`` for ``k = 1 .. K``.

Neither multiplies by pi. The channel order is the release's:
``[x, sin(f_0 x), cos(f_0 x), sin(f_1 x), cos(f_1 x), ...]`` where every term is the whole input
vector, so a 3-D input gives ``[x0, x1, x2, sin x0, sin x1, sin x2, cos x0, ...]``.
"""

from __future__ import annotations

import torch

from rome_smplx.errors import InputError

FREQUENCY_CONVENTIONS = ("pow2", "linear")


def harmonic_frequencies(
    num_frequencies: int,
    frequencies: str = "pow2",
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The K frequency multipliers of a convention, shape ``(K,)``.

    ``"pow2"`` gives ``2**k`` (k = 0..K-1), ``"linear"`` gives ``k`` (k = 1..K).
    """
    if isinstance(num_frequencies, bool) or not isinstance(num_frequencies, int) or num_frequencies < 0:
        raise InputError(f"harmonic encoding: num_frequencies must be an int >= 0, found {num_frequencies!r}")
    if frequencies == "pow2":
        # Exact powers of two, computed the way the release does (2 ** linspace(0, K-1, K)).
        return 2.0 ** torch.linspace(0.0, num_frequencies - 1, num_frequencies, dtype=dtype, device=device)
    if frequencies == "linear":
        return torch.arange(1, num_frequencies + 1, dtype=dtype, device=device)
    raise InputError(
        f"harmonic encoding: frequencies must be one of {FREQUENCY_CONVENTIONS}, found {frequencies!r}"
    )


def harmonic_channels(in_channels: int, num_frequencies: int, include_input: bool = True) -> int:
    """Width of the encoding of a ``in_channels``-vector: ``D * (include_input + 2K)``.

    Example: 3 channels at K = 6 give 39, 2 channels give 26.
    """
    return in_channels * (int(include_input) + 2 * num_frequencies)


def harmonic_encoding(
    x: torch.Tensor,
    num_frequencies: int = 6,
    frequencies: str = "pow2",
    include_input: bool = True,
) -> torch.Tensor:
    """Encode ``x`` along its last dimension.

    Args:
        x: ``(..., D)`` floating tensor.
        num_frequencies: K, the number of frequencies.
        frequencies: ``"pow2"`` (release: 1, 2, 4, ...) or ``"linear"`` (paper: 1, 2, 3, ...).
        include_input: put ``x`` itself first, as ROME does.

    Returns:
        ``(..., D * (include_input + 2K))``: ``[x, sin(f_0 x), cos(f_0 x), ..., sin(f_{K-1} x),
        cos(f_{K-1} x)]``.
    """
    if not torch.is_tensor(x):
        raise InputError(f"harmonic encoding: x must be a tensor, found {type(x).__name__}")
    if not x.is_floating_point():
        raise InputError(f"harmonic encoding: x must be floating point, found dtype {x.dtype}")
    if x.dim() < 1:
        raise InputError("harmonic encoding: x must have at least one dimension (..., D), found a scalar")
    freqs = harmonic_frequencies(num_frequencies, frequencies, dtype=x.dtype, device=x.device)
    terms = [x] if include_input else []
    for f in freqs:
        scaled = x * f
        terms.append(torch.sin(scaled))
        terms.append(torch.cos(scaled))
    if not terms:
        return x.new_empty(*x.shape[:-1], 0)
    if len(terms) == 1:
        return terms[0]
    return torch.cat(terms, dim=-1)


__all__ = ["FREQUENCY_CONVENTIONS", "harmonic_channels", "harmonic_encoding", "harmonic_frequencies"]
