import json
import os
import re
from dataclasses import asdict

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from crawler.config import ConfigError, load_config
from crawler.contract import ARTIFACT_PASSES, RUN_SUMMARY, MetricKind, final_label
from crawler.loader import DistributedTokenLoader, TokenStream
from crawler.model import CrawlerGPT
from crawler.train import lr_scale, slow_step_warning, train
from crawler.train_cli import parse_sets
from evaluator.records.logs import parse_log
from tests.conftest import WALK_VOCAB as VOCAB

pytestmark = pytest.mark.usefixtures("one_thread")


def micro(walk_data, tmp_path, **overrides):
    values = dict(data_path=str(walk_data), vocab_size=VOCAB, model_dim=64, num_heads=4, num_kv_heads=2,
                  train_seq_len=32, eval_seq_len=32, eval_stride=16, bigram_vocab_size=64, bigram_dim=32,
                  train_batch_tokens=512, iterations=30, warmdown_iters=10, max_wallclock_seconds=0.0,
                  val_loss_every=10, train_log_every=5, val_batch_size=2048, val_max_tokens=1024,
                  muon_momentum_warmup_steps=10, out_dir=str(tmp_path), run_id="micro", matrix_lr=0.05)
    return load_config("tiny", environ={}, **{**values, **overrides})


def read_log(result):
    return (result.run_dir / "train.log").read_text()


def test_training_reduces_loss_and_writes_the_log(walk_data, tmp_path):
    result = train(micro(walk_data, tmp_path), progress=False)
    log = read_log(result)
    n_params = sum(p.numel() for p in CrawlerGPT(micro(walk_data, tmp_path)).parameters())
    assert re.search(rf"^model_params:{n_params}$", log, re.M)
    assert re.search(r"^world_size:1 grad_accum_steps:1$", log, re.M)
    assert re.search(r"^train_batch_tokens:512 train_seq_len:32 iterations:30 warmup_steps:0 "
                     r"max_wallclock_seconds:0\.000$", log, re.M)
    assert re.search(r"^seed:1337$", log, re.M)
    train_losses = [float(v) for v in re.findall(r"^step:\d+/30 train_loss:([\d.]+) train_time:\d+ms step_avg:[\d.]+ms$",
                                                  log, re.M)]
    val = re.findall(r"^step:(\d+)/30 val_loss:([\d.]+) val_bpb:([\d.]+) train_time:\d+ms step_avg:[\d.]+ms$", log, re.M)
    assert len(train_losses) == 10 + 4 and [int(s) for s, _, _ in val] == [0, 10, 20, 30]
    assert train_losses[-1] < train_losses[0] - 1.0
    assert float(val[-1][1]) < float(val[0][1]) - 1.0 and float(val[-1][2]) < float(val[0][2])
    sizes = {k: int(v) for k, v in re.findall(r"^(Code size|Serialized model int6\+zstd|Total submission size int6\+zstd): "
                                               r"(\d+) bytes$", log, re.M)}
    assert sizes["Total submission size int6+zstd"] == sizes["Code size"] + sizes["Serialized model int6+zstd"]
    for name in ("roundtrip", "sliding_window"):
        m = re.search(rf"^final_int6_{name}_exact val_loss:(\d+\.\d{{8}}) val_bpb:(\d+\.\d{{8}})$", log, re.M)
        # the log prints the same float to 8 decimals: half a unit, and the parse's rounding (a loss below 8)
        assert m and float(m.group(1)) == pytest.approx(result.summary.scores[name].val_loss, rel=0, abs=5e-9 + 1e-15)
        # the int6 artifact scores close to the float model
        assert float(m.group(1)) < float(val[-1][1]) + 0.3
    assert "stopping_early" not in log
    assert result.summary.steps == 30 and not result.summary.stopped_early
    state = load_file(str(result.run_dir / "final_model.safetensors"))
    assert set(state) == set(CrawlerGPT(micro(walk_data, tmp_path)).state_dict())
    assert (result.run_dir / "config.json").is_file() and (result.run_dir / "final_model.ptz").is_file()


