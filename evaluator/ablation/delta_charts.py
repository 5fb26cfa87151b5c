"""Bar charts of an ablation: each arm's delta against the control, one panel per BPB kind and the
quantisation gap, with the seeds as dots and +-1 sample std as whiskers."""
from __future__ import annotations

import math
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and workers
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from crawler.contract import ARTIFACT_PASSES, MetricKind  # noqa: E402
from evaluator.records.metric_kinds import KIND_WORDS  # noqa: E402

# the weights before export, then each pass over the int6 artifact
PANELS = ((MetricKind.PRE_QUANT, KIND_WORDS[MetricKind.PRE_QUANT]),
          *((kind, f"int6 {KIND_WORDS[kind]}") for kind in ARTIFACT_PASSES))


def delta_panel(ax, labels: list[str], deltas: list[float | None], seeds: list[list[float]],
                stds: list[float | None], title: str, digits: int) -> None:
    """One bar per arm: its mean delta, +-1 sample std as a whisker, its seeds as dots (when several)."""
    for y, (delta, dots, std) in enumerate(zip(deltas, seeds, stds)):
        if delta is None:
            continue
        colour = "#2f9e44" if delta < 0 else "#d9480f"
        ax.barh(y, delta, color=colour, alpha=0.35, height=0.6, xerr=std if std else None,
                error_kw={"ecolor": "#333", "capsize": 4, "linewidth": 1})
        if len(dots) > 1:
            ax.scatter(dots, [y] * len(dots), color=colour, s=14, zorder=3)
        ax.annotate(f"{delta:+.{digits}f}", (0, y), xytext=(6 if delta < 0 else -6, 0), textcoords="offset points",
                    ha="left" if delta < 0 else "right", va="center", fontsize=8, color="#333")
    ax.axvline(0.0, color="#333", linewidth=1)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_title(title, fontsize=10)
    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.grid(axis="x", alpha=0.3)


def delta_charts(report, path: Path) -> Path:
    """report: an AblationReport; each panel's deltas are against the control's mean of that kind."""
    c = report.comparison
    labels = [a.label for a in c.arms]
    seeds = report.seed_values
    fig, axes = plt.subplots(1, len(PANELS) + 1, figsize=(4.2 * (len(PANELS) + 1), 0.55 * max(len(labels), 1) + 1.6),
                             sharey=True)
    for ax, (kind, title) in zip(axes, [*PANELS, ("quant_gap", "quantisation gap (roundtrip - pre-quant)")]):
        base = seeds[c.control.label].get(kind, [])
        deltas, dots, stds = [], [], []
        for label in labels:
            mine = seeds[label].get(kind, [])
            if not base or not mine:
                deltas.append(None), dots.append([]), stds.append(None)
                continue
            centre = math.fsum(base) / len(base)
            dots.append([v - centre for v in mine])
            deltas.append(math.fsum(dots[-1]) / len(mine))
            stds.append(statistics.stdev(mine) if len(mine) > 1 else None)
        delta_panel(ax, labels, deltas, dots, stds, f"Δ {title}", 5 if kind == "quant_gap" else 4)
    fig.suptitle(f"{report.name}: each arm minus the control ({c.control.label}), BPB; "
                 f"{len(report.seeds)} seed{'s' if len(report.seeds) > 1 else ''}; negative is better", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
