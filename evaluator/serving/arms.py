"""Ablation arms: a record (several seeds), a training run from `pgolf train` (one seed), or an arm of an
ablation run by `pgolf ablate` (its seeds), each with the settings it ran with and its per-seed results.

A run's settings are its config.json. A record ships no config, so its settings are the `key:value`
and `key=value` pairs its first log prints before training starts (hyperparameter dumps, env echoes),
which is what differs between two records' scripts in practice.

A run's numbers are its run.json, as the trainer wrote them (a run made before the trainer wrote one is read from
its log). Both are read once: a record's arm per catalog entry (a new entry when a file of the record changes),
a run's arm per path, size and mtime of its train.log, config.json and run.json.
"""
from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

from crawler.contract import CONFIG_LABEL, RUN_CONFIG, RUN_LOG, RUN_SUMMARY, MetricKind, RunSummary
from crawler.errors import PgolfError, first_line
from evaluator.ablation.arm_comparison import NOT_SETTINGS, ArmSeeds, config_settings
from evaluator.ablation.plan import AblationPlan
from evaluator.ablation.runner import PLAN_COPY, RunResult, results_of
from evaluator.ablation.summary import load_results_folder, plan_arms
from evaluator.records import safe_json
from evaluator.records.headline import choose_headline_kind
from evaluator.records.logs import TrainLog, parse_log
from evaluator.records.run_summary import read_run_summary
from evaluator.records.seeds import SeedRow, seed_row
from evaluator.records.untrusted_files import JSON_LIMIT, LOG_LIMIT, RecordFileError, read_capped
from evaluator.serving.catalog import CatalogEntry, RecordCatalog

# a bracketed value ("active_layers:[8, 9, 10]") is one value, spaces and commas included
_PAIR = re.compile(r"(?:^|\s)([A-Za-z_][\w.]*)\s*[:=]\s*(\[[^\]]*\]|\([^)]*\)|\{[^}]*\}|[^\s,]+)")
# torch's launcher warnings and nvidia-smi's table (drawn with |) carry no settings
_NOT_SETTING_LINE = re.compile(r"^\[?[WIEF]\d{4} |\|")
# a settings line is made of pairs only: what is left once they are taken out is separators, never words (a
# warning that mentions "Utils.hpp:137", a line of Python source, a sentence with a colon in it)
_SEPARATORS_ONLY = re.compile(r"[\s,;]*")
# a value that calls or indexes (`torch.zeros(n`, `group["lr"]`) or closes a call is Python source a log echoes
_CODE_VALUE = re.compile(r"\w[(\[]|\)$")


def _first_training_line(log: TrainLog) -> int:
    lines = [p.line for p in [*log.train_curve, *log.val_curve]] + [m.line for m in log.metrics]
    return min(lines, default=log.n_lines + 1)


def log_settings(log: TrainLog) -> dict[str, str]:
    """key:value pairs printed before the first training line, outside the embedded source, from the lines that
    are settings (pairs and separators only)."""
    text = read_capped(Path(log.path), LOG_LIMIT).data.decode("utf-8", errors="replace").split("\n")
    settings: dict[str, str] = {}
    for number, line in enumerate(text[: _first_training_line(log) - 1], start=1):
        if (_NOT_SETTING_LINE.search(line) or (log.source and log.source.covers(number))
                or not _SEPARATORS_ONLY.fullmatch(_PAIR.sub(" ", line))):
            continue
        pairs = _PAIR.findall(line)
        if any(_CODE_VALUE.search(value) and not value.startswith(("(", "[", "{")) for _, value in pairs):
            continue
        for key, value in pairs:
            for name, setting in _expand(key, value).items():
                if name.lower() not in NOT_SETTINGS:
                    settings.setdefault(name, setting)
    return settings


def _expand(key: str, value: str) -> dict[str, str]:
    """A JSON object as the value (`config:{...}`, as `pgolf train` logs its config) is its settings, one by one."""
    if value.startswith("{"):
        try:
            return config_settings(safe_json.loads(value, key))
        except (safe_json.JsonError, AttributeError):
            pass  # not JSON: the text is the value
    return {key: value}


@lru_cache(maxsize=1024)
def record_arm(entry: CatalogEntry) -> ArmSeeds:
    try:
        settings = log_settings(entry.record.logs[0]) if entry.record.logs else {}
    except RecordFileError:
        settings = {}  # the log was replaced by a symlink or removed after the record was read
    kind = entry.seeds.headline_kind
    return ArmSeeds(f"record:{entry.id}", entry.id, "record", settings, entry.seeds.rows, kind.value if kind else None)