def test_run_json_holds_the_numbers_the_log_prints(walk_data, tmp_path):
    result = train(micro(walk_data, tmp_path, iterations=6, val_loss_every=0, ema_decay=0.9), progress=False)
    log = read_log(result)
    summary = json.loads((result.run_dir / RUN_SUMMARY).read_text())
    assert summary == asdict(result.summary)
    for kind in ARTIFACT_PASSES:
        score = summary["scores"][kind.value]
        exact = re.search(rf"^{final_label(kind, exact=True)} val_loss:(\S+) val_bpb:(\S+)$", log, re.M)
        assert exact.groups() == (f"{score['val_loss']:.8f}", f"{score['val_bpb']:.8f}")
        timed = re.search(rf"^{final_label(kind)} .* eval_time:(\d+)ms$", log, re.M)
        assert timed.group(1) == f"{score['eval_ms']:.0f}"
    assert summary["scores"]["sliding_window"]["stride"] == 16 and summary["scores"]["roundtrip"]["stride"] is None
    post = re.search(r"^post_average val_loss:(\S+) val_bpb:(\S+)$", log, re.M)
    assert post.groups() == (f"{summary['pre_quant']['val_loss']:.4f}", f"{summary['pre_quant']['val_bpb']:.4f}")
    sizes = dict(re.findall(r"^(Code size|Serialized model int6\+zstd|Total submission size int6\+zstd): (\d+) bytes$",
                            log, re.M))
    assert (summary["code_bytes"], summary["model_bytes"], summary["total_bytes"]) == \
        (int(sizes["Code size"]), int(sizes["Serialized model int6+zstd"]), int(sizes["Total submission size int6+zstd"]))
    assert summary["steps"] == 6 and summary["iterations"] == 6 and summary["codec"] == "rans"
    assert summary["run_id"] == "micro" and summary["seed"] == 1337 and not summary["stopped_early"]
    # the record parsers, which read strangers' logs, read ours to the same numbers: the labels are the challenge's
    parsed = parse_log(result.run_dir / "train.log")
    for kind in ARTIFACT_PASSES:
        assert parsed.final(kind).val_bpb == float(f"{summary['scores'][kind.value]['val_bpb']:.8f}")
    assert parsed.final(MetricKind.PRE_QUANT).val_bpb == float(f"{summary['pre_quant']['val_bpb']:.4f}")
    assert (parsed.final_step, parsed.seed, parsed.counted_code_bytes.bytes, parsed.model_bytes.bytes,
            parsed.total_bytes.bytes) == (6, 1337, summary["code_bytes"], summary["model_bytes"], summary["total_bytes"])


def test_wallclock_cap_stops_early(walk_data, tmp_path):
    result = train(micro(walk_data, tmp_path, iterations=100_000, max_wallclock_seconds=0.5, val_loss_every=0), progress=False)
    log = read_log(result)
    m = re.search(r"^stopping_early: wallclock_cap train_time:(\d+)ms step:(\d+)/100000$", log, re.M)
    steps = result.summary.steps
    assert m and int(m.group(2)) == steps < 100_000 and result.summary.stopped_early
    assert re.search(rf"^step:{steps}/100000 val_loss:", log, re.M)


