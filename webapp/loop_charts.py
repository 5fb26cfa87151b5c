"""The loop-wise analysis as interactive Plotly panels (hover, zoom, legend toggles), the same report the PNG plots of
`pgolf loops` draw, so that the loops page behaves as every other chart in the app does."""
from __future__ import annotations

import json

import plotly.graph_objects as go

from evaluator.service import LoopsReport
from webapp.charts import COLOURS, Panel

_LAYOUT = {"template": "plotly_white", "height": 340, "hovermode": "closest", "showlegend": True,
           "legend": {"orientation": "h", "y": -0.32, "font": {"size": 11}},
           "margin": {"l": 58, "r": 10, "t": 8, "b": 80}, "font": {"family": "system-ui, sans-serif", "size": 12}}


def _panel(name: str, title: str, fig: go.Figure, x_title: str, y_title: str, **layout) -> Panel:
    fig.update_layout(**_LAYOUT, xaxis={"title": {"text": x_title}}, yaxis={"title": {"text": y_title}})
    fig.update_layout(**layout)
    return Panel(id=f"loops-{name}", title=title, figure=json.loads(fig.to_json()), controls=False)


def _line(x: list, y: list, name: str, colour: int, what: str, **extra) -> go.Scatter:
    return go.Scatter(x=x, y=y, name=name, mode="lines+markers", line={"color": COLOURS[colour], "width": 1.6},
                      marker={"size": 6}, hovertemplate=f"%{{x}}<br>{what} %{{y:.4f}}<extra>{name}</extra>", **extra)


def loop_panels(report: LoopsReport) -> list[Panel]:
    """Logit lens, early exit, representation change and similarity, attention distance, activations and (when the
    float model was given) quantisation error; each trace is a legend entry."""
    labels = [row.stage for row in report.logit_lens]
    lens = go.Figure([_line(labels, [row.bpb for row in report.logit_lens], "logit-lens BPB", 0, "BPB")])
    lens.add_trace(go.Scatter(x=[labels[0], labels[-1]], y=[report.model_bpb] * 2, mode="lines", name="whole model",
                              line={"color": COLOURS[1], "dash": "dash", "width": 1.2},
                              hovertemplate="whole model %{y:.4f}<extra></extra>"))
    out = [_panel("logit_lens", "Logit lens: each stage decoded as the final one", lens, "stage", "BPB")]

    ran = [row for row in report.early_exit if row.bpb is not None]
    exits = go.Figure([_line([r.loops for r in ran], [r.bpb for r in ran], "BPB with k loops", 0, "BPB")])
    trained = [r for r in ran if r.trained]
    exits.add_trace(go.Scatter(x=[r.loops for r in trained], y=[r.bpb for r in trained], mode="markers",
                               name="trained loop count", marker={"symbol": "star", "size": 14, "color": COLOURS[1]},
                               hovertemplate="trained: %{x} loops<br>BPB %{y:.4f}<extra></extra>"))
    out.append(_panel("early_exit", "Early exit: the whole model run with k crawler loops", exits, "crawler loops k",
                      "BPB", xaxis={"title": {"text": "crawler loops k"}, "dtick": 1}))

    if change := report.repr_change:
        loops = list(range(len(change.rel_step)))
        steps = go.Figure([_line(loops, change.rel_step, "relative step", 0, "relative step"),
                           _line(loops[1:], change.update_cosine, "update cosine", 2, "cosine", yaxis="y2")])
        out.append(_panel("repr_change", "Representation change per crawler loop", steps, "loop", "relative step",
                          xaxis={"title": {"text": "loop"}, "dtick": 1},
                          yaxis2={"title": {"text": "update cosine"}, "overlaying": "y", "side": "right"},
                          margin={**_LAYOUT["margin"], "r": 58}))
        heat = go.Figure(go.Heatmap(z=change.similarity, x=change.labels, y=change.labels, colorscale="Viridis",
                                    name="cosine similarity", showscale=True,
                                    hovertemplate="%{y} · %{x}<br>cosine %{z:.3f}<extra></extra>"))
        out.append(_panel("similarity", "Cosine similarity between the residual streams after each loop", heat,
                          "after loop", "after loop", showlegend=False, yaxis={"autorange": "reversed"}))

    if report.attention:
        heads = len(report.attention[0].distance)
        attention = go.Figure(go.Heatmap(
            z=[[row.distance[h] for row in report.attention] for h in range(heads)],
            x=[row.stage for row in report.attention], y=[f"head {h}" for h in range(heads)], colorscale="Viridis",
            name="attention distance", hovertemplate="%{x} · %{y}<br>distance %{z:.2f} tokens<extra></extra>"))
        out.append(_panel("attention_distance", "Mean attention distance per stage and head (tokens)", attention,
                          "stage", "head", showlegend=False))

    acts = go.Figure([_line([r.stage for r in report.activations], [r.rms for r in report.activations], "RMS", 0, "RMS"),
                      _line([r.stage for r in report.activations], [r.absmax for r in report.activations],
                            "absolute maximum", 1, "absmax")])
    out.append(_panel("activations", "Residual stream per stage: RMS and absolute maximum", acts, "stage", "value",
                      yaxis={"title": {"text": "value"}, "type": "log"}))

    if report.quant_error:
        quant = go.Figure([_line([q.stage for q in report.quant_error], [q.rel_error for q in report.quant_error],
                                 "relative error", 0, "relative error")])
        out.append(_panel("quant_error", "Dequantised against float model: relative error of the residual stream",
                          quant, "stage", "relative error"))
    return out
