"""Build val_reference.json from record folders known to be right (the maintainers' merged records):

    python -m evaluator.records.build_val_reference ../shared/records

Every run whose log names its tokenizer file is grouped by (tokenizer file, vocabulary size, dataset name) as
logged. A row holds the validation token count most of its runs print, and the envelope of the bytes per token
every scored line implies (val_loss / (val_bpb x ln 2), widened by the rounding of both printed numbers): the
evaluations of one validation set score slightly different tokens (a sliding window, per-document test-time
training), so the envelope is their spread, not one value. The official train shard count is the most any of the
row's records used, unless a maintainers' ruling names another (OFFICIAL_TRAIN_SHARDS).
"""
from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

from tqdm import tqdm

from evaluator.records.forensics import log_facts
from evaluator.records.record import find_record_folders, load_record
from evaluator.records.val_reference import TABLE_PATH, TokenizerKey

# a dataset whose record count of train shards was ruled too many (openai/parameter-golf)
OFFICIAL_TRAIN_SHARDS = {
    "fineweb10B_sp4096": (80, "openai/parameter-golf #1334: a record trained on 143 shards instead of the 80 published"),
}


def build(roots: list[str]) -> dict:
    groups: dict[TokenizerKey, dict] = defaultdict(lambda: {"low": [], "high": [], "tokens": Counter(),
                                                            "shards": [], "records": set()})
    folders = [folder for root in roots for folder in find_record_folders(root).folders]
    for folder in tqdm(folders, desc="records", unit="record"):
        record = load_record(folder)
        for log in record.logs:
            facts = log_facts(log)
            if facts.tokenizer_file is None or not facts.scored:
                continue
            key = TokenizerKey(str(facts.tokenizer_file.value),
                               int(facts.vocab_size.value) if facts.vocab_size else None,
                               str(facts.dataset.value) if facts.dataset else None)
            group = groups[key]
            for line in facts.scored:
                low, high = line.bytes_per_token_bounds
                group["low"].append(low)
                group["high"].append(high)
            if facts.val_tokens:
                group["tokens"][int(facts.val_tokens.value)] += 1
            if facts.train_shards:
                group["shards"].append(int(facts.train_shards.value))
            group["records"].add(record.name)
    rows = []
    for key, group in sorted(groups.items(), key=lambda item: item[0].text()):
        tokens = group["tokens"].most_common(1)[0][0] if group["tokens"] else None
        low, high = min(group["low"]), max(group["high"])
        ruled = OFFICIAL_TRAIN_SHARDS.get(key.dataset or "")
        shards, source = ruled if ruled else ((max(group["shards"]), "the most any of these records used")
                                              if group["shards"] else (None, None))
        rows.append({"tokenizer_file": key.tokenizer_file, "vocab_size": key.vocab_size, "dataset": key.dataset,
                     "val_tokens": tokens, "bytes_per_token": [low, high],
                     "val_bytes": [int(tokens * low), int(tokens * high) + 1] if tokens else None,
                     "official_train_shards": shards, "shards_source": source,
                     "records": sorted(group["records"])})
    return {"built_by": "python -m evaluator.records.build_val_reference " + " ".join(roots),
            "how": (__doc__ or "").strip().split("\n\n", 2)[-1].replace("\n", " "), "rows": rows}


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m evaluator.records.build_val_reference RECORDS_ROOT...", file=sys.stderr)
        return 2
    missing = [root for root in argv if not Path(root).is_dir()]
    if missing:
        print(f"{missing[0]}: not a directory", file=sys.stderr)
        return 2
    table = build(argv)
    TABLE_PATH.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    print(f"{TABLE_PATH}: {len(table['rows'])} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
