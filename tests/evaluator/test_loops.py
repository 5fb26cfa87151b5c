import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from crawler.bpb import load_byte_lut
from crawler.config import load_config
from crawler.model import CrawlerGPT
from crawler.prep.prepare import prepare_data
from crawler.ptz import export_model
from crawler.shards import load_split
from evaluator.artifacts.decode_audit import count_bytes
from evaluator.artifacts.loading import open_artifact
from evaluator.loopwise import analysis
from evaluator.loopwise.loops_report import LoopsReport
from evaluator.loopwise.output_files import PLOT_NAMES, plot_file, plot_names
from evaluator.loopwise.loop_plots import DRAWERS
from pgolf import app
from tests.conftest import sample_docs
from tests.float_bounds import F32, F64, gamma

SEQ = 32


def tiny_config(data, **overrides):
    return load_config("tiny", data_path=str(data), vocab_size=400, model_dim=32, num_heads=2, num_kv_heads=1,
                       rope_dims=8, train_seq_len=SEQ, eval_seq_len=SEQ, eval_stride=SEQ, bigram_vocab_size=64,
                       bigram_dim=8, mlp_mult=2.0, crawler_mlp_mult=2.0, **overrides)


def lively(model):
    torch.manual_seed(0)
    with torch.no_grad():  # zero-init projections would make every loop the identity
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("loops")
    docs = [f"Document {i}. " + sample_docs()[i % 3] for i in range(30)]
    prepare_data(docs, tmp / "data", "test", vocab_size=400, val_docs=5)
    cfg = tiny_config(tmp / "data")
    model = lively(CrawlerGPT(cfg))
    code = tmp / "train_gpt.py"
    code.write_text("print('entry')\n")
    export_model(model, cfg, tmp / "data" / "tokenizer.model", [code], tmp / "model.ptz")
    art = open_artifact(tmp / "model.ptz")
    windows = analysis.val_slice(load_split(tmp / "data", "val", 400), 4 * SEQ, SEQ, seed=0)
    lut = load_byte_lut(tmp / "data" / "tokenizer.model", 400)
    return tmp, art.config, art.state_dict, windows, lut


def test_val_slice_is_seeded_and_bad_sizes_are_errors(run):
    _, _, _, windows, _ = run
    val = np.arange(1000, dtype=np.uint16)
    a, b = analysis.val_slice(val, 100, 10, 3), analysis.val_slice(val, 100, 10, 3)
    assert a.shape == (10, 11) and (a == b).all() and (np.diff(a[:, 0]) >= 10).all()
    assert (a[:, 1:] - a[:, :-1] == 1).all()  # contiguous windows
    with pytest.raises(analysis.LoopsError):
        analysis.val_slice(val, 10_000, 10, 0)
    with pytest.raises(analysis.LoopsError):
        analysis.val_slice(val, 5, 10, 0)


def test_every_block_application_is_keyed_by_block_and_loop(run):
    _, cfg, sd, windows, _ = run
    cfg = cfg.replace(num_crawler_layers=2, crawler_loops=3)
    model = lively(CrawlerGPT(cfg)).eval()
    p = analysis.capture(model, torch.as_tensor(windows[:2, :-1]))
    keys = [(name, loop) for name, loop, _ in p.stages]
    assert len(keys) == model.num_block_applications() == cfg.num_flat_layers + 2 * 3
    assert keys == [("flat_blocks.0", 0), ("flat_blocks.1", 0),
                    *((f"crawler_blocks.{j}", k) for k in range(3) for j in range(2)),
                    ("flat_blocks.2", 0), ("flat_blocks.3", 0)]
    assert list(p.attention) == keys  # one attention capture per application, none merged across loops
    assert torch.equal(p.final, model.trunk(torch.as_tensor(windows[:2, :-1])))  # hooks change no arithmetic


