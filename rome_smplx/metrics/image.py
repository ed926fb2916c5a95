"""Image metrics: PSNR, SSIM, MS-SSIM, LPIPS and identity cosine similarity (CSIM), with masks.

All functions are batched (first dimension B), differentiable, run on any device and dtype, and
return one value per image ``(B,)``. Images are ``(B, C, H, W)`` floats; masks are ``(B, 1, H, W)``
(or ``(B, C, H, W)``) weights in [0, 1] (a binary mask selects pixels; a soft one weights them).

SSIM follows Wang et al. (2004) with the usual constants: an 11-tap Gaussian window with sigma 1.5,
``K1 = 0.01``, ``K2 = 0.03``, population (not sample) statistics, and only the positions whose window
lies inside the image (``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False)`` gives the same numbers). MS-SSIM follows Wang et al. (2003): 5 scales
with weights ``(0.0448, 0.2856, 0.3001, 0.2363, 0.1333)``, 2x average pooling between scales.

LPIPS (Zhang et al. 2018) is written out here: a VGG16 or AlexNet trunk with torchvision's
``features.N`` keys, channel-normalised features, squared differences, 1x1 "linear" heads
(``lin{l}.model.1.weight``, the layout of the public LPIPS weight files), spatial mean, sum over
layers. Nothing is downloaded: :func:`load_lpips` reads the trunk and the heads from files; without
files the trunk is randomly initialised from a seed and the heads are all ones (the "baseline"
LPIPS variant, which sums the normalised squared feature differences). With random weights the
metric is still a pseudo-distance (zero on identical images, symmetric, non-negative) but its values
are not comparable with published LPIPS numbers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rome_smplx.checks import check_shape
from rome_smplx.errors import CheckpointError, InputError

logger = logging.getLogger(__name__)

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

__all__ = [
    "LPIPS",
    "MS_SSIM_WEIGHTS",
    "csim",
    "gaussian_window",
    "load_lpips",
    "lpips",
    "ms_ssim",
    "psnr",
    "ssim",
]


# ------------------------------------------------------------------------------------ checks
def _image_pair(pred: Tensor, target: Tensor, mask: Tensor | None, fn: str) -> Tensor | None:
    """Check ``pred``/``target`` (B, C, H, W) float of one shape and ``mask`` (B, 1|C, H, W); return the
    mask as a float tensor of ``pred``'s dtype (or None)."""
    dims = check_shape(pred, "B,C,H,W", f"{fn}: pred", dtype="float")
    check_shape(target, "B,C,H,W", f"{fn}: target (the shape of pred)", dims=dims, dtype="float")
    if mask is None:
        return None
    check_shape(mask, "B,1|C,H,W", f"{fn}: mask", dims=dims)
    return mask.to(device=pred.device, dtype=pred.dtype)


def _masked_mean(values: Tensor, mask: Tensor | None, fn: str) -> Tensor:
    """Per-image mean of ``values`` (B, C, H, W) weighted by ``mask`` (B, 1|C, H, W) -> (B,)."""
    if mask is None:
        return values.flatten(1).mean(1)
    w = mask.expand_as(values)
    total = w.flatten(1).sum(1)
    if bool((total <= 0).any()):
        raise InputError(f"{fn}: the mask is empty for image(s) {torch.nonzero(total <= 0).flatten().tolist()}")
    return (values * w).flatten(1).sum(1) / total


# ------------------------------------------------------------------------------------ PSNR
def psnr(pred: Tensor, target: Tensor, mask: Tensor | None = None, data_range: float = 1.0) -> Tensor:
    """Peak signal-to-noise ratio in dB.

    Args:
        pred, target: (B, C, H, W) images.
        mask: optional (B, 1 or C, H, W) weights; the mean squared error is taken over the masked
            pixels (and all channels).
        data_range: peak value (1 for images in [0, 1]).

    Returns:
        (B,) ``10 log10(data_range^2 / MSE)``; ``inf`` for identical images.
    """
    mask = _image_pair(pred, target, mask, "psnr")
    mse = _masked_mean((pred - target) ** 2, mask, "psnr")
    return 10.0 * torch.log10(data_range**2 / mse)


# ------------------------------------------------------------------------------------ SSIM
def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA, *, dtype=torch.float32, device=None) -> Tensor:
    """Normalised 1D Gaussian taps ``(size,)`` centred on the middle tap."""
    if size < 1 or size % 2 == 0:
        raise InputError(f"gaussian_window: size must be odd and positive, found {size}")
    x = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return (g / g.sum()).to(dtype)


