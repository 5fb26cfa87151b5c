"""Validation BPB over a token stream: non-overlapping ("roundtrip") and sliding windows.

Targets are tokens[1:]; target j is predicted from tokens[:j+1]. A plan is a
list of windows (start, lo, hi): the model reads targets' inputs
tokens[start : start+seq_len] and scores targets lo..hi-1. In our plans every
target is scored exactly once: with stride == seq_len the plan is the
challenge's non-overlapping evaluation, which drops the final partial window;
with a smaller stride the first window scores all its positions, every later
one its last `stride`, and the tail is scored by one last window that still
sees seq_len tokens of context. score_plans scores several plans in one pass,
running the windows they share once (`pgolf eval` adds the reference script's
own sliding plan). Sums are float64; under torchrun each rank takes every
world_size-th window and the sums are all-reduced.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from crawler.bpb import ByteLUT, bits_per_byte
from crawler.contract import BPBResult
from crawler.errors import PgolfError

Window = tuple[int, int, int]  # (start, lo, hi)


class EvalError(PgolfError, ValueError):
    pass


def plan_windows(n_targets: int, seq_len: int, stride: int) -> list[Window]:
    if stride == seq_len:
        return [(s, s, s + seq_len) for s in range(0, n_targets - seq_len + 1, seq_len)]
    windows, scored = [], 0
    while scored < n_targets:
        hi = min(scored + (seq_len if scored == 0 else stride), n_targets)
        windows.append((max(0, hi - seq_len), scored, hi))
        scored = hi
    return windows


def evaluate_bpb(model, tokens: np.ndarray, lut: ByteLUT, seq_len: int, stride: int, batch_seqs: int,
                 device, max_tokens: int = 0, rank: int = 0, world_size: int = 1, progress: bool = False,
                 on_batch: Callable[[int, int], None] | None = None) -> BPBResult:
    """BPB of `model` (ids (B,T) -> logits (B,T,V)) on tokens[: max_tokens+1] (0 = all)."""
    n_targets = min(len(tokens) - 1, max_tokens) if max_tokens else len(tokens) - 1
    width = min(seq_len, n_targets)
    plan = plan_windows(n_targets, width, min(stride, width))
    if not plan:
        raise EvalError(f"{n_targets} validation targets is fewer than one window of {seq_len}")
    return score_plans(model, tokens, lut, n_targets, [plan], width, min(stride, width), batch_seqs, device,
                       rank, world_size, progress, on_batch)[0]


@torch.no_grad()
def score_plans(model, tokens: np.ndarray, lut: ByteLUT, n_targets: int, plans: list[list[Window]], seq_len: int,
                stride: int, batch_seqs: int, device, rank: int = 0, world_size: int = 1, progress: bool = False,
                on_batch: Callable[[int, int], None] | None = None) -> list[BPBResult]:
    """Each plan's BPBResult over the first n_targets targets, in one pass: windows the plans share run once.
    Every plan scores a prefix of the targets without gaps. on_batch(scored, total) follows this rank's
    scorings after each batch (the web app's live progress)."""
    device = torch.device(device)
    available = len(tokens) - 1
    ranges: dict[int, list[tuple[int, int]]] = {}  # window start -> (lo, hi) per plan, (0, 0) where a plan has none
    for p, plan in enumerate(plans):
        for start, lo, hi in plan:
            ranges.setdefault(start, [(0, 0)] * len(plans))[p] = (lo, hi)
    mine = sorted(ranges.items())[rank::world_size]
    stream = torch.from_numpy(np.asarray(tokens[: n_targets + 1], dtype=np.int64))
    stream = torch.cat((stream, stream.new_zeros(seq_len)))  # a window past the end reads padding
    base, space, boundary = lut.to_torch(device)
    nll = torch.zeros(len(plans), dtype=torch.float64, device=device)
    nbytes = torch.zeros(len(plans), dtype=torch.int64, device=device)
    ntok = torch.zeros(len(plans), dtype=torch.int64, device=device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    was_training = model.training
    model.eval()
    t0 = time.perf_counter()
    to_score = sum(hi - lo for _, spans in mine for lo, hi in spans)
    bar = tqdm(total=to_score, unit="tok", unit_scale=True, desc="eval",
               disable=not progress or rank != 0, leave=False)
    pos = torch.arange(seq_len, device=device)
    for b in range(0, len(mine), batch_seqs):
        chunk = mine[b: b + batch_seqs]
        idx = torch.stack([stream[s: s + seq_len + 1] for s, _ in chunk]).to(device)  # (B, seq_len+1)
        x, y = idx[:, :-1], idx[:, 1:]
        with autocast:
            logits = model(x)
        logp = F.log_softmax(logits.float(), dim=-1)
        tok_nll = -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1).double()  # (B, seq_len)
        tok_bytes = base[y].long() + (space[y] & ~boundary[x]).long()
        spans = torch.tensor([[(lo - s, hi - s) for lo, hi in sp] for s, sp in chunk], device=device)  # (B, P, 2)
        for p in range(len(plans)):
            mask = (pos >= spans[:, p, :1]) & (pos < spans[:, p, 1:])  # (B, seq_len)
            nll[p] += tok_nll[mask].sum()
            nbytes[p] += tok_bytes[mask].sum()
            ntok[p] += mask.sum()
        bar.update(int(ntok.sum()) - bar.n)
        if on_batch is not None:
            on_batch(int(ntok.sum()), to_score)
    bar.close()
    if world_size > 1:
        for t in (nll, nbytes, ntok):
            dist.all_reduce(t)
    model.train(was_training)
    seconds = time.perf_counter() - t0
    results = []
    for p, plan in enumerate(plans):
        loss, byte_sum, scored, distinct = float(nll[p]), int(nbytes[p]), int(ntok[p]), plan[-1][2]
        results.append(BPBResult(loss / scored, bits_per_byte(loss, byte_sum), loss, byte_sum, scored, available,
                                 distinct / available, seconds, seq_len, stride, scored - distinct))
    return results
