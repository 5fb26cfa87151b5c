"""Run an ablation: train every (arm, seed) without a finished result, evaluate its artifact, record it.

Results folder:
    ablation.toml               the file as last run (the web app reads the ablation from it)
    runs/<arm>_s<seed>/         the trainer's run: train.log, output.log, config.json, the .ptz and checkpoint
    results/<arm>_s<seed>.json  one per run, written once it is finished (ok) or has failed
    summary.json                the comparison table, rewritten after every run

A run is finished when its JSON says ok and holds the same config the file now asks for; a failed
run is tried again on the next invocation, a finished one never is. A changed file may add arms or
seeds; one that changes the settings of a finished run is refused before anything runs.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import re
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from crawler.config import environment_without_challenge_names
from crawler.contract import RUN_ARTIFACT, RUN_CONFIG, RUN_SUMMARY, MetricKind
from crawler.errors import PgolfError, first_line
from crawler.files import atomic_write_text
from evaluator.ablation.plan import AblationPlan, PlanError, RunSpec
from evaluator.artifacts.eval_report import EvalReport
from evaluator.artifacts.paths import evaluation_report
from evaluator.records import safe_json
from evaluator.records.run_summary import read_run_summary
from evaluator.records.untrusted_files import RecordFileError

PLAN_COPY = "ablation.toml"
RESULTS = "results"
OUTPUT_LOG = "output.log"
LOCK = ".lock"
# the same run under another folder is the same run; the step time a preset expects only decides a warning
_IGNORED_CONFIG = {"run_id", "out_dir", "cpu_step_ms"}


class RunFailed(Exception):
    pass


@dataclass
class RunResult:
    arm: str
    seed: int
    status: str  # ok | failed
    config: dict
    command: list[str]  # the training launch; the evaluation's is the plan's eval_command
    started: str
    wall_seconds: float
    error: str | None = None
    returncode: int | None = None
    steps: int | None = None
    train_seconds: float | None = None
    # from the evaluator's reload of the artifact (pre_quant from the float checkpoint it was exported from)
    bpb: dict[str, float] = field(default_factory=dict)  # pre_quant, roundtrip, sliding_window
    val_loss: dict[str, float] = field(default_factory=dict)
    scored_tokens: int | None = None
    model_bytes: int | None = None
    code_bytes: int | None = None
    total_bytes: int | None = None
    artifact_sha256: str | None = None
    # what the trainer itself logged for the same artifact, as a cross-check on the evaluator
    trainer_bpb: dict[str, float] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return f"{self.arm}_s{self.seed}"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "RunResult":
        return cls(**data)


def as_json(config: dict) -> dict:
    """A config as a result file holds it (a tuple reads back as a list)."""
    return json.loads(json.dumps(config))


def config_changes(planned: dict, recorded: dict) -> list[str]:
    """The fields two configs disagree on, apart from those that only name the run's folder."""
    a, b = as_json(planned), as_json(recorded)
    return sorted(k for k in a.keys() | b.keys() if k not in _IGNORED_CONFIG and a.get(k) != b.get(k))


def result_path(plan: AblationPlan, spec: RunSpec) -> Path:
    return plan.results_dir / RESULTS / f"{spec.run_id}.json"


def read_result(path: Path) -> RunResult | None:
    if not path.is_file():
        return None
    try:
        return RunResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, TypeError) as e:
        raise PlanError(f"{path}: not a run result ({first_line(e)}); delete it to run that arm again") from None


def recorded(plan: AblationPlan, spec: RunSpec) -> RunResult | None:
    """The run's result, finished (ok) or failed; an error if a finished one was made with settings the
    file no longer asks for."""
    result = read_result(result_path(plan, spec))
    if result is not None and result.ok and (changed := config_changes(spec.config.to_dict(), result.config)):
        raise PlanError(f"{result_path(plan, spec)} was run with other settings ({', '.join(changed)}); "
                        f"use a new results folder or delete that file")
    return result


def prepare_results_dir(plan: AblationPlan) -> None:
    """Create the folder and keep the file as run beside the results. A changed file may add arms or
    seeds; a finished run whose settings it changed is refused by `recorded`."""
    (plan.results_dir / RESULTS).mkdir(parents=True, exist_ok=True)
    atomic_write_text(plan.results_dir / PLAN_COPY, plan.text)


# a child's own report: pgolf's "error: ..." line or the last line of a Python traceback; torchrun
# prefixes worker lines with "[rankN]: " and ends with its own ChildFailedError banner, which names no cause
_REPORT = re.compile(r"^(?:\[rank\d+\]:\s*)?((?:error: |[A-Za-z_][\w.]*(?:Error|Exception|Interrupt)\b:?).*)$")
_BANNER = re.compile(r"^[=*-]+$")
_ROOT_CAUSE = "Root Cause (first observed failure):"  # torchrun's block on the rank that failed first
_ROOT_FIELD = re.compile(r"^(rank|exitcode)\s*:\s*(.+)$")  # in that block: which rank, how it ended


