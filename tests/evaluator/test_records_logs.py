import hashlib
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.contract import MetricKind
from evaluator.records.embedded_source import find_embedded_source
from evaluator.records.logs import parse_log, parse_log_text
from evaluator.records.metric_kinds import kind_from_label

TORCHRUN = """W0330 16:31:20.557000 2002 site-packages/torch/distributed/run.py:851]
W0330 16:31:20.557000 2002 site-packages/torch/distributed/run.py:851] *****************************************
W0330 16:31:20.557000 2002 site-packages/torch/distributed/run.py:851] Setting OMP_NUM_THREADS environment variable
"""

# The Micro Crawler's tail: the sliding-window result printed again under the legacy roundtrip label.
CRAWLER = TORCHRUN + """logs/dbc4400a.txt
val_bpb:enabled tokenizer_kind=sentencepiece tokenizer_path=./data/tokenizers/fineweb_1024_bpe.model
model_params:14462508
XSA:last_11 world_size:8 grad_accum_steps:1
train_batch_tokens:786432 train_seq_len:2048 iterations:20000 warmup_steps:20 max_wallclock_seconds:600.000
seed:1337
warmup_step:1/20
step:0/20000 val_loss:6.9293 val_bpb:4.1039 train_time:0ms step_avg:0.01ms
step:1/20000 train_loss:6.9313 train_time:124ms step_avg:124.26ms
step:8000/20000 val_loss:2.0265 val_bpb:1.2002 train_time:593484ms step_avg:74.19ms
step:8087/20000 val_loss:2.0230 val_bpb:1.1982 train_time:600008ms step_avg:74.19ms
stopping_early: wallclock_cap train_time:600008ms step:8087/20000
DIAGNOSTIC post_ema val_loss:2.0230 val_bpb:1.1982 eval_time:1675ms
Serialized model: 55905148 bytes
Code size: 179689 bytes
Serialized model int6+zstd: 8663292 bytes
Total submission size int6+zstd: 8842981 bytes
Total submission size int8+zlib: 8842981 bytes
final_int6_roundtrip val_loss:2.0446 val_bpb:1.2109 eval_time:3619ms
final_int6_roundtrip_exact val_loss:2.04455463 val_bpb:1.21090041
final_int6_sliding_window val_loss:2.0045 val_bpb:1.1872 stride:64 eval_time:59454ms
final_int6_sliding_window_exact val_loss:2.00453850 val_bpb:1.18720375
final_int8_zlib_roundtrip_exact val_loss:2.00453850 val_bpb:1.18720375
"""


def _parse(text: str, name: str = "train_seed1337.log"):
    return parse_log_text(text, Path(name))


def test_micro_crawler_legacy_label_is_the_sliding_window():
    log = _parse(CRAWLER)
    legacy = log.metrics[-1]
    assert legacy.label == "final_int8_zlib_roundtrip_exact" and legacy.kind is MetricKind.SLIDING_WINDOW
    assert legacy.reason.startswith("legacy label repeats final_int6_sliding_window_exact")
    sliding = log.final(MetricKind.SLIDING_WINDOW)
    # the reading reported is the properly labelled line, with the eval time of its rounded print
    assert (sliding.label, sliding.val_bpb, sliding.line) == ("final_int6_sliding_window_exact", 1.18720375, 25)
    assert sliding.eval_time_ms == 59454 and sliding.stride == 64
    assert log.final(MetricKind.ROUNDTRIP).val_bpb == 1.21090041
    assert log.final(MetricKind.PRE_QUANT).val_bpb == 1.1982
    assert log.kinds() == [MetricKind.PRE_QUANT, MetricKind.ROUNDTRIP, MetricKind.SLIDING_WINDOW]


def test_crawler_facts_and_curves():
    log = _parse(CRAWLER)
    assert log.seed == 1337 and log.seed_evidence == "train_seed1337.log:9"
    assert log.world_size.value == 8 and log.model_params.value == 14462508
    assert log.iterations.value == 20000 and log.max_wallclock_seconds.value == 600.0
    assert log.tokenizer == "fineweb_1024_bpe.model"
    assert (log.stop.reason, log.stop.step, log.stop.train_time_ms) == ("wallclock_cap", 8087, 600008.0)
    assert log.train_time_ms.value == 600008.0 and log.final_step == 8087
    assert [p.step for p in log.val_curve] == [0, 8000, 8087] and log.val_curve[-1].val_bpb == 1.1982
    assert log.train_curve[0].train_loss == 6.9313 and log.train_curve[0].step_avg_ms == 124.26
    assert log.code_bytes.bytes == 179689 and log.model_bytes.bytes == 8663292
    assert log.model_bytes.label == "int6+zstd" and log.total_bytes.bytes == 8842981
    assert log.model_bytes_raw.bytes == 55905148
    assert log.source is None and log.warnings == []


