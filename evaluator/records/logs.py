"""Parse one training log, in any of the shapes the records use, into typed facts with line numbers (train_log).

Lines are recognised by what they report, not by one script's wording (log_patterns): step lines with or without
the `step:` prefix and with `key:value` or `key: value`; train_time in ms or minutes; final
evaluation lines classified by metric kind (see metric_kinds); free-form score lines after the last step
(`Quantized BPB: 1.0276`, `🏁 Final BPB: 1.1070`) as loose metrics, taken only where no `val_bpb` line of their kind
is printed; sizes from `Code size`,
`Serialized model <format>`, `Total submission size <format>` or a ternary-style `budget:` line.
Anything inside the embedded source is ignored. Shapes we do not know produce warnings.
"""
from __future__ import annotations

import hashlib
import itertools
import re
from pathlib import Path

from crawler.contract import MetricKind
from evaluator.records import log_patterns as patterns
from evaluator.records.embedded_source import find_embedded_source
from evaluator.records.metric_kinds import (STRIDE_ON_LINE, KindDecision, SeenMetric, base_label, decide_kind,
                                            kind_from_label)
from evaluator.records.safe_json import NumberError, finite_float as _float, parse_int as _int
from evaluator.records.train_log import ByteCount, LineValue, Metric, StopInfo, TrainLog, TrainPoint, ValPoint
from evaluator.records.untrusted_files import LOG_LIMIT, read_capped, truncation_note


def _number_and_unit_ms(value: str, unit: str | None) -> float:
    number = _float(value)
    return number * {"m": 60_000.0, "s": 1000.0}.get(unit or "ms", 1.0)


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def _loose_score(text: str) -> tuple[str, str] | None:
    """(label, number) of a free-form score line (`🏁 Final BPB: 1.1070`), else None."""
    cut = min((i for i in (text.find(":"), text.find("=")) if i >= 0), default=-1)
    label = patterns.LOOSE_LABEL.match(text[:cut].rstrip()) if cut >= 0 else None
    if not label or not patterns.BPB_WORD.search(label.group("label")):
        return None
    value = patterns.LOOSE_VALUE.match(text, cut + 1)
    return (label.group("label").strip(), value.group("bpb")) if value else None


def _timeless(raw: str) -> str:
    if not raw[:1].isdigit() and raw[:1] != "[":
        return raw
    prefix = patterns.TIME_PREFIX.match(raw)
    return raw[prefix.end():] if prefix else raw


def run_starts(lines: list[str]) -> list[int]:
    """0-based indices where each run of a log starts. A log holding several runs one after another (a shell loop
    appending to one train.log) counts its steps from the start again after the previous run's final metrics; the
    next run begins right after the last final-metric line before that restart (its settings and source with it)."""
    starts, finished, last_metric, previous_step = [0], False, 0, -1
    for index, raw in enumerate(lines):
        # only step lines (N/M) and final metrics (val_bpb) matter here: plain substring tests skip the rest fast
        if len(raw) > patterns.MAX_LINE or ("/" not in raw and "val_bpb" not in raw):
            continue
        text = _timeless(raw)
        if step := patterns.STEP_LINE.match(text):
            if len(step.group(1)) > 18:
                continue
            number = int(step.group(1))
            if finished and number < previous_step:
                starts.append(last_metric + 1)
                finished = False
            previous_step = number
        elif patterns.FINAL_METRIC.match(text) and not text.startswith(("val_bpb:", "val_loss:")):
            finished, last_metric = True, index
    return starts


