"""Interactive training curves as Plotly figures: JSON that the browser draws with the plotly.js bundle the app serves.

The figures are built with the plotly package's graph objects, so the JSON is what plotly.js expects. Every
point a log holds is drawn and the y range is never clipped. When the drawn values span more than
LOG_Y_RATIO (step 0's validation BPB is often 3-4x the final one), the figure opens on a log y axis, so the
start and the end are both readable without a vertical "spike" running off the top; the page can switch.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import plotly
import plotly.graph_objects as go
from pydantic import BaseModel, Field

from crawler.contract import MetricKind
from evaluator.service import KIND_WORDS, TrainLog, seed_row

# plotly ships the bundle its Python figures are written for, so the two always match
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
PLOTLY_JS_URL = f"/vendor/plotly-{plotly.__version__}.min.js"
COLOURS = ("#1f6feb", "#d9480f", "#2f9e44", "#9c36b5", "#e8590c", "#0c8599", "#5c940d", "#c2255c", "#495057",
           "#f08c00")
DASHES = ("solid", "dash", "dot", "dashdot")
LOG_Y_RATIO = 1.5
# a log that prints every step is thinned to about this many points per line (the last point kept), so
# that a page stays small whatever the log holds
MAX_POINTS = 2000


@dataclass
class Series:
    """One line: a seed of a record, a training run, or a seed of an ablation arm."""
    name: str
    group: str  # the lines of one item (its seeds) share a colour and a legend entry's toggle
    steps: list[int]
    times: list[float | None]  # seconds of training, None where the log gives no time
    values: list[float]
    final: float | None = None  # the post-quantisation score, marked at the run's last step and time
    final_label: str = ""
    final_step: int | None = None
    final_time: float | None = None
    colour: int = 0
    dash: int = 0
    in_legend: bool = True  # an item's later seeds share its first seed's legend entry
    detail: str = ""  # shown on hover after the name (which seed of an item)


def _thin(points: list) -> list:
    if len(points) <= MAX_POINTS:
        return points
    every = -(-len(points) // MAX_POINTS)
    kept = points[::every]
    return kept if kept[-1] is points[-1] else kept + [points[-1]]


def log_series(log: TrainLog, name: str, group: str, curve: str, kind: MetricKind | None,
               colour: int = 0, dash: int = 0) -> Series:
    """A log's validation BPB (curve="val", with its final post-quantisation score) or train loss ("train")."""
    if curve == "val":
        points = _thin([p for p in log.val_curve if p.val_bpb is not None])
        values = [p.val_bpb for p in points]
    else:
        points = _thin(log.train_curve)
        values = [p.train_loss for p in points]
    series = Series(name, group, [p.step for p in points],
                    [None if p.train_time_ms is None else p.train_time_ms / 1000.0 for p in points], values,
                    colour=colour, dash=dash)
    row = seed_row(log, kind)
    # a star only in the kind asked for: a log without that score has none (never another kind's in its place)
    if curve == "val" and row.headline_bpb is not None and row.headline_kind is not None \
            and (kind is None or row.headline_kind == kind):
        series.final = row.headline_bpb
        series.final_label = f"final {KIND_WORDS[row.headline_kind.value]} BPB"
        series.final_step = row.steps
        series.final_time = row.train_time_s
    return series


def _log_y(values: list[float]) -> bool:
    return bool(values) and min(values) > 0 and max(values) / min(values) > LOG_Y_RATIO


def figure(series: list[Series], x: str, x_title: str, y_title: str) -> tuple[dict, bool]:
    """The lines against step (x="step") or training time (x="time"), final scores as stars; and whether log-y."""
    fig = go.Figure()
    drawn: list[float] = []
    for s in series:
        xs_all = s.steps if x == "step" else s.times
        points = [(px, v) for px, v in zip(xs_all, s.values) if px is not None]
        colour = COLOURS[s.colour % len(COLOURS)]
        who = f"{s.name} · {s.detail}" if s.detail else s.name
        if points:
            xs, ys = zip(*points)
            drawn += ys
            fig.add_trace(go.Scatter(
                x=xs, y=ys, name=s.name, legendgroup=s.group, showlegend=s.in_legend, mode="lines+markers" if len(xs) <= 30 else "lines",
                line={"color": colour, "dash": DASHES[s.dash % len(DASHES)], "width": 1.6}, marker={"size": 5},
                hovertemplate=f"{who}<br>{x_title} %{{x}}<br>{y_title} %{{y:.4f}}<extra></extra>",
                meta="curve"))
        final_x = s.final_step if x == "step" else s.final_time
        if s.final is not None and final_x is not None:
            drawn.append(s.final)
            fig.add_trace(go.Scatter(
                # one legend entry per item for its stars, as for its lines: every drawn mark is in the legend
                x=[final_x], y=[s.final], name=f"{s.name}: {s.final_label}", legendgroup=s.group,
                showlegend=s.in_legend,
                mode="markers", marker={"symbol": "star", "size": 13, "color": colour,
                                        "line": {"color": "#ffffff", "width": 1}},
                hovertemplate=f"{who}<br>{s.final_label} %{{y:.5f}}<br>{x_title} %{{x}}<extra></extra>",
                meta="final"))
    log_y = _log_y(drawn)
    fig.update_layout(
        template="plotly_white", margin={"l": 58, "r": 10, "t": 8, "b": 40}, height=360, hovermode="closest",
        showlegend=True, legend={"orientation": "h", "y": -0.2, "font": {"size": 11}},
        font={"family": "system-ui, sans-serif", "size": 12},
        xaxis={"title": {"text": x_title}}, yaxis={"title": {"text": y_title}, "type": "log" if log_y else "linear"})
    return json.loads(fig.to_json()), log_y


