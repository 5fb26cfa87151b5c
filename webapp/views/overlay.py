"""Overlay anything against anything: records, training runs and ablation arms chosen by id (the ablation page's
ids: record:<id>, run:<name>, ablation:<name>/<arm>), their validation BPB and train loss against step and training
time, a table of final numbers with deltas against the reference item, and their settings side by side.

One metric per comparison: every final score, in the table and as the charts' stars, is either the reference's
metric kind (metric=reference) or each item's own headline (metric=headline), and the page says which. A delta is
only printed between items of the same corpus and metric kind; otherwise the row says why not.
"""
from __future__ import annotations

import os
import statistics
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from crawler.contract import RUN_LOG, MetricKind
from evaluator.service import (KIND_WORDS, AblationPlan, ArmSeeds, CatalogEntry, RecordCatalog, RecordFileError,
                               RunResult, TrainLog, all_arms, arm_corpus, arm_stats, corpus_warning, csv_table,
                               load_ablations, parse_log)
from webapp.charts import Panel, Series, log_series, panels

MAX_ITEMS = 10  # one colour each
MetricChoice = Literal["reference", "headline"]
METRIC_WORDS = {"reference": "the reference's metric kind", "headline": "each item's own headline metric"}


class OverlayError(ValueError):
    pass


class TooManyItems(OverlayError):
    pass


class OverlayChoice(BaseModel):
    id: str
    label: str
    source: str = Field(description="record, run (pgolf train) or ablation (pgolf ablate)")
    corpus: str = Field(description="what its BPB was scored on: FineWeb, or another corpus named")
    track: str | None = Field(description="a record's track")
    kind: str | None = Field(description="its headline metric kind")
    score: float | None = Field(description="mean headline BPB over its seeds")


class SettingRow(BaseModel):
    key: str
    values: list[str | None] = Field(description="per item, in the items' order; None: not set")
    differs: bool = Field(description="some item's value is not the reference's")


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
    reference: str | None = Field(description="the item the deltas and the settings are taken against")
    metric: str = Field(description="reference: every score in the reference's metric kind; headline: each item's own")
    metric_label: str
    rows: list[OverlayRow]
    panels: list[Panel]
    settings: list[SettingRow] = Field(description="every setting any item states, reference first")
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


def _item_logs(arm: ArmSeeds, records: dict[str, CatalogEntry], run_roots: list[Path],
               ablations: dict[str, tuple[AblationPlan, list[RunResult]]]) -> list[TrainLog]:
    kind, _, name = arm.id.partition(":")
    if kind == "record":
        entry = records.get(name)
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


def _choice(arm: ArmSeeds, corpus: str, tracks: dict[str, str]) -> OverlayChoice:
    kind = arm.headline_kind
    values = arm.values(kind) if kind else []
    track = tracks.get(arm.id.split(":", 1)[1]) if arm.source == "record" else None
    return OverlayChoice(id=arm.id, label=_label(arm), source=arm.source, corpus=corpus, track=track, kind=kind,
                         score=statistics.fmean(values) if values else None)


def _row(arm: ArmSeeds, corpus: str, kind: str | None, reference: ArmSeeds | None, reference_row: OverlayRow | None) -> OverlayRow:
    """The item's final numbers in `kind`; its delta against the reference comes from the ablation comparison
    (evaluator.ablation.arm_comparison.arm_stats), the one place a delta between arms is computed."""
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
    elif kind != reference_row.kind:
        row.not_comparable = f"other metric kind ({KIND_WORDS.get(kind or '', 'none')} vs " \
                             f"{KIND_WORDS.get(reference_row.kind or '', 'none')})"
    elif row.mean is None or reference_row.mean is None:
        row.not_comparable = f"no {KIND_WORDS.get(kind or '', 'final')} score on both sides"
    else:
        row.delta = stats.delta
    return row


def _settings(arms: list[ArmSeeds]) -> list[SettingRow]:
    """Every key any item states, in the reference's order then the others'; differs: not the reference's value."""
    keys = list(dict.fromkeys(key for arm in arms for key in arm.settings))
    rows = []
    for key in keys:
        values = [arm.settings.get(key) for arm in arms]
        rows.append(SettingRow(key=key, values=values, differs=any(v != values[0] for v in values[1:])))
    return rows


