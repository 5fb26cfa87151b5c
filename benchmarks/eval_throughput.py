"""Scored tokens/s of our sliding-window evaluation against the record's own eval_val_sliding, on the same
weights, tokens and device, interleaved, in one run.

The record's train_gpt.py (../shared/reference, or --reference) is imported unchanged; its CrawlerGPT is
built from the artifact's config through the record's own environment variables and given the artifact's
dequantised weights. Both score the first N targets, N a multiple of the window as the record's loader
cuts its stream. The record's scoring re-scores the tail in every late window, so the two BPBs differ by
design: ours (each target once) is printed beside it, and our record-plan number (evaluate_bpb with
record_targets) must equal the record's own to 1e-6 relative (float32 arithmetic, different batching),
or the script fails. Timings are medians over --repeats interleaved runs of each.

    python benchmarks/eval_throughput.py runs/tiny/final_model.ptz [--tokens 16384] [--repeats 3]
"""
from __future__ import annotations

import argparse
import importlib.util
import math
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import sentencepiece as spm
import torch

from crawler.bpb import load_byte_lut
from crawler.scoring import evaluate_bpb, plan_windows, score_plans
from crawler.shards import load_split
from evaluator.artifacts.loading import open_artifact
from evaluator.artifacts.reference_plan import reference_plan

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "crawler_leg3_train_gpt.py"


def record_env(cfg) -> dict[str, str]:
    """The record's environment variables for a model with this config's weights."""
    if cfg.xsa_flat or cfg.loop_rope_scales or cfg.loop_inst_dim or cfg.rope_ntk_len != 1024:
        raise SystemExit("this artifact uses options the record's model does not have "
                         "(xsa_flat, loop_rope_scales, loop_inst_dim or a non-record RoPE)")
    return dict(USE_CRAWLER="1", NUM_FLAT_LAYERS=str(cfg.num_flat_layers), NUM_CRAWLER_LAYERS=str(cfg.num_crawler_layers),
                CRAWLER_LOOPS=str(cfg.crawler_loops), MODEL_DIM=str(cfg.model_dim), NUM_HEADS=str(cfg.num_heads),
                NUM_KV_HEADS=str(cfg.num_kv_heads), MLP_MULT=str(cfg.mlp_mult), CRAWLER_MLP_MULT=str(cfg.crawler_mlp_mult),
                VOCAB_SIZE=str(cfg.vocab_size), BIGRAM_VOCAB_SIZE=str(cfg.bigram_vocab_size),
                BIGRAM_DIM=str(cfg.bigram_dim), ROPE_DIMS=str(cfg.rope_dims), ROPE_BASE=repr(cfg.rope_base),
                LOGIT_SOFTCAP=repr(cfg.logit_softcap), XSA_LAST_N=str(cfg.num_crawler_layers if cfg.xsa_crawler else 0),
                INST_DIM="32", DELTA_NET_HEADS="0", COMPILE_ENABLED="0", TRAIN_SEQ_LEN=str(cfg.train_seq_len),
                EVAL_SEQ_LEN=str(cfg.eval_seq_len))


