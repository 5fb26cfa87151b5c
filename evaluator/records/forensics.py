"""What a log gives away beyond its claims: the data it ran on (dataset, tokenizer, vocabulary, validation tokens,
train shards), every scored line with the digits it was printed to, and the timed phases around the training loop.

The reviewer's forensic rules read these (evaluator/check/rules/bpb_denominator, data_fingerprint, train_time,
eval_time). Each fact keeps its line so the evidence links to it. The run's lines are read again from its file
(records.logs keeps these facts without their lines, or not at all); the embedded source is skipped, since the
script's own f-strings look like the lines they print.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath

from evaluator.records.train_log import TrainLog
from evaluator.records.untrusted_files import LOG_LIMIT, RecordFileError, read_capped

LN2 = math.log(2.0)

_TIME_PREFIX = re.compile(r"^(?:\[?\d{9,10}(?:\.\d+)?\]?|\[?\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?Z?\]?)\s+")
_NUMBER = r"(-?\d+(?:\.\d+)?)"
_LOSS = re.compile(r"\bval_loss[:=]\s*" + _NUMBER)
_BPB = re.compile(r"\bval_bpb[:=]\s*" + _NUMBER)
_VAL_TOKENS = re.compile(r"^\s*(?:val_tokens[:=]\s*(\d+)|val_loader:.*\btokens:(\d+))")
_TRAIN_SHARDS = re.compile(r"\btrain_shards[:=]\s*(\d+)")
# a value is a path or a name as printed: a source line that slipped past the embedded-source finder prints
# `{args.tokenizer_path}` or a quote there instead, and is no fact
_VALUE = r"([^\s{}\"'()]+)(?=\s|$)"
_LOADER_DATASET = re.compile(r"^train_loader:dataset:" + _VALUE)
_DATASET_DIR = re.compile(r"^\s*(?:datasets_dir|data_path|DATA_PATH)[:=]\s*" + _VALUE)
_VAL_PATTERN = re.compile(r"^\s*(?:val_loader:shards pattern=|val_files[:=]\s*)([^\s{}\"'()]+)/fineweb_val_[^/\s]*")
_TOKENIZER = re.compile(r"\btokenizer_path[:=]\s*" + _VALUE)
_VOCAB = re.compile(r"^\s*(?:.*\s)?vocab_size[:=]\s*(\d+)\b")
# timed phases after the loop: (kind, pattern with the seconds or ms in group 1 and the unit in group 2)
_PHASES = [
    ("calibration", re.compile(r"^(?:GPTQ:collected \d+ Hessians in|gptq:calibrated \d+ layers in|Hessians collected in|"
                               r"gptq:collected hessians for \d+ layers in|gptq:generated \d+ (?:seqs|sequences) in)\s+"
                               r"(\d+(?:\.\d+)?)(ms|s)\b")),
    ("serialisation", re.compile(r"^Serialize: .*done in\s+(\d+(?:\.\d+)?)(ms|s)\b")),
    ("precomputation", re.compile(r"^ttt_lora:compile warmup done \((\d+(?:\.\d+)?)(ms|s)\)")),
]
_CALIBRATION_SOURCE = re.compile(r"^(?:gptq|GPTQ)[: ].*?(training data|autoregressive|generat\w* calibration|"
                                 r"calibration data|self-gen)", re.IGNORECASE)
_EVAL_TIMER = re.compile(r"^beginning \w+ eval timer")
# some scripts print their phases as one JSON object: `phase_timings:{"quantize_ms": ..., "serialize_ms": ...}`
_PHASE_TIMINGS = "phase_timings:"
_TIMED_KEYS = (("quantize_ms", "quantisation"), ("serialize_ms", "serialisation"))


@dataclass(frozen=True)
class Fact:
    value: str | int
    line: int
    text: str  # the line as logged, for the evidence


@dataclass(frozen=True)
class ScoredLine:
    """A line that prints both val_loss and val_bpb, with the digits each was printed to."""
    label: str
    val_loss: float
    loss_decimals: int
    val_bpb: float
    bpb_decimals: int
    line: int

    @property
    def bytes_per_token(self) -> float:
        return self.val_loss / (self.val_bpb * LN2)

    @property
    def bytes_per_token_bounds(self) -> tuple[float, float]:
        """What the true bytes per token can be, given that each printed number is rounded to its last digit:
        val_loss within half a unit of its last decimal, val_bpb likewise (the extremes of the quotient)."""
        dl, db = 0.5 * 10.0 ** -self.loss_decimals, 0.5 * 10.0 ** -self.bpb_decimals
        low_bpb = self.val_bpb - db
        high = (self.val_loss + dl) / (low_bpb * LN2) if low_bpb > 0 else math.inf
        return (self.val_loss - dl) / ((self.val_bpb + db) * LN2), high


@dataclass(frozen=True)
class Phase:
    kind: str  # calibration, quantisation, serialisation, precomputation
    seconds: float
    line: int
    text: str


@dataclass
class LogFacts:
    dataset: Fact | None = None
    tokenizer_file: Fact | None = None
    vocab_size: Fact | None = None
    val_tokens: Fact | None = None
    train_shards: Fact | None = None
    scored: list[ScoredLine] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    calibration_source: Fact | None = None  # "training data", "generated" or "unstated"
    eval_timer: Fact | None = None  # where a script says its evaluation timer starts
    read_error: str | None = None


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def _seconds(value: str, unit: str) -> float:
    return float(value) / (1000.0 if unit == "ms" else 1.0)


def _dataset_name(path: str) -> str:
    return PurePosixPath(path.rstrip("/")).name


def _calibration_kind(word: str) -> str:
    word = word.lower()
    if "training" in word:
        return "training data"
    if "autoregressive" in word or "generat" in word or "self-gen" in word:
        return "generated"
    return "unstated"


def _set(facts: LogFacts, name: str, value: str | int, line: int, text: str) -> None:
    if getattr(facts, name) is None:  # the first print wins: later ones repeat it (a console copy, a summary)
        setattr(facts, name, Fact(value, line, text.strip()))


def _read(facts: LogFacts, text: str, number: int, metric_lines: set[int]) -> None:
    if number in metric_lines and (loss := _LOSS.search(text)) and (bpb := _BPB.search(text)):
        label = text[:loss.start()].strip() or text[:bpb.start()].strip()
        loss_value, bpb_value = float(loss.group(1)), float(bpb.group(1))
        if math.isfinite(loss_value) and math.isfinite(bpb_value) and bpb_value > 0:
            facts.scored.append(ScoredLine(label, loss_value, _decimals(loss.group(1)), bpb_value,
                                           _decimals(bpb.group(1)), number))
        return
    if tokens := _VAL_TOKENS.match(text):
        _set(facts, "val_tokens", int(tokens.group(1) or tokens.group(2)), number, text)
    if loader := _LOADER_DATASET.match(text):
        _set(facts, "dataset", loader.group(1), number, text)
    elif (directory := _DATASET_DIR.match(text)) or (pattern := _VAL_PATTERN.match(text)):
        _set(facts, "dataset", _dataset_name((directory or pattern).group(1)), number, text)
    if shards := _TRAIN_SHARDS.search(text):
        _set(facts, "train_shards", int(shards.group(1)), number, text)
    if tokenizer := _TOKENIZER.search(text):
        _set(facts, "tokenizer_file", PurePosixPath(tokenizer.group(1)).name, number, text)
    if vocab := _VOCAB.match(text):
        _set(facts, "vocab_size", int(vocab.group(1)), number, text)
    for kind, pattern in _PHASES:
        if phase := pattern.match(text):
            facts.phases.append(Phase(kind, _seconds(phase.group(1), phase.group(2)), number, text.strip()))
    if source := _CALIBRATION_SOURCE.match(text):
        kind = _calibration_kind(source.group(1))
        if facts.calibration_source is None or facts.calibration_source.value == "unstated":
            facts.calibration_source = Fact(kind, number, text.strip())
    if _EVAL_TIMER.match(text):
        _set(facts, "eval_timer", "starts", number, text)
    if text.startswith(_PHASE_TIMINGS):
        _phase_timings(facts, text, number)


def _phase_timings(facts: LogFacts, text: str, number: int) -> None:
    try:
        timings = json.loads(text[len(_PHASE_TIMINGS):])
    except ValueError:
        return
    if not isinstance(timings, dict):
        return
    for key, kind in _TIMED_KEYS:
        value = timings.get(key)
        if isinstance(value, (int, float)) and math.isfinite(value) and value >= 0:
            facts.phases.append(Phase(kind, value / 1000.0, number, f"{key}: {value:.0f}"))


@lru_cache(maxsize=64)
def _facts(path: str, first_line: int, last_line: int, skip: tuple[int, int] | None, metric_lines: frozenset[int],
           sha256: str) -> LogFacts:
    del sha256  # part of the cache key only: a file rewritten in place is read again
    facts = LogFacts()
    try:
        lines = read_capped(Path(path), LOG_LIMIT).text().split("\n")
    except RecordFileError as exc:
        facts.read_error = str(exc)
        return facts
    for number in range(first_line, min(last_line, len(lines)) + 1):
        if skip and skip[0] <= number <= skip[1]:
            continue
        raw = lines[number - 1].rstrip("\r")
        if len(raw) > 8192 or not raw.strip():
            continue
        if prefix := _TIME_PREFIX.match(raw):
            raw = raw[prefix.end():]
        _read(facts, raw, number, metric_lines)
    return facts


def log_facts(log: TrainLog) -> LogFacts:
    """The forensic facts of one run (read once per run and kept: several rules ask)."""
    skip = (log.source.first_line, log.source.last_line) if log.source else None
    # a joined evaluation's metrics are numbered in their own file (records.evaluation_logs), not in this log
    own = frozenset(m.line for m in log.metrics if m.file is None)
    return _facts(log.path, log.first_line, log.n_lines, skip, own, log.sha256)
