"""The per-seed table of a record: one row per submitted run (records.runs), then n / mean / sample std / min / max;
the runs set aside and the ambiguous choices are notes under it."""
from __future__ import annotations

from dataclasses import dataclass, field

from crawler.contract import MetricKind
from evaluator.records.headline import headline_metric, submitted_run
from evaluator.records.jsonable import JsonMixin
from evaluator.records.metric_kinds import CANDIDATE_KINDS, KIND_ORDER, KIND_WORDS
from evaluator.records.record import Record
from evaluator.records.stats import Summary, summarize
from evaluator.records.train_log import TrainLog, run_name, seed_and_file


@dataclass
class SeedRow:
    seed: int | None
    log: str
    bpb_by_kind: dict[str, float | None]  # every scored kind, None where the log has no such line
    headline_kind: MetricKind | None
    headline_bpb: float | None
    val_loss: float | None  # of the headline metric
    steps: int | None
    train_time_s: float | None
    eval_time_s: float | None  # of the headline evaluation (total_eval_time when the log prints one)
    world_size: int | None
    code_bytes: int | None
    model_bytes: int | None
    total_bytes: int | None


@dataclass
class WorstSize:
    seed: int | None
    log: str
    total_bytes: int


@dataclass
class SubmittedRun:
    """The run whose score submission.json claims, where that is one run's and not the mean over the seeds."""
    seed: int | None
    log: str
    bpb: float


@dataclass
class SeedTable(JsonMixin):
    record: str
    headline_kind: MetricKind | None
    headline_reason: str
    rows: list[SeedRow]
    bpb: Summary
    val_loss: Summary
    worst_size: WorstSize | None
    notes: list[str] = field(default_factory=list)
    submitted: SubmittedRun | None = None

    @property
    def headline_bpb(self) -> float | None:
        """The submitted score: the submitted run's where the claim names one, else the mean over the seeds."""
        return self.submitted.bpb if self.submitted else self.bpb.mean

    def kinds(self) -> list[MetricKind]:
        """The scored kinds any row has, in the order a run produces them; the unclassified lines when they are
        the headline."""
        shown = KIND_ORDER + ((MetricKind.UNKNOWN,) if self.headline_kind is MetricKind.UNKNOWN else ())
        return [kind for kind in shown if any(row.bpb_by_kind.get(kind) is not None for row in self.rows)]

    def grid(self) -> tuple[list[str], list[list[Cell]]]:
        return seed_grid(self.rows, self.kinds(), with_log=True)

    def summary_line(self) -> str:
        kind = KIND_WORDS.get(self.headline_kind, "headline")
        return (f"{kind} BPB over {self.bpb.n} seed(s): mean {_num(self.bpb.mean, 8)}, sample std "
                f"{_num(self.bpb.std, 8)}, min {_num(self.bpb.min, 8)}, max {_num(self.bpb.max, 8)}"
                + (f"; submitted run: {seed_and_file(self.submitted.seed, self.submitted.log)} at "
                   f"{_num(self.submitted.bpb, 8)}, the claimed val_bpb" if self.submitted else ""))

    def worst_size_line(self) -> str | None:
        w = self.worst_size
        return f"Worst seed size: {w.total_bytes:,} bytes, {seed_and_file(w.seed, w.log)}" if w else None

    def to_markdown(self) -> str:
        lines = [markdown_table(*self.grid()), "", self.summary_line()]
        return "\n".join(lines + [line for line in [self.worst_size_line()] if line])


@dataclass(frozen=True)
class Cell:
    text: str
    headline: bool = False  # the row's headline score: shown bold wherever the table is rendered


