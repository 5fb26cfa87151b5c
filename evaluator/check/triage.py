"""Triage of many record folders in one process (`pgolf check ROOT --all`): one row per folder with its overall
status, headline, metric kind, seeds, worst seed's bytes, the failing rules, and how its val_bpb claim fares.

A reviewer handed a pile of pull requests wants to see which folders need a look first. Each folder is read and
checked on its own: a folder whose reading raises is a row with status ERROR and the error, and the run goes on.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

from crawler.errors import first_line
from crawler.files import atomic_write_text
from evaluator.check.compliance import ComplianceReport, compliance_report
from evaluator.check.findings import RuleResult, Status
from evaluator.check.rules.claims import one_unit_off
from evaluator.csv_table import csv_table
from evaluator.records.jsonable import JsonMixin
from evaluator.records.record import Record, find_record_folders, load_record

ERROR = "ERROR"  # the folder's reading or checking raised: a defect of the checker, never of the folder


class ClaimVerdict(StrEnum):
    """How the folder's top-level val_bpb claim fares against the headline the reader took."""
    AGREES = "agrees"  # the headline rounds to the claim
    ROUNDING = "one unit off"  # a claim of 4+ decimals one unit off in its last decimal (a mean of rounded values)
    FLAGGED = "flagged"  # it does not, and the claims rule says so (WARN or FAIL on a val_bpb line)
    SILENT = "silent"  # it does not, and the claims rule passes: a reader defect
    CLAIMED_ONLY = "claimed only"  # a claim and no log to check it against
    NO_CLAIM = "no claim"


@dataclass
class TriageRow(JsonMixin):
    folder: str  # relative to the root
    status: str  # the report's overall status, or ERROR
    headline_bpb: float | None
    kind: str | None
    seeds: list[int]
    worst_bytes: int | None
    failing: list[str]  # the rules that FAIL
    claimed_bpb: float | None
    claim: ClaimVerdict | None
    has_logs: bool
    error: str | None = None

    def cells(self) -> list[str]:
        bpb = "-" if self.headline_bpb is None else f"{self.headline_bpb:.5f}"
        claimed = "-" if self.claimed_bpb is None else f"{self.claimed_bpb:g}"
        worst = "-" if self.worst_bytes is None else f"{self.worst_bytes:,}"
        return [self.folder, self.status, bpb, self.kind or "-", str(len(self.seeds)), worst, claimed,
                self.claim or "-", self.error or ", ".join(self.failing)]


TABLE_HEADER = ["Folder", "Status", "Headline", "Kind", "Seeds", "Worst bytes", "Claimed", "Claim", "Failing"]
CSV_FIELDS = ["folder", "status", "headline_bpb", "kind", "seeds", "worst_bytes", "failing", "claimed_bpb", "claim",
              "has_logs", "error"]


def _about_val_bpb(text: str) -> bool:
    """A claims finding about the val_bpb claim itself (not its std, not the pre-quant claim)."""
    first = text.split(" ", 1)[0]
    return "val_bpb" in text and "std" not in first and "pre_quant" not in first


def has_logs(record: Record) -> bool:
    """The folder ships a log of some run: a submitted one, one set aside, or a .log the reader found no lines in."""
    return bool(record.logs or record.set_aside or any(name.endswith(".log") for name in record.ignored_logs))


def claim_verdict(record: Record, headline: float | None, claims: RuleResult | None) -> ClaimVerdict:
    claim = record.submission.numbers.get("val_bpb") if record.submission else None
    if claim is None:
        return ClaimVerdict.NO_CLAIM
    if not has_logs(record):
        return ClaimVerdict.CLAIMED_ONLY
    if claim.matches(headline):
        return ClaimVerdict.AGREES
    if headline is not None and one_unit_off(claim, headline):
        return ClaimVerdict.ROUNDING
    flagged = claims is not None and any(
        e.status in (Status.WARN, Status.FAIL) and _about_val_bpb(e.text) for e in claims.evidence)
    return ClaimVerdict.FLAGGED if flagged else ClaimVerdict.SILENT


def triage_row(folder: str, record: Record, report: ComplianceReport) -> TriageRow:
    table = report.seed_table
    claims = next((row for row in report.rows if row.rule == "claims"), None)
    claim = record.submission.numbers.get("val_bpb") if record.submission else None
    return TriageRow(
        folder=folder, status=report.status.value, headline_bpb=table.headline_bpb,
        kind=table.headline_kind.value if table.headline_kind else None, seeds=record.seeds,
        worst_bytes=table.worst_size.total_bytes if table.worst_size else None,
        failing=[row.rule for row in report.rows if row.status is Status.FAIL],
        claimed_bpb=claim.value if claim else None, claim=claim_verdict(record, table.headline_bpb, claims),
        has_logs=has_logs(record))


def check_folder(root: Path, folder: Path) -> TriageRow:
    name = folder.relative_to(root).as_posix() or folder.name
    try:
        record = load_record(folder)
        return triage_row(name, record, compliance_report(record))
    except Exception as exc:  # noqa: BLE001 - one folder's defect must not end the triage of the others
        return TriageRow(name, ERROR, None, None, [], None, [], None, None, False,
                         f"{type(exc).__name__}: {first_line(exc)}")


@dataclass
class Triage(JsonMixin):
    root: str
    rows: list[TriageRow] = field(default_factory=list)

    def counts(self, attribute: str) -> dict[str, int]:
        tally: dict[str, int] = {}
        for row in self.rows:
            value = str(getattr(row, attribute))
            tally[value] = tally.get(value, 0) + 1
        return dict(sorted(tally.items()))

    def to_csv(self) -> str:
        """One row per folder; folder names are the submitters' own, so cells that start like a formula are
        neutralised."""
        rows = ({**row.to_dict(), "seeds": " ".join(str(seed) for seed in row.seeds), "failing": " ".join(row.failing)}
                for row in self.rows)
        return csv_table(CSV_FIELDS, rows)

    def to_jsonl(self) -> str:
        return "".join(json.dumps(row.to_dict()) + "\n" for row in self.rows)


def iter_triage(root: Path, folders: list[Path]) -> Iterator[TriageRow]:
    """One row per folder, as each is checked (for a progress bar)."""
    base = Path(root).expanduser().resolve()
    for folder in folders:
        yield check_folder(base, folder)


def triage(root: Path | str, progress: bool = False) -> Triage:
    """Check every record folder under root, in path order; `progress` shows a bar on stderr."""
    base = Path(root).expanduser().resolve()
    folders = find_record_folders(base).folders
    rows = tqdm(iter_triage(base, folders), total=len(folders), desc="folders", unit="folder", disable=not progress)
    return Triage(str(base), list(rows))


def write_triage(result: Triage, csv_path: Path | None, jsonl_path: Path | None) -> None:
    """The rows as CSV and as JSON lines, each file written whole or not at all."""
    if csv_path:
        atomic_write_text(csv_path, result.to_csv())
    if jsonl_path:
        atomic_write_text(jsonl_path, result.to_jsonl())


def summary_line(result: Triage) -> str:
    statuses = ", ".join(f"{status} {n}" for status, n in result.counts("status").items())
    claims = ", ".join(f"{verdict} {n}" for verdict, n in result.counts("claim").items() if verdict != "None")
    return f"{len(result.rows)} record folder(s) under {result.root}: {statuses}; val_bpb claims: {claims}"
