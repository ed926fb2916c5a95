"""Deferred neural renderer pieces: world2uv, texture sampling, mask opening."""

from __future__ import annotations

import torch

from rome_smplx.render.neural import hard_mask, morphological_opening, sample_texture, world2uv


def _quad():
    # Two triangles covering the whole UV square, vertex positions = a linear function of UV.
    uv = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    return uv, faces


def test_world2uv_interpolates_a_linear_field_exactly():
    uv, faces = _quad()
    # position = (2 * u_ndc, 3 * v_ndc, 0.5): linear, so barycentric interpolation is exact.
    verts = torch.stack([2 * uv[:, 0], 3 * uv[:, 1], torch.full((4,), 0.5)], dim=-1)[None]
    out = world2uv(verts, faces, uv, faces, 16, backend="torch")
    assert out.shape == (1, 3, 16, 16)
    centres = (torch.arange(16) + 0.5) / 16 * 2 - 1
    yy, xx = torch.meshgrid(centres, centres, indexing="ij")
    covered = out.abs().sum(1)[0] > 0
    # Pixel centres exactly on the shared diagonal belong to neither triangle (no top-left rule).
    assert covered.float().mean() > 0.9
    torch.testing.assert_close(out[0, 0][covered], 2 * xx[covered], atol=1e-5, rtol=0)
    torch.testing.assert_close(out[0, 1][covered], 3 * yy[covered], atol=1e-5, rtol=0)
    torch.testing.assert_close(out[0, 2][covered], torch.full_like(xx[covered], 0.5))


def test_world2uv_row_zero_is_v_one():
    # ROME's UV convention: y = -(2v - 1), so the texel row 0 holds v = 1 (y = -1).
    uv = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [-1.0, 0.0]])  # upper-left half of the map
    faces = torch.tensor([[0, 1, 2]])
    verts = torch.ones(1, 3, 1)
    out = world2uv(verts, faces, uv, faces, 8, backend="torch")[0, 0]
    assert out[:4].sum() > 0 and out[4:].sum() == 0


def test_sample_texture_reads_texels_and_masks():
    tex = torch.arange(16.0).view(1, 1, 4, 4)
    centres = (torch.arange(4) + 0.5) / 4 * 2 - 1
    yy, xx = torch.meshgrid(centres, centres, indexing="ij")
    grid = torch.stack([xx, yy], -1)[None]
    cov = torch.ones(1, 1, 4, 4)
    cov[..., 0, 0] = 0
    out = sample_texture(tex, grid, cov)
    expected = tex.clone()
    expected[..., 0, 0] = 0
    torch.testing.assert_close(out, expected)


def test_opening_removes_small_blobs_and_keeps_large_squares():
    m = torch.zeros(1, 1, 64, 64)
    m[..., 5:10, 5:10] = 1  # 5x5: smaller than the 9x9 element -> removed
    m[..., 20:50, 20:50] = 1  # 30x30 -> kept exactly
    out = morphological_opening(m, 9)
    assert out[..., 5:10, 5:10].sum() == 0
    torch.testing.assert_close(out[..., 20:50, 20:50], torch.ones(1, 1, 30, 30))
    assert out.sum() == 900
    # A square touching the border is not eroded by the border.
    b = torch.zeros(1, 1, 32, 32)
    b[..., :12, :12] = 1
    assert morphological_opening(b, 9).sum() == 144


def test_hard_mask_thresholds_at_0_6():
    m = torch.full((1, 1, 32, 32), 0.59)
    assert hard_mask(m).sum() == 0
    m[..., 4:28, 4:28] = 0.61
    assert hard_mask(m).sum() == 24 * 24
