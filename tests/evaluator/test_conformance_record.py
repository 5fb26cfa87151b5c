"""Conformance with the Micro Crawler record's own train_gpt.py (../shared/reference), imported unchanged.

The record's script is run in float32 on CPU with its leg3 settings at a small width: its model, its
quantiser, its artifact writer and its two evaluations are the oracles for ours.
"""
import io
import math

import numpy as np
import pytest
import torch
import zstandard

from crawler.config import CrawlerConfig
from crawler.model import CrawlerGPT
from crawler.prep.shard_writing import write_shard
from crawler.quant import quantize_state_dict
from crawler.tokenizer import load_tokenizer
from evaluator.artifacts.eval_report import evaluate_artifact
from tests.conftest import reference_module
from tests.float_bounds import F32, F64, gamma

# The run script's settings (crawler_leg3_run.sh) at a CPU-sized width; shapes chosen so that the artifact
# has int6 (crawler MLP), int8 (bigram table) and fp16 tensors, as leg3 does.
RECORD_ENV = dict(
    USE_CRAWLER="1", NUM_FLAT_LAYERS="2", NUM_CRAWLER_LAYERS="1", CRAWLER_LOOPS="3", CRAWLER_MLP_MULT="6.0",
    MLP_MULT="2.0", MODEL_DIM="128", NUM_HEADS="4", NUM_KV_HEADS="2", VOCAB_SIZE="400", INST_DIM="32",
    XSA_LAST_N="11", BIGRAM_VOCAB_SIZE="2048", BIGRAM_DIM="64", ROPE_DIMS="16", COMPILE_ENABLED="0",
    DELTA_NET_HEADS="0", SKIP_EMA="1", SKIP_GPTQ="1", MTP_NUM_HEADS="0", TRAIN_SEQ_LEN="2048", EVAL_SEQ_LEN="2048",
    EVAL_STRIDE="64", VAL_BATCH_SIZE="16384",
)
OURS = CrawlerConfig(vocab_size=400, model_dim=128, num_heads=4, num_kv_heads=2, num_flat_layers=2,
                     num_crawler_layers=1, crawler_loops=3, mlp_mult=2.0, crawler_mlp_mult=6.0,
                     bigram_vocab_size=2048, bigram_dim=64).validate()


@pytest.fixture(scope="module")
def ref():
    with reference_module("crawler_leg3_train_gpt.py", "record_leg3_train_gpt", RECORD_ENV) as module:
        module.args = module.Hyperparameters()
        yield module


def record_model(ref, seed=0):
    """The record's model as its build_model makes it (cast to bf16), back in float32, with every zero-init
    matrix made live so that every path counts; its loop-instruction up-projections stay at their zero init,
    since CrawlerGPT has no flow instructions (the record reader drops them, exactly when they are zero)."""
    torch.manual_seed(seed)
    model = ref.build_model(ref.args, torch.device("cpu")).float().eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.startswith("loop_inst_up") and not p.any():
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
        model.tok_emb.weight.mul_(100)  # a trained embedding's scale, so that the logits spread
    return model


def ours_from(model) -> CrawlerGPT:
    ours = CrawlerGPT(OURS).eval()
    theirs = model.state_dict()
    ours.load_state_dict({k: theirs[k] for k in ours.state_dict()})
    return ours


@pytest.mark.parametrize("seq_len", [64, 1024, 1025, 2048])
def test_logits_equal_the_records(ref, one_thread, seq_len):
    model = record_model(ref)
    ids = torch.randint(0, OURS.vocab_size, (1, seq_len), generator=torch.Generator().manual_seed(seq_len))
    with torch.no_grad():
        theirs = model.forward_logits(ids)
        ours = ours_from(model)(ids)
    assert theirs.abs().max() > 1  # the perturbed model says something: equal logits are not two zeros
    # the same operations on the same shapes, in the same order: the same bits on any CPU (a tolerance would sit
    # at float32's own error scale, ~1e-5 here, which no order-independent bound guarantees)
    assert torch.equal(ours, theirs)


def heavy_tailed(rows, cols, std, seed):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(rows, cols, generator=g) * std
    w[torch.rand(rows, cols, generator=g) < 0.002] *= 12.0
    return w


