"""The Micro Crawler reference script's sliding evaluation (its eval_val_sliding), which `pgolf eval` scores
beside ours in the same pass: a window at every multiple of stride, each scoring its last `stride` targets
(the first window all of its own), so each window shorter than seq_len at the end of its stream scores the
tail again. The reference cuts its stream to a multiple of its longest sequence length first."""
from __future__ import annotations

from crawler.scoring import Window, plan_windows


def reference_plan(n_targets: int, seq_len: int, stride: int) -> list[Window]:
    return [(ws, ws if ws == 0 else ws + max(min(seq_len, n_targets - ws) - stride, 0), min(ws + seq_len, n_targets))
            for ws in range(0, n_targets, stride)]


def reference_targets(n_targets: int, seq_len: int, stride: int, longest_seq_len: int) -> int:
    """The targets the reference's sliding evaluation scores out of n_targets: 0 when it runs none (a stride of a
    whole window, or fewer targets than its longest sequence), else at least seq_len."""
    return n_targets // longest_seq_len * longest_seq_len if stride < seq_len else 0


def forwarded_tokens(n_targets: int, seq_len: int, stride: int, reference_targets: int = 0) -> int:
    """Tokens a pass feeds the model (all ranks together): the pass's cost."""
    width = min(seq_len, n_targets)
    starts = {start for start, _, _ in plan_windows(n_targets, width, min(stride, width))}
    if reference_targets:
        starts.update(start for start, _, _ in reference_plan(reference_targets, seq_len, stride))
    return len(starts) * width
