"""Device selection and PyTorch DDP under ``torchrun``.

Launched with ``torchrun --nproc_per_node N ...`` (``WORLD_SIZE > 1`` in the environment),
:func:`setup` joins the process group (NCCL on GPUs, gloo on CPU) and each rank trains on
its own shard of the data; only rank 0 writes files and logs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from hepfm.errors import InputError


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def select_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``'auto'``: the GPU of this rank if CUDA is available, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError("train.device", f"{name!r} asked for but CUDA is not available")
        return torch.device(name if ":" in name else f"cuda:{local_rank}")
    return torch.device(name)


def setup(device: str = "auto") -> Context:
    """Pick the device and, under torchrun, join the process group (idempotent)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = select_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world_size <= 1:
        return Context(device=dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return Context(dist.get_rank(), dist.get_world_size(), dev)


def wrap(model: nn.Module, ctx: Context) -> nn.Module:
    """``model`` inside DistributedDataParallel when running on several ranks."""
    if not ctx.distributed:
        return model
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def broadcast_buffers(model: nn.Module, ctx: Context) -> None:
    """Give every rank rank 0's buffers (e.g. running input statistics, which each rank
    updates from its own batches after DDP's per-forward broadcast)."""
    if ctx.distributed:
        for buffer in model.buffers():
            dist.broadcast(buffer.data, src=0)


def all_sum(values: list[float], ctx: Context) -> list[float]:
    """Sum a few numbers over ranks (float64)."""
    if not ctx.distributed:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def gather_states(state: dict[str, torch.Tensor], ctx: Context) -> list[dict[str, torch.Tensor]]:
    """Every rank's copy of a dict of same-shaped tensors (used for per-rank RNG states)."""
    if not ctx.distributed:
        return [state]
    out: list[dict[str, torch.Tensor]] = [{} for _ in range(ctx.world_size)]
    for key in sorted(state):
        local = state[key].to(ctx.device)
        parts = [torch.empty_like(local) for _ in range(ctx.world_size)]
        dist.all_gather(parts, local)
        for rank, part in enumerate(parts):
            out[rank][key] = part.cpu()
    return out


def barrier(ctx: Context) -> None:
    if ctx.distributed:
        dist.barrier()


def teardown() -> None:
    """Leave the process group (call once at the end of a torchrun script)."""
    if dist.is_initialized():
        dist.destroy_process_group()