NEWER = """Hyperparameters:
  seed: 42
  world_size: 8
  iterations: 20000
  max_wallclock_seconds: 600.0
  tokenizer_path: /data/tokenizers/fineweb_8192_bpe.model
  vocab_size: 8192
train_shards: 80
val_tokens: 47851520
model_params:35945658
0/20000 val_loss: 9.0052 val_bpb: 3.4862
1/20000 train_loss: 9.0086 train_time: 0.0m tok/s: 12866999
500/20000 train_loss: 2.5807 train_time: 0.8m tok/s: 8265349
4957/20000 val_loss: 2.3571 val_bpb: 1.0771
stopping_early: wallclock_cap train_time: 599556ms step: 4957/20000
diagnostic pre-quantization post-ema val_loss:2.33442311 val_bpb:1.06667100 eval_time:7222ms
Code size (uncompressed): 146673 bytes
Code size (compressed): 30305 bytes
Serialized model quantized+brotli: 15909203 bytes
Total submission size quantized+brotli: 15939508 bytes
diagnostic quantized val_loss:2.35491149 val_bpb:1.07603278 eval_time:10989ms
quantized_sliding_window val_loss:2.31 val_bpb:1.0701 eval_time:90000ms
ttt:start chunks=1238 ttt_lr=0.005 ttt_epochs=3
quantized_ttt_phased val_loss:2.32640831 val_bpb:1.06353012 eval_time:447120ms
total_eval_time:447.1s
"""


def test_newer_format_spaces_minutes_and_kinds():
    log = _parse(NEWER, "train_seed42.log")
    assert log.seed == 42 and log.world_size.value == 8 and log.vocab_size == 8192 and log.val_tokens == 47851520
    assert log.train_curve[-1].train_time_ms == 0.8 * 60_000
    assert log.val_curve[-1].val_bpb == 1.0771
    assert log.stop.train_time_ms == 599556 and log.stop.step == 4957
    kinds = {m.label: m.kind for m in log.metrics}
    assert kinds == {"diagnostic pre-quantization post-ema": MetricKind.PRE_QUANT,
                     "diagnostic quantized": MetricKind.ROUNDTRIP,
                     "quantized_sliding_window": MetricKind.SLIDING_WINDOW,
                     "quantized_ttt_phased": MetricKind.TTT}
    assert log.code_bytes.bytes == 146673 and log.code_bytes_compressed.bytes == 30305
    assert log.counted_code_bytes.bytes == 30305
    assert log.total_bytes.bytes == 15909203 + 30305
    assert log.total_eval_time_ms.value == 447100.0


def test_legacy_label_after_a_sliding_window_announcement():
    text = """seed:7
step:10491/20000 val_loss:2.0395 val_bpb:1.2079 train_time:600073ms step_avg:57.20ms
stopping_early: wallclock_cap train_time:600073ms step:10491/20000
Serialized model int8+zlib: 15341602 bytes (payload:19552576 raw_torch:19602363 payload_ratio:3.81x)
Total submission size int8+zlib: 15397085 bytes
Compiling forward_logits for sliding window eval (stride=64, seq_len=1024)...
Compilation done, starting sliding window eval...
final_int8_zlib_roundtrip val_loss:1.9830 val_bpb:1.1744 eval_time:134729ms
final_int8_zlib_roundtrip_exact val_loss:1.98298356 val_bpb:1.17443456
"""
    log = _parse(text, "train_seed7.log")
    assert [m.kind for m in log.metrics] == [MetricKind.SLIDING_WINDOW] * 2
    assert log.final(MetricKind.SLIDING_WINDOW).val_bpb == 1.17443456
    assert log.final(MetricKind.SLIDING_WINDOW).eval_time_ms == 134729
    assert log.final(MetricKind.ROUNDTRIP) is None


def test_sliding_eval_progress_lines_mark_the_legacy_label():
    text = """seed:42
step:7385/20000 val_loss:1.95 val_bpb:1.16 train_time:600099ms step_avg:81.2ms
  sliding_eval [ 99.1%] 120032/121136 windows running_bpb=1.153003
final_int8_zlib_roundtrip val_loss:1.9359 val_bpb:1.1466 eval_time:154937ms
"""
    assert _parse(text).metrics[0].kind is MetricKind.SLIDING_WINDOW


def test_a_plain_roundtrip_stays_a_roundtrip():
    text = """seed:1337
step:13692/20000 val_loss:2.0586 val_bpb:1.2192 train_time:600008ms step_avg:43.82ms
stopping_early: wallclock_cap train_time:600008ms step:13692/20000
final_int8_zlib_roundtrip val_loss:2.0595 val_bpb:1.2197 eval_time:1399ms
final_int8_zlib_roundtrip_exact val_loss:2.05945460 val_bpb:1.21972502
final_ttt_lora val_loss:2.0153 val_bpb:1.1935 eval_time:72361ms
"""
    log = _parse(text)
    assert [m.kind for m in log.metrics] == [MetricKind.ROUNDTRIP, MetricKind.ROUNDTRIP, MetricKind.TTT]
    assert log.final(MetricKind.ROUNDTRIP).val_bpb == 1.21972502


