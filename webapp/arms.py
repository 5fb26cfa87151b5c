"""Ablation arms: a record (several seeds), a training run from `pgolf train` (one seed), or an arm of an
ablation run by `pgolf ablate` (its seeds), each with the settings it ran with and its per-seed results.

A run's settings are its config.json. A record ships no config, so its settings are the `key:value`
and `key=value` pairs its first log prints before training starts (hyperparameter dumps, env echoes),
which is what differs between two records' scripts in practice.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from crawler.errors import PgolfError
from evaluator.ablation.compare import NOT_SETTINGS, ArmSeeds, config_settings
from evaluator.ablation.plan import AblationPlan
from evaluator.ablation.report import load_results_folder, plan_arms
from evaluator.ablation.runner import PLAN_COPY, RunResult, results_of
from evaluator.records.headline import choose_headline_kind
from evaluator.records.logs import TrainLog, parse_log
from evaluator.records.seeds import seed_row
from webapp.catalog import CatalogEntry, RecordCatalog

RUN_LOG = "train.log"
RUN_CONFIG = "config.json"
_CONFIG_LINE = "config:"
_PAIR = re.compile(r"(?:^|\s)([A-Za-z_][\w.]*)\s*[:=]\s*([^\s,]+)")
# torch's launcher warnings and nvidia-smi's table (drawn with |) carry no settings
_NOT_SETTING_LINE = re.compile(r"^[WIEF]\d{4} |\|")


def _first_training_line(log: TrainLog) -> int:
    lines = [p.line for p in [*log.train_curve, *log.val_curve]] + [m.line for m in log.metrics]
    return min(lines, default=log.n_lines + 1)


def log_settings(log: TrainLog) -> dict[str, str]:
    """key:value pairs printed before the first training line, outside the embedded source."""
    text = Path(log.path).read_bytes().decode("utf-8", errors="replace").split("\n")
    settings: dict[str, str] = {}
    for number, line in enumerate(text[: _first_training_line(log) - 1], start=1):
        if _NOT_SETTING_LINE.search(line) or (log.source and log.source.covers(number)):
            continue
        for key, value in _PAIR.findall(line):
            if key.lower() not in NOT_SETTINGS:
                settings.setdefault(key, value)
    return settings


def record_arm(entry: CatalogEntry) -> ArmSeeds:
    settings = log_settings(entry.record.logs[0]) if entry.record.logs else {}
    kind = entry.seeds.headline_kind
    return ArmSeeds(f"record:{entry.id}", entry.id, "record", settings, entry.seeds.rows, kind.value if kind else None)


def _run_settings(run_dir: Path, log: TrainLog, problems: list[str]) -> dict[str, str]:
    """config.json, else the `config:{...}` line `pgolf train` logs, else the log's key:value header."""
    config = run_dir / RUN_CONFIG
    if config.is_file():
        try:
            return config_settings(json.loads(config.read_text()))
        except (OSError, json.JSONDecodeError, AttributeError) as exc:
            problems.append(f"run {run_dir.name}: {RUN_CONFIG} unreadable ({str(exc).splitlines()[0]})")
    for line in Path(log.path).read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(_CONFIG_LINE):
            try:
                return config_settings(json.loads(line[len(_CONFIG_LINE):]))
            except (json.JSONDecodeError, AttributeError):
                break
    return log_settings(log)


def _run_arm(run_dir: Path) -> ArmSeeds:
    problems: list[str] = []
    log = parse_log(run_dir / RUN_LOG)
    log.file_name = f"{run_dir.name}/{RUN_LOG}"
    kind, _ = choose_headline_kind([log], None)
    return ArmSeeds(f"run:{run_dir.name}", run_dir.name, "run", _run_settings(run_dir, log, problems),
                    [seed_row(log, kind)], kind.value if kind else None, problems)


def run_arms(roots: list[Path]) -> tuple[list[ArmSeeds], list[str]]:
    arms, problems = [], []
    for root in roots:
        if not root.is_dir():
            continue
        for run_dir in sorted(p for p in root.iterdir() if (p / RUN_LOG).is_file()):
            try:
                arm = _run_arm(run_dir)
            except OSError as exc:
                problems.append(f"run {run_dir.name}: unreadable ({exc.strerror or exc})")
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
            problems.append(f"ablation {folder.name}: {str(exc).splitlines()[0]}")
    return loaded, problems


def all_arms(catalog: RecordCatalog, run_roots: list[Path],
             ablations: list[tuple[AblationPlan, list[RunResult]]]) -> tuple[list[ArmSeeds], list[str]]:
    runs, problems = run_arms(run_roots)
    from_ablations = [arm for plan, results in ablations for arm in plan_arms(plan, results)]
    return [record_arm(entry) for entry in catalog.entries()] + runs + from_ablations, problems
