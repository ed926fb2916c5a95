"""Several training processes (``torchrun``): process-group set-up, rank helpers and mixed precision.

``torchrun`` (or Slurm through it) starts one process per device and sets ``RANK``, ``LOCAL_RANK``,
``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``. :func:`init_from_env` reads them, initialises
``torch.distributed`` (NCCL for CUDA devices, gloo on the CPU) and pins each process to its own GPU;
without them it does nothing and the trainers run in one process. Only rank 0 logs at INFO level,
shows progress bars, writes checkpoints and TensorBoard events.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Iterator

import torch

from rome_smplx.errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["PRECISIONS", "autocast", "check_precision", "init_from_env", "rank_digests", "rank_world", "shutdown_if_started"]

#: Training precisions: ``"fp32"``, or ``"bf16"`` (autocast of the forward pass and losses to
#: bfloat16; CUDA devices only: on the CPU, torch's bf16 kernels are slower than fp32 and the
#: rasteriser's depth tests need fp32).
PRECISIONS = ("fp32", "bf16")


def rank_world() -> tuple[int, int]:
    """``(rank, world_size)`` when torch.distributed is initialised, else ``(0, 1)``."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def rank_digests(module: torch.nn.Module, world: int) -> list[str]:
    """SHA-256 of ``module``'s parameters on every rank (rank order): equal digests mean
    bitwise-equal weights (buffers such as per-rank BatchNorm statistics are left out)."""
    import hashlib

    h = hashlib.sha256()
    for name, t in sorted(module.named_parameters()):
        h.update(name.encode())
        h.update(t.detach().to("cpu").contiguous().view(torch.uint8).numpy().tobytes())
    digest = h.hexdigest()
    if world == 1:
        return [digest]
    import torch.distributed as dist

    out: list = [None] * world
    dist.all_gather_object(out, digest)
    return [str(d) for d in out]


def init_from_env(device: str = "cpu") -> str:
    """Initialise ``torch.distributed`` from torchrun's environment when ``WORLD_SIZE`` > 1.

    Args:
        device: the config's device. ``"cuda"`` becomes ``"cuda:<LOCAL_RANK>"`` under torchrun.

    Returns:
        The device this process trains on.
    """
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or (dist.is_available() and dist.is_initialized()):
        return device
    if not dist.is_available():
        raise InputError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.device(device).type == "cuda"
    if cuda:
        if torch.cuda.device_count() <= local:
            raise InputError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} CUDA device(s) on this node")
        device = f"cuda:{local}"
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if cuda else "gloo")
    rank = dist.get_rank()
    if rank != 0:  # one process speaks; the others only warn
        logging.getLogger("rome_smplx").setLevel(logging.WARNING)
    logger.info("torch.distributed: %d processes (%s), this is rank %d on %s", dist.get_world_size(),
                dist.get_backend(), rank, device)
    return device


def shutdown_if_started(started: bool) -> None:
    """Wait for every rank and destroy the process group that :func:`init_from_env` started."""
    if not started:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def check_precision(precision: str, device: torch.device | str) -> None:
    """Raise :class:`InputError` unless ``precision`` is known and usable on ``device``."""
    if precision not in PRECISIONS:
        raise InputError(f"config 'precision': expected one of {PRECISIONS}, found {precision!r}")
    if precision == "bf16" and torch.device(device).type != "cuda":
        raise InputError(f"config 'precision': 'bf16' autocast needs a CUDA device (this run's device is "
                         f"{str(device)!r}); use 'fp32' on the CPU")


@contextlib.contextmanager
def autocast(precision: str, device: torch.device | str) -> Iterator[None]:
    """bf16 autocast on CUDA for ``precision == "bf16"``, else nothing."""
    if precision == "bf16":
        with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16):
            yield
    else:
        yield
