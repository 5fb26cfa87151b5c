"""The leaderboard: each track's records ranked by headline score among comparable records only.

Records are comparable when they were scored on the same corpus and in the same metric kind (a TTT score and a
sliding-window score of one model differ by design). In each track the largest FineWeb group is ranked first;
every other group is shown apart, labelled with its corpus and kind, and ranked only within itself. The score is
the mean headline BPB over the seeds' logs, else the value submission.json claims (marked as a claim).
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from evaluator.check.findings import Status
from evaluator.records.metric_kinds import KIND_WORDS
from webapp.catalog import CatalogEntry, RecordCatalog
from webapp.comparability import CHALLENGE_TRACKS, FINEWEB, record_corpus
from webapp.views.records import record_row

LeaderSort = Literal["rank", "name", "date", "n_seeds", "worst_total_bytes"]


class LeaderRow(BaseModel):
    rank: int | None = Field(description="1 = lowest score in its group; None: no score")
    id: str
    name: str
    folder: str
    date: str | None
    author: str | None
    score: float | None = Field(description="mean headline BPB over the seeds' logs, else the claimed val_bpb")
    score_is_claim: bool = Field(description="no log shows the score: it is submission.json's claim")
    std: float | None
    n_seeds: int
    gap_to_best: float | None = Field(description="score minus the group's best (0 for the best)")
    worst_total_bytes: int | None
    status: str
    flagged_rules: list[str] = Field(description="the compliance rules that fail or warn, worst first")


class LeaderGroup(BaseModel):
    corpus: str
    kind: str | None
    primary: bool = Field(description="the track's main group (largest on FineWeb); other groups are not ranked with it")
    label: str
    rows: list[LeaderRow]


class LeaderTrack(BaseModel):
    track: str
    groups: list[LeaderGroup]


class Leaderboard(BaseModel):
    tracks: list[LeaderTrack]
    sort: str
    order: str
    warnings: list[str]


def _flagged(entry: CatalogEntry) -> list[str]:
    rows = [r for r in entry.compliance.rows if r.status in (Status.FAIL, Status.WARN)]
    rows.sort(key=lambda r: r.status != Status.FAIL)
    return [f"{r.status.value}: {r.title}" for r in rows]


def _row(entry: CatalogEntry) -> tuple[LeaderRow, str | None]:
    """The row, and the metric kind it is ranked in (None: no score from the logs, so not ranked)."""
    row = record_row(entry)
    claim = row.mean_bpb is None and row.claimed_bpb is not None
    return LeaderRow(rank=None, id=row.id, name=row.name, folder=row.folder, date=str(row.date) if row.date else None,
                     author=row.author, score=row.claimed_bpb if claim else row.mean_bpb, score_is_claim=claim,
                     std=row.std_bpb, n_seeds=row.n_seeds, gap_to_best=None, worst_total_bytes=row.worst_total_bytes,
                     status=row.status, flagged_rules=_flagged(entry)), row.headline_kind if not claim else None


def _label(corpus: str, kind: str | None, primary: bool) -> str:
    if kind is None:
        return "No final score in the logs (a claim in submission.json at most, of unknown kind): not ranked"
    what = f"{KIND_WORDS.get(kind, kind)} BPB on {corpus}"
    return f"Ranked by {what}" if primary else f"Scored as {what}: not comparable with the group above, ranked apart"


def _sort(rows: list[LeaderRow], sort: str, order: str) -> list[LeaderRow]:
    key = "score" if sort == "rank" else sort
    present = [r for r in rows if getattr(r, key) is not None]
    missing = [r for r in rows if getattr(r, key) is None]
    text = lambda v: v.lower() if isinstance(v, str) else v
    present.sort(key=lambda r: (text(getattr(r, key)), r.folder), reverse=order == "desc")
    return present + missing


def leaderboard(catalog: RecordCatalog, sort: LeaderSort = "rank", order: Literal["asc", "desc"] = "asc") -> Leaderboard:
    groups: dict[str, dict[tuple[str, str | None], list[LeaderRow]]] = {}
    corpora = {}
    for entry in catalog.entries():
        row, kind = _row(entry)
        track = entry.record.track.removeprefix("track_") if entry.record.track else "no track"
        kind = kind if row.score is not None else None
        corpora[entry.id] = record_corpus(entry)
        groups.setdefault(track, {}).setdefault((corpora[entry.id], kind), []).append(row)
    tracks = []
    for track in sorted(groups, key=lambda t: (t not in CHALLENGE_TRACKS, t)):
        by_key = groups[track]
        scored = [key for key in by_key if key[1] is not None]
        fineweb = [key for key in scored if key[0] == FINEWEB]
        primary = max(fineweb or scored, key=lambda key: len(by_key[key]), default=None)
        ordered = ([primary] if primary else []) + sorted((k for k in scored if k != primary), key=lambda k: (k[0] != FINEWEB, k))
        ordered += [key for key in by_key if key[1] is None]
        out = []
        for corpus, kind in ordered:
            rows = by_key[(corpus, kind)]
            if kind is not None:
                ranked = sorted(rows, key=lambda r: (r.score, r.folder))
                for rank, row in enumerate(ranked, start=1):
                    row.rank, row.gap_to_best = rank, row.score - ranked[0].score
            key_primary = (corpus, kind) == primary
            out.append(LeaderGroup(corpus=corpus, kind=kind, primary=key_primary, label=_label(corpus, kind, key_primary),
                                   rows=_sort(rows, sort, order)))
        tracks.append(LeaderTrack(track=track, groups=out))
    others = sorted({c for c in corpora.values() if c != FINEWEB})
    warnings = [f"Not FineWeb: {', '.join(others)}. These records (CPU demos, other corpora) are ranked only among "
                "records of the same corpus and metric kind, never against FineWeb records."] if others else []
    return Leaderboard(tracks=tracks, sort=sort, order=order, warnings=warnings)
