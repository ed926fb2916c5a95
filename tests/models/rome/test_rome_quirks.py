"""The release's quirks as profile switches: G_geom's UV input, the mask opening, chained WS means."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from rome_smplx.errors import InputError
from rome_smplx.geometry.harmonic import harmonic_encoding
from rome_smplx.models.rome import RomeProfile, get_profile
from rome_smplx.models.rome.layers import standardize_weight
from rome_smplx.render.neural import DeferredNeuralRenderer, hard_mask, morphological_opening


# ------------------------------------------------------------------ profiles carry the switches
@pytest.mark.parametrize("size", ["full", "small"])
def test_official_has_the_release_quirks_paper_the_clean_versions(size):
    off, pap = get_profile("official", size), get_profile("paper", size)
    assert (off.mlp_uv_grid_size, off.mask_opening, off.landmark_contour) == (256, "vertical", "release")
    assert (pap.mlp_uv_grid_size, pap.mask_opening, pap.landmark_contour) == (None, "square", "head")


def test_profiles_saved_before_the_switches_load_clean():
    d = get_profile("official", "small").to_dict()
    for k in ("mlp_uv_grid_size", "mask_opening", "landmark_contour"):
        d.pop(k)
    p = RomeProfile.from_dict(d)
    assert (p.mlp_uv_grid_size, p.mask_opening, p.landmark_contour) == (None, "square", "head")
    full = get_profile("official", "small")
    assert RomeProfile.from_dict(full.to_dict()) == full


@pytest.mark.parametrize("field,value", [("mask_opening", "round"), ("mlp_uv_grid_size", 1),
                                         ("mlp_uv_grid_size", True), ("landmark_contour", "x")])
def test_bad_switch_values_raise(field, value):
    with pytest.raises(InputError, match=field):
        dataclasses.replace(get_profile("official", "small"), **{field: value})


# ------------------------------------------------------------------ G_geom's UV input
def test_grid_sampled_uv_analytic():
    prof = get_profile("official", "small")
    s = prof.mlp_uv_grid_size
    # inside the outer half texels the ramp is reproduced scaled by S / (S - 1)
    inner = torch.tensor([[0.0, 0.0], [0.5, -0.25], [-0.9, 0.99], [0.99, -0.99]])
    torch.testing.assert_close(prof.offset_mlp_uv(inner), inner * s / (s - 1), rtol=0, atol=2e-6)
    # on an edge half of the bilinear footprint is zero padding, at a corner three quarters
    k = s / (s - 1)
    edge = torch.tensor([[1.0, 0.5], [-0.5, -1.0], [1.0, -1.0], [-1.0, 1.0]])
    expect = torch.tensor([[0.5, 0.25 * k], [-0.25 * k, -0.5], [0.25, -0.25], [-0.25, 0.25]])
    torch.testing.assert_close(prof.offset_mlp_uv(edge), expect, rtol=0, atol=2e-6)
    # any leading shape; the paper profile leaves UVs alone
    uv = torch.rand(2, 7, 2) * 2 - 1
    assert prof.offset_mlp_uv(uv).shape == (2, 7, 2)
    assert torch.equal(get_profile("paper", "small").offset_mlp_uv(uv), uv)


def test_grid_sampled_uv_changes_the_encoding_by_up_to_two():
    prof = get_profile("official", "small")
    u = torch.linspace(-1, 1, 2001)
    uv = torch.stack([u, u.flip(0)], -1)
    diff = (harmonic_encoding(prof.offset_mlp_uv(uv), 6, "pow2") - harmonic_encoding(uv, 6, "pow2")).abs()
    assert 1.5 < float(diff.max()) <= 2.0 + 1e-6


# ------------------------------------------------------------------ mask opening
def test_vertical_opening_keeps_tall_thin_shapes_only():
    m = torch.zeros(1, 1, 40, 40)
    m[0, 0, 5:25, 3:6] = 1  # 20 tall, 3 wide
    m[0, 0, 30:35, 10:30] = 1  # 5 tall, 20 wide
    vert = morphological_opening(m, 9, "vertical")
    square = morphological_opening(m, 9, "square")
    assert int(vert.sum()) == 60 and bool(vert[0, 0, 5:25, 3:6].all())
    assert int(square.sum()) == 0
    # at the border the image edge does not erode
    b = torch.zeros(1, 1, 20, 20)
    b[0, 0, :4, 8] = 1
    assert int(morphological_opening(b, 9, "vertical").sum()) == 0  # 4 tall < 9
    b[0, 0, :9, 8] = 1
    assert int(morphological_opening(b, 9, "vertical").sum()) == 9


def test_vertical_opening_is_what_opencv_does_on_a_1xHxW_array():
    cv2 = pytest.importorskip("cv2")
    g = torch.Generator().manual_seed(3)
    smooth = torch.nn.functional.avg_pool2d(torch.rand(2, 1, 70, 64, generator=g), 5, 1, 2)
    mask = (smooth > 0.5).float()
    ours = hard_mask(mask, 0.5, 9, "vertical")
    for i in range(2):
        arr = mask[i].numpy().astype(np.float32) * 255  # (1, H, W), as the release passes it
        ref = cv2.morphologyEx(arr, cv2.MORPH_OPEN, np.ones((9, 9), np.uint8)) / 255
        assert np.array_equal(ours[i].numpy(), ref)
        true_square = cv2.morphologyEx(arr[0], cv2.MORPH_OPEN, np.ones((9, 9), np.uint8)) / 255
        assert np.array_equal(hard_mask(mask, 0.5, 9, "square")[i, 0].numpy(), true_square)
    assert not torch.equal(ours, hard_mask(mask, 0.5, 9, "square"))


def test_opening_arguments_are_checked():
    m = torch.zeros(1, 1, 8, 8)
    with pytest.raises(InputError, match="shape"):
        morphological_opening(m, 9, "diagonal")
    with pytest.raises(InputError, match="odd"):
        morphological_opening(m, 4, "vertical")
    with pytest.raises(InputError, match="opening_shape"):
        DeferredNeuralRenderer(lambda x: (x, x), lambda x: x, 8, opening_shape="disk")


# ------------------------------------------------------------------ weight standardisation
def test_standardisation_uses_chained_means():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(16, 24, 3, 3, generator=g) * 3 + 0.7
    out = standardize_weight(w)
    mean = w.mean(1, keepdim=True).mean(2, keepdim=True).mean(3, keepdim=True)
    c = w - mean
    expect = c / (c.reshape(16, -1).std(1) + 1e-5).reshape(-1, 1, 1, 1)
    assert torch.equal(out, expect)  # bit for bit
    # the same mathematics as one mean over (I, kh, kw)
    one = w - w.mean((1, 2, 3), keepdim=True)
    torch.testing.assert_close(out, one / (one.reshape(16, -1).std(1) + 1e-5).reshape(-1, 1, 1, 1), rtol=1e-5, atol=1e-6)
    flat = out.double().reshape(16, -1)
    assert float(flat.mean(1).abs().max()) < 1e-6
    torch.testing.assert_close(flat.std(1), torch.ones(16, dtype=torch.float64), rtol=1e-4, atol=0)
