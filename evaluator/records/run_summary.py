"""A run of ours read by name: the run.json the trainer writes beside train.log (crawler.contract.RunSummary), its
numbers as measured, not guessed back from the log's text."""
from __future__ import annotations

from pathlib import Path

from crawler.contract import RUN_SUMMARY, RunSummary
from evaluator.records import safe_json
from evaluator.records.untrusted_files import JSON_LIMIT, read_capped
from evaluator.typed_json import from_json_data


def read_run_summary(run_dir: Path) -> RunSummary | None:
    """The run's run.json; None for a run made before the trainer wrote one. RecordFileError, safe_json.JsonError
    or ValueError (one line naming the field) when it is unreadable or not a RunSummary."""
    path = Path(run_dir) / RUN_SUMMARY
    if not (path.exists() or path.is_symlink()):
        return None
    data = safe_json.loads(read_capped(path, JSON_LIMIT).text(), RUN_SUMMARY)
    return from_json_data(RunSummary, data, f"a {RUN_SUMMARY} of pgolf train")
