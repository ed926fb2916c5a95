"""Image metrics against skimage and analytic answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio as sk_psnr
from skimage.metrics import structural_similarity as sk_ssim

from rome_smplx.errors import CheckpointError, InputError
from rome_smplx.metrics import LPIPS, MS_SSIM_WEIGHTS, csim, load_lpips, lpips, ms_ssim, psnr, ssim
from rome_smplx.metrics.image import _filter_valid, _ssim_maps, gaussian_window


def _pair(shape, noise=0.2, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(*shape, generator=g, dtype=dtype)
    b = (a + noise * (torch.rand(*shape, generator=g, dtype=dtype) - 0.5)).clamp(0, 1)
    return a, b


def _np(t):
    return t.permute(1, 2, 0).numpy()


def test_psnr_matches_skimage_and_formula():
    a, b = _pair((3, 3, 32, 24))
    ours = psnr(a, b)
    for i in range(3):
        assert ours[i].item() == pytest.approx(sk_psnr(_np(a[i]), _np(b[i]), data_range=1.0), abs=1e-9)
    # constant error e everywhere: PSNR = -20 log10(e)
    x = torch.zeros(1, 3, 8, 8)
    assert psnr(x, x + 0.1).item() == pytest.approx(20.0, abs=1e-4)
    assert psnr(x, x + 0.1, data_range=255.0).item() == pytest.approx(20 * math.log10(2550), abs=1e-3)
    assert torch.isinf(psnr(x, x)).all()


def test_psnr_mask_counts_only_masked_pixels():
    a = torch.zeros(2, 3, 10, 10)
    b = a.clone()
    b[:, :, :5] = 0.1  # top half error 0.1
    b[:, :, 5:] = 0.5  # bottom half error 0.5
    mask = torch.zeros(2, 1, 10, 10)
    mask[:, :, :5] = 1
    assert torch.allclose(psnr(a, b, mask), torch.full((2,), 20.0), atol=1e-4)
    with pytest.raises(InputError, match="mask is empty"):
        psnr(a, b, torch.zeros(2, 1, 10, 10))
    with pytest.raises(InputError, match=r"psnr: mask: expected a tensor of shape \(B, 1\|C, H, W\) with B=2, C=3, H=10, W=10, found \(2, 1, 9, 10\)"):
        psnr(a, b, torch.ones(2, 1, 9, 10))


@pytest.mark.parametrize("shape", [(2, 3, 40, 50), (1, 1, 33, 33), (2, 3, 64, 64)])
def test_ssim_matches_skimage(shape):
    a, b = _pair(shape, noise=0.4, seed=shape[-1])
    ours = ssim(a, b)
    for i in range(shape[0]):
        if shape[1] == 1:
            ref = sk_ssim(a[i, 0].numpy(), b[i, 0].numpy(), gaussian_weights=True, sigma=1.5,
                          use_sample_covariance=False, data_range=1)
        else:
            ref = sk_ssim(_np(a[i]), _np(b[i]), gaussian_weights=True, sigma=1.5,
                          use_sample_covariance=False, data_range=1, channel_axis=2)
        assert abs(ours[i].item() - ref) < 1e-4
    # float32 agrees too
    assert torch.allclose(ssim(a.float(), b.float()).double(), ours, atol=1e-4)


def test_ssim_identity_symmetry_and_mask():
    a, b = _pair((2, 3, 32, 32), noise=0.5)
    assert torch.allclose(ssim(a, a), torch.ones(2, dtype=a.dtype))
    assert torch.allclose(ssim(a, b), ssim(b, a))
    # mask = all ones equals no mask; a mask over an identical region gives 1 there
    assert torch.allclose(ssim(a, b, torch.ones(2, 1, 32, 32, dtype=a.dtype)), ssim(a, b))
    c = b.clone()
    c[..., :, :16] = a[..., :, :16]  # left half identical
    m = torch.zeros(2, 1, 32, 32, dtype=a.dtype)
    m[..., :, :11] = 1  # window centres whose whole window lies in the identical part
    assert torch.allclose(ssim(a, c, m), torch.ones(2, dtype=a.dtype))
    with pytest.raises(InputError, match="at least 11"):
        ssim(a[..., :8, :8], b[..., :8, :8])


def test_gaussian_window_matches_scipy_taps():
    from scipy.ndimage import gaussian_filter1d

    impulse = np.zeros(21)
    impulse[10] = 1.0
    ref = gaussian_filter1d(impulse, 1.5, truncate=3.5)[5:16]  # skimage's truncate gives radius 5
    assert np.allclose(gaussian_window(11, 1.5, dtype=torch.float64).numpy(), ref, atol=1e-12)


def test_ms_ssim_analytic():
    a, b = _pair((2, 3, 180, 176), noise=0.6)
    assert torch.allclose(ms_ssim(a, a), torch.ones(2, dtype=a.dtype))
    v = ms_ssim(a, b)
    assert ((v > 0) & (v < 1)).all()
    assert torch.allclose(v, ms_ssim(b, a))
    # a single scale with weight 1 is SSIM
    assert torch.allclose(ms_ssim(a, b, weights=(1.0,)), ssim(a, b))
    # the product formula, scale by scale
    taps = gaussian_window(dtype=a.dtype)
    x, y, expect = a, b, torch.ones(2, dtype=a.dtype)
    for j, w in enumerate(MS_SSIM_WEIGHTS):
        if j:
            x, y = torch.nn.functional.avg_pool2d(x, 2), torch.nn.functional.avg_pool2d(y, 2)
        s, cs = _ssim_maps(x, y, 1.0, taps)
        val = (s if j == 4 else cs).flatten(1).mean(1).clamp_min(0)
        expect = expect * val**w
    assert torch.allclose(v, expect)
    # more noise, lower MS-SSIM
    _, b2 = _pair((2, 3, 180, 176), noise=1.2)
    assert (ms_ssim(a, b2) < v).all()
    with pytest.raises(InputError, match="176"):
        ms_ssim(a[..., :100, :100], b[..., :100, :100])
    assert torch.allclose(ms_ssim(a, b, torch.ones(2, 1, 180, 176, dtype=a.dtype)), v)


def test_filter_valid_is_a_weighted_window_mean():
    x = torch.arange(25.0, dtype=torch.float64).view(1, 1, 5, 5)
    taps = torch.tensor([0.25, 0.5, 0.25], dtype=torch.float64)
    out = _filter_valid(x, taps)
    w2 = torch.outer(taps, taps)
    assert out.shape == (1, 1, 3, 3)
    assert out[0, 0, 1, 2].item() == pytest.approx((x[0, 0, 1:4, 2:5] * w2).sum().item())


# ------------------------------------------------------------------------ LPIPS
@pytest.mark.parametrize("net", ["vgg", "alex"])
def test_lpips_pseudo_distance(net):
    model = LPIPS(net, seed=1)
    a, b = _pair((2, 3, 64, 64), noise=0.8, dtype=torch.float32)
    assert torch.allclose(lpips(a, a, model), torch.zeros(2), atol=1e-7)
    d = lpips(a, b, model)
    assert (d > 0).all()
    assert torch.allclose(d, lpips(b, a, model), rtol=1e-5)
    # closer images are nearer
    c = (a + 0.3 * (b - a)).clamp(0, 1)
    assert (lpips(a, c, model) < d).all()
    # an all-ones mask changes nothing
    assert torch.allclose(lpips(a, b, model, torch.ones(2, 1, 64, 64)), d, rtol=1e-5)
    # same seed, same trunk
    assert torch.equal(LPIPS(net, seed=1)(a, b), d)


def test_lpips_vgg_trunk_and_formula_match_vgg_features():
    """Our LPIPS(vgg) = manual formula on VGGFeatures (the SDK's independent VGG16) with heads w."""
    from rome_smplx.models.vgg import VGGFeatures

    model = LPIPS("vgg", seed=3)
    g = torch.Generator().manual_seed(0)
    for i in range(5):
        w = getattr(model, f"lin{i}").model[1].weight
        w.copy_(torch.rand(w.shape, generator=g))
    ref = VGGFeatures("vgg16", ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"), normalize=False)
    ref.load_state_dict({k[len("net."):]: v for k, v in model.state_dict().items() if k.startswith("net.")})
    a, b = _pair((1, 3, 48, 48), noise=0.8, dtype=torch.float64)
    model.double()
    ref.double()
    shift = torch.tensor([-0.030, -0.088, -0.188], dtype=torch.float64).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450], dtype=torch.float64).view(1, 3, 1, 1)
    fa, fb = ref((2 * a - 1 - shift) / scale), ref((2 * b - 1 - shift) / scale)
    expect = 0.0
    for i, (x, y) in enumerate(zip(fa, fb)):
        x = x / (x.norm(dim=1, keepdim=True) + 1e-10)
        y = y / (y.norm(dim=1, keepdim=True) + 1e-10)
        w = getattr(model, f"lin{i}").model[1].weight.view(1, -1, 1, 1)
        expect = expect + ((x - y) ** 2 * w).sum(1).mean()
    assert lpips(a, b, model).item() == pytest.approx(expect.item(), rel=1e-9)