def seed_grid(rows: list[SeedRow], kinds: list[MetricKind], with_log: bool) -> tuple[list[str], list[list[Cell]]]:
    """The one layout of a seed table (header, then a row of text cells per seed) that the terminal, the
    Markdown of `pgolf check` and of a written record's README, and the record page all render."""
    header = ["Seed", *(["Log"] if with_log else []), *[f"{KIND_WORDS[k]} BPB" for k in kinds], "val_loss",
              "Steps", "Train s", "Eval s", "Model bytes", "Total bytes"]
    body = [[Cell(str(row.seed) if row.seed is not None else "?"), *([Cell(row.log)] if with_log else []),
             *[Cell(_num(row.bpb_by_kind.get(k), 8), headline=k == row.headline_kind) for k in kinds],
             Cell(_num(row.val_loss, 8)), Cell(_int(row.steps)), Cell(_num(row.train_time_s, 3)),
             Cell(_num(row.eval_time_s, 1)), Cell(_int(row.model_bytes)), Cell(_int(row.total_bytes))]
            for row in rows]
    return header, body


def markdown_table(header: list[str], body: list[list[Cell]]) -> str:
    def cell(c: Cell) -> str:
        return f"**{c.text}**" if c.headline and c.text != "-" else c.text
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cell(c) for c in row) + " |" for row in body])


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _int(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def seed_row(log: TrainLog, kind: MetricKind | None) -> SeedRow:
    metric = headline_metric(log, kind)
    eval_ms = log.total_eval_time_ms.value if log.total_eval_time_ms else (metric.eval_time_ms if metric else None)
    train_ms = log.train_time_ms
    model = log.model_bytes
    total = log.total_bytes
    code = log.counted_code_bytes
    model_bytes = model.bytes if model else (total.bytes - code.bytes if total and code else None)
    return SeedRow(
        seed=log.seed, log=log.file_name,
        bpb_by_kind={k.value: (m.val_bpb if (m := log.final(k)) else None) for k in CANDIDATE_KINDS},
        headline_kind=metric.kind if metric else None,
        headline_bpb=metric.val_bpb if metric else None,
        val_loss=metric.val_loss if metric else None,
        steps=log.final_step,
        train_time_s=train_ms.value / 1000.0 if train_ms else None,
        eval_time_s=eval_ms / 1000.0 if eval_ms is not None else None,
        world_size=int(log.world_size.value) if log.world_size else None,
        code_bytes=code.bytes if code else None,
        model_bytes=model_bytes,
        total_bytes=total.bytes if total else None)


def seed_table(record: Record) -> SeedTable:
    kind = record.headline_kind
    rows = [seed_row(log, kind) for log in record.logs]
    # a mean is over one metric kind: a run without a line of the headline's kind shows its best, outside the mean
    counted = [row for row in rows if row.headline_bpb is not None and (kind is None or row.headline_kind == kind)]
    notes = [f"{seed_and_file(row.seed, row.log)} has no {kind} line; its {row.headline_kind} value is shown, not "
             "counted in the mean" for row in rows if kind and row.headline_kind and row.headline_kind != kind]
    notes += [f"{run_name(log)}: the score at {':'.join(map(str, log.where(metric)))} is "
              f"{metric.reason}" for log in record.logs if (metric := headline_metric(log, kind)) and metric.loose]
    notes += [join.describe() for join in record.joined]
    notes += [f"not counted: {aside.run} ({aside.reason})" for aside in record.set_aside]
    notes += [f"ambiguous: {text}" for text in record.ambiguities]
    chosen = submitted_run(record.logs, kind, record.submission)
    submitted = SubmittedRun(chosen[0].seed, chosen[0].file_name, chosen[1].val_bpb) if chosen else None
    sized = [row for row in rows if row.total_bytes is not None]
    worst_row = max(sized, key=lambda row: row.total_bytes) if sized else None
    worst = WorstSize(worst_row.seed, worst_row.log, worst_row.total_bytes) if worst_row else None
    return SeedTable(
        record=record.name, headline_kind=kind, headline_reason=record.headline_reason, rows=rows,
        bpb=summarize([r.headline_bpb for r in counted]),
        val_loss=summarize([r.val_loss for r in counted if r.val_loss is not None]),
        worst_size=worst, notes=notes, submitted=submitted)
