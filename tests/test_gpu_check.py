"""benchmarks/gpu_check.py: the device run's script, exercised on CPU (its --dry-run) before any GPU is lent."""
import importlib.util
import json
import math
import re
import subprocess
import sys

import pytest
import torch

from tests.conftest import REPO, shared_path

SCRIPT = REPO / "benchmarks" / "gpu_check.py"
spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
gpu_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_check)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the dry run's CPU expectations (fp32 twice, the record refusing to start)")
def test_dry_run_measures_every_phase(walk_data, tmp_path):
    reference = shared_path("reference")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--data", str(walk_data), "--reference", str(reference),
                           "--out", str(out), "--work", str(tmp_path / "work")],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r = json.loads((out / "gpu_check.json").read_text())
    assert r["mode"] == "dry-run" and r["errors"] == []
    assert "== gpu_check (dry-run)" in proc.stdout

    ours = r["ours"]
    # stopped once its artifact is written, before its own final evaluations (step 4 makes them)
    assert ours["ended"] == "stopped" and ours["val"]["step"] == ours["steps"] >= 1
    assert ours["tokens_per_s"] == ours["steps"] * gpu_check.TINY_BATCH_TOKENS / (ours["train_time_ms"] / 1000)  # same ops
    curve = ours["loss_curve"]
    assert [p[0] for p in curve] == list(range(1, ours["steps"] + 1))  # TRAIN_LOG_EVERY=1 in the dry run
    assert curve[-1][1] < curve[0][1]  # the random walk is learnable in a few steps
    assert ours["warmup_steps"] == 2 and ours["all_warmup_steps_s"] >= ours["first_warmup_step_s"] > 0
    # its final numbers from its run.json, written before the size lines it was stopped after
    summary = json.loads((tmp_path / "work" / "ours" / "run.json").read_text())
    assert (ours["steps"], ours["train_time_ms"]) == (summary["steps"], summary["train_time_ms"])
    assert ours["sizes"] == {key: summary[key] for key in ("code_bytes", "model_bytes", "total_bytes")}
    assert ours["sizes"]["total_bytes"] > ours["sizes"]["code_bytes"] > 0 and summary["scores"] == {}

    record = r["record"]
    assert record["status"] == "not run: its trainer requires CUDA" and record["returncode"] != 0
    # the record is asked for exactly ours' steps, with its run script's settings and the shared data
    assert record["env"]["ITERATIONS"] == str(ours["steps"]) and record["env"]["MAX_WALLCLOCK_SECONDS"] == "0"
    assert record["env"]["CRAWLER_MLP_MULT"] == "6.0" and record["env"]["SKIP_GPTQ"] == "1"
    assert record["env"]["DATA_PATH"] == str(tmp_path / "work" / "tiny_data")
    assert "SEED" not in gpu_check.record_settings(reference / gpu_check.RECORD_RUN)  # a shell variable there

    ev = r["eval"]
    full, prefix, fp32 = ev["gpu_full"], ev["gpu_prefix"], ev["cpu_fp32_prefix"]
    assert full["sliding_targets"] == gpu_check.TINY_VAL_TOKENS - 1 and prefix["sliding_targets"] == 256
    # the exported int6 artifact, scored by pgolf eval, is the model the trainer validated last (same windows); not
    # an arithmetic bound: the trainer logs its float model's BPB to 4 decimals, and int6 quantisation moves it
    assert full["roundtrip_val_bpb"] == pytest.approx(ours["val"]["val_bpb"], abs=0.01)
    # on a CPU both are the same fp32 computation: the difference the GPU run reports is exactly zero here
    assert fp32["dtype"] == prefix["dtype"] == "fp32" and ev["bf16_minus_fp32"] == {"roundtrip_val_bpb": 0.0, "sliding_val_bpb": 0.0}
    rec = ev["record_eval_val_sliding"]
    seq = int(r["settings"]["common_env"]["EVAL_SEQ_LEN"])
    assert rec["targets"] == (gpu_check.TINY_VAL_TOKENS - 1) // seq * seq  # the record's loader cuts to whole windows
    # its plan re-scores the tail, so its number differs from ours by more than rounding on so short a split
    assert math.isfinite(rec["val_bpb"]) and rec["val_bpb"] > 0 and rec["targets_per_s"] > 0
    assert ev["sliding_targets_per_s_ours_over_record"] > 0
    if full["reference_plan_val_bpb"] is not None:  # pgolf eval scores the record's plan too: both codes must agree
        # the same model's float32 losses per window (if a row's logits do not depend on the other rows of its
        # batch: the two codes batch different windows together), added in float64 in two orders: 2 gamma_n(f64)
        # x BPB, below 1e-11 for these ~1,200 targets
        assert abs(ev["reference_plan_bpb_ours_minus_record"]) < 1e-9

    # what comes back from the device: at most 8 plain files (the wrapper's log is the eighth), tool-safe names
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 6 and all(re.fullmatch(r"[A-Za-z0-9._-]+", n) for n in names)


