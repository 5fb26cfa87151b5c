"""Recompute what a reviewer trusts from any `.ptz`: roundtrip and sliding-window BPB, the byte audit, and size.

On CPU the full FineWeb validation split (62M tokens) is days of sliding-window
work, so unless --max-tokens says otherwise a CPU run scores the first
CPU_DEFAULT_MAX_TOKENS targets, says so, and estimates the time full coverage
would take at the measured rate.
"""
from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from crawler.bpb import build_byte_lut, decode_audit
from crawler.config import CrawlerConfig
from crawler.distributed import Dist, single_process
from crawler.scoring import evaluate_bpb, forwarded_tokens
from crawler.shards import load_split
from crawler.shipped import SIZE_CAP_BYTES
from crawler.tokenizer import check_vocab, load_tokenizer
from evaluator.artifacts.loading import open_artifact

CPU_DEFAULT_MAX_TOKENS = 65_536


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
    artifact: str
    sha256: str
    format: str
    assumptions: list[str]
    device: str
    world_size: int
    data_path: str
    tokenizer: str
    max_tokens: int  # 0 = the whole validation split
    prefix_note: str
    roundtrip: dict
    sliding: dict
    audit: dict
    size: SizeReport
    prequant: dict | None = None
    estimated_full_seconds: float | None = None
    config: dict = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _stage(on_progress: Callable[[str, int, int], None] | None, stage: str) -> Callable[[int, int], None] | None:
    return None if on_progress is None else lambda scored, total: on_progress(stage, scored, total)


def eval_inputs(config, data_path: str | Path | None = None, tokenizer_path: str | Path | None = None) -> tuple[Path, Path]:
    """Validation data and tokenizer for an artifact: the given paths, else the artifact's own config
    (whose tokenizer, unless it names one, sits beside the data)."""
    data = Path(data_path or config.data_path)
    return data, Path(tokenizer_path) if tokenizer_path else dataclasses.replace(config, data_path=str(data)).tokenizer_file


def evaluate_artifact(path: str | Path, data_path: str | Path | None = None, tokenizer_path: str | Path | None = None,
                      max_tokens: int | None = None, loops: int | None = None, checkpoint_state: dict | None = None,
                      seq_len: int | None = None, stride: int | None = None, batch_seqs: int = 16,
                      code_files: tuple[Path, ...] = (), dist_info: Dist | None = None,
                      progress: bool = False,
                      on_progress: Callable[[str, int, int], None] | None = None,
                      on_plan: Callable[[list[tuple[str, int]]], None] | None = None) -> EvalReport:
    """on_progress(stage, scored, total) reports each evaluation pass batch by batch (stages: roundtrip,
    sliding, prequant), for callers that show live progress instead of a terminal bar; on_plan(stages) says,
    once before the first pass, which passes will run and the tokens each feeds the model (its share of the work)."""
    t0 = time.perf_counter()
    path = Path(path)
    d = dist_info or single_process()
    art = open_artifact(path, loops=loops)
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
    # the Micro Crawler record cuts its stream to a multiple of its longest sequence length and re-scores the
    # tail; it runs its sliding evaluation only when the stride is shorter than the window (the baseline has none)
    record_len = max(cfg.train_seq_len, seq_len)
    record_targets = n_targets // record_len * record_len \
        if stride < seq_len and isinstance(cfg, CrawlerConfig) else 0
    if on_plan is not None:
        roundtrip_tokens = forwarded_tokens(n_targets, cfg.train_seq_len, cfg.train_seq_len)
        on_plan([("roundtrip", roundtrip_tokens),
                 ("sliding", forwarded_tokens(n_targets, seq_len, stride, record_targets))]
                + ([("prequant", roundtrip_tokens)] if checkpoint_state is not None else []))
    model = art.build_model(d.device)
    roundtrip = evaluate_bpb(model, val, seq_len=cfg.train_seq_len, stride=cfg.train_seq_len,
                             on_batch=_stage(on_progress, "roundtrip"), **run)
    sliding = evaluate_bpb(model, val, seq_len=seq_len, stride=stride, on_batch=_stage(on_progress, "sliding"),
                           record_targets=record_targets, **run)
    prequant = None
    if checkpoint_state is not None:
        prequant = evaluate_bpb(art.build_model(d.device, art.same_convention(checkpoint_state)), val,
                                seq_len=cfg.train_seq_len, stride=cfg.train_seq_len,
                                on_batch=_stage(on_progress, "prequant"), **run).to_dict()
    estimate = None if n_targets == len(val) - 1 else sliding.seconds * (len(val) - 1) / sliding.scored_tokens

    code_bytes, code_source = art.code_bytes, "artifact manifest"
    if code_files:
        code_bytes, code_source = sum(Path(f).stat().st_size for f in code_files), ", ".join(str(f) for f in code_files)
    if code_bytes is None:
        code_source = "unknown: this format does not record its code; pass --code FILE"
    return EvalReport(
        artifact=str(path), sha256=hashlib.sha256(path.read_bytes()).hexdigest(), format=art.format,
        assumptions=list(art.assumptions), device=str(d.device), world_size=d.world_size, data_path=str(data_path),
        tokenizer=str(tokenizer_path), max_tokens=n_targets, prefix_note=prefix_note,
        roundtrip=roundtrip.to_dict(), sliding=sliding.to_dict(),
        audit=decode_audit(sp, lut, val[: n_targets + 1]).to_dict(),
        size=SizeReport(path.stat().st_size, code_bytes, code_source), prequant=prequant,
        estimated_full_seconds=estimate, config=cfg.to_dict(), seconds=time.perf_counter() - t0)
