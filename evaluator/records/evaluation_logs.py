"""Evaluation logs joined to the training runs they evaluate.

A folder may keep an evaluation run apart from training: TTT evaluated later, one log per seed
(`eval_seed42.log` beside `train_seed42.log`, or in a subfolder), or `v3_lora_ttt.log` beside `v3_train.log`. Such a
log has final scores and no training lines; counted as a run of its own it would be a seed without size, steps or
training time. It is joined to the training run of its seed, or, where it prints no seed, to the one whose file name
is the same once the words naming a phase (train, eval, ttt, lora, rerun, ...) are taken out. Its scores then stand
for the training run's scores of the same kinds (the later evaluation wins), each kept with its own file and line.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from evaluator.records.runs import run_label
from evaluator.records.train_log import TrainLog

_PHASE_WORDS = re.compile(r"(?:^|(?<=[_\-.]))(?:eval|evaluation|ttt|lora|rerun|sliding|score|train|training|log|run)"
                          r"(?=$|[_\-.])")


@dataclass(frozen=True)
class Joined:
    evaluation: str  # the evaluation run (its file, and lines when the file holds several runs)
    run: str  # the training run it was joined to
    by: str  # what matched: "seed 42" or "file name"
    replaced: tuple[str, ...] = ()  # the kinds the training run printed too, now taken from the evaluation

    def describe(self) -> str:
        text = f"evaluation {self.evaluation} joined to {self.run} by {self.by}"
        return text + (f"; its {', '.join(self.replaced)} score(s) replace the training log's" if self.replaced else "")


def _stem(name: str) -> str:
    base = name.rsplit("/", 1)[-1].rsplit(".", 1)[0].lower()
    return re.sub(r"[_\-.]+", "_", _PHASE_WORDS.sub("", base)).strip("_")


def _partner(evaluation: TrainLog, training: list[TrainLog]) -> tuple[TrainLog | None, str]:
    stem = _stem(evaluation.file_name)
    if evaluation.seed is not None:
        same_seed = [run for run in training if run.seed == evaluation.seed]
        if same_seed:
            named = [run for run in same_seed if _stem(run.file_name) == stem]
            return (named or same_seed)[-1], f"seed {evaluation.seed}"
    named = [run for run in training if stem and _stem(run.file_name) == stem
             and (run.seed is None or evaluation.seed is None or run.seed == evaluation.seed)]
    return (named[0], "file name") if len(named) == 1 else (None, "")


def _merge(run: TrainLog, evaluation: TrainLog) -> tuple[str, ...]:
    """The evaluation's metrics into the run, in place of the run's own of the same kinds (returned)."""
    kinds = {metric.kind for metric in evaluation.metrics}
    replaced = tuple(sorted({metric.kind.value for metric in run.metrics if metric.kind in kinds}))
    run.metrics = [m for m in run.metrics if m.kind not in kinds] + [
        dataclasses.replace(metric, file=evaluation.file_name) for metric in evaluation.metrics]
    return replaced


def join_evaluations(runs: list[TrainLog]) -> tuple[list[TrainLog], list[Joined]]:
    """The runs with every evaluation-only run joined to its training run where one matches (see the module
    docstring), and the joins made; an evaluation that matches none stays a run of its own."""
    training = [run for run in runs if not run.evaluation_only]
    kept, joined = [], []
    for run in runs:
        partner, by = _partner(run, training) if run.evaluation_only else (None, "")
        if partner is None:
            kept.append(run)
            continue
        joined.append(Joined(run_label(run), run_label(partner), by, _merge(partner, run)))
    return kept, joined
