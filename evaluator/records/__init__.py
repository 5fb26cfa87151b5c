"""Challenge record folders read into typed, JSON-serialisable objects.

    scan_records(root) -> list[Record]          every record folder under root
    load_record(path) -> Record                 submission, submitted runs (per seed), runs set aside,
                                                ambiguities, curves, code inventory, refused files, warnings
    seed_table(record) -> SeedTable             one row per submitted run, then n / mean / std / min / max, worst size
    compare_records(candidate, baseline) -> RecordComparison  deltas in BPB, nats/byte, nats/token and one-sided Welch p-values

A run is one training run as a log shows it (logs.TrainLog: a whole file or one of several runs in it, with its
seed and line span); runs.submitted_runs decides which runs are the submission. Files are read through files.py
(no symlinks, regular files only, size caps) and JSON through safe_json.py. The compliance rules live in
evaluator.check (compliance_report). Every object has to_dict().
"""
from evaluator.records.compare import RecordComparison, compare_records
from evaluator.records.logs import TrainLog, parse_log
from evaluator.records.metric_kinds import MetricKind
from evaluator.records.record import Record, RecordError, load_record, scan_records
from evaluator.records.seeds import SeedRow, SeedTable, seed_table
from evaluator.records.submission import Submission, read_submission

__all__ = ["RecordComparison", "MetricKind", "Record", "RecordError", "SeedRow", "SeedTable", "Submission", "TrainLog",
           "compare_records", "load_record", "parse_log", "read_submission", "scan_records", "seed_table"]
