"""The loop-wise view's page model, from either source: an evaluation, whose worker ran the analysis on a small
seeded validation slice and stored the report in the job's result and the plots as files in the database (so a web
process on another machine can serve them), or a record folder holding the loops/ folder `pgolf loops` writes
(read by the evaluator service, by fixed names only)."""
from __future__ import annotations

from urllib.parse import quote

from sqlalchemy.orm import sessionmaker

from evaluator.service import (LOOPS_JSON, PLOTS, CatalogEntry, JobResult, LoopsReport, LoopsResult, RecordLoopsError,
                               has_record_loops, record_loops_report, record_plots)
from webapp.charts import Panel
from webapp.loop_charts import loop_panels
from webapp.schemas import LoopStepOut, LoopsView, StageRowOut
from webapp.tables import Evaluation, StoredFile

def _stored(sessions: sessionmaker, job_id: int) -> tuple[LoopsResult, str]:
    """An evaluation's stored analysis and its artifact's name; LookupError says what is missing."""
    with sessions() as session:
        job = session.get(Evaluation, job_id)
        if job is None:
            raise LookupError(f"no evaluation {job_id}")
        loops = JobResult.from_dict(job.result).loops if job.result else None
        if loops is None:
            raise LookupError(f"evaluation {job_id} has no loop-wise analysis")
        return loops, session.get(StoredFile, job.artifact_sha256).display_name


def stored_plot(sessions: sessionmaker, job_id: int, name: str) -> bytes:
    """A plot the worker stored for an evaluation, by one of its names; LookupError when there is none."""
    stored, _ = _stored(sessions, job_id)
    if name not in stored.plots:
        raise LookupError(f"no plot {name!r}")
    with sessions() as session:
        return session.get(StoredFile, stored.plots[name]).content


def evaluation_loops_view(sessions: sessionmaker, job_id: int) -> LoopsView:
    stored, name = _stored(sessions, job_id)
    return loops_view(LoopsReport.from_dict(stored.report), list(stored.plots), f"Loop-wise view of {name}",
                      f"/evaluations/{job_id}", f"/evaluations/{job_id}/loops", f"evaluation #{job_id}")


def evaluation_loop_panels(sessions: sessionmaker, job_id: int) -> list[Panel]:
    return loop_panels(LoopsReport.from_dict(_stored(sessions, job_id)[0].report))


def _record_report(entry: CatalogEntry) -> LoopsReport:
    """LookupError when the record ships no loops.json, RecordLoopsError when it ships one that cannot be shown."""
    if not has_record_loops(entry) and LOOPS_JSON not in entry.record.refused:
        raise LookupError(f"record {entry.id!r} has no {LOOPS_JSON}")
    try:
        return LoopsReport.from_dict(record_loops_report(entry))
    except ValueError as exc:
        raise RecordLoopsError(f"record {entry.id!r}: {LOOPS_JSON}: {exc}") from None


def _record_view(entry: CatalogEntry, report: LoopsReport) -> LoopsView:
    try:
        return loops_view(report, record_plots(entry), f"Loop-wise view of {entry.title}",
                          f"/records/{quote(entry.id, safe='')}", f"/records/{quote(entry.id, safe='')}/loops",
                          f"record {entry.id}")
    except ValueError as exc:
        raise RecordLoopsError(f"record {entry.id!r}: {LOOPS_JSON}: {exc}") from None


def record_loops_view(entry: CatalogEntry) -> LoopsView:
    return _record_view(entry, _record_report(entry))


def record_loop_panels(entry: CatalogEntry) -> list[Panel]:
    report = _record_report(entry)
    _record_view(entry, report)  # the same refusals as the page: none for a report the page cannot show
    return loop_panels(report)


def loops_view(report: LoopsReport, plots: list[str], title: str, back_url: str, plot_url: str,
               source: str) -> LoopsView:
    """The page's model of one report; plot_url is the prefix each plot's `NAME.png` is appended to. ValueError
    when the report, well-typed, still cannot be shown (a config without the crawler's shape, a stage of no heads)."""
    attention = {a.stage: a for a in report.attention}
    quant = {q.stage: q.rel_error for q in report.quant_error or ()}
    if any(not (a.distance and a.mass_last8) for a in report.attention):
        raise ValueError("an attention row with no heads")
    rows = [StageRowOut(stage=stage.label, block=stage.block, loop=stage.loop, lens_bpb=lens.bpb,
                        mean_rank=lens.mean_rank, rms=act.rms,
                        attention_distance=a.mean_distance if (a := attention.get(stage.label)) else None,
                        mass_last8=a.mean_mass_last8 if a else None, quant_error=quant.get(stage.label))
            for stage, lens, act in zip(report.stages, report.logit_lens, report.activations)]
    change = report.repr_change
    steps = [] if change is None else [
        # update_cosine starts at loop 1: loop 0 has no earlier update to compare with
        LoopStepOut(loop=k, rel_step=step, update_cosine=change.update_cosine[k - 1] if k else None)
        for k, step in enumerate(change.rel_step)]
    shape = {key: report.config.get(key) for key in ("crawler_loops", "num_flat_layers", "num_crawler_layers")}
    if not all(isinstance(value, int) for value in shape.values()):
        raise ValueError("its config does not give the crawler's shape")
    sliced = report.slice
    return LoopsView(
        title=title, back_url=back_url, source=source, model_bpb=report.model_bpb, **shape,
        # the slice without the paths of the data it was cut from (on a server, the server's own)
        slice={"seqs": sliced.seqs, "seq_len": sliced.seq_len, "tokens": sliced.tokens, "bytes": sliced.bytes,
               "seed": sliced.seed},
        assumptions=report.assumptions or [], stages=rows, early_exit=report.early_exit, loop_steps=steps,
        plots={name: f"{plot_url}/{name}.png" for name in PLOTS if name in plots})
