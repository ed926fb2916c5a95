"""Building blocks of the ROME networks.

* :class:`WSConv2d`: a convolution whose filters are standardised on every forward pass.
* :func:`make_norm`: GroupNorm with ``min(32, C)`` groups (``"gn"``), affine InstanceNorm (``"in"``),
  BatchNorm (``"bn"``) or nothing.
* :class:`ConvBlock`: the U-Net block, ``num_layers`` x (conv 3x3 -> norm -> activation), post-activation.
* :class:`BottleneckBlock`: the autoencoder block, a pre-activation residual bottleneck whose tensors
  carry ``expansion_factor`` times the nominal width.
* :func:`make_downsample` / :func:`make_upsample`: max/avg pooling and nearest/bilinear x2 resizing.

Submodule names and their order follow the released ROME code exactly, so state dicts (and
``rome.pth`` keys) load one-to-one. Which convolutions are standardised matters numerically:
inside a :class:`BottleneckBlock` the last 1x1 and the skip projection are plain convolutions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rome_smplx.errors import InputError

#: Added to the (unbiased) per-filter standard deviation, not to the variance.
WS_EPS = 1e-5
#: GroupNorm never uses more groups than this.
MAX_NORM_GROUPS = 32

NORM_TYPES = ("gn", "in", "bn", "none")
CONV_TYPES = ("conv", "ws_conv")
ACTIVATION_TYPES = ("relu", "lrelu")
DOWNSAMPLING_TYPES = ("maxpool", "avgpool")
UPSAMPLING_TYPES = ("nearest", "bilinear")


def _check_choice(what: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InputError(f"{what} must be one of {allowed}, found {value!r}")
    return value


def standardize_weight(weight: torch.Tensor, eps: float = WS_EPS) -> torch.Tensor:
    """Weight standardisation of conv filters ``(O, I, kh, kw)``.

    Per output filter: subtract the mean over (I, kh, kw), divide by the unbiased (N-1) standard
    deviation of the centred values plus ``eps``.

    The mean is taken as three chained means (over I, then kh, then kw), the order the released
    code uses. It equals one mean over (I, kh, kw) mathematically, but float32 rounds the two
    differently (about 1e-7 per layer); over E_tex's stack of standardised convolutions that
    grows to a few 1e-3 in the neural texture. Chained means give the release's texture bit for
    bit, so every profile uses them (the clean formula is the same formula).
    """
    mean = weight.mean(dim=1, keepdim=True).mean(dim=2, keepdim=True).mean(dim=3, keepdim=True)
    centred = weight - mean
    std = centred.reshape(centred.shape[0], -1).std(dim=1, unbiased=True)
    return centred / (std + eps).reshape(-1, 1, 1, 1)


class WSConv2d(nn.Conv2d):
    """``nn.Conv2d`` with weight standardisation (see :func:`standardize_weight`).

    The stored ``weight`` is the raw parameter; it is standardised on every forward. The bias is
    not standardised. Input ``(B, I, H, W)`` -> output ``(B, O, H', W')``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = standardize_weight(self.weight)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


def group_norm(num_channels: int, eps: float = 1e-5, affine: bool = True) -> nn.GroupNorm:
    """``GroupNorm(min(32, C), C)``. ``C`` above 32 must be a multiple of 32 (as in ROME)."""
    groups = min(MAX_NORM_GROUPS, num_channels)
    if num_channels % groups != 0:
        raise InputError(
            f"GroupNorm: {num_channels} channels cannot be split into {groups} groups; widths above "
            f"{MAX_NORM_GROUPS} must be multiples of {MAX_NORM_GROUPS}"
        )
    return nn.GroupNorm(num_groups=groups, num_channels=num_channels, eps=eps, affine=affine)


def make_norm(norm: str, num_channels: int) -> nn.Module:
    """A normalisation layer by name (``"gn"``, ``"in"``, ``"bn"``); all affine."""
    _check_choice("norm", norm, NORM_TYPES)
    if norm == "gn":
        return group_norm(num_channels)
    if norm == "in":
        return nn.InstanceNorm2d(num_channels, affine=True)
    if norm == "bn":
        return nn.BatchNorm2d(num_channels, affine=True)
    raise InputError("make_norm: norm 'none' has no layer")


def make_conv(
    conv: str,
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    stride: int = 1,
    padding: int = 0,
    bias: bool = True,
) -> nn.Conv2d:
    """``nn.Conv2d`` (``"conv"``) or :class:`WSConv2d` (``"ws_conv"``)."""
    _check_choice("conv", conv, CONV_TYPES)
    cls = WSConv2d if conv == "ws_conv" else nn.Conv2d
    return cls(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias)


def make_activation(activation: str) -> nn.Module:
    """``ReLU`` or ``LeakyReLU(0.2)``, in place (they always follow a fresh tensor here)."""
    _check_choice("activation", activation, ACTIVATION_TYPES)
    if activation == "relu":
        return nn.ReLU(inplace=True)
    return nn.LeakyReLU(negative_slope=0.2, inplace=True)


def make_downsample(kind: str) -> nn.Module:
    """x2 down-sampling: ``MaxPool2d(2)`` or ``AvgPool2d(2)``."""
    _check_choice("downsampling", kind, DOWNSAMPLING_TYPES)
    return nn.MaxPool2d(kernel_size=2) if kind == "maxpool" else nn.AvgPool2d(kernel_size=2)