class _LogParser:
    def __init__(self, path: Path, lines: list[str], first_line: int = 1):
        self.lines, self.offset = lines, first_line - 1
        text = "\n".join(lines)
        self.log = TrainLog(path=str(path), file_name=path.name,
                            sha256=hashlib.sha256(text.encode("utf-8", errors="surrogateescape")).hexdigest(),
                            n_lines=self.offset + len(lines), first_line=first_line)
        self.context: list[str] = []
        self.seen: list[SeenMetric] = []
        self.unknown_labels: set[str] = set()
        self.loose: list[Metric] = []

    def parse(self) -> TrainLog:
        found = find_embedded_source(self.lines, self.offset)
        if found:
            self.log.source = found[0]
        long_lines, bad_numbers = [], []
        source = self.log.source
        # the embedded source is often most of a log: step over its lines instead of testing each one
        indices = range(len(self.lines)) if source is None else itertools.chain(
            range(source.first_line - 1 - self.offset), range(source.last_line - self.offset, len(self.lines)))
        for index in indices:
            raw, number = self.lines[index], self.offset + index + 1
            if len(raw) > patterns.MAX_LINE:
                long_lines.append(number)
                continue
            text = raw.rstrip("\r")
            if prefix := patterns.TIME_PREFIX.match(text):
                text = text[prefix.end():]
                self.log.time_prefixed = True
            try:
                self._line(text, number)
            except NumberError as exc:
                bad_numbers.append(f"line {number}: {exc}")
        if long_lines:
            self.log.warnings.append(f"{len(long_lines)} line(s) over {patterns.MAX_LINE:,} characters not read (first: line {long_lines[0]})")
        if bad_numbers:
            self.log.warnings.append(f"{len(bad_numbers)} line(s) with a number out of range not read ({bad_numbers[0]})")
        self._finish()
        return self.log

    def _line(self, text: str, number: int) -> None:
        log = self.log
        if not text.strip():
            return
        if ("pb" in text or "PB" in text) and (loose := _loose_score(text)):
            self._loose_line(*loose, text, number)
            self.context.append(text)
            return
        # step lines start with a digit or "step:", the end of training with "stopping_early" or "peak memory";
        # any other line that names no fact is context (progress lines: ttt chunks, warmup steps, nvidia-smi)
        if not (text[0].isdigit() or text[0] in "spS") and not patterns.MAYBE_FACT.search(text):
            self.context.append(text)
            return
        if step := patterns.STEP_LINE.match(text):
            self._step_line(_int(step.group(1)), _int(step.group(2)), step.group(3), number)
            self.context = []
            return
        if stop := patterns.STOP.match(text):
            log.stop = StopInfo(stop.group(1), _float(stop.group(2)), _int(stop.group(3)), _int(stop.group(4)), number)
            self.context = []
            return
        if patterns.TRAINING_END.match(text):
            self.context = []
        if not patterns.MAYBE_FACT.search(text):
            self.context.append(text)
            return
        if self._size_line(text, number) or self._setting_line(text, number):
            self.context.append(text)
            return
        if (metric := patterns.FINAL_METRIC.match(text)) and not text.startswith(("val_bpb:", "val_loss:")):
            self._metric_line(metric, text, number)
            self.context = []
            return
        if total := patterns.TOTAL_EVAL.match(text):
            log.total_eval_time_ms = LineValue(_float(total.group(1)) * 1000.0, number)
        self.context.append(text)

    def _step_line(self, step: int, total: int, rest: str, number: int) -> None:
        values: dict[str, float] = {}
        bpb_decimals = 0
        for key, value, unit in patterns.KEY_VALUE.findall(rest):
            if key in ("train_time", "t", "step_avg", "avg"):
                values[key] = _number_and_unit_ms(value, unit)
            else:
                values[key] = _float(value)
                bpb_decimals = _decimals(value) if key == "val_bpb" else bpb_decimals
        train_time = values.get("train_time", values.get("t"))
        step_avg = values.get("step_avg", values.get("avg"))
        if "val_loss" in values or "val_bpb" in values:
            self.log.val_curve.append(ValPoint(step, total, values.get("val_loss"), values.get("val_bpb"),
                                               train_time, step_avg, number, bpb_decimals))
        elif "train_loss" in values or "loss" in values:
            self.log.train_curve.append(TrainPoint(step, total, values.get("train_loss", values.get("loss")),
                                                   train_time, step_avg, number))

    def _size_line(self, text: str, number: int) -> bool:
        log = self.log
        if piped := patterns.PIPED_SIZES.match(text):
            # the total printed beside a model size in a format is code + that model
            label = piped.group("format")
            log.model_bytes_by_format.append(ByteCount(_int(piped.group("model")), label, number))
            log.total_bytes_by_format.append(ByteCount(_int(piped.group("total")), label, number))
        elif code := patterns.CODE_SIZE.match(text):
            count = ByteCount(_int(code.group(2)), f"Code size{' (' + code.group(1) + ')' if code.group(1) else ''}", number)
            if code.group(1) == "compressed":
                log.code_bytes_compressed = count
            else:
                log.code_bytes = count
        elif launcher := patterns.LAUNCHER_CODE.match(text):
            log.launcher_code_bytes = ByteCount(_int(launcher.group(1) or launcher.group(2)), "launcher upload", number)
        elif model := patterns.SERIALIZED.match(text):
            if model.group(1):
                log.model_bytes_by_format.append(ByteCount(_int(model.group(2)), model.group(1).strip(), number))
            else:
                log.model_bytes_raw = ByteCount(_int(model.group(2)), "raw", number)
        elif total := patterns.TOTAL.match(text):
            if total.group(1):
                log.total_bytes_by_format.append(ByteCount(_int(total.group(2)), total.group(1).strip(), number))
            else:
                log.total_bytes_raw = ByteCount(_int(total.group(2)), "raw", number)
        elif budget := patterns.BUDGET.match(text):
            log.total_bytes_by_format.append(ByteCount(_int(budget.group(1)), "budget", number))
        elif artifact := patterns.ARTIFACT_CODE.match(text):
            log.code_bytes = ByteCount(_int(artifact.group(1)), "artifact code", number)
        else:
            return False
        return True

    def _setting_line(self, text: str, number: int) -> bool:
        log, matched = self.log, False
        if seed := patterns.SEED.match(text):
            self._set_seed(_int(seed.group(1)), f"{log.file_name}:{number}")
            matched = True
        if compact := patterns.COMPACT_PARAMS.match(text):
            log.model_params = LineValue(_int(compact.group(1)), number)
            log.world_size = LineValue(_int(compact.group(2)), number)
            self._set_seed(_int(compact.group(3)), f"{log.file_name}:{number}")
            matched = True
        if world := patterns.WORLD_SIZE.search(text):
            log.world_size = LineValue(_int(world.group(1)), number)
            matched = True
        if params := patterns.MODEL_PARAMS.match(text):
            log.model_params = LineValue(_int(params.group(1)), number)
            matched = True
        if iterations := patterns.ITERATIONS.search(text):
            log.iterations = LineValue(_int(iterations.group(1)), number)
            matched = True
        if seq_len := patterns.SEQ_LEN.search(text):
            log.train_seq_len = _int(seq_len.group(1))
            matched = True
        if wallclock := patterns.WALLCLOCK.search(text):
            log.max_wallclock_seconds = LineValue(_float(wallclock.group(1)), number)
            matched = True
        if tokenizer := patterns.TOKENIZER_PATH.search(text):
            log.tokenizer = Path(tokenizer.group(1)).name
            matched = True
        elif (kind := patterns.TOKENIZER_KIND.search(text)) and kind.group(1) != "sentencepiece":
            log.tokenizer = kind.group(1)
            matched = True
        if vocab := patterns.VOCAB.search(text):
            log.vocab_size = _int(vocab.group(1))
            matched = True
        if tokens := patterns.VAL_TOKENS.match(text):
            log.val_tokens = _int(tokens.group(1) or tokens.group(2))
            matched = True
        if reserve := patterns.GPTQ_RESERVE.match(text):
            log.gptq_reserve_ms = LineValue(_number_and_unit_ms(reserve.group(1), reserve.group(2)), number)
            matched = True
        return matched

    def _set_seed(self, seed: int, evidence: str) -> None:
        if self.log.seed is not None and self.log.seed != seed:
            self.log.warnings.append(f"seed printed as {self.log.seed} and as {seed}; keeping the first")
            return
        self.log.seed, self.log.seed_evidence = seed, evidence

    def _metric_line(self, match: re.Match[str], text: str, number: int) -> None:
        label = patterns.LABEL_NOISE.sub("", match.group("label")).strip()
        loss = _float(match.group("loss")) if match.group("loss") else None
        bpb = _float(match.group("bpb"))
        decision: KindDecision = decide_kind(label, text, self.context, self.seen, loss, bpb)
        extras = {key: (value, unit)
                  for key, value, unit in patterns.KEY_VALUE.findall(match.group("rest") + " " + text)}
        eval_time = _number_and_unit_ms(*extras["eval_time"]) if "eval_time" in extras else None
        stride = int(_float(extras["stride"][0])) if "stride" in extras else None
        if eval_time is None or stride is None:
            # the exact print or legacy repeat of an evaluation carries no timing; take the original's
            original = next((m for m in reversed(self.log.metrics) if m.kind is decision.kind and (
                m.label == base_label(label)
                or SeenMetric(m.label, m.kind, m.val_loss, m.val_bpb, m.decimals).same_numbers(loss, bpb))), None)
            if original:
                eval_time = eval_time if eval_time is not None else original.eval_time_ms
                stride = stride if stride is not None else original.stride
        decimals = _decimals(match.group("bpb"))
        exact = next((value for key, value, _ in patterns.KEY_VALUE.findall(match.group("rest"))
                      if key in ("exact", "val_bpb_exact", "bpb_exact")), None)
        if exact is not None and _decimals(exact) > decimals and abs(_float(exact) - bpb) <= 0.5 * 10.0 ** -decimals:
            # `val_bpb:0.1154 exact:0.11544435`: the same score printed again to more decimals on the line
            bpb, decimals = _float(exact), _decimals(exact)
        metric = Metric(decision.kind, label, loss, bpb, decimals, eval_time, stride, number, decision.reason)
        self.log.metrics.append(metric)
        self.seen.append(SeenMetric(label, decision.kind, loss, bpb, decimals))
        if decision.kind is MetricKind.UNKNOWN and label not in self.unknown_labels:
            self.unknown_labels.add(label)
            self.log.warnings.append(f"line {number}: metric label {label!r} is of no known kind")

    def _loose_line(self, label: str, bpb: str, text: str, number: int) -> None:
        kind = MetricKind.SLIDING_WINDOW if STRIDE_ON_LINE.search(text) else kind_from_label(
            patterns.BPB_WORD.sub("", label).strip() or label)
        self.loose.append(Metric(kind, label, None, _float(bpb), _decimals(bpb), None, None, number,
                                 f"read loosely from the free-form line {text.strip()!r}", loose=True))

    def _finish(self) -> None:
        log = self.log
        # a free-form score counts near the end of a run, after its last step: not a progress print during it
        last_step = max((p.line for p in [*log.train_curve, *log.val_curve]), default=0)
        log.metrics += [m for m in self.loose if m.line > last_step]
        log.metrics.sort(key=lambda m: m.line)
        log.train_curve = list({p.step: p for p in log.train_curve}.values())
        log.val_curve = list({p.step: p for p in log.val_curve}.values())
        if log.seed is None and (from_name := patterns.FILE_SEED.search(log.file_name)):
            log.seed, log.seed_evidence = int(from_name.group(1)), f"file name {log.file_name}"
        elif log.seed is not None and (from_name := patterns.FILE_SEED.search(log.file_name)) \
                and int(from_name.group(1)) != log.seed and "seed" in log.file_name.lower():
            log.warnings.append(f"file name says seed {from_name.group(1)} but the log says {log.seed}")
        if log.seed is None:
            log.warnings.append("no seed found")
        if not log.is_training_log:
            log.warnings.append("no training or evaluation lines recognised")
            return
        last_val = next((p for p in reversed(log.val_curve) if p.val_bpb is not None), None)
        if not log.metrics and last_val:
            # the training loop's last validation is of the unquantised weights: the only score such a log has
            log.metrics.append(Metric(MetricKind.PRE_QUANT, f"step:{last_val.step}/{last_val.total_steps} validation",
                                      last_val.val_loss, last_val.val_bpb, last_val.bpb_decimals, None, None,
                                      last_val.line, "the last periodic validation (no final evaluation line)"))
            log.warnings.append(f"no final evaluation line; the last periodic validation (line {last_val.line}) "
                                "stands in as the pre-quant score")
        elif not log.metrics:
            log.warnings.append("no final evaluation line (val_bpb) found")
        if log.stop is None and log.train_time_ms is None:
            log.warnings.append("no training time found")
        if log.model_bytes is None and log.total_bytes is None:
            log.warnings.append("no compressed model size or total submission size found")
        totals = {t.bytes for t in log.total_bytes_by_format}
        if len(totals) > 1:
            log.warnings.append("total submission sizes disagree across formats: "
                                + ", ".join(f"{t.label}={t.bytes}" for t in log.total_bytes_by_format))


