"""One eval stride for a record's sliding-window mean: a run that also scores at another stride (seed 42 at
stride 256 and 64, the other seeds at 256 only) is read at the stride every run prints, so the mean is over one
evaluation setting and not over whichever line each log printed last."""
from __future__ import annotations

from crawler.contract import MetricKind
from evaluator.records.train_log import TrainLog, run_name


def _strides(log: TrainLog) -> set[int]:
    return {m.stride for m in log.metrics if m.kind is MetricKind.SLIDING_WINDOW and m.stride is not None}


def align_strides(logs: list[TrainLog]) -> list[str]:
    """Set eval_stride on the runs that print sliding-window scores at several strides, to the one stride every
    sliding-window run prints; returns a note for each run so read. Where every run prints the same several
    strides, nothing tells them apart here and each run keeps its last line."""
    scored = [(log, strides) for log in logs if (strides := _strides(log))]
    if not any(len(strides) > 1 for _, strides in scored):
        return []
    shared = set.intersection(*(strides for _, strides in scored))
    if len(shared) != 1:
        return []
    stride = shared.pop()
    notes = []
    for log, strides in scored:
        if len(strides) > 1:
            log.eval_stride = stride
            others = ", ".join(str(s) for s in sorted(strides - {stride}))
            notes.append(f"{run_name(log)} also prints sliding-window scores at stride {others}; read at stride "
                         f"{stride}, the stride every run prints")
    return notes
