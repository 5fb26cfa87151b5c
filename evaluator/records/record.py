"""A record folder (`records/<track>/<date>_<name>/`) read into one typed object, and a scan for them.

Train logs are the folder's `*.log` files and `*.txt` files whose name says train/log/seed/run;
when the folder has none, the same names one folder down (e.g. logs/). A log whose bytes equal an
earlier one (train.log kept next to train_seed1337.log) is listed as a duplicate, not a seed.
Nothing here raises on messy content: what cannot be read becomes a warning.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from evaluator.records.code_files import CodeInventory, inventory_code
from evaluator.records.headline import choose_headline_kind
from evaluator.records.jsonable import JsonMixin
from evaluator.records.logs import TrainLog, parse_log
from evaluator.records.manifest import ManifestEntry, find_manifest_entry
from evaluator.records.metric_kinds import MetricKind
from evaluator.records.submission import Submission, SubmissionError, read_submission

SUBMISSION_NAME = "submission.json"
README_NAME = "README.md"
_LOG_WORDS = ("train", "log", "seed", "run")


class RecordError(ValueError):
    pass


@dataclass
class Record(JsonMixin):
    path: str
    name: str
    track: str | None
    submission: Submission | None
    submission_file: str | None
    submission_error: str | None
    readme_file: str | None
    files: dict[str, int]
    manifest: ManifestEntry | None
    logs: list[TrainLog]
    duplicate_logs: dict[str, str]  # duplicate file -> the log it repeats
    ignored_logs: list[str]  # log-like files without training lines
    code: CodeInventory
    headline_kind: MetricKind | None
    headline_reason: str
    warnings: list[str] = field(default_factory=list)

    @property
    def left_out(self) -> dict[str, int]:
        return self.manifest.left_out if self.manifest else {}

    @property
    def seeds(self) -> list[int]:
        return [log.seed for log in self.logs if log.seed is not None]

    @property
    def is_timed_track(self) -> bool:
        """Records on the 10-minute track; the non-record tracks are exempt from the time caps."""
        track = (self.track or "").lower().replace("-", "_")
        return not ("non_record" in track or "unlimited" in track)

    def log_for_seed(self, seed: int) -> TrainLog | None:
        return next((log for log in self.logs if log.seed == seed), None)


def _is_log_name(name: str) -> bool:
    low = name.lower()
    return low.endswith(".log") or (low.endswith(".txt") and any(word in low for word in _LOG_WORDS))


def _log_paths(record_dir: Path) -> list[Path]:
    top = sorted(p for p in record_dir.iterdir() if p.is_file() and _is_log_name(p.name))
    if top:
        return top
    return sorted(p for sub in record_dir.iterdir() if sub.is_dir()
                  for p in sub.iterdir() if p.is_file() and _is_log_name(p.name))


def _find_submission(record_dir: Path, warnings: list[str]) -> Path | None:
    exact = record_dir / SUBMISSION_NAME
    if exact.is_file():
        return exact
    others = sorted(record_dir.glob("submission*.json"))
    if others:
        warnings.append(f"no {SUBMISSION_NAME}; reading {others[0].name} instead")
        return others[0]
    return None


def _order_logs(logs: list[TrainLog], submission: Submission | None) -> list[TrainLog]:
    claimed = submission.seeds if submission else []
    def position(log: TrainLog) -> tuple[int, str]:
        rank = claimed.index(log.seed) if log.seed in claimed else len(claimed)
        return rank, log.file_name
    return sorted(logs, key=position)


def load_record(path: Path | str) -> Record:
    record_dir = Path(path).expanduser().resolve()
    if not record_dir.is_dir():
        raise RecordError(f"{path}: not a directory")
    warnings: list[str] = []
    files = {p.relative_to(record_dir).as_posix(): p.stat().st_size
             for p in sorted(record_dir.rglob("*")) if p.is_file()}
    manifest = find_manifest_entry(record_dir, warnings)
    submission, submission_error = None, None
    submission_path = _find_submission(record_dir, warnings)
    if submission_path:
        try:
            submission = read_submission(submission_path)
        except (SubmissionError, OSError) as exc:
            submission_error = str(exc)
            warnings.append(submission_error)
    logs, duplicates, ignored = [], {}, []
    by_hash: dict[str, str] = {}
    for log_path in _log_paths(record_dir):
        relative = log_path.relative_to(record_dir).as_posix()
        try:
            log = parse_log(log_path)
        except OSError as exc:
            warnings.append(f"{relative}: unreadable ({exc})")
            continue
        log.file_name = relative
        if log.sha256 in by_hash:
            duplicates[relative] = by_hash[log.sha256]
            continue
        by_hash[log.sha256] = relative
        if log.is_training_log:
            logs.append(log)
            warnings.extend(f"{relative}: {w}" for w in log.warnings)
        else:
            ignored.append(relative)
    seen_seeds: dict[int, str] = {}
    for log in logs:
        if log.seed is not None and log.seed in seen_seeds:
            warnings.append(f"seed {log.seed} appears in {seen_seeds[log.seed]} and {log.file_name}")
        elif log.seed is not None:
            seen_seeds[log.seed] = log.file_name
    logs = _order_logs(logs, submission)
    kind, reason = choose_headline_kind(logs, submission)
    parent = record_dir.parent.name
    track = parent if parent.startswith("track_") else (submission.track if submission else None)
    readme = README_NAME if (record_dir / README_NAME).is_file() else None
    if submission:
        warnings.extend(f"{submission_path.name}: {w}" for w in submission.warnings)
    return Record(path=str(record_dir), name=record_dir.name, track=track, submission=submission,
                  submission_file=submission_path.name if submission_path else None,
                  submission_error=submission_error, readme_file=readme, files=files, manifest=manifest,
                  logs=logs, duplicate_logs=duplicates, ignored_logs=ignored,
                  code=inventory_code(record_dir, manifest.left_out if manifest else {}),
                  headline_kind=kind, headline_reason=reason, warnings=warnings)


def _looks_like_record(directory: Path) -> bool:
    names = os.listdir(directory)
    return README_NAME in names or any(n.startswith("submission") and n.endswith(".json") for n in names)


def scan_records(root: Path | str) -> list[Record]:
    """Every record folder under root (root itself if it is one), in path order."""
    base = Path(root).expanduser().resolve()
    if not base.is_dir():
        raise RecordError(f"{root}: not a directory")
    found: list[Path] = []
    for directory, subdirs, _ in os.walk(base):
        current = Path(directory)
        subdirs.sort()
        if _looks_like_record(current) and not current.name.startswith("track_"):
            found.append(current)
            subdirs.clear()
    return [load_record(path) for path in sorted(found)]
