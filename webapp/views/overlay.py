"""Overlay anything against anything: records, training runs and ablation arms chosen by id (the ablation page's
ids: record:<id>, run:<name>, ablation:<name>/<arm>), their validation BPB against step and training time, and a
table of final numbers with deltas against the first item chosen.

A delta is only printed between items of the same corpus and metric kind; otherwise the row says why not.
"""
from __future__ import annotations

import os
import statistics
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field

from evaluator.ablation.compare import ArmSeeds, arm_stats
from evaluator.ablation.plan import AblationPlan
from evaluator.ablation.runner import RunResult
from evaluator.records.files import RecordFileError
from evaluator.records.logs import TrainLog, parse_log
from evaluator.records.metric_kinds import KIND_WORDS, MetricKind
from webapp.arms import RUN_LOG
from webapp.catalog import RecordCatalog
from webapp.charts import Panel, Series, log_series, panels
from webapp.comparability import arm_corpus, corpus_warning

MAX_ITEMS = 10  # one colour each


class OverlayError(ValueError):
    pass


class OverlayChoice(BaseModel):
    id: str
    label: str
    source: str = Field(description="record, run (pgolf train) or ablation (pgolf ablate)")
    corpus: str = Field(description="what its BPB was scored on: FineWeb, or another corpus named")


class OverlayRow(BaseModel):
    id: str
    label: str
    source: str
    corpus: str
    kind: str | None = Field(description="the metric kind of `mean` (the first item's headline kind where it has one)")
    n: int = Field(description="seeds with a final score of that kind")
    mean: float | None
    std: float | None = Field(description="sample std over seeds")
    steps: float | None = Field(description="mean final step over seeds")
    train_time_s: float | None = Field(description="mean training time over seeds")
    delta: float | None = Field(description="mean minus the first item's mean (negative is better)")
    not_comparable: str = Field("", description="why no delta is given")


class Overlay(BaseModel):
    items: list[str]
    rows: list[OverlayRow]
    panels: list[Panel]
    warnings: list[str]
    choices: list[OverlayChoice]
    problems: list[str]


def _stat_key(path: Path) -> tuple:
    info = os.lstat(path)
    return (str(path), info.st_size, info.st_mtime_ns)


@lru_cache(maxsize=512)
def _parsed_log(key: tuple) -> TrainLog:
    """key: _stat_key of the log, so that a changed log is read again."""
    return parse_log(Path(key[0]))


def _run_log(path: Path, name: str) -> TrainLog | None:
    try:
        log = _parsed_log(_stat_key(path))
    except (OSError, RecordFileError):
        return None
    log.file_name = name
    return log


def _item_logs(arm: ArmSeeds, catalog: RecordCatalog, run_roots: list[Path],
               ablations: dict[str, tuple[AblationPlan, list[RunResult]]]) -> list[TrainLog]:
    kind, _, name = arm.id.partition(":")
    if kind == "record":
        entry = catalog.get(name)
        return entry.record.logs if entry else []
    if kind == "run":
        found = [root / name / RUN_LOG for root in run_roots if (root / name / RUN_LOG).is_file()]
        return [log for log in [_run_log(found[0], f"{name}/{RUN_LOG}")] if log] if found else []
    plan_name, _, arm_name = name.partition("/")
    plan, results = ablations[plan_name]
    runs = [r for r in results if r.arm == arm_name and r.ok]
    logs = [_run_log(plan.runs_dir / r.run_id / RUN_LOG, f"{r.run_id}/{RUN_LOG}") for r in runs]
    return [log for log in logs if log]


def _label(arm: ArmSeeds) -> str:
    return arm.id.split(":", 1)[1] if arm.source == "ablation" else arm.label


def _row(arm: ArmSeeds, corpus: str, kind: str | None, reference: ArmSeeds | None, reference_row: OverlayRow | None) -> OverlayRow:
    """The item's final numbers; its delta against the first item comes from the ablation comparison
    (evaluator.ablation.compare.arm_stats), the one place a delta between arms is computed."""
    kind = kind or arm.headline_kind
    stats = arm_stats(arm, reference or arm, kind)
    score = stats.bpb.get(kind) if kind else None
    times = [r.train_time_s for r in arm.rows if r.train_time_s is not None]
    row = OverlayRow(
        id=arm.id, label=_label(arm), source=arm.source, corpus=corpus, kind=kind, n=score.n if score else 0,
        mean=score.mean if score else None, std=score.std if score else None, steps=stats.steps,
        train_time_s=statistics.fmean(times) if times else None, delta=None)
    if reference_row is None:
        return row
    if corpus != reference_row.corpus:
        row.not_comparable = f"other corpus ({corpus} vs {reference_row.corpus})"
    elif row.mean is None or reference_row.mean is None:
        row.not_comparable = f"no {KIND_WORDS.get(kind or '', 'final')} score on both sides"
    else:
        row.delta = stats.delta
    return row


def overlay(item_ids: list[str], arms: list[ArmSeeds], problems: list[str], catalog: RecordCatalog,
            run_roots: list[Path], ablations: list[tuple[AblationPlan, list[RunResult]]]) -> Overlay:
    by_id = {arm.id: arm for arm in arms}
    by_plan = {plan.name: (plan, results) for plan, results in ablations}
    records = {entry.id: entry for entry in catalog.entries()}  # one listing of the roots, not one per record
    corpora = {arm.id: arm_corpus(arm, records, by_plan) for arm in arms}
    choices = [OverlayChoice(id=arm.id, label=_label(arm), source=arm.source, corpus=corpora[arm.id]) for arm in arms]
    ids = list(dict.fromkeys(item_ids))
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise OverlayError(f"no such record, run or ablation arm: {unknown[0]}")
    if len(ids) > MAX_ITEMS:
        raise OverlayError(f"choose at most {MAX_ITEMS} items ({len(ids)} chosen)")
    rows: list[OverlayRow] = []
    series: list[Series] = []
    for index, item in enumerate(ids):
        arm = by_id[item]
        reference = rows[0] if rows else None
        rows.append(_row(arm, corpora[item], reference.kind if reference else None,
                         by_id[ids[0]] if rows else None, reference))
        logs = [log for log in _item_logs(arm, catalog, run_roots, by_plan) if log.val_curve]
        kind = MetricKind(arm.headline_kind) if arm.headline_kind else None
        for n, log in enumerate(logs):
            line = log_series(log, rows[-1].label, item, "val", kind, colour=index, dash=n)
            line.in_legend = n == 0
            line.detail = f"seed {log.seed}" if log.seed is not None else log.file_name
            series.append(line)
    warnings = []
    if warning := corpus_warning({row.label: row.corpus for row in rows}):
        warnings.append(warning + " Their curves are drawn together; no delta is given across corpora.")
    unscored = [row.label for row in rows if row.mean is None]
    if unscored and rows[0].kind:
        warnings.append(f"No final {KIND_WORDS[rows[0].kind]} score (the first item's metric kind): "
                        + ", ".join(unscored) + ".")
    return Overlay(items=ids, rows=rows, panels=panels(series, "overlay", "Validation BPB", "val BPB (bits/byte)")
                   if series else [], warnings=warnings, choices=choices, problems=problems)
