"""A record folder (`records/<track>/<date>_<name>/`) read into one typed object, and a scan for them.

Candidate logs are the `*.log` and `*.txt` files (requirements*.txt aside) at the top and one folder
down; those with training lines hold runs, evaluation-only logs join the training runs they score
(records.evaluation_logs), and records.runs decides which runs are the submission. A folder in a track_* folder is a
record folder whatever it holds. A log whose bytes equal an earlier one (train.log kept next to
train_seed1337.log) is listed as a duplicate, not a seed; a candidate without training lines is listed in
`ignored_logs`.
Nothing here raises on messy content: what cannot be read becomes a warning, and a file that is
not read at all (a symlink, a FIFO; see untrusted_files.py) is listed in `refused`.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from crawler.contract import MetricKind
from crawler.errors import PgolfError
from evaluator.records.code_files import CodeInventory, inventory_code
from evaluator.records.evaluation_logs import Joined, join_evaluations
from evaluator.records.headline import choose_headline_kind
from evaluator.records.jsonable import JsonMixin
from evaluator.records.logs import parse_runs
from evaluator.records.manifest import ManifestEntry, find_manifest_entry
from evaluator.records.runs import SetAside, run_label, submitted_runs
from evaluator.records.strides import align_strides
from evaluator.records.submission import Submission, SubmissionError, read_submission
from evaluator.records.train_log import TrainLog
from evaluator.records.untrusted_files import README_LIMIT, Listing, RecordFileError, list_files, read_capped, truncation_note

SUBMISSION_NAME = "submission.json"
README_NAME = "README.md"
_LOG_WORDS = ("train", "log", "seed", "run")


class RecordError(PgolfError, ValueError):
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
    logs: list[TrainLog]  # the submitted runs (records.runs), one per seed
    duplicate_logs: dict[str, str]  # duplicate file -> the log it repeats
    ignored_logs: list[str]  # log-like files without training lines
    code: CodeInventory
    headline_kind: MetricKind | None
    headline_reason: str
    refused: dict[str, str] = field(default_factory=dict)  # files not read, and why
    set_aside: list[SetAside] = field(default_factory=list)  # runs in the logs that are not the submission
    ambiguities: list[str] = field(default_factory=list)  # choices of runs or strides the claims did not decide
    joined: list[Joined] = field(default_factory=list)  # evaluation logs joined to the training runs they score
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


def _may_be_log(name: str) -> bool:
    """Any .log, and any .txt but requirements: logs are named anything (ternary_log_7.txt, v2.txt)."""
    low = name.rsplit("/", 1)[-1].lower()
    return low.endswith(".log") or (low.endswith(".txt") and not low.startswith("requirements"))


def _log_names(files: list[str]) -> list[str]:
    """Candidate logs at the top and one folder down; records.runs decides which hold the submission."""
    return [name for name in files if name.count("/") <= 1 and _may_be_log(name)]


def _find_submission(files: list[str], warnings: list[str]) -> str | None:
    if SUBMISSION_NAME in files:
        return SUBMISSION_NAME
    others = [name for name in files if "/" not in name and name.startswith("submission") and name.endswith(".json")]
    if others:
        warnings.append(f"no {SUBMISSION_NAME}; reading {others[0]} instead")
        return others[0]
    return None


def _order_logs(logs: list[TrainLog], submission: Submission | None) -> list[TrainLog]:
    claimed = submission.seeds if submission else []
    def position(log: TrainLog) -> tuple[int, str]:
        rank = claimed.index(log.seed) if log.seed in claimed else len(claimed)
        return rank, log.file_name
    return sorted(logs, key=position)


def load_record(path: Path | str, listing: Listing | None = None) -> Record:
    """Read one record folder; `listing` (untrusted_files.list_files of it) when the caller has just made one."""
    record_dir = Path(path).expanduser().resolve()
    if not record_dir.is_dir():
        raise RecordError(f"{path}: not a directory")
    listing = listing or list_files(record_dir)
    warnings = [f"{name}: {why}" for name, why in listing.refused.items()]
    names = list(listing.files)
    manifest = find_manifest_entry(record_dir, warnings)
    submission, submission_error = None, None
    submission_name = _find_submission(names, warnings)
    if submission_name is None and SUBMISSION_NAME in listing.refused:
        submission_error = f"{SUBMISSION_NAME}: {listing.refused[SUBMISSION_NAME]}"
    if submission_name:
        try:
            submission = read_submission(record_dir / submission_name)
        except SubmissionError as exc:
            submission_error = str(exc)
            warnings.append(submission_error)
    runs, duplicates, ignored = [], {}, []
    by_hash: dict[str, str] = {}
    for relative in _log_names(names):
        try:
            file_runs = parse_runs(record_dir / relative)
        except RecordFileError as exc:
            warnings.append(f"{relative}: {exc}")
            continue
        # equal files split into equal runs: the runs' digests together identify the file's bytes
        digest = hashlib.sha256("".join(run.sha256 for run in file_runs).encode()).hexdigest()
        if digest in by_hash:
            duplicates[relative] = by_hash[digest]
            continue
        by_hash[digest] = relative
        for run in file_runs:
            run.file_name = relative
            if run.is_training_log:
                runs.append(run)
                warnings.extend(f"{run_label(run)}: {w}" for w in run.warnings)
        if not any(run.is_training_log for run in file_runs):
            ignored.append(relative)
    readme = read_capped(record_dir / README_NAME, README_LIMIT).text() if README_NAME in listing.files else ""
    runs, joined = join_evaluations(runs)
    chosen = submitted_runs(runs, submission, readme)
    logs = _order_logs(chosen.runs, submission)
    stride_notes = align_strides(logs)
    kind, reason = choose_headline_kind(logs, submission)
    parent = record_dir.parent.name
    track = parent if parent.startswith("track_") else (submission.track if submission else None)
    readme_file = README_NAME if README_NAME in listing.files else None
    if submission:
        warnings.extend(f"{submission_name}: {w}" for w in submission.warnings)
    return Record(path=str(record_dir), name=record_dir.name, track=track, submission=submission,
                  submission_file=submission_name, submission_error=submission_error, readme_file=readme_file,
                  files={name: info.size for name, info in listing.files.items()}, manifest=manifest,
                  logs=logs, duplicate_logs=duplicates, ignored_logs=ignored,
                  code=inventory_code(record_dir, listing.files, manifest.left_out if manifest else {}),
                  headline_kind=kind, headline_reason=reason, refused=dict(listing.refused),
                  set_aside=chosen.set_aside, ambiguities=chosen.ambiguities + stride_notes, joined=joined, warnings=warnings)


@dataclass(frozen=True)
class Readme:
    text: str
    note: str | None  # why it is shown in part or not at all


def read_readme(record: Record) -> Readme | None:
    """The README's first README_LIMIT bytes, or why it is not shown; None when the folder has none."""
    if record.readme_file is None:
        refused = record.refused.get(README_NAME)
        return Readme("", f"{README_NAME}: {refused}") if refused else None
    try:
        capped = read_capped(Path(record.path, record.readme_file), README_LIMIT)
    except RecordFileError as exc:
        return Readme("", str(exc))
    text = capped.data.decode("utf-8", errors="replace")
    return Readme(text, truncation_note(README_NAME, capped) if capped.truncated else None)


