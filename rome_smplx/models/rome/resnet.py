"""ResNet-50 with torchvision's state-dict layout, and ROME's linear hair/shoulder regressor.

``linear_hair.pth`` is a torchvision ``resnet50`` whose ``fc`` maps 2048 -> 60 basis coefficients
(50 hair + 10 neck). The network is defined here so torchvision is not needed; its keys
(``conv1``, ``bn1``, ``layer1..4.{i}.conv1/bn1/conv2/bn2/conv3/bn3/downsample.0/1``, ``fc``) are
torchvision's. The stride of a down-sampling bottleneck sits on its 3x3 conv (torchvision's "v1.5").
"""

from __future__ import annotations

import os

import torch
from torch import nn

from rome_smplx.errors import InputError
from rome_smplx.io.checkpoints import safe_torch_load

RESNET50_LAYERS = (3, 4, 6, 3)


class ResNetBottleneck(nn.Module):
    """1x1 -> 3x3 (stride) -> 1x1 (x4) with BatchNorm and a projected shortcut when needed."""

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1) -> None:
        super().__init__()
        out = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + identity)


class ResNet50(nn.Module):
    """ResNet-50: ``(B, 3, H, W)`` -> ``(B, num_outputs)`` (``fc`` on globally pooled 2048 features).

    ``layers`` (blocks per stage) and ``base_width`` (64 in ResNet-50) give the same family at
    other sizes, with the same key layout (e.g. the regressor shipped with the synthetic-trained
    weights: ``layers=(1, 1, 1, 1)``, ``base_width=16``).
    """

    def __init__(self, num_outputs: int = 1000, layers: tuple[int, ...] = RESNET50_LAYERS, base_width: int = 64) -> None:
        super().__init__()
        if len(layers) != 4 or min(layers) < 1 or base_width < 1:
            raise InputError(f"ResNet50: expected 4 stages of >= 1 blocks and base_width >= 1, found {layers}, {base_width}")
        self.layers = tuple(int(n) for n in layers)
        self.base_width = int(base_width)
        self.conv1 = nn.Conv2d(3, base_width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        c = base_width
        for i, (n, width) in enumerate(zip(layers, (base_width * m for m in (1, 2, 4, 8)))):
            blocks = []
            for j in range(n):
                blocks.append(ResNetBottleneck(c, width, stride=2 if (j == 0 and i > 0) else 1))
                c = width * ResNetBottleneck.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(c, num_outputs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> pooled features ``(B, 2048)``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class LinearHairRegressor(ResNet50):
    """ROME's distilled regressor: aligned image ``(B, 3, 256, 256)`` in [0, 1] (no normalisation)
    -> ``(B, num_coefficients)`` coefficients of the hair (50) + neck (10) offset basis."""

    def __init__(self, num_coefficients: int = 60, layers: tuple[int, ...] = RESNET50_LAYERS, base_width: int = 64) -> None:
        super().__init__(num_outputs=num_coefficients, layers=layers, base_width=base_width)
        self.num_coefficients = num_coefficients

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(image) or image.dim() != 4 or image.shape[1] != 3:
            shape = tuple(image.shape) if torch.is_tensor(image) else type(image).__name__
            raise InputError(f"LinearHairRegressor: expected an image (B, 3, H, W) in [0, 1], found {shape}")
        return super().forward(image)


def load_linear_regressor(
    path: str | os.PathLike, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> LinearHairRegressor:
    """Load ``linear_hair.pth`` (torchvision ResNet-50 state dict, fc -> 60) in eval mode.

    The number of coefficients is read from ``fc.weight``, the width from ``conv1.weight`` and the
    blocks per stage from the keys (ResNet-50 for the release's file). Missing/unexpected keys or
    wrong shapes raise :class:`~rome_smplx.errors.CheckpointError`.
    """
    from rome_smplx.io.checkpoints import extract_state_dict

    state = extract_state_dict(safe_torch_load(path), path)
    return regressor_from_state(state, path, device=device, dtype=dtype)


def regressor_from_state(state: dict, source, device: torch.device | str = "cpu",
                         dtype: torch.dtype = torch.float32) -> LinearHairRegressor:
    """A :class:`LinearHairRegressor` sized after a state dict (see :func:`load_linear_regressor`), in eval mode."""
    from rome_smplx.io.checkpoints import fill_module

    fc = state.get("fc.weight")
    num = int(fc.shape[0]) if fc is not None and fc.dim() == 2 else 60
    c1 = state.get("conv1.weight")
    width = int(c1.shape[0]) if c1 is not None and c1.dim() == 4 else 64
    layers = tuple(max([int(k.split(".")[1]) + 1 for k in state if k.startswith(f"layer{i}.")] or [1]) for i in range(1, 5))
    with torch.device("meta"):
        model = LinearHairRegressor(num, layers=layers, base_width=width)
    fill_module(model, state, source, dtype=dtype)
    return model.to(device).eval()


__all__ = [
    "RESNET50_LAYERS", "LinearHairRegressor", "ResNet50", "ResNetBottleneck", "load_linear_regressor", "regressor_from_state",
]
