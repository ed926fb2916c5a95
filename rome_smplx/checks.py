"""One shape check for every tensor argument: :func:`check_shape`.

A shape is written the way docstrings write it, ``"B,3,H,W"``: a number is a fixed size, a name is a
size that must be the same wherever the name appears (in this call, or in the ``dims`` passed in from
an earlier call), ``*`` is any size, ``...`` any number of dimensions, and ``1|C`` either of two
sizes. A mismatch raises :class:`~rome_smplx.errors.ShapeError` (an
:class:`~rome_smplx.errors.InputError`) naming the argument, the expected shape with the sizes
already known, and the shape found.

Example:
    >>> import torch
    >>> from rome_smplx.checks import check_shape
    >>> dims = check_shape(torch.zeros(2, 3, 8, 8), "B,3,H,W", "image")
    >>> dims
    {'B': 2, 'H': 8, 'W': 8}
    >>> check_shape(torch.zeros(2, 1, 8, 4), "B,1|C,H,W", "mask", dims={**dims, "C": 3})
    Traceback (most recent call last):
    ...
    rome_smplx.errors.ShapeError: mask: expected a tensor of shape (B, 1|C, H, W) with B=2, C=3, H=8, W=8, found (2, 1, 8, 4)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch

from rome_smplx.errors import ShapeError

__all__ = ["check_shape", "parse_shape"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_KINDS = {"float": "a floating-point tensor", "int": "an integer tensor", None: "a tensor"}


def parse_shape(shape: str | Sequence[str | int]) -> tuple[str, ...]:
    """The tokens of a shape spec: ``"B,3,H,W"`` or ``["B", 3, "H", "W"]`` -> ``("B", "3", "H", "W")``.

    Raises:
        ValueError: a token is not a number, a name, ``*``, ``...`` or alternatives ``a|b``, or
            ``...`` appears more than once (a mistake in the calling code, not in the input).
    """
    tokens = shape.split(",") if isinstance(shape, str) else [str(t) for t in shape]
    out = tuple(t.strip() for t in tokens if t.strip())
    for t in out:
        if t in ("*", "..."):
            continue
        for alt in t.split("|"):
            if not (alt.isdigit() or _NAME.match(alt)):
                raise ValueError(f"check_shape: bad token {t!r} in shape {shape!r}")
    if out.count("...") > 1:
        raise ValueError(f"check_shape: '...' may appear once, found {shape!r}")
    return out


def _fits(token: str, size: int, dims: dict[str, int]) -> bool:
    """Does ``size`` fit ``token``? Binds a name seen for the first time (alternatives never bind)."""
    if token == "*":
        return True
    alts = token.split("|")
    if len(alts) == 1 and not token.isdigit() and token not in dims:
        dims[token] = size
        return True
    for alt in alts:
        if alt.isdigit():
            if int(alt) == size:
                return True
        elif alt not in dims or dims[alt] == size:
            return True
    return False


def _want(tokens: Sequence[str], dims: Mapping[str, int]) -> str:
    text = "(" + ", ".join(tokens) + ("," if len(tokens) == 1 else "") + ")"
    names = [n for t in tokens for n in t.split("|") if n in dims]
    known = ", ".join(f"{n}={dims[n]}" for n in dict.fromkeys(names))
    return f"{text} with {known}" if known else text


def check_shape(
    x: Any,
    shape: str | Sequence[str | int],
    name: str = "x",
    *,
    dims: Mapping[str, int] | None = None,
    dtype: Literal["float", "int"] | None = None,
) -> dict[str, int]:
    """Check that ``x`` is a tensor of ``shape``; return the sizes of the named dimensions.

    Args:
        x: the value to check (anything: a non-tensor fails with its type).
        shape: ``"B,3,H,W"``-style spec (see the module docstring), or a sequence of tokens.
        name: how the message names ``x`` (``"image"``, ``"ssim: mask"``).
        dims: sizes already known (``{"B": 2}``), e.g. the result of an earlier call for a tensor
            that must agree with this one. Not modified.
        dtype: ``"float"`` (floating point) or ``"int"`` (integer, not bool); ``None`` accepts any.

    Returns:
        ``dims`` updated with the sizes of the names ``shape`` binds, e.g. ``{"B": 2, "H": 8, "W": 8}``.

    Raises:
        ShapeError: ``x`` is not a tensor, has another shape, or another kind of dtype. The message
            is ``"<name>: expected a tensor of shape (B, 3, H, W) [with B=2, ...], found
            (2, 4, 8, 8)"``; for a wrong type or dtype it says which kind of tensor was expected
            (``"a floating-point tensor"``) and the type or dtype found.
    """
    tokens = parse_shape(shape)
    known = dict(dims or {})
    kind = _KINDS[dtype]
    if not isinstance(x, torch.Tensor):
        raise ShapeError(f"{name}: expected {kind} of shape {_want(tokens, known)}, found {type(x).__name__}")
    found = tuple(int(s) for s in x.shape)
    bound = dict(known)
    if "..." in tokens:
        i = tokens.index("...")
        head, tail = tokens[:i], tokens[i + 1:]
        ok = len(found) >= len(head) + len(tail)
        pairs = list(zip(head, found)) + (list(zip(tail, found[len(found) - len(tail):])) if tail else [])
    else:
        ok = len(found) == len(tokens)
        pairs = list(zip(tokens, found))
    ok = ok and all(_fits(t, s, bound) for t, s in pairs)
    if not ok:
        raise ShapeError(f"{name}: expected a tensor of shape {_want(tokens, known)}, found {found}")
    if (dtype == "float" and not x.is_floating_point()) or (
        dtype == "int" and (x.is_floating_point() or x.is_complex() or x.dtype == torch.bool)
    ):
        raise ShapeError(f"{name}: expected {kind} of shape {_want(tokens, known)}, found dtype {x.dtype}")
    return bound
