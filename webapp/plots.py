"""Charts drawn on the server with matplotlib, returned as SVG text.

Figures are built with the object API (no pyplot state); the style goes through matplotlib's global
rcParams, so one request draws at a time. Text stays text in the SVG, set in the page's own sans-serif font.
"""
from __future__ import annotations

import io
import threading

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402  (after the backend is chosen)

from webapp.schemas import SeedCurve  # noqa: E402

_STYLE = {"svg.fonttype": "none", "font.family": "sans-serif", "font.size": 10,
          "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3,
          "axes.titlesize": 11, "axes.titleweight": "bold", "legend.frameon": False}
_DRAWING = threading.Lock()
_COLOURS = ("#1f6feb", "#d9480f", "#2f9e44", "#9c36b5", "#e8590c", "#0c8599", "#5c940d", "#c2255c")
_LINES = ("-", "--", ":", "-.")
# the y range fits the points after this share of the x range: the first steps' loss would flatten the rest
_SETTLED_FROM = 0.1


def _svg(fig: Figure) -> str:
    out = io.StringIO()
    fig.savefig(out, format="svg", bbox_inches="tight")
    return out.getvalue()


def has_curves(curves: list[SeedCurve]) -> bool:
    return any(curve.train or curve.val for curve in curves)


def _fit_settled(ax, series: list[tuple[tuple, tuple]]) -> None:
    xs = [x for xs, _ in series for x in xs]
    if not xs:
        return
    start = min(xs) + _SETTLED_FROM * (max(xs) - min(xs))
    settled = [y for xs_, ys in series for x, y in zip(xs_, ys) if x >= start]
    if len(settled) < 2:
        return
    low, high = min(settled), max(settled)
    pad = 0.08 * (high - low or abs(high) or 1.0)
    ax.set_ylim(low - pad, high + pad)


def training_curves_svg(curves: list[SeedCurve]) -> str:
    """Validation BPB and train loss, each against step and against training time, one line per seed."""
    with _DRAWING, matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(12, 7.2))
        axes = fig.subplots(2, 2)
        panels = (
            (axes[0][0], "val", "val_bpb", "step", "Validation BPB by step", "step", "val BPB (bits/byte)"),
            (axes[0][1], "val", "val_bpb", "train_time_s", "Validation BPB by training time", "training time (s)",
             "val BPB (bits/byte)"),
            (axes[1][0], "train", "train_loss", "step", "Train loss by step", "step", "train loss (nats/token)"),
            (axes[1][1], "train", "train_loss", "train_time_s", "Train loss by training time", "training time (s)",
             "train loss (nats/token)"),
        )
        for ax, series, y_name, x_name, title, x_label, y_label in panels:
            drawn = []
            for index, curve in enumerate(curves):
                points = [(getattr(p, x_name), getattr(p, y_name)) for p in getattr(curve, series)
                          if getattr(p, x_name) is not None and getattr(p, y_name) is not None]
                if not points:
                    continue
                xs, ys = zip(*points)
                label = f"seed {curve.seed}" if curve.seed is not None else curve.log
                ax.plot(xs, ys, color=_COLOURS[index % len(_COLOURS)], linestyle=_LINES[index % len(_LINES)],
                        linewidth=1.5, marker="o" if len(points) <= 12 else None, markersize=3.5, label=label)
                drawn.append((xs, ys))
            ax.set_title(title, loc="left")
            ax.set_xlabel(x_label)
            ax.set_ylabel(y_label)
            if drawn:
                _fit_settled(ax, drawn)
            else:
                ax.text(0.5, 0.5, "not in the logs", transform=ax.transAxes, ha="center", va="center", color="#888")
        # one legend for all panels: a seed may have train points but no validation points
        legend = {}
        for ax in axes.flat:
            for handle, label in zip(*ax.get_legend_handles_labels()):
                legend.setdefault(label, handle)
        if legend:
            fig.legend(list(legend.values()), list(legend), loc="upper center", ncol=min(len(legend), 6),
                       bbox_to_anchor=(0.5, 1.03))
        fig.tight_layout()
        return _svg(fig)
