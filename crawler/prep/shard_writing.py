"""Writing a shard in the challenge's format (crawler.shards reads it)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from crawler.files import atomic_write_bytes
from crawler.shards import HEADER_INTS, SHARD_MAGIC, SHARD_VERSION, ShardError


def write_shard(path: str | Path, tokens) -> None:
    """Write atomically (temp file + rename) so a crash never leaves a half shard under the real name."""
    path = Path(path)
    arr = np.asarray(tokens)
    if arr.ndim != 1:
        raise ShardError(f"{path}: tokens must be one-dimensional, got shape {arr.shape}")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) > 0xFFFF):
        raise ShardError(f"{path}: token ids must fit in uint16")
    header = np.zeros(HEADER_INTS, dtype="<i4")
    header[:3] = (SHARD_MAGIC, SHARD_VERSION, arr.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, header.tobytes() + arr.astype("<u2", copy=False).tobytes())
