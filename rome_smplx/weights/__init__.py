"""Models trained by this project on its synthetic video world, shipped as package data.

Files (see ``README.md`` beside this module for the exact commands, data ranges, wall times and
measured figures):

* ``rome_synthetic.safetensors`` (+ ``.json``): the full ROME networks (``official`` profile,
  ``small`` widths, 128 px), fp16 storage;
* ``rome_no_offsets.safetensors`` (+ ``.json``): the same recipe with ``offsets: false`` (the
  supplementary "w/o offsets" ablation);
* ``linear_synthetic.safetensors``: the distilled linear model (a small ResNet regressor, its PCA
  basis ``basis`` (3N, 60) in ROME's ``u_full.pt`` layout and ``mean_deform`` (N, 3)).

They were trained on the synthetic stand-in assets of generator version :data:`TRAINED_ON`; they
are used by default only with those assets (:func:`defaults_for`). Real asset folders use the
released ``rome.pth`` / ``linear_hair.pth``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import torch

from rome_smplx.errors import CheckpointError

if TYPE_CHECKING:  # pragma: no cover
    from rome_smplx.assets import Assets

logger = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parent
#: Synthetic asset generator the shipped weights were trained on (marker fields of the folder; the
#: head has the generator's default, FLAME-sized vertex count).
TRAINED_ON = {"version": 3, "seed": 0}
FILES = {"full": "rome_synthetic.safetensors", "no_offsets": "rome_no_offsets.safetensors",
         "linear": "linear_synthetic.safetensors"}
LINEAR_FORMAT = "rome_smplx.linear_model"


def path(name: str) -> Optional[Path]:
    """The shipped file of ``name`` (``"full"``, ``"no_offsets"``, ``"linear"``), or ``None`` if absent."""
    p = WEIGHTS_DIR / FILES[name]
    return p if p.is_file() else None


def defaults_for(assets: "Assets") -> bool:
    """True when ``assets`` is the synthetic set the shipped weights were trained on (and they exist)."""
    from rome_smplx.assets.synthetic import read_marker
    from rome_smplx.assets.synthetic.head import FLAME_NUM_VERTICES

    if not getattr(assets, "is_synthetic", False) or path("full") is None:
        return False
    marker = read_marker(assets.root) or {}
    return all(marker.get(k) == v for k, v in TRAINED_ON.items()) and marker.get("head_vertices") == FLAME_NUM_VERTICES


def save_linear(regressor, basis: torch.Tensor, mean: torch.Tensor, file: str | Path, *, half: bool = True) -> Path:
    """Write a linear model (regressor state, basis, mean) as one safetensors file with a JSON header."""
    from rome_smplx.io.checkpoints import save_safetensors

    dt = torch.float16 if half else torch.float32
    tensors = {f"regressor.{k}": (v.to(dt) if v.is_floating_point() else v).detach().cpu().contiguous()
               for k, v in regressor.state_dict().items()}
    tensors["basis"] = basis.detach().to("cpu", torch.float32).contiguous()  # kept exact: orthonormal columns
    tensors["mean_deform"] = mean.detach().to("cpu", torch.float32).contiguous()
    meta = {"format": LINEAR_FORMAT, "num_coefficients": int(basis.shape[1]),
            "layers": list(regressor.layers), "base_width": int(regressor.base_width)}
    save_safetensors(tensors, Path(file), {"rome_smplx_linear": json.dumps(meta)})
    return Path(file)


def load_linear(file: str | Path, device="cpu"):
    """Read :func:`save_linear`'s file: ``(regressor in eval mode, basis (3N, K), mean (N, 3))`` in float32."""
    from rome_smplx.io.checkpoints import load_safetensors
    from rome_smplx.models.rome.resnet import regressor_from_state

    tensors, metadata = load_safetensors(Path(file))
    try:
        meta = json.loads(metadata.get("rome_smplx_linear", ""))
    except json.JSONDecodeError:
        meta = {}
    if meta.get("format") != LINEAR_FORMAT or "basis" not in tensors or "mean_deform" not in tensors:
        raise CheckpointError(f"{file}: not a rome-smplx linear model (expected format '{LINEAR_FORMAT}' with "
                              "'basis' and 'mean_deform')")
    state = {k[len("regressor."):]: (v.float() if v.is_floating_point() else v)
             for k, v in tensors.items() if k.startswith("regressor.")}
    reg = regressor_from_state(state, file, device=device)
    return reg, tensors["basis"].float().to(device), tensors["mean_deform"].float().to(device)


__all__ = ["FILES", "TRAINED_ON", "WEIGHTS_DIR", "defaults_for", "load_linear", "path", "save_linear"]
