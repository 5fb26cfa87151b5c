"""What the trainer, the evaluator and the web app agree on, each fact in one place: the challenge's caps, the
names of the metric kinds and of the passes that score an artifact, the files a run leaves in its folder, the
labels of the log lines the trainer prints, and a run's final numbers as the trainer measured them.

Standard library only: it ships with the crawler (its bytes count toward the cap) and the web process imports
it without torch. Its functions are those training runs; what only readers need lives with the readers.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

from crawler.files import atomic_write_text

SIZE_CAP_BYTES = 16_000_000  # code + compressed model, in decimal bytes
TRAIN_CAP_SECONDS = 600.0  # the training loop, on 8xH100
EVAL_CAP_SECONDS = 600.0  # every evaluation of the artifact together


class MetricKind(StrEnum):
    """What a final score measures (evaluator.records.metric_kinds reads them from strangers' logs)."""
    PRE_QUANT = "pre_quant"  # the trained weights before quantisation
    ROUNDTRIP = "roundtrip"  # the artifact reloaded, non-overlapping windows
    SLIDING_WINDOW = "sliding_window"  # the artifact reloaded, overlapping windows at an eval stride
    TTT = "ttt"  # scored with test-time training
    UNKNOWN = "unknown"  # a final line no rule names


# the passes that score an artifact, in the order the trainer and `pgolf eval` run them
ARTIFACT_PASSES = (MetricKind.ROUNDTRIP, MetricKind.SLIDING_WINDOW)

# what a run leaves in OUT/RUN_ID/
RUN_LOG = "train.log"  # the challenge's log lines
RUN_CONFIG = "config.json"  # CrawlerConfig.to_dict()
RUN_SUMMARY = "run.json"  # RunSummary: the final numbers, so that our own runs are read, not guessed back from text
RUN_CHECKPOINT = "final_model.safetensors"  # the float weights the artifact was exported from
RUN_ARTIFACT = "final_model.ptz"

# the labels of the trainer's log lines, in the challenge's format (the record parsers read strangers' variants)
CONFIG_LABEL = "config:"
STOP_LABEL = "stopping_early: wallclock_cap"
CODE_SIZE_LABEL = "Code size:"
MODEL_SIZE_LABEL = "Serialized model int6+zstd:"
TOTAL_SIZE_LABEL = "Total submission size int6+zstd:"


def final_label(kind: MetricKind, exact: bool = False) -> str:
    """`final_int6_sliding_window` (rounded to 4 decimals) and `final_int6_sliding_window_exact` (8)."""
    return f"final_int6_{kind.value}{'_exact' if exact else ''}"


@dataclass
class BPBResult:
    """One scoring pass over the validation stream (crawler.scoring computes it), as reports keep it."""
    val_loss: float
    val_bpb: float
    nll_sum: float  # nats, float64
    byte_sum: int
    scored_tokens: int  # scorings, repeats included
    available_tokens: int  # targets in the whole stream handed in
    coverage: float  # distinct targets scored / available_tokens
    seconds: float
    seq_len: int
    stride: int
    repeated: int = 0  # scorings of a target already scored (none in our plans)


@dataclass
class Score:
    val_loss: float
    val_bpb: float
    eval_ms: float
    stride: int | None = None  # of a sliding-window pass

    @classmethod
    def of(cls, r: BPBResult, stride: int | None = None) -> Score:
        return cls(r.val_loss, r.val_bpb, 1000 * r.seconds, stride)


@dataclass
class RunSummary:
    """A run's final numbers, written as RUN_SUMMARY beside RUN_LOG once the artifact is out, then with its scores."""
    run_id: str
    seed: int
    world_size: int
    steps: int
    iterations: int
    train_time_ms: float
    stopped_early: bool  # by the wallclock cap, before `iterations`
    pre_quant: Score  # the (averaged) weights after training, before export
    scores: dict[str, Score] = field(default_factory=dict)  # of the reloaded artifact, by MetricKind value
    code_bytes: int | None = None  # None on ranks that export nothing
    model_bytes: int | None = None
    total_bytes: int | None = None
    codec: str | None = None

    def write(self, run_dir: Path) -> Path:
        path = Path(run_dir) / RUN_SUMMARY
        atomic_write_text(path, json.dumps(asdict(self), indent=1) + "\n")
        return path
