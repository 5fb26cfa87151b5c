"""Pre-PR compliance report for a record folder: one row per rule, PASS / WARN / FAIL (SKIP where a
rule does not apply), each with its evidence (file:line and the numbers) and the reading of the rule.

Rules follow the challenge README ("Submission Process" and the FAQ): required files; code bytes +
compressed model bytes <= 16,000,000 (decimal); training and evaluation each <= 600 s on 8xH100;
enough seeds; a 0.005-nat improvement at p < 0.01 over a baseline; and every claim in
submission.json backed by the logs and the files. FAIL means the evidence contradicts a rule;
WARN means it cannot be confirmed from what the folder holds, or only under one reading.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from evaluator.records.compare import (PRACTICE_P_BAR, README_P_BAR, RECORD_MARGIN_NATS, Comparison,
                                       UnitComparison, compare)
from evaluator.records.embedded_source import normalised_sha256
from evaluator.records.files import LOG_LIMIT, RecordFileError, read_capped
from evaluator.records.headline import headline_metric
from evaluator.records.jsonable import JsonMixin
from evaluator.records.logs import ByteCount, TrainLog
from evaluator.records.metric_kinds import SCORE_PRIORITY, MetricKind
from evaluator.records.record import README_NAME, SUBMISSION_NAME, Record
from evaluator.records.seeds import SeedTable, seed_table
from evaluator.records.stats import WelchResult, population_std, summarize
from evaluator.records.submission import Claim

if TYPE_CHECKING:  # the evaluator pulls in torch; the checker needs only its report's fields
    from evaluator.artifact_eval import EvalReport

SIZE_CAP_BYTES = 16_000_000
TRAIN_CAP_S = 600.0
# a wallclock_cap stop ends after the step in flight; end-of-loop overshoots under this are accepted
WALLCLOCK_GRACE_S = 1.0
EVAL_CAP_S = 600.0
MIN_SEEDS = 3
EXPECTED_WORLD_SIZE = 8
SCRIPT_NAME = "train_gpt.py"
ARTIFACT_BPB_PASS = 1e-4
ARTIFACT_BPB_WARN = 1e-3


class Status(StrEnum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"


_SEVERITY = {Status.SKIP: 0, Status.PASS: 1, Status.WARN: 2, Status.FAIL: 3}


def worst(statuses: list[Status]) -> Status:
    return max(statuses, key=_SEVERITY.__getitem__, default=Status.SKIP)


@dataclass
class Evidence:
    text: str
    file: str | None = None
    line: int | None = None

    @property
    def where(self) -> str:
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass
class RuleResult:
    rule: str
    title: str
    status: Status
    summary: str
    reading: str
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class ComplianceReport(JsonMixin):
    record: str
    record_path: str
    against: str | None
    status: Status
    rows: list[RuleResult]
    seed_table: SeedTable
    comparison: Comparison | None

    @property
    def failed(self) -> bool:
        return self.status is Status.FAIL

    def to_markdown(self) -> str:
        lines = [f"### Compliance: `{self.record}` — **{self.status}**", ""]
        if self.against:
            lines += [f"Baseline: `{self.against}`", ""]
        lines += ["| Rule | Status | Summary |", "|---|---|---|"]
        lines += [f"| {row.title} | {row.status} | {_md(row.summary)} |" for row in self.rows]
        lines += ["", "#### Seeds", "", self.seed_table.to_markdown(), "", "<details><summary>Evidence and readings</summary>", ""]
        for row in self.rows:
            lines.append(f"**{row.title}** — {row.status}: {_md(row.summary)}  ")
            lines.append(f"_Reading:_ {_md(row.reading)}")
            lines += [f"- {_md(e.text)}" + (f" (`{e.where}`)" if e.where else "") for e in row.evidence]
            lines.append("")
        lines.append("</details>")
        return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _b(value: int | float) -> str:
    return f"{int(value):,}"


def _at(log: TrainLog, count: ByteCount | None) -> tuple[str, int | None]:
    return log.file_name, count.line if count else None


def _seed_name(log: TrainLog) -> str:
    return f"seed {log.seed}" if log.seed is not None else log.file_name


# ---------------------------------------------------------------- required files

def check_files(record: Record) -> RuleResult:
    statuses, evidence = [], []
    left_out = record.left_out

    def need(name: str, present: bool, alternatives: list[str] | None = None) -> None:
        if present:
            statuses.append(Status.PASS)
            evidence.append(Evidence(f"{name}: present", name))
        elif name in left_out or any(a in left_out for a in alternatives or []):
            statuses.append(Status.WARN)
            shown = name if name in left_out else next(a for a in alternatives or [] if a in left_out)
            evidence.append(Evidence(f"{name}: left out of this copy ({shown}, {_b(left_out[shown])} bytes per MANIFEST.json)",
                                     record.manifest.manifest if record.manifest else None))
        else:
            statuses.append(Status.FAIL)
            evidence.append(Evidence(f"{name}: missing"))

    need(README_NAME, record.readme_file is not None)
    if record.submission_file and record.submission_file != SUBMISSION_NAME:
        statuses.append(Status.WARN)
        evidence.append(Evidence(f"{SUBMISSION_NAME}: missing; found {record.submission_file} instead", record.submission_file))
    else:
        need(SUBMISSION_NAME, record.submission_file is not None,
             [name for name in left_out if name.startswith("submission") and name.endswith(".json")])
    if record.submission_error:
        statuses.append(Status.FAIL)
        evidence.append(Evidence(f"submission unreadable: {record.submission_error}", record.submission_file))
    if record.logs:
        statuses.append(Status.PASS)
        evidence.append(Evidence(f"train logs: {', '.join(log.file_name for log in record.logs)}"))
    else:
        logs_left_out = [n for n in left_out if n.endswith((".log", ".txt")) and "requirements" not in n]
        statuses.append(Status.WARN if logs_left_out else Status.FAIL)
        evidence.append(Evidence("train log: none with training lines"
                                 + (f"; left out of this copy: {', '.join(logs_left_out)}" if logs_left_out else "")))
    if record.ignored_logs:
        evidence.append(Evidence(f"log-like files without training lines: {', '.join(record.ignored_logs)}"))
    for name, why in record.refused.items():
        # a reviewer's checkout has no symlinks or device files in a record: whatever it points at is not shipped
        statuses.append(Status.FAIL)
        evidence.append(Evidence(f"{name}: {why}; a record ships regular files only", name))
    script = record.code.script
    if script and script.path == SCRIPT_NAME:
        need(SCRIPT_NAME, script.on_disk)
    else:
        statuses.append(Status.FAIL)
        other = f"; the script is {script.path}" + ("" if script.on_disk else " (left out of this copy)") if script else ""
        evidence.append(Evidence(f"{SCRIPT_NAME}: missing{other}"))
    status = worst(statuses)
    summary = {Status.PASS: "README.md, submission.json, train log(s) and train_gpt.py present",
               Status.WARN: "required files present or left out of this copy only",
               Status.FAIL: "required file(s) missing"}[status]
    return RuleResult("files", "Required files", status, summary,
                      "README 'Submission Process': README.md, submission.json, a train log produced by the script, "
                      "and train_gpt.py (plus its dependencies). Files MANIFEST.json lists as left out of this copy "
                      "count as present but unverifiable (WARN).", evidence)


# ---------------------------------------------------------------- size

@dataclass
class _SeedSize:
    log: TrainLog
    model: int | None
    logged_total: int | None
    logged_code: ByteCount | None


def _seed_sizes(record: Record) -> list[_SeedSize]:
    sizes = []
    for log in record.logs:
        code, total = log.counted_code_bytes, log.total_bytes
        model = log.model_bytes.bytes if log.model_bytes else (total.bytes - code.bytes if total and code else None)
        logged = total.bytes if total else (code.bytes + model if code and model is not None else None)
        sizes.append(_SeedSize(log, model, logged, code))
    return sizes


def _accounting_line(label: str, code_bytes: int, sizes: list[_SeedSize]) -> tuple[Evidence, bool] | None:
    totals = [(s.log, code_bytes + s.model) for s in sizes if s.model is not None]
    if not totals:
        return None
    log, total = max(totals, key=lambda pair: pair[1])
    fits = total <= SIZE_CAP_BYTES
    per_seed = " / ".join(_b(t) for _, t in totals)
    return Evidence(f"{label}: code {_b(code_bytes)} + model per seed = {per_seed}; worst {_seed_name(log)} "
                    f"{_b(total)} {'<=' if fits else '>'} {_b(SIZE_CAP_BYTES)}"), fits


def check_size(record: Record) -> RuleResult:
    sizes = _seed_sizes(record)
    evidence: list[Evidence] = []
    reading = ("FAQ: code bytes + compressed model bytes <= 16,000,000 (decimal). The verdict uses each log's own "
               "total (the code as the run counted it, a compressed wrapper included, plus the compressed model); "
               "the other accountings are shown and WARN when only they exceed the cap.")
    logged = [s for s in sizes if s.logged_total is not None]
    if not logged:
        claim = record.submission.bytes_total if record.submission else None
        if claim is not None:
            over = claim.value > SIZE_CAP_BYTES
            evidence.append(Evidence(f"submission.json {claim.key} = {_b(claim.value)} (claim only, no log size)",
                                     record.submission_file))
            return RuleResult("size", "Size <= 16,000,000 bytes", Status.FAIL if over else Status.WARN,
                              f"no log reports a size; the claimed {_b(claim.value)} bytes "
                              + ("exceeds the cap" if over else "cannot be verified"), reading, evidence)
        return RuleResult("size", "Size <= 16,000,000 bytes", Status.WARN, "no size in the logs or submission.json",
                          reading, evidence)
    statuses = []
    for s in logged:
        fits = s.logged_total <= SIZE_CAP_BYTES
        statuses.append(Status.PASS if fits else Status.FAIL)
        parts = []
        if s.logged_code:
            parts.append(f"code {_b(s.logged_code.bytes)} ({s.logged_code.label}, line {s.logged_code.line})")
        if s.model is not None:
            model_line = s.log.model_bytes
            parts.append(f"model {_b(s.model)}" + (f" ({model_line.label}, line {model_line.line})" if model_line else " (derived)"))
        total_line = s.log.total_bytes
        evidence.append(Evidence(
            f"{_seed_name(s.log)}: as logged {_b(s.logged_total)}" + (f" = {' + '.join(parts)}" if parts else "")
            + f"; {'headroom' if fits else 'over by'} {_b(abs(SIZE_CAP_BYTES - s.logged_total))}",
            *_at(s.log, total_line or s.logged_code)))
        if total_line and s.logged_code and s.model is not None and s.logged_code.bytes + s.model != total_line.bytes:
            evidence.append(Evidence(f"{_seed_name(s.log)}: logged total {_b(total_line.bytes)} is not code + model "
                                     f"({_b(s.logged_code.bytes + s.model)})", *_at(s.log, total_line)))
            statuses.append(Status.WARN)
    worst_seed = max(logged, key=lambda s: s.logged_total)
    evidence.append(Evidence(f"worst seed: {_seed_name(worst_seed.log)} at {_b(worst_seed.logged_total)} bytes",
                             *_at(worst_seed.log, worst_seed.log.total_bytes)))
    inventory = record.code
    script = inventory.script
    counts_compressed = any(s.log.code_bytes_compressed for s in sizes)
    if script:
        where = "" if script.on_disk else ", left out of this copy: MANIFEST.json size"
        if inventory.wrapper:
            unwrapped = inventory.wrapper.unwrapped_bytes
            label = (f"{script.path} as shipped: lzma+base85 wrapper ({_b(script.bytes)} bytes"
                     + (f", unwraps to {_b(unwrapped)}" if unwrapped else "") + ")")
        else:
            label = f"raw {script.path} ({_b(script.bytes)} bytes{where})"
        strict = [(label, script.bytes)]
        if inventory.helpers:
            names = ", ".join(f.path for f in inventory.helpers)
            strict.append((f"{script.path} + .py helpers ({names})", script.bytes + inventory.helper_bytes))
        if inventory.tokenizer_files:
            names = ", ".join(f.path for f in inventory.tokenizer_files)
            strict.append((f"all code + shipped tokenizer ({names})",
                           script.bytes + inventory.helper_bytes + inventory.tokenizer_bytes))
        for label, code_bytes in strict:
            line = _accounting_line(label, code_bytes, sizes)
            if line:
                evidence.append(line[0])
                if not line[1]:
                    statuses.append(Status.WARN)
        if counts_compressed and not inventory.wrapper:
            evidence.append(Evidence("the logs count a compressed code size: the record fits as logged only if "
                                     f"{script.path} ships as that compressed wrapper"))
    else:
        evidence.append(Evidence(f"no {SCRIPT_NAME} (on disk or in MANIFEST.json): only the logged sizes are known"))
        statuses.append(Status.WARN)
    status = worst(statuses)
    summary = (f"worst seed {_b(worst_seed.logged_total)} bytes as logged"
               + {Status.PASS: ", every accounting fits", Status.WARN: "; another accounting exceeds the cap or does not add up",
                  Status.FAIL: f" exceeds {_b(SIZE_CAP_BYTES)}"}[status])
    return RuleResult("size", "Size <= 16,000,000 bytes", status, summary, reading, evidence)


# ---------------------------------------------------------------- size claims

def check_size_claims(record: Record) -> RuleResult:
    sub = record.submission
    reading = ("submission.json byte counts against the logs (exact) and against the files: bytes_total should be "
               "the worst seed's logged total, bytes_code the code size the logs count and the shipped script's size.")
    if sub is None:
        return RuleResult("size_claims", "Size claims", Status.SKIP, "no submission.json", reading)
    sizes = _seed_sizes(record)
    statuses, evidence = [], []
    totals = {s.log.seed: s.logged_total for s in sizes if s.logged_total is not None}
    if sub.bytes_total is not None:
        claim, worst_total = sub.bytes_total, max(totals.values(), default=None)
        if worst_total is None:
            statuses.append(Status.WARN)
            evidence.append(Evidence(f"{claim.key} = {_b(claim.value)}: no logged total to compare", record.submission_file))
        elif claim.value == worst_total:
            statuses.append(Status.PASS)
            evidence.append(Evidence(f"{claim.key} = {_b(claim.value)} equals the worst seed's logged total", record.submission_file))
        else:
            mean = sum(totals.values()) / len(totals)
            matched = [seed for seed, t in totals.items() if t == claim.value]
            if matched or abs(claim.value - mean) <= 1:
                statuses.append(Status.WARN)
                what = f"seed {matched[0]}'s total" if matched else "the mean over seeds"
                evidence.append(Evidence(f"{claim.key} = {_b(claim.value)} is {what}, not the worst seed "
                                         f"({_b(worst_total)})", record.submission_file))
            else:
                statuses.append(Status.FAIL)
                evidence.append(Evidence(f"{claim.key} = {_b(claim.value)} matches no logged total "
                                         f"({', '.join(_b(t) for t in totals.values())})", record.submission_file))
    for seed, claim in sub.seed_claims.items():
        if claim.bytes_total is None:
            continue
        log = record.log_for_seed(seed)
        size = next((s for s in sizes if s.log is log), None)
        if size is None or size.logged_total is None:
            statuses.append(Status.WARN)
            evidence.append(Evidence(f"{claim.bytes_total.key} = {_b(claim.bytes_total.value)}: no log size for seed {seed}",
                                     record.submission_file))
        elif claim.bytes_total.value == size.logged_total:
            statuses.append(Status.PASS)
            evidence.append(Evidence(f"{claim.bytes_total.key} = {_b(claim.bytes_total.value)} matches", *_at(log, log.total_bytes)))
        elif claim.bytes_total.value == size.model:
            statuses.append(Status.WARN)
            evidence.append(Evidence(f"{claim.bytes_total.key} = {_b(claim.bytes_total.value)} is the model alone; "
                                     f"with code the seed totals {_b(size.logged_total)}", *_at(log, log.model_bytes)))
        else:
            statuses.append(Status.FAIL)
            evidence.append(Evidence(f"{claim.bytes_total.key} = {_b(claim.bytes_total.value)} but the log says "
                                     f"{_b(size.logged_total)}", *_at(log, log.total_bytes)))
    logged_codes = {c.bytes for log in record.logs
                    for c in (log.code_bytes, log.code_bytes_compressed, log.launcher_code_bytes) if c}
    script = record.code.script
    # what the folder ships as code: the script alone, or with its .py helpers (multi-file code)
    shipped: dict[str, int] = {}
    if script:
        where = "on disk" if script.on_disk else "per MANIFEST.json"
        shipped = {f"{script.path} {where}": script.bytes}
        if record.code.helpers:
            shipped[f"{script.path} + .py helpers"] = script.bytes + record.code.helper_bytes
    if sub.bytes_code is not None:
        claim = sub.bytes_code
        if not logged_codes:
            statuses.append(Status.WARN)
            evidence.append(Evidence(f"{claim.key} = {_b(claim.value)}: no code size in the logs", record.submission_file))
        elif claim.value in logged_codes:
            statuses.append(Status.PASS)
            evidence.append(Evidence(f"{claim.key} = {_b(claim.value)} matches the logged code size", record.submission_file))
        else:
            statuses.append(Status.FAIL)
            evidence.append(Evidence(f"{claim.key} = {_b(claim.value)} but the logs say {', '.join(map(_b, sorted(logged_codes)))}",
                                     record.submission_file))
        if script:
            equal = claim.value in shipped.values()
            statuses.append(Status.PASS if equal else Status.WARN)
            evidence.append(Evidence(f"{claim.key} = {_b(claim.value)} {'equals' if equal else 'differs from'} "
                                     + " / ".join(f"{label} ({_b(size)})" for label, size in shipped.items()), script.path))
    if sub.bytes_model is not None:
        models = {s.model for s in sizes if s.model is not None}
        ok = sub.bytes_model.value in models
        statuses.append(Status.PASS if ok else Status.FAIL if models else Status.WARN)
        found = ("matches a logged model size" if ok else
                 f"matches no logged model size ({', '.join(map(_b, sorted(models)))})" if models else "no model size in the logs")
        evidence.append(Evidence(f"{sub.bytes_model.key} = {_b(sub.bytes_model.value)}: {found}", record.submission_file))
    if script and logged_codes and record.code.wrapper is None:
        plain = {log.code_bytes.bytes for log in record.logs if log.code_bytes}
        if plain and not plain.intersection(shipped.values()):
            statuses.append(Status.WARN)
            evidence.append(Evidence(" / ".join(f"{label} is {_b(size)} bytes" for label, size in shipped.items())
                                     + f" but the logs ran {', '.join(map(_b, sorted(plain)))} bytes of code", script.path))
    if not statuses:
        return RuleResult("size_claims", "Size claims", Status.WARN, "submission.json states no byte counts", reading, evidence)
    status = worst(statuses)
    summary = {Status.PASS: "byte counts agree with logs and files",
               Status.WARN: "byte counts agree with the logs but not in every reading",
               Status.FAIL: "a byte count contradicts the logs"}[status]
    return RuleResult("size_claims", "Size claims", status, summary, reading, evidence)


# ---------------------------------------------------------------- time

def _cap_status(record: Record, over: bool) -> Status:
    if not over:
        return Status.PASS
    return Status.FAIL if record.is_timed_track else Status.WARN


def check_train_time(record: Record) -> RuleResult:
    reading = ("Training loop <= 600 s: the train_time at `stopping_early` (else the last step line). The step in "
               f"flight when the cap fires may end past 600 s; after a wallclock_cap stop an overshoot under "
               f"{WALLCLOCK_GRACE_S:g} s is accepted. A run on fewer than 8 GPUs is shown with its 8-GPU equivalent (time x N/8) and "
               "WARNs. A run that ends at ITERATIONS without a wallclock stop, or with the cap disabled or raised, "
               "is flagged. Non-record tracks are exempt (over-cap WARNs).")
    if not record.logs:
        return RuleResult("train_time", "Training time <= 600 s", Status.WARN, "no train log", reading)
    statuses, evidence = [], []
    longest = 0.0
    for log in record.logs:
        name, time = _seed_name(log), log.train_time_ms
        if time is None:
            statuses.append(Status.WARN)
            evidence.append(Evidence(f"{name}: no training time in the log", log.file_name))
            continue
        seconds = time.value / 1000.0
        longest = max(longest, seconds)
        stop = log.stop
        capped = stop is not None and "wallclock" in stop.reason
        within = seconds <= TRAIN_CAP_S or (capped and seconds < TRAIN_CAP_S + WALLCLOCK_GRACE_S)
        world = int(log.world_size.value) if log.world_size else None
        text = f"{name}: {seconds:.3f} s"
        text += (f" at stopping_early {stop.reason}, step {stop.step}/{stop.total_steps}" if stop
                 else f" at the last step line (step {log.final_step})")
        if seconds > TRAIN_CAP_S and within:
            text += f"; overshoot {seconds - TRAIN_CAP_S:.3f} s by the step in flight"
        if world is not None and world != EXPECTED_WORLD_SIZE:
            equivalent = seconds * world / EXPECTED_WORLD_SIZE
            text += f"; world_size {world}: 8-GPU equivalent {equivalent:.1f} s"
            statuses.append(Status.WARN if equivalent < TRAIN_CAP_S + WALLCLOCK_GRACE_S else _cap_status(record, True))
        else:
            statuses.append(_cap_status(record, not within))
        evidence.append(Evidence(text, log.file_name, time.line))
        if log.gptq_reserve_ms:
            evidence.append(Evidence(f"{name}: reserves {log.gptq_reserve_ms.value / 1000.0:.1f} s of the budget for GPTQ",
                                     log.file_name, log.gptq_reserve_ms.line))
        wallclock = log.max_wallclock_seconds
        if wallclock and (wallclock.value <= 0 or wallclock.value > TRAIN_CAP_S):
            statuses.append(Status.WARN)
            evidence.append(Evidence(f"{name}: max_wallclock_seconds={wallclock.value:g}: the 600 s cap is disabled or raised",
                                     log.file_name, wallclock.line))
        final = log.final_step
        if stop is None and final is not None and log.iterations and final >= log.iterations.value:
            statuses.append(Status.WARN)
            evidence.append(Evidence(f"{name}: ran all {int(log.iterations.value)} ITERATIONS with no wallclock stop: "
                                     "a forced step count", log.file_name, log.iterations.line))
    status = worst(statuses)
    summary = f"longest training loop {longest:.1f} s" + ("" if record.is_timed_track else " (non-record track: cap not required)")
    return RuleResult("train_time", "Training time <= 600 s", status, summary, reading, evidence)


def _eval_phases(log: TrainLog) -> list[tuple[str, float, int]]:
    phases: dict[tuple[MetricKind, float], tuple[str, float, int]] = {}
    for metric in log.metrics:
        if metric.eval_time_ms is not None:
            # the rounded and exact prints of one evaluation share its time: count it once
            phases.setdefault((metric.kind, metric.eval_time_ms), (metric.label, metric.eval_time_ms, metric.line))
    return list(phases.values())


def check_eval_time(record: Record) -> RuleResult:
    reading = ("Evaluation <= 600 s (FAQ): the scored evaluation's time, i.e. `total_eval_time` when the log prints it, "
               "else the eval_time of the headline metric's line. Each phase is listed; if all phases together exceed "
               "600 s while the scored one fits, that WARNs (a stricter reading). Non-record tracks are exempt.")
    if not record.logs:
        return RuleResult("eval_time", "Evaluation time <= 600 s", Status.WARN, "no train log", reading)
    statuses, evidence = [], []
    longest = 0.0
    for log in record.logs:
        name = _seed_name(log)
        metric = headline_metric(log, record.headline_kind)
        if log.total_eval_time_ms:
            seconds, line, source = log.total_eval_time_ms.value / 1000.0, log.total_eval_time_ms.line, "total_eval_time"
        elif metric and metric.eval_time_ms is not None:
            seconds, line, source = metric.eval_time_ms / 1000.0, metric.line, metric.label
        else:
            statuses.append(Status.WARN)
            evidence.append(Evidence(f"{name}: no evaluation time for the scored metric", log.file_name))
            continue
        longest = max(longest, seconds)
        statuses.append(_cap_status(record, seconds > EVAL_CAP_S))
        if seconds == 0.0:
            statuses.append(Status.WARN)
        phases = _eval_phases(log)
        listed = ", ".join(f"{label} {ms / 1000.0:.1f} s" for label, ms, _ in phases)
        evidence.append(Evidence(f"{name}: scored evaluation {seconds:.1f} s ({source})"
                                 + (" - reported as 0 ms" if seconds == 0.0 else "")
                                 + (f"; phases: {listed}" if listed else ""), log.file_name, line))
        total = sum(ms for _, ms, _ in phases) / 1000.0
        if total > EVAL_CAP_S >= seconds:
            statuses.append(Status.WARN)
            evidence.append(Evidence(f"{name}: all evaluation phases together take {total:.1f} s", log.file_name))
    status = worst(statuses)
    summary = f"longest scored evaluation {longest:.1f} s" + ("" if record.is_timed_track else " (non-record track: cap not required)")
    return RuleResult("eval_time", "Evaluation time <= 600 s", status, summary, reading, evidence)


# ---------------------------------------------------------------- seeds and significance

def check_seeds(record: Record) -> RuleResult:
    seeds = sorted({log.seed for log in record.logs if log.seed is not None})
    claimed = record.submission.seeds if record.submission else []
    evidence = [Evidence(f"{_seed_name(log)}: {log.file_name}" + (f" (seed from {log.seed_evidence})" if log.seed_evidence else ""),
                         log.file_name) for log in record.logs]
    missing = [s for s in claimed if s not in seeds]
    if missing:
        evidence.append(Evidence(f"seeds claimed in submission.json without a log: {missing}", record.submission_file))
    status = Status.PASS if len(seeds) >= MIN_SEEDS and not missing else Status.WARN
    return RuleResult("seeds", f"At least {MIN_SEEDS} seeds", status, f"{len(seeds)} distinct seed(s) with logs: {seeds}",
                      "README: enough run logs to show the improvement at p < 0.01; in practice three seeds. "
                      "Counted from the logs; seeds claimed without a log WARN.", evidence)


def _welch_text(result: WelchResult | None) -> str:
    if result is None:
        return "n/a"
    if result.p_value is None:
        return f"n/a ({result.note})"
    t = f"t={result.t:.3f}, df={result.df:.2f}, " if result.t is not None else ""
    return f"{t}p={result.p_value:.4g}"


def _unit_text(unit: UnitComparison) -> str:
    names = {"bpb": "BPB", "nats_per_byte": "nats/byte", "nats_per_token": "nats/token"}
    if unit.delta is None:
        return f"{names[unit.unit]}: no values"
    text = (f"{names[unit.unit]}: candidate {unit.candidate.mean:.8f} (n={unit.candidate.n}) vs baseline "
            f"{unit.baseline.mean:.8f} (n={unit.baseline.n}), delta {unit.delta:+.8f}; better at all: {_welch_text(unit.better)}")
    if unit.better_by_margin is not None:
        text += f"; better by {RECORD_MARGIN_NATS} nats: {_welch_text(unit.better_by_margin)}"
    return text


def check_significance(record: Record, baseline: Record | None) -> tuple[RuleResult, Comparison | None]:
    reading = (f"README: beat the SOTA by at least {RECORD_MARGIN_NATS} nats, shown at p < {README_P_BAR} (one-sided "
               "Welch t-test over seeds). 'nats' is read as nats per token (val_loss) when both records use the same "
               "tokenizer, else as nats per byte (BPB x ln 2). In practice the maintainers' leaderboard "
               f"(openai/parameter-golf PR #1902) admits a row at one-sided Welch p < {PRACTICE_P_BAR} for 'better at "
               "all' against the previous frontier: meeting only that bar WARNs.")
    if baseline is None:
        return RuleResult("significance", "Improvement over a baseline", Status.SKIP, "no --against baseline given",
                          reading), None
    comparison = compare(record, baseline)
    evidence = [Evidence(_unit_text(unit)) for unit in comparison.units.values()]
    evidence += [Evidence(note) for note in comparison.notes]
    decisive = comparison.decisive
    margin_p = decisive.better_by_margin.p_value if decisive.better_by_margin else None
    better_p = decisive.better.p_value if decisive.better else None
    if margin_p is not None and margin_p < README_P_BAR:
        status, summary = Status.PASS, f"better by {RECORD_MARGIN_NATS} {decisive.unit.replace('_', ' ')}: p={margin_p:.4g} < {README_P_BAR}"
    elif better_p is not None and better_p < PRACTICE_P_BAR:
        status, summary = Status.WARN, (f"better at all p={better_p:.4g} (< {PRACTICE_P_BAR}, practice bar); "
                                        f"the {RECORD_MARGIN_NATS}-nat margin p={_p(margin_p)} misses p < {README_P_BAR}")
    elif better_p is None:
        status, summary = Status.WARN, "too few seeds for a Welch test (need 2 per side)"
    else:
        status, summary = Status.FAIL, f"not better than the baseline: p={better_p:.4g} >= {PRACTICE_P_BAR}"
    return RuleResult("significance", "Improvement over a baseline", status, summary, reading, evidence), comparison


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


# ---------------------------------------------------------------- claims vs evidence

def _mean(values: list[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def _claim_text(claim: Claim) -> str:
    return f"{claim.value:.{claim.decimals}f}"


def _value_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.8f}"


def _log_name(log: TrainLog) -> str:
    return f"{log.file_name} (seed {log.seed})" if log.seed is not None else log.file_name


class _ClaimChecker:
    def __init__(self, record: Record):
        self.record = record
        self.statuses: list[Status] = []
        self.evidence: list[Evidence] = []

    def note(self, status: Status, text: str, file: str | None = None, line: int | None = None) -> None:
        self.statuses.append(status)
        self.evidence.append(Evidence(text, file, line))

    def compare(self, claim: Claim, value: float | None, what: str, where: tuple[str | None, int | None],
                alternatives: dict[str, float | None] | None = None, derived: bool = False) -> None:
        """derived: a statistic the submitter computed (a std); a mismatch WARNs instead of failing."""
        shown = f"{claim.key} = {_claim_text(claim)}"
        if value is None:
            self.note(Status.WARN, f"{shown}: the logs show no {what}", self.record.submission_file)
        elif claim.matches(value):
            self.note(Status.PASS, f"{shown} matches {what} {_value_text(value)} (tolerance {claim.tolerance:.1g})", *where)
        else:
            other = next((name for name, v in (alternatives or {}).items() if claim.matches(v)), None)
            self.note(Status.WARN if other or derived else Status.FAIL,
                      f"{shown} but {what} is {_value_text(value)}" + (f"; it matches {other} instead" if other else ""), *where)


def _kind_values(log: TrainLog) -> dict[str, float | None]:
    return {f"the {k} BPB": (m.val_bpb if (m := log.final(k)) else None) for k in SCORE_PRIORITY}


def _pre_quant(log: TrainLog) -> float | None:
    """The explicit pre-quant line, else the training loop's last validation (taken before quantisation)."""
    if metric := log.final(MetricKind.PRE_QUANT):
        return metric.val_bpb
    return log.val_curve[-1].val_bpb if log.val_curve else None


