"""Challenge record folders read into typed, JSON-serialisable objects.

    scan_records(root) -> list[Record]          every record folder under root
    load_record(path) -> Record                 submission, logs (per seed), curves, code inventory, warnings
    seed_table(record) -> SeedTable             one row per seed, then n / mean / std / min / max, worst size
    compare(candidate, baseline) -> Comparison  deltas in BPB, nats/byte, nats/token and one-sided Welch p-values

The compliance rules live in evaluator.check (compliance_report). Every object has to_dict().
"""
from evaluator.records.compare import Comparison, compare
from evaluator.records.logs import TrainLog, parse_log
from evaluator.records.metric_kinds import MetricKind
from evaluator.records.record import Record, RecordError, load_record, scan_records
from evaluator.records.seeds import SeedRow, SeedTable, seed_table
from evaluator.records.submission import Submission, read_submission

__all__ = ["Comparison", "MetricKind", "Record", "RecordError", "SeedRow", "SeedTable", "Submission", "TrainLog",
           "compare", "load_record", "parse_log", "read_submission", "scan_records", "seed_table"]