def test_online_ttt_eval_mode_overrides_the_label():
    text = """seed:1337
ttt:completed steps:310 time:76.2s
final_int8_zlib_roundtrip val_loss:2.9636 val_bpb:1.1473 eval_mode:online_ttt eval_time:0ms
final_int8_zlib_roundtrip_exact val_loss:2.96361204 val_bpb:1.14730259
"""
    log = _parse(text)
    assert [m.kind for m in log.metrics] == [MetricKind.TTT, MetricKind.TTT]


def test_ternary_style_log():
    text = """params:73685840 L:10 d:768 h:8 kv:4 ws:8 ga:1 s:1337
step:1000/10000 loss:3.3139 t:91682ms avg:91.7ms
step:6520/10000 val_loss:3.0541 val_bpb:1.1825 train_time:599128ms zero_frac:0.335
stopping_early: wallclock_cap train_time:599128ms step:6520/10000
artifact:15.92MB ternary:64880640(14245920B) fp:2513744(2537376B) code:70853
budget:15995705/16000000 (16.00/16.00MB) FITS
final_ternary_roundtrip val_loss:3.0577 val_bpb:1.1839
final_sliding val_loss:2.9877 val_bpb:1.1568 (stride=16, T=0.90) eval_time:428712ms
"""
    log = _parse(text, "ternary_log_1337.txt")
    assert log.seed == 1337 and log.world_size.value == 8 and log.model_params.value == 73685840
    assert log.train_curve[0].train_loss == 3.3139 and log.train_curve[0].train_time_ms == 91682
    assert log.code_bytes.bytes == 70853 and log.total_bytes.bytes == 15995705 and log.model_bytes is None
    sliding = log.final(MetricKind.SLIDING_WINDOW)
    assert sliding.stride == 16 and sliding.eval_time_ms == 428712
    assert log.final(MetricKind.ROUNDTRIP).val_bpb == 1.1839


SOURCE = '''"""A training script."""
import os
from pathlib import Path
def main():
    log0(f"final_int8_zlib_roundtrip_exact val_loss:{1.0:.8f} val_bpb:{2.0:.8f}")
    seed = 3
class X:
    pass
'''


def test_embedded_source_is_found_skipped_and_rebuilt_exactly(tmp_path):
    text = SOURCE + "\n" + "=" * 100 + "\nRunning Python 3.12\n" + "=" * 100 + "\nseed:5\n" + \
        "step:10/20 val_loss:3.0 val_bpb:1.5 train_time:1000ms step_avg:100ms\n" + \
        "final_int6_roundtrip_exact val_loss:2.5 val_bpb:1.25\n"
    path = tmp_path / "train.log"
    path.write_text(text, encoding="utf-8")
    log = parse_log(path)
    assert log.source.first_line == 1 and log.source.last_line == SOURCE.count("\n") + 1
    assert log.source.sha256 == hashlib.sha256(SOURCE.encode()).hexdigest()
    assert log.seed == 5  # `seed = 3` inside the source is not read
    assert [m.val_bpb for m in log.metrics] == [1.25]


def test_source_after_a_hyperparameter_dump_and_console_output():
    lines = ["=" * 100, "Hyperparameters:", "  seed: 9", "final_int6_roundtrip val_loss:1.0 val_bpb:1.1",
             *SOURCE.rstrip("\n").split("\n"), "=" * 100, "done"]
    found = find_embedded_source(lines)
    assert found is not None and found[1] == SOURCE.rstrip("\n")


def test_duplicated_console_output_dedupes_curves():
    block = "seed:1\nstep:5/20 val_loss:3.0 val_bpb:1.5 train_time:500ms step_avg:100ms\n"
    log = _parse(block + block)
    assert len(log.val_curve) == 1


def test_unknown_shapes_warn_instead_of_crashing():
    log = _parse("hello world\nnothing to see\n", "notes.txt")
    assert not log.is_training_log
    assert "no seed found" in log.warnings and "no training or evaluation lines recognised" in log.warnings
    odd = _parse("seed:1\nmystery_metric val_loss:2.0 val_bpb:1.2\nmystery_metric val_loss:2.1 val_bpb:1.3\n")
    assert odd.metrics[0].kind is MetricKind.UNKNOWN
    assert sum("mystery_metric" in w for w in odd.warnings) == 1


