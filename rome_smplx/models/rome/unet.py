"""U-Nets: E_geom (geometry), E_img (rendering) and the paper's separate segmentation U-Net."""

from __future__ import annotations

import torch
from torch import nn

from rome_smplx.errors import InputError
from rome_smplx.models.rome.layers import (
    BottleneckBlock,
    ConvBlock,
    check_image_tensor,
    make_activation,
    make_downsample,
    make_norm,
    make_upsample,
)


class UNet(nn.Module):
    """The ROME U-Net: ``(B, in_channels, H, W)`` -> ``(B, out_channels, H, W)``.

    With ``block="conv"`` (all ROME U-Nets) there is no stem. Encoder group i is a block
    ``in -> min(base * 2**(i+1), max_channels)`` whose middle width is ``in``, except ``base`` for the
    first block (which sees the raw input). Groups are separated by ``downsampling`` (x2); the
    pre-pooling outputs of all groups but the last are the skips. Decoder step j (deepest first):
    ``upsampling`` x2, ``cat([up, skip_j])`` (up-sampled first) or a sum, then a block to
    ``min(base * 2**j, max_channels)``. Head ``to_outputs``: conv 1x1 with bias.

    H and W must be divisible by ``2 ** (num_levels - 1)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        base_channels: int = 64,
        max_channels: int = 512,
        num_levels: int = 4,
        blocks_per_level: int = 1,
        layers_per_block: int = 2,
        block: str = "conv",
        skip: str = "cat",
        norm: str = "gn",
        activation: str = "relu",
        conv: str = "ws_conv",
        downsampling: str = "maxpool",
        upsampling: str = "nearest",
        multiscale_outputs: bool = False,
    ) -> None:
        super().__init__()
        if block not in ("conv", "bottleneck"):
            raise InputError(f"UNet: block must be 'conv' or 'bottleneck', found {block!r}")
        if skip not in ("cat", "sum"):
            raise InputError(f"UNet: skip must be 'cat' or 'sum', found {skip!r}")
        if num_levels < 1 or blocks_per_level < 1:
            raise InputError(
                f"UNet: num_levels and blocks_per_level must be >= 1, found {num_levels} and {blocks_per_level}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_levels = num_levels
        self.skip_type = skip
        self.multiscale_outputs = multiscale_outputs
        self.downsampling_type = downsampling
        self.upsampling_type = upsampling
        e = 4 if block == "bottleneck" else 1

        def make_block(c_in: int, c_out: int, mid: int) -> nn.Module:
            if block == "bottleneck":
                return BottleneckBlock(
                    c_in, c_out, mid, num_layers=layers_per_block, expansion_factor=e,
                    norm=norm, activation=activation, conv=conv,
                )
            return ConvBlock(
                c_in, c_out, mid, num_layers=layers_per_block, norm=norm, activation=activation, conv=conv
            )

        if block != "conv":
            self.from_inputs = nn.Conv2d(in_channels, base_channels * e, 7, 1, 3, bias=False)
        c_out = base_channels if block != "conv" else in_channels
        self.downsample = make_downsample(downsampling)
        self.encoder = nn.ModuleList()
        c_in = c_out
        for i in range(num_levels):
            c_in = c_out
            c_out = min(base_channels * 2 ** (i + 1), max_channels)
            group = [
                make_block(
                    c_in,
                    c_in if j < blocks_per_level - 1 else c_out,
                    c_in if c_in != in_channels else base_channels,
                )
                for j in range(blocks_per_level)
            ]
            self.encoder.append(nn.Sequential(*group))
        if c_in != c_out:
            self.bottleneck = nn.Conv2d(c_out, c_in, 1, bias=False)
            c_out = c_in
        self.decoder = nn.ModuleList()
        for i in reversed(range(num_levels - 1)):
            c_in = c_out
            c_out = min(base_channels * 2 ** i, max_channels)
            group = [
                make_block(
                    c_in * 2 if j == 0 and skip == "cat" else c_in,
                    c_in if j < blocks_per_level - 1 else c_out,
                    c_in,
                )
                for j in range(blocks_per_level)
            ]
            self.decoder.append(nn.Sequential(*group))
        if block == "conv":
            self.to_outputs: nn.Module = nn.Conv2d(c_out * e, out_channels, 1)
        else:
            self.to_outputs = nn.Sequential(
                make_norm(norm, c_out * e), make_activation(activation), nn.Conv2d(c_out * e, out_channels, 1)
            )
        self.upsample = make_upsample(upsampling)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """``(B, in_channels, H, W)`` -> ``(B, out_channels, H, W)`` logits.

        With ``multiscale_outputs`` a list of the decoder features (coarse to fine) whose last
        entry is the head's output.
        """
        check_image_tensor(f"{type(self).__name__} input", x, self.in_channels, 2 ** (self.num_levels - 1))
        if hasattr(self, "from_inputs"):
            x = self.from_inputs(x)
        skips = []
        for i, group in enumerate(self.encoder):
            x = group(x)
            if i < len(self.encoder) - 1:
                skips.append(x)
                x = self.downsample(x)
        if hasattr(self, "bottleneck"):
            x = self.bottleneck(x)
        outputs = [x] if self.multiscale_outputs else []
        for j, group in zip(reversed(range(len(self.decoder))), self.decoder):
            x = self.upsample(x)
            x = torch.cat([x, skips[j]], dim=1) if self.skip_type == "cat" else x + skips[j]
            x = group(x)
            if self.multiscale_outputs:
                outputs.append(x)
        if self.multiscale_outputs:
            outputs[-1] = self.to_outputs(outputs[-1])
            return outputs
        return self.to_outputs(x)


class GeometryUNet(UNet):
    """E_geom: neural texture (8) + harmonic xyz texture (39) ``(B, 47, H, W)`` -> latent geometry
    map ``(B, 32, H, W)``. Max-pooling, nearest up-sampling (the release)."""

    def __init__(self, in_channels: int = 47, out_channels: int = 32, **kwargs) -> None:
        super().__init__(in_channels, out_channels, **kwargs)


class RenderUNet(UNet):
    """E_img: rendered neural texture (8) + harmonic normals (39) ``(B, 47, H, W)`` -> logits.

    The release predicts 4 channels (RGB + mask); the paper profile predicts RGB only (3).
    """

    def __init__(self, in_channels: int = 47, out_channels: int = 4, **kwargs) -> None:
        super().__init__(in_channels, out_channels, **kwargs)


class SegmentationUNet(UNet):
    """The paper's separate mask U-Net: half E_img's channels, average pooling, bilinear
    up-sampling; ``(B, 47, H, W)`` -> mask logit ``(B, 1, H, W)``."""

    def __init__(
        self,
        in_channels: int = 47,
        out_channels: int = 1,
        base_channels: int = 32,
        max_channels: int = 256,
        downsampling: str = "avgpool",
        upsampling: str = "bilinear",
        **kwargs,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            base_channels=base_channels,
            max_channels=max_channels,
            downsampling=downsampling,
            upsampling=upsampling,
            **kwargs,
        )


__all__ = ["GeometryUNet", "RenderUNet", "SegmentationUNet", "UNet"]
