"""Harmonic encoding: the reference fixture (2^k), the paper's linear frequencies, channel order."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from rome_smplx.errors import InputError
from rome_smplx.geometry import harmonic_encoding
from rome_smplx.geometry.harmonic import harmonic_channels, harmonic_frequencies
from tests.conftest import missing_fixture_reason, rome_reference_path


def _fixture_file() -> Path | None:
    return rome_reference_path("harmonic_encoding_small_A.pt")


_FILE = _fixture_file()
CASES = (torch.load(_FILE, weights_only=True)["cases"] if _FILE is not None else
         [pytest.param(None, id="reference-missing", marks=pytest.mark.skip(reason=missing_fixture_reason(
             "rome_reference", "harmonic_encoding_small_A.pt")))])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_reference_cases_pow2(case):
    n = case["num_encoding_functions"]
    out = harmonic_encoding(case["input"], n, frequencies="pow2", include_input=True)
    torch.testing.assert_close(out, case["output"], rtol=1e-4, atol=1e-5)
    out64 = harmonic_encoding(case["input"].double(), n, frequencies="pow2")
    torch.testing.assert_close(out64, case["output_float64"], rtol=1e-7, atol=1e-9)


def test_linear_frequencies_paper_widths_and_values():
    torch.manual_seed(0)
    xyz = torch.randn(4, 5, 3, dtype=torch.float64)
    uv = torch.rand(7, 2, dtype=torch.float64) * 2 - 1
    exyz = harmonic_encoding(xyz, 6, frequencies="linear")
    euv = harmonic_encoding(uv, 6, frequencies="linear")
    assert exyz.shape == (4, 5, 39) and euv.shape == (7, 26)
    assert harmonic_channels(3, 6) == 39 and harmonic_channels(2, 6) == 26
    # Analytic: block k (k = 1..6) is [sin(k x), cos(k x)], after the raw input.
    torch.testing.assert_close(exyz[..., :3], xyz)
    for k in range(1, 7):
        s = 3 + (k - 1) * 6
        torch.testing.assert_close(exyz[..., s : s + 3], torch.sin(k * xyz), rtol=0, atol=1e-15)
        torch.testing.assert_close(exyz[..., s + 3 : s + 6], torch.cos(k * xyz), rtol=0, atol=1e-15)
    assert torch.equal(harmonic_frequencies(6, "linear"), torch.arange(1.0, 7.0))
    assert torch.equal(harmonic_frequencies(6, "pow2"), torch.tensor([1.0, 2, 4, 8, 16, 32]))


def test_pow2_and_linear_differ_beyond_the_first_two_frequencies():
    x = torch.full((1, 1), 0.3, dtype=torch.float64)
    a = harmonic_encoding(x, 3, "pow2")  # 1, 2, 4
    b = harmonic_encoding(x, 3, "linear")  # 1, 2, 3
    torch.testing.assert_close(a[:, :5], b[:, :5])
    assert math.isclose(a[0, 5].item(), math.sin(1.2)) and math.isclose(b[0, 5].item(), math.sin(0.9))


def test_without_input_and_zero_frequencies():
    x = torch.randn(2, 3)
    assert harmonic_encoding(x, 2, include_input=False).shape == (2, 12)
    assert torch.equal(harmonic_encoding(x, 0), x)
    assert harmonic_encoding(x, 0, include_input=False).shape == (2, 0)


def test_gradient_matches_analytic():
    x = torch.tensor([[0.4, -1.1]], dtype=torch.float64, requires_grad=True)
    harmonic_encoding(x, 2, "linear").sum().backward()
    xd = x.detach()
    expect = 1 + sum(k * (torch.cos(k * xd) - torch.sin(k * xd)) for k in (1, 2))
    torch.testing.assert_close(x.grad, expect)


@pytest.mark.parametrize(
    "args",
    [(torch.zeros(2, 3, dtype=torch.long), 6, "pow2"), (torch.zeros(2, 3), -1, "pow2"), (torch.zeros(2, 3), 6, "pi")],
)
def test_bad_input_raises(args):
    with pytest.raises(InputError):
        harmonic_encoding(*args)
