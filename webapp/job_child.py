"""One evaluation job in a process of its own, started by the worker (webapp.job_runner) for each job.

The worker can then stop a job that runs past its time limit, or one it lost to another worker, by
killing this process: no Python thread can be stopped from outside, and a hostile artifact can keep a
thread busy for ever without a single progress report. The process also gives the memory back when
the job ends.

Protocol: argv is `MESSAGE_FD PARENT_PID`; stdin holds the request as JSON (artifact, tokenizer and
data paths, options, device, loop-analysis tokens); every message is one JSON line on MESSAGE_FD:
once, before scoring, {"kind": "plan", "stages": [[stage, tokens], ...]} (the stages to come in order,
with the tokens each feeds the model; the loop-wise analysis, which reports no progress of its own, is
weighed as LOOPS_PASSES passes over its slice), then {"kind": "progress", stage, scored, to_score} as
each stage goes (in validation targets: a pass that scores the record's windows beside the challenge's
counts each target once, as the result does), then {"kind": "done", result, plots (name -> base64 PNG)}
or {"kind": "failed", error}. Nothing here touches the database: the worker does that.

SIGINT and SIGTERM arrive blocked (the worker starts this process with them masked, and the mask is
inherited for its whole life): Ctrl-C or a service manager signals the whole process group, but what
happens to a job (given back to the queue) is the worker's decision, and the worker kills this process.
"""
from __future__ import annotations

import base64
import ctypes
import json
import os
import resource
import signal
import sys
import traceback
from pathlib import Path

PR_SET_PDEATHSIG = 1
# The loop-wise analysis' cost in sliding-window passes over its slice, before the worker has measured one: the
# capture pass, the early exits at 1 to loops + 2 crawler loops, the logit lens of every stage, and reading the
# artifact and the validation split again. benchmarks/loops_weight.py measures it on the tiny preset with the CPU
# defaults (19.1 at 65,536 targets and 4,096 analysis tokens, one thread); the worker replaces it with what its
# last analysis measured (webapp.job_runner).
LOOPS_PASSES = 19


def _die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when the worker that started it dies (kill -9 included): an orphaned job
    would otherwise run on, unowned, for as long as its artifact makes it."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the worker died before the request above took effect
        os._exit(1)


def _evaluate(request: dict, send) -> tuple[dict, dict[str, bytes]]:
    # imported here, after the parent check: torch and the evaluator take seconds to load
    import torch

    from crawler.distributed import single_process
    from evaluator.artifacts.eval_report import evaluate_artifact
    from evaluator.artifacts.loading import MAX_PARAMS_VARIABLE
    from webapp.views.loops import run_analysis

    targets = {}  # the roundtrip pass scores each validation target once: its total is the result's target count

    def progress(stage: str, scored: int, to_score: int) -> None:
        if stage == "roundtrip":
            targets["n"] = to_score
        elif to_score and "n" in targets:  # the same share of the same targets, whatever the pass scores twice
            scored, to_score = round(targets["n"] * scored / to_score), targets["n"]
        send({"kind": "progress", "stage": stage, "scored": scored, "to_score": to_score})

    def plan(stages: list[tuple[str, int]]) -> None:
        loops = request["loops_tokens"]
        send({"kind": "plan", "stages": [[name, tokens] for name, tokens in stages]
              + ([["loops", loops * LOOPS_PASSES]] if loops else [])})

    artifact, data_dir, tokenizer = Path(request["artifact"]), Path(request["data_dir"]), Path(request["tokenizer"])
    options = request["options"]
    device = torch.device(request["device"] or ("cuda" if torch.cuda.is_available() else "cpu"))
    os.environ[MAX_PARAMS_VARIABLE] = str(request["max_params"])  # what open_artifact reads
    if device.type == "cpu" and request["max_memory_bytes"]:
        # past it an allocation fails (MemoryError, or torch's RuntimeError) instead of the machine swapping
        resource.setrlimit(resource.RLIMIT_AS, (request["max_memory_bytes"], request["max_memory_bytes"]))
    report = evaluate_artifact(artifact, data_path=data_dir, tokenizer_path=tokenizer,
                               max_tokens=options.get("max_tokens"), loops=options.get("loops"),
                               seq_len=options.get("seq_len"), stride=options.get("stride"),
                               dist_info=single_process(device), on_progress=progress, on_plan=plan)
    result, plots = report.to_dict(), {}
    if request["loops_tokens"]:
        progress("loops", 0, 0)
        try:
            loops, plots = run_analysis(artifact, data_dir, tokenizer, options, request["loops_tokens"], device)
        except Exception as exc:  # a split too short for the slice, out of memory...: the BPB still stands
            result["loops_error"] = failure(exc, request)
        else:
            result["loops"] = {"report": loops.to_dict()}
    return result, plots


def one_line(exc: BaseException) -> str:
    from crawler.errors import PgolfError, first_line

    text = first_line(exc)
    # a PgolfError's message is written for the user; anything else is named, since its text alone may not say
    return text if isinstance(exc, PgolfError) or text == type(exc).__name__ else f"{type(exc).__name__}: {text}"


def failure(exc: BaseException, request: dict) -> str:
    """What a job's page says went wrong: one_line, with an allocation refused under the limit named as such, and
    the server's paths (its data folder, where it keeps the uploaded files) named by what they hold."""
    limit = request["max_memory_bytes"]
    if limit and (isinstance(exc, MemoryError) or "can't allocate memory" in str(exc)):
        return f"out of memory: this job may map {limit:,} bytes (PGOLF_JOB_MAX_MEMORY_BYTES)"
    text = one_line(exc)
    for key, name in (("artifact", "the artifact"), ("tokenizer", "the tokenizer"), ("data_dir", "the server's data")):
        text = text.replace(request[key], name)
    return text


def main(argv: list[str]) -> int:
    fd, parent_pid = int(argv[0]), int(argv[1])
    _die_with_parent(parent_pid)
    from crawler.errors import PgolfError

    with os.fdopen(fd, "w", encoding="utf-8") as channel:
        def send(message: dict) -> None:
            channel.write(json.dumps(message) + "\n")
            channel.flush()

        request = json.load(sys.stdin)
        try:
            result, plots = _evaluate(request, send)
        except Exception as exc:  # any failure is the job's result, shown on its page
            if not isinstance(exc, (PgolfError, MemoryError)):
                traceback.print_exc()
            send({"kind": "failed", "error": failure(exc, request)})
            return 1
        send({"kind": "done", "result": result,
              "plots": {name: base64.b64encode(png).decode() for name, png in plots.items()}})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
