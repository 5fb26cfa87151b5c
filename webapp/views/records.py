"""Catalog entries turned into the records pages' models: the sorted, filtered index and one record's detail."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from evaluator.service import (CatalogEntry, Evidence, RecordCatalog, RuleResult, compliance_report, csv_table,
                               read_readme, record_corpus)
from webapp.schemas import RecordDetail, RecordIndex, RecordRow, SeedCurve, TrainPointOut, ValPointOut
from webapp.views.standing import flagged, verdict

SortKey = Literal["date", "track", "name", "author", "best_bpb", "n_seeds", "mean_bpb", "worst_total_bytes", "status",
                  "verdict"]
SORT_KEYS: tuple[str, ...] = SortKey.__args__
StatusFilter = Literal["", "PASS", "WARN", "FAIL"]
_STATUS_ORDER = {"PASS": 0, "WARN": 1, "FAIL": 2, "SKIP": 3}


def record_row(entry: CatalogEntry) -> RecordRow:
    record, bpb, sub = entry.record, entry.seeds.bpb, entry.record.submission
    return RecordRow(
        id=entry.id, folder=record.name, name=entry.title,
        track=record.track.removeprefix("track_") if record.track else None, date=entry.date,
        author=sub.author if sub else None,
        headline_kind=entry.seeds.headline_kind.value if entry.seeds.headline_kind else None,
        best_bpb=bpb.min, n_seeds=bpb.n, mean_bpb=bpb.mean, headline_bpb=entry.seeds.headline_bpb, std_bpb=bpb.std,
        claimed_bpb=sub.val_bpb if sub else None,
        worst_total_bytes=entry.seeds.worst_size.total_bytes if entry.seeds.worst_size else None,
        status=entry.compliance.status.value, verdict=verdict(entry.compliance).value,
        flagged_rules=flagged(entry.compliance))


def _sort_value(row: RecordRow, key: str):
    value = getattr(row, key)
    if key in ("status", "verdict"):
        return _STATUS_ORDER[value]
    return value.lower() if isinstance(value, str) else value


def record_index(catalog: RecordCatalog, sort: SortKey = "date", order: Literal["asc", "desc"] = "desc",
                 q: str = "", track: str = "", status: StatusFilter = "") -> RecordIndex:
    snapshot = catalog.snapshot()
    rows = [record_row(entry) for entry in snapshot.entries]
    tracks = sorted({row.track for row in rows if row.track})
    needle = q.strip().lower()
    shown = [row for row in rows
             if (not needle or any(needle in (text or "").lower() for text in (row.name, row.folder, row.author)))
             and (not track or row.track == track) and (not status or row.verdict == status)]
    # rows without the value go last in either order
    present = [row for row in shown if getattr(row, sort) is not None]
    missing = [row for row in shown if getattr(row, sort) is None]
    present.sort(key=lambda row: (_sort_value(row, sort), row.folder), reverse=order == "desc")
    # the roots by name only, and problems without the server's folders above them
    return RecordIndex(rows=present + missing, total=len(rows), roots=[root.name for root in catalog.roots],
                       problems=[_public(problem, *catalog.roots) for problem in snapshot.problems], tracks=tracks,
                       sort=sort, order=order, q=q, track=track, status=status)


CSV_COLUMNS = ("id", "track", "date", "name", "author", "headline_kind", "best_bpb", "n_seeds", "mean_bpb", "headline_bpb",
               "std_bpb", "claimed_bpb", "worst_total_bytes", "size_cap_bytes", "status", "verdict")


def record_corpora(catalog: RecordCatalog) -> dict[str, str]:
    """Each record's corpus by id, to label the rows not scored on FineWeb."""
    return {entry.id: record_corpus(entry) for entry in catalog.entries()}


def other_records(catalog: RecordCatalog, entry: CatalogEntry) -> list[CatalogEntry]:
    """What a record can be compared against: every other record."""
    return [other for other in catalog.entries() if other.id != entry.id]


def index_csv(index: RecordIndex) -> str:
    return csv_table(CSV_COLUMNS, (row.model_dump() for row in index.rows))


# real logs print a few hundred points per curve; a log that prints every step is thinned to this many (the last
# point kept), so a page and its SVG stay small whatever the log holds
MAX_CURVE_POINTS = 2000


def _thin(points: list) -> list:
    if len(points) <= MAX_CURVE_POINTS:
        return points
    every = -(-len(points) // MAX_CURVE_POINTS)
    kept = points[::every]
    return kept if kept[-1] is points[-1] else kept[:-1] + [points[-1]]


def seed_curves(entry: CatalogEntry) -> list[SeedCurve]:
    def seconds(ms: float | None) -> float | None:
        return None if ms is None else ms / 1000.0

    return [SeedCurve(seed=log.seed, log=log.file_name,
                      train=[TrainPointOut(step=p.step, train_time_s=seconds(p.train_time_ms), train_loss=p.train_loss)
                             for p in _thin(log.train_curve)],
                      val=[ValPointOut(step=p.step, train_time_s=seconds(p.train_time_ms), val_loss=p.val_loss,
                                       val_bpb=p.val_bpb) for p in _thin(log.val_curve)])
            for log in entry.record.logs if log.train_curve or log.val_curve]


def _public(text: str, *roots: Path) -> str:
    """A reader's text with the server's own path above a records root left out (/srv/x/records/a -> records/a)."""
    for root in roots:
        text = text.replace(f"{root.parent.as_posix().rstrip('/')}/", "")
    return text


def _public_rows(rows: list[RuleResult], root: Path) -> list[RuleResult]:
    return [dataclasses.replace(row, summary=_public(row.summary, root), evidence=[
        Evidence(_public(item.text, root), item.file and _public(item.file, root), item.line) for item in row.evidence])
        for row in rows]


def record_detail(entry: CatalogEntry, against: CatalogEntry | None = None) -> RecordDetail:
    """The record's page; with `against`, the compliance report's significance rule and the comparison use it.
    Paths are shown from the records root down: the server's folders above it are nobody's business."""
    record, sub = entry.record, entry.record.submission
    report = compliance_report(record, against.record) if against else entry.compliance
    readme = read_readme(record)
    return RecordDetail(
        row=record_row(entry), path=_public(str(record.path), entry.root), blurb=sub.blurb if sub else None,
        hardware=sub.hardware if sub else None, readme_markdown=readme.text if readme and readme.text else None,
        readme_note=readme.note if readme else None, seed_table=entry.seeds,
        compliance=_public_rows(report.rows, entry.root), compliance_status=report.status.value,
        warnings=[_public(warning, entry.root) for warning in record.warnings],
        against=against.id if against else None, comparison=report.comparison, curves=seed_curves(entry))
