"""What a rule reads: the record, the optional baseline and artifact evaluation, and the helpers several rules share
(how a seed is named in evidence, each seed's size as its log states it)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from evaluator.records.comparison import RecordComparison
from evaluator.records.record import Record
from evaluator.records.train_log import ByteCount, TrainLog

if TYPE_CHECKING:  # the evaluator pulls in torch; the checker needs only its report's fields
    from evaluator.artifacts.eval_report import EvalReport


@dataclass(frozen=True)
class Context:
    record: Record
    against: Record | None = None
    comparison: RecordComparison | None = None  # of record against `against`, computed once for every rule
    artifact: "EvalReport | None" = None


def commas(value: int | float) -> str:
    """A count (bytes, tokens) as evidence prints it: a whole number with thousands separators."""
    return f"{int(value):,}"


def where_logged(log: TrainLog, count: ByteCount | None) -> tuple[str, int | None]:
    """The file and line of a size a log prints, as a finding's evidence takes them (no line when it prints none)."""
    return log.file_name, count.line if count else None


def mean(values: list[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


@dataclass
class SeedSize:
    log: TrainLog
    model: int | None
    logged_total: int | None
    logged_code: ByteCount | None


def seed_sizes(record: Record) -> list[SeedSize]:
    """Each seed's compressed model and code + model total as its log states them (a total derived from the
    code and model lines when the log prints no total)."""
    sizes = []
    for log in record.logs:
        code, total = log.counted_code_bytes, log.total_bytes
        model = log.model_bytes.bytes if log.model_bytes else (total.bytes - code.bytes if total and code else None)
        logged = total.bytes if total else (code.bytes + model if code and model is not None else None)
        sizes.append(SeedSize(log, model, logged, code))
    return sizes
