"""What every rule builds: findings (a status with its evidence) collected into one row of the report."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


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
    status: Status | None = None  # the finding's own status; None on a note

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


@dataclass(frozen=True)
class Rule:
    """A rule's identity and its reading of the challenge README, stated once in its module."""
    id: str
    title: str
    order: int  # the row's place in the report
    reading: str

    def skip(self, summary: str) -> RuleResult:
        return RuleResult(self.id, self.title, Status.SKIP, summary, self.reading)

    def findings(self) -> Findings:
        return Findings(self)


class Findings:
    """One rule's findings: each judged line adds a status and its evidence; notes add evidence only."""

    def __init__(self, rule: Rule):
        self.rule = rule
        self.statuses: list[Status] = []
        self.evidence: list[Evidence] = []

    def add(self, status: Status, text: str, file: str | None = None, line: int | None = None) -> None:
        self.statuses.append(status)
        self.evidence.append(Evidence(text, file, line, status))

    def note(self, text: str, file: str | None = None, line: int | None = None) -> None:
        self.evidence.append(Evidence(text, file, line))

    @property
    def status(self) -> Status:
        return worst(self.statuses)

    def result(self, summary: str | dict[Status, str], status: Status | None = None) -> RuleResult:
        """The row: the worst status found (or `status`), with a summary given per status or as one text."""
        final = status or self.status
        text = summary[final] if isinstance(summary, dict) else summary
        return RuleResult(self.rule.id, self.rule.title, final, text, self.rule.reading, self.evidence)
