"""Validation BPB over a token stream: non-overlapping ("roundtrip") and sliding windows.

Targets are tokens[1:]; target j is predicted from tokens[:j+1]. A plan is a
list of windows (start, lo, hi): the model reads targets' inputs
tokens[start : start+seq_len] and scores targets lo..hi-1, so every target is
scored exactly once. With stride == seq_len the plan is the challenge's
non-overlapping evaluation, which drops the final partial window; with a smaller
stride the first window scores all its positions, every later one its last
`stride`, and the tail is scored by one last window that still sees seq_len
tokens of context. Sums are float64; under torchrun each rank takes every
world_size-th window and the sums are all-reduced.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from crawler.bpb import ByteLUT, bits_per_byte
from crawler.errors import PgolfError


class EvalError(PgolfError, ValueError):
    pass


@dataclass
class BPBResult:
    nll_sum: float  # nats, float64
    byte_sum: int
    scored_tokens: int
    available_tokens: int  # targets in the whole stream handed in
    seconds: float
    seq_len: int
    stride: int

    @property
    def val_loss(self) -> float:
        return self.nll_sum / self.scored_tokens

    @property
    def bpb(self) -> float:
        return bits_per_byte(self.nll_sum, self.byte_sum)

    @property
    def coverage(self) -> float:
        return self.scored_tokens / self.available_tokens

    def to_dict(self) -> dict:
        return {"val_loss": self.val_loss, "val_bpb": self.bpb, "nll_sum": self.nll_sum, "byte_sum": self.byte_sum,
                "scored_tokens": self.scored_tokens, "available_tokens": self.available_tokens,
                "coverage": self.coverage, "seconds": self.seconds, "seq_len": self.seq_len, "stride": self.stride}


def plan_windows(n_targets: int, seq_len: int, stride: int) -> list[tuple[int, int, int]]:
    if stride == seq_len:
        return [(s, s, s + seq_len) for s in range(0, n_targets - seq_len + 1, seq_len)]
    windows, scored = [], 0
    while scored < n_targets:
        hi = min(scored + (seq_len if scored == 0 else stride), n_targets)
        windows.append((max(0, hi - seq_len), scored, hi))
        scored = hi
    return windows


@torch.no_grad()
def evaluate_bpb(model, tokens: np.ndarray, lut: ByteLUT, seq_len: int, stride: int, batch_seqs: int,
                 device, max_tokens: int = 0, rank: int = 0, world_size: int = 1, progress: bool = False,
                 on_batch: Callable[[int, int], None] | None = None) -> BPBResult:
    """BPB of `model` (ids (B,T) -> logits (B,T,V)) on tokens[: max_tokens+1] (0 = all).
    on_batch(scored, total) follows this rank's targets after each batch (the web app's live progress)."""
    device = torch.device(device)
    available = len(tokens) - 1
    n_targets = min(available, max_tokens) if max_tokens else available
    width = min(seq_len, n_targets)
    plan = plan_windows(n_targets, width, min(stride, width))
    if not plan:
        raise EvalError(f"{n_targets} validation targets is fewer than one window of {seq_len}")
    mine = plan[rank::world_size]
    stream = torch.from_numpy(np.asarray(tokens[: n_targets + 1], dtype=np.int64))
    base, space, boundary = lut.to_torch(device)
    nll = torch.zeros((), dtype=torch.float64, device=device)
    nbytes = torch.zeros((), dtype=torch.int64, device=device)
    ntok = torch.zeros((), dtype=torch.int64, device=device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    was_training = model.training
    model.eval()
    t0 = time.perf_counter()
    to_score = sum(hi - lo for _, lo, hi in mine)
    bar = tqdm(total=to_score, unit="tok", unit_scale=True, desc="eval",
               disable=not progress or rank != 0, leave=False)
    for b in range(0, len(mine), batch_seqs):
        chunk = mine[b: b + batch_seqs]
        idx = torch.stack([stream[s: s + width + 1] for s, _, _ in chunk]).to(device)  # (B, width+1)
        x, y = idx[:, :-1], idx[:, 1:]
        with autocast:
            logits = model(x)
        logp = F.log_softmax(logits.float(), dim=-1)
        tok_nll = -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1).double()  # (B, width)
        pos = torch.arange(width, device=device)
        lo = torch.tensor([l - s for s, l, _ in chunk], device=device)[:, None]
        hi = torch.tensor([h - s for s, _, h in chunk], device=device)[:, None]
        mask = (pos >= lo) & (pos < hi)  # (B, width)
        tok_bytes = base[y].long() + (space[y] & ~boundary[x]).long()
        nll += tok_nll[mask].sum()
        nbytes += tok_bytes[mask].sum()
        ntok += mask.sum()
        bar.update(int(mask.sum()))
        if on_batch is not None:
            on_batch(int(ntok), to_score)
    bar.close()
    if world_size > 1:
        for t in (nll, nbytes, ntok):
            dist.all_reduce(t)
    model.train(was_training)
    return BPBResult(float(nll), int(nbytes), int(ntok), available, time.perf_counter() - t0, width, min(stride, width))
