"""Compare a candidate record with a baseline: deltas in BPB, nats per byte and nats per token, and
one-sided Welch tests for "better at all" and "better by the README's 0.005 nats".

Per-seed values come from the logs (each record's headline kind); a record without logs falls back
to the per-seed results its submission.json claims, and says so. BPB x ln 2 is nats per byte; val_loss
is nats per token and is compared only when both records use the same tokenizer (same tokenizer
file name and vocabulary size), since a token means something else under another tokenizer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from crawler.contract import MetricKind
from evaluator.records.headline import headline_metric
from evaluator.records.jsonable import JsonMixin
from evaluator.records.record import Record
from evaluator.records.stats import Summary, WelchResult, summarize, welch_one_sided

RECORD_MARGIN_NATS = 0.005
README_P_BAR = 0.01
# The maintainers' leaderboard update (openai/parameter-golf PR #1902) admits a row on a one-sided
# Welch p < 0.25 against the previous frontier row: the looser bar applied in practice.
PRACTICE_P_BAR = 0.25
LN2 = math.log(2.0)


@dataclass
class Samples:
    record: str
    kind: MetricKind | None
    bpb: list[float]
    val_loss: list[float]
    tokenizer: str | None
    vocab_size: int | None
    source: str  # "logs" or "submission.json claims"


@dataclass
class UnitComparison:
    unit: str  # "bpb", "nats_per_byte" or "nats_per_token"
    candidate: Summary
    baseline: Summary
    delta: float | None  # candidate mean - baseline mean: negative means the candidate is better
    better: WelchResult | None  # H1: candidate lower than baseline
    better_by_margin: WelchResult | None  # H1: candidate lower by more than 0.005 nats (nats units only)


@dataclass
class RecordComparison(JsonMixin):
    candidate: Samples
    baseline: Samples
    tokenizers_match: bool | None  # None when either tokenizer is unknown
    units: dict[str, UnitComparison]
    decisive_unit: str  # the unit whose margin test decides: nats per token when tokenizers match
    notes: list[str] = field(default_factory=list)

    @property
    def decisive(self) -> UnitComparison:
        return self.units[self.decisive_unit]


def _tokenizer(record: Record) -> tuple[str | None, int | None]:
    names = {log.tokenizer for log in record.logs if log.tokenizer}
    vocabs = {log.vocab_size for log in record.logs if log.vocab_size}
    return (names.pop() if len(names) == 1 else None), (vocabs.pop() if len(vocabs) == 1 else None)


def _same_tokenizer(a: Samples, b: Samples) -> bool | None:
    if not (a.tokenizer and b.tokenizer):
        return None
    return a.tokenizer == b.tokenizer and (a.vocab_size is None or b.vocab_size is None or a.vocab_size == b.vocab_size)


def record_samples(record: Record) -> Samples:
    bpb, loss = [], []
    kind = record.headline_kind
    for log in record.logs:
        metric = headline_metric(log, kind)
        if metric:
            bpb.append(metric.val_bpb)
            if metric.val_loss is not None:
                loss.append(metric.val_loss)
    if bpb:
        return Samples(record.name, kind, bpb, loss if len(loss) == len(bpb) else [], *_tokenizer(record), "logs")
    claims = record.submission.seed_claims.values() if record.submission else []
    bpb = [c.numbers["val_bpb"].value for c in claims if "val_bpb" in c.numbers]
    loss = [c.numbers["val_loss"].value for c in claims if "val_loss" in c.numbers]
    return Samples(record.name, None, bpb, loss if len(loss) == len(bpb) else [], None, None, "submission.json claims")


def _unit(unit: str, candidate: list[float], baseline: list[float], scale: float, margin: float | None) -> UnitComparison:
    c = [v * scale for v in candidate]
    b = [v * scale for v in baseline]
    cs, bs = summarize(c), summarize(b)
    if not c or not b:
        return UnitComparison(unit, cs, bs, None, None, None)
    return UnitComparison(unit, cs, bs, cs.mean - bs.mean, welch_one_sided(c, b),
                          welch_one_sided(c, b, margin) if margin is not None else None)


def compare_records(candidate: Record, baseline: Record) -> RecordComparison:
    cand, base = record_samples(candidate), record_samples(baseline)
    notes = [f"{s.record}: per-seed values from submission.json claims (no logs with a final metric)"
             for s in (cand, base) if s.source != "logs"]
    if cand.kind and base.kind and cand.kind != base.kind:
        notes.append(f"headline kinds differ: {cand.kind} vs {base.kind}")
    match = _same_tokenizer(cand, base)
    units = {
        "bpb": _unit("bpb", cand.bpb, base.bpb, 1.0, None),
        "nats_per_byte": _unit("nats_per_byte", cand.bpb, base.bpb, LN2, RECORD_MARGIN_NATS),
    }
    if match and cand.val_loss and base.val_loss:
        units["nats_per_token"] = _unit("nats_per_token", cand.val_loss, base.val_loss, 1.0, RECORD_MARGIN_NATS)
    elif match is False:
        notes.append(f"tokenizers differ ({cand.tokenizer} vs {base.tokenizer}): no nats-per-token comparison")
    elif match is None:
        notes.append("tokenizer unknown for at least one record: no nats-per-token comparison")
    decisive = "nats_per_token" if "nats_per_token" in units else "nats_per_byte"
    return RecordComparison(cand, base, match, units, decisive, notes)
