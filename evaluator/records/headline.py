"""Which metric kind a record's score is: the one its submission.json claims, as far as the logs show.

For each kind present in the logs, count the claims it reproduces (each seed's val_bpb against
that seed's log; the top-level val_bpb against the mean over logs or any one log's value). The kind
reproducing the most claims wins; ties and the no-claim case go to the scoring order
TTT > sliding window > roundtrip > pre-quant, the order in which records report their score, and last to the
unclassified lines (metric_kinds.CANDIDATE_KINDS).

The headline score is the mean over the runs of that kind, unless the top-level claim is one run's score and not
the mean: write-ups that ran more seeds for significance often submit one of them ("Submitted run: seed 42
(best)"), and that run's score is then the headline, with the mean shown beside it (submitted_run).
"""
from __future__ import annotations

import math

from crawler.contract import MetricKind
from evaluator.records.metric_kinds import CANDIDATE_KINDS
from evaluator.records.submission import Submission
from evaluator.records.train_log import Metric, TrainLog


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values)


def choose_headline_kind(logs: list[TrainLog], submission: Submission | None) -> tuple[MetricKind | None, str]:
    present = [kind for kind in CANDIDATE_KINDS if any(log.final(kind) for log in logs)]
    if not present:
        return None, "no final evaluation line in any log"
    scores: dict[MetricKind, int] = {}
    for kind in present:
        score = 0
        if submission:
            for seed, claim in submission.seed_claims.items():
                bpb = claim.numbers.get("val_bpb")
                log = next((log for log in logs if log.seed == seed), None)
                metric = log.final(kind) if log else None
                if bpb and metric and bpb.matches(metric.val_bpb):
                    score += 1
            top = submission.numbers.get("val_bpb")
            values = [m.val_bpb for log in logs if (m := log.final(kind))]
            # a top-level claim may be the mean or, in single-seed write-ups, one seed's value
            if top and values and (top.matches(_mean(values)) or any(top.matches(v) for v in values)):
                score += 1
        scores[kind] = score
    best = max(present, key=lambda kind: (scores[kind], -CANDIDATE_KINDS.index(kind)))
    if scores[best] == 0:
        known = [kind for kind in present if kind is not MetricKind.UNKNOWN] or present
        complete = [kind for kind in known if all(log.final(kind) for log in logs)]
        fallback = complete[0] if complete else known[0]
        return fallback, f"no submission claim matches a log metric; {fallback} by scoring order"
    return best, f"{best} reproduces {scores[best]} submission claim(s)"


def headline_metric(log: TrainLog, kind: MetricKind | None) -> Metric | None:
    """The log's reading of the record's headline kind, else its best-ranked kind."""
    if kind is not None and (metric := log.final(kind)):
        return metric
    return next((m for k in CANDIDATE_KINDS if (m := log.final(k))), None)


def submitted_run(logs: list[TrainLog], kind: MetricKind | None,
                  submission: Submission | None) -> tuple[TrainLog, Metric] | None:
    """The one run whose score of `kind` the top-level val_bpb claims, where the claim is not the mean over the
    runs. None when there is one run, the claim is the mean, or it matches no run or several (the claim's
    precision cannot tell which)."""
    claim = submission.numbers.get("val_bpb") if submission else None
    metrics = [(log, m) for log in logs if kind is not None and (m := log.final(kind))]
    if claim is None or len(metrics) < 2 or claim.matches(_mean([m.val_bpb for _, m in metrics])):
        return None
    matching = [(log, m) for log, m in metrics if claim.matches(m.val_bpb)]
    return matching[0] if len(matching) == 1 else None