def fused_attention_bound(q, k, v, proj_weight) -> float:
    """How far softmax(q k^T / sqrt(D)) @ v, XSA and proj computed step by step in float32 may lie from the same
    through SDPA's fused kernel, in any order, from the operands' sizes (max norm over the output):
    each side's scores are within gamma_{D+2} |q| |k| / sqrt(D) (Cauchy-Schwarz), so the probabilities within a
    factor exp(2E) (log-softmax is 2-Lipschitz); each side's softmax rounds (its exponent's argument within
    u |s - max|, then exp, a sum of T and a division: gamma_{T+8}); the weighted sum of values adds gamma_T; XSA
    (a projection, norm 1) and proj add their own roundings, and proj maps a head vector's error through
    ||W_i|| (Cauchy-Schwarz)."""
    u = F32
    T, H, D = q.size(1), q.size(2), q.size(3)
    score_max = (q.norm(dim=-1).max() * k.norm(dim=-1).max()).item() / math.sqrt(D)  # |s| <= |q| |k| / sqrt(D)
    E = 2 * gamma(D + 2, u) * score_max
    rel = (math.exp(2 * E) - 1) + 2 * gamma(T + 8, u) + 4 * u * score_max + 2 * gamma(T, u)
    rel += 2 * gamma(D + 4, u) + 2 * gamma(H * D, u)
    return proj_weight.norm(dim=1).max().item() * math.sqrt(H * D) * v.abs().max().item() * rel


def test_recomputed_probabilities_reproduce_the_attention_output(run):
    _, cfg, sd, windows, _ = run
    model = analysis.build_model(cfg, sd, "cpu")
    seen = {}
    with torch.no_grad():
        model.trunk(torch.as_tensor(windows[:1, :-1]),
                    on_attention=lambda key, attn, *args: seen.setdefault(key, (attn, args)))
    attn, (x, cos, sin) = seen[("crawler_blocks.0", 1)]
    with torch.no_grad():
        p = torch.cat([p for _, p in analysis.attention_probs(attn, x, cos, sin, rows=5)], dim=2)  # (1, H, T, T), in chunks of 5 rows
        v = attn.c_v(x).view(1, SEQ, attn.num_kv_heads, attn.head_dim).repeat_interleave(2, dim=2)
        y = (p @ v.transpose(1, 2)).transpose(1, 2)
        vn = F.normalize(v, dim=-1)  # XSA, as in the crawler block
        y = y - (y * vn).sum(-1, keepdim=True) * vn
        out = attn.proj(y.reshape(1, SEQ, -1))
        q, k = attn.qk(x, cos, sin)
    tol = fused_attention_bound(q, k, v, attn.proj.weight)
    assert (out - attn(x, cos, sin)).abs().max().item() <= tol
    # a float32 softmax row of at most SEQ terms sums to 1 within gamma_{SEQ+2}(f32), far inside allclose's 1e-5
    assert torch.allclose(p.sum(-1), torch.ones(()), rtol=0, atol=gamma(SEQ + 2, F32)) and (p.triu(1) == 0).all()


def test_attention_stats_closed_forms():
    T = 20
    t = torch.arange(T, dtype=torch.float64)
    self_only = torch.eye(T, dtype=torch.float64)[None]
    s = {k: v / T for k, v in analysis.attention_stats(self_only).items()}
    assert s["distance"].item() == 0 and s["entropy"].item() == 0 and s["mass_last8"].item() == 1
    uniform = (torch.ones(T, T, dtype=torch.float64).tril() / (t + 1)[:, None])[None]
    # in chunks of 7 rows from their first row's position, the sums add up to the whole; float64 throughout: rows
    # of at most T rounded products (log: within u/ln 2 + u relative for p <= 1/2), three chunk sums, then a mean
    # over T rows, against closed forms with a mean of their own
    s = {k: sum(analysis.attention_stats(uniform[:, i:i + 7], i)[k] for i in range(0, T, 7)) / T for k in s}
    rel = gamma(2 * T + 16, F64)
    assert s["distance"].item() == pytest.approx((t / 2).mean().item(), rel=rel, abs=0)
    assert s["entropy"].item() == pytest.approx(torch.log(t + 1).mean().item(), rel=rel, abs=0)
    assert s["mass_last8"].item() == pytest.approx((t.clamp(max=7) + 1).div(t + 1).mean().item(), rel=rel, abs=0)