def _check_top_level(checker: _ClaimChecker, record: Record) -> None:
    sub, kind, logs = record.submission, record.headline_kind, record.logs
    metrics = [(log, m) for log in logs if (m := headline_metric(log, kind))]
    first = (metrics[0][0].file_name, metrics[0][1].line) if metrics else (None, None)
    bpbs = [m.val_bpb for _, m in metrics]
    losses = [m.val_loss for _, m in metrics if m.val_loss is not None]
    n = f"{len(metrics)} log(s)"
    top = [(name, claim) for name, claim in sub.numbers.items()] + sub.alias_claims
    for claim in (claim for name, claim in top if name == "val_bpb"):
        checker.compare(claim, _mean(bpbs), f"the mean {kind} BPB over {n}", first,
                        {f"{_log_name(log)}'s value": m.val_bpb for log, m in metrics})
    for claim in (claim for name, claim in top if name == "val_loss"):
        checker.compare(claim, _mean(losses) if len(losses) == len(metrics) else None, f"the mean {kind} val_loss over {n}",
                        first, {f"{_log_name(log)}'s value": m.val_loss for log, m in metrics})
    for name, values in (("val_bpb_std", bpbs), ("val_loss_std", losses)):
        if (claim := sub.numbers.get(name)) is not None:
            checker.compare(claim, summarize(values).std, f"the sample std over {n}", (None, None),
                            {"the population std": population_std(values)}, derived=True)
    if (claim := sub.numbers.get("pre_quant_val_bpb")) is not None:
        values = [v for log in logs if (v := _pre_quant(log)) is not None]
        checker.compare(claim, _mean(values), "the mean pre-quant BPB", first)
    if (claim := sub.numbers.get("train_steps")) is not None:
        checker.compare(claim, _mean([s for log in logs if (s := log.final_step) is not None]),
                        "the final step (mean over logs)", first,
                        {f"{_log_name(log)}'s final step": log.final_step for log in logs})
    if (claim := sub.numbers.get("train_time_s")) is not None:
        checker.compare(claim, _mean([t.value / 1000.0 for log in logs if (t := log.train_time_ms)]),
                        "the training time in s (mean over logs)", first,
                        {f"{_log_name(log)}'s time": t.value / 1000.0 for log in logs if (t := log.train_time_ms)})
    if (claim := sub.numbers.get("model_params")) is not None:
        params = {log.model_params.value for log in logs if log.model_params}
        checker.compare(claim, params.pop() if len(params) == 1 else None, "single model_params value", first)


