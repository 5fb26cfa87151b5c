import numpy as np
import pytest

from crawler.prep.shard_writing import write_shard
from crawler.shards import HEADER_BYTES, SHARD_MAGIC, ShardError, find_shards, load_split, read_shard


def test_round_trip_and_header(tmp_path):
    tokens = np.array([1, 5, 1023, 0, 65535], dtype=np.uint16)
    path = tmp_path / "fineweb_val_000000.bin"
    write_shard(path, tokens)
    header = np.fromfile(path, dtype="<i4", count=256)
    assert header[:3].tolist() == [SHARD_MAGIC, 1, 5] and not header[3:].any()
    assert path.stat().st_size == HEADER_BYTES + 2 * 5
    assert read_shard(path).tolist() == tokens.tolist()
    assert not list(tmp_path.glob("*.tmp"))


def _shard_bytes(tokens, magic=SHARD_MAGIC, version=1, count=None):
    header = np.zeros(256, dtype="<i4")
    header[:3] = (magic, version, len(tokens) if count is None else count)
    return header.tobytes() + np.asarray(tokens, dtype="<u2").tobytes()


@pytest.mark.parametrize("data, vocab, message", [
    (_shard_bytes([1, 2], magic=12345), None, "bad magic 12345"),
    (_shard_bytes([1, 2], version=2), None, "unsupported version 2"),
    (_shard_bytes([1, 2])[:100], None, "truncated header"),
    (_shard_bytes([1, 2, 3], count=5), None, "truncated: header says 5 tokens"),
    (_shard_bytes([1, 2, 3]) + b"\0\0", None, "size mismatch: header says 3 tokens"),
    (_shard_bytes([1, 2, 3]) + b"\0", None, "size mismatch"),
    (_shard_bytes([1, 2000, 3]), 1024, "token id 2000 at position 1 >= vocab size 1024"),
])
def test_malformed_shards_are_rejected_naming_file_and_fault(tmp_path, data, vocab, message):
    path = tmp_path / "fineweb_train_000000.bin"
    path.write_bytes(data)
    with pytest.raises(ShardError) as e:
        read_shard(path, vocab)
    assert str(path) in str(e.value) and message in str(e.value) and "\n" not in str(e.value)


def test_find_and_load_split_in_name_order(tmp_path):
    write_shard(tmp_path / "fineweb_train_000001.bin", [3, 4])
    write_shard(tmp_path / "fineweb_train_000000.bin", [1, 2])
    write_shard(tmp_path / "fineweb_val_000000.bin", [9])
    assert [p.name for p in find_shards(tmp_path, "train")] == ["fineweb_train_000000.bin", "fineweb_train_000001.bin"]
    assert load_split(tmp_path, "train").tolist() == [1, 2, 3, 4]
    assert load_split(tmp_path, "val").tolist() == [9]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ShardError, match="no fineweb_train"):
        find_shards(tmp_path / "empty", "train")
    with pytest.raises(ShardError, match="data folder not found"):
        find_shards(tmp_path / "missing", "val")


def test_writer_rejects_out_of_range_ids(tmp_path):
    with pytest.raises(ShardError, match="uint16"):
        write_shard(tmp_path / "x.bin", [70000])
    assert not list(tmp_path.iterdir())