def _filter_valid(x: Tensor, taps: Tensor) -> Tensor:
    """Separable 'valid' filtering of (B, C, H, W) -> (B, C, H - k + 1, W - k + 1)."""
    C = x.shape[1]
    k = taps.numel()
    wy = taps.view(1, 1, k, 1).expand(C, 1, k, 1)
    wx = taps.view(1, 1, 1, k).expand(C, 1, 1, k)
    return F.conv2d(F.conv2d(x, wy, groups=C), wx, groups=C)


def _ssim_maps(pred: Tensor, target: Tensor, data_range: float, taps: Tensor) -> tuple[Tensor, Tensor]:
    """SSIM and contrast-structure maps, both (B, C, H - k + 1, W - k + 1)."""
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    B = pred.shape[0]
    stats = _filter_valid(torch.cat([pred, target, pred * pred, target * target, pred * target], 0), taps)
    mu_x, mu_y, xx, yy, xy = stats.split(B, 0)
    var_x = xx - mu_x**2
    var_y = yy - mu_y**2
    cov = xy - mu_x * mu_y
    cs = (2 * cov + c2) / (var_x + var_y + c2)
    lum = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return lum * cs, cs


def _crop_mask(mask: Tensor | None, k: int) -> Tensor | None:
    """The mask at the centres of the valid windows: (B, c, H - k + 1, W - k + 1)."""
    if mask is None:
        return None
    r = (k - 1) // 2
    return mask[..., r: mask.shape[-2] - r, r: mask.shape[-1] - r]


def _require_min_size(x: Tensor, min_size: int, fn: str) -> None:
    if min(x.shape[-2:]) < min_size:
        raise InputError(f"{fn}: images must be at least {min_size} x {min_size} pixels, found {tuple(x.shape[-2:])}")


def ssim(
    pred: Tensor, target: Tensor, mask: Tensor | None = None, data_range: float = 1.0,
    window_size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA,
) -> Tensor:
    """Structural similarity (Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03).

    The SSIM map is computed at every position whose window lies inside the image and averaged over
    positions and channels (skimage's convention). With a mask, positions are weighted by the mask
    value at the window centre.

    Args:
        pred, target: (B, C, H, W) images, H and W >= ``window_size``.
        mask: optional (B, 1 or C, H, W) weights.
        data_range: value range of the images (1 for [0, 1]).

    Returns:
        (B,) SSIM in [-1, 1]; 1 for identical images.
    """
    mask = _image_pair(pred, target, mask, "ssim")
    _require_min_size(pred, window_size, "ssim")
    taps = gaussian_window(window_size, sigma, dtype=pred.dtype, device=pred.device)
    smap, _ = _ssim_maps(pred, target, data_range, taps)
    return _masked_mean(smap, _crop_mask(mask, window_size), "ssim")


def ms_ssim(
    pred: Tensor, target: Tensor, mask: Tensor | None = None, data_range: float = 1.0,
    weights: Sequence[float] = MS_SSIM_WEIGHTS, window_size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA,
) -> Tensor:
    """Multi-scale SSIM: ``prod_{j<M} cs_j^{w_j} * ssim_M^{w_M}`` over ``M = len(weights)`` scales.

    Between scales the images (and the mask) are 2x2 average-pooled. Negative per-scale values are
    clamped to 0 before the power (as common implementations do), so the result lies in [0, 1].

    Args:
        pred, target: (B, C, H, W) images; the coarsest scale must still hold one window, i.e.
            ``min(H, W) >= window_size * 2^(M-1)`` (176 px for the standard 5 scales).
        mask: optional (B, 1 or C, H, W) weights.
        weights: per-scale exponents (default: the standard five).

    Returns:
        (B,) MS-SSIM; 1 for identical images.
    """
    mask = _image_pair(pred, target, mask, "ms_ssim")
    if len(weights) < 1:
        raise InputError("ms_ssim: weights must hold at least one scale")
    _require_min_size(pred, window_size * 2 ** (len(weights) - 1), f"ms_ssim ({len(weights)} scales)")
    taps = gaussian_window(window_size, sigma, dtype=pred.dtype, device=pred.device)
    w = torch.as_tensor(list(weights), dtype=pred.dtype, device=pred.device)
    values = []
    for j in range(len(weights)):
        if j > 0:
            pred, target = F.avg_pool2d(pred, 2), F.avg_pool2d(target, 2)
            mask = None if mask is None else F.avg_pool2d(mask, 2)
        smap, cs = _ssim_maps(pred, target, data_range, taps)
        m = _crop_mask(mask, window_size)
        values.append(_masked_mean(smap if j == len(weights) - 1 else cs, m, "ms_ssim"))
    v = torch.stack(values, 1).clamp_min(0)  # (B, M)
    return torch.prod(v ** w, dim=1)


