"""Importing the released ``rome.pth`` and our own checkpoint format.

``rome.pth`` is a flat state dict of the whole ROME model. Our networks take the keys under
``autoencoder.`` (E_tex), ``mesh_deformer.`` (E_geom), ``mlp_deformer.`` (G_geom) and ``unet.`` (E_img),
plus ``discriminator.`` when built for training. DECA/FLAME keys (``parametric_avatar.*``) are
reported and skipped. Every key of our networks must be filled with a tensor of the right shape.

Our own format is a safetensors file with the profile as JSON in its metadata, beside a
``config.json`` copy: ``save(networks, "out/")`` writes ``out/model.safetensors`` and
``out/config.json``; ``save(networks, "net.safetensors")`` writes ``net.safetensors`` and
``net.json``.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from rome_smplx.errors import CheckpointError, InputError
from rome_smplx.io.checkpoints import (
    _listing,
    extract_state_dict,
    fill_module,
    load_safetensors,
    safe_torch_load,
    save_safetensors,
    write_json_atomic,
)
from rome_smplx.models.rome.profiles import RomeNetworks, RomeProfile

logger = logging.getLogger(__name__)

#: ``rome.pth`` prefix -> attribute of :class:`RomeNetworks`.
OFFICIAL_PREFIXES = {
    "autoencoder.": "autoencoder",
    "mesh_deformer.": "mesh_deformer",
    "mlp_deformer.": "mlp_deformer",
    "unet.": "unet",
}
DISCRIMINATOR_PREFIX = "discriminator."
#: Keys under these prefixes belong to DECA/FLAME or are recomputable buffers: skipped.
FOREIGN_PREFIXES = ("parametric_avatar.",)

FORMAT_NAME = "rome_smplx.rome_networks"
FORMAT_VERSION = 1
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"



def _split_official(
    state: Mapping[str, torch.Tensor], with_discriminator: bool, source: str | os.PathLike
) -> dict[str, dict[str, torch.Tensor]]:
    prefixes = dict(OFFICIAL_PREFIXES)
    if with_discriminator:
        prefixes[DISCRIMINATOR_PREFIX] = "discriminator"
    parts: dict[str, dict[str, torch.Tensor]] = {attr: {} for attr in prefixes.values()}
    skipped: Counter[str] = Counter()
    unknown: list[str] = []
    for key, value in state.items():
        for prefix, attr in prefixes.items():
            if key.startswith(prefix):
                parts[attr][key[len(prefix):]] = value
                break
        else:
            if key.startswith(FOREIGN_PREFIXES) or key.startswith(DISCRIMINATOR_PREFIX):
                group = ".".join(key.split(".")[:2]) if key.startswith(FOREIGN_PREFIXES) else "discriminator"
                skipped[group] += 1
            else:
                unknown.append(key)
    for group, count in sorted(skipped.items()):
        logger.info("%s: skipped %d key(s) under '%s.' (not part of the ROME networks)", source, count, group)
    if unknown:
        logger.warning("%s: skipped %d unrecognised key(s): %s", source, len(unknown), _listing(unknown))
    return parts


def load_official(
    path: str | os.PathLike,
    profile: str = "official",
    *,
    size: str = "full",
    with_discriminator: bool = False,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> RomeNetworks:
    """Import the released ``rome.pth`` into :class:`RomeNetworks`.

    Args:
        path: ``rome.pth`` (a flat state dict, or one nested under ``"state_dict"``/``"model"``).
        profile: ``"official"`` (the release's architecture). Other profiles differ in shape and
            raise :class:`CheckpointError`.
        size: ``"full"`` for the released weights.
        with_discriminator: also load ``discriminator.*`` (training checkpoints only).
        device, dtype: where and in which floating dtype the weights end up.

    Raises:
        CheckpointError: unreadable/unsafe file, missing keys (all listed), unexpected keys under
            our prefixes, or a shape mismatch (key, expected and found shape).
    """
    raw = safe_torch_load(path)
    state = extract_state_dict(raw, path)
    nets = RomeNetworks.from_profile(profile, size, with_discriminator=with_discriminator, device="meta")
    parts = _split_official(state, with_discriminator, path)
    missing: list[str] = []
    for prefix, attr in list(OFFICIAL_PREFIXES.items()) + ([(DISCRIMINATOR_PREFIX, "discriminator")] if with_discriminator else []):
        module = getattr(nets, attr)
        missing += [prefix + k for k in module.state_dict() if k not in parts[attr]]
    if nets.unet_seg is not None:
        missing += ["unet_seg." + k for k in nets.unet_seg.state_dict()]
    if missing:
        raise CheckpointError(
            f"{path}: {len(missing)} key(s) of the '{profile}' networks are missing from the checkpoint: "
            f"{_listing(missing)}"
        )
    for prefix, attr in OFFICIAL_PREFIXES.items():
        fill_module(getattr(nets, attr), parts[attr], path, prefix=prefix, dtype=dtype)
    if with_discriminator:
        fill_module(nets.discriminator, parts["discriminator"], path, prefix=DISCRIMINATOR_PREFIX, dtype=dtype)
    logger.info("%s: loaded the '%s' ROME networks (%s)", path, profile, size)
    return nets.to(device).eval()


def _resolve(path: str | os.PathLike, for_writing: bool) -> tuple[Path, Path]:
    p = Path(path)
    if p.suffix == ".safetensors":
        return p, p.with_suffix(".json")
    if not for_writing and p.is_file():
        raise CheckpointError(f"{p}: expected a folder holding {WEIGHTS_NAME} or a .safetensors file")
    return p / WEIGHTS_NAME, p / CONFIG_NAME


def save(networks: RomeNetworks, path: str | os.PathLike) -> Path:
    """Save ``networks`` as safetensors + JSON config; returns the weights file's path.

    ``path`` is a folder (``model.safetensors`` + ``config.json`` inside) or a ``.safetensors`` file
    (config beside it with a ``.json`` suffix). Files are written atomically.
    """
    if not isinstance(networks, RomeNetworks):
        raise InputError(f"save: expected RomeNetworks, found {type(networks).__name__}")
    weights, config_path = _resolve(path, for_writing=True)
    config = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "profile": networks.profile.to_dict(),
        "with_discriminator": networks.with_discriminator,
    }
    text = json.dumps(config, sort_keys=True)
    save_safetensors(networks.state_dict(), weights, metadata={"rome_smplx_config": text})
    write_json_atomic(config, config_path)
    return weights


def _parse_config(config: Any, source: Path) -> tuple[RomeProfile, bool]:
    if not isinstance(config, dict) or config.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{source}: not a rome-smplx networks config (expected format '{FORMAT_NAME}')")
    if config.get("version") != FORMAT_VERSION:
        raise CheckpointError(f"{source}: unsupported format version {config.get('version')!r}, expected {FORMAT_VERSION}")
    try:
        profile = RomeProfile.from_dict(config["profile"])
    except (KeyError, InputError) as exc:
        raise CheckpointError(f"{source}: invalid profile in config: {exc}") from None
    return profile, bool(config.get("with_discriminator", False))


def load(path: str | os.PathLike, device: torch.device | str = "cpu", dtype: torch.dtype | None = None, *,
         discriminator: bool = True) -> RomeNetworks:
    """Load networks written by :func:`save` (folder or ``.safetensors`` file), in eval mode.

    The config is read from the safetensors metadata (or, failing that, the JSON beside it); every
    tensor must be present with the right shape and nothing extra. ``discriminator=False`` leaves out a
    saved discriminator (inference: its tensors are skipped, and building its spectral norm on the meta
    device would import ``torch._dynamo``, ~0.1 GB).
    """
    weights, config_path = _resolve(path, for_writing=False)
    tensors, metadata = load_safetensors(weights)
    if "rome_smplx_config" in metadata:
        try:
            config = json.loads(metadata["rome_smplx_config"])
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{weights}: config in the metadata is not valid JSON: {exc}") from None
        source = weights
    elif config_path.is_file():
        try:
            config = json.loads(config_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{config_path}: unreadable config: {exc}") from None
        source = config_path
    else:
        raise CheckpointError(f"{weights}: no rome-smplx config in the metadata and no {config_path.name} beside it")
    profile, with_dis = _parse_config(config, source)
    if with_dis and not discriminator:
        with_dis = False
        tensors = {k: v for k, v in tensors.items() if not k.startswith("discriminator.")}
    with torch.device("meta"):
        try:
            nets = RomeNetworks(profile, with_discriminator=with_dis)
        except InputError as exc:
            raise CheckpointError(f"{source}: the config does not describe buildable networks: {exc}") from None
    fill_module(nets, tensors, weights, dtype=dtype)
    return nets.to(device).eval()


__all__ = [
    "OFFICIAL_PREFIXES",
    "extract_state_dict",
    "fill_module",
    "load",
    "load_official",
    "save",
]