def _check_seed(checker: _ClaimChecker, record: Record, seed: int, numbers: dict[str, Claim]) -> None:
    log = record.log_for_seed(seed)
    if log is None:
        checker.note(Status.WARN, f"seed {seed}: claimed results but no log", record.submission_file)
        return
    kind = record.headline_kind
    metric = headline_metric(log, kind)
    where = (log.file_name, metric.line if metric else None)
    if "val_bpb" in numbers:
        checker.compare(numbers["val_bpb"], metric.val_bpb if metric else None, f"the {kind} BPB", where, _kind_values(log))
    if "val_loss" in numbers:
        checker.compare(numbers["val_loss"], metric.val_loss if metric else None, f"the {kind} val_loss", where)
    if "steps" in numbers:
        checker.compare(numbers["steps"], log.final_step, "the final step",
                        (log.file_name, log.stop.line if log.stop else None))
    if "train_time_s" in numbers:
        time = log.train_time_ms
        checker.compare(numbers["train_time_s"], time.value / 1000.0 if time else None, "the training time in s",
                        (log.file_name, time.line if time else None))
    if "eval_time_s" in numbers:
        eval_ms = log.total_eval_time_ms.value if log.total_eval_time_ms else metric.eval_time_ms if metric else None
        checker.compare(numbers["eval_time_s"], eval_ms / 1000.0 if eval_ms is not None else None,
                        "the evaluation time in s", where)


