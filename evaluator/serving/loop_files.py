"""The loop-wise analysis a record folder ships: the loops/ folder `pgolf loops` writes beside a record's artifact
(its report and plots), read by fixed names only, never by a path from a request, and only when the record's
listing has them as regular files (no symlinks), under a size cap."""
from __future__ import annotations

from pathlib import Path

from crawler.errors import PgolfError
from evaluator.loopwise.output_files import OUTPUT_FOLDER, PLOT_NAMES, REPORT_FILE, plot_file
from evaluator.records import safe_json
from evaluator.records.untrusted_files import JSON_LIMIT, PLOT_LIMIT, RecordFileError, read_capped
from evaluator.serving.catalog import CatalogEntry

LOOPS_JSON = f"{OUTPUT_FOLDER}/{REPORT_FILE}"


class RecordLoopsError(PgolfError):
    """A record's loops/loops.json that cannot be shown: refused, too big, or not a `pgolf loops` report."""


def has_record_loops(entry: CatalogEntry) -> bool:
    return LOOPS_JSON in entry.record.files


def record_plots(entry: CatalogEntry) -> list[str]:
    return [name for name in PLOT_NAMES if f"{OUTPUT_FOLDER}/{plot_file(name)}" in entry.record.files]


def record_loops_report(entry: CatalogEntry) -> dict:
    """The record's loops.json, parsed; RecordLoopsError (one line) when it is refused, oversized or malformed."""
    if refused := entry.record.refused.get(LOOPS_JSON):
        raise RecordLoopsError(f"record {entry.id!r}: {LOOPS_JSON}: {refused}")
    try:
        capped = read_capped(Path(entry.record.path, LOOPS_JSON), JSON_LIMIT)
        if capped.truncated:
            raise RecordLoopsError(f"record {entry.id!r}: {LOOPS_JSON} is {capped.size:,} bytes, over {JSON_LIMIT:,}")
        report = safe_json.loads(capped.text(), LOOPS_JSON)
    except (RecordFileError, safe_json.JsonError) as exc:
        raise RecordLoopsError(f"record {entry.id!r}: {exc}") from None
    if not isinstance(report, dict):
        raise RecordLoopsError(f"record {entry.id!r}: {LOOPS_JSON} is not a JSON object")
    return report


def record_plot(entry: CatalogEntry, name: str) -> bytes | None:
    """A plot's PNG bytes when `name` is one of PLOT_NAMES and the record ships it as a regular file."""
    if name not in record_plots(entry):
        return None
    try:
        capped = read_capped(Path(entry.record.path, OUTPUT_FOLDER, plot_file(name)), PLOT_LIMIT)
    except RecordFileError:
        return None  # replaced by a symlink or removed since the listing: as absent as never shipped
    return None if capped.truncated else capped.data