def test_warmup_steps_restore_the_initial_state(walk_data, tmp_path):
    plain = train(micro(walk_data, tmp_path, iterations=4, run_id="plain", val_loss_every=0), progress=False)
    # QAT runs in the second half of the warm-up (to compile it) but must not leak: its threshold is never reached
    warmed = train(micro(walk_data, tmp_path, iterations=4, run_id="warm", val_loss_every=0, warmup_steps=3,
                         qat_flat_bits=6, qat_threshold=0.0), progress=False)
    assert read_log(warmed).count("warmup_step:") == 3 and "qat:start" not in read_log(warmed)
    losses = lambda r: re.findall(r"^step:\d+/4 train_loss:(\S+)", read_log(r), re.M)
    assert losses(plain) == losses(warmed) and len(losses(plain)) == 4
    a = load_file(str(plain.run_dir / "final_model.safetensors"))
    b = load_file(str(warmed.run_dir / "final_model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("flag,marker", [(dict(ema_decay=0.9), "average:applied ema"),
                                         (dict(swa_every=2, swa_threshold=0.5), "average:applied swa snapshots:"),
                                         (dict(qat_flat_bits=6, qat_crawler_bits=8, qat_threshold=0.5), "qat:start step:")])
def test_training_switches_change_the_result(walk_data, tmp_path, flag, marker):
    short = dict(iterations=12, warmdown_iters=10, val_loss_every=0)
    base = train(micro(walk_data, tmp_path, run_id="base", **short), progress=False)
    switched = train(micro(walk_data, tmp_path, run_id="switched", **short, **flag), progress=False)
    assert marker in read_log(switched)
    a = load_file(str(base.run_dir / "final_model.safetensors"))
    b = load_file(str(switched.run_dir / "final_model.safetensors"))
    assert max((a[k] - b[k]).abs().max().item() for k in a) > 1e-4
    assert switched.summary.scores["roundtrip"].val_loss != base.summary.scores["roundtrip"].val_loss


def test_lr_schedule():
    cfg = load_config("tiny", environ={}, iterations=1000, warmdown_iters=100, max_wallclock_seconds=0.0)
    assert lr_scale(cfg, 0, 0.0) == 1.0 and lr_scale(cfg, 900, 0.0) == 1.0
    # integer steps and milliseconds: each quotient below is exact or the same single rounding on both sides
    assert lr_scale(cfg, 950, 0.0) == 0.5 and lr_scale(cfg, 1000, 0.0) == 0.0
    timed = cfg.replace(max_wallclock_seconds=10.0)
    # 10 ms per step, 1 s left = 100 steps: the warmdown just begins; 0.5 s left: halfway
    assert lr_scale(timed, 900, 9000.0) == 1.0
    assert lr_scale(timed, 950, 9500.0) == 0.5
    assert lr_scale(timed, 100, 9500.0) == 500 / (100 * 95)  # slow steps: a longer warmdown
    assert lr_scale(timed, 100, 12_000.0) == 0.0


def test_token_stream_and_ranks(walk_data):
    stream = TokenStream(walk_data, "train")
    first = stream.take(29_990)
    across = stream.take(20)  # the end of shard 0 and the start of shard 1
    assert len(across) == 20 and stream.file_index == 1
    stream.take(26_000 - 10)
    wrapped = stream.take(5)
    assert np.array_equal(wrapped, first[:5])
    loaders = [DistributedTokenLoader(walk_data, r, 2, "cpu") for r in range(2)]
    (x0, y0), (x1, y1) = [ld.next_batch(512, 32, 2) for ld in loaders]
    assert x0.shape == (4, 32) and x0.dtype == torch.int64
    assert torch.equal(x0.flatten()[1:], y0.flatten()[:-1]) and not torch.equal(x0, x1)
    whole = torch.from_numpy(TokenStream(walk_data, "train").take(2 * 129).astype(np.int64))
    assert torch.equal(x1.flatten(), whole[129:257]) and torch.equal(y1.flatten(), whole[130:258])
    with pytest.raises(ValueError, match="does not split"):
        loaders[0].next_batch(500, 32, 1)


