"""VGG16/VGG19 convolutional features for perceptual losses, torchvision-compatible keys.

Only the ``features`` part is built (``features.{N}.weight/bias`` as in torchvision) and only up
to the deepest requested layer. Weights are loaded from a file (no downloads).
"""

from __future__ import annotations

import os

import torch
from torch import nn

from rome_smplx.errors import CheckpointError, InputError
from rome_smplx.io.checkpoints import safe_torch_load

# Channel plans ("M" = 2x2 max-pool), as in the VGG paper (configurations D and E).
_PLANS = {
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"),
}
DEFAULT_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _layer_indices(arch: str) -> dict[str, int]:
    """``"reluB_K"`` -> index of that ReLU in ``features``."""
    names, idx, block, k = {}, 0, 1, 0
    for item in _PLANS[arch]:
        if item == "M":
            block, k, idx = block + 1, 0, idx + 1
        else:
            k += 1
            names[f"relu{block}_{k}"] = idx + 1
            idx += 2
    return names


class VGGFeatures(nn.Module):
    """Selected ReLU activations of VGG16/19.

    Args:
        arch: ``"vgg19"`` or ``"vgg16"``.
        layers: names like ``"relu1_1"`` .. ``"relu5_1"`` (default: those five).
        normalize: map inputs in [0, 1] with the ImageNet mean/std first (what the weights expect).

    ``(B, 3, H, W)`` -> list of ``(B, C_l, H_l, W_l)`` in the order of ``layers``.
    """

    def __init__(self, arch: str = "vgg19", layers: tuple[str, ...] = DEFAULT_LAYERS, normalize: bool = True) -> None:
        super().__init__()
        if arch not in _PLANS:
            raise InputError(f"VGGFeatures: arch must be one of {sorted(_PLANS)}, found {arch!r}")
        index = _layer_indices(arch)
        unknown = [name for name in layers if name not in index]
        if unknown or not layers:
            raise InputError(f"VGGFeatures: unknown layer(s) {unknown or list(layers)}; known: {sorted(index)}")
        self.arch = arch
        self.layer_names = tuple(layers)
        self._indices = [index[name] for name in layers]
        last = max(self._indices)
        modules: list[nn.Module] = []
        c = 3
        for item in _PLANS[arch]:
            if len(modules) > last:
                break
            if item == "M":
                modules.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                modules += [nn.Conv2d(c, item, 3, padding=1), nn.ReLU(inplace=False)]
                c = item
        self.features = nn.Sequential(*modules[: last + 1])
        self.normalize = normalize
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if not torch.is_tensor(x) or x.dim() != 4 or x.shape[1] != 3:
            shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise InputError(f"VGGFeatures: expected (B, 3, H, W), found {shape}")
        if self.normalize:
            x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        wanted = {idx: i for i, idx in enumerate(self._indices)}
        out: list[torch.Tensor | None] = [None] * len(self._indices)
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in wanted:
                out[wanted[i]] = x
        return out  # type: ignore[return-value]


def load_vgg(
    path: str | os.PathLike,
    arch: str = "vgg19",
    layers: tuple[str, ...] = DEFAULT_LAYERS,
    normalize: bool = True,
    device: torch.device | str = "cpu",
) -> VGGFeatures:
    """VGG features with weights from a torchvision-format state dict file (``classifier.*``
    keys and layers deeper than needed are ignored). Frozen, eval mode."""
    from rome_smplx.io.checkpoints import extract_state_dict, fill_module

    state = extract_state_dict(safe_torch_load(path), path)
    model = VGGFeatures(arch, layers, normalize)
    wanted = set(model.state_dict())
    if not any(k.startswith("features.") for k in state):
        raise CheckpointError(f"{path}: no 'features.*' keys; expected a torchvision {arch} state dict")
    fill_module(model, {k: v for k, v in state.items() if k in wanted}, path)
    model.requires_grad_(False)
    return model.to(device).eval()


__all__ = ["DEFAULT_LAYERS", "VGGFeatures", "load_vgg"]