def check_claims(record: Record) -> RuleResult:
    reading = ("Every number in submission.json against the logs. A claim matches a log value that rounds to it: "
               "tolerance is half a unit in the claim's last decimal (1.1874 -> ±5e-5, 1.18742567 -> ±5e-9), so "
               "step counts and other integers must be equal. Top-level values are compared with the mean over the "
               "logs of the headline kind; matching only one seed's value, the population std, or another metric "
               "kind WARNs, and so does a std that does not reproduce (a derived statistic). Byte counts are checked "
               "under 'Size claims'.")
    sub = record.submission
    if sub is None:
        return RuleResult("claims", "Claims vs evidence", Status.SKIP, "no submission.json", reading)
    checker = _ClaimChecker(record)
    if record.logs:
        _check_top_level(checker, record)
    else:
        checker.note(Status.WARN, "no train log: the claimed numbers cannot be checked", record.submission_file)
    for seed, seed_claim in sub.seed_claims.items():
        _check_seed(checker, record, seed, seed_claim.numbers)
    unclaimed = [log.seed for log in record.logs if log.seed is not None and sub.seeds and log.seed not in sub.seeds]
    if unclaimed:
        checker.note(Status.WARN, f"logs for seeds {unclaimed} that submission.json does not list", record.submission_file)
    if sub.missing:
        checker.note(Status.WARN, f"core fields missing from submission.json: {', '.join(sub.missing)}", record.submission_file)
    if not checker.statuses:
        return RuleResult("claims", "Claims vs evidence", Status.WARN, "no checkable numbers in submission.json",
                          reading, checker.evidence)
    status = worst(checker.statuses)
    summary = {Status.PASS: "every claimed number matches the logs",
               Status.WARN: "claims match the logs only in part or under another reading",
               Status.FAIL: "a claimed number contradicts the logs"}[status]
    return RuleResult("claims", "Claims vs evidence", status, summary, reading, checker.evidence)


