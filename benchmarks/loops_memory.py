"""Peak memory of `pgolf loops` on a wide-headed crawler at a long window, against the one attention-probability
tensor the analysis once held whole (heads x seq_len^2 float32), which it now computes a chunk of rows at a time.

    python benchmarks/loops_memory.py [--heads 128] [--seq-len 4096]

Builds an untrained crawler (model_dim 512, so 128 heads are 4 wide) and a corpus of this README's paragraphs
in a temporary folder, then runs the analysis on one window, one thread, in a process of its own whose peak
RSS is read back.
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from crawler.config import load_config
from crawler.model import CrawlerGPT
from crawler.prep.prepare import prepare_data
from crawler.ptz import export_model

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--heads", type=int, default=128)
parser.add_argument("--seq-len", type=int, default=4096)
args = parser.parse_args()

with tempfile.TemporaryDirectory() as tmp:
    out = Path(tmp)
    paragraphs = [p for p in Path("README.md").read_text(encoding="utf-8").split("\n\n") if p.strip()]
    docs = [f"Document {i}. " + paragraphs[i % len(paragraphs)] for i in range(400)]
    prepare_data(docs, out / "data", "bench", vocab_size=400, val_docs=200)
    cfg = load_config("tiny", environ={}, data_path=str(out / "data"), vocab_size=400, model_dim=512,
                      num_heads=args.heads, num_kv_heads=args.heads, rope_dims=4, eval_seq_len=args.seq_len,
                      train_seq_len=args.seq_len, eval_stride=args.seq_len, train_batch_tokens=args.seq_len,
                      bigram_vocab_size=64, bigram_dim=8, mlp_mult=1.0, crawler_mlp_mult=1.0)
    (out / "train_gpt.py").write_text("print('bench')\n")
    torch.manual_seed(0)
    export_model(CrawlerGPT(cfg), cfg, out / "data" / "tokenizer.model", [out / "train_gpt.py"], out / "wide.ptz")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pgolf", "loops", str(out / "wide.ptz"), "--tokens", str(args.seq_len),
                    "--batch-seqs", "1", "--extra-loops", "0", "--device", "cpu", "--out", str(out / "loops")],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
whole = args.heads * args.seq_len ** 2 * 4
print(f"{args.heads} heads x {args.seq_len} tokens: peak RSS {peak / 2**20:,.0f} MiB in {seconds:.0f} s; one whole "
      f"probability tensor would be {whole / 2**20:,.0f} MiB ({whole / peak:.1f}x the whole process's peak)")