def make_upsample(kind: str) -> nn.Module:
    """x2 up-sampling: legacy ``nearest`` or ``bilinear`` (``align_corners=False``)."""
    _check_choice("upsampling", kind, UPSAMPLING_TYPES)
    if kind == "nearest":
        return nn.Upsample(scale_factor=2, mode="nearest")
    return nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)


class ConvBlock(nn.Module):
    """Post-activation conv block: ``num_layers`` x [conv k x k -> norm -> activation].

    The first conv maps ``in -> mid``, the last ``mid -> out`` (``mid`` defaults to ``out``). Convs
    followed by a norm have no bias. With ``stride > 1`` the last conv is strided.
    Keys: ``main.{3i}`` conv, ``main.{3i+1}`` norm (``main.{2i}`` conv without norms).

    Input ``(B, in, H, W)`` -> output ``(B, out, H/stride, W/stride)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        mid_channels: int | None = None,
        num_layers: int = 1,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 1,
        norm: str = "gn",
        activation: str = "relu",
        conv: str = "ws_conv",
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise InputError(f"ConvBlock: num_layers must be >= 1, found {num_layers}")
        _check_choice("norm", norm, NORM_TYPES)
        mid = out_channels if mid_channels is None or mid_channels == -1 else mid_channels
        layers: list[nn.Module] = []
        for i in range(num_layers):
            c_in = in_channels if i == 0 else mid
            c_out = out_channels if i == num_layers - 1 else mid
            layers.append(
                make_conv(
                    conv,
                    c_in,
                    c_out,
                    kernel_size,
                    stride=stride if i == num_layers - 1 else 1,
                    padding=padding,
                    bias=norm == "none",
                )
            )
            if norm != "none":
                layers.append(make_norm(norm, c_out))
            layers.append(make_activation(activation))
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class BottleneckBlock(nn.Module):
    """Pre-activation residual bottleneck block (the autoencoder block).

    ``main = [norm(in*e), act, conv1x1(in*e -> mid), norm(mid), act,
    {conv kxk(mid -> mid), norm(mid), act} x (num_layers - 2), plain conv1x1(mid -> out*e)]`` and
    the output is ``main(x) + skip(x)`` where ``skip`` is identity (in == out) or a plain 1x1
    projection ``in*e -> out*e``. ``e`` is the expansion factor.

    Input ``(B, in*e, H, W)`` -> output ``(B, out*e, H/stride, W/stride)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        mid_channels: int | None = None,
        num_layers: int = 3,
        expansion_factor: int = 4,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 1,
        norm: str = "gn",
        activation: str = "relu",
        conv: str = "ws_conv",
    ) -> None:
        super().__init__()
        if num_layers < 3:
            raise InputError(f"BottleneckBlock: num_layers must be >= 3, found {num_layers}")
        _check_choice("norm", norm, NORM_TYPES)
        mid = out_channels if mid_channels is None or mid_channels == -1 else mid_channels
        e = expansion_factor
        has_norm = norm != "none"
        layers: list[nn.Module] = []
        if has_norm:
            layers.append(make_norm(norm, in_channels * e))
        layers += [make_activation(activation), make_conv(conv, in_channels * e, mid, 1, bias=not has_norm)]
        if has_norm:
            layers.append(make_norm(norm, mid))
        layers.append(make_activation(activation))
        for i in range(num_layers - 2):
            layers.append(
                make_conv(
                    conv,
                    mid,
                    mid,
                    kernel_size,
                    stride=stride if i == num_layers - 3 else 1,
                    padding=padding,
                    bias=not has_norm,
                )
            )
            if has_norm:
                layers.append(make_norm(norm, mid))
            layers.append(make_activation(activation))
        # The closing 1x1 and the skip projection are plain convolutions in the release.
        layers.append(nn.Conv2d(mid, out_channels * e, 1, bias=not has_norm))
        self.main = nn.Sequential(*layers)
        if in_channels != out_channels:
            self.skip: nn.Module = nn.Conv2d(in_channels * e, out_channels * e, 1, bias=not has_norm)
        else:
            self.skip = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x) + self.skip(x)


def check_image_tensor(name: str, x: torch.Tensor, channels: int, multiple: int = 1) -> None:
    """Raise :class:`InputError` unless ``x`` is ``(B, channels, H, W)`` with H, W divisible by ``multiple``."""
    if not torch.is_tensor(x) or x.dim() != 4:
        shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise InputError(f"{name}: expected a (B, {channels}, H, W) tensor, found {shape}")
    if x.shape[1] != channels:
        raise InputError(f"{name}: expected {channels} input channels (B, {channels}, H, W), found {tuple(x.shape)}")
    if multiple > 1 and (x.shape[2] % multiple or x.shape[3] % multiple):
        raise InputError(
            f"{name}: height and width must be divisible by {multiple}, found {tuple(x.shape[2:])}"
        )


__all__ = [
    "WS_EPS",
    "BottleneckBlock",
    "ConvBlock",
    "WSConv2d",
    "check_image_tensor",
    "group_norm",
    "make_activation",
    "make_conv",
    "make_downsample",
    "make_norm",
    "make_upsample",
    "standardize_weight",
]
