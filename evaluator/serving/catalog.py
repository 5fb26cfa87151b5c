"""The records under the configured roots, each read once and read again only when one of its files changes.

Every request re-lists the roots and keys each record folder by the path, size and mtime of every file
in it and of the MANIFEST.json files above it; a folder whose key is unchanged keeps its parsed record,
seed table and compliance report. A folder's file listing is itself kept, so that a request's work does
not grow with the number of files in a folder: it is listed again when one of its directories' mtimes
changes (a file added, removed or renamed) or LISTING_TTL_SECONDS after it was listed (a file rewritten
in place), whichever comes first. A folder that cannot be read, a file in
one that is refused (a symlink, a FIFO), and a folder under a root that is no record are each one
line in `problems`; they never take the index down.

Each record gets a URL id: its folder name, which the challenge keeps unique across tracks; a name
that appears again (under a second root) gets `~2`, `~3` ... in the order the roots are listed.
"""
from __future__ import annotations

import datetime as dt
import itertools
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from crawler.errors import PgolfError, first_line
from evaluator.check.compliance import ComplianceReport, compliance_report
from evaluator.records.manifest import manifest_candidates
from evaluator.records.record import Record, RecordError, find_record_folders, load_record
from evaluator.records.seeds import SeedTable, seed_table
from evaluator.records.submission import parse_date
from evaluator.records.untrusted_files import Listing, list_files


@dataclass(eq=False)  # hashed by identity: a changed record gets a new entry, so caches keyed on them go stale safely
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


@dataclass(frozen=True)
class Snapshot:
    entries: list[CatalogEntry]
    problems: list[str]


@dataclass(frozen=True)
class _Parsed:
    key: tuple
    entry: CatalogEntry | None  # None: the folder could not be read
    problems: tuple[str, ...]


def _manifest_key(folder: Path) -> tuple:
    stats = []
    for path in manifest_candidates(folder):
        try:
            info = os.stat(path)
        except OSError:
            continue
        stats.append((str(path), info.st_size, info.st_mtime_ns))
    return tuple(stats)


LISTING_TTL_SECONDS = 10.0
_versions = itertools.count(1)


def _mtime_ns(path: Path) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


@dataclass(frozen=True)
class _Listed:
    """A folder's listing, when it was made, its directories' mtimes then, and a version that changes only
    when a new listing differs from the one before (what the parsed record is keyed by)."""
    listing: Listing
    listed_at: float
    directories: tuple[tuple[Path, int | None], ...]
    key: tuple
    version: int

    def current(self, now: float) -> bool:
        return now - self.listed_at < LISTING_TTL_SECONDS and all(_mtime_ns(d) == m for d, m in self.directories)


def _list(folder: Path, before: _Listed | None, now: float) -> _Listed:
    listing = list_files(folder)
    directories = {folder} | {(folder / name).parent for name in [*listing.files, *listing.refused]}
    key = listing.key()
    version = before.version if before is not None and before.key == key else next(_versions)
    return _Listed(listing, now, tuple((d, _mtime_ns(d)) for d in sorted(directories)), key, version)


def record_entry(folder: Path, record_id: str | None = None, root: Path | None = None,
                 listing: Listing | None = None) -> CatalogEntry:
    """One record folder read, its seed table made and its compliance checked: what an index row and a record page
    show (listing: untrusted_files.list_files of the folder, when the caller has just made one)."""
    record = load_record(folder, listing)
    return CatalogEntry(record_id or folder.name, root or folder.parent, record, seed_table(record),
                        compliance_report(record))


def _parse(record_id: str, root: Path, folder: Path, key: tuple, listing) -> _Parsed:
    try:
        entry = record_entry(folder, record_id, root, listing)
        record = entry.record
    # the reader turns bad content into warnings; this is the last line that keeps one record's fault in its row
    except (PgolfError, OSError, ValueError, ArithmeticError, RecursionError) as exc:
        return _Parsed(key, None, (f"{record_id}: not read ({first_line(exc)})",))
    faults = [f"{name}: {why}" for name, why in record.refused.items()]
    if record.submission_error and record.submission_file:
        faults.append(record.submission_error)
    return _Parsed(key, entry, tuple(f"{record_id}: {fault}" for fault in faults))


class RecordCatalog:
    def __init__(self, roots: list[Path]):
        self.roots = [Path(root).expanduser().resolve() for root in roots]
        self._lock = threading.Lock()
        self._parsed: dict[Path, _Parsed] = {}
        self._listed: dict[Path, _Listed] = {}

    def snapshot(self) -> Snapshot:
        """The entries and problems as the roots are now, re-reading only the folders that changed."""
        with self._lock:
            entries, problems, taken, parsed, listed = [], [], set(), {}, {}
            now = time.monotonic()
            for root in self.roots:
                try:
                    scan = find_record_folders(root)
                except RecordError as exc:
                    problems.append(f"records root {exc}")
                    continue
                problems += [f"{folder.relative_to(root)}: no README.md, submission*.json or train log: not a record"
                             for folder in scan.not_records]
                problems += [f"{link.relative_to(root)}: a symlinked folder, not followed" for link in scan.links]
                for folder in scan.folders:
                    record_id, n = folder.name, 1
                    while record_id in taken:
                        n += 1
                        record_id = f"{folder.name}~{n}"
                    taken.add(record_id)
                    before = self._listed.get(folder)
                    fresh = before is not None and before.current(now)
                    listed[folder] = before if fresh else _list(folder, before, now)
                    key = (record_id, listed[folder].version, _manifest_key(folder))
                    known = self._parsed.get(folder)
                    parsed[folder] = known if known and known.key == key else _parse(record_id, root, folder, key,
                                                                                       listed[folder].listing)
                    if parsed[folder].entry:
                        entries.append(parsed[folder].entry)
                    problems += parsed[folder].problems
            self._parsed, self._listed = parsed, listed
            return Snapshot(entries, problems)

    def entries(self) -> list[CatalogEntry]:
        return self.snapshot().entries

    def problems(self) -> list[str]:
        return self.snapshot().problems

    def get(self, record_id: str) -> CatalogEntry | None:
        return next((entry for entry in self.entries() if entry.id == record_id), None)
