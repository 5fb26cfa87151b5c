"""The challenge's token shard format.

A shard is a 256-entry little-endian int32 header (magic 20240520, version 1,
token count at index 2, the rest zero) followed by that many uint16 tokens, so
its size is exactly 1024 + 2 * n bytes. Layout: DATA_PATH/fineweb_train_*.bin
and DATA_PATH/fineweb_val_*.bin.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from crawler.errors import PgolfError

SHARD_MAGIC = 20240520
SHARD_VERSION = 1
HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4
SPLITS = ("train", "val")


class ShardError(PgolfError, ValueError):
    pass


def read_shard(path: str | Path, vocab_size: int | None = None) -> np.ndarray:
    """All tokens of one shard as uint16, after checking every property of the format."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ShardError(f"{path}: no such shard") from None
    if size < HEADER_BYTES:
        raise ShardError(f"{path}: truncated header ({size} bytes, need {HEADER_BYTES})")
    header = np.fromfile(path, dtype="<i4", count=HEADER_INTS)
    if int(header[0]) != SHARD_MAGIC:
        raise ShardError(f"{path}: bad magic {int(header[0])} (expected {SHARD_MAGIC})")
    if int(header[1]) != SHARD_VERSION:
        raise ShardError(f"{path}: unsupported version {int(header[1])} (expected {SHARD_VERSION})")
    n = int(header[2])
    if n < 0:
        raise ShardError(f"{path}: negative token count {n}")
    expected = HEADER_BYTES + 2 * n
    if size < expected:
        raise ShardError(f"{path}: truncated: header says {n} tokens ({expected} bytes) but file has {size} bytes")
    if size != expected:
        raise ShardError(f"{path}: size mismatch: header says {n} tokens ({expected} bytes) but file has {size} bytes")
    tokens = np.fromfile(path, dtype="<u2", count=n, offset=HEADER_BYTES)
    if vocab_size is not None and n:
        top = int(tokens.max())
        if top >= vocab_size:
            pos = int(np.argmax(tokens >= vocab_size))
            raise ShardError(f"{path}: token id {int(tokens[pos])} at position {pos} >= vocab size {vocab_size}")
    return tokens


def find_shards(data_path: str | Path, split: str) -> list[Path]:
    if split not in SPLITS:
        raise ShardError(f"unknown split {split!r} (expected one of {SPLITS})")
    data_path = Path(data_path)
    if not data_path.is_dir():
        raise ShardError(f"{data_path}: data folder not found (run `pgolf prepare-data` or set DATA_PATH)")
    shards = sorted(data_path.glob(f"fineweb_{split}_*.bin"))
    if not shards:
        raise ShardError(f"{data_path}: no fineweb_{split}_*.bin shards")
    return shards


def load_split(data_path: str | Path, split: str, vocab_size: int | None = None) -> np.ndarray:
    """Every shard of a split, in file-name order, as one uint16 array."""
    parts = [read_shard(p, vocab_size) for p in find_shards(data_path, split)]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
