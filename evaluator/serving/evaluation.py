"""One evaluation job's work: the artifact scored by evaluate_artifact, then the loop-wise analysis on a small
seeded slice, reported through the job protocol's messages (job_protocol). The process that runs it (the web
app's job_child) owns the protocol's channel and the process limits; this module owns what is computed.
"""
from __future__ import annotations

import resource
import tempfile
from pathlib import Path
from typing import Callable

from crawler.contract import MetricKind
from crawler.errors import PgolfError, first_line
from evaluator.serving.job_protocol import (LOOPS_STAGE, EvaluationRequest, JobResult, LoopsResult, Message,
                                            PlanMessage, ProgressMessage)

# The loop-wise analysis' cost in sliding-window passes over its slice, before the worker has measured one: the
# capture pass, the early exits at 1 to loops + 2 crawler loops, the logit lens of every stage, and reading the
# artifact and the validation split again. benchmarks/loops_weight.py measures it on the tiny preset with the CPU
# defaults (19.1 at 65,536 targets and 4,096 analysis tokens, one thread); the worker replaces it with what its
# last analysis measured.
LOOPS_PASSES = 19
_OUT_OF_MEMORY = ("can't allocate memory", "failed to map segment from shared object")
ANALYSIS_SEED = 0  # one fixed slice, so the analysis of the same artifact is the same every time


def one_line(exc: BaseException) -> str:
    text = first_line(exc)
    # a PgolfError's message is written for the user; anything else is named, since its text alone may not say
    return text if isinstance(exc, PgolfError) or text == type(exc).__name__ else f"{type(exc).__name__}: {text}"


def failure(exc: BaseException, request: EvaluationRequest) -> str:
    """What a job's page says went wrong: one_line, with an allocation refused under the limit named as such, and
    the server's paths (its data folder, where it keeps the uploaded files) named by what they hold."""
    limit = request.max_memory_bytes
    # under the address-space limit a refused mmap shows as MemoryError, as torch's "can't allocate memory", or as
    # an ImportError of a library that could not be mapped
    if limit and (isinstance(exc, MemoryError) or any(sign in str(exc) for sign in _OUT_OF_MEMORY)):
        return f"out of memory: this job may map {limit:,} bytes (PGOLF_JOB_MAX_MEMORY_BYTES)"
    text = one_line(exc)
    for path, name in ((request.artifact, "the artifact"), (request.tokenizer, "the tokenizer"),
                       (request.data_dir, "the server's data")):
        text = text.replace(path, name)
    return text


def run_loop_analysis(artifact: Path, data_dir: Path | None, tokenizer: Path | None, options: dict, tokens: int,
                      device, max_params: int | None = None) -> tuple[dict, dict[str, bytes]]:
    """The report of `pgolf loops` on the job's artifact and data (as a dict), and its plots as PNG bytes by name."""
    # torch and matplotlib load in the job's process only
    from evaluator.loopwise.analysis import analyse_artifact
    from evaluator.loopwise.loop_plots import write_plots

    report = analyse_artifact(artifact, data_dir, tokenizer, tokens=tokens, seq_len=options.get("seq_len"),
                              seed=ANALYSIS_SEED, loops=options.get("loops"), device=device, max_params=max_params)
    with tempfile.TemporaryDirectory(prefix="loops-") as out:
        plots = {path.stem: path.read_bytes() for path in write_plots(report, Path(out))}
    return report.to_dict(), plots


def run_evaluation(request: EvaluationRequest, send: Callable[[Message], None]) -> tuple[JobResult, dict[str, bytes]]:
    """The job's result and its loop-wise plots (PNG bytes by name), sending the plan and progress as it goes."""
    # torch and the evaluator take seconds to load: only the job's process pays for them
    import torch

    from evaluator.artifacts.eval_report import evaluate_artifact, single_process

    targets = {}  # the roundtrip pass scores each validation target once: its total is the result's target count

    def progress(stage: str, scored: int, to_score: int) -> None:
        if stage == MetricKind.ROUNDTRIP:
            targets["n"] = to_score
        elif to_score and "n" in targets:  # the same share of the same targets, whatever the pass scores twice
            scored, to_score = round(targets["n"] * scored / to_score), targets["n"]
        send(ProgressMessage(stage, scored, to_score))

    def plan(stages: list[tuple[str, int]]) -> None:
        loops = request.loops_tokens
        send(PlanMessage(list(stages) + ([(LOOPS_STAGE, loops * LOOPS_PASSES)] if loops else [])))

    artifact, data_dir, tokenizer = Path(request.artifact), Path(request.data_dir), Path(request.tokenizer)
    options = request.options
    device = torch.device(request.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cpu" and request.max_memory_bytes:
        # past it an allocation fails (MemoryError, or torch's RuntimeError) instead of the machine swapping
        resource.setrlimit(resource.RLIMIT_AS, (request.max_memory_bytes, request.max_memory_bytes))
    report = evaluate_artifact(artifact, data_path=data_dir, tokenizer_path=tokenizer,
                               max_tokens=options.get("max_tokens"), loops=options.get("loops"),
                               seq_len=options.get("seq_len"), stride=options.get("stride"),
                               dist_info=single_process(device), max_params=request.max_params,
                               on_progress=progress, on_plan=plan)
    result, plots = JobResult(report.to_dict()), {}
    if request.loops_tokens:
        progress(LOOPS_STAGE, 0, 0)
        try:
            loops, plots = run_loop_analysis(artifact, data_dir, tokenizer, options, request.loops_tokens, device,
                                             request.max_params)
        except Exception as exc:  # a split too short for the slice, out of memory...: the BPB still stands
            result.loops_error = failure(exc, request)
        else:
            result.loops = LoopsResult(loops)
    return result, plots