def seed_in_file_name(name: str) -> int | None:
    """The seed a log's file name carries (train_seed42.log, log_7.txt), if any."""
    found = patterns.FILE_SEED.search(name.rsplit("/", 1)[-1])
    return int(found.group(1)) if found else None


def parse_log_text(text: str, path: Path) -> TrainLog:
    return _LogParser(path, text.split("\n")).parse()


def _results(log: TrainLog) -> list[tuple[str, float]]:
    return [(m.label, m.val_bpb) for m in log.metrics]


def parse_runs_text(text: str, path: Path) -> list[TrainLog]:
    """Each run a log holds (run_starts), parsed on its own lines with the file's line numbers. A stretch that
    repeats an earlier one's final results is the same run printed twice (a console capture followed by the log
    file): the longer print is kept."""
    lines = text.split("\n")
    starts = run_starts(lines)
    runs: list[TrainLog] = []
    for start, end in zip(starts, starts[1:] + [len(lines)]):
        run = _LogParser(path, lines[start:end], start + 1).parse()
        twin = next((i for i, kept in enumerate(runs) if run.metrics and _results(kept) == _results(run)), None)
        if twin is None:
            runs.append(run)
        elif run.n_lines - run.first_line > runs[twin].n_lines - runs[twin].first_line:
            runs[twin] = run
    for run in runs:
        run.runs_in_file = len(runs)
    return runs


def parse_runs(path: Path) -> list[TrainLog]:
    """parse_log, split into the runs the file holds."""
    capped = read_capped(path, LOG_LIMIT)
    runs = parse_runs_text(capped.text(), path)
    if capped.truncated:
        runs[-1].warnings.append(truncation_note(path.name, capped))
    return runs


def parse_log(path: Path) -> TrainLog:
    """Parse the first LOG_LIMIT bytes of a log (RecordFileError when it is a symlink or not a file)."""
    capped = read_capped(path, LOG_LIMIT)
    log = parse_log_text(capped.text(), path)
    if capped.truncated:
        log.warnings.append(truncation_note(path.name, capped))
    return log