def is_record_folder(names: list[str]) -> bool:
    """A record folder names a README, a submission*.json or a train log at its top (any of them suffices)."""
    return any(name == README_NAME or (name.startswith("submission") and name.endswith(".json")) or _is_log_name(name)
               for name in names)


@dataclass
class Scan:
    folders: list[Path]  # the record folders, in path order
    not_records: list[Path]  # folders outside a track folder holding files but none that make a record
    links: list[Path]  # symlinked folders, not followed: what they point at is outside the root's tree


def find_record_folders(root: Path | str) -> Scan:
    """Every record folder under root (root itself if it is one): a folder in a track_* folder, or one holding a
    README, a submission*.json or a train log; symlinked folders are not entered."""
    base = Path(root).expanduser().resolve()
    if not base.is_dir():
        raise RecordError(f"{root}: not a directory")
    scan = Scan([], [], [])
    for directory, subdirs, names in os.walk(base):
        current = Path(directory)
        links = [current / d for d in subdirs if (current / d).is_symlink()]
        subdirs[:] = sorted(d for d in subdirs if not (current / d).is_symlink())
        # a track folder, or a root that holds track folders, is a container even with a README beside them
        container = current.name.startswith("track_") or any(d.startswith("track_") for d in subdirs)
        # a folder in a track folder is a submission by its place, whatever it holds (code only, or nothing)
        submitted = current.parent.name.startswith("track_") and (names or not subdirs)
        if not container and (submitted or is_record_folder(names)):
            scan.folders.append(current)  # a symlink inside a record is the record's own refused file
            subdirs.clear()
            continue
        scan.links += links
        if not container and names and not subdirs:
            scan.not_records.append(current)
    scan.folders.sort()
    return scan


def records_inside(path: Path | str) -> list[Path]:
    """The record folders a folder holds below itself (a track folder, a root of pull requests): what a
    single-folder check of it would miss."""
    base = Path(path).expanduser().resolve()
    return [folder for folder in find_record_folders(base).folders if folder != base]


def scan_records(root: Path | str) -> list[Record]:
    """Every record folder under root, read, in path order."""
    return [load_record(path) for path in find_record_folders(root).folders]