def test_preflight_names_everything_missing_in_one_line(tmp_path, capsys):
    code = gpu_check.main(["--data", str(tmp_path / "no_data"), "--reference", str(tmp_path / "no_reference"),
                           "--out", str(tmp_path / "out"), "--work", str(tmp_path / "work")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and err.startswith("gpu_check: missing: ")
    for what in ("fineweb_train_*.bin", "fineweb_val_*.bin", "tokenizer.model", gpu_check.RECORD_SCRIPT,
                 gpu_check.RECORD_RUN, "--prepare"):
        assert what in err
    assert ("a CUDA GPU" in err) != torch.cuda.is_available()
    assert not (tmp_path / "out" / "gpu_check.json").exists()  # nothing measured, nothing written


def test_run_logged_stops_a_process_group_after_its_figures_or_its_time(tmp_path):
    # a child that prints the line the record's run is stopped after, then would keep the machine busy
    child = "import subprocess, sys, time; print('step:1/2 train_loss:1.0 train_time:5ms step_avg:5.00ms'); " \
            "print('peak memory allocated: 7 MiB reserved: 9 MiB', flush=True); " \
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    run = gpu_check.run_logged("t", [sys.executable, "-c", child], {}, tmp_path, tmp_path / "t.log", 30,
                               stop_after=gpu_check.PEAK_LINE)
    assert run["ended"] == "stopped" and run["returncode"] == -15 and run["wall_s"] < 20
    figures = gpu_check.training_figures(run, 100)
    assert figures["peak_memory_mib"] == {"allocated": 7, "reserved": 9}
    assert figures["steps"] == 1 and figures["ms_per_step"] == 5.0 and figures["tokens_per_s"] == 20_000
    assert "peak memory allocated" in (tmp_path / "t.log").read_text()

    run = gpu_check.run_logged("t", [sys.executable, "-c", "import time; time.sleep(60)"], {}, tmp_path,
                               tmp_path / "t.log", 1)
    assert run["ended"] == "timed out after 1 s" and run["returncode"] == -15 and run["wall_s"] < 20


# The project's runtime dependencies that the device image lacks (device tool's KINDS.md, package list read
# 2026-11-17); zstandard travels as a wheel. The web app needs them, the trainer and `pgolf eval` must not.
NOT_ON_DEVICE = ("fastapi", "uvicorn", "sqlalchemy", "huey", "redis", "pydantic", "pydantic_settings", "multipart",
                 "python_multipart", "nh3")


def test_what_the_device_runs_imports_only_what_is_there():
    code = f"""
import importlib.abc, sys
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in {NOT_ON_DEVICE!r}:
            raise ImportError('not on the device: ' + name)
sys.meta_path.insert(0, Absent())
try:
    import pydantic
except ImportError as e:
    print(e)
import train_gpt, crawler.train, evaluator.artifacts.cli, evaluator.artifacts.loading, crawler.model
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "not on the device: pydantic"  # the finder is in force
