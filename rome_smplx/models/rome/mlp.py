"""G_geom: the per-vertex offset MLP with the input concatenated back in the middle."""

from __future__ import annotations

import torch
from torch import nn

from rome_smplx.errors import InputError
from rome_smplx.models.rome.layers import make_activation


class OffsetMLP(nn.Module):
    """G_geom: per-vertex features -> pre-tanh offset coefficients.

    ``block_1 = [Linear(in -> C), act] + (skip_layer - 1) x [Linear(C -> C), act]``; then the input
    is concatenated in front of the hidden features; ``block_2 = [Linear(C + in -> C), act] +
    (num_layers - skip_layer - 1) x [Linear(C -> C), act] + [Linear(C -> out)]``. So
    ``num_layers = 8`` means 9 linear layers. No output activation.

    Accepts ``(N, in)``, ``(B, P, in)`` (applied per point) and ``(B, in, H, W)`` (applied per
    pixel); returns the same layout with ``out`` channels.
    """

    def __init__(
        self,
        in_channels: int = 58,
        out_channels: int = 3,
        hidden_channels: int = 256,
        num_layers: int = 8,
        skip_layer: int = 4,
        activation: str = "relu",
        last_bias: bool = False,
    ) -> None:
        super().__init__()
        if num_layers < 2 or not 1 <= skip_layer < num_layers:
            raise InputError(
                f"OffsetMLP: need num_layers >= 2 and 1 <= skip_layer < num_layers, found "
                f"num_layers={num_layers}, skip_layer={skip_layer}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        first: list[nn.Module] = [nn.Linear(in_channels, hidden_channels), make_activation(activation)]
        for _ in range(skip_layer - 1):
            first += [nn.Linear(hidden_channels, hidden_channels), make_activation(activation)]
        self.block_1 = nn.Sequential(*first)
        second: list[nn.Module] = [
            nn.Linear(hidden_channels + in_channels, hidden_channels),
            make_activation(activation),
        ]
        for _ in range(num_layers - skip_layer - 1):
            second += [nn.Linear(hidden_channels, hidden_channels), make_activation(activation)]
        second.append(nn.Linear(hidden_channels, out_channels, bias=last_bias))
        self.block_2 = nn.Sequential(*second)

    def _mlp(self, x: torch.Tensor) -> torch.Tensor:
        h = self.block_1(x)
        return self.block_2(torch.cat([x, h], dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in)`` -> ``(N, out)``; ``(B, P, in)`` -> ``(B, P, out)``; ``(B, in, H, W)`` -> ``(B, out, H, W)``."""
        if not torch.is_tensor(x) or x.dim() not in (2, 3, 4):
            shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise InputError(f"OffsetMLP: expected (N, C), (B, P, C) or (B, C, H, W), found {shape}")
        c_dim = 1 if x.dim() == 4 else -1
        if x.shape[c_dim] != self.in_channels:
            raise InputError(
                f"OffsetMLP: expected {self.in_channels} input channels, found {x.shape[c_dim]} in {tuple(x.shape)}"
            )
        if x.dim() == 2:
            return self._mlp(x)
        if x.dim() == 3:
            b, p, c = x.shape
            return self._mlp(x.reshape(b * p, c)).view(b, p, -1)
        b, c, h, w = x.shape
        y = self._mlp(x.permute(0, 2, 3, 1).reshape(-1, c))
        return y.view(b, h, w, -1).permute(0, 3, 1, 2)


__all__ = ["OffsetMLP"]