def test_forced_uniform_attention_flows_into_the_report(run, monkeypatch):
    _, cfg, sd, windows, lut = run

    def uniform(attn, x, cos, sin, rows):  # in place of analysis.attention_probs
        T = x.size(1)
        p = torch.ones(T, T).tril() / torch.arange(1, T + 1)[:, None]
        yield 0, p.expand(x.size(0), attn.num_heads, T, T)

    monkeypatch.setattr(analysis, "attention_probs", uniform)
    r = analysis.analyse(cfg, sd, windows, lut, extra_loops=0)
    t = np.arange(SEQ)
    # float32 probabilities: per row at most SEQ rounded products (float32 log within 1 ulp, u/ln 2 from p's own
    # rounding), a mean over SEQ rows, a float32 sum over the 4 windows and its division: gamma_{2 SEQ + 16}(f32)
    rel = gamma(2 * SEQ + 16, F32)
    for a in r.attention:
        assert a.distance == pytest.approx([np.mean(t / 2)] * cfg.num_heads, rel=rel, abs=0)
        assert a.entropy == pytest.approx([np.mean(np.log(t + 1))] * cfg.num_heads, rel=rel, abs=0)
    assert [a.loop for a in r.attention if a.block == "crawler_blocks.0"] == [0, 1, 2]


def direct_bpb(model, windows, lut, batch_seqs):
    """The model's own forward scored in the analysis' batches, summed as it sums them: the same bits."""
    nll = 0.0
    for start in range(0, len(windows), batch_seqs):
        w = torch.as_tensor(windows[start:start + batch_seqs])
        with torch.no_grad():
            nll += F.cross_entropy(model(w[:, :-1]).flatten(0, 1), w[:, 1:].flatten(), reduction="sum").item()
    return nll / (math.log(2) * count_bytes(lut, windows[:, :-1], windows[:, 1:]))


def test_logit_lens_and_early_exit_match_the_model(run):
    _, cfg, sd, windows, lut = run
    r = analysis.analyse(cfg, sd, windows, lut, extra_loops=2, batch_seqs=3)
    full = direct_bpb(analysis.build_model(cfg, sd, "cpu"), windows, lut, batch_seqs=3)
    assert r.model_bpb == full
    assert r.logit_lens[-1].bpb == full
    assert [e.loops for e in r.early_exit] == [1, 2, 3, 4, 5]
    trained = next(e for e in r.early_exit if e.trained)
    assert trained.loops == 3 and trained.bpb == full
    one = direct_bpb(analysis.build_model(cfg.replace(crawler_loops=1), sd, "cpu"), windows, lut, batch_seqs=3)
    assert r.early_exit[0].bpb == one
    assert len({round(e.bpb, 6) for e in r.early_exit}) == 5  # the loop count really changes the model
    assert [x.stage for x in r.logit_lens] == ["embed", "flat0", "flat1", "crawler0@0", "crawler0@1",
                                                     "crawler0@2", "flat2", "flat3"]
    assert all(x.mean_rank >= 1 for x in r.logit_lens)


def test_loops_past_per_loop_tensors_are_reported_not_computed(run):
    _, cfg, _, windows, lut = run
    cfg = cfg.replace(loop_inst_dim=4)
    model = lively(CrawlerGPT(cfg))
    r = analysis.analyse(cfg, model.state_dict(), windows, lut, extra_loops=1)
    by_k = {e.loops: e for e in r.early_exit}
    assert by_k[2].bpb is not None and by_k[3].bpb is not None
    assert by_k[4].bpb is None and "loop_inst" in by_k[4].reason


