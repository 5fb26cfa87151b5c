"""Training throughput (tokens/s) of the `tiny` and `leg3` presets on this machine.

Random tokens, full optimizer steps (Muon + AdamW, grad clipping), timed after
a few untimed warm-up steps. On CPU, leg3 runs at a reduced batch of
--leg3-cpu-seqs sequences of 2048 tokens (its full 786,432-token batch would take
minutes per step); tokens/s is per token either way.

    python benchmarks/train_throughput.py [--steps 5] [--warmup 2] [--leg3-cpu-seqs 1]
"""
from __future__ import annotations

import argparse
import contextlib
import time

import torch

from crawler.config import load_config
from crawler.model import CrawlerGPT
from crawler.train import build_optimizers, train_step


def throughput(preset: str, device: torch.device, steps: int, warmup: int, batch_seqs: int | None) -> tuple[float, str]:
    cfg = load_config(preset, environ={})
    seqs = batch_seqs or cfg.train_batch_tokens // cfg.train_seq_len
    torch.manual_seed(cfg.seed)
    gpt = CrawlerGPT(cfg).to(device)
    cuda = device.type == "cuda"
    net = torch.compile(gpt, dynamic=False) if cfg.compile and cuda else gpt
    optimizers = build_optimizers(gpt, cfg)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else contextlib.nullcontext()
    batch = torch.randint(0, cfg.vocab_size, (seqs, cfg.train_seq_len + 1), device=device)
    next_batch = lambda: (batch[:, :-1], batch[:, 1:])

    def run(n: int, start: int) -> None:
        for step in range(start, start + n):
            train_step(net, gpt, optimizers, next_batch, 1, cfg, step, 1.0, autocast)
        if cuda:
            torch.cuda.synchronize()

    run(warmup, 0)
    t0 = time.perf_counter()
    run(steps, warmup)
    seconds = time.perf_counter() - t0
    what = f"{seqs} x {cfg.train_seq_len} tokens/step, compile={int(net is not gpt)}"
    return steps * seqs * cfg.train_seq_len / seconds, what


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per preset")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (compilation on CUDA)")
    parser.add_argument("--leg3-cpu-seqs", type=int, default=1, help="leg3 batch on CPU, in sequences of 2048")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"torch {torch.__version__}  device {name}")
    rates = {}
    for preset in ("tiny", "leg3"):
        # one GPU runs the per-GPU share of leg3's batch: one 8-GPU micro-batch is 48 sequences
        seqs = None if preset == "tiny" else (args.leg3_cpu_seqs if device.type == "cpu" else 48)
        rates[preset], what = throughput(preset, device, args.steps, args.warmup, seqs)
        print(f"{preset:5s} {rates[preset]:12,.0f} tokens/s  ({what})")
    print(f"tiny/leg3 ratio {rates['tiny'] / rates['leg3']:.2f}")


if __name__ == "__main__":
    main()
