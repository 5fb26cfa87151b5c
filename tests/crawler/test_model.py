import math

import pytest
import torch

from crawler.config import load_config
from crawler.model import Block, CastedLinear, CrawlerGPT
from crawler.muon import Muon, zeropower_via_newtonschulz5
from tests.float_bounds import F32, gamma

MICRO = dict(vocab_size=128, model_dim=64, num_heads=4, num_kv_heads=2, train_seq_len=32, eval_seq_len=32,
             eval_stride=16, bigram_vocab_size=64, bigram_dim=32, train_batch_tokens=256)


pytestmark = pytest.mark.usefixtures("one_thread")


def micro(**overrides):
    return load_config("tiny", environ={}, **{**MICRO, **overrides})


def randomized(cfg, seed=0):
    """A model whose every weight is random: at init the zero projections would hide most switches."""
    torch.manual_seed(seed)
    model = CrawlerGPT(cfg)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (0.3 if p.ndim == 2 else 1.0) + (1.0 if p.ndim == 1 else 0.0))
    return model


def batch(cfg, seed=1, B=2):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, cfg.vocab_size, (B, cfg.train_seq_len + 1), generator=g)
    return ids[:, :-1], ids[:, 1:]


def test_leg3_parameter_count_and_names():
    model = CrawlerGPT(load_config("leg3", environ={}))
    assert sum(p.numel() for p in model.parameters()) == 14_233_129
    names = {n for n, _ in model.named_parameters()}
    assert {"tok_emb.weight", "bigram.embed.weight", "bigram.proj.weight", "bigram.scale", "smear.gate",
            "skip_weights"} <= names
    for prefix in ("flat_blocks.0.", "flat_blocks.3.", "crawler_blocks.0."):
        for leaf in ("attn.c_q.weight", "attn.c_k.weight", "attn.c_v.weight", "attn.proj.weight", "attn.q_gain",
                     "mlp.fc.weight", "mlp.proj.weight", "attn_scale", "mlp_scale", "resid_mix"):
            assert prefix + leaf in names
    assert "flat_blocks.4.attn_scale" not in names and "crawler_blocks.1.attn_scale" not in names
    assert model.crawler_blocks[0].mlp.fc.weight.shape == (3072, 512)
    assert model.flat_blocks[0].mlp.fc.weight.shape == (1536, 512)


def test_init():
    model = CrawlerGPT(load_config("leg3", environ={}))
    assert model.bigram.embed.weight.abs().sum() == 0
    assert model.flat_blocks[1].attn.proj.weight.abs().sum() == 0 and model.crawler_blocks[0].mlp.proj.weight.abs().sum() == 0
    # sampling, not rounding: the std of 524,288 normal draws is within 0.005 / sqrt(2 x 524,288) = 4.9e-6 of its
    # own (one sigma); 2e-4 is 40 sigma
    assert abs(model.tok_emb.weight.std().item() - 0.005) < 2e-4
    # Gram matrices in float64 (their own error, 512 x 2^-53, is negligible): what remains is how orthogonal the
    # float32 Householder QR of orthogonal_ leaves its Q, a small multiple of n x u (Higham, ch. 19), and the float32
    # rounding of its entries (2u per Gram entry, by Cauchy-Schwarz); n x u = 3e-5 against 3.5e-7 measured, while a
    # Gaussian init is off by ~1/sqrt(512) = 0.04
    w = model.flat_blocks[0].attn.c_q.weight.double()
    assert torch.allclose(w @ w.T, torch.eye(512, dtype=torch.float64), rtol=0, atol=gamma(512, F32))
    p = model.bigram.proj.weight.double()  # (512, 128): orthonormal columns, then scaled by 1/sqrt(2*5)
    assert torch.allclose(p.T @ p, torch.eye(128, dtype=torch.float64) / 10, rtol=0, atol=gamma(512, F32) / 10)
    assert model.bigram.scale.item() == torch.tensor(0.05).item()  # 0.05 rounded to float32, as initialised
    assert model.crawler_blocks[0].attn.q_gain.eq(1.5).all() and model.smear.gate.eq(0).all()
    assert [b.ln_scale for b in model.flat_blocks] + [model.crawler_blocks[0].ln_scale] == \
        [1 / math.sqrt(i + 1) for i in range(5)]  # the model computes them so, in Python floats


def test_forward_shapes_and_loss():
    cfg = micro()
    model = randomized(cfg)
    x, y = batch(cfg, B=3)
    logits = model(x)
    assert logits.shape == (3, cfg.train_seq_len, cfg.vocab_size) and logits.dtype == torch.float32
    assert logits.abs().max() <= cfg.logit_softcap
    ref = torch.nn.functional.cross_entropy(logits.reshape(-1, cfg.vocab_size), y.reshape(-1))
    assert model(x, y).item() == ref.item()  # the same cross_entropy of the same logits
    with pytest.raises(ValueError, match="ids must have shape"):
        model(x[0])


def test_bigram_buckets():
    model = CrawlerGPT(micro())
    ids = torch.tensor([[5, 7, 1000]])
    buckets = model.bigram.bucket_ids(ids)
    assert buckets.tolist() == [[63, (36313 * 7 ^ 27191 * 5) % 63, (36313 * 1000 ^ 27191 * 7) % 63]]


