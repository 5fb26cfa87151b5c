"""The tiny preset's training step on an idle CPU and on one shared with busy processes, under libgomp's default
spin at barriers (GOMP_SPINCOUNT=300000), the short spin the toolkit sets (10000) and passive waiting, each in
a fresh process (libgomp reads these once, when torch loads it). Ratios are against the default on the idle CPU,
measured in the same run.

    python benchmarks/busy_cpu.py [--busy 5] [--steps 6]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

STEP_TIMES = """
import contextlib, json, sys, time, torch
from crawler.config import load_config
from crawler.model import CrawlerGPT
from crawler.train import build_optimizers, train_step
cfg = load_config("tiny", environ={})
torch.manual_seed(0)
gpt = CrawlerGPT(cfg)
optimizers = build_optimizers(gpt, cfg)
batch = torch.randint(0, cfg.vocab_size, (cfg.train_batch_tokens // cfg.train_seq_len, cfg.train_seq_len + 1))
times = []
for step in range(int(sys.argv[1]) + 2):
    t0 = time.perf_counter()
    train_step(gpt, gpt, optimizers, lambda: (batch[:, :-1], batch[:, 1:]), 1, cfg, step, 1.0, contextlib.nullcontext())
    times.append(time.perf_counter() - t0)
print(json.dumps(times[2:]))
"""
POLICIES = {"default spin (300000)": {"GOMP_SPINCOUNT": "300000"}, "short spin (10000)": {"GOMP_SPINCOUNT": "10000"},
            "passive": {"OMP_WAIT_POLICY": "PASSIVE"}}


def step_ms(env: dict[str, str], steps: int) -> float:
    clean = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    done = subprocess.run([sys.executable, "-c", STEP_TIMES, str(steps)], env={**clean, **env},
                          capture_output=True, text=True, check=True)
    return 1000 * statistics.median(json.loads(done.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--busy", type=int, default=5, help="busy-looping processes sharing the CPU")
    parser.add_argument("--steps", type=int, default=6, help="timed steps (after 2 untimed) per measurement")
    args = parser.parse_args()
    idle = {name: step_ms(env, args.steps) for name, env in POLICIES.items()}
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        busy = {name: step_ms(env, args.steps) for name, env in POLICIES.items()}
    finally:
        for hog in hogs:
            hog.kill()
    reference = idle["default spin (300000)"]
    print(f"tiny preset, median ms per step; ratio to the default spin on the idle CPU ({reference:.0f} ms)")
    for name in POLICIES:
        print(f"  {name:<24} idle {idle[name]:7.0f} ms {idle[name] / reference:5.2f}x   "
              f"with {args.busy} busy processes {busy[name]:7.0f} ms {busy[name] / reference:5.2f}x")


if __name__ == "__main__":
    main()