# ------------------------------------------------------------------------------------ LPIPS
#: Per-channel shift/scale LPIPS applies to inputs in [-1, 1] (ImageNet statistics mapped to [-1, 1]).
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)

# Trunks as torchvision lays out ``features``: ("C", in, out, kernel, stride, padding) / ("M", kernel, stride);
# taps: indices (after the ReLU) whose outputs LPIPS compares.
_VGG16_PLAN = [("C", 3, 64), ("C", 64, 64), "M", ("C", 64, 128), ("C", 128, 128), "M",
               ("C", 128, 256), ("C", 256, 256), ("C", 256, 256), "M",
               ("C", 256, 512), ("C", 512, 512), ("C", 512, 512), "M",
               ("C", 512, 512), ("C", 512, 512), ("C", 512, 512)]
_TRUNKS = {
    # VGG16: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
    "vgg": {"channels": (64, 128, 256, 512, 512), "taps": (3, 8, 15, 22, 29)},
    # AlexNet: relu1 .. relu5
    "alex": {"channels": (64, 192, 384, 256, 256), "taps": (1, 4, 7, 9, 11)},
}


def _build_trunk(net: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    if net == "vgg":
        for item in _VGG16_PLAN:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(item[1], item[2], 3, padding=1), nn.ReLU(inplace=False)]
    else:  # torchvision AlexNet features (indices 0..11 used)
        layers = [
            nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(inplace=False), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=False), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=False),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=False),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=False),
        ]
    return nn.Sequential(*layers)