class Panel(BaseModel):
    """One chart, or why it is not drawn (no training time in the logs, no curve at all)."""
    id: str
    title: str
    figure: dict | None = Field(description="a Plotly figure (data and layout); None when not drawn")
    log_y: bool = Field(False, description="the figure opens on a log y axis")
    missing: str = Field("", description="why the panel is not drawn")
    controls: bool = Field(True, description="the chart has lines to smooth and a y axis to switch to log")


def panels(series: list[Series], prefix: str, what: str, y_title: str) -> list[Panel]:
    """`what` names the curve in titles ("Validation BPB"); a panel with nothing to draw says why instead."""
    if not any(s.values for s in series):
        return [Panel(id=f"{prefix}-step", title=f"{what} by step", figure=None, missing="not drawn: the logs print no such lines")]
    fig, log_y = figure(series, "step", "step", y_title)
    out = [Panel(id=f"{prefix}-step", title=f"{what} by step", figure=fig, log_y=log_y)]
    if any(t is not None for s in series for t in s.times):
        fig, log_y = figure(series, "time", "training time (s)", y_title)
        out.append(Panel(id=f"{prefix}-time", title=f"{what} by training time", figure=fig, log_y=log_y))
    else:
        out.append(Panel(id=f"{prefix}-time", title=f"{what} by training time", figure=None,
                         missing="not drawn: these log lines give no training time"))
    return out


SIGNIFICANT_P = 0.05


def effect_decimals(spread: float | None) -> int:
    """Decimals that show an effect to the precision its seed spread allows: two significant digits of the spread
    (a spread of 0.02 gives 3 decimals), never fewer than 3 nor more than 6."""
    if not spread:
        return 5
    return min(6, max(3, 1 - math.floor(math.log10(abs(spread)))))


def ablation_figure(arms: list, kind: str) -> Panel:
    """Each arm's mean delta against the control as a bar with +-1 sample std whiskers and its seeds as dots; arms
    whose two-sided Welch p is under SIGNIFICANT_P are solid, the others pale and marked "n.s." in their label.
    The numbers go in the axis labels and the hover, never on the bars, so they cannot collide with the whiskers."""
    shown = [arm for arm in arms if arm.delta is not None]
    labels, colours = [], []
    for arm in shown:
        stats = arm.bpb.get(kind)
        digits = effect_decimals(stats.std if stats else None)
        significant = arm.p_value is not None and arm.p_value < SIGNIFICANT_P
        p = "" if arm.p_value is None else (f", p {arm.p_value:.2g}" if significant else f", p {arm.p_value:.2g} n.s.")
        # the name and its numbers on two lines: a phone's chart keeps its width for the bars
        labels.append(f"{arm.label}<br>({arm.delta:+.{digits}f}{p})")
        colours.append(COLOURS[0] if significant else "#a5b4c8")
    stds = [(arm.bpb[kind].std if kind in arm.bpb and arm.bpb[kind].std is not None else 0.0) for arm in shown]
    fig = go.Figure(go.Bar(
        x=[arm.delta for arm in shown], y=labels, orientation="h", marker={"color": colours},
        error_x={"type": "data", "array": stds, "color": "#495057", "thickness": 1.2, "width": 5},
        hovertemplate="%{y}<br>mean Δ %{x:+.5f}<extra></extra>", name="mean Δ", meta="bar"))
    seeds = [(d, label) for arm, label in zip(shown, labels) for d in arm.seed_deltas]
    if seeds:
        fig.add_trace(go.Scatter(x=[d for d, _ in seeds], y=[label for _, label in seeds], mode="markers",
                                 marker={"color": "#212529", "size": 6, "symbol": "circle-open"}, name="seeds",
                                 hovertemplate="seed Δ %{x:+.5f}<extra></extra>", meta="seeds"))
    fig.add_vline(x=0, line={"color": "#868e96", "width": 1})
    fig.update_layout(
        template="plotly_white", height=130 + 48 * max(len(shown), 1), margin={"l": 10, "r": 10, "t": 30, "b": 65},
        showlegend=False, font={"family": "system-ui, sans-serif", "size": 12},
        xaxis={"title": {"text": f"Δ {kind.replace('_', ' ')} BPB vs control<br>(negative is better)"}, "zeroline": False,
               "nticks": 6},
        yaxis={"autorange": "reversed", "automargin": True})
    return Panel(id="ablation-deltas", title="Difference from the control", figure=json.loads(fig.to_json()),
                 controls=False)
