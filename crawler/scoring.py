"""Validation BPB over a token stream: non-overlapping ("roundtrip") and sliding windows.

Targets are tokens[1:]; target j is predicted from tokens[:j+1]. A plan is a
list of windows (start, lo, hi): the model reads targets' inputs
tokens[start : start+seq_len] and scores targets lo..hi-1. In our plans every
target is scored exactly once: with stride == seq_len the plan is the
challenge's non-overlapping evaluation, which drops the final partial window;
with a smaller stride the first window scores all its positions, every later
one its last `stride`, and the tail is scored by one last window that still
sees seq_len tokens of context. The record's eval_val_sliding (record_plan)
instead starts a window at every multiple of stride, so the windows shorter
than seq_len at the end of its stream all score its last `stride` targets
again; evaluate_bpb can score that plan in the same pass, as a second number.
Sums are float64; under torchrun each rank takes every world_size-th window
and the sums are all-reduced.
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
    scored_tokens: int  # scorings, repeats included
    available_tokens: int  # targets in the whole stream handed in
    seconds: float
    seq_len: int
    stride: int
    repeated: int = 0  # scorings of a target already scored (the record's plan only)
    record: BPBResult | None = None  # the same model and tokens under the record's eval_val_sliding plan

    @property
    def val_loss(self) -> float:
        return self.nll_sum / self.scored_tokens

    @property
    def bpb(self) -> float:
        return bits_per_byte(self.nll_sum, self.byte_sum)

    @property
    def coverage(self) -> float:
        return (self.scored_tokens - self.repeated) / self.available_tokens

    def to_dict(self) -> dict:
        out = {"val_loss": self.val_loss, "val_bpb": self.bpb, "nll_sum": self.nll_sum, "byte_sum": self.byte_sum,
               "scored_tokens": self.scored_tokens, "available_tokens": self.available_tokens,
               "coverage": self.coverage, "seconds": self.seconds, "seq_len": self.seq_len, "stride": self.stride}
        if self.repeated:
            out["repeated"] = self.repeated
        if self.record is not None:
            out["record"] = self.record.to_dict()
        return out


def plan_windows(n_targets: int, seq_len: int, stride: int) -> list[tuple[int, int, int]]:
    if stride == seq_len:
        return [(s, s, s + seq_len) for s in range(0, n_targets - seq_len + 1, seq_len)]
    windows, scored = [], 0
    while scored < n_targets:
        hi = min(scored + (seq_len if scored == 0 else stride), n_targets)
        windows.append((max(0, hi - seq_len), scored, hi))
        scored = hi
    return windows


def record_plan(n_targets: int, seq_len: int, stride: int) -> list[tuple[int, int, int]]:
    """The record's eval_val_sliding: a window at every multiple of stride, scoring its last `stride` targets
    (the first window all of its own), so each window shorter than seq_len re-scores the stream's tail."""
    return [(ws, ws if ws == 0 else ws + max(min(seq_len, n_targets - ws) - stride, 0), min(ws + seq_len, n_targets))
            for ws in range(0, n_targets, stride)]


def forwarded_tokens(n_targets: int, seq_len: int, stride: int, record_targets: int = 0) -> int:
    """Tokens evaluate_bpb feeds the model with these arguments (all ranks together): the pass's cost."""
    width = min(seq_len, n_targets)
    starts = {start for start, _, _ in plan_windows(n_targets, width, min(stride, width))}
    if record_targets:
        starts.update(start for start, _, _ in record_plan(record_targets, seq_len, stride))
    return len(starts) * width


@torch.no_grad()
def evaluate_bpb(model, tokens: np.ndarray, lut: ByteLUT, seq_len: int, stride: int, batch_seqs: int,
                 device, max_tokens: int = 0, rank: int = 0, world_size: int = 1, progress: bool = False,
                 on_batch: Callable[[int, int], None] | None = None, record_targets: int = 0) -> BPBResult:
    """BPB of `model` (ids (B,T) -> logits (B,T,V)) on tokens[: max_tokens+1] (0 = all).
    record_targets > 0 also scores the record's plan over the first record_targets targets (its stream is cut to
    a multiple of its sequence length) in the same pass, as result.record: windows both plans share run once.
    on_batch(scored, total) follows this rank's scorings after each batch (the web app's live progress)."""
    device = torch.device(device)
    available = len(tokens) - 1
    n_targets = min(available, max_tokens) if max_tokens else available
    width = min(seq_len, n_targets)
    plans = [plan_windows(n_targets, width, min(stride, width))]
    if not plans[0]:
        raise EvalError(f"{n_targets} validation targets is fewer than one window of {seq_len}")
    if record_targets:
        if not seq_len <= record_targets <= n_targets:
            raise EvalError(f"the record's plan needs {seq_len}..{n_targets} targets, got {record_targets}")
        plans.append(record_plan(record_targets, seq_len, stride))
    ranges: dict[int, list[tuple[int, int]]] = {}  # window start -> (lo, hi) per plan, (0, 0) where a plan has none
    for p, plan in enumerate(plans):
        for start, lo, hi in plan:
            ranges.setdefault(start, [(0, 0)] * len(plans))[p] = (lo, hi)
    mine = sorted(ranges.items())[rank::world_size]
    stream = torch.from_numpy(np.asarray(tokens[: n_targets + 1], dtype=np.int64))
    stream = torch.cat((stream, stream.new_zeros(width)))  # a record window past the end reads padding, as there
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
    pos = torch.arange(width, device=device)
    for b in range(0, len(mine), batch_seqs):
        chunk = mine[b: b + batch_seqs]
        idx = torch.stack([stream[s: s + width + 1] for s, _ in chunk]).to(device)  # (B, width+1)
        x, y = idx[:, :-1], idx[:, 1:]
        with autocast:
            logits = model(x)
        logp = F.log_softmax(logits.float(), dim=-1)
        tok_nll = -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1).double()  # (B, width)
        tok_bytes = base[y].long() + (space[y] & ~boundary[x]).long()
        spans = torch.tensor([[(lo - s, hi - s) for lo, hi in sp] for s, sp in chunk], device=device)  # (B, P, 2)
        for p in range(len(plans)):
            mask = (pos >= spans[:, p, :1]) & (pos < spans[:, p, 1:])  # (B, width)
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
    record = None
    if record_targets:
        record = BPBResult(float(nll[1]), int(nbytes[1]), int(ntok[1]), available, seconds, seq_len, stride,
                           repeated=int(ntok[1]) - record_targets)
    return BPBResult(float(nll[0]), int(nbytes[0]), int(ntok[0]), available, seconds, width, min(stride, width),
                     record=record)