def test_export_equals_the_records_quantiser_bit_for_bit(ref, one_thread):
    # int8 tables at the init scale (std 0.005: the scale floor 1/127 binds, as it does for a trained tok_emb)
    # and at a large one, int6 matrices of attention and MLP, fp16 small tensors and control tensors
    sd = {"tok_emb.weight": heavy_tailed(1024, 128, 0.005, 0), "bigram.embed.weight": heavy_tailed(2048, 128, 3.0, 1),
          "flat_blocks.0.attn.c_q.weight": heavy_tailed(512, 512, 0.05, 2),
          "crawler_blocks.0.mlp.fc.weight": heavy_tailed(1536, 256, 0.05, 3),
          "crawler_blocks.0.mlp.proj.weight": heavy_tailed(256, 1536, 0.02, 4),
          "bigram.proj.weight": heavy_tailed(512, 128, 0.05, 5),
          "flat_blocks.0.attn_scale": torch.rand(512), "skip_weights": torch.rand(2, 512)}
    sd.update((name, w) for name, w in record_model(ref).state_dict().items() if name in OURS_NAMES)
    theirs, meta = ref.mixed_quantize_int6(sd, {"mlp", "attn", "aux"})
    ours = quantize_state_dict(sd)
    kinds = set()
    for name, qt in ours.items():
        kind = meta[name] if isinstance(meta[name], str) else meta[name]["type"]
        kinds.add(kind)
        if kind in ("int6", "int8"):
            assert qt.scheme == kind, name
            assert torch.equal(qt.data, theirs[name + ".q"]), name
            assert torch.equal(qt.scale, theirs[name + ".scale"]), name
        else:
            assert qt.scheme == "fp16" and torch.equal(qt.data, theirs[name].half()), name
    assert kinds == {"int6", "int8", "passthrough"}


OURS_NAMES = set(CrawlerGPT(OURS).state_dict())


@pytest.fixture(scope="module")
def val_data(walk_data, tmp_path_factory):
    """One and a half 2048-token windows of the random walk, with the walk's real tokenizer: the record cuts its
    stream to 2048 targets, we score all 3072."""
    path = tmp_path_factory.mktemp("conformance")
    (path / "tokenizer.model").write_bytes((walk_data / "tokenizer.model").read_bytes())
    tokens = np.fromfile(walk_data / "fineweb_train_000000.bin", dtype="<u2", offset=1024)[:3 * 1024 + 1]
    write_shard(path / "fineweb_val_000000.bin", tokens.astype(np.int64))
    return path


def test_a_record_artifact_scores_as_the_record_scores_it(ref, val_data, tmp_path):
    model = record_model(ref, seed=3)
    sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    # the record's own export, as its main() writes final_model.int6.ptz
    result, meta = ref.mixed_quantize_int6(sd, {"mlp", "attn", "aux"})
    buf = io.BytesIO()
    torch.save({"w": result, "m": meta}, buf)
    artifact = tmp_path / "final_model.int6.ptz"
    artifact.write_bytes(zstandard.ZstdCompressor(level=22).compress(buf.getvalue()))

    # the record's own reload and evaluations of it
    sp = load_tokenizer(val_data / "tokenizer.model")
    luts = ref.build_sentencepiece_luts(sp, OURS.vocab_size, torch.device("cpu"))
    val = ref.load_validation_tokens(str(val_data / "fineweb_val_*.bin"), 2048)
    eval_model = record_model(ref)
    eval_model.load_state_dict(ref.dequantize_mixed_int6(result, meta, sd), strict=True)
    cpu = torch.device("cpu")
    rt_loss, rt_bpb = ref.eval_val(ref.args, eval_model, 0, 1, cpu, 1, val, *luts)
    sw_loss, sw_bpb = ref.eval_val_sliding(ref.args, eval_model, 0, 1, cpu, val, *luts, stride=64, eval_seq_len=2048)

    report = evaluate_artifact(artifact, data_path=val_data, max_tokens=0, batch_seqs=32)
    assert report.format == "record-int6"
    # Both sides score the same float32 per-token NLLs: the roundtrip's one window has the record's shape (1, 2048),
    # and batch_seqs=32 batches the sliding pass's windows as the record batches its 32 (the logits test: the same
    # operations give the same bits). They differ in how those are added: the record's eval_val takes a float32 mean
    # over its batch of 2048 tokens (within gamma_2048(f32) of exact, any order), eval_val_sliding and we sum in
    # float64 (gamma_n(f64) with n <= 4032), and a few float64 roundings follow (BPB's quotients).
    roundtrip_rel, sliding_rel = gamma(2048, F32) + gamma(4040, F64), 2 * gamma(4040, F64)
    assert report.roundtrip.val_loss == pytest.approx(rt_loss, rel=roundtrip_rel, abs=0)
    assert report.roundtrip.val_bpb == pytest.approx(rt_bpb, rel=roundtrip_rel, abs=0)
    record = report.sliding_window.reference
    assert record.val_loss == pytest.approx(sw_loss, rel=sliding_rel, abs=0)
    assert record.val_bpb == pytest.approx(sw_bpb, rel=sliding_rel, abs=0)
    # the byte counts, exactly: the reference's BPB is loss / ln 2 x tokens / bytes, so its bytes are recovered
    # from its two numbers to far better than half a byte
    assert round(report.roundtrip.scored_tokens * rt_loss / (math.log(2) * rt_bpb)) == report.roundtrip.byte_sum
    assert round(record.scored_tokens * sw_loss / (math.log(2) * sw_bpb)) == record.byte_sum
    # the record's 2048 targets: one full window and 31 short ones, each of which scores the last 64 again
    assert record.scored_tokens == 2048 + 31 * 64 and record.repeated == 31 * 64
    assert report.sliding_window.scored_tokens == 3072 and report.sliding_window.val_bpb != record.val_bpb
