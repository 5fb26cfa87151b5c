"""Scored tokens/s of our sliding-window evaluation against a plain per-window reference loop, on the
same artifact, data and device, in the same run. The two BPBs must be identical (to 1e-9 relative),
or the script fails.

The reference is what a careful first implementation looks like: one window at a time, full softmax in
float64, Python-side byte counting with the LUT. Ours batches windows and stays on the device.

    python benchmarks/eval_throughput.py runs/demo/final_model.ptz [--tokens 8192] [--stride 64] [--batch-seqs 16]
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from crawler.bpb import load_byte_lut
from crawler.evaluate import evaluate_bpb, plan_windows
from crawler.model import CrawlerGPT
from crawler.shards import load_split
from evaluator.artifacts import open_artifact


@torch.no_grad()
def reference_bpb(model, tokens: np.ndarray, lut, seq_len: int, stride: int, n_targets: int, device) -> tuple[float, float]:
    nll, nbytes = 0.0, 0
    for start, lo, hi in plan_windows(n_targets, seq_len, stride):
        x = torch.tensor(tokens[start:start + seq_len].astype(np.int64), device=device)[None]
        logp = F.log_softmax(model(x)[0].double(), dim=-1)
        for t in range(lo, hi):
            nll -= float(logp[t - start, int(tokens[t + 1])])
            nbytes += lut.count_bytes(tokens[t:t + 1], tokens[t + 1:t + 2])
    return nll / (math.log(2) * nbytes), float(nbytes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--tokens", type=int, default=8192, help="validation targets scored by both")
    parser.add_argument("--stride", type=int, default=None)
    parser.add_argument("--batch-seqs", type=int, default=16)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    art = open_artifact(args.artifact)
    cfg = art.require_crawler()
    device = torch.device(args.device)
    model = CrawlerGPT(cfg).to(device).eval()
    model.load_state_dict(art.state_dict)
    data = args.data or Path(cfg.data_path)
    tokens = load_split(data, "val", cfg.vocab_size)
    lut = load_byte_lut(cfg.tokenizer_file if args.data is None else data / "tokenizer.model", cfg.vocab_size)
    n = min(args.tokens, len(tokens) - 1)
    seq, stride = cfg.eval_seq_len, args.stride or cfg.eval_stride

    t0 = time.perf_counter()
    ref_bpb, _ = reference_bpb(model, tokens, lut, seq, stride, n, device)
    ref_s = time.perf_counter() - t0
    ours = evaluate_bpb(model, tokens, lut, seq, stride, args.batch_seqs, device, max_tokens=n)

    print(f"torch {torch.__version__}  device {device}  artifact {args.artifact}")
    print(f"{n:,} targets, window {seq}, stride {stride}")
    print(f"reference loop   {ref_bpb:.10f} BPB  {n / ref_s:10,.0f} tok/s  ({ref_s:.2f} s)")
    print(f"evaluate_bpb     {ours.bpb:.10f} BPB  {n / ours.seconds:10,.0f} tok/s  ({ours.seconds:.2f} s)")
    if not math.isclose(ours.bpb, ref_bpb, rel_tol=1e-9):
        raise SystemExit(f"BPB differs: {ours.bpb!r} vs reference {ref_bpb!r}")
    print(f"speed-up         {ref_s / ours.seconds:.1f}x, identical BPB")


if __name__ == "__main__":
    main()
