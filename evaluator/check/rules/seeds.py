"""Enough seeds to show an improvement."""
from __future__ import annotations

from evaluator.check.context import Context, seed_name
from evaluator.check.findings import Rule, RuleResult, Status

MIN_SEEDS = 3

RULE = Rule("seeds", f"At least {MIN_SEEDS} seeds", 60,
            "README: enough run logs to show the improvement at p < 0.01; in practice three seeds. Counted from the "
            "logs; seeds claimed without a log WARN.")


def check(ctx: Context) -> RuleResult:
    record, found = ctx.record, RULE.findings()
    seeds = sorted({log.seed for log in record.logs if log.seed is not None})
    claimed = record.submission.seeds if record.submission else []
    for log in record.logs:
        found.note(f"{seed_name(log)}: {log.file_name}" + (f" (seed from {log.seed_evidence})" if log.seed_evidence else ""),
                   log.file_name)
    missing = [s for s in claimed if s not in seeds]
    if missing:
        found.note(f"seeds claimed in submission.json without a log: {missing}", record.submission_file)
    status = Status.PASS if len(seeds) >= MIN_SEEDS and not missing else Status.WARN
    return found.result(f"{len(seeds)} distinct seed(s) with logs: {seeds}", status)