def test_repr_change_and_activations_match_numpy(run):
    _, cfg, sd, windows, lut = run
    r = analysis.analyse(cfg, sd, windows, lut, extra_loops=0)
    p = analysis.capture(analysis.build_model(cfg, sd, "cpu"), torch.as_tensor(windows[:, :-1]))
    h32 = [p.stages[1][2], *(x for name, _, x in p.stages if name == "crawler_blocks.0")]  # the analysis' own states
    d = [(b - a).reshape(-1, a.size(-1)).double().numpy() for a, b in zip(h32, h32[1:])]  # its float32 updates
    h = [x.reshape(-1, x.size(-1)).double().numpy() for x in h32]

    def norm(a):
        return np.linalg.norm(a, axis=1)

    def cos(a, b):
        return (a * b).sum(1) / (norm(a) * norm(b))

    # Both sides take the same float64 inputs through float64 norms, dot products and token means, in their own
    # orders: over n tokens of cfg.model_dim components each, a ratio of norms is within gamma_{n + 4 dim}(f64)
    # relative on each side, and a mean of cosines (|cos| <= 1; its dot product bounded by Cauchy-Schwarz) within
    # gamma_{n + 4 dim}(f64) absolute.
    bound = 2 * gamma(len(h[0]) + 4 * cfg.model_dim, F64)
    rc = r.repr_change
    assert rc.rel_step == pytest.approx([np.mean(norm(dk) / norm(a)) for dk, a in zip(d, h)], rel=bound, abs=0)
    assert rc.update_cosine == pytest.approx([np.mean(cos(b, a)) for a, b in zip(d, d[1:])], rel=0, abs=bound)
    np.testing.assert_allclose(rc.similarity, [[np.mean(cos(a, b)) for b in h] for a in h], rtol=0, atol=bound)
    flat0 = p.stages[0][2].double().numpy()
    act = r.activations[1]
    # a float64 root mean square of the same float32 values: gamma_{size+2}(f64) per side
    assert act.stage == "flat0" and act.rms == pytest.approx(np.sqrt(np.mean(flat0 ** 2)),
                                                             rel=2 * gamma(flat0.size + 2, F64), abs=0)
    assert act.absmax == np.abs(flat0).max()  # a maximum is exact
    # rms_norm's output has rms 1 up to float32 rounding (gamma_{dim+3}(f32)) and its eps (1.2e-7 / mean square)
    assert r.activations[-1].stage == "final" and r.activations[-1].rms == pytest.approx(1, rel=1e-3)


def test_quant_error_is_zero_when_float_equals_dequantised(run):
    _, cfg, sd, windows, lut = run
    r = analysis.analyse(cfg, sd, windows[:2], lut, float_state_dict=dict(sd), extra_loops=0)
    assert [q.rel_error for q in r.quant_error] == [0.0] * (cfg.num_flat_layers + 3 + 2)
    noisy = {k: v + 0.01 * torch.randn_like(v) for k, v in sd.items()}
    r = analysis.analyse(cfg, sd, windows[:2], lut, float_state_dict=noisy, extra_loops=0)
    assert all(q.rel_error > 0 for q in r.quant_error)


def test_every_plot_name_has_its_drawer():
    assert tuple(DRAWERS) == PLOT_NAMES


def test_cli_writes_json_and_plots(run):
    tmp, cfg, sd, _, _ = run
    from safetensors.torch import save_file
    save_file(lively(CrawlerGPT(cfg)).state_dict(), str(tmp / "float.safetensors"))
    out = tmp / "out"
    res = CliRunner().invoke(app, ["loops", str(tmp / "model.ptz"), "--checkpoint", str(tmp / "float.safetensors"),
                                   "--tokens", "64", "--seq-len", "16", "--out", str(out), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "loops.json").read_text())
    assert report["slice"]["tokens"] == 64 and report["slice"]["seed"] == 0 and report["quant_error"]
    assert LoopsReport.from_dict(report).to_dict() == report  # the file reads back as the report it was written from
    with pytest.raises(ValueError, match=r"not a `pgolf loops` report \(early_exit\.0\.loops: "):
        LoopsReport.from_dict({**report, "early_exit": [{"loops": "two"}]})
    for name in ("logit_lens", "early_exit", "repr_change", "similarity", "attention_distance", "activations",
                 "quant_error"):
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    # the names the web app lists are the files written
    assert sorted(p.name for p in out.glob("*.png")) == sorted(map(plot_file, plot_names(LoopsReport.from_dict(report))))
    assert "early exit" in res.output and "crawler0@2" in res.output

    res = CliRunner().invoke(app, ["loops", str(tmp / "model.ptz"), "--tokens", "10000000", "--out", str(out)])
    assert res.exit_code == 1 and "windows" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(app, ["loops", str(tmp / "model.ptz"), "--checkpoint", str(tmp / "nope.safetensors")])
    assert res.exit_code == 1 and "nope.safetensors: checkpoint: cannot read (No such file" in res.output