# ---------------------------------------------------------------- embedded source

def check_source(record: Record) -> RuleResult:
    reading = ("When a log embeds the training script, its bytes (the lines before the '=' separator) must hash "
               f"(SHA-256) equal to the shipped {SCRIPT_NAME}; equal only after trimming trailing whitespace WARNs.")
    embedded = [log for log in record.logs if log.source]
    if not embedded:
        return RuleResult("source", "Embedded source = train_gpt.py", Status.SKIP, "no log embeds its source", reading)
    folder = Path(record.path)
    script = record.code.script
    statuses, evidence = [], []
    for log in embedded:
        span = log.source
        name = _seed_name(log)
        if script is None or not script.on_disk:
            statuses.append(Status.WARN)
            size_note = ""
            if script is not None:
                same = "equals" if span.n_bytes == script.bytes else "differs from"
                size_note = f"; its size {_b(span.n_bytes)} {same} the MANIFEST.json size of {script.path} ({_b(script.bytes)})"
            evidence.append(Evidence(f"{name}: embedded source sha256 {span.sha256[:12]}; {SCRIPT_NAME} not in this copy"
                                     + size_note, log.file_name, span.first_line))
            continue
        try:
            data = read_capped(folder / script.path, LOG_LIMIT).data
        except RecordFileError as exc:
            statuses.append(Status.WARN)
            evidence.append(Evidence(f"{name}: {exc}", script.path))
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest == span.sha256:
            statuses.append(Status.PASS)
            evidence.append(Evidence(f"{name}: embedded source (lines {span.first_line}-{span.last_line}) sha256 "
                                     f"{digest[:12]} equals {script.path}", log.file_name, span.first_line))
            continue
        close = span.normalised_sha256 == normalised_sha256(data.decode("utf-8", errors="surrogateescape"))
        statuses.append(Status.WARN if close else Status.FAIL)
        evidence.append(Evidence(f"{name}: embedded source sha256 {span.sha256[:12]} ({_b(span.n_bytes)} bytes) vs "
                                 f"{script.path} {digest[:12]} ({_b(len(data))} bytes)"
                                 + (": equal after trimming whitespace" if close else ": different code"),
                                 log.file_name, span.first_line))
    status = worst(statuses)
    summary = {Status.PASS: f"embedded source hashes equal to {SCRIPT_NAME}",
               Status.WARN: "embedded source could not be confirmed byte for byte",
               Status.FAIL: f"a log ran different code than the shipped {SCRIPT_NAME}"}[status]
    return RuleResult("source", "Embedded source = train_gpt.py", status, summary, reading, evidence)


