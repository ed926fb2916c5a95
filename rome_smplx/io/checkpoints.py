"""Safe reading and writing of network weight files.

* torch files (``.pth``/``.pt``) are read with ``torch.load(weights_only=True)`` only: a file that
  needs anything but tensors and plain containers (a pickle payload) is refused and never run;
* safetensors files are read and written with the ``safetensors`` package (no code execution).

Every failure raises :class:`~rome_smplx.errors.CheckpointError` naming the file.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rome_smplx.errors import CheckpointError
from rome_smplx.io.atomic import atomic_path


def _existing_file(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{p}: checkpoint file not found")
    if not p.is_file():
        raise CheckpointError(f"{p}: expected a checkpoint file, found a folder or special file")
    if p.stat().st_size == 0:
        raise CheckpointError(f"{p}: checkpoint file is empty (0 bytes)")
    return p


def _unpickler_detail(text: str) -> str:
    """The informative line of torch's weights-only unpickler message, without torch's advice to
    retry with ``weights_only=False`` (which would run whatever the file carries)."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        if "WeightsUnpickler error" in ln:
            rest = ln.split("WeightsUnpickler error:", 1)[-1].strip()
            rest = rest or (lines[i + 1] if i + 1 < len(lines) else ln)
            return rest.split(" Please use", 1)[0]
    advice = ("weights_only", "weights only load failed", "check the documentation", "arbitrary code", "trusted source")
    useful = [ln for ln in lines if not any(a in ln.lower() for a in advice)]
    return useful[0] if useful else "unpickling failed (the file holds objects other than tensors)"


def safe_torch_load(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with clear errors.

    Raises:
        CheckpointError: missing, empty, truncated or corrupt file, or a file whose pickle wants
            to build objects other than tensors and plain containers (refused, never executed).
    """
    p = _existing_file(path)
    try:
        return torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        detail = _unpickler_detail(text)
        if "global" in text.lower():
            raise CheckpointError(
                f"{p}: refused to load: the file contains objects other than tensors and plain containers "
                f"(a pickle payload); only weight files are accepted ({detail})"
            ) from None
        raise CheckpointError(f"{p}: not a readable torch checkpoint (corrupt?): {detail}") from None
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile, OSError, KeyError, IndexError) as exc:
        raise CheckpointError(
            f"{p}: not a readable torch checkpoint (truncated or corrupt?): {type(exc).__name__}: {exc}"
        ) from None


def load_safetensors(path: str | os.PathLike, device: str = "cpu") -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a safetensors file: ``(tensors, metadata)``."""
    from safetensors import safe_open

    p = _existing_file(path)
    try:
        tensors: dict[str, torch.Tensor] = {}
        with safe_open(str(p), framework="pt", device=device) as f:
            metadata = dict(f.metadata() or {})
            for key in f.keys():
                tensors[key] = f.get_tensor(key)
    except Exception as exc:  # safetensors raises its own error types for malformed headers
        raise CheckpointError(f"{p}: not a readable safetensors file: {type(exc).__name__}: {exc}") from None
    return tensors, metadata


def save_safetensors(
    tensors: dict[str, torch.Tensor], path: str | os.PathLike, metadata: dict[str, str] | None = None
) -> Path:
    """Write ``tensors`` (contiguous CPU copies) to a safetensors file atomically."""
    from safetensors.torch import save_file

    p = Path(path)
    data = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    with atomic_path(p) as tmp:
        save_file(data, str(tmp), metadata=metadata)
    return p


def write_json_atomic(data: Any, path: str | os.PathLike) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    p = Path(path)
    with atomic_path(p) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return p


def save_torch(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` of ``obj`` (tensors and plain containers, readable by :func:`safe_torch_load`),
    atomically."""
    p = Path(path)
    with atomic_path(p) as tmp:
        torch.save(obj, tmp)
    return p


def read_checkpoint_meta(path: str | os.PathLike, fmt: str) -> dict[str, Any]:
    """The JSON description of a checkpoint folder, checked to be of format ``fmt``.

    Raises:
        CheckpointError: the file is missing (``"<folder>: not a <fmt> checkpoint (no <name>)"``),
            not valid JSON, not an object, or its ``"format"`` is not ``fmt``.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p.parent}: not a {fmt} checkpoint (no {p.name})")
    try:
        meta = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{p}: not valid JSON: {e}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{p}: expected a JSON object, found {type(meta).__name__}")
    if meta.get("format") != fmt:
        raise CheckpointError(f"{p}: format {meta.get('format')!r}, expected {fmt!r}")
    return meta


__all__ = [
    "extract_state_dict",
    "fill_module",
    "load_safetensors",
    "read_checkpoint_meta",
    "safe_torch_load",
    "save_safetensors",
    "save_torch",
    "write_json_atomic",
]


# ----------------------------------------------------------------------- state dicts
_MAX_LISTED = 25


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED])
    return shown + (f", ... ({len(keys) - _MAX_LISTED} more)" if len(keys) > _MAX_LISTED else "")


def extract_state_dict(obj: Any, source: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The flat ``{key: tensor}`` state dict of a loaded checkpoint, also when nested under
    ``"state_dict"`` or ``"model"``."""
    if isinstance(obj, Mapping):
        for nest in ("state_dict", "model"):
            inner = obj.get(nest)
            if isinstance(inner, Mapping) and not torch.is_tensor(inner):
                obj = inner
                break
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{source}: expected a state dict (mapping of names to tensors), found {type(obj).__name__}")
    bad = [str(k) for k, v in obj.items() if not isinstance(k, str) or not torch.is_tensor(v)]
    if bad:
        raise CheckpointError(f"{source}: entries that are not tensors: {_listing(bad)}")
    return dict(obj)


def fill_module(
    module: nn.Module,
    state: Mapping[str, torch.Tensor],
    source: str | os.PathLike,
    *,
    prefix: str = "",
    dtype: torch.dtype | None = torch.float32,
) -> nn.Module:
    """Load ``state`` (keys relative to ``module``) into ``module`` strictly.

    Missing keys, unexpected keys and shape mismatches raise :class:`CheckpointError` naming the
    full checkpoint key (``prefix + key``). Floating tensors are cast to ``dtype`` (``None`` keeps
    theirs). The module may live on the ``meta`` device: tensors are then assigned, not copied.
    """
    expected = module.state_dict()
    missing = [prefix + k for k in expected if k not in state]
    if missing:
        raise CheckpointError(f"{source}: {len(missing)} key(s) missing from the checkpoint: {_listing(missing)}")
    unexpected = [prefix + k for k in state if k not in expected]
    if unexpected:
        raise CheckpointError(
            f"{source}: {len(unexpected)} key(s) the network does not have (different architecture?): "
            f"{_listing(unexpected)}"
        )
    for k, ref in expected.items():
        if tuple(state[k].shape) != tuple(ref.shape):
            raise CheckpointError(
                f"{source}: key '{prefix + k}' has shape {tuple(state[k].shape)}, expected {tuple(ref.shape)}"
            )
    converted = {}
    for k, v in state.items():
        if v.is_floating_point() and dtype is not None:
            v = v.to(dtype)
        converted[k] = v
    on_meta = any(t.is_meta for t in expected.values())
    module.load_state_dict(converted, strict=True, assign=on_meta)
    if on_meta:
        left = [n for n, t in list(module.named_parameters()) + list(module.named_buffers()) if t.is_meta]
        if left:
            raise CheckpointError(f"{source}: tensors not filled by the checkpoint: {_listing(left)}")
    return module
