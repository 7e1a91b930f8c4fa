"""PyTorch distributed data parallel, launched by `torchrun` (env:// rendezvous).

When `WORLD_SIZE` is unset or 1 nothing here does anything and the single-process path is
unchanged. Under torchrun each process trains on its own slice of every global batch (see
sampler.py), DDP averages the gradients, and rank 0 alone validates, writes checkpoints,
the model and the progress events.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world_size() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group torchrun set up (no-op for a single process).

    Backend: NCCL for CUDA, gloo otherwise. Each CUDA process uses GPU `LOCAL_RANK`.
    """
    world = env_world_size()
    if world <= 1:
        return DistInfo()
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device_type == "cuda" else "gloo"
    if not dist.is_initialized():
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)
        # rank 0 validates alone while the others wait in the next all-reduce: allow long waits
        dist.init_process_group(backend=backend, init_method="env://", timeout=timedelta(hours=2))
    logger.info("distributed: rank %d/%d (local %d), backend %s", rank, world, local_rank, backend)
    return DistInfo(rank, local_rank, world, backend)


def broadcast_flag(info: DistInfo, flag: bool) -> bool:
    """True on every rank if `flag` is true on rank 0 (e.g. "stop now")."""
    if not (info.enabled and dist.is_initialized()):
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int64)
    if info.backend == "nccl":
        t = t.cuda()
    dist.broadcast(t, src=0)
    return bool(t.item())


def cleanup(info: DistInfo) -> None:
    """Leave the process group once every rank has arrived.

    Why the barrier: a rank that tears down gloo while a peer still talks to it (or after rank 0,
    which hosts the rendezvous store, has gone) can abort with "terminate called without an
    active exception".
    """
    if info.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
