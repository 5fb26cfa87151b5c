"""The leaderboard as the challenge keeps it: one ranking per track by the submitted headline score.

A submission is scored by the method it chose (sliding window, TTT, roundtrip): the challenge ranks those scores in
one table, and so does this page, with the metric kind a column and a filter. A record that fails the size cap, a
time cap or misstates its score is not ranked; it is listed below its track's ranking with the rule that keeps it
out. The score is the mean headline BPB over the seeds' logs (or the submitted run's, where the claim is exactly one
run's score), else the val_bpb submission.json claims (marked as a claim). Records scored on another corpus than
FineWeb (the CPU demo) are ranked apart, per corpus: a BPB on other text is never ranked against FineWeb's.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from evaluator.service import CHALLENGE_TRACKS, FINEWEB, KIND_WORDS, CatalogEntry, RecordCatalog, record_corpus
from webapp.views.records import record_row
from webapp.views.standing import RANKING_RULES, flagged, kept_out_by, verdict

LeaderSort = Literal["rank", "name", "date", "n_seeds", "worst_total_bytes", "kind"]
CLAIM_KIND = "claim"  # the kind of a score only submission.json states: no log says how it was measured


class LeaderRow(BaseModel):
    rank: int | None = Field(description="1 = lowest score of the track's ranking; None: not ranked")
    id: str
    name: str
    folder: str
    date: str | None
    author: str | None
    kind: str | None = Field(description="the metric kind of the score (sliding_window, ttt, roundtrip ...); 'claim' "
                                         "when only submission.json states it")
    score: float | None = Field(description="headline BPB from the seeds' logs (their mean, or the submitted "
                                            "run's), else the claimed val_bpb")
    score_is_claim: bool = Field(description="no log shows the score: it is submission.json's claim")
    std: float | None
    n_seeds: int
    single_seed: bool = Field(description="the score rests on one seed's log")
    gap_to_best: float | None = Field(description="score minus the ranking's best (0 for the best)")
    worst_total_bytes: int | None
    status: str = Field(description="worst status over every compliance rule")
    verdict: str = Field(description="worst status over the rules that decide a place: " + ", ".join(RANKING_RULES))
    kept_out_by: list[str] = Field(description="the failing rules that keep the record off the ranking, with why")
    flagged_rules: list[str] = Field(description="every rule that fails or warns, failures first, with its summary")


class LeaderGroup(BaseModel):
    corpus: str
    primary: bool = Field(description="the track's FineWeb ranking; a group on another corpus is ranked apart")
    label: str
    rows: list[LeaderRow] = Field(description="the ranked records")
    excluded: list[LeaderRow] = Field(description="records failing size, time or claims, or without a score: not "
                                                  "ranked, each with the rule that keeps it out")


class LeaderTrack(BaseModel):
    track: str
    groups: list[LeaderGroup]


class Leaderboard(BaseModel):
    tracks: list[LeaderTrack]
    sort: str
    order: str
    kind: str = Field(description="the metric kind shown ('' = every kind); ranks are the track's whatever is shown")
    kinds: list[str]
    warnings: list[str]


def _row(entry: CatalogEntry) -> LeaderRow:
    row = record_row(entry)
    claim = row.headline_bpb is None and row.claimed_bpb is not None
    score = row.claimed_bpb if claim else row.headline_bpb
    out = kept_out_by(entry.compliance)
    if score is None:
        out.append("No score: neither the logs nor submission.json give one")
    return LeaderRow(rank=None, id=row.id, name=row.name, folder=row.folder, date=str(row.date) if row.date else None,
                     author=row.author, kind=CLAIM_KIND if claim else row.headline_kind, score=score,
                     score_is_claim=claim, std=row.std_bpb, n_seeds=row.n_seeds, single_seed=row.n_seeds == 1,
                     gap_to_best=None, worst_total_bytes=row.worst_total_bytes, status=row.status,
                     verdict=verdict(entry.compliance).value, kept_out_by=out, flagged_rules=flagged(entry.compliance))


def _label(corpus: str, primary: bool) -> str:
    if primary:
        return "Ranked by submitted score (BPB), whatever the evaluation method"
    return f"Scored on {corpus}: not comparable with FineWeb scores, ranked apart"


def _sort(rows: list[LeaderRow], sort: str, order: str) -> list[LeaderRow]:
    key = "score" if sort == "rank" else sort
    present = [r for r in rows if getattr(r, key) is not None]
    missing = [r for r in rows if getattr(r, key) is None]
    text = lambda v: v.lower() if isinstance(v, str) else v
    present.sort(key=lambda r: (text(getattr(r, key)), r.folder), reverse=order == "desc")
    return present + missing


def _group(corpus: str, rows: list[LeaderRow], primary: bool, sort: str, order: str, kind: str) -> LeaderGroup:
    ranked = sorted((r for r in rows if not r.kept_out_by), key=lambda r: (r.score, r.folder))
    for rank, row in enumerate(ranked, start=1):
        row.rank, row.gap_to_best = rank, row.score - ranked[0].score
    shown = lambda group: [r for r in group if not kind or r.kind == kind]
    excluded = sorted((r for r in rows if r.kept_out_by), key=lambda r: (r.score is None, r.score or 0, r.folder))
    return LeaderGroup(corpus=corpus, primary=primary, label=_label(corpus, primary),
                       rows=_sort(shown(ranked), sort, order), excluded=shown(excluded))


def leaderboard(catalog: RecordCatalog, sort: LeaderSort = "rank", order: Literal["asc", "desc"] = "asc",
                kind: str = "") -> Leaderboard:
    by_track: dict[str, dict[str, list[LeaderRow]]] = {}
    for entry in catalog.entries():
        track = entry.record.track.removeprefix("track_") if entry.record.track else "no track"
        by_track.setdefault(track, {}).setdefault(record_corpus(entry), []).append(_row(entry))
    tracks, kinds = [], set()
    for track in sorted(by_track, key=lambda t: (t not in CHALLENGE_TRACKS, t)):
        corpora = by_track[track]
        kinds |= {row.kind for rows in corpora.values() for row in rows if row.kind}
        groups = [_group(corpus, corpora[corpus], corpus == FINEWEB, sort, order, kind)
                  for corpus in sorted(corpora, key=lambda c: (c != FINEWEB, c))]
        tracks.append(LeaderTrack(track=track, groups=groups))
    others = sorted({c for corpora in by_track.values() for c in corpora if c != FINEWEB})
    warnings = [f"Not FineWeb: {', '.join(others)}. These records (CPU demos, other corpora) are ranked only among "
                "records of the same corpus, never against FineWeb records."] if others else []
    return Leaderboard(tracks=tracks, sort=sort, order=order, kind=kind,
                       kinds=sorted(kinds, key=lambda k: KIND_WORDS.get(k, k)), warnings=warnings)
