"""The JSON the API returns, which is also what each HTML page renders: one model per page.

The evaluator's dataclasses (seed table, compliance rows, comparison) are used as they are; Pydantic
derives their schema for OpenAPI.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import typing
from datetime import datetime

from pydantic import BaseModel, Field, create_model

from crawler.contract import SIZE_CAP_BYTES
from evaluator.service import ArmStats, EvalReport, ExitRow, RecordComparison, RuleResult, SeedTable


class RecordRow(BaseModel):
    id: str
    folder: str
    name: str
    track: str | None
    date: dt.date | None
    author: str | None
    headline_kind: str | None = Field(description="the metric kind the record's score is (e.g. sliding_window)")
    best_bpb: float | None = Field(description="lowest headline BPB over the seeds' logs")
    n_seeds: int
    mean_bpb: float | None
    headline_bpb: float | None = Field(description="the submitted score: the submitted run's BPB where the claim is "
                                                   "exactly one run's score, else the mean over the seeds")
    std_bpb: float | None = Field(description="sample standard deviation over seeds")
    claimed_bpb: float | None = Field(description="val_bpb as submission.json states it")
    worst_total_bytes: int | None = Field(description="largest code + compressed model total over the seeds' logs")
    size_cap_bytes: int = SIZE_CAP_BYTES
    status: str = Field(description="worst compliance status over every rule, without a baseline: PASS, WARN or FAIL")
    verdict: str = Field(description="worst status over the rules that keep a record off the leaderboard (size, "
                                     "training and evaluation time, claims): what the badges show and filters use")
    flagged_rules: list[str] = Field(default_factory=list, description="every rule that fails or warns, failures "
                                                                       "first, as 'STATUS: title: summary'")


class RecordIndex(BaseModel):
    rows: list[RecordRow]
    total: int = Field(description="records before filtering")
    roots: list[str]
    problems: list[str]
    tracks: list[str]
    sort: str
    order: str
    q: str
    track: str
    status: str


class TrainPointOut(BaseModel):
    step: int
    train_time_s: float | None
    train_loss: float


class ValPointOut(BaseModel):
    step: int
    train_time_s: float | None
    val_loss: float | None
    val_bpb: float | None


class SeedCurve(BaseModel):
    seed: int | None
    log: str
    train: list[TrainPointOut]
    val: list[ValPointOut]


class RecordDetail(BaseModel):
    row: RecordRow
    path: str
    blurb: str | None
    hardware: str | None
    readme_markdown: str | None
    readme_note: str | None = Field(description="why the README is shown in part (truncated) or not at all")
    seed_table: SeedTable
    compliance: list[RuleResult]
    compliance_status: str
    warnings: list[str]
    against: str | None = Field(description="id of the record compared against, if one was chosen")
    comparison: RecordComparison | None
    curves: list[SeedCurve]


def _report_fields(report: type, hidden: set[str]) -> dict:
    """A dataclass's fields as create_model takes them, less the hidden ones: a page model that shows a report
    declares none of its fields again."""
    hints = typing.get_type_hints(report)
    default = lambda f: (f.default if f.default is not dataclasses.MISSING
                         else Field(default_factory=f.default_factory) if f.default_factory is not dataclasses.MISSING
                         else ...)
    return {f.name: (hints[f.name], default(f)) for f in dataclasses.fields(report) if f.name not in hidden}


# an evaluation as its page shows it: the report without the server's paths to the artifact, data and tokenizer
EvalResultOut = create_model(
    "EvalResultOut", **_report_fields(EvalReport, {"artifact", "data_path", "tokenizer", "world_size"}),
    has_loops=(bool, Field(False, description="the loop-wise analysis ran: see /api/evaluations/{id}/loops")),
    loops_error=(str, Field("", description="why the loop-wise analysis could not run on this artifact")))


class StageRowOut(BaseModel):
    stage: str = Field(description="embed, flatN, or crawlerN@loop")
    block: str
    loop: int
    lens_bpb: float = Field(description="BPB of this stage decoded as the final one (logit lens)")
    mean_rank: float = Field(description="mean 1-based rank of the target under the logit lens")
    rms: float = Field(description="RMS of the residual stream after this stage")
    attention_distance: float | None = Field(description="mean over heads of the attention distance (tokens)")
    mass_last8: float | None = Field(description="mean over heads of the attention on the last 8 tokens")
    quant_error: float | None = Field(description="relative error against the float model, when one was given")


class LoopStepOut(BaseModel):
    loop: int
    rel_step: float = Field(description="mean ||h_k - h_k-1|| / ||h_k-1|| of this loop's update")
    update_cosine: float | None = Field(description="mean cosine of this loop's update with the previous one's")


class LoopsView(BaseModel):
    title: str
    back_url: str
    source: str = Field(description="what was analysed")
    model_bpb: float = Field(description="BPB of the whole model on the slice")
    crawler_loops: int
    num_flat_layers: int
    num_crawler_layers: int
    slice: dict = Field(description="the seeded validation slice: windows, window length, tokens, bytes, seed")
    assumptions: list[str]
    stages: list[StageRowOut] = Field(description="embed, then every block application in order")
    early_exit: list[ExitRow] = Field(description="BPB with k crawler loops; reason: why k could not be run")
    loop_steps: list[LoopStepOut]
    plots: dict[str, str] = Field(description="plot name -> URL of its PNG")


class StoredFileOut(BaseModel):
    sha256: str
    name: str = Field(description="the uploaded file's name, for display only")
    size: int


class OverallProgressOut(BaseModel):
    fraction: float | None = Field(description="share of the attempt's planned work done, 0 to 1: finished stages' "
                                               "weights (tokens fed to the model; the loop-wise analysis weighed as "
                                               "passes over its slice) plus the current stage's share of its own, "
                                               "over all planned work; null when the worker sent no plan or the "
                                               "stage is not in it")
    elapsed_seconds: float = Field(description="since the attempt started (until it finished, once done)")
    eta_seconds: float | None = Field(description="an estimate of the seconds left to the result: the work left at "
                                                  "the rate measured since scoring began; null until the fraction is "
                                                  "large enough to go on")
    outside: list[str] = Field(description="planned stages that the fraction and estimate leave out (only in plans "
                                           "of an older worker, which did not weigh the loop-wise analysis)")


class EvaluationOut(BaseModel):
    id: int
    state: str = Field(description="queued, running, done or failed")
    stage: str = Field(description="while running: loading, roundtrip, sliding_window, pre_quant, loops")
    scored: int = Field(description="targets scored so far in the current stage")
    to_score: int
    attempts: int
    max_attempts: int
    worker: str = Field(description="host:pid:thread of the worker running (or that ran) the last attempt")
    queue_position: int | None = Field(description="1 = next to run; only while queued")
    note: str = Field(description="why an earlier attempt ended (its worker died)")
    error: str
    artifact: StoredFileOut
    artifact_format: str
    tokenizer: StoredFileOut | None
    config: StoredFileOut | None
    options: dict
    created_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None
    progress: OverallProgressOut | None = Field(description="over all stages of a running or done job; null while "
                                                            "queued and once failed")
    result: EvalResultOut | None


class SubmitOut(BaseModel):
    evaluation: EvaluationOut
    reused: bool = Field(description="true when these exact inputs were uploaded before")
    url: str


class EvaluationList(BaseModel):
    evaluations: list[EvaluationOut]
    upload_max_bytes: int
    token_required: bool


class ArmChoice(BaseModel):
    id: str
    label: str
    source: str = Field(description="record, run (pgolf train) or ablation (pgolf ablate)")


class AblationLink(BaseModel):
    name: str
    description: str
    control: str = Field(description="the control's arm id")
    arms: list[str]
    finished: int
    failed: int
    total: int = Field(description="(arm, seed) runs the ablation file asks for")


class Ablation(BaseModel):
    kind: str | None = Field(description="the metric kind the deltas compare")
    kinds: list[str]
    control: ArmStats | None
    arms: list[ArmStats]
    choices: list[ArmChoice]
    problems: list[str]
    ablations: list[AblationLink] = Field(description="ablations run by pgolf ablate, each a ready comparison")
    comparability: str | None = Field(None, description="set when the control and arms were scored on different corpora")
