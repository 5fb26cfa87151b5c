"""Figures of a `pgolf loops` report: one PNG per statistic, crawler loops shaded along the depth axis."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and workers
import matplotlib.pyplot as plt  # noqa: E402

from evaluator.loopwise.loops_report import LoopsReport  # noqa: E402
from evaluator.loopwise.output_files import plot_file, plot_names  # noqa: E402


def _shade_crawler(ax, labels: list[str]) -> None:
    for i, label in enumerate(labels):
        if label.startswith("crawler"):
            ax.axvspan(i - 0.5, i + 0.5, color="tab:orange", alpha=0.12, lw=0)


def _depth_axis(ax, labels: list[str]) -> None:
    ax.set_xticks(range(len(labels)), labels, rotation=40, ha="right")
    _shade_crawler(ax, labels)
    ax.grid(alpha=0.3)


def _finish(fig, ax, title: str, path: Path) -> Path:
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def logit_lens(report: LoopsReport, path: Path) -> Path:
    rows = report.logit_lens[1:]  # the embedding's BPB dwarfs the rest of the axis
    labels = [r.stage for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(labels, [r.bpb for r in rows], "o-", color="tab:blue", label="BPB")
    ax.set_ylabel("BPB (logit lens)")
    ax2 = ax.twinx()
    ax2.plot(labels, [r.mean_rank for r in rows], "s--", color="tab:green", label="mean target rank")
    ax2.set_ylabel("mean target rank")
    _depth_axis(ax, labels)
    fig.legend(loc="upper right", bbox_to_anchor=(0.88, 0.9))
    ax.set_title("Logit lens: residual decoded after each block application")
    return _save(fig, path)


def early_exit(report: LoopsReport, path: Path) -> Path:
    rows = [r for r in report.early_exit if r.bpb is not None]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r.loops for r in rows], [r.bpb for r in rows], "o-")
    trained = [r for r in rows if r.trained]
    ax.plot([r.loops for r in trained], [r.bpb for r in trained], "*", ms=14, color="tab:red",
            label="trained loop count")
    ax.set_xlabel("crawler loops run")
    ax.set_ylabel("BPB")
    ax.set_xticks([r.loops for r in report.early_exit])
    return _finish(fig, ax, "Early exit / extra loops", path)


def repr_change(report: LoopsReport, path: Path) -> Path:
    rc = report.repr_change
    ks = list(range(len(rc.rel_step)))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(ks, rc.rel_step, "o-", label="||h_k - h_k-1|| / ||h_k-1||")
    ax.plot(ks[1:], rc.update_cosine, "s--", label="cos(update k, update k-1)")
    ax.set_xlabel("crawler loop k")
    ax.set_xticks(ks)
    return _finish(fig, ax, "Representation change per loop", path)


def similarity(report: LoopsReport, path: Path) -> Path:
    rc = report.repr_change
    labels, sim = rc.labels, rc.similarity
    fig, ax = plt.subplots(figsize=(5, 4.2))
    im = ax.imshow(sim, cmap="viridis", vmin=min(min(r) for r in sim), vmax=1.0)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    for i, row in enumerate(sim):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", color="w" if v < 0.9 else "k", fontsize=8)
    fig.colorbar(im, ax=ax, label="mean token cosine")
    ax.set_title("Loop x loop similarity")
    return _save(fig, path)


def attention_distance(report: LoopsReport, path: Path) -> Path:
    rows = report.attention
    labels = [r.stage for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, heads, means, ylabel in (
            (axes[0], [r.distance for r in rows], [r.mean_distance for r in rows], "mean attention distance (tokens)"),
            (axes[1], [r.mass_last8 for r in rows], [r.mean_mass_last8 for r in rows],
             "attention mass on the last 8 tokens")):
        for i, values in enumerate(heads):
            ax.scatter([i] * len(values), values, s=14, color="tab:gray", alpha=0.7)
        ax.plot(range(len(rows)), means, "o-", color="tab:blue", label="mean over heads")
        ax.set_ylabel(ylabel)
        _depth_axis(ax, labels)
        ax.legend()
    fig.suptitle("Attention per block application (dots: heads; shaded: crawler loops)")
    return _save(fig, path)


def _per_stage(path: Path, labels: list[str], series: list[tuple[list[float], str, dict]], title: str,
               ylabel: str | None = None, log_y: bool = False) -> Path:
    """One figure of values per stage along the depth axis: series are (values, line style, plot keywords)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for values, style, keywords in series:
        (ax.semilogy if log_y else ax.plot)(labels, values, style, **keywords)
    if ylabel:
        ax.set_ylabel(ylabel)
    _depth_axis(ax, labels)
    if any("label" in keywords for _, _, keywords in series):
        ax.legend()
    ax.set_title(title)
    return _save(fig, path)


def activations(report: LoopsReport, path: Path) -> Path:
    rows = report.activations
    return _per_stage(path, [r.stage for r in rows], [([r.rms for r in rows], "o-", {"label": "rms"}),
                                                      ([r.absmax for r in rows], "s--", {"label": "absmax"})],
                      "Residual stream activations", log_y=True)


def quant_error(report: LoopsReport, path: Path) -> Path:
    rows = report.quant_error
    return _per_stage(path, [r.stage for r in rows], [([r.rel_error for r in rows], "o-", {"color": "tab:purple"})],
                      "Quantisation error per stage", ylabel="||h_deq - h_float|| / ||h_float||")


DRAWERS = {"logit_lens": logit_lens, "early_exit": early_exit, "attention_distance": attention_distance,
           "activations": activations, "repr_change": repr_change, "similarity": similarity, "quant_error": quant_error}


def write_plots(report: LoopsReport, out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    return [DRAWERS[name](report, out_dir / plot_file(name)) for name in plot_names(report)]