class _LinearHead(nn.Module):
    """LPIPS' per-layer head: dropout then a bias-free 1x1 conv C -> 1 (keys ``model.1.weight``)."""

    def __init__(self, channels: int, dropout: bool = False) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(0.5) if dropout else nn.Identity(), nn.Conv2d(channels, 1, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class LPIPS(nn.Module):
    """Learned perceptual image patch similarity.

    Args:
        net: ``"vgg"`` (VGG16 trunk) or ``"alex"`` (AlexNet trunk).
        seed: seed of the random trunk initialisation (used when no weights are loaded).

    Submodules: ``net.features`` (torchvision keys ``features.N.weight/bias``) and ``lin0..lin4``
    (``lin{l}.model.1.weight`` of shape (1, C_l, 1, 1)). Fresh modules have a seeded random trunk and
    all-ones heads; :func:`load_lpips` fills them from files.

    ``forward(pred, target, mask=None)``: (B, 3, H, W) images in [0, 1] -> (B,) distances.
    """

    def __init__(self, net: str = "vgg", seed: int = 0) -> None:
        super().__init__()
        if net not in _TRUNKS:
            raise InputError(f"LPIPS: net must be one of {sorted(_TRUNKS)}, found {net!r}")
        self.net_name = net
        self.taps = _TRUNKS[net]["taps"]
        channels = _TRUNKS[net]["channels"]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = nn.Module()
            self.net.features = _build_trunk(net)
        for i, c in enumerate(channels):
            head = _LinearHead(c)
            nn.init.ones_(head.model[1].weight)
            setattr(self, f"lin{i}", head)
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def features(self, x: Tensor) -> list[Tensor]:
        """(B, 3, H, W) in [0, 1] -> the five tapped activations (B, C_l, H_l, W_l)."""
        x = (2 * x - 1 - self.shift.to(x.dtype)) / self.scale.to(x.dtype)
        out = []
        last = self.taps[-1]
        for i, layer in enumerate(self.net.features):
            x = layer(x)
            if i in self.taps:
                out.append(x)
            if i == last:
                break
        return out

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        mask = _image_pair(pred, target, mask, "lpips")
        if pred.shape[1] != 3:
            raise InputError(f"lpips: expected RGB images (B, 3, H, W), found {tuple(pred.shape)}")
        B = pred.shape[0]
        feats = self.features(torch.cat([pred, target], 0))
        total = pred.new_zeros(B)
        for i, f in enumerate(feats):
            f = f / (f.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            fa, fb = f[:B], f[B:]
            d = getattr(self, f"lin{i}")((fa - fb) ** 2)  # (B, 1, h, w)
            m = None if mask is None else F.interpolate(mask[:, :1], size=d.shape[-2:], mode="area")
            total = total + _masked_mean(d, m, "lpips")
        return total


def load_lpips(
    trunk_path: str | os.PathLike, heads_path: str | os.PathLike | None = None, net: str = "vgg",
    device: torch.device | str = "cpu",
) -> LPIPS:
    """LPIPS with weights from files (no downloads).

    Args:
        trunk_path: torchvision ``vgg16``/``alexnet`` state dict (``features.N.*`` keys are used,
            ``classifier.*`` ignored), read with ``torch.load(weights_only=True)``.
        heads_path: the LPIPS heads file (``lin{l}.model.1.weight``), e.g. the public ``vgg.pth``;
            ``None`` keeps all-ones heads (baseline LPIPS).
        net: ``"vgg"`` or ``"alex"``.

    Raises:
        CheckpointError: unreadable file, missing keys or wrong shapes.
    """
    from rome_smplx.io.checkpoints import extract_state_dict, safe_torch_load

    model = LPIPS(net)
    state = model.state_dict()
    trunk = extract_state_dict(safe_torch_load(trunk_path), trunk_path)
    wanted = {k: v for k, v in state.items() if k.startswith("net.features.")}
    for key, ref in wanted.items():
        src = trunk.get(key[len("net."):], trunk.get(key))
        if src is None:
            raise CheckpointError(f"{trunk_path}: missing key {key[len('net.'):]!r} of a torchvision {net} trunk")
        if tuple(src.shape) != tuple(ref.shape):
            raise CheckpointError(f"{trunk_path}: {key[len('net.'):]}: expected shape {tuple(ref.shape)}, found {tuple(src.shape)}")
        state[key] = src.to(ref.dtype)
    if heads_path is not None:
        heads = extract_state_dict(safe_torch_load(heads_path), heads_path)
        for key in [k for k in state if k.startswith("lin")]:
            src = heads.get(key)
            if src is None:
                raise CheckpointError(f"{heads_path}: missing LPIPS head key {key!r}")
            if tuple(src.shape) != tuple(state[key].shape):
                raise CheckpointError(f"{heads_path}: {key}: expected shape {tuple(state[key].shape)}, found {tuple(src.shape)}")
            state[key] = src.to(state[key].dtype)
    model.load_state_dict(state)
    return model.to(device).eval()


def lpips(pred: Tensor, target: Tensor, net: LPIPS, mask: Tensor | None = None) -> Tensor:
    """LPIPS distance with a given :class:`LPIPS` network: (B, 3, H, W) x2 in [0, 1] -> (B,).

    With a mask, each layer's distance map is averaged with the mask area-resampled to its size.
    """
    if not isinstance(net, LPIPS):
        raise InputError(f"lpips: net must be an LPIPS module (see load_lpips), found {type(net).__name__}")
    return net(pred, target, mask)


# ------------------------------------------------------------------------------------ CSIM
def csim(emb_a: Tensor, emb_b: Tensor, embed: Callable[[Tensor], Tensor] | None = None, eps: float = 1e-8) -> Tensor:
    """Cosine similarity of identity embeddings.

    Args:
        emb_a, emb_b: (B, D) embeddings, or (B, 3, H, W) images when ``embed`` is given.
        embed: optional identity network (e.g. a face-recognition ResNet) mapping images to (B, D)
            embeddings (or (B, D, 1, 1)); it is called on both inputs.

    Returns:
        (B,) cosine similarity in [-1, 1].
    """
    if embed is not None:
        emb_a, emb_b = embed(emb_a), embed(emb_b)
    for name, t in (("emb_a", emb_a), ("emb_b", emb_b)):
        if not isinstance(t, Tensor) or t.dim() < 2:
            found = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise InputError(f"csim: {name} must be a (B, D) embedding, found {found}")
    a, b = emb_a.flatten(1), emb_b.flatten(1)
    if a.shape != b.shape:
        raise InputError(f"csim: embeddings {tuple(a.shape)} and {tuple(b.shape)} differ in shape")
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(eps)

