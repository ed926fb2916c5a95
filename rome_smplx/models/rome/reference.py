"""Bridge from the released ROME code's constructor arguments to our modules.

``build_reference(reference_class, config)`` takes a class name as written in the reference
(``Autoencoder``, ``UNet``, ``MLP``, ``MultiScaleDiscriminator``, ``WSConv2d``, ``ConvBlock``,
``BottleneckBlock``; a full locator such as ``"src/networks/unet.py:UNet (ROME attribute ...)"`` is
accepted too) and the keyword arguments the reference constructor was called with, and returns our
module with the same state-dict keys and the same forward results.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from torch import nn

from rome_smplx.errors import InputError
from rome_smplx.models.rome.autoencoder import NeuralTextureEncoder
from rome_smplx.models.rome.discriminator import (
    MultiScalePatchDiscriminator,
    apply_spectral_norm,
    init_weights,
)
from rome_smplx.models.rome.layers import BottleneckBlock, ConvBlock, WSConv2d
from rome_smplx.models.rome.mlp import OffsetMLP
from rome_smplx.models.rome.unet import UNet

_CLASS_RE = re.compile(r"^\s*(?:[\w./-]+:)?([A-Za-z_]\w*)")


def reference_class_name(reference_class: str) -> str:
    """``"src/networks/unet.py:UNet (ROME attribute `unet`)"`` -> ``"UNet"``."""
    if not isinstance(reference_class, str):
        raise InputError(f"reference_class must be a string, found {type(reference_class).__name__}")
    m = _CLASS_RE.match(reference_class)
    name = m.group(1) if m else ""
    if name not in _BUILDERS:
        raise InputError(
            f"reference_class: expected one of {sorted(_BUILDERS)} (optionally as 'path.py:Name ...'), "
            f"found {reference_class!r}"
        )
    return name


class _Args:
    """Reads reference keyword arguments, applying the reference's defaults; rejects unknown ones."""

    def __init__(self, cls: str, config: dict[str, Any], defaults: dict[str, Any]) -> None:
        if not isinstance(config, dict):
            raise InputError(f"{cls} config must be a dict, found {type(config).__name__}")
        unknown = sorted(set(config) - set(defaults))
        if unknown:
            raise InputError(f"{cls} config: unknown argument(s) {unknown}; known: {sorted(defaults)}")
        missing = sorted(k for k, v in defaults.items() if v is _REQUIRED and k not in config)
        if missing:
            raise InputError(f"{cls} config: missing required argument(s) {missing}")
        self.cls = cls
        self.values = {**defaults, **config}

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def only(self, key: str, allowed: tuple[Any, ...]) -> Any:
        value = self.values[key]
        if value not in allowed:
            raise InputError(f"{self.cls} config: {key} must be one of {allowed} here, found {value!r}")
        return value


_REQUIRED = object()


def _autoencoder(config: dict[str, Any]) -> nn.Module:
    a = _Args(
        "Autoencoder",
        config,
        dict.fromkeys(
            ["num_channels", "max_channels", "num_groups", "num_bottleneck_groups", "num_blocks", "num_layers",
             "block_type", "input_channels", "input_size", "output_channels", "norm_layer_type",
             "activation_type", "conv_layer_type", "use_psp"],
            _REQUIRED,
        )
        | {"pretrained_model_path": "", "pretrained_model_name": "autoencoder"},
    )
    a.only("use_psp", (False,))
    a.only("pretrained_model_path", ("", None))
    return NeuralTextureEncoder(
        in_channels=a["input_channels"],
        out_channels=a["output_channels"],
        base_channels=a["num_channels"],
        max_channels=a["max_channels"],
        num_levels=a["num_groups"],
        blocks_per_level=a["num_blocks"],
        layers_per_block=a["num_layers"],
        num_bottleneck_levels=a["num_bottleneck_groups"],
        block=a.only("block_type", ("bottleneck", "conv")),
        norm=a["norm_layer_type"],
        activation=a["activation_type"],
        conv=a["conv_layer_type"],
    )