@pytest.mark.parametrize("flags", [{}, dict(xsa_flat=True, loop_inst_dim=16, loop_rope_scales=(1.0, 3.0, 9.0))])
def test_causal(flags):
    cfg = micro(**flags)
    model = randomized(cfg)
    x, _ = batch(cfg)
    t = 20
    changed = x.clone()
    changed[:, t] = (changed[:, t] + 1) % cfg.vocab_size
    a, b = model(x), model(changed)
    # exactly: the prefix's operations see the change only through masked attention weights, which are exact zeros
    assert torch.equal(a[:, :t], b[:, :t])
    assert not torch.allclose(a[:, t:], b[:, t:], atol=1e-3)


@pytest.mark.parametrize("flat,crawlers,loops", [(4, 1, 3), (2, 2, 2), (4, 0, 3), (2, 1, 0), (0, 3, 1)])
def test_block_applications(flat, crawlers, loops):
    cfg = micro(num_flat_layers=flat, num_crawler_layers=crawlers, crawler_loops=loops, loop_inst_dim=8)
    model = randomized(cfg)
    calls = []
    for name, module in model.named_modules():
        if isinstance(module, Block):
            module.register_forward_hook(lambda m, args, out, name=name: calls.append(name))
    hidden = []
    x, _ = batch(cfg)
    model.trunk(x, hidden)
    assert len(calls) == model.num_block_applications() == flat + crawlers * loops
    expected = [f"flat_blocks.{i}" for i in range(flat // 2)]
    expected += [f"crawler_blocks.{j}" for _ in range(loops) for j in range(crawlers)]
    expected += [f"flat_blocks.{i}" for i in range(flat // 2, flat)]
    assert calls == expected == [name for name, _, _ in hidden]
    assert [loop for name, loop, _ in hidden if name.startswith("crawler")] == \
        [loop for loop in range(loops) for _ in range(crawlers)]
    assert all(h.shape == (2, cfg.train_seq_len, cfg.model_dim) for _, _, h in hidden)


@pytest.mark.parametrize("flag", [dict(loop_rope_scales=(1.0, 3.0, 9.0)), dict(loop_inst_dim=16), dict(xsa_flat=True),
                                  dict(xsa_crawler=False)])
def test_switch_changes_the_loss(flag):
    base = randomized(micro())
    switched = CrawlerGPT(micro(**flag))
    missing, unexpected = switched.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and set(missing) <= {"loop_inst", "loop_inst_proj.weight"}
    x, y = batch(base.config)
    assert abs(base(x, y).item() - switched(x, y).item()) > 1e-4


@pytest.mark.parametrize("bits", [dict(qat_flat_bits=6), dict(qat_crawler_bits=8), dict(qat_flat_bits=8, qat_crawler_bits=6)])
def test_qat_changes_the_loss_and_passes_gradients(bits):
    model = randomized(micro(**bits))
    x, y = batch(model.config)
    plain = model(x, y)
    model.set_qat(True)
    quantized = model(x, y)
    assert abs(plain.item() - quantized.item()) > 1e-5
    quantized.backward()
    group = model.flat_blocks if bits.get("qat_flat_bits") else model.crawler_blocks
    assert group[0].mlp.fc.weight.grad.abs().sum() > 0
    linears = [m for m in model.modules() if isinstance(m, CastedLinear)]
    assert {m.qat_bits for m in linears} == {bits.get("qat_flat_bits", 0), bits.get("qat_crawler_bits", 0)} | {0}
    model.set_qat(False)
    assert model(x, y).item() == plain.item()  # QAT off again: the same operations as before it was on


def test_newton_schulz_orthogonalises():
    g = torch.Generator().manual_seed(0)
    for shape in [(128, 64), (64, 256), (96, 48)]:  # square Gaussians have near-zero singular values that 5 steps leave short
        G = torch.randn(shape, generator=g)
        s = torch.linalg.svdvals(zeropower_via_newtonschulz5(G, steps=5))
        assert s.min() > 0.6 and s.max() < 1.25, (shape, s.min(), s.max())
        # same singular vectors as the exact polar factor U V^T
        U, _, Vh = torch.linalg.svd(G, full_matrices=False)
        X = zeropower_via_newtonschulz5(G)
        cos = (X * (U @ Vh)).sum() / (X.norm() * (U @ Vh).norm())
        assert cos > 0.98


def test_muon_step():
    g = torch.Generator().manual_seed(0)
    p = torch.nn.Parameter(torch.randn(128, 64, generator=g))
    before = p.detach().clone()
    p.grad = torch.randn(128, 64, generator=g)
    opt = Muon([p], lr=0.1, momentum=0.9, weight_decay=0.0)
    opt.step()
    update = (before - p.detach()) / 0.1  # nesterov: NS(g + 0.9 g), scaled by sqrt(rows / cols)
    s = torch.linalg.svdvals(update) / math.sqrt(2)
    assert s.min() > 0.6 and s.max() < 1.25
    decayed = torch.nn.Parameter(before.clone())
    decayed.grad = torch.zeros_like(before)
    Muon([decayed], lr=0.1, momentum=0.9, weight_decay=0.5).step()
    # a zero gradient orthogonalises to a zero update: the step is the decay's one float32 product, as here
    assert torch.equal(decayed.detach(), before * (1 - 0.1 * 0.5))
