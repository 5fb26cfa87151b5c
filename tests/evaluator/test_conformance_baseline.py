"""Conformance with the official baseline's own code (issue 17, check 5(d)).

../shared/reference/official_baseline_train_gpt.py is imported unchanged and used as the oracle. Its model
is built the way its main() builds it (cast to bf16, parameters back to float32), so its rotary buffer and
tok_emb are bf16 as in a real run; for float32 comparisons on the CPU the bf16 tok_emb is upcast (its values
unchanged). Its main() runs the model under torch.compile on CUDA, where the rotary tables are computed in
float32 from the bf16 buffer and stored in bf16 (see evaluator/artifacts/baseline_gpt.py; eager PyTorch rounds on
the way as well): the reference's own Rotary is run that way here, its buffer upcast for the computation
and its cache rounded to bf16 after it, and every Rotary of the model gets that cache.
"""
from __future__ import annotations

import io
import math
import json
import types
import zlib

import pytest
import sentencepiece as spm
import torch
import torch.nn.functional as F
from torch import nn
from typer.testing import CliRunner

from crawler.bpb import build_byte_lut
from crawler.prep.prepare import prepare_data
from crawler.scoring import evaluate_bpb
from crawler.shards import load_split
from evaluator.artifacts.baseline_gpt import BaselineGPT, infer_config, rotary_tables
from evaluator.artifacts.loading import open_artifact
from evaluator.loopwise.analysis import LoopsError, analyse_artifact
from pgolf import app
from tests.conftest import PARAGRAPHS, reference_module, sample_docs
from tests.float_bounds import F32, F64, gamma
from webapp.settings import Settings
from webapp.upload import ReceivedFile, ReceivedForm
from webapp.intake import check_files, read_upload

VOCAB = 400
SEQ = 1024  # the baseline's TRAIN_SEQ_LEN, which is also what the evaluator assumes for its artifacts
# a small baseline: 3 layers so that one decoder block runs without a skip, GQA with 2 query heads per KV head
REFERENCE_ENV = {"VOCAB_SIZE": str(VOCAB), "NUM_LAYERS": "3", "MODEL_DIM": "64", "NUM_HEADS": "4",
                 "NUM_KV_HEADS": "2", "MLP_MULT": "2", "TRAIN_SEQ_LEN": str(SEQ),
                 # two sequences per eval_val batch: each batch's float32 mean of 2,048 losses is within
                 # gamma_2048(f32) of exact (the roundtrip test's tolerance)
                 "VAL_BATCH_SIZE": str(2 * SEQ)}
MODULE = "pgolf_oracle_official_baseline"
EVAL_BATCH = 2  # windows per forward pass in `pgolf eval`: eval_val's batch (VAL_BATCH_SIZE / SEQ)


