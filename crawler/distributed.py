"""torchrun's protocol (RANK / WORLD_SIZE / LOCAL_RANK), shared by training and evaluation."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist

from crawler.config import torchrun_ranks


@dataclass(frozen=True)
class Dist:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def master(self) -> bool:
        return self.rank == 0


def setup_dist(device: str | None = None) -> Dist:
    """One process: rank 0 of 1. Under torchrun: join the group (NCCL on GPUs, Gloo on CPU)."""
    rank, world_size, local_rank = torchrun_ranks()
    if device is not None:
        dev = torch.device(device)
    else:
        dev = torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return Dist(rank, world_size, local_rank, dev)
