"""Network configurations ("profiles") and the :class:`RomeNetworks` container.

* ``official``: the released code (what ``rome.pth`` holds): harmonic frequencies ``2**k``, one
  rendering U-Net E_img with 4 outputs (RGB + mask logits), max-pooling and nearest up-sampling.
* ``paper``: the supplementary text: harmonic frequencies ``k = 1..K``; E_img predicts RGB (3
  outputs, max-pooling, nearest up-sampling) and a separate segmentation U-Net with half the
  channels, average pooling and bilinear up-sampling predicts the mask.

Two behaviours of the release that are accidents rather than design are switches of the profile
(``official`` reproduces them, ``paper`` keeps the clean version; see the fields for details):

* ``mlp_uv_grid_size``: G_geom's UV input is read from a ``linspace(-1, 1, S)`` grid image, not
  taken as is;
* ``mask_opening``: the hard-mask clean-up is a vertical ``9 x 1`` opening, not a ``9 x 9`` one;
* ``landmark_contour``: the 17 contour landmarks are picked for twice the head's yaw.

Profiles saved before these fields existed load with the clean defaults (how they were trained).

Each profile comes in two sizes: ``full`` (the release's widths) and ``small`` (the reduced widths
of the reference fixtures, for tests and quick runs; same depths and conventions).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rome_smplx.errors import InputError
from rome_smplx.geometry.harmonic import harmonic_channels, harmonic_encoding
from rome_smplx.models.rome.autoencoder import NeuralTextureEncoder
from rome_smplx.models.rome.discriminator import MultiScalePatchDiscriminator
from rome_smplx.models.rome.mlp import OffsetMLP
from rome_smplx.models.rome.unet import GeometryUNet, RenderUNet, SegmentationUNet

PROFILES = ("official", "paper")
#: Shapes of the hard-mask opening (:attr:`RomeProfile.mask_opening`).
MASK_OPENINGS = ("square", "vertical")
#: Rules for the contour landmarks (:attr:`RomeProfile.landmark_contour`).
LANDMARK_CONTOURS = ("head", "release")
SIZES = ("full", "small")

# Widths per size: (E_tex base, E_tex max, U-Net base, U-Net max, MLP width, discriminator base, max).
_WIDTHS = {
    "full": dict(tex=(64, 512), unet=(64, 512), mlp=256, dis=(64, 512)),
    "small": dict(tex=(4, 32), unet=(8, 64), mlp=32, dis=(8, 64)),
}


@dataclass(frozen=True)
class RomeProfile:
    """Everything needed to build the ROME networks and prepare their inputs.

    The ``*_kwargs`` dicts are keyword arguments of our constructors (see :mod:`.autoencoder`,
    :mod:`.unet`, :mod:`.mlp`, :mod:`.discriminator`); input widths are derived from the fields.
    """

    name: str
    size: str
    harmonic_frequencies: str  # "pow2" (release) or "linear" (paper)
    num_frequencies: int = 6
    xyz_scale: float = 5.0  # the UV xyz texture is multiplied by this before its harmonic encoding
    neural_texture_channels: int = 8
    geometry_feature_channels: int = 32
    image_size: int = 256
    autoencoder_kwargs: dict[str, Any] = field(default_factory=dict)
    mesh_deformer_kwargs: dict[str, Any] = field(default_factory=dict)
    mlp_deformer_kwargs: dict[str, Any] = field(default_factory=dict)
    unet_kwargs: dict[str, Any] = field(default_factory=dict)
    unet_seg_kwargs: dict[str, Any] | None = None
    discriminator_kwargs: dict[str, Any] = field(default_factory=dict)
    #: G_geom's UV input. ``None``: the vertex UV itself. ``S``: as the release computes it, by
    #: bilinearly sampling (``align_corners=False``, zero padding) an ``S x S`` image whose texels
    #: hold ``linspace(-1, 1, S)`` at each vertex UV. That is not the identity: it scales the UV
    #: by ``S / (S - 1)`` inside and fades it to 0 within a texel of the border. With frequencies
    #: up to ``2**5`` the encodings differ by up to 2, so weights trained one way need that way.
    mlp_uv_grid_size: int | None = None
    #: Shape of the opening that cleans the hard mask: ``"square"`` (``k x k``, the intent) or
    #: ``"vertical"`` (``k x 1``: the release hands OpenCV a ``(1, H, W)`` array, which OpenCV
    #: reads as one row of ``H`` pixels with ``W`` channels, so only the vertical extent acts).
    mask_opening: str = "square"
    #: Which rotation picks the row of FLAME's dynamic contour table for the 68 target landmarks.
    #: ``"head"``: the head rotation (global times neck), as :class:`~rome_smplx.models.flame.FlameModel`
    #: does. ``"release"``: what the release computes: it hands DECA's landmark code the global
    #: rotation repeated once per vertex, so the neck-to-root chain multiplies it by itself and the
    #: row is that of the squared rotation, with the yaw sign of DECA's code. Only the landmarks
    #: change (the image does not); they feed the keypoint loss.
    landmark_contour: str = "head"
    #: Beyond the release. ``True``: E_tex also sees the source image carried into UV space through
    #: the source FLAME mesh (:func:`~rome_smplx.render.neural.unwrap_image`: RGB times visibility,
    #: visibility), added to its output by a 1x1 convolution (:attr:`RomeNetworks.unwrap`). The
    #: release's E_tex must learn the image-to-UV warp itself, which takes far more training than a
    #: CPU budget allows; with the unwrap, E_tex only has to fill what the source does not see.
    texture_unwrap: bool = False
    #: Bound of the offsets: ``tanh(G_geom) * offset_scale`` along the normals (release: 1, one FLAME
    #: unit, a metre). A bound near the longest hair keeps an untrained G_geom from throwing
    #: vertices metres away.
    offset_scale: float = 1.0
    #: Beyond the release; needs :attr:`texture_unwrap`. ``True``: the first 4 channels of the
    #: neural texture *are* the unwrapped source (colour times visibility, visibility) instead of
    #: learnt features, and E_img's RGB logits get a skip from them: ``logit(colour) * gate``,
    #: ``gate = clamp(2 visibility - 1, 0, 1)``. A texel the source saw is then rendered with the
    #: source's colour from the first step, and E_img learns the corrections (shading, hair the
    #: source mesh does not cover, what the source did not see).
    unwrap_skip: bool = False

    def __post_init__(self) -> None:
        if self.landmark_contour not in LANDMARK_CONTOURS:
            raise InputError(
                f"RomeProfile.landmark_contour: expected one of {LANDMARK_CONTOURS}, found {self.landmark_contour!r}")
        if self.mask_opening not in MASK_OPENINGS:
            raise InputError(f"RomeProfile.mask_opening: expected one of {MASK_OPENINGS}, found {self.mask_opening!r}")
        if not isinstance(self.texture_unwrap, bool):
            raise InputError(f"RomeProfile.texture_unwrap: expected a bool, found {self.texture_unwrap!r}")
        if not isinstance(self.unwrap_skip, bool):
            raise InputError(f"RomeProfile.unwrap_skip: expected a bool, found {self.unwrap_skip!r}")
        if self.unwrap_skip and not self.texture_unwrap:
            raise InputError("RomeProfile.unwrap_skip needs texture_unwrap=True (the skip reads the unwrapped source)")
        if self.unwrap_skip and self.neural_texture_channels < 5:
            raise InputError(f"RomeProfile.unwrap_skip needs at least 5 texture channels, found {self.neural_texture_channels}")
        o = self.offset_scale
        if isinstance(o, bool) or not isinstance(o, (int, float)) or not 0 < o < float("inf"):
            raise InputError(f"RomeProfile.offset_scale: expected a number > 0, found {o!r}")
        g = self.mlp_uv_grid_size
        if g is not None and (isinstance(g, bool) or not isinstance(g, int) or g < 2):
            raise InputError(f"RomeProfile.mlp_uv_grid_size: expected None or an integer >= 2, found {g!r}")

    @property
    def separate_segmentation(self) -> bool:
        return self.unet_seg_kwargs is not None

    @property
    def xyz_channels(self) -> int:
        """Width of the harmonic encoding of a 3-vector (39 at K = 6)."""
        return harmonic_channels(3, self.num_frequencies)

    @property
    def uv_channels(self) -> int:
        """Width of the harmonic encoding of a UV pair (26 at K = 6)."""
        return harmonic_channels(2, self.num_frequencies)

    def harmonic(self, x: torch.Tensor) -> torch.Tensor:
        """Harmonic encoding ``(..., D)`` -> ``(..., D (1 + 2K))`` in this profile's convention."""
        return harmonic_encoding(x, self.num_frequencies, self.harmonic_frequencies)

    def offset_mlp_uv(self, uvs: torch.Tensor) -> torch.Tensor:
        """The UVs G_geom encodes, ``(..., 2)`` -> ``(..., 2)`` (see :attr:`mlp_uv_grid_size`)."""
        size = self.mlp_uv_grid_size
        if size is None:
            return uvs
        ramp = torch.linspace(-1.0, 1.0, size, dtype=uvs.dtype, device=uvs.device)
        # channel 0 holds x (varies along a row), channel 1 holds y (varies down a column)
        grid_image = torch.stack([ramp.expand(size, size), ramp[:, None].expand(size, size)])[None]
        flat = uvs.reshape(1, -1, 1, 2)
        sampled = F.grid_sample(grid_image, flat, mode="bilinear", padding_mode="zeros", align_corners=False)
        return sampled[0, :, :, 0].T.reshape(uvs.shape)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RomeProfile:
        """Build from a mapping of the fields (:func:`rome_smplx.io.config.from_mapping`); fields
        left out keep their defaults."""
        from rome_smplx.io.config import from_mapping

        return from_mapping(cls, data, "RomeProfile")