# ---------------------------------------------------------------- artifact re-evaluation

def check_artifact(record: Record, report: "EvalReport") -> RuleResult:
    """Compare the artifact evaluator's recomputed BPB and bytes with what the record's logs claim."""
    reading = (f"The artifact is re-evaluated (evaluator.artifact_eval). Its file size must equal a seed's logged "
               f"compressed model size (that seed is the reference) and code + model must stay <= {_b(SIZE_CAP_BYTES)}. "
               f"On the full validation split the recomputed BPB must be within {ARTIFACT_BPB_PASS:g} of the logged "
               f"one (different GPU counts and kernels reorder float sums); within {ARTIFACT_BPB_WARN:g} WARNs. "
               "A prefix-only evaluation (the CPU default) is shown but cannot confirm the claim (WARN).")
    size = report.size
    evidence = [Evidence(f"artifact {report.artifact} sha256 {report.sha256[:12]}: {_b(size.model_bytes)} bytes; "
                         f"{report.prefix_note}", report.artifact)]
    statuses: list[Status] = []
    log = next((log for log in record.logs if log.model_bytes and log.model_bytes.bytes == size.model_bytes), None)
    if log is None:
        statuses.append(Status.WARN)
        evidence.append(Evidence("its size matches no seed's logged model size: compared with the record's means"))
    else:
        statuses.append(Status.PASS)
        evidence.append(Evidence(f"its size equals {_seed_name(log)}'s logged model size", *_at(log, log.model_bytes)))
    if size.total_bytes is not None:
        fits = size.total_bytes <= SIZE_CAP_BYTES
        statuses.append(Status.PASS if fits else Status.FAIL)
        evidence.append(Evidence(f"code {_b(size.code_bytes)} ({size.code_source}) + model {_b(size.model_bytes)} = "
                                 f"{_b(size.total_bytes)} {'<=' if fits else '>'} {_b(SIZE_CAP_BYTES)}"))
        if log and log.total_bytes and log.total_bytes.bytes != size.total_bytes:
            statuses.append(Status.WARN)
            evidence.append(Evidence(f"the log's total is {_b(log.total_bytes.bytes)}", *_at(log, log.total_bytes)))
    full = report.max_tokens >= report.sliding["available_tokens"]
    for kind, result in ((MetricKind.ROUNDTRIP, report.roundtrip), (MetricKind.SLIDING_WINDOW, report.sliding)):
        recomputed = result["val_bpb"]
        if log is not None:
            metric = log.final(kind)
            logged, where = (metric.val_bpb, (log.file_name, metric.line)) if metric else (None, (None, None))
        else:
            logged, where = _mean([m.val_bpb for lg in record.logs if (m := lg.final(kind))]), (None, None)
        if logged is None:
            statuses.append(Status.WARN)
            evidence.append(Evidence(f"{kind}: recomputed {recomputed:.8f}; no logged {kind} BPB to compare"))
            continue
        delta = recomputed - logged
        if not full:
            statuses.append(Status.WARN)
            verdict = "prefix only: not comparable with the full-split number"
        elif abs(delta) <= ARTIFACT_BPB_PASS:
            statuses.append(Status.PASS)
            verdict = "reproduces"
        else:
            statuses.append(Status.WARN if abs(delta) <= ARTIFACT_BPB_WARN else Status.FAIL)
            verdict = "differs"
        evidence.append(Evidence(f"{kind}: recomputed {recomputed:.8f} vs logged {logged:.8f} (delta {delta:+.8f}): "
                                 f"{verdict}", *where))
    status = worst(statuses)
    summary = {Status.PASS: "the artifact reproduces the logged BPB and size",
               Status.WARN: "the artifact could not confirm every logged number",
               Status.FAIL: "the artifact contradicts the logged BPB or breaks the size cap"}[status]
    return RuleResult("artifact", "Artifact re-evaluation", status, summary, reading, evidence)


# ---------------------------------------------------------------- report

def compliance_report(record: Record, against: Record | None = None,
                      artifact_report: "EvalReport | None" = None) -> ComplianceReport:
    """Every rule on one record; `against` adds the significance test, `artifact_report` (from
    evaluator.artifact_eval.evaluate_artifact) the re-evaluation."""
    significance, comparison = check_significance(record, against)
    artifact = check_artifact(record, artifact_report) if artifact_report is not None else RuleResult(
        "artifact", "Artifact re-evaluation", Status.SKIP, "no --artifact given",
        "With --artifact the evaluator recomputes BPB and bytes from the .ptz.")
    rows = [check_files(record), check_size(record), check_size_claims(record), check_train_time(record),
            check_eval_time(record), check_seeds(record), significance, check_claims(record), check_source(record),
            artifact]
    return ComplianceReport(record=record.name, record_path=record.path, against=against.name if against else None,
                            status=worst([row.status for row in rows]), rows=rows, seed_table=seed_table(record),
                            comparison=comparison)