@pytest.fixture(scope="module")
def ref():
    with reference_module("official_baseline_train_gpt.py", MODULE, REFERENCE_ENV) as module:
        yield module


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Real text: BOS-separated documents tokenised by a byte-fallback BPE, a few thousand validation tokens."""
    docs = [f"Note {i}. " + text for i, text in enumerate(sample_docs() + PARAGRAPHS * 2)]
    docs += [f"Part {i}. " + " ".join(PARAGRAPHS) for i in range(3)]
    out = tmp_path_factory.mktemp("baseline") / "data"
    prepare_data(docs, out, "test", vocab_size=VOCAB, val_docs=3)
    return out


def as_main_builds_it(ref) -> nn.Module:
    """The reference GPT as its main() makes it, with every weight perturbed so that no path is dead."""
    a = ref.Hyperparameters
    with torch.random.fork_rng():  # the same weights every time, without touching the global generator
        torch.manual_seed(0)
        model = ref.GPT(vocab_size=a.vocab_size, num_layers=a.num_layers, model_dim=a.model_dim,
                        num_heads=a.num_heads, num_kv_heads=a.num_kv_heads, mlp_mult=a.mlp_mult,
                        tie_embeddings=a.tie_embeddings, tied_embed_init_std=a.tied_embed_init_std,
                        logit_softcap=a.logit_softcap, rope_base=a.rope_base, qk_gain_init=a.qk_gain_init)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.05)
    model = model.bfloat16()
    for module in model.modules():
        if isinstance(module, ref.CastedLinear):
            module.float()
    ref.restore_low_dim_params_to_fp32(model)
    return model


@pytest.fixture(scope="module")
def trained(ref, data, tmp_path_factory):
    """(the reference model, its final_model.int8.ptz written by the reference's own export code)."""
    model = as_main_builds_it(ref)
    assert model.tok_emb.weight.dtype == torch.bfloat16  # what a real run exports
    quant_obj, _ = ref.quantize_state_dict_int8(model.state_dict())
    buf = io.BytesIO()
    torch.save(quant_obj, buf)
    path = tmp_path_factory.mktemp("run") / "final_model.int8.ptz"
    path.write_bytes(zlib.compress(buf.getvalue(), level=9))
    return model, path


def cuda_run_tables(ref, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference Rotary's cos/sin cache as a compiled CUDA run fills it: the bf16 buffer of main()'s cast,
    computed in float32 (Triton upcasts it, and arange's positions too), stored in bf16."""
    head_dim = ref.Hyperparameters.model_dim // ref.Hyperparameters.num_heads
    rotary = ref.Rotary(head_dim, base=ref.Hyperparameters.rope_base).bfloat16().float()
    rotary(seq_len, torch.device("cpu"), torch.float32)
    return rotary._cos_cached.bfloat16(), rotary._sin_cached.bfloat16()


def use_tables(ref, model: nn.Module, seq_len: int) -> nn.Module:
    """Give every Rotary of `model` the CUDA run's tables for seq_len; float32 compute (tok_emb upcast)."""
    cos, sin = cuda_run_tables(ref, seq_len)
    for module in model.modules():
        if isinstance(module, ref.Rotary):
            module._cos_cached, module._sin_cached, module._seq_len_cached = cos, sin, seq_len
    model.tok_emb.float()
    return model


class ReferenceLogits(nn.Module):
    """The reference GPT as ids -> logits: its forward returns only the loss, so its logits are taken where
    it hands them to F.cross_entropy."""

    def __init__(self, ref, model: nn.Module):
        super().__init__()
        self.ref, self.model = ref, model

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        captured = {}

        def cross_entropy(logits, targets, **kwargs):
            captured["logits"] = logits
            return F.cross_entropy(logits, targets, **kwargs)

        functional = self.ref.F
        self.ref.F = types.SimpleNamespace(**{**{n: getattr(F, n) for n in dir(F) if not n.startswith("__")},
                                              "cross_entropy": cross_entropy})
        try:
            self.model(ids, ids)
        finally:
            self.ref.F = functional
        return captured["logits"].view(*ids.shape, -1)


def test_rotary_tables_are_the_references(ref):
    head_dim = ref.Hyperparameters.model_dim // ref.Hyperparameters.num_heads
    for seq_len in (64, 300, 1030):
        cos, sin = cuda_run_tables(ref, seq_len)
        ours = rotary_tables(head_dim, seq_len, ref.Hyperparameters.rope_base)
        assert torch.equal(ours[0], cos[0, 0].float()) and torch.equal(ours[1], sin[0, 0].float()), seq_len
    # neither float32 tables (no bf16 buffer) nor eager bf16 ones (positions and angles rounded) are these
    for rotary in (ref.Rotary(head_dim), ref.Rotary(head_dim).bfloat16()):
        assert not torch.equal(rotary(1030, torch.device("cpu"), torch.float32)[0][0, 0], ours[0])


def test_logits_equal_the_reference_model(ref, one_thread):
    model = as_main_builds_it(ref)
    ours = BaselineGPT(infer_config({k: tuple(v.shape) for k, v in model.state_dict().items()}, "reference"))
    ours.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
    g = torch.Generator().manual_seed(1)
    for seq_len in (100, 1030):
        ids = torch.randint(0, VOCAB, (2, seq_len), generator=g)
        with torch.no_grad():
            expected = ReferenceLogits(ref, use_tables(ref, model, seq_len))(ids)
            got = ours(ids)
        assert got.dtype == torch.float32 and got.shape == expected.shape
        # the same operations on the same shapes: the same bits on any CPU, where a tolerance would only guess
        # at float32's error through the network
        assert torch.equal(got, expected), seq_len


def test_pgolf_eval_equals_the_references_own_eval_val(ref, data, trained, tmp_path, one_thread):
    model, path = trained
    # the reference's own roundtrip: read its file back, dequantise with its code, score with its eval_val
    quant_state = torch.load(io.BytesIO(zlib.decompress(path.read_bytes())), map_location="cpu", weights_only=True)
    dequantised = ref.dequantize_state_dict_int8(quant_state)
    assert dequantised["tok_emb.weight"].dtype == torch.bfloat16
    art = open_artifact(path)
    assert art.state_dict.keys() == dequantised.keys()
    for name, t in dequantised.items():  # our reader gives the reference's own dequantised weights
        assert torch.equal(art.state_dict[name], t.float()), name
    model.load_state_dict(dequantised, strict=True)
    use_tables(ref, model, SEQ)
    val_tokens = ref.load_validation_tokens(str(data / "fineweb_val_*.bin"), SEQ)
    assert val_tokens.numel() > 2 * SEQ
    sp = spm.SentencePieceProcessor(model_file=str(data / "tokenizer.model"))
    luts = ref.build_sentencepiece_luts(sp, VOCAB, torch.device("cpu"))
    ref_loss, ref_bpb = ref.eval_val(ref.Hyperparameters(), model, 0, 1, torch.device("cpu"), 1, val_tokens, *luts)

    out = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["eval", str(path), "--data", str(data), "--tokenizer",
                                      str(data / "tokenizer.model"), "--max-tokens", "0", "--device", "cpu",
                                      "--batch-seqs", str(EVAL_BATCH), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["format"] == "baseline-int8" and "(baseline-int8," in result.output
    roundtrip, sliding = report["roundtrip"], report["sliding_window"]
    assert (roundtrip["seq_len"], roundtrip["stride"]) == (SEQ, SEQ)
    assert roundtrip["scored_tokens"] == val_tokens.numel() - 1  # the same whole windows as eval_val
    # Both sides score the same float32 per-token NLLs (the logits test; --batch-seqs 2 gives our batches eval_val's
    # shape). eval_val adds them as float32 means over its 2-sequence batches (each within gamma_2048(f32) of exact,
    # in any order), we in float64 (gamma_n(f64)); a few float64 roundings follow.
    rel = gamma(EVAL_BATCH * SEQ, F32) + gamma(roundtrip["scored_tokens"] + 8, F64)
    assert roundtrip["val_bpb"] == pytest.approx(ref_bpb, rel=rel, abs=0)
    assert roundtrip["val_loss"] == pytest.approx(ref_loss, rel=rel, abs=0)
    # its byte count, exactly: its BPB is loss / ln 2 x tokens / bytes
    assert round(roundtrip["scored_tokens"] * ref_loss / (math.log(2) * ref_bpb)) == roundtrip["byte_sum"]
    # sliding windows: the baseline has no sliding evaluation of its own, so the reference model is scored
    # through the same windows; every target once
    val = load_split(data, "val", VOCAB)
    lut = build_byte_lut(sp, VOCAB)
    direct = evaluate_bpb(ReferenceLogits(ref, model), val, lut, seq_len=SEQ, stride=64, batch_seqs=EVAL_BATCH,
                          device="cpu")
    assert (sliding["seq_len"], sliding["stride"], sliding["coverage"]) == (SEQ, 64, 1.0)
    # the same windows in the same batches through models that give the same bits, added in the same order
    assert sliding["val_bpb"] == direct.val_bpb
    assert sliding["val_bpb"] < roundtrip["val_bpb"]  # more context per scored token


def test_web_app_accepts_it_and_loop_analysis_refuses_it(trained, data, tmp_path):
    _, path = trained
    tokenizer = data / "tokenizer.model"
    form = ReceivedForm(files={
        "artifact": ReceivedFile("artifact", "final_model.int8.ptz", path, "a" * 64, path.stat().st_size),
        "tokenizer": ReceivedFile("tokenizer", "tokenizer.model", tokenizer, "b" * 64, tokenizer.stat().st_size)})
    assert check_files(read_upload(form, Settings(eval_data_dir=data))) == "baseline-int8"
    with pytest.raises(LoopsError, match="needs a Micro Crawler artifact; this is the official baseline GPT") as e:
        analyse_artifact(path, data, tokenizer)
    assert "\n" not in str(e.value)
