"""What `pgolf loops` writes, by name: its default folder beside the artifact, the report, and one PNG per plot.
The web app reads a record's analysis by these names; this module imports no plotting, so it can."""
from __future__ import annotations

from evaluator.loopwise.loops_report import LoopsReport

OUTPUT_FOLDER = "loops"  # the default --out, beside the artifact (a record folder keeps it under this name)
REPORT_FILE = "loops.json"
PLOT_SUFFIX = ".png"
# every plot, in the order they are drawn
PLOT_NAMES = ("logit_lens", "early_exit", "attention_distance", "activations", "repr_change", "similarity",
              "quant_error")


def plot_names(report: LoopsReport) -> list[str]:
    """The plots written for this report: those whose measurements it holds."""
    skipped = ({"repr_change", "similarity"} if report.repr_change is None else set()) \
        | ({"quant_error"} if report.quant_error is None else set())
    return [name for name in PLOT_NAMES if name not in skipped]


def plot_file(name: str) -> str:
    return name + PLOT_SUFFIX