def error_line(output: Path) -> str:
    """What a failed trainer or evaluation said went wrong: its last error report; else, under torchrun, the rank
    that failed first and how (a worker killed by a signal prints nothing); else its last line."""
    try:
        lines = [line.strip() for line in output.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return "no output"
    reports = [m.group(1) for line in lines if (m := _REPORT.match(line)) and "ChildFailedError" not in line]
    if reports:
        return reports[-1][:500]
    if _ROOT_CAUSE in lines:
        block = lines[lines.index(_ROOT_CAUSE):]
        fields = {m[1]: " ".join(m[2].split()) for line in block if (m := _ROOT_FIELD.match(line))}
        if fields:
            return f"torchrun: rank {fields.get('rank', '?')} ended with exit code {fields.get('exitcode', '?')}"[:500]
    lines = [line for line in lines if line and not _BANNER.match(line)]
    return lines[-1][:500] if lines else "no output"


def _launch(command: list[str], output: Path) -> int:
    env, _ = environment_without_challenge_names()
    with open(output, "ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            return proc.wait()
        except BaseException:
            # Ctrl-C or a kill of the runner: stop the launcher (torchrun stops its workers) before leaving
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            raise


def _check_config(spec: RunSpec, run_dir: Path) -> None:
    config_file = run_dir / RUN_CONFIG
    if not config_file.is_file():
        raise RunFailed("the trainer exited without writing config.json")
    changed = config_changes(spec.config.to_dict(), json.loads(config_file.read_text()))
    if changed:
        raise RunFailed(f"the trainer ran other settings than planned: {', '.join(changed)}")


def _read_training(run_dir: Path, result: RunResult) -> None:
    """The trainer's own numbers, from the run.json it wrote."""
    try:
        summary = read_run_summary(run_dir)
    except (RecordFileError, safe_json.JsonError, ValueError) as e:
        raise RunFailed(f"the trainer's {RUN_SUMMARY} is unreadable ({first_line(e)})") from None
    if summary is None:
        raise RunFailed(f"the trainer exited without writing {RUN_SUMMARY}")
    result.steps = summary.steps
    result.train_seconds = summary.train_time_ms / 1000.0
    result.trainer_bpb = {MetricKind.PRE_QUANT.value: summary.pre_quant.val_bpb,
                          **{kind: score.val_bpb for kind, score in summary.scores.items()}}


def _read_evaluation(report_path: Path, result: RunResult) -> None:
    try:
        report = EvalReport.from_dict(json.loads(report_path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as e:
        raise RunFailed(f"the evaluation wrote no readable report ({first_line(e)})") from None
    except ValueError as e:
        raise RunFailed(f"{report_path}: {e}") from None
    passes = {MetricKind.PRE_QUANT: report.pre_quant, MetricKind.ROUNDTRIP: report.roundtrip,
              MetricKind.SLIDING_WINDOW: report.sliding_window}
    result.bpb = {kind.value: p.val_bpb for kind, p in passes.items() if p is not None}
    result.val_loss = {kind.value: p.val_loss for kind, p in passes.items() if p is not None}
    result.scored_tokens = report.max_tokens
    size = report.size
    result.model_bytes, result.code_bytes, result.total_bytes = size.model_bytes, size.code_bytes, size.total_bytes
    result.artifact_sha256 = report.sha256


def run_one(plan: AblationPlan, spec: RunSpec) -> RunResult:
    """Train, evaluate (as `pgolf eval` would), record. A crash of either is a failed result; an
    interrupt records nothing."""
    run_dir = plan.run_dir(spec)
    shutil.rmtree(run_dir, ignore_errors=True)  # an earlier failed attempt's files must not pass for this one's
    run_dir.mkdir(parents=True)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    result = RunResult(spec.arm, spec.seed, "failed", as_json(spec.config.to_dict()), plan.command(spec), started, 0.0)
    output = run_dir / OUTPUT_LOG
    try:
        result.returncode = _launch(plan.command(spec), output)
        if result.returncode != 0:
            raise RunFailed(f"training exited with status {result.returncode}: {error_line(output)}")
        _check_config(spec, run_dir)
        _read_training(run_dir, result)
        status = _launch(plan.eval_command(spec), output)
        if status != 0:
            raise RunFailed(f"evaluation exited with status {status}: {error_line(output)}")
        _read_evaluation(evaluation_report(run_dir / RUN_ARTIFACT), result)
        result.status = "ok"
    except (RunFailed, PgolfError, OSError, ValueError) as e:
        result.error = first_line(e)
    result.wall_seconds = time.perf_counter() - t0
    atomic_write_text(result_path(plan, spec), json.dumps(result.to_dict(), indent=1) + "\n")
    return result


def run_plan(plan: AblationPlan, only: list[str] | None = None,
             on_run: Callable[[RunSpec, RunResult | None, int, int], None] | None = None,
             after_run: Callable[[RunResult], None] | None = None) -> list[RunResult]:
    """Every pending run of the plan (or of the named arms), in order; returns the new results.

    on_run(spec, previous, index, total) is called before each run (previous: its failed attempt, if
    any); after_run(result) after each."""
    if only:
        for name in only:
            plan.arm(name)
    pending = [(s, previous) for s in plan.runs() if (not only or s.arm in only)
               and ((previous := recorded(plan, s)) is None or not previous.ok)]
    prepare_results_dir(plan)
    done = []
    with _exclusive(plan.results_dir):
        for index, (spec, previous) in enumerate(pending):
            if on_run:
                on_run(spec, previous, index, len(pending))
            result = run_one(plan, spec)
            done.append(result)
            if after_run:
                after_run(result)
    return done


@contextlib.contextmanager
def _exclusive(results_dir: Path):
    """One runner per results folder: two would train the same pending runs into the same folders."""
    with open(results_dir / LOCK, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PlanError(f"{results_dir}: another pgolf ablate is running on this results folder") from None
        yield


def plan_status(plan: AblationPlan) -> dict[str, list[RunSpec]]:
    """The plan's runs by state: finished, failed, pending."""
    states: dict[str, list[RunSpec]] = {"finished": [], "failed": [], "pending": []}
    for spec in plan.runs():
        result = recorded(plan, spec)
        states["pending" if result is None else "finished" if result.ok else "failed"].append(spec)
    return states


def results_of(plan: AblationPlan) -> list[RunResult]:
    """The recorded result of every planned run that has one (finished or failed), in plan order."""
    return [result for spec in plan.runs() if (result := recorded(plan, spec)) is not None]
