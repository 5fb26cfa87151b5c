"""Recompute what a reviewer trusts from any `.ptz`: roundtrip and sliding-window BPB, the byte audit, and size.

On CPU the full FineWeb validation split (62M tokens) is days of sliding-window
work, so unless --max-tokens says otherwise a CPU run scores the first
CPU_DEFAULT_MAX_TOKENS targets, says so, and estimates the time full coverage
would take at the measured rate.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from crawler.config import CrawlerConfig
from crawler.contract import SIZE_CAP_BYTES, BPBResult
from evaluator.records.metric_kinds import MetricKind
from evaluator.typed_json import from_json_data

if TYPE_CHECKING:
    from crawler.distributed import Dist

CPU_DEFAULT_MAX_TOKENS = 65_536


@dataclass
class PassScore(BPBResult):
    """One scoring pass as a report keeps it; a sliding-window pass also holds, as `reference`, the same pass under
    the Micro Crawler reference script's own sliding plan (reports written before this name hold it as `record`)."""
    reference: PassScore | None = None

    @classmethod
    def of(cls, r: BPBResult, reference: BPBResult | None = None) -> PassScore:
        return cls(**asdict(r), reference=None if reference is None else cls.of(reference))


@dataclass
class AuditReport:
    lut_bytes: int  # the bytes the BPB divides by
    text_bytes: int  # UTF-8 bytes of the same targets decoded
    ratio: float


@dataclass
class SizeReport:
    model_bytes: int
    code_bytes: int | None
    code_source: str
    total_bytes: int | None = None
    cap: int = SIZE_CAP_BYTES
    margin: int | None = None

    def __post_init__(self):
        if self.code_bytes is not None:
            self.total_bytes = self.model_bytes + self.code_bytes
            self.margin = self.cap - self.total_bytes


@dataclass
class EvalReport:
    """What `pgolf eval` prints and writes, the web app's worker stores, and the ablation runner reads back;
    the passes are named by their metric kinds (records.metric_kinds)."""
    artifact: str
    sha256: str
    format: str
    assumptions: list[str]
    device: str
    world_size: int
    data_path: str
    tokenizer: str
    max_tokens: int  # targets scored
    prefix_note: str
    roundtrip: PassScore
    sliding_window: PassScore
    audit: AuditReport
    size: SizeReport
    pre_quant: PassScore | None = None
    estimated_full_seconds: float | None = None
    config: dict = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> EvalReport:
        """A report read back from its JSON; ValueError says which field is missing or of the wrong type.
        Reports written before the passes took their metric kinds' names (sliding, prequant), or before a pass's
        reference-plan score took its name (record), read as well."""
        if isinstance(data, dict):
            data = {_LEGACY_NAMES.get(key, key): _legacy_pass(value) if key in _PASSES else value
                    for key, value in data.items()}
        return from_json_data(cls, data, "an evaluation report")


_LEGACY_NAMES = {"sliding": "sliding_window", "prequant": "pre_quant"}
_PASSES = {"sliding", "prequant", "roundtrip", "sliding_window", "pre_quant"}


def _legacy_pass(stored):
    if isinstance(stored, dict) and "record" in stored and "reference" not in stored:
        return {("reference" if key == "record" else key): value for key, value in stored.items()}
    return stored


def _stage(on_progress: Callable[[str, int, int], None] | None, stage: str) -> Callable[[int, int], None] | None:
    return None if on_progress is None else lambda scored, total: on_progress(stage, scored, total)


def eval_inputs(config, data_path: str | Path | None = None, tokenizer_path: str | Path | None = None) -> tuple[Path, Path]:
    """Validation data and tokenizer for an artifact: the given paths; a data folder given without a tokenizer
    brings its own DATA/tokenizer.model (as --help says: a manifest's tokenizer_path, which can name any file on
    this machine, is never opened then); with neither, the artifact's own config."""
    if tokenizer_path:
        tokenizer = Path(tokenizer_path)
    else:
        tokenizer = Path(data_path) / "tokenizer.model" if data_path else config.tokenizer_file
    return Path(data_path or config.data_path), tokenizer


