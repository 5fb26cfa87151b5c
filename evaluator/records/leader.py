"""The leader at the time: the best record of a record's track dated before it, among the records given.

A record's date is its submission.json `date`, else the YYYY-MM-DD its folder name starts with; "best" is the lowest
mean of its per-seed scores (records.comparison.record_samples: the logs' headline BPB, else the claimed results).
"""
from __future__ import annotations

import math
import re
from datetime import date

from evaluator.records.comparison import record_samples
from evaluator.records.record import Record

_FOLDER_DATE = re.compile(r"^(\d{4}-\d\d-\d\d)")


def record_date(record: Record) -> date | None:
    if record.submission and record.submission.date:
        return record.submission.date
    found = _FOLDER_DATE.match(record.name)
    try:
        return date.fromisoformat(found.group(1)) if found else None
    except ValueError:
        return None


def _mean_bpb(record: Record) -> float | None:
    values = record_samples(record).bpb
    return math.fsum(values) / len(values) if values else None


def leader_before(record: Record, candidates: list[Record]) -> Record | None:
    """None when the record has no date or no earlier record of its track has a score."""
    when = record_date(record)
    if when is None:
        return None
    earlier = [(score, other.name, other) for other in candidates
               if other.path != record.path and other.track == record.track
               and (other_date := record_date(other)) is not None and other_date < when
               and (score := _mean_bpb(other)) is not None]
    return min(earlier, key=lambda item: item[:2])[2] if earlier else None