def _unet(config: dict[str, Any]) -> nn.Module:
    a = _Args(
        "UNet",
        config,
        dict.fromkeys(
            ["num_channels", "max_channels", "num_groups", "num_blocks", "num_layers", "block_type",
             "input_channels", "output_channels", "skip_connection_type", "norm_layer_type",
             "activation_type", "conv_layer_type", "downsampling_type", "upsampling_type"],
            _REQUIRED,
        )
        | {"multiscale_outputs": False, "pretrained_model_path": "", "pretrained_model_name": "unet"},
    )
    a.only("pretrained_model_path", ("", None))
    return UNet(
        a["input_channels"],
        a["output_channels"],
        base_channels=a["num_channels"],
        max_channels=a["max_channels"],
        num_levels=a["num_groups"],
        blocks_per_level=a["num_blocks"],
        layers_per_block=a["num_layers"],
        block=a["block_type"],
        skip=a["skip_connection_type"],
        norm=a["norm_layer_type"],
        activation=a["activation_type"],
        conv=a["conv_layer_type"],
        downsampling=a["downsampling_type"],
        upsampling=a["upsampling_type"],
        multiscale_outputs=a["multiscale_outputs"],
    )


def _mlp(config: dict[str, Any]) -> nn.Module:
    a = _Args(
        "MLP",
        config,
        dict.fromkeys(
            ["num_channels", "num_layers", "skip_layer", "input_channels", "output_channels", "activation_type"],
            _REQUIRED,
        )
        | {"pretrained_model_path": "", "pretrained_model_name": "mlp", "last_bias": False},
    )
    a.only("pretrained_model_path", ("", None))
    return OffsetMLP(
        in_channels=a["input_channels"],
        out_channels=a["output_channels"],
        hidden_channels=a["num_channels"],
        num_layers=a["num_layers"],
        skip_layer=a["skip_layer"],
        activation=a["activation_type"],
        last_bias=bool(a["last_bias"]),
    )


def _discriminator(config: dict[str, Any]) -> nn.Module:
    a = _Args(
        "MultiScaleDiscriminator",
        config,
        dict.fromkeys(
            ["min_channels", "max_channels", "num_blocks", "input_channels", "input_size", "num_scales"], _REQUIRED
        ),
    )
    # The bare reference class: PyTorch default init, no spectral norm (see post_construction).
    return MultiScalePatchDiscriminator(
        base_channels=a["min_channels"],
        max_channels=a["max_channels"],
        num_blocks=a["num_blocks"],
        in_channels=a["input_channels"],
        image_size=a["input_size"],
        num_scales=a["num_scales"],
        init_type=None,
        spectral_norm=False,
    )


def _wsconv(config: dict[str, Any]) -> nn.Module:
    a = _Args(
        "WSConv2d",
        config,
        {"in_channels": _REQUIRED, "out_channels": _REQUIRED, "kernel_size": _REQUIRED, "stride": 1,
         "padding": 0, "dilation": 1, "groups": 1, "bias": True},
    )
    return WSConv2d(**a.values)


_BLOCK_KEYS = {
    "in_channels": _REQUIRED, "out_channels": _REQUIRED, "mid_channels": -1, "spade_channels": -1,
    "kernel_size": 3, "stride": 1, "padding": 1, "dilation": 1, "groups": 1, "activation_type": "relu",
    "skip_layer_type": "conv", "resize_layer_type": "none",
}


def _block_common(a: _Args) -> dict[str, Any]:
    a.only("spade_channels", (-1,))
    a.only("dilation", (1,))
    a.only("groups", (1,))
    a.only("skip_layer_type", ("conv",))
    a.only("resize_layer_type", ("none",))
    return dict(
        in_channels=a["in_channels"],
        out_channels=a["out_channels"],
        mid_channels=a["mid_channels"],
        num_layers=a["num_layers"],
        kernel_size=a["kernel_size"],
        stride=a["stride"],
        padding=a["padding"],
        norm=a["norm_layer_type"],
        activation=a["activation_type"],
        conv=a["conv_layer_type"],
    )


