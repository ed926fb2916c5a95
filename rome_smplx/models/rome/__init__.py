"""ROME networks (E_tex, E_geom, G_geom, E_img, discriminator), profiles and checkpoints."""

from rome_smplx.models.rome.autoencoder import NeuralTextureEncoder
from rome_smplx.models.rome.checkpoint import OFFICIAL_PREFIXES, load, load_official, save
from rome_smplx.models.rome.discriminator import (
    DiscriminatorOutput,
    MultiScalePatchDiscriminator,
    PatchDiscriminator,
    apply_spectral_norm,
    init_weights,
)
from rome_smplx.models.rome.layers import BottleneckBlock, ConvBlock, WSConv2d, group_norm
from rome_smplx.models.rome.linear_basis import fit_pca_basis, project_coefficients
from rome_smplx.models.rome.mlp import OffsetMLP
from rome_smplx.models.rome.profiles import PROFILES, SIZES, RomeNetworks, RomeProfile, get_profile
from rome_smplx.models.rome.reference import build_reference
from rome_smplx.models.rome.resnet import LinearHairRegressor, ResNet50, load_linear_regressor
from rome_smplx.models.rome.unet import GeometryUNet, RenderUNet, SegmentationUNet, UNet

__all__ = [
    "OFFICIAL_PREFIXES",
    "PROFILES",
    "SIZES",
    "BottleneckBlock",
    "ConvBlock",
    "DiscriminatorOutput",
    "GeometryUNet",
    "LinearHairRegressor",
    "MultiScalePatchDiscriminator",
    "NeuralTextureEncoder",
    "OffsetMLP",
    "PatchDiscriminator",
    "RenderUNet",
    "ResNet50",
    "RomeNetworks",
    "RomeProfile",
    "SegmentationUNet",
    "UNet",
    "WSConv2d",
    "apply_spectral_norm",
    "build_reference",
    "fit_pca_basis",
    "get_profile",
    "group_norm",
    "init_weights",
    "load",
    "load_linear_regressor",
    "load_official",
    "project_coefficients",
    "save",
]
