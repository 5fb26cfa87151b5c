"""What `pgolf loops` writes, by name: its default folder beside the artifact, the report, and one PNG per plot.
The web app reads a record's analysis by these names; this module imports no plotting, so it can."""
from __future__ import annotations

from evaluator.loopwise.loops_report import LoopsReport

OUTPUT_FOLDER = "loops"  # the default --out, beside the artifact (a record folder keeps it under this name)
REPORT_FILE = "loops.json"
PLOT_SUFFIX = ".png"
# every plot, in the order they are drawn, with what it shows (the web page's captions)
PLOTS = {
    "logit_lens": "Each stage decoded as the final one: BPB of the logit lens by depth",
    "early_exit": "BPB of the whole model run with k crawler loops (the trained count is marked)",
    "attention_distance": "Mean attention distance per stage and head",
    "activations": "RMS and absolute maximum of the residual stream per stage",
    "repr_change": "Relative step and update cosine of the residual stream per crawler loop",
    "similarity": "Cosine similarity between the residual streams after each loop",
    "quant_error": "Relative error of the dequantised model's residual stream against the float one",
}
PLOT_NAMES = tuple(PLOTS)


def plot_names(report: LoopsReport) -> list[str]:
    """The plots written for this report: those whose measurements it holds."""
    skipped = ({"repr_change", "similarity"} if report.repr_change is None else set()) \
        | ({"quant_error"} if report.quant_error is None else set())
    return [name for name in PLOT_NAMES if name not in skipped]


def plot_file(name: str) -> str:
    return name + PLOT_SUFFIX