def single_process(device=None) -> Dist:
    """The evaluator's one process (rank 0 of 1) on device, else CUDA when there is one."""
    import torch

    from crawler.distributed import Dist

    return Dist(0, 1, 0, torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu")))


def evaluate_artifact(path: str | Path, data_path: str | Path | None = None, tokenizer_path: str | Path | None = None,
                      max_tokens: int | None = None, loops: int | None = None, checkpoint_state: dict | None = None,
                      seq_len: int | None = None, stride: int | None = None, batch_seqs: int = 16,
                      code_files: tuple[Path, ...] = (), dist_info: Dist | None = None,
                      progress: bool = False, max_params: int | None = None,
                      on_progress: Callable[[str, int, int], None] | None = None,
                      on_plan: Callable[[list[tuple[str, int]]], None] | None = None) -> EvalReport:
    """on_progress(stage, scored, total) reports each evaluation pass batch by batch (stages named by metric
    kind: roundtrip, sliding_window, pre_quant), for callers that show live progress instead of a terminal bar;
    on_plan(stages) says, once before the first pass, which passes will run and the tokens each feeds the model
    (its share of the work). max_params: the artifact's parameter cap (None: PGOLF_MAX_PARAMS, else the default)."""
    # torch, numpy and sentencepiece load here: the web app and the text-only commands read reports
    # through this module and must start without them
    from crawler.bpb import build_byte_lut
    from crawler.scoring import evaluate_bpb, plan_windows, score_plans
    from crawler.shards import load_split
    from crawler.tokenizer import check_vocab, load_tokenizer
    from evaluator.artifacts.decode_audit import decode_audit
    from evaluator.artifacts.loading import open_artifact
    from evaluator.artifacts.reference_plan import forwarded_tokens, reference_plan, reference_targets

    t0 = time.perf_counter()
    path = Path(path)
    d = dist_info or single_process()
    art = open_artifact(path, loops=loops, max_params=max_params)
    cfg = art.config
    data_path, tokenizer_path = eval_inputs(cfg, data_path, tokenizer_path)
    sp = load_tokenizer(tokenizer_path)
    check_vocab(sp, cfg.vocab_size, tokenizer_path)
    lut = build_byte_lut(sp, cfg.vocab_size)
    val = load_split(data_path, "val", cfg.vocab_size)
    if max_tokens is None:
        max_tokens = CPU_DEFAULT_MAX_TOKENS if d.device.type == "cpu" else 0
    n_targets = min(max_tokens, len(val) - 1) if max_tokens else len(val) - 1
    prefix_note = "full validation split" if n_targets == len(val) - 1 else \
        f"PREFIX ONLY: first {n_targets:,} of {len(val) - 1:,} validation targets"

    seq_len = seq_len or cfg.eval_seq_len
    stride = stride or cfg.eval_stride
    run = dict(lut=lut, batch_seqs=batch_seqs, device=d.device, max_tokens=n_targets, rank=d.rank,
               world_size=d.world_size, progress=progress)
    # the Micro Crawler reference script cuts its stream to a multiple of its longest sequence length and re-scores
    # the tail; it runs its sliding evaluation only when the stride is shorter than the window (the baseline has none)
    n_reference = reference_targets(n_targets, seq_len, stride, max(cfg.train_seq_len, seq_len)) \
        if isinstance(cfg, CrawlerConfig) else 0
    if on_plan is not None:
        roundtrip_tokens = forwarded_tokens(n_targets, cfg.train_seq_len, cfg.train_seq_len)
        on_plan([(MetricKind.ROUNDTRIP, roundtrip_tokens),
                 (MetricKind.SLIDING_WINDOW, forwarded_tokens(n_targets, seq_len, stride, n_reference))]
                + ([(MetricKind.PRE_QUANT, roundtrip_tokens)] if checkpoint_state is not None else []))
    model = art.build_model(d.device)
    roundtrip = evaluate_bpb(model, val, seq_len=cfg.train_seq_len, stride=cfg.train_seq_len,
                             on_batch=_stage(on_progress, MetricKind.ROUNDTRIP), **run)
    sliding_on = _stage(on_progress, MetricKind.SLIDING_WINDOW)
    if n_reference:
        plans = [plan_windows(n_targets, seq_len, stride), reference_plan(n_reference, seq_len, stride)]
        sliding, reference = score_plans(model, val, lut, n_targets, plans, seq_len, stride, batch_seqs, d.device,
                                         d.rank, d.world_size, progress, sliding_on)
    else:
        sliding, reference = evaluate_bpb(model, val, seq_len=seq_len, stride=stride, on_batch=sliding_on, **run), None
    pre_quant = None
    if checkpoint_state is not None:
        pre_quant = PassScore.of(evaluate_bpb(art.build_model(d.device, art.same_convention(checkpoint_state)), val,
                                              seq_len=cfg.train_seq_len, stride=cfg.train_seq_len,
                                              on_batch=_stage(on_progress, MetricKind.PRE_QUANT), **run))
    estimate = None if n_targets == len(val) - 1 else sliding.seconds * (len(val) - 1) / sliding.scored_tokens

    audit = decode_audit(sp, lut, val[: n_targets + 1])
    code_bytes, code_source = art.code_bytes, "artifact manifest"
    if code_files:
        code_bytes, code_source = sum(Path(f).stat().st_size for f in code_files), ", ".join(str(f) for f in code_files)
    if code_bytes is None:
        code_source = "unknown: this format does not record its code; pass --code FILE"
    return EvalReport(
        artifact=str(path), sha256=hashlib.sha256(path.read_bytes()).hexdigest(), format=art.format,
        assumptions=list(art.assumptions), device=str(d.device), world_size=d.world_size, data_path=str(data_path),
        tokenizer=str(tokenizer_path), max_tokens=n_targets, prefix_note=prefix_note,
        roundtrip=PassScore.of(roundtrip), sliding_window=PassScore.of(sliding, reference),
        audit=AuditReport(audit.lut_bytes, audit.text_bytes, audit.ratio),
        size=SizeReport(path.stat().st_size, code_bytes, code_source), pre_quant=pre_quant,
        estimated_full_seconds=estimate, config=cfg.to_dict(), seconds=time.perf_counter() - t0)
