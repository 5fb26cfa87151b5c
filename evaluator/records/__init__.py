"""Challenge record folders read into typed, JSON-serialisable objects.

    record.scan_records(root) -> list[Record]      every record folder under root
    record.load_record(path) -> Record             submission, submitted runs (per seed), runs set aside,
                                                   ambiguities, curves, code inventory, refused files, warnings
    seeds.seed_table(record) -> SeedTable          one row per submitted run, then n / mean / std / min / max, worst size
    comparison.compare_records(candidate, baseline) -> RecordComparison  deltas in BPB, nats/byte, nats/token and
                                                   one-sided Welch p-values

A run is one training run as a log shows it (train_log.TrainLog, parsed by logs: a whole file or one of several runs
in it, with its seed and line span); runs.submitted_runs decides which runs are the submission. Files are read through
untrusted_files.py (no symlinks, regular files only, size caps) and JSON through safe_json.py. The compliance rules
live in evaluator.check (compliance.compliance_report). Every object has to_dict().

This package imports nothing here: importing one of its modules runs this file first, so a re-export would import
the package's modules back into each other.
"""