def import_reference(path: Path, env: dict[str, str]):
    if not path.is_file():
        raise SystemExit(f"{path}: the record's train_gpt.py is not there (pass --reference)")
    os.environ.update(env)  # the script reads its settings at import and when it builds the model
    spec = importlib.util.spec_from_file_location("record_train_gpt", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    module.args = module.Hyperparameters()
    return module


def record_model(ref, state_dict, device):
    """The record's CrawlerGPT with our weights, prepared as its main() prepares its eval model on a GPU
    (bf16 embeddings, float32 matrices and control tensors, bf16 autocast), or all float32 on a CPU."""
    model = ref.build_model(ref.args, device)
    if device.type == "cuda":
        for m in model.modules():
            if isinstance(m, ref.CastedLinear):
                m.float()
        ref.restore_low_dim_params_to_fp32(model)
    else:
        model.float()
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    extra = [k for k in missing if not k.startswith(("loop_inst_", "ve_"))]
    if unexpected or extra:
        raise SystemExit(f"weights do not fit the record's model (missing {extra[:3]}, unexpected {unexpected[:3]})")
    assert not any(p.any() for n, p in model.named_parameters() if n.startswith("loop_inst_up")), "zero-init up-projections"
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--tokens", type=int, default=16384, help="validation targets, cut to a multiple of the window")
    parser.add_argument("--batch-seqs", type=int, default=16, help="our windows per forward (pgolf eval's default)")
    parser.add_argument("--record-batch-seqs", type=int, default=128, help="the record's (its default)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference", type=Path, default=REFERENCE)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    # the record wraps its forward in autocast("cuda"), which warns at every call on a CPU
    warnings.filterwarnings("ignore", message="CUDA is not available")

    art = open_artifact(args.artifact)
    cfg = art.require_crawler()
    ref = import_reference(args.reference, record_env(cfg))
    device = torch.device(args.device)
    seq, stride = cfg.eval_seq_len, cfg.eval_stride
    data = args.data or Path(cfg.data_path)
    tokenizer = cfg.tokenizer_file if args.data is None else data / "tokenizer.model"
    val = load_split(data, "val", cfg.vocab_size)
    n = min(args.tokens, len(val) - 1) // max(seq, cfg.train_seq_len) * max(seq, cfg.train_seq_len)
    if n == 0:
        raise SystemExit(f"fewer than one window of {seq} validation targets")
    tokens = val[: n + 1]
    ours_model = art.build_model(device)
    theirs_model = record_model(ref, art.state_dict, device)
    lut = load_byte_lut(tokenizer, cfg.vocab_size)
    luts = ref.build_sentencepiece_luts(spm.SentencePieceProcessor(model_file=str(tokenizer)), cfg.vocab_size, device)
    record_tokens = torch.from_numpy(tokens.astype("int64"))

    def ours() -> tuple[float, float]:
        t0 = time.perf_counter()
        r = evaluate_bpb(ours_model, tokens, lut, seq, stride, args.batch_seqs, device)
        return time.perf_counter() - t0, r.val_bpb

    def theirs() -> tuple[float, float]:
        t0 = time.perf_counter()
        _, bpb = ref.eval_val_sliding(ref.args, theirs_model, 0, 1, device, record_tokens, *luts, stride=stride,
                                      batch_seqs=args.record_batch_seqs, eval_seq_len=seq)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0, bpb

    ours()  # warm-up: first-call allocations and kernel selection are not what is measured
    theirs()
    ours_s, theirs_s = [], []
    for i in range(args.repeats):
        for fn, times in ((ours, ours_s), (theirs, theirs_s))[:: 1 if i % 2 == 0 else -1]:
            seconds, bpb = fn()
            times.append(seconds)
    our_bpb, record_bpb = ours()[1], theirs()[1]
    ours_record = score_plans(ours_model, tokens, lut, n, [reference_plan(n, seq, stride)], seq, stride, args.batch_seqs,
                              device)[0]

    mine, recs = len(plan_windows(n, seq, stride)), len(reference_plan(n, seq, stride))
    print(f"torch {torch.__version__}  device {device}  artifact {args.artifact}")
    print(f"{n:,} targets, window {seq}, stride {stride}, medians of {args.repeats} interleaved runs")
    print(f"record eval_val_sliding  {statistics.median(theirs_s):8.2f} s  {n / statistics.median(theirs_s):10,.0f} "
          f"targets/s  {recs} windows, {n + ours_record.repeated:,} scorings  BPB {record_bpb:.10f}")
    print(f"ours (evaluate_bpb)      {statistics.median(ours_s):8.2f} s  {n / statistics.median(ours_s):10,.0f} "
          f"targets/s  {mine} windows, {n:,} scorings  BPB {our_bpb:.10f}")
    print(f"ours, the record's plan  BPB {ours_record.val_bpb:.10f}  ({ours_record.val_bpb - record_bpb:+.2e} against the record's)")
    if not math.isclose(ours_record.val_bpb, record_bpb, rel_tol=1e-6):
        raise SystemExit(f"the record's plan scored by us differs: {ours_record.val_bpb!r} vs {record_bpb!r}")
    print(f"speed-up                 {statistics.median(theirs_s) / statistics.median(ours_s):.2f}x "
          f"(windows alone would give {recs / mine:.2f}x)")


if __name__ == "__main__":
    main()