def overlay(item_ids: list[str], arms: list[ArmSeeds], problems: list[str], catalog: RecordCatalog,
            run_roots: list[Path], ablations: list[tuple[AblationPlan, list[RunResult]]], reference: str = "",
            metric: MetricChoice = "reference") -> Overlay:
    """reference: the item the deltas are against (the first when it is not among the items); TooManyItems past
    MAX_ITEMS."""
    by_id = {arm.id: arm for arm in arms}
    by_plan = {plan.name: (plan, results) for plan, results in ablations}
    records = {entry.id: entry for entry in catalog.entries()}  # one listing of the roots, not one per record
    corpora = {arm.id: arm_corpus(arm, records, by_plan) for arm in arms}
    tracks = {id: entry.record.track.removeprefix("track_") for id, entry in records.items() if entry.record.track}
    choices = [_choice(arm, corpora[arm.id], tracks) for arm in arms]
    ids = list(dict.fromkeys(item_ids))
    unknown = [i for i in ids + ([reference] if reference else []) if i not in by_id]
    if unknown:
        raise OverlayError(f"no such record, run or ablation arm: {unknown[0]}")
    if len(ids) > MAX_ITEMS:
        raise TooManyItems(f"choose at most {MAX_ITEMS} items ({len(ids)} chosen)")
    if reference in ids:  # a reference unticked since is forgotten: the first item is the reference again
        ids.remove(reference)
        ids.insert(0, reference)
    rows: list[OverlayRow] = []
    val: list[Series] = []
    train: list[Series] = []
    for index, item in enumerate(ids):
        arm = by_id[item]
        reference_row = rows[0] if rows else None
        kind = reference_row.kind if reference_row and metric == "reference" else arm.headline_kind
        rows.append(_row(arm, corpora[item], kind, by_id[ids[0]] if rows else None, reference_row))
        logs = [log for log in _item_logs(arm, records, run_roots, by_plan) if log.val_curve or log.train_curve]
        for n, log in enumerate(logs):
            # the stars are the table's scores: the same kind, so that the two never disagree
            for curve, out in (("val", val), ("train", train)):
                line = log_series(log, rows[-1].label, item, curve, MetricKind(kind) if kind else None,
                                  colour=index, dash=n)
                line.in_legend = n == 0
                line.detail = f"seed {log.seed}" if log.seed is not None else log.file_name
                out.append(line)
    warnings = []
    if warning := corpus_warning({row.label: row.corpus for row in rows}):
        warnings.append(warning + " Their curves are drawn together; no delta is given across corpora.")
    unscored = [row.label for row in rows if row.mean is None]
    if unscored and rows[0].kind and metric == "reference":
        warnings.append(f"No final {KIND_WORDS[rows[0].kind]} score (the reference's metric kind): "
                        + ", ".join(unscored) + ".")
    drawn = panels(val, "overlay", "Validation BPB", "val BPB (bits/byte)") if any(s.values for s in val) else []
    drawn += panels(train, "overlay-train", "Train loss", "train loss (nats/token)") \
        if any(s.values for s in train) else []
    return Overlay(items=ids, reference=ids[0] if ids else None, metric=metric, metric_label=METRIC_WORDS[metric],
                   rows=rows, panels=drawn, settings=_settings([by_id[i] for i in ids]), warnings=warnings,
                   choices=choices, problems=problems)


CSV_COLUMNS = ("id", "label", "source", "corpus", "kind", "n", "mean", "std", "delta", "not_comparable", "steps",
               "train_time_s")


def overlay_view(catalog: RecordCatalog, run_roots: list[Path], ablation_roots: list[Path], item_ids: list[str],
                 reference: str = "", metric: MetricChoice = "reference") -> Overlay:
    """The overlay of the given items, over every arm the server knows (records, training runs, ablations)."""
    ablations, ablation_problems = load_ablations(ablation_roots)
    arms, problems = all_arms(catalog, run_roots, ablations)
    return overlay(item_ids, arms, problems + ablation_problems, catalog, run_roots, ablations, reference, metric)


def overlay_csv(result: Overlay) -> str:
    """The comparison table as CSV: one row per item, the reference first."""
    return csv_table(CSV_COLUMNS, (row.model_dump() for row in result.rows))
