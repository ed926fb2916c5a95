"""check_shape: one shape check with one message (argument, expected shape with known sizes, found)."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch

import rome_smplx.checks
from rome_smplx.checks import check_shape, parse_shape
from rome_smplx.errors import InputError, ShapeError


def test_returns_the_sizes_of_the_names() -> None:
    assert check_shape(torch.zeros(2, 3, 5, 7), "B,3,H,W", "image") == {"B": 2, "H": 5, "W": 7}
    assert check_shape(torch.zeros(4, 3), ["N", 3]) == {"N": 4}
    assert check_shape(torch.zeros(()), "") == {}


def test_a_name_must_agree_with_itself_and_with_dims() -> None:
    assert check_shape(torch.zeros(3, 3), "N,N") == {"N": 3}
    with pytest.raises(ShapeError, match=r"^R: expected a tensor of shape \(N, N\), found \(3, 4\)$"):
        check_shape(torch.zeros(3, 4), "N,N", "R")
    dims = {"B": 2}
    with pytest.raises(ShapeError, match=r"^cam: expected a tensor of shape \(B, 3\) with B=2, found \(5, 3\)$"):
        check_shape(torch.zeros(5, 3), "B,3", "cam", dims=dims)
    assert dims == {"B": 2}  # not modified
    assert check_shape(torch.zeros(2, 3), "B,3", dims=dims) == {"B": 2}


def test_fixed_sizes_and_number_of_dimensions() -> None:
    with pytest.raises(ShapeError, match=r"image: expected a tensor of shape \(B, 3, H, W\), found \(2, 4, 5, 5\)"):
        check_shape(torch.zeros(2, 4, 5, 5), "B,3,H,W", "image")
    with pytest.raises(ShapeError, match=r"found \(3, 5, 5\)"):
        check_shape(torch.zeros(3, 5, 5), "B,3,H,W", "image")
    with pytest.raises(ShapeError, match=r"v: expected a tensor of shape \(3,\), found \(2,\)"):
        check_shape(torch.zeros(2), "3", "v")


def test_wildcards_ellipsis_and_alternatives() -> None:
    assert check_shape(torch.zeros(2, 9, 3), "*,V,3") == {"V": 9}
    assert check_shape(torch.zeros(3, 3), "...,3,3") == {}
    assert check_shape(torch.zeros(2, 5, 3, 3), "...,3,3") == {}
    assert check_shape(torch.zeros(2, 5, 3), "B,...") == {"B": 2}
    assert check_shape(torch.zeros(2, 5, 4, 3), "B,...,3") == {"B": 2}
    with pytest.raises(ShapeError, match=r"expected a tensor of shape \(\.\.\., 3, 3\), found \(3,\)"):
        check_shape(torch.zeros(3), "...,3,3")
    dims = {"B": 2, "C": 3}
    for c in (1, 3):
        check_shape(torch.zeros(2, c, 4, 4), "B,1|C,H,W", "mask", dims=dims)
    with pytest.raises(ShapeError, match=r"mask: expected a tensor of shape \(B, 1\|C, H, W\) with B=2, C=3, found \(2, 2, 4, 4\)"):
        check_shape(torch.zeros(2, 2, 4, 4), "B,1|C,H,W", "mask", dims=dims)


def test_type_and_dtype() -> None:
    with pytest.raises(ShapeError, match=r"verts: expected a floating-point tensor of shape \(B, V, 3\), found ndarray"):
        check_shape(np.zeros((1, 2, 3)), "B,V,3", "verts", dtype="float")
    with pytest.raises(ShapeError, match=r"found dtype torch.int64"):
        check_shape(torch.zeros(1, 2, 3, dtype=torch.long), "B,V,3", "verts", dtype="float")
    with pytest.raises(ShapeError, match=r"faces: expected an integer tensor of shape \(F, 3\), found dtype torch.bool"):
        check_shape(torch.zeros(4, 3, dtype=torch.bool), "F,3", "faces", dtype="int")
    assert check_shape(torch.zeros(4, 3, dtype=torch.int32), "F,3", "faces", dtype="int") == {"F": 4}


def test_shape_error_is_an_input_error() -> None:
    with pytest.raises(InputError):
        check_shape(torch.zeros(1), "2")


def test_bad_specs_are_programming_errors() -> None:
    for spec in ("B,3.5", "...,B,...", "B,-1", "B,a b"):
        with pytest.raises(ValueError):
            parse_shape(spec)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(rome_smplx.checks, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 3 and result.failed == 0
