"""The official and paper profiles: structure, harmonic convention, forward/backward."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rome_smplx.errors import InputError
from rome_smplx.models.rome import RomeNetworks, SegmentationUNet, get_profile
from rome_smplx.models.rome.layers import WSConv2d


def _convs(module):
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


def _upsample_modes(unet):
    return {m.mode for m in unet.modules() if isinstance(m, nn.Upsample)}


@pytest.mark.parametrize("size,base", [("full", 64), ("small", 8)])
def test_paper_profile_structure(size, base):
    nets = RomeNetworks.from_profile("paper", size, device="meta")
    img, seg = nets.unet, nets.unet_seg
    assert isinstance(seg, SegmentationUNet)
    # E_img: RGB only, max-pooling, nearest up-sampling.
    assert img.to_outputs.out_channels == 3 and isinstance(img.downsample, nn.MaxPool2d)
    assert _upsample_modes(img) == {"nearest"}
    # Segmentation U-Net: one mask logit, average pooling, bilinear up-sampling, half the channels.
    assert seg.to_outputs.out_channels == 1 and isinstance(seg.downsample, nn.AvgPool2d)
    assert _upsample_modes(seg) == {"bilinear"} and seg.upsample.align_corners is False
    img_widths = [c.out_channels for c in _convs(img)]
    seg_widths = [c.out_channels for c in _convs(seg)]
    assert img_widths[:-1] == [2 * w for w in seg_widths[:-1]]
    assert img_widths[0] == base and seg_widths[0] == base // 2
    assert seg.encoder[0][0].main[0].in_channels == img.encoder[0][0].main[0].in_channels == 47
    # GroupNorm + weight standardisation in every block of both.
    for unet in (img, seg):
        assert all(isinstance(c, WSConv2d) for c in _convs(unet) if c is not unet.to_outputs)
        assert all(g.num_groups == min(32, g.num_channels) for g in unet.modules() if isinstance(g, nn.GroupNorm))
    # Harmonic frequencies k = 1..K.
    p = nets.profile
    assert p.harmonic_frequencies == "linear" and p.xyz_channels == 39 and p.uv_channels == 26
    x = torch.full((1, 3), 0.5)
    torch.testing.assert_close(p.harmonic(x)[0, 15:18], torch.sin(torch.full((3,), 1.5)))  # k = 3


def test_official_profile_structure():
    nets = RomeNetworks.from_profile("official", "small", device="meta")
    assert nets.unet_seg is None and nets.discriminator is None
    assert nets.unet.to_outputs.out_channels == 4 and isinstance(nets.unet.downsample, nn.MaxPool2d)
    assert nets.profile.harmonic_frequencies == "pow2"
    x = torch.full((1, 3), 0.5)
    torch.testing.assert_close(nets.profile.harmonic(x)[0, 15:18], torch.sin(torch.full((3,), 2.0)))  # 2^2


@pytest.mark.parametrize("name", ["paper", "official"])
def test_forward_backward_small(name):
    torch.manual_seed(0)
    nets = RomeNetworks.from_profile(name, "small", with_discriminator=True)
    p = nets.profile
    image, mask = torch.rand(2, 3, 32, 32), (torch.rand(2, 1, 32, 32) > 0.5).float()
    tex = nets.encode_texture(image, mask)
    assert tex.shape == (2, 8, 32, 32)
    xyz = torch.randn(2, 32, 32, 3) * p.xyz_scale
    geom = nets.mesh_deformer(torch.cat([tex, p.harmonic(xyz).permute(0, 3, 1, 2)], 1))
    assert geom.shape == (2, 32, 32, 32)
    uv = torch.rand(2, 50, 1, 2) * 2 - 1
    sampled = torch.nn.functional.grid_sample(geom, uv, align_corners=False)[..., 0].permute(0, 2, 1)
    offsets = torch.tanh(nets.mlp_deformer(torch.cat([sampled, p.harmonic(uv[:, :, 0])], -1)))
    assert offsets.shape == (2, 50, 3)
    rgb_logit, mask_logit = nets.render_logits(torch.cat([tex, p.harmonic(torch.randn(2, 32, 32, 3)).permute(0, 3, 1, 2)], 1))
    assert rgb_logit.shape == (2, 3, 32, 32) and mask_logit.shape == (2, 1, 32, 32)
    scores = nets.discriminator(torch.sigmoid(rgb_logit)).scores[0][0]
    loss = offsets.square().mean() + rgb_logit.mean() + mask_logit.mean() - scores.mean()
    loss.backward()
    for attr in ["autoencoder", "mesh_deformer", "mlp_deformer", "unet"] + (["unet_seg"] if name == "paper" else []):
        grads = [q.grad for q in getattr(nets, attr).parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), attr
        assert sum(g.abs().sum() for g in grads) > 0, attr


def test_profile_round_trip_and_errors():
    p = get_profile("paper", "small")
    assert type(p).from_dict(p.to_dict()) == p
    with pytest.raises(InputError):
        get_profile("preprint")
    with pytest.raises(InputError):
        get_profile("official", "medium")
    nets = RomeNetworks.from_profile("official", "small")
    with pytest.raises(InputError, match="47"):
        nets.unet(torch.zeros(1, 40, 16, 16))
    with pytest.raises(InputError):
        nets.encode_texture(torch.zeros(1, 3, 16, 16), torch.zeros(1, 1, 8, 8))
