"""The training token stream: shards read one at a time, in order, wrapping around forever.

Every rank reads the same stream; each step takes one contiguous chunk for all
ranks and micro-steps and every rank keeps its own slice, so no token is seen
twice within a pass and nothing needs to be coordinated between ranks.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from crawler.shards import HEADER_BYTES, ShardError, find_shards, read_shard


class TokenStream:
    def __init__(self, data_path: str | Path, split: str = "train", vocab_size: int | None = None):
        self.files = find_shards(data_path, split)
        if all(f.stat().st_size <= HEADER_BYTES for f in self.files):
            raise ShardError(f"{data_path}: the {split} shards hold no tokens")
        self.vocab_size = vocab_size
        self.file_index = 0
        self.tokens = read_shard(self.files[0], vocab_size)
        self.pos = 0

    def _next_file(self) -> None:
        self.file_index = (self.file_index + 1) % len(self.files)
        self.tokens = read_shard(self.files[self.file_index], vocab_size=self.vocab_size)
        self.pos = 0

    def take(self, n: int) -> np.ndarray:
        parts, left = [], n
        while left > 0:
            if self.pos >= len(self.tokens):
                self._next_file()
                continue
            k = min(left, len(self.tokens) - self.pos)
            parts.append(self.tokens[self.pos:self.pos + k])
            self.pos += k
            left -= k
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


class DistributedTokenLoader:
    def __init__(self, data_path: str | Path, rank: int, world_size: int, device, vocab_size: int | None = None):
        self.stream = TokenStream(data_path, "train", vocab_size)
        self.rank, self.world_size, self.device = rank, world_size, torch.device(device)

    def next_batch(self, global_tokens: int, seq_len: int, grad_accum_steps: int) -> tuple[Tensor, Tensor]:
        """This rank's micro-batch: inputs and next-token targets, both (local_tokens // seq_len, seq_len) int64."""
        local_tokens = global_tokens // (self.world_size * grad_accum_steps)
        if local_tokens < seq_len or local_tokens % seq_len:
            raise ValueError(f"train_batch_tokens {global_tokens} does not split into whole sequences of {seq_len} "
                             f"over {self.world_size} ranks x {grad_accum_steps} accumulation steps")
        span = local_tokens + 1  # one extra token so the last input has a target
        chunk = self.stream.take(span * self.world_size)
        local = torch.from_numpy(chunk[self.rank * span:(self.rank + 1) * span].astype(np.int64))
        x, y = local[:-1].view(-1, seq_len), local[1:].view(-1, seq_len)
        non_blocking = self.device.type == "cuda"
        return x.to(self.device, non_blocking=non_blocking), y.to(self.device, non_blocking=non_blocking)
