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
from pathlib import Path
from typing import Any

import torch

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


__all__ = ["load_safetensors", "safe_torch_load", "save_safetensors", "write_json_atomic"]