def _conv_block(config: dict[str, Any]) -> nn.Module:
    a = _Args(
        "ConvBlock",
        config,
        _BLOCK_KEYS | {"num_layers": 1, "expansion_factor": None, "norm_layer_type": "none",
                       "conv_layer_type": "conv"},
    )
    return ConvBlock(**_block_common(a))


def _bottleneck_block(config: dict[str, Any]) -> nn.Module:
    a = _Args(
        "BottleneckBlock",
        config,
        _BLOCK_KEYS | {"num_layers": 3, "expansion_factor": 4, "norm_layer_type": "bn", "conv_layer_type": "conv"},
    )
    return BottleneckBlock(expansion_factor=a["expansion_factor"], **_block_common(a))


_BUILDERS: dict[str, Callable[[dict[str, Any]], nn.Module]] = {
    "Autoencoder": _autoencoder,
    "UNet": _unet,
    "MLP": _mlp,
    "MultiScaleDiscriminator": _discriminator,
    "WSConv2d": _wsconv,
    "ConvBlock": _conv_block,
    "BottleneckBlock": _bottleneck_block,
}

#: post_construction keys that describe how fixture data was made, not how the module is built.
_PROVENANCE_KEYS = {"spectral_norm_warmup_train_forwards"}


def apply_post_construction(module: nn.Module, post_construction: dict[str, Any]) -> nn.Module:
    """Weight init then spectral norm, as described by a fixture's ``post_construction`` dict:
    ``{"weight_init": {"init_type", "gain"}, "spectral_norm": {"apply_to", "name",
    "n_power_iterations", "eps", "dim"}}``. Warm-up forwards are data generation, not construction:
    their effect is in the state dict."""
    if not isinstance(post_construction, dict):
        raise InputError(f"post_construction must be a dict, found {type(post_construction).__name__}")
    unknown = sorted(set(post_construction) - {"weight_init", "spectral_norm"} - _PROVENANCE_KEYS)
    if unknown:
        raise InputError(f"post_construction: unknown step(s) {unknown}")
    if "weight_init" in post_construction:
        wi = post_construction["weight_init"]
        init_weights(module, wi.get("init_type", "xavier"), float(wi.get("gain", 0.02)))
    if "spectral_norm" in post_construction:
        sn = post_construction["spectral_norm"]
        apply_spectral_norm(
            module,
            apply_to=tuple(sn.get("apply_to", ("conv2d",))),
            n_power_iterations=int(sn.get("n_power_iterations", 1)),
            eps=float(sn.get("eps", 1e-12)),
            dim=int(sn.get("dim", 0)),
            name=sn.get("name", "weight"),
        )
    return module


def build_reference(
    reference_class: str, config: dict[str, Any], post_construction: dict[str, Any] | None = None
) -> nn.Module:
    """Our module for a reference class and its constructor keyword arguments.

    Args:
        reference_class: ``"Autoencoder"``, ``"UNet"``, ``"MLP"``, ``"MultiScaleDiscriminator"``,
            ``"WSConv2d"``, ``"ConvBlock"``, ``"BottleneckBlock"``, or a fixture's full
            ``reference_class`` string.
        config: the reference constructor's keyword arguments (a fixture's ``config``).
        post_construction: optional weight init + spectral norm (a fixture's ``post_construction``).

    Returns:
        A module whose ``state_dict()`` keys equal the reference's and whose forward returns what
        the reference returns (the discriminator: ``(scores, features)`` nested as
        ``scores[scale][0]``, ``features[scale][block][0]``).
    """
    module = _BUILDERS[reference_class_name(reference_class)](config)
    if post_construction:
        apply_post_construction(module, post_construction)
    return module


__all__ = ["apply_post_construction", "build_reference", "reference_class_name"]