def get_profile(name: str = "official", size: str = "full") -> RomeProfile:
    """The ``official`` or ``paper`` profile at ``full`` or ``small`` size."""
    if name not in PROFILES:
        raise InputError(f"profile must be one of {PROFILES}, found {name!r}")
    if size not in SIZES:
        raise InputError(f"size must be one of {SIZES}, found {size!r}")
    w = _WIDTHS[size]
    k = 6
    tex_ch, geom_ch = 8, 32
    xyz_ch, uv_ch = harmonic_channels(3, k), harmonic_channels(2, k)
    unet_common = dict(
        base_channels=w["unet"][0], max_channels=w["unet"][1], num_levels=4, blocks_per_level=1,
        layers_per_block=2, block="conv", skip="cat", norm="gn", activation="relu", conv="ws_conv",
        downsampling="maxpool", upsampling="nearest",
    )
    autoencoder = dict(
        in_channels=4, out_channels=tex_ch, base_channels=w["tex"][0], max_channels=w["tex"][1], num_levels=4,
        blocks_per_level=2, layers_per_block=4, num_bottleneck_levels=0, block="bottleneck", norm="gn",
        activation="relu", conv="ws_conv",
    )
    mesh_deformer = dict(in_channels=tex_ch + xyz_ch, out_channels=geom_ch, **unet_common)
    mlp = dict(
        in_channels=geom_ch + uv_ch, out_channels=3, hidden_channels=w["mlp"], num_layers=8, skip_layer=4,
        activation="relu", last_bias=False,
    )
    discriminator = dict(
        base_channels=w["dis"][0], max_channels=w["dis"][1], num_blocks=4, in_channels=3, image_size=256,
        num_scales=1,
    )
    if name == "official":
        unet = dict(in_channels=tex_ch + xyz_ch, out_channels=4, **unet_common)
        unet_seg = None
        freqs = "pow2"
        quirks = dict(mlp_uv_grid_size=256, mask_opening="vertical", landmark_contour="release")
    else:
        unet = dict(in_channels=tex_ch + xyz_ch, out_channels=3, **unet_common)
        unet_seg = dict(
            unet_common,
            in_channels=tex_ch + xyz_ch,
            out_channels=1,
            base_channels=w["unet"][0] // 2,
            max_channels=w["unet"][1] // 2,
            downsampling="avgpool",
            upsampling="bilinear",
        )
        freqs = "linear"
        quirks = dict(mlp_uv_grid_size=None, mask_opening="square", landmark_contour="head")
    return RomeProfile(
        name=name, size=size, harmonic_frequencies=freqs, num_frequencies=k, neural_texture_channels=tex_ch,
        geometry_feature_channels=geom_ch, autoencoder_kwargs=autoencoder, mesh_deformer_kwargs=mesh_deformer,
        mlp_deformer_kwargs=mlp, unet_kwargs=unet, unet_seg_kwargs=unet_seg, discriminator_kwargs=discriminator,
        **quirks,
    )