def _run_settings(run_dir: Path, log: TrainLog, problems: list[str]) -> dict[str, str]:
    """config.json, else the `config:{...}` line `pgolf train` logs, else the log's key:value header."""
    config = run_dir / RUN_CONFIG
    if config.exists() or config.is_symlink():
        try:
            return config_settings(safe_json.loads(read_capped(config, JSON_LIMIT).text(), RUN_CONFIG))
        except (RecordFileError, safe_json.JsonError, AttributeError) as exc:
            problems.append(f"run {run_dir.name}: {RUN_CONFIG} unreadable ({first_line(exc)})")
    for line in read_capped(Path(log.path), LOG_LIMIT).text().splitlines():
        if line.startswith(CONFIG_LABEL):
            try:
                return config_settings(safe_json.loads(line[len(CONFIG_LABEL):], CONFIG_LABEL))
            except (safe_json.JsonError, AttributeError):
                break
    return log_settings(log)


def _stat_key(run_dir: Path) -> tuple:
    key = []
    for name in (RUN_LOG, RUN_CONFIG, RUN_SUMMARY):
        try:
            info = os.lstat(run_dir / name)
        except OSError:
            continue
        key.append((name, info.st_size, info.st_mtime_ns))
    return tuple(key)


def _summary_row(summary: RunSummary, log_name: str) -> SeedRow:
    """A run's row from the numbers the trainer wrote, its headline the sliding-window score it ends with."""
    sliding = summary.scores.get(MetricKind.SLIDING_WINDOW)
    bpb_by_kind = {MetricKind.PRE_QUANT.value: summary.pre_quant.val_bpb,
                   **{kind: score.val_bpb for kind, score in summary.scores.items()}}
    return SeedRow(seed=summary.seed, log=log_name, bpb_by_kind=bpb_by_kind,
                   headline_kind=MetricKind.SLIDING_WINDOW if sliding else None,
                   headline_bpb=sliding.val_bpb if sliding else None, val_loss=sliding.val_loss if sliding else None,
                   steps=summary.steps, train_time_s=summary.train_time_ms / 1000.0,
                   eval_time_s=sliding.eval_ms / 1000.0 if sliding else None, world_size=summary.world_size,
                   code_bytes=summary.code_bytes, model_bytes=summary.model_bytes, total_bytes=summary.total_bytes)


@lru_cache(maxsize=1024)
def _run_arm(run_dir: Path, key: tuple) -> ArmSeeds:
    """key: _stat_key(run_dir), so that a changed run is read again. The numbers come from run.json; a run made
    before the trainer wrote one is read from its log."""
    problems: list[str] = []
    log = parse_log(run_dir / RUN_LOG)
    log.file_name = f"{run_dir.name}/{RUN_LOG}"
    settings = _run_settings(run_dir, log, problems)
    try:
        summary = read_run_summary(run_dir)
    except (RecordFileError, safe_json.JsonError, ValueError) as exc:
        problems.append(f"run {run_dir.name}: {RUN_SUMMARY} unreadable ({first_line(exc)})")
        summary = None
    if summary is not None:
        row = _summary_row(summary, log.file_name)
        kind = row.headline_kind
    else:
        kind, _ = choose_headline_kind([log], None)
        row = seed_row(log, kind)
    return ArmSeeds(f"run:{run_dir.name}", run_dir.name, "run", settings, [row], kind.value if kind else None, problems)


def run_arms(roots: list[Path]) -> tuple[list[ArmSeeds], list[str]]:
    arms, problems = [], []
    for root in roots:
        if not root.is_dir():
            continue
        for run_dir in sorted(p for p in root.iterdir() if (p / RUN_LOG).is_file()):
            try:
                arm = _run_arm(run_dir, _stat_key(run_dir))
            except RecordFileError as exc:
                problems.append(f"run {run_dir.name}: {exc}")
                continue
            arms.append(arm)
            problems.extend(arm.problems)
    return arms, problems


def ablation_folders(roots: list[Path]) -> list[Path]:
    """Results folders of `pgolf ablate` (they keep the ablation file as run) under the given folders."""
    found = []
    for root in roots:
        if root.is_dir():
            found += sorted(p for p in root.iterdir() if (p / PLAN_COPY).is_file())
    return found


def load_ablations(roots: list[Path]) -> tuple[list[tuple[AblationPlan, list[RunResult]]], list[str]]:
    """Each results folder's plan and recorded runs, read once per request for its arms and its link."""
    loaded, problems = [], []
    for folder in ablation_folders(roots):
        try:
            plan = load_results_folder(folder)
            loaded.append((plan, results_of(plan)))
        except PgolfError as exc:
            problems.append(f"ablation {folder.name}: {first_line(exc)}")
    return loaded, problems


def all_arms(catalog: RecordCatalog, run_roots: list[Path],
             ablations: list[tuple[AblationPlan, list[RunResult]]]) -> tuple[list[ArmSeeds], list[str]]:
    runs, problems = run_arms(run_roots)
    from_ablations = [arm for plan, results in ablations for arm in plan_arms(plan, results)]
    return [record_arm(entry) for entry in catalog.entries()] + runs + from_ablations, problems
