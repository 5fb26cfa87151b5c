"""The reference table of validation sets: for each tokenizer (tokenizer file, vocabulary size, dataset name, as logs
print them), the validation tokens and the bytes per token its correct BPB implies, with the official train shard
count. Built by evaluator.records.build_val_reference from records known to be right and shipped as
val_reference.json beside this module (the file says how it was built).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

TABLE_PATH = Path(__file__).with_name("val_reference.json")


@dataclass(frozen=True)
class TokenizerKey:
    tokenizer_file: str | None
    vocab_size: int | None
    dataset: str | None

    def text(self) -> str:
        return (f"tokenizer {self.tokenizer_file or '?'}, vocab {self.vocab_size or '?'}, "
                f"dataset {self.dataset or '?'}")


@dataclass(frozen=True)
class ReferenceRow:
    key: TokenizerKey
    val_tokens: int | None
    bytes_per_token: tuple[float, float]  # the envelope of every correct scored line's bounds
    val_bytes: tuple[int, int] | None  # val_tokens x bytes_per_token, when the tokens are known
    official_train_shards: int | None
    shards_source: str | None
    records: tuple[str, ...]


@dataclass(frozen=True)
class ReferenceTable:
    built_by: str
    how: str
    rows: tuple[ReferenceRow, ...]

    def lookup(self, key: TokenizerKey) -> list[ReferenceRow]:
        """The rows a run's tokenizer may be: the tokenizer file must be known and equal; vocabulary and dataset
        must be equal where both the row and the run name them (a run that does not name its dataset may be on
        any dataset of its tokenizer)."""
        if key.tokenizer_file is None:
            return []
        return [row for row in self.rows if row.key.tokenizer_file == key.tokenizer_file and not any(
            a is not None and b is not None and a != b
            for a, b in ((row.key.vocab_size, key.vocab_size), (row.key.dataset, key.dataset)))]


def _row(data: dict) -> ReferenceRow:
    key = TokenizerKey(data["tokenizer_file"], data["vocab_size"], data["dataset"])
    low, high = data["bytes_per_token"]
    val_bytes = tuple(data["val_bytes"]) if data.get("val_bytes") else None
    return ReferenceRow(key, data["val_tokens"], (low, high), val_bytes, data.get("official_train_shards"),
                        data.get("shards_source"), tuple(data["records"]))


@lru_cache(maxsize=1)
def reference_table(path: Path = TABLE_PATH) -> ReferenceTable:
    data = json.loads(path.read_text(encoding="utf-8"))
    return ReferenceTable(data["built_by"], data["how"], tuple(_row(row) for row in data["rows"]))
