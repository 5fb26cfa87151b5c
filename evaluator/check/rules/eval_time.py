"""The scored evaluation within 600 s."""
from __future__ import annotations

from crawler.contract import EVAL_CAP_SECONDS, MetricKind
from evaluator.check.context import Context
from evaluator.check.findings import Findings, Rule, RuleResult, Status
from evaluator.check.rules.train_time import cap_status, timed_check
from evaluator.records.forensics import log_facts
from evaluator.records.headline import headline_metric
from evaluator.records.record import Record
from evaluator.records.train_log import TrainLog, seed_name


RULE = Rule("eval_time", "Evaluation time <= 600 s", 50,
            "Evaluation <= 600 s (FAQ): the scored evaluation's time, i.e. `total_eval_time` when the log prints it, "
            "else the eval_time of the headline metric's line. Each phase is listed, with the precomputation the log "
            "times before its evaluation timer starts (a compile warmup for test-time training); if all phases and "
            "that precomputation together exceed 600 s while the scored one fits, that WARNs (a stricter reading: "
            "openai/parameter-golf #2135 on precomputation and the evaluation timer). Non-record tracks are exempt.")


def _eval_phases(log: TrainLog) -> list[tuple[str, float, str, int]]:
    phases: dict[tuple[MetricKind, float], tuple[str, float, str, int]] = {}
    for metric in log.metrics:
        if metric.eval_time_ms is not None:
            # the rounded and exact prints of one evaluation share its time: count it once
            phases.setdefault((metric.kind, metric.eval_time_ms), (metric.label, metric.eval_time_ms, *log.where(metric)))
    return list(phases.values())


def _run(record: Record, log: TrainLog, found: Findings) -> float | None:
    name = seed_name(log)
    metric = headline_metric(log, record.headline_kind)
    if log.total_eval_time_ms:
        seconds, (file, line), source = log.total_eval_time_ms.value / 1000.0, (log.file_name, log.total_eval_time_ms.line), \
            "total_eval_time"
    elif metric and metric.eval_time_ms is not None:
        seconds, (file, line), source = metric.eval_time_ms / 1000.0, log.where(metric), metric.label
    else:
        found.add(Status.WARN, f"{name}: no evaluation time for the scored metric", log.file_name)
        return None
    phases = _eval_phases(log)
    facts = log_facts(log)
    phases += [(f"precomputation ('{phase.text[:60]}')", phase.seconds * 1000.0, log.file_name, phase.line)
               for phase in facts.phases if phase.kind == "precomputation"]
    # a reported 0 ms is no time at all: the evaluation cannot be confirmed within the cap
    status = Status.WARN if seconds == 0.0 else cap_status(record, seconds > EVAL_CAP_SECONDS)
    found.add(status, f"{name}: scored evaluation {seconds:.1f} s ({source})"
              + (" - reported as 0 ms" if seconds == 0.0 else ""),
              file, line)
    for label, ms, at_file, at_line in phases:
        found.note(f"{name}: {label} {ms / 1000.0:.1f} s", at_file, at_line)
    if facts.eval_timer:
        found.note(f"{name}: the script starts its evaluation timer here ('{facts.eval_timer.text[:80]}')",
                   log.file_name, facts.eval_timer.line)
    total = sum(phase[1] for phase in phases) / 1000.0
    if total > EVAL_CAP_SECONDS >= seconds:
        found.add(Status.WARN, f"{name}: all evaluation phases and precomputation together take {total:.1f} s",
                  log.file_name)
    return seconds


def check(ctx: Context) -> RuleResult:
    return timed_check(ctx, RULE, "scored evaluation", _run)
