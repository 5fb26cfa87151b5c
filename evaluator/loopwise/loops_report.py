"""What `pgolf loops` measures, typed: the report `analyse` returns, `loops.json` holds, the web app's worker
stores and the loop-wise page and plots read. Per-head attention statistics keep their heads; the mean over
heads is computed here once."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from evaluator.typed_json import from_json_data


@dataclass
class SliceInfo:
    seqs: int
    seq_len: int
    tokens: int
    bytes: int
    seed: int | None = None
    data: str | None = None
    tokenizer: str | None = None


@dataclass
class Stage:
    label: str  # embed, flatN or crawlerN@loop
    block: str
    loop: int


@dataclass
class LensRow:
    stage: str
    bpb: float
    mean_rank: float


@dataclass
class ExitRow:
    loops: int
    trained: bool
    bpb: float | None
    reason: str | None  # why this loop count could not be run


@dataclass
class ActivationRow:
    stage: str
    rms: float
    absmax: float


@dataclass
class AttentionRow:
    stage: str
    block: str
    loop: int
    entropy: list[float]  # per head
    distance: list[float]
    mass_last8: list[float]

    @property
    def mean_distance(self) -> float:
        return sum(self.distance) / len(self.distance)

    @property
    def mean_mass_last8(self) -> float:
        return sum(self.mass_last8) / len(self.mass_last8)


@dataclass
class ReprChange:
    labels: list[str]
    rel_step: list[float]
    update_cosine: list[float]
    similarity: list[list[float]]


@dataclass
class QuantRow:
    stage: str
    rel_error: float


@dataclass
class LoopsReport:
    config: dict
    slice: SliceInfo
    stages: list[Stage]
    model_bpb: float
    logit_lens: list[LensRow]
    early_exit: list[ExitRow]
    activations: list[ActivationRow]
    attention: list[AttentionRow]
    repr_change: ReprChange | None
    quant_error: list[QuantRow] | None
    artifact: str | None = None
    assumptions: list[str] | None = None
    checkpoint: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> LoopsReport:
        """A report read back from JSON (a record's loops.json is untrusted); ValueError names the first bad field."""
        return from_json_data(cls, data, "a `pgolf loops` report")
