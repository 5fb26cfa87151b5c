"""Where a claimed number is printed in a folder's logs, and why the reader did not take that line as the score.

When a claim does not match the headline, a reviewer's first question is whether the number is in a log at all
and, if so, what that line is: one seed's value beside a mean, another metric kind, a periodic validation during
training, a run set aside as another configuration or an earlier attempt, or a file the reader does not read.
"""
from __future__ import annotations

import re
from pathlib import Path
from dataclasses import dataclass

from evaluator.records.log_patterns import MAX_LINE
from evaluator.records.metric_kinds import KIND_WORDS
from evaluator.records.record import Record
from evaluator.records.submission import Claim
from evaluator.records.train_log import Metric, TrainLog, seed_name
from evaluator.records.untrusted_files import LOG_LIMIT, RecordFileError, read_capped

_NUMBER = re.compile(r"(?<![\d.])\d+\.(\d+)(?![\d.])")
_LOG_SUFFIXES = (".log", ".txt")
MAX_SHOWN = 3


@dataclass(frozen=True)
class PrintedClaim:
    file: str
    line: int
    text: str
    why_not: str  # why this line is not the headline


def _prints(claim: Claim, line: str) -> bool:
    """The line prints the claimed number to at least the claim's precision."""
    return any(len(m.group(1)) >= claim.decimals and claim.matches(float(m.group(0))) for m in _NUMBER.finditer(line))


def _in_run(log: TrainLog, file: str, line: int) -> bool:
    return log.file_name == file and log.first_line <= line <= log.n_lines


def _why_metric(record: Record, log: TrainLog, metric: Metric) -> str:
    kind = record.headline_kind
    if metric.kind is kind:
        return f"{seed_name(log)}'s {KIND_WORDS[kind]} BPB alone: the headline is the mean over {len(record.logs)} submitted runs"
    return (f"{seed_name(log)}'s {KIND_WORDS[metric.kind]} BPB, another metric kind than the headline's "
            f"({KIND_WORDS[kind] if kind else 'none'}: {record.headline_reason})")


def _why(record: Record, file: str, line: int) -> str:
    for log in record.logs:
        if metric := next((m for m in log.metrics if log.where(m) == (file, line)), None):
            return _why_metric(record, log, metric)
    if log := next((log for log in record.logs if _in_run(log, file, line)), None):
        if point := next((p for p in log.val_curve if p.line == line), None):
            return f"a periodic validation of {seed_name(log)} at step {point.step}/{point.total_steps}, not a final evaluation"
        return f"a line of {seed_name(log)}'s log the reader does not read as a final score"
    aside = next((a for a in record.set_aside if a.run == file or a.run.startswith(f"{file} lines ")), None)
    if aside:
        return f"in {aside.run}, a run set aside: {aside.reason}"
    if file in record.duplicate_logs:
        return f"a copy of {record.duplicate_logs[file]}"
    if file in record.ignored_logs:
        return "in a file without training lines (not read as a run)"
    return "in a file the reader does not read as a log (nested deeper than one folder)"


def printed_claim(record: Record, claim: Claim) -> list[PrintedClaim]:
    """The last lines (at most MAX_SHOWN, one per file) of the folder's .log and .txt files that print the claim,
    each with why it is not the headline."""
    found = []
    for name in record.files:
        if not name.lower().endswith(_LOG_SUFFIXES) or name.rsplit("/", 1)[-1].lower().startswith("requirements"):
            continue
        try:
            text = read_capped(Path(record.path, name), LOG_LIMIT).text()
        except RecordFileError:
            continue
        hits = [(number, raw) for number, raw in enumerate(text.split("\n"), 1)
                if len(raw) <= MAX_LINE and _prints(claim, raw)]
        if hits:
            number, raw = hits[-1]
            found.append(PrintedClaim(name, number, raw.strip()[:200], _why(record, name, number)))
    return found[:MAX_SHOWN]