def test_config_env_names_and_sets():
    assert load_config("leg3", environ={"CRAWLER_LOOPS": "2"}).crawler_loops == 2
    cfg = load_config("leg3", environ={"NUM_CRAWLER_LAYERS": "2", "INST_DIM": "32", "XSA_FLAT": "1",
                                       "CRAWLER_LOOP_ROPE_SCALES": "1,3,9", "GRAD_ACCUM_STEPS": "2"})
    assert (cfg.num_crawler_layers, cfg.loop_inst_dim, cfg.xsa_flat, cfg.loop_rope_scales, cfg.grad_accum_steps) == \
        (2, 32, True, (1.0, 3.0, 9.0), 2)
    assert CrawlerGPT(cfg.replace(model_dim=64, num_heads=4, num_kv_heads=2)).num_block_applications() == 4 + 2 * 3
    assert parse_sets(["model_dim=64", "XSA_FLAT = true"]) == {"model_dim": "64", "xsa_flat": "true"}
    with pytest.raises(ConfigError, match="key=value"):
        parse_sets(["model_dim"])


def test_cli(walk_data, tmp_path):
    from pgolf import app

    sets = ["model_dim=64", "num_heads=4", "num_kv_heads=2", "train_seq_len=32", "eval_seq_len=32", "eval_stride=32",
            "bigram_vocab_size=64", "bigram_dim=32", "train_batch_tokens=256", "iterations=3", "val_loss_every=0",
            f"vocab_size={VOCAB}", "val_max_tokens=512"]
    args = ["train", "--preset", "tiny", "--data", str(walk_data), "--out", str(tmp_path), "--run-id", "cli",
            "--seed", "7", "--no-progress"] + [a for s in sets for a in ("--set", s)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    log = (tmp_path / "cli" / "train.log").read_text()
    assert "seed:7" in log and "final_int6_sliding_window_exact" in log
    bad = CliRunner().invoke(app, ["train", "--preset", "tiny", "--set", "no_such_field=1"])
    assert bad.exit_code == 1 and "unknown config field" in bad.output


def test_config_bounds_and_a_config_that_is_no_file(tmp_path):
    # an untrusted value (a manifest, an upload form) is refused before any model is built, in one line
    for field, value, shown in (("crawler_loops", 10 ** 6, "1000000"),
                                ("crawler_loops", int(1e308), "an integer of 309 digits"),
                                ("model_dim", 1e308, "an integer of 309 digits"), ("rope_base", 0.5, "0.5")):
        with pytest.raises(ConfigError, match=re.escape(f"{field} = {shown} is outside")):
            load_config("tiny", **{field: value})
    with pytest.raises(ConfigError, match="rope_base must be finite"):
        load_config("tiny", rope_base=float("nan"))
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)  # reading it would block for ever
    from pgolf import app

    bad = CliRunner().invoke(app, ["train", "--preset", "tiny", "--config", str(fifo)])
    assert bad.exit_code == 1 and "config file is not a regular file" in bad.output


def test_a_starved_cpu_run_says_so_in_one_line(walk_data, tmp_path):
    # any real step takes far more than 4 x 0.001 ms: the warning is certain, and comes once
    result = train(micro(walk_data, tmp_path, iterations=8, val_loss_every=0, cpu_step_ms=0.001), progress=False)
    warnings = [line for line in read_log(result).splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and warnings[0].startswith("warning: slow steps: ")
    assert "x the 0.001 ms this preset takes on 2 idle CPU cores" in warnings[0]


def test_slow_step_warning_only_far_above_the_presets_step():
    tiny = load_config("tiny", environ={})
    assert tiny.cpu_step_ms == 600.0 and load_config("leg3", environ={}).cpu_step_ms == 0.0
    assert slow_step_warning(tiny, 4 * 600.0) is None  # a fair share of a busy machine
    line = slow_step_warning(tiny, 27_000.0)
    assert line.startswith("warning: slow steps: 27,000 ms each, 45x the 600 ms") and "\n" not in line
    assert "the 270 s cap allows about 10 steps, so the model will be undertrained" in line
    assert slow_step_warning(load_config("leg3", environ={}), 1e9) is None  # not a CPU preset