def test_load_lpips_round_trip_and_errors(tmp_path):
    src = LPIPS("alex", seed=7)
    trunk = {k[len("net."):]: v.clone() for k, v in src.state_dict().items() if k.startswith("net.")}
    trunk["classifier.1.weight"] = torch.zeros(4, 4)  # ignored, as in a torchvision file
    heads = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate((64, 192, 384, 256, 256))}
    torch.save(trunk, tmp_path / "alexnet.pth")
    torch.save(heads, tmp_path / "alex.pth")
    model = load_lpips(tmp_path / "alexnet.pth", tmp_path / "alex.pth", net="alex")
    assert torch.equal(model.lin2.model[1].weight, heads["lin2.model.1.weight"])
    a, b = _pair((1, 3, 64, 64), dtype=torch.float32)
    src.load_state_dict({**src.state_dict(), **heads})
    assert torch.allclose(model(a, b), src(a, b))
    del trunk["features.3.weight"]
    torch.save(trunk, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError, match="features.3.weight"):
        load_lpips(tmp_path / "broken.pth", net="alex")
    with pytest.raises(InputError, match="net must be"):
        LPIPS("squeeze")


@pytest.mark.pytorch3d  # torchvision is installed with the pytorch3d extra
def test_lpips_trunks_match_torchvision():
    """The hand-written trunks give torchvision's activations for the same state dict."""
    import torchvision as tv

    x = torch.rand(1, 3, 64, 64)
    for name, ctor in (("vgg", tv.models.vgg16), ("alex", tv.models.alexnet)):
        ref = ctor(weights=None).eval()
        model = LPIPS(name)
        model.net.features.load_state_dict({k[len("features."):]: v for k, v in ref.state_dict().items()
                                            if k.startswith("features.") and k[len("features."):] in
                                            model.net.features.state_dict()})
        y = (2 * x - 1 - model.shift) / model.scale
        feats = model.features(x)
        for tap, f in zip(model.taps, feats):
            assert torch.allclose(ref.features[: tap + 1](y), f, atol=1e-5)


# ------------------------------------------------------------------------ CSIM
def test_csim_values_and_injected_network():
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    b = torch.tensor([[0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    assert torch.allclose(csim(a, b), torch.tensor([0.0, 1.0, -1.0]))
    g = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.AdaptiveAvgPool2d(1))
    x = torch.rand(2, 3, 16, 16, generator=g)
    y = torch.rand(2, 3, 16, 16, generator=g)
    assert torch.allclose(csim(x, x, embed=net), torch.ones(2), atol=1e-6)
    manual = torch.nn.functional.cosine_similarity(net(x).flatten(1), net(y).flatten(1))
    assert torch.allclose(csim(x, y, embed=net), manual, atol=1e-6)
    with pytest.raises(InputError, match="differ in shape"):
        csim(torch.ones(2, 3), torch.ones(2, 4))
