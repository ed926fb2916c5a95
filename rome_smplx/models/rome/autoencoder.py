"""E_tex: the neural-texture encoder (an hourglass of residual bottleneck blocks, no skips)."""

from __future__ import annotations

import torch
from torch import nn

from rome_smplx.errors import InputError
from rome_smplx.models.rome.layers import (
    BottleneckBlock,
    ConvBlock,
    check_image_tensor,
    make_activation,
    make_norm,
)


class NeuralTextureEncoder(nn.Module):
    """E_tex: image + mask ``(B, in_channels, H, W)`` -> neural texture ``(B, out_channels, H, W)``.

    Layout (all in one ``nn.Sequential`` called ``net``, as in the release):

    * stem: plain conv 7x7, ``in -> base*e`` (e = 4 for bottleneck blocks, 1 for conv blocks);
    * encoder: ``num_levels`` groups of ``blocks_per_level`` blocks with nominal widths
      ``base, 2 base, 4 base, ...`` capped at ``max_channels``; ``MaxPool2d(2)`` between groups;
    * ``num_bottleneck_levels`` extra groups at the deepest width;
    * decoder: the mirror image with nearest x2 up-sampling between groups;
    * head: norm -> activation -> conv 1x1 (with bias) to ``out_channels``.

    H and W must be divisible by ``2 ** (num_levels - 1)``. The mirrored decoder assumes the
    encoder ends at ``min(base * 2**num_levels, max_channels)``, so ``max_channels`` must not exceed
    ``base * 2**(num_levels - 1)`` (the release's 512 = 64 * 8).
    """

    def __init__(
        self,
        in_channels: int = 4,
        out_channels: int = 8,
        base_channels: int = 64,
        max_channels: int = 512,
        num_levels: int = 4,
        blocks_per_level: int = 2,
        layers_per_block: int = 4,
        num_bottleneck_levels: int = 0,
        block: str = "bottleneck",
        norm: str = "gn",
        activation: str = "relu",
        conv: str = "ws_conv",
    ) -> None:
        super().__init__()
        if block not in ("bottleneck", "conv"):
            raise InputError(f"NeuralTextureEncoder: block must be 'bottleneck' or 'conv', found {block!r}")
        if num_levels < 1 or blocks_per_level < 1:
            raise InputError(
                f"NeuralTextureEncoder: num_levels and blocks_per_level must be >= 1, found "
                f"{num_levels} and {blocks_per_level}"
            )
        if min(base_channels * 2 ** num_levels, max_channels) != min(
            base_channels * 2 ** (num_levels - 1), max_channels
        ):
            raise InputError(
                f"NeuralTextureEncoder: max_channels must be <= base_channels * 2**(num_levels-1) = "
                f"{base_channels * 2 ** (num_levels - 1)}, found {max_channels}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_levels = num_levels
        e = 4 if block == "bottleneck" else 1

        def make_block(c_in: int, c_out: int, mid: int | None) -> nn.Module:
            if block == "bottleneck":
                return BottleneckBlock(
                    c_in, c_out, mid, num_layers=layers_per_block, expansion_factor=e,
                    norm=norm, activation=activation, conv=conv,
                )
            return ConvBlock(
                c_in, c_out, mid, num_layers=layers_per_block, norm=norm, activation=activation, conv=conv
            )

        layers: list[nn.Module] = [nn.Conv2d(in_channels, base_channels * e, 7, 1, 3, bias=False)]
        c_in = c_out = base_channels
        for i in range(num_levels):
            for j in range(blocks_per_level):
                layers.append(make_block(c_in if j == 0 else c_out, c_out, c_out))
            c_in = c_out
            c_out = min(base_channels * 2 ** (i + 1), max_channels)
            if i < num_levels - 1:
                layers.append(nn.MaxPool2d(kernel_size=2))
        for _ in range(num_bottleneck_levels):
            for _ in range(blocks_per_level):
                layers.append(make_block(c_out, c_out, None))
        for i in reversed(range(num_levels)):
            c_in = c_out
            c_out = min(base_channels * 2 ** max(i - 1, 0), max_channels)
            for j in range(blocks_per_level):
                layers.append(make_block(c_in, c_in if j < blocks_per_level - 1 else c_out, c_in))
            if i > 0:
                layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        layers += [make_norm(norm, c_out * e), make_activation(activation), nn.Conv2d(c_out * e, out_channels, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W)`` (RGB in [0, 1] + mask for ROME) -> ``(B, out_channels, H, W)``."""
        check_image_tensor("NeuralTextureEncoder input", x, self.in_channels, 2 ** (self.num_levels - 1))
        return self.net(x)


__all__ = ["NeuralTextureEncoder"]
