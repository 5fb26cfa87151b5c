"""One training run as a log shows it, typed: its curves, final metrics, sizes, settings and stop, each with the line
that prints it (evaluator.records.logs builds them)."""
from __future__ import annotations

from dataclasses import dataclass, field

from crawler.contract import MetricKind
from evaluator.records.embedded_source import EmbeddedSource
from evaluator.records.metric_kinds import LEGACY_REPEAT


@dataclass(frozen=True)
class TrainPoint:
    step: int
    total_steps: int
    train_loss: float
    train_time_ms: float | None
    step_avg_ms: float | None
    line: int


@dataclass(frozen=True)
class ValPoint:
    step: int
    total_steps: int
    val_loss: float | None
    val_bpb: float | None
    train_time_ms: float | None
    step_avg_ms: float | None
    line: int
    bpb_decimals: int = 0  # as printed


@dataclass(frozen=True)
class Metric:
    kind: MetricKind
    label: str
    val_loss: float | None
    val_bpb: float
    decimals: int  # of val_bpb as printed: 8 on `_exact` lines, 4 on rounded ones
    eval_time_ms: float | None
    stride: int | None
    line: int
    reason: str  # why this kind (see metric_kinds)
    loose: bool = False  # read from a free-form line (`Final BPB: 1.1070`), not a `val_bpb` one
    file: str | None = None  # the evaluation log printing it, when not the run's own (records.evaluation_logs)


@dataclass(frozen=True)
class ByteCount:
    bytes: int
    label: str
    line: int


@dataclass(frozen=True)
class StopInfo:
    reason: str
    train_time_ms: float
    step: int
    total_steps: int
    line: int


@dataclass(frozen=True)
class LineValue:
    value: int | float
    line: int


@dataclass
class TrainLog:
    """One training run as a log shows it: a whole file, or one of several runs a file holds one after another
    (lines first_line..n_lines of it). Every line number in it is a line of the file."""
    path: str
    file_name: str
    sha256: str
    n_lines: int  # the run's last line
    first_line: int = 1
    runs_in_file: int = 1
    seed: int | None = None
    seed_evidence: str | None = None
    world_size: LineValue | None = None
    model_params: LineValue | None = None
    iterations: LineValue | None = None
    train_seq_len: int | None = None
    max_wallclock_seconds: LineValue | None = None
    tokenizer: str | None = None
    vocab_size: int | None = None
    val_tokens: int | None = None
    gptq_reserve_ms: LineValue | None = None
    train_curve: list[TrainPoint] = field(default_factory=list)
    val_curve: list[ValPoint] = field(default_factory=list)
    stop: StopInfo | None = None
    code_bytes: ByteCount | None = None  # the script as run (uncompressed)
    code_bytes_compressed: ByteCount | None = None  # when the log counts a compressed wrapper
    launcher_code_bytes: ByteCount | None = None  # what a launcher said it uploaded
    model_bytes_raw: ByteCount | None = None  # unquantised torch.save, not what counts
    model_bytes_by_format: list[ByteCount] = field(default_factory=list)
    total_bytes_by_format: list[ByteCount] = field(default_factory=list)
    total_bytes_raw: ByteCount | None = None
    metrics: list[Metric] = field(default_factory=list)
    total_eval_time_ms: LineValue | None = None
    source: EmbeddedSource | None = None
    time_prefixed: bool = False  # its lines carry a timestamp prefix, read without it
    warnings: list[str] = field(default_factory=list)
    eval_stride: int | None = None  # of the sliding-window score the record's mean is over (records.strides)

    @property
    def is_training_log(self) -> bool:
        return bool(self.train_curve or self.val_curve or self.metrics or self.stop)

    @property
    def evaluation_only(self) -> bool:
        """Final scores and no training: an evaluation run on its own (a TTT rerun of a trained model)."""
        return bool(self.metrics) and not (self.train_curve or self.val_curve or self.stop)

    def where(self, metric: Metric) -> tuple[str, int]:
        """The file and line printing one of this run's metrics."""
        return metric.file or self.file_name, metric.line

    def final(self, kind: MetricKind) -> Metric | None:
        """The most precise reading of a kind; among equally precise prints the last one that is
        not a legacy-label repeat (the repeat carries the same numbers under a misleading name). A loose
        reading only where the kind has no `val_bpb` line; a reading at another stride than `eval_stride` only
        where the kind has none at it."""
        readings = [m for m in self.metrics if m.kind is kind]
        if not readings:
            return None
        return max(readings, key=lambda m: (self.eval_stride is None or m.stride == self.eval_stride, not m.loose,
                                            m.decimals, not m.reason.startswith(LEGACY_REPEAT), m.line))

    def kinds(self) -> list[MetricKind]:
        return [kind for kind in MetricKind if kind is not MetricKind.UNKNOWN and self.final(kind)]

    @property
    def final_step(self) -> int | None:
        if self.stop:
            return self.stop.step
        steps = [p.step for p in self.train_curve] + [p.step for p in self.val_curve]
        return max(steps) if steps else None

    @property
    def train_time_ms(self) -> LineValue | None:
        if self.stop:
            return LineValue(self.stop.train_time_ms, self.stop.line)
        timed = [(p.train_time_ms, p.line) for p in [*self.train_curve, *self.val_curve]
                 if p.train_time_ms is not None]
        return LineValue(*max(timed, key=lambda pair: pair[1])) if timed else None

    @property
    def model_bytes(self) -> ByteCount | None:
        """The compressed model: the last `Serialized model <format>` line."""
        return self.model_bytes_by_format[-1] if self.model_bytes_by_format else None

    @property
    def total_bytes(self) -> ByteCount | None:
        """Code + compressed model as the log states it, in the model's format when printed."""
        if not self.total_bytes_by_format:
            return None
        if self.model_bytes:
            same = [t for t in self.total_bytes_by_format if t.label == self.model_bytes.label]
            if same:
                return same[-1]
        return self.total_bytes_by_format[-1]

    @property
    def counted_code_bytes(self) -> ByteCount | None:
        """The code size the log's total uses: the compressed wrapper when it reports one."""
        return self.code_bytes_compressed or self.code_bytes or self.launcher_code_bytes


def seed_name(log: TrainLog) -> str:
    """How evidence names a run: its seed, else its file."""
    return f"seed {log.seed}" if log.seed is not None else log.file_name


def seed_and_file(seed: int | None, file_name: str) -> str:
    """A run named by its seed and the file it is in, or by the file alone when it prints no seed."""
    return f"seed {seed} ({file_name})" if seed is not None else file_name


def run_name(log: TrainLog) -> str:
    """A log's run as notes and claims evidence name it: 'seed S (file)', or the file."""
    return seed_and_file(log.seed, log.file_name)
