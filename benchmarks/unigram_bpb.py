"""The floor any trained model must clear: a unigram (add-one) model of the training tokens, scored on
the validation split with the same byte LUT as every other BPB in this toolkit.

    python benchmarks/unigram_bpb.py [--data data/wiki_sp1024]
"""
import argparse
from pathlib import Path

import numpy as np

from crawler.bpb import bits_per_byte, load_byte_lut
from crawler.shards import load_split
from evaluator.artifacts.decode_audit import count_bytes

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", type=Path, default=Path("data/wiki_sp1024"))
parser.add_argument("--vocab-size", type=int, default=1024)
args = parser.parse_args()

train = load_split(args.data, "train", args.vocab_size)
val = load_split(args.data, "val", args.vocab_size)
counts = np.bincount(train, minlength=args.vocab_size).astype(np.float64) + 1.0
logp = np.log(counts / counts.sum())
nll = -float(logp[val[1:].astype(np.int64)].sum())
lut = load_byte_lut(args.data / "tokenizer.model", args.vocab_size)
n_bytes = count_bytes(lut, val[:-1], val[1:])
print(f"data {args.data}: {len(train):,} train tokens, {len(val) - 1:,} validation targets, {n_bytes:,} bytes")
print(f"unigram val_loss {nll / (len(val) - 1):.4f} nats/token  val_bpb {bits_per_byte(nll, n_bytes):.4f}")
