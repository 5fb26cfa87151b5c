"""A record's standing under the challenge's own rules: what keeps it off the leaderboard, and what is only noted.

The challenge ranks a submission unless it breaks the size cap, the time caps or misstates its score; those rules
decide the verdict shown on the badges and used by the status filters. Everything else the checker finds (a file
left out of a copy, fewer than 3 seeds, a byte count in submission.json that does not match) is listed beside the
badge under its own rule's name, never folded into it.
"""
from __future__ import annotations

from evaluator.service import ComplianceReport, Status, worst

RANKING_RULES = ("size", "train_time", "eval_time", "claims")


def verdict(report: ComplianceReport) -> Status:
    """PASS, WARN or FAIL over the rules that decide a place on the leaderboard (a skipped rule decides nothing)."""
    found = worst([row.status for row in report.rows if row.rule in RANKING_RULES])
    return Status.PASS if found is Status.SKIP else found


def kept_out_by(report: ComplianceReport) -> list[str]:
    """The failing ranking rules, each with its summary: why the record is not ranked."""
    return [f"{row.title}: {row.summary}" for row in report.rows
            if row.rule in RANKING_RULES and row.status is Status.FAIL]


def flagged(report: ComplianceReport) -> list[str]:
    """Every rule that fails or warns, failures first, as 'STATUS: title: summary'."""
    rows = sorted((r for r in report.rows if r.status in (Status.FAIL, Status.WARN)), key=lambda r: r.status != Status.FAIL)
    return [f"{r.status.value}: {r.title}: {r.summary}" for r in rows]