def test_attention_statistics_are_computed_in_bounded_chunks(run, monkeypatch):
    # 2 heads x 32 keys: a budget of 128 probabilities is 2 query rows per chunk, 16 chunks per sequence
    _, cfg, sd, windows, lut = run
    whole = analysis.analyse(cfg, sd, windows, lut, extra_loops=0)
    chunks = []
    probs = analysis.attention_probs

    def recorded(attn, x, cos, sin, rows=None):
        for start, p in probs(attn, x, cos, sin, rows):
            chunks.append(p.numel())
            yield start, p

    monkeypatch.setattr(analysis, "ATTENTION_CHUNK_ELEMENTS", 128)
    monkeypatch.setattr(analysis, "attention_probs", recorded)
    chunked = analysis.analyse(cfg, sd, windows, lut, extra_loops=0)
    assert max(chunks) == 128 and len(chunks) == 16 * len(windows) * len(whole.attention)
    for a, b in zip(whole.attention, chunked.attention):
        # the same sums in another order: float32 sums of 32 terms below 32 differ by far less than 1e-4
        assert a.entropy == pytest.approx(b.entropy, abs=1e-4) and a.distance == pytest.approx(b.distance, abs=1e-4)
        assert a.mass_last8 == pytest.approx(b.mass_last8, abs=1e-4)


def test_early_exit_stops_at_the_loop_bound(run):
    # crawler_loops = 64 (the bound) with 2 extra loops: 65 and 66 are reported as past it, not a failure
    # after the whole analysis naming a value the user never gave
    tmp, _, _, windows, lut = run
    cfg = load_config("tiny", data_path=str(tmp / "data"), vocab_size=400, model_dim=8, num_heads=2, num_kv_heads=1,
                      rope_dims=4, num_flat_layers=0, crawler_loops=64, train_seq_len=SEQ, eval_seq_len=SEQ,
                      eval_stride=SEQ, bigram_vocab_size=64, bigram_dim=4, mlp_mult=1.0, crawler_mlp_mult=1.0)
    r = analysis.analyse(cfg, CrawlerGPT(cfg).state_dict(), windows[:1], lut, extra_loops=2)
    assert [e.loops for e in r.early_exit] == list(range(1, 67))
    assert all(e.bpb is not None for e in r.early_exit[:64])
    assert [(e.bpb, e.reason) for e in r.early_exit[64:]] == [(None, "more than the 64 loops any config may hold")] * 2


def test_early_exit_models_share_the_analysed_models_weights(run):
    _, cfg, sd, _, _ = run
    cfg = cfg.replace(loop_inst_dim=4)
    model = lively(CrawlerGPT(cfg)).eval()
    one = analysis.sharing_weights(model, analysis.with_loops(cfg, 1))
    assert one.tok_emb.weight.data_ptr() == model.tok_emb.weight.data_ptr()  # the same tensor, not a copy
    assert one.loop_inst.shape == (1, 4) and one.loop_inst.data_ptr() == model.loop_inst.data_ptr()
    ids = torch.randint(0, 400, (1, SEQ))
    with torch.no_grad():
        direct = analysis.build_model(cfg.replace(crawler_loops=1), {**model.state_dict(),
                                                                  "loop_inst": model.loop_inst[:1]}, "cpu")(ids)
        assert torch.equal(one(ids), direct)
