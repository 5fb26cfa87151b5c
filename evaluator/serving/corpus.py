"""Which corpus a record, training run or ablation arm was scored on, so that BPBs on different corpora are never
ranked or subtracted as if comparable (the CPU demo's Wikipedia text against FineWeb records, say).

A record in one of the challenge's tracks is scored on the FineWeb validation split: that is the track's rule.
Anything else says where its data came from in its settings (a run's config.json `data_path`, the `config:` line
or `data_path:` echo of a log); a path naming FineWeb is FineWeb, another is that corpus by its folder's name.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path, PurePosixPath

from evaluator.ablation.arm_comparison import ArmSeeds
from evaluator.ablation.plan import AblationPlan
from evaluator.records.untrusted_files import LOG_LIMIT, RecordFileError, read_capped
from evaluator.serving.catalog import CatalogEntry

FINEWEB = "FineWeb"
CHALLENGE_TRACKS = {"10min_16mb", "non_record_16mb"}
UNKNOWN = "corpus not stated (not a challenge track)"
_DATA_KEYS = {"data_path", "datasets_dir", "dataset_dir"}
# `"data_path":"data/wiki_sp1024"` in a logged JSON config, or `data_path: ...` / `DATA_PATH=...` in an echo
_DATA_IN_LOG = re.compile(r"""["']?data_path["']?\s*[:=]\s*["']?([^"',\s}]+)""", re.IGNORECASE)
_LOG_HEAD_BYTES = 64 * 1024


def corpus_of_path(path: str) -> str:
    if "fineweb" in path.lower():
        return FINEWEB
    name = PurePosixPath(path.rstrip("/")).name or path
    return f"{name} (not FineWeb)"


def corpus_of_settings(settings: dict[str, str]) -> str:
    for key, value in settings.items():
        if key.lower() in _DATA_KEYS and "/" in value:
            return corpus_of_path(value)
    return UNKNOWN


@lru_cache(maxsize=1024)
def record_corpus(entry: CatalogEntry) -> str:
    track = entry.record.track.removeprefix("track_") if entry.record.track else None
    if track in CHALLENGE_TRACKS:
        return FINEWEB
    for log in entry.record.logs:
        try:
            head = read_capped(Path(log.path), min(LOG_LIMIT, _LOG_HEAD_BYTES)).text()
        except RecordFileError:
            continue
        if match := _DATA_IN_LOG.search(head):
            return corpus_of_path(match.group(1))
    return UNKNOWN


def arm_corpus(arm: ArmSeeds, records: dict[str, CatalogEntry], plans: dict[str, tuple[AblationPlan, object]]) -> str:
    """The corpus of a record, a training run or an ablation arm (records: one catalog snapshot's entries by id;
    plans: each ablation's plan by name, first)."""
    source, _, name = arm.id.partition(":")
    if source == "record":
        entry = records.get(name)
        return record_corpus(entry) if entry else UNKNOWN
    if source == "ablation":
        plan_name, _, arm_name = name.partition("/")
        plan = plans[plan_name][0]
        data_path = plan.config(plan.arm(arm_name), plan.seeds[0]).data_path
        return corpus_of_path(data_path) if data_path else UNKNOWN
    return corpus_of_settings(arm.settings)


def corpus_warning(corpora: dict[str, str]) -> str | None:
    """One line when labelled items were scored on more than one corpus: their BPBs are not comparable."""
    if len(set(corpora.values())) <= 1:
        return None
    return ("Not comparable: these were scored on different corpora ("
            + "; ".join(f"{label}: {corpus}" for label, corpus in corpora.items())
            + "), so a BPB difference between them says nothing about the models.")
