import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from crawler.bpb import build_byte_lut
from crawler.scoring import evaluate_bpb, plan_windows
from evaluator.artifacts.decode_audit import count_bytes
from tests.float_bounds import F64, gamma


class CausalLM(nn.Module):
    """A small causal model whose predictions depend on the whole context (a running sum), computed exactly:
    integer embedding and head entries in [-8, 8], so that every partial sum is an integer of magnitude at most
    16 x (100 x 8) x 8 < 2^24 for the windows here (T <= 100) and the logits (times a power of two) are the same
    bits whatever the batch shape, BLAS kernel or summation order. The same seed gives the same model in the
    sharding test's child processes."""

    def __init__(self, vocab, dim=16):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.emb = nn.Embedding(vocab, dim)
        self.head = nn.Linear(dim, vocab, bias=False)
        with torch.no_grad():
            self.emb.weight.copy_(torch.randint(-8, 9, (vocab, dim), generator=g))
            self.head.weight.copy_(torch.randint(-8, 9, (vocab, dim), generator=g))

    def forward(self, ids):  # (B, T) -> (B, T, V)
        assert ids.shape[1] <= 100  # the bound above
        return self.head(self.emb(ids).cumsum(1)) * 2.0 ** -8


@pytest.fixture(scope="module")
def setup(small_sp):
    sp = small_sp
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, sp.vocab_size(), size=1001).astype(np.uint16)
    tokens[::97] = sp.bos_id()
    return CausalLM(sp.vocab_size()), tokens, build_byte_lut(sp, sp.vocab_size())


@pytest.mark.parametrize("n, seq, stride", [(1000, 64, 16), (1000, 64, 64), (1000, 100, 7), (50, 64, 16), (640, 64, 64), (129, 64, 1)])
def test_plan_scores_every_target_once(n, seq, stride):
    plan = plan_windows(n, min(seq, n), min(stride, seq, n))
    scored = np.zeros(n, dtype=int)
    for start, lo, hi in plan:
        assert start <= lo < hi <= start + min(seq, n) and start >= 0
        scored[lo:hi] += 1
    if stride == seq:  # the challenge's non-overlapping evaluation drops the partial tail
        full = (n // seq) * seq
        assert (scored[:full] == 1).all() and not scored[full:].any()
    else:
        assert (scored == 1).all()


def _naive_sliding(model, tokens, lut, seq, stride):
    """One model call per target, with the window the documented rule gives it; its NLL is the float32
    log_softmax of its row, as evaluate_bpb takes it, summed exactly (math.fsum)."""
    n = len(tokens) - 1
    nll = []
    nbytes = 0
    for t in range(n):
        if t < seq:
            start = 0
        else:
            k = (t - seq) // stride + 1
            start = min(seq + k * stride, n) - seq
        x = torch.tensor(tokens[start:start + seq].astype(np.int64))[None]
        with torch.no_grad():
            logp = F.log_softmax(model(x), -1)[0, t - start]
        nll.append(-float(logp[int(tokens[t + 1])]))
        nbytes += count_bytes(lut, tokens[t:t + 1], tokens[t + 1:t + 2])
    return math.fsum(nll), nbytes


# Both sides add the same float32 per-token NLLs (the model is exact, and each row's log_softmax is the same
# kernel on the same bits): evaluate_bpb in float64 in its own order, within gamma_{n-1} of the exact sum
# (the terms are >= 0), the reference exactly; one more rounding each for fsum, BPB's division and its product.
def _sum_order_rel(n_terms: int) -> float:
    return gamma(n_terms + 3, F64)


def test_sliding_equals_naive_reference(setup):
    model, tokens, lut = setup
    tokens = tokens[:301]
    r = evaluate_bpb(model, tokens, lut, seq_len=64, stride=16, batch_seqs=5, device="cpu")
    nll, nbytes = _naive_sliding(model, tokens, lut, 64, 16)
    assert r.scored_tokens == 300 and r.byte_sum == nbytes
    assert r.nll_sum == pytest.approx(nll, rel=_sum_order_rel(300), abs=0)
    assert r.val_bpb == pytest.approx(nll / (math.log(2) * nbytes), rel=_sum_order_rel(300), abs=0)


def test_stride_equal_to_seq_len_is_the_roundtrip(setup):
    model, tokens, lut = setup
    r = evaluate_bpb(model, tokens, lut, seq_len=100, stride=100, batch_seqs=3, device="cpu")
    x = torch.tensor(tokens[:-1].astype(np.int64)).view(10, 100)
    y = torch.tensor(tokens[1:].astype(np.int64)).view(10, 100)
    with torch.no_grad():
        tok_nll = F.cross_entropy(model(x).reshape(-1, lut.base_bytes.size), y.reshape(-1), reduction="none")
    nll = math.fsum(tok_nll.tolist())
    assert r.scored_tokens == 1000 and r.coverage == 1.0
    assert r.nll_sum == pytest.approx(nll, rel=_sum_order_rel(1000), abs=0)
    assert r.byte_sum == count_bytes(lut, tokens[:-1], tokens[1:])


def test_batching_prefix_and_coverage(setup):
    model, tokens, lut = setup
    a = evaluate_bpb(model, tokens, lut, seq_len=64, stride=32, batch_seqs=1, device="cpu")
    b = evaluate_bpb(model, tokens, lut, seq_len=64, stride=32, batch_seqs=64, device="cpu")
    # the same 1000 float32 terms summed in float64 in two orders, each within gamma_999 of the exact sum
    assert a.nll_sum == pytest.approx(b.nll_sum, rel=2 * _sum_order_rel(1000), abs=0) and a.byte_sum == b.byte_sum
    p = evaluate_bpb(model, tokens, lut, seq_len=64, stride=32, batch_seqs=8, device="cpu", max_tokens=200)
    assert p.scored_tokens == 200 and p.available_tokens == 1000 and p.coverage == 0.2


def _rank(rank, world, path, tokens, out):
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method=f"file://{path}", rank=rank, world_size=world)
    from tests.conftest import sample_docs  # noqa: F401  (keeps the child's import path like the parent's)
    import sentencepiece as spm
    from crawler.prep.tokenizer_training import train_tokenizer
    sp = spm.SentencePieceProcessor(model_proto=train_tokenizer(sample_docs(), vocab_size=400))
    r = evaluate_bpb(CausalLM(sp.vocab_size()), tokens, build_byte_lut(sp, sp.vocab_size()), seq_len=64, stride=16,
                     batch_seqs=4, device="cpu", rank=rank, world_size=world)
    out[rank] = (r.nll_sum, r.byte_sum, r.scored_tokens)
    dist.destroy_process_group()


def test_sharded_ranks_all_reduce_to_the_single_process_result(setup, tmp_path):
    import torch.multiprocessing as mp
    model, tokens, lut = setup
    single = evaluate_bpb(model, tokens, lut, seq_len=64, stride=16, batch_seqs=4, device="cpu")
    out = mp.Manager().dict()
    mp.spawn(_rank, args=(2, tmp_path / "pg", tokens, out), nprocs=2)
    for rank in range(2):
        nll, nbytes, ntok = out[rank]
        assert (nbytes, ntok) == (single.byte_sum, single.scored_tokens)
        assert nll == pytest.approx(single.nll_sum, rel=2 * _sum_order_rel(1000), abs=0)  # two summation orders
