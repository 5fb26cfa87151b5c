"""Loop-wise analysis of a Micro Crawler: what each application of the shared crawler block does.

Everything is measured on one fixed slice of validation data: `tokens // seq_len` windows of
seq_len + 1 tokens at seeded random, non-overlapping window offsets. A "stage" is one block
application, named (block, loop): flat blocks have loop 0, the shared crawler block appears once
per loop. Stage states are the residual stream after that application.

Statistics (token means are over every scored position of the slice):
  logit lens     each stage (and the embedding) decoded as the model decodes its last one:
                 rms_norm -> tied tok_emb -> softcap; BPB = sum nll / (ln 2 * bytes), mean
                 1-based rank of the target among the vocabulary.
  early exit     BPB of the whole model run with k crawler loops, k = 1 .. loops + extra.
  repr change    h_-1 = residual entering the crawler, h_k = residual after loop k:
                 rel_step[k] = mean_t ||h_k - h_k-1|| / ||h_k-1||, update_cosine[k] =
                 mean_t cos(h_k - h_k-1, h_k-1 - h_k-2), similarity[i][j] = mean_t cos(h_i, h_j).
  attention      per stage and head, over query positions i with probabilities p_ij (j <= i):
                 entropy -sum p ln p (nats), distance sum p (i - j) (tokens), mass_last8 =
                 sum of p over i - 7 <= j <= i.
  quant error    mean_t ||h_deq - h_float|| / ||h_float|| per stage (float checkpoint given).
  activations    rms and absmax of the embedding, every stage and the final normed stream.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from crawler.bpb import ByteLUT, load_byte_lut
from crawler.config import BOUNDS, CrawlerConfig
from crawler.errors import PgolfError, first_line
from crawler.model import CrawlerGPT, rms_norm
from crawler.shards import load_split
from evaluator.artifacts.decode_audit import count_bytes
from evaluator.artifacts.eval_report import eval_inputs
from evaluator.artifacts.loading import build_model as family_model
from evaluator.artifacts.loading import open_artifact
from evaluator.cli_inputs import positive_int_env
from evaluator.loopwise.loops_report import (ActivationRow, AttentionRow, ExitRow, LensRow, LoopsReport, QuantRow, ReprChange,
                                    SliceInfo, Stage)

LAST_N = 8  # the "adjacent tokens" horizon of the causal-horizon claim
MAX_LOOPS = int(BOUNDS["crawler_loops"][1])  # early exit past the trained count stops here


class LoopsError(PgolfError, ValueError):
    pass


def stage_label(name: str, loop: int) -> str:
    if name.startswith("crawler_blocks."):
        return f"crawler{name.rsplit('.', 1)[1]}@{loop}"
    return name.replace("flat_blocks.", "flat")


# ----------------------------------------------------------------------------- data


def val_slice(val: np.ndarray, tokens: int, seq_len: int, seed: int) -> np.ndarray:
    """(n, seq_len + 1) windows at seeded random non-overlapping offsets, in file order."""
    if seq_len < 1 or tokens < seq_len:
        raise LoopsError(f"--tokens {tokens} must be at least --seq-len {seq_len} (and both positive)")
    available = (len(val) - 1) // seq_len
    n = tokens // seq_len
    if n > available:
        raise LoopsError(f"validation split holds {available} windows of {seq_len} tokens, --tokens asks for {n}")
    starts = np.sort(np.random.default_rng(seed).choice(available, size=n, replace=False)) * seq_len
    return np.stack([val[s: s + seq_len + 1] for s in starts]).astype(np.int64)


# ----------------------------------------------------------------------------- models


def build_model(config: CrawlerConfig, state_dict: dict[str, Tensor], device) -> CrawlerGPT:
    try:
        return family_model(config, state_dict, device)
    except RuntimeError as e:
        raise LoopsError(f"weights do not fit the config: {first_line(e, 160)}") from None


def with_loops(config: CrawlerConfig, k: int) -> CrawlerConfig | str:
    """The config that runs the crawler k times, or why that cannot be done.

    Stopping early (k below the trained count) drops the unused per-loop tensors; more loops
    than trained only work when nothing is per-loop, since there is no weight for the extra loops.
    """
    trained = config.crawler_loops
    if k > MAX_LOOPS:
        return f"more than the {MAX_LOOPS} loops any config may hold"
    if k > trained and config.loop_inst_dim > 0:
        return f"loop_inst has trained vectors for {trained} loops only"
    if k > trained and config.loop_rope_scales:
        return f"loop_rope_scales has values for {trained} loops only"
    return config.replace(crawler_loops=k, loop_rope_scales=tuple(config.loop_rope_scales[:k]))


def sharing_weights(model: CrawlerGPT, config: CrawlerConfig) -> CrawlerGPT:
    """A model of `config` (another loop count) whose weights are `model`'s own tensors, not copies: the
    early-exit models of a 64-loop crawler cost no more memory than one."""
    weights = model.state_dict()
    if "loop_inst" in weights:
        weights["loop_inst"] = weights["loop_inst"][:config.crawler_loops]
    with torch.device("meta"):
        twin = CrawlerGPT(config)
    twin.load_state_dict(weights, assign=True)
    return twin.eval()


# ----------------------------------------------------------------------------- capture


# elements of one chunk of attention probabilities (H x rows x T float32: 64 MiB), whatever T and H are
ATTENTION_CHUNK_ELEMENTS = 1 << 24


def attention_stats(p: Tensor, start: int = 0) -> dict[str, Tensor]:
    """Per-head sums over query positions start .. start + r - 1 of entropy, distance and last-8 mass;
    p is (H, r, T)."""
    rows, T = p.shape[-2:]
    dist = (torch.arange(start, start + rows, device=p.device)[:, None] - torch.arange(T, device=p.device)[None, :])
    dist = dist.clamp(min=0).to(p.dtype)  # i - j; masked entries have p = 0
    entropy = -torch.special.xlogy(p, p).sum(-1)
    return {"entropy": entropy.sum(-1), "distance": (p * dist).sum(-1).sum(-1),
            "mass_last8": (p * (dist < LAST_N)).sum(-1).sum(-1)}


def attention_probs(attn, x: Tensor, cos: Tensor, sin: Tensor, rows: int) -> Iterator[tuple[int, Tensor]]:
    """Causal attention probabilities of one crawler Attention, which the fused kernels of its forward never
    materialise (GQA: query head h reads kv head h // (H / KV), as SDPA's enable_gqa does): (start, (B, H, r, T))
    for `rows` query positions at a time, so that memory need not grow with T^2."""
    q, k = attn.qk(x, cos, sin)
    q, k = q.transpose(1, 2), k.repeat_interleave(attn.num_heads // attn.num_kv_heads, dim=2).permute(0, 2, 3, 1)
    T = x.size(1)
    keys = torch.arange(T, device=x.device)
    for start in range(0, T, rows):
        queries = keys[start:start + rows]
        scores = (q[:, :, start:start + len(queries)] @ k).float() / math.sqrt(attn.head_dim)
        causal = queries[:, None] >= keys[None, :]
        yield start, scores.masked_fill(~causal, float("-inf")).softmax(-1)


def attention_means(attn, x: Tensor, cos: Tensor, sin: Tensor) -> dict[str, Tensor]:
    """attention_stats' per-head means over every query position of one sequence x (1, T, dim), computed a
    chunk of query rows at a time so that memory stays under ATTENTION_CHUNK_ELEMENTS."""
    T = x.size(1)
    rows = max(1, ATTENTION_CHUNK_ELEMENTS // (attn.num_heads * T))
    sums = None
    for start, p in attention_probs(attn, x, cos, sin, rows):
        s = attention_stats(p[0], start)
        sums = s if sums is None else {k: sums[k] + v for k, v in s.items()}
    return {k: v / T for k, v in sums.items()}


@dataclass
class Pass:
    embed: Tensor  # (B, T, dim) residual stream entering the first block
    stages: list[tuple[str, int, Tensor]]  # (block name, loop, residual after that application)
    final: Tensor  # the normed stream the head reads
    attention: dict[tuple[str, int], dict[str, Tensor]]  # per-head stats summed over the batch


@torch.no_grad()
def capture(model: CrawlerGPT, ids: Tensor, attention: bool = True) -> Pass:
    embeds, calls, stats = [], [], {}

    def on_attention(key, attn, x, cos, sin):
        calls.append(key)
        if not attention:
            return
        for b in range(x.size(0)):  # one sequence at a time, in chunks of query rows: memory does not grow with T^2
            s = attention_means(attn, x[b:b + 1], cos, sin)
            acc = stats.setdefault(key, {k: torch.zeros_like(v) for k, v in s.items()})
            for name, v in s.items():
                acc[name] += v

    stages: list = []
    handle = model.smear.register_forward_hook(lambda module, args, out: embeds.append(out))
    try:
        final = model.trunk(ids, hidden=stages, on_attention=on_attention)
    finally:
        handle.remove()
    expected = model.num_block_applications()
    keys = [(name, loop) for name, loop, _ in stages]
    if len(calls) != expected or len(set(calls)) != expected or calls != keys:
        raise AssertionError(f"{len(calls)} keyed block applications ({len(set(calls))} distinct), expected "
                             f"{expected} = flat + crawler x loops")
    return Pass(embeds[0], stages, final, stats)


def lens_logits(model: CrawlerGPT, x: Tensor) -> Tensor:
    """Decode any residual stream exactly as forward decodes the last one."""
    return model.head(rms_norm(x))


def nll_and_rank(logits: Tensor, targets: Tensor) -> tuple[float, float]:
    """Summed nll (nats) and summed 1-based target rank over all positions."""
    flat, tgt = logits.reshape(-1, logits.size(-1)), targets.reshape(-1)
    nll = F.cross_entropy(flat, tgt, reduction="sum").item()
    rank = ((flat > flat.gather(1, tgt[:, None])).sum(1) + 1).double().sum().item()
    return nll, rank


def token_norm(x: Tensor) -> Tensor:
    return x.double().norm(dim=-1)


def token_cosine(a: Tensor, b: Tensor) -> Tensor:
    return F.cosine_similarity(a.double(), b.double(), dim=-1, eps=1e-30)


def loop_states(p: Pass, config: CrawlerConfig) -> list[Tensor]:
    """[h_-1, h_0, .., h_L-1]: the residual entering the crawler, then after each loop's last block."""
    last = f"crawler_blocks.{config.num_crawler_layers - 1}"
    first = next((i for i, (name, _, _) in enumerate(p.stages) if name.startswith("crawler_blocks.")), None)
    if first is None:
        return []
    entering = p.stages[first - 1][2] if first else p.embed
    return [entering, *(x for name, _, x in p.stages if name == last)]


# ----------------------------------------------------------------------------- cost

BUDGET_VARIABLE = "PGOLF_ANALYSIS_MAX_BYTES"
DEFAULT_BUDGET = 8 << 30


def analysis_bytes(config: CrawlerConfig, seq_len: int, batch_seqs: int) -> int:
    """What one batch of the analysis holds at once, from the config alone (float32): every stage's residual
    stream (the representation change and quantisation error need them together) and a forward pass's
    activations, one stage's lens logits with cross-entropy's copy and the rank test's mask (9 bytes a
    logit), and the attention chunks (ATTENTION_CHUNK_ELEMENTS, with softmax's and the statistics' copies)."""
    positions = batch_seqs * seq_len
    applications = config.num_flat_layers + config.num_crawler_layers * config.crawler_loops
    streams = 4 * positions * config.model_dim * (applications + 12)
    return streams + 9 * positions * config.vocab_size + 16 * ATTENTION_CHUNK_ELEMENTS


def analysis_budget(environ=None) -> int:
    return positive_int_env(BUDGET_VARIABLE, DEFAULT_BUDGET, " of bytes", environ)


def check_cost(config: CrawlerConfig, seq_len: int, batch_seqs: int, budget: int) -> None:
    """Refuse, before any model is built, an analysis that would hold more than `budget` bytes at once."""
    need = analysis_bytes(config, seq_len, batch_seqs)
    if need > budget:
        raise LoopsError(f"the analysis would hold about {need:,} bytes at once ({batch_seqs} windows of {seq_len} "
                         f"tokens, vocabulary {config.vocab_size:,}, width {config.model_dim:,}), over the budget of "
                         f"{budget:,} ({BUDGET_VARIABLE}): lower --batch-seqs or --seq-len")


# ----------------------------------------------------------------------------- analysis


@torch.no_grad()
def analyse(config: CrawlerConfig, state_dict: dict[str, Tensor], windows: np.ndarray, lut: ByteLUT,
            float_state_dict: dict[str, Tensor] | None = None, extra_loops: int = 2, batch_seqs: int = 4,
            device="cpu", progress: bool = False) -> LoopsReport:
    device = torch.device(device)
    model = build_model(config, state_dict, device)
    float_model = None if float_state_dict is None else build_model(config, float_state_dict, device)
    trained = config.crawler_loops
    exits, reasons = {}, {}
    for k in range(1, trained + extra_loops + 1):
        made = with_loops(config, k)
        if isinstance(made, str):
            reasons[k] = made
        else:
            exits[k] = model if k == trained else sharing_weights(model, made)

    n_bytes, n_tokens = 0, 0
    lens, rank = None, None
    act_sq, act_max, act_n = None, None, 0
    attn = {}
    step, upd_cos, sim, quant = None, None, None, None
    exit_nll = {k: 0.0 for k in exits}
    batches = range(0, len(windows), batch_seqs)
    for start in tqdm(batches, desc="loops", unit="batch", disable=not progress):
        w = torch.as_tensor(windows[start:start + batch_seqs], device=device)
        ids, targets = w[:, :-1], w[:, 1:]
        n_bytes += count_bytes(lut, ids.cpu().numpy(), targets.cpu().numpy())
        n_tokens += targets.numel()
        p = capture(model, ids)
        states = [p.embed, *(x for _, _, x in p.stages)]
        scored = [nll_and_rank(lens_logits(model, x), targets) for x in states]
        lens = [s[0] for s in scored] if lens is None else [a + s[0] for a, s in zip(lens, scored)]
        rank = [s[1] for s in scored] if rank is None else [a + s[1] for a, s in zip(rank, scored)]

        acts = [*states, p.final]
        sq = [x.double().square().sum().item() for x in acts]
        mx = [x.abs().max().item() for x in acts]
        act_sq = sq if act_sq is None else [a + b for a, b in zip(act_sq, sq)]
        act_max = mx if act_max is None else [max(a, b) for a, b in zip(act_max, mx)]
        act_n += p.final.numel()

        for key, s in p.attention.items():
            acc = attn.setdefault(key, {k: torch.zeros_like(v) for k, v in s.items()})
            for name, v in s.items():
                acc[name] += v

        h = loop_states(p, config)
        if h:
            deltas = [b - a for a, b in zip(h, h[1:])]
            s_step = [(token_norm(d) / token_norm(a)).sum().item() for d, a in zip(deltas, h)]
            s_cos = [token_cosine(b, a).sum().item() for a, b in zip(deltas, deltas[1:])]
            s_sim = [[token_cosine(a, b).sum().item() for b in h] for a in h]
            step = s_step if step is None else [a + b for a, b in zip(step, s_step)]
            upd_cos = s_cos if upd_cos is None else [a + b for a, b in zip(upd_cos, s_cos)]
            sim = s_sim if sim is None else [[a + b for a, b in zip(r, q)] for r, q in zip(sim, s_sim)]

        if float_model is not None:
            pf = capture(float_model, ids, attention=False)
            pairs = [(p.embed, pf.embed), *((x, xf) for (_, _, x), (_, _, xf) in zip(p.stages, pf.stages)),
                     (p.final, pf.final)]
            err = [(token_norm(q - f) / token_norm(f)).sum().item() for q, f in pairs]
            quant = err if quant is None else [a + b for a, b in zip(quant, err)]

        for k, m in exits.items():
            exit_nll[k] += nll_and_rank(m(ids), targets)[0]

    if not n_bytes:
        raise LoopsError("the slice scores no bytes (every target is a boundary token)")
    def bpb(nll: float) -> float:
        return nll / (math.log(2) * n_bytes)

    names = [("embed", 0), *((name, loop) for name, loop, _ in p.stages)]
    labels = [stage_label(*s) if s[0] != "embed" else "embed" for s in names]
    n_seqs = len(windows)
    return LoopsReport(
        config=config.to_dict(),
        slice=SliceInfo(seqs=n_seqs, seq_len=windows.shape[1] - 1, tokens=n_tokens, bytes=n_bytes),
        stages=[Stage(lab, s[0], s[1]) for lab, s in zip(labels, names)],
        model_bpb=bpb(lens[-1]),
        logit_lens=[LensRow(lab, bpb(nll), r / n_tokens) for lab, nll, r in zip(labels, lens, rank)],
        early_exit=[ExitRow(k, k == trained, bpb(exit_nll[k]) if k in exits else None, reasons.get(k))
                    for k in range(1, trained + extra_loops + 1)],
        activations=[ActivationRow(lab, math.sqrt(s / act_n), m)
                     for lab, s, m in zip([*labels, "final"], act_sq, act_max)],
        attention=[AttentionRow(stage_label(*key), key[0], key[1],
                                **{k: (v / n_seqs).tolist() for k, v in attn[key].items()})
                   for key in names[1:]],
        repr_change=None if step is None else ReprChange(
            labels=["in", *(f"loop{k}" for k in range(trained))],
            rel_step=[s / n_tokens for s in step],
            update_cosine=[c / n_tokens for c in upd_cos],
            similarity=[[v / n_tokens for v in row] for row in sim]),
        quant_error=None if quant is None else [QuantRow(lab, e / n_tokens)
                                                for lab, e in zip([*labels, "final"], quant)])


def analyse_artifact(path: Path, data_path=None, tokenizer_path=None, tokens: int = 16384, seq_len: int | None = None,
                     seed: int = 0, loops: int | None = None, float_state_dict: dict[str, Tensor] | None = None,
                     extra_loops: int = 2, batch_seqs: int = 4, device="cpu", progress: bool = False,
                     max_params: int | None = None) -> LoopsReport:
    """`analyse` on an artifact file and a seeded slice of its validation data, with what was assumed and used."""
    art = open_artifact(path, loops=loops, max_params=max_params)
    cfg = art.config
    if not isinstance(cfg, CrawlerConfig):
        raise LoopsError(f"{path}: loop analysis needs a Micro Crawler artifact; this is the {art.architecture}")
    check_cost(cfg, seq_len or cfg.eval_seq_len, batch_seqs, analysis_budget())
    data, tokenizer = eval_inputs(cfg, data_path, tokenizer_path)
    windows = val_slice(load_split(data, "val", cfg.vocab_size), tokens, seq_len or cfg.eval_seq_len, seed)
    report = analyse(cfg, art.state_dict, windows, load_byte_lut(tokenizer, cfg.vocab_size),
                     float_state_dict=None if float_state_dict is None else art.same_convention(float_state_dict),
                     extra_loops=extra_loops, batch_seqs=batch_seqs,
                     device=device, progress=progress)
    report.artifact, report.assumptions = str(path), list(art.assumptions)
    report.slice.seed, report.slice.data, report.slice.tokenizer = seed, str(data), str(tokenizer)
    return report
