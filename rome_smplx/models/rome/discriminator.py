"""The training-time PatchGAN discriminator (spectral norm, instance norm, block features)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from rome_smplx.errors import InputError
from rome_smplx.models.rome.layers import ConvBlock, check_image_tensor


class DiscriminatorOutput(NamedTuple):
    """What :class:`MultiScalePatchDiscriminator` returns (a tuple, like the release).

    ``scores[s][0]``: ``(B, 1, h_s, w_s)`` score map of scale ``s``;
    ``features[s][k][0]``: ``(B, C_k, h, w)`` post-activation output of block ``k`` at scale ``s``.
    """

    scores: list[list[torch.Tensor]]
    features: list[list[list[torch.Tensor]]]


class PatchDiscriminator(nn.Module):
    """One scale: ``num_blocks`` x [conv 3x3 (stride 2, last stride 1, no bias) -> InstanceNorm
    (affine) -> LeakyReLU(0.2)], widths ``min(base * 2**i, max_channels)``, then ``to_scores``
    (conv 1x1 -> 1, with bias).

    ``(B, in_channels, H, W)`` -> (scores ``(B, 1, H/2^(n-1), W/2^(n-1))``, list of block outputs).
    """

    def __init__(
        self, base_channels: int = 64, max_channels: int = 512, num_blocks: int = 4, in_channels: int = 3
    ) -> None:
        super().__init__()
        if num_blocks < 1:
            raise InputError(f"PatchDiscriminator: num_blocks must be >= 1, found {num_blocks}")
        self.in_channels = in_channels
        outs = [min(base_channels * 2 ** i, max_channels) for i in range(num_blocks)]
        ins = [in_channels] + outs[:-1]
        self.blocks = nn.ModuleList(
            ConvBlock(
                ins[i], outs[i], num_layers=1, kernel_size=3, padding=1,
                stride=2 if i < num_blocks - 1 else 1, norm="in", activation="lrelu", conv="conv",
            )
            for i in range(num_blocks)
        )
        self.to_scores = nn.Conv2d(outs[-1], 1, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return self.to_scores(x), features


def init_weights(module: nn.Module, init_type: str = "xavier", gain: float = 0.02) -> nn.Module:
    """Initialise every Conv*/Linear*/Embedding* weight (``xavier``: xavier-normal with ``gain``;
    ``normal``: N(0, gain)) and zero their biases, as the release does before training."""
    if init_type not in ("xavier", "normal"):
        raise InputError(f"init_weights: init_type must be 'xavier' or 'normal', found {init_type!r}")
    for m in module.modules():
        name = type(m).__name__
        if getattr(m, "weight", None) is None or not any(s in name for s in ("Conv", "Linear", "Embedding")):
            continue
        if init_type == "xavier":
            nn.init.xavier_normal_(m.weight.data, gain=gain)
        else:
            nn.init.normal_(m.weight.data, 0.0, gain)
        if getattr(m, "bias", None) is not None:
            nn.init.zeros_(m.bias.data)
    return module


def apply_spectral_norm(
    module: nn.Module,
    apply_to: tuple[str, ...] | list[str] = ("conv2d", "linear"),
    n_power_iterations: int = 1,
    eps: float = 1e-12,
    dim: int = 0,
    name: str = "weight",
) -> nn.Module:
    """Classic spectral norm (``weight_orig``/``weight_u``/``weight_v``) on every submodule whose
    lower-cased class name is in ``apply_to`` (so ``nn.Conv2d`` but not ``WSConv2d``)."""
    targets = [m for m in module.modules() if type(m).__name__.lower() in set(apply_to)]
    for m in targets:
        nn.utils.spectral_norm(m, name=name, n_power_iterations=n_power_iterations, eps=eps, dim=dim)
    return module


class MultiScalePatchDiscriminator(nn.Module):
    """The ROME discriminator: ``num_scales`` :class:`PatchDiscriminator` s, named ``net_%04d`` by the
    image size they see (``net_0256`` at 256), the input halved by 2x2 average pooling per scale.

    By default it is built as in training: xavier-normal init with gain 0.02, zero biases, then
    spectral norm on every ``nn.Conv2d`` (one power iteration per train-mode forward; eval mode
    uses the stored ``u``, ``v``).

    ``(B, in_channels, H, W)`` -> :class:`DiscriminatorOutput`.
    """

    def __init__(
        self,
        base_channels: int = 64,
        max_channels: int = 512,
        num_blocks: int = 4,
        in_channels: int = 3,
        image_size: int = 256,
        num_scales: int = 1,
        init_type: str | None = "xavier",
        init_gain: float = 0.02,
        spectral_norm: bool = True,
    ) -> None:
        super().__init__()
        if num_scales < 1:
            raise InputError(f"MultiScalePatchDiscriminator: num_scales must be >= 1, found {num_scales}")
        self.in_channels = in_channels
        self.image_size = image_size
        self.num_scales = num_scales
        self._names = []
        size = image_size
        for _ in range(num_scales):
            name = f"net_{size:04d}"
            setattr(self, name, PatchDiscriminator(base_channels, max_channels, num_blocks, in_channels))
            self._names.append(name)
            size //= 2
        self.down = nn.AvgPool2d(kernel_size=2)
        if init_type is not None:
            init_weights(self, init_type, init_gain)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor) -> DiscriminatorOutput:
        check_image_tensor("discriminator input", x, self.in_channels)
        scores, features = [], []
        for i, name in enumerate(self._names):
            s, f = getattr(self, name)(x)
            scores.append([s])
            features.append([[t] for t in f])
            if i < len(self._names) - 1:
                x = self.down(x)
        return DiscriminatorOutput(scores, features)


__all__ = [
    "DiscriminatorOutput",
    "MultiScalePatchDiscriminator",
    "PatchDiscriminator",
    "apply_spectral_norm",
    "init_weights",
]
