"""The loop-wise analysis a record folder ships: the loops/ folder `pgolf loops` writes beside a record's artifact
(its report and plots), read by fixed names only, never by a path from a request, and only when the record's
listing has them as regular files (no symlinks), under a size cap."""
from __future__ import annotations

from pathlib import Path

from crawler.errors import PgolfError
from evaluator.records import safe_json
from evaluator.records.files import JSON_LIMIT, PLOT_LIMIT, RecordFileError, read_capped
from evaluator.service.catalog import CatalogEntry

# write_plots' file names (without .png), in the order the page shows them, with what each one shows
PLOTS = {
    "logit_lens": "Each stage decoded as the final one: BPB of the logit lens by depth",
    "early_exit": "BPB of the whole model run with k crawler loops (the trained count is marked)",
    "repr_change": "Relative step and update cosine of the residual stream per crawler loop",
    "similarity": "Cosine similarity between the residual streams after each loop",
    "attention_distance": "Mean attention distance per stage and head",
    "activations": "RMS and absolute maximum of the residual stream per stage",
    "quant_error": "Relative error of the dequantised model's residual stream against the float one",
}
LOOPS_DIR = "loops"  # where `pgolf loops` writes its report and plots for a record's artifact (its default --out)
LOOPS_JSON = f"{LOOPS_DIR}/loops.json"


class RecordLoopsError(PgolfError):
    """A record's loops/loops.json that cannot be shown: refused, too big, or not a `pgolf loops` report."""


def has_record_loops(entry: CatalogEntry) -> bool:
    return LOOPS_JSON in entry.record.files


def record_plots(entry: CatalogEntry) -> list[str]:
    return [name for name in PLOTS if f"{LOOPS_DIR}/{name}.png" in entry.record.files]


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
    """A plot's PNG bytes when `name` is one of PLOTS and the record ships it as a regular file."""
    if name not in record_plots(entry):
        return None
    try:
        capped = read_capped(Path(entry.record.path, LOOPS_DIR, f"{name}.png"), PLOT_LIMIT)
    except RecordFileError:
        return None  # replaced by a symlink or removed since the listing: as absent as never shipped
    return None if capped.truncated else capped.data
