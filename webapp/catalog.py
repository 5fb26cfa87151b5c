"""The records under the configured roots, read once and read again only when a file under a root changes.

Each record gets a URL id: its folder name, which the challenge keeps unique across tracks; a name
that appears again (under a second root) gets `~2`, `~3` ... in the order the roots are listed.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
import datetime as dt
from pathlib import Path

from evaluator.check import ComplianceReport, compliance_report
from evaluator.records.record import Record, RecordError, scan_records
from evaluator.records.seeds import SeedTable, seed_table
from evaluator.records.submission import parse_date


@dataclass(eq=False)  # hashed by identity: a rescan makes new entries, so caches keyed on them go stale safely
class CatalogEntry:
    id: str
    root: Path
    record: Record
    seeds: SeedTable
    compliance: ComplianceReport  # without a baseline: the significance rule is skipped

    @property
    def date(self) -> dt.date | None:
        if self.record.submission and self.record.submission.date:
            return self.record.submission.date
        return parse_date(self.record.name[:10])

    @property
    def title(self) -> str:
        sub = self.record.submission
        return sub.name if sub and sub.name else self.record.name


def _signature(roots: list[Path]) -> tuple:
    """Every file's path, size and mtime under the roots: cheap next to parsing every log again."""
    seen = []
    for root in roots:
        for directory, _, files in os.walk(root):
            for name in files:
                try:
                    stat = os.stat(os.path.join(directory, name))
                except OSError:
                    continue
                seen.append((directory, name, stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(seen))


class RecordCatalog:
    def __init__(self, roots: list[Path]):
        self.roots = [Path(root).expanduser().resolve() for root in roots]
        self._lock = threading.Lock()
        self._signature: tuple | None = None
        self._entries: list[CatalogEntry] = []
        self._problems: list[str] = []

    def entries(self) -> list[CatalogEntry]:
        self._refresh()
        return self._entries

    def problems(self) -> list[str]:
        self._refresh()
        return self._problems

    def get(self, record_id: str) -> CatalogEntry | None:
        return next((entry for entry in self.entries() if entry.id == record_id), None)

    def _refresh(self) -> None:
        with self._lock:
            signature = _signature(self.roots)
            if signature == self._signature:
                return
            entries, problems, taken = [], [], set()
            for root in self.roots:
                try:
                    records = scan_records(root)
                except RecordError as exc:
                    problems.append(f"records root {exc}")
                    continue
                for record in records:
                    record_id, n = record.name, 1
                    while record_id in taken:
                        n += 1
                        record_id = f"{record.name}~{n}"
                    taken.add(record_id)
                    entries.append(CatalogEntry(record_id, root, record, seed_table(record), compliance_report(record)))
            self._entries, self._problems, self._signature = entries, problems, signature
