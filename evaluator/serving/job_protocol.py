"""An evaluation job's protocol, typed: the request the worker hands the job's process, the messages that
process sends back (one JSON line each), and the result a finished job keeps.

A job's process sends, in order: one PlanMessage before scoring (the stages to come, with the tokens each feeds
the model), ProgressMessages as each stage goes, then a DoneMessage or a FailedMessage.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import ClassVar

LOOPS_STAGE = "loops"  # the loop-wise analysis, after the artifact's passes
LOADING_STAGE = "loading"  # before the plan arrives


@dataclass
class EvaluationRequest:
    artifact: str  # local paths on the machine that runs the job
    tokenizer: str
    data_dir: str
    options: dict  # evaluate_artifact's keyword arguments (loops, seq_len, stride, max_tokens)
    device: str | None
    loops_tokens: int  # the loop-wise analysis' slice; 0: no analysis
    max_params: int
    max_memory_bytes: int | None  # an address-space limit for a CPU job

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> "EvaluationRequest":
        return cls(**json.loads(text))


@dataclass
class PlanMessage:
    kind: ClassVar[str] = "plan"
    stages: list[tuple[str, int]]  # (stage, tokens it feeds the model), in the order they run


@dataclass
class ProgressMessage:
    kind: ClassVar[str] = "progress"
    stage: str
    scored: int  # validation targets
    to_score: int


@dataclass
class DoneMessage:
    kind: ClassVar[str] = "done"
    result: dict  # JobResult.to_dict()
    plots: dict[str, str]  # the loop-wise plots, name -> base64 PNG


@dataclass
class FailedMessage:
    kind: ClassVar[str] = "failed"
    error: str  # one line, for the job's page


Message = PlanMessage | ProgressMessage | DoneMessage | FailedMessage
_KINDS = {cls.kind: cls for cls in (PlanMessage, ProgressMessage, DoneMessage, FailedMessage)}


def encode_message(message: Message) -> str:
    return json.dumps({"kind": message.kind, **asdict(message)}) + "\n"


def decode_message(line: str | bytes) -> Message:
    data = json.loads(line)
    cls = _KINDS.get(data.pop("kind", None))
    if cls is None:
        raise ValueError(f"not a job message: {line[:80]!r}")
    if cls is PlanMessage:
        data["stages"] = [(str(name), int(tokens)) for name, tokens in data["stages"]]
    return cls(**data)


@dataclass
class LoopsResult:
    report: dict  # LoopsReport.to_dict()
    plots: dict[str, str] = field(default_factory=dict)  # name -> the stored PNG's sha256, once the worker kept them


@dataclass
class JobResult:
    """What a finished job keeps: the evaluation report, and the loop-wise analysis or why it failed (the BPB stands
    either way). Stored flat, the report's fields beside `loops`, `loops_error` and `timing`, as jobs always were."""
    report: dict  # EvalReport.to_dict()
    loops: LoopsResult | None = None
    loops_error: str = ""
    loops_passes: float | None = None  # the analysis' measured cost in sliding-window passes, for the next estimate

    def to_dict(self) -> dict:
        stored = dict(self.report)
        if self.loops is not None:
            stored["loops"] = asdict(self.loops)
        if self.loops_error:
            stored["loops_error"] = self.loops_error
        if self.loops_passes is not None:
            stored["timing"] = {"loops_passes": self.loops_passes}
        return stored

    @classmethod
    def from_dict(cls, stored: dict) -> "JobResult":
        report = {k: v for k, v in stored.items() if k not in ("loops", "loops_error", "timing")}
        loops = LoopsResult(**stored["loops"]) if "loops" in stored else None
        return cls(report, loops, stored.get("loops_error", ""), stored.get("timing", {}).get("loops_passes"))