class RomeNetworks(nn.Module):
    """The learned ROME networks of one profile.

    Attributes (the names are the ``rome.pth`` prefixes):
        autoencoder: E_tex, :class:`NeuralTextureEncoder`.
        mesh_deformer: E_geom, :class:`GeometryUNet`.
        mlp_deformer: G_geom, :class:`OffsetMLP`.
        unet: E_img, :class:`RenderUNet` (4 outputs in ``official``, 3 in ``paper``).
        unet_seg: the paper's :class:`SegmentationUNet`, ``None`` in ``official``.
        discriminator: :class:`MultiScalePatchDiscriminator` when built for training, else ``None``.
        unwrap: with :attr:`RomeProfile.texture_unwrap`, the 1x1 convolution that adds the unwrapped
            source (4 channels) to E_tex's output; else ``None``.
    """

    def __init__(self, profile: RomeProfile, with_discriminator: bool = False) -> None:
        super().__init__()
        self.profile = profile
        self.autoencoder = NeuralTextureEncoder(**profile.autoencoder_kwargs)
        self.mesh_deformer = GeometryUNet(**profile.mesh_deformer_kwargs)
        self.mlp_deformer = OffsetMLP(**profile.mlp_deformer_kwargs)
        self.unet = RenderUNet(**profile.unet_kwargs)
        self.unet_seg = SegmentationUNet(**profile.unet_seg_kwargs) if profile.unet_seg_kwargs is not None else None
        self.discriminator = (
            MultiScalePatchDiscriminator(**profile.discriminator_kwargs) if with_discriminator else None
        )
        self.unwrap = nn.Conv2d(4, profile.neural_texture_channels, 1) if profile.texture_unwrap else None

    @classmethod
    def from_profile(
        cls,
        name: str = "official",
        size: str = "full",
        with_discriminator: bool = False,
        device: torch.device | str | None = None,
    ) -> RomeNetworks:
        """Build the networks of a named profile (random init; load weights with
        :func:`~rome_smplx.models.rome.checkpoint.load_official` or ``load``)."""
        profile = get_profile(name, size)
        if device is None:
            return cls(profile, with_discriminator)
        with torch.device(device):
            return cls(profile, with_discriminator)

    @property
    def with_discriminator(self) -> bool:
        return self.discriminator is not None

    def encode_texture(
        self, image: torch.Tensor, mask: torch.Tensor, unwrapped: torch.Tensor | None = None
    ) -> torch.Tensor:
        """E_tex on ``cat([image (B, 3, H, W) in [0, 1], mask (B, 1, H, W)])`` -> ``(B, 8, H, W)``.

        With :attr:`RomeProfile.texture_unwrap`, ``unwrapped`` (B, 4, S, S) is required (the output
        of :func:`~rome_smplx.render.neural.unwrap_image`) and is added through :attr:`unwrap`.
        """
        if image.dim() != 4 or mask.dim() != 4 or image.shape[0] != mask.shape[0] or image.shape[2:] != mask.shape[2:]:
            raise InputError(
                f"encode_texture: expected image (B, 3, H, W) and mask (B, 1, H, W), found "
                f"{tuple(image.shape)} and {tuple(mask.shape)}"
            )
        tex = self.autoencoder(torch.cat([image, mask], dim=1))
        if self.unwrap is None:
            return tex
        if unwrapped is None or unwrapped.dim() != 4 or unwrapped.shape[:2] != (image.shape[0], 4):
            raise InputError(
                f"encode_texture: this profile (texture_unwrap) needs the unwrapped source (B={image.shape[0]}, 4, S, S), "
                f"found {None if unwrapped is None else tuple(unwrapped.shape)}"
            )
        if unwrapped.shape[-2:] != tex.shape[-2:]:
            unwrapped = F.interpolate(unwrapped, size=tex.shape[-2:], mode="bilinear", align_corners=False)
        unwrapped = unwrapped.to(tex.dtype)
        tex = tex + self.unwrap(unwrapped)
        if self.profile.unwrap_skip:  # the first 4 channels carry the unwrap itself
            tex = torch.cat([unwrapped, tex[:, 4:]], dim=1)
        return tex

    @staticmethod
    def unwrap_skip_logits(features: torch.Tensor) -> torch.Tensor:
        """The RGB skip of :attr:`RomeProfile.unwrap_skip` from E_img's input ``(B, C, H, W)``
        (channels 0-2: colour times visibility, 3: visibility) -> ``(B, 3, H, W)`` logits, 0 where
        the source saw nothing."""
        vis = features[:, 3:4]
        colour = (features[:, :3] / vis.clamp_min(1e-3)).clamp(0.01, 0.99)
        gate = (2.0 * vis - 1.0).clamp(0.0, 1.0)
        return torch.logit(colour) * gate

    def render_logits(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """E_img (and the segmentation U-Net in ``paper``): ``(B, 47, H, W)`` -> RGB logits
        ``(B, 3, H, W)`` and mask logits ``(B, 1, H, W)``; apply ``sigmoid`` for the image and mask."""
        out = self.unet(features)
        if self.unet_seg is None:
            rgb, mask = out[:, :3], out[:, 3:]
        else:
            rgb, mask = out, self.unet_seg(features)
        if self.profile.unwrap_skip:
            rgb = rgb + self.unwrap_skip_logits(features)
        return rgb, mask


__all__ = ["LANDMARK_CONTOURS", "MASK_OPENINGS", "PROFILES", "SIZES", "RomeNetworks", "RomeProfile", "get_profile"]