def test_seed_from_the_file_name_and_conflicts():
    log = _parse("step:1/2 train_loss:3.0 train_time:10ms step_avg:10ms\n", "train_seed314.log")
    assert log.seed == 314 and log.seed_evidence == "file name train_seed314.log"
    clash = _parse("seed:7\nstep:1/2 train_loss:3.0 train_time:10ms step_avg:10ms\n", "train_seed8.log")
    assert clash.seed == 7 and any("file name says seed 8" in w for w in clash.warnings)


def test_label_keywords():
    assert kind_from_label("legal_ttt_exact") is MetricKind.TTT
    assert kind_from_label("ttt_sliding:done") is MetricKind.TTT
    assert kind_from_label("final_sliding_window_eval") is MetricKind.SLIDING_WINDOW
    assert kind_from_label("pre-quantization post-ema") is MetricKind.PRE_QUANT
    assert kind_from_label("post_average") is MetricKind.PRE_QUANT
    assert kind_from_label("quantized") is MetricKind.ROUNDTRIP
    assert kind_from_label("final_binary_roundtrip") is MetricKind.ROUNDTRIP
    assert kind_from_label("ppm_mix") is MetricKind.UNKNOWN


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(CRAWLER.split("\n") + NEWER.split("\n") + ["", "=" * 100, "import os",
                                                                            "step:", "val_bpb: x", "\x00\udcff"]),
                max_size=60))
def test_any_mix_of_known_lines_parses(lines):
    log = _parse("\n".join(lines))
    assert isinstance(log.warnings, list)


FREE_FORM_TAIL = """step:1/200 train_loss:6.9313 train_time:124ms step_avg:124.26ms
step:200/200 val_loss:2.0230 val_bpb:1.1982 train_time:600008ms step_avg:74.19ms
Quantized BPB: 1.027614
"""


def test_a_free_form_score_after_the_last_step_is_read_loosely_with_its_line():
    log = _parse("seed:7\n" + FREE_FORM_TAIL)
    metric = log.final(MetricKind.ROUNDTRIP)
    assert metric.loose and metric.val_bpb == 1.027614 and metric.line == 4 and "Quantized BPB" in metric.reason


def test_a_val_bpb_line_of_the_same_kind_wins_over_a_loose_one():
    log = _parse("seed:7\n" + FREE_FORM_TAIL + "final_int6_roundtrip val_loss:2.0446 val_bpb:1.0277 eval_time:3ms\n")
    assert log.final(MetricKind.ROUNDTRIP).val_bpb == 1.0277 and not log.final(MetricKind.ROUNDTRIP).loose


def test_free_form_lines_during_training_and_running_bpb_are_not_scores():
    log = _parse("seed:7\nFinal BPB: 1.5\n" + FREE_FORM_TAIL.replace("Quantized BPB: 1.027614\n", "")
                 + "sliding_eval [ 50%] 8/16 windows running_bpb=1.2\n")
    assert not any(m.loose for m in log.metrics)


def test_post_ttt_and_stride_free_form_lines_take_their_kind():
    ttt = _parse("seed:7\n" + FREE_FORM_TAIL.replace("Quantized BPB", "🏁 Post-TTT BPB"))
    sliding = _parse("seed:7\n" + FREE_FORM_TAIL.replace("Quantized BPB: 1.027614", "FineWeb BPB:   0.9461  (stride=64)"))
    assert ttt.final(MetricKind.TTT).val_bpb == 1.027614
    assert sliding.final(MetricKind.SLIDING_WINDOW).val_bpb == 0.9461


def test_an_exact_value_on_the_metric_line_is_the_precise_reading():
    log = _parse("seed:7\n" + FREE_FORM_TAIL.replace("Quantized BPB: 1.027614", "final_int6_sliding_window "
                 "val_loss:0.1949 val_bpb:0.1154 exact:0.11544435 stride:64 eval_time:458754ms"))
    metric = log.final(MetricKind.SLIDING_WINDOW)
    assert (metric.val_bpb, metric.decimals, metric.eval_time_ms) == (0.11544435, 8, 458754.0)


def test_a_legacy_label_printing_a_rounded_ttt_score_to_more_decimals_is_that_ttt_score():
    log = _parse("seed:7\n" + FREE_FORM_TAIL.replace("Quantized BPB: 1.027614", "\n".join([
        "final_int6_roundtrip_exact val_loss:1.97739833 val_bpb:1.17112667",
        "legal_ttt val_loss:1.7760 val_bpb:1.0519 eval_time:88649ms",
        "final_int8_zlib_roundtrip_exact val_loss:1.77600088 val_bpb:1.05185315"])))
    assert log.final(MetricKind.TTT).val_bpb == 1.05185315 and log.final(MetricKind.TTT).eval_time_ms == 88649.0
    assert log.final(MetricKind.ROUNDTRIP).val_bpb == 1.17112667
