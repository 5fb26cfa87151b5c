"""The loop-wise view: evaluator.loops.analysis run on an evaluated artifact, and its report turned into the page's model.

Two sources render the same page: an evaluation, whose worker ran the analysis on a small seeded
validation slice and stored the report in the job's result and the plots as files in the database
(so a web process on another machine can serve them), and a record folder holding the loops/
folder that `pgolf loops` writes. Plots are looked up by fixed names only, never by a path from a request,
and a record's files are read only when its listing has them as regular files (no symlinks), under a size cap.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.orm import sessionmaker

from crawler.errors import PgolfError
from evaluator.loops.report import LoopsReport
from evaluator.records import safe_json
from evaluator.records.files import JSON_LIMIT, PLOT_LIMIT, RecordFileError, read_capped
from webapp.catalog import CatalogEntry
from webapp.schemas import LoopStepOut, LoopsView, StageRowOut
from webapp.tables import Evaluation, StoredFile

# write_plots' file names (without .png), in the order the page shows them, with what each one shows
PLOTS = {
    "logit_lens": "Each stage decoded as the final one: BPB of the logit lens by depth",
    "early_exit": "BPB of the whole model run with k crawler loops (the trained count is marked)",
    "repr_change": "Relative step and update cosine of the residual stream per crawler loop",
    "similarity": "Cosine similarity between the residual streams after each loop",
    "attention_distance": "Mean attention distance per stage and head",
    "activations": "RMS and absolute maximum of the residual stream per stage",
    "quant_error": "Relative error of the dequantised model's residual stream against the float one",
}
SEED = 0  # one fixed slice, so the analysis of the same artifact is the same every time
LOOPS_DIR = "loops"  # where `pgolf loops` writes its report and plots for a record's artifact (its default --out)
LOOPS_JSON = f"{LOOPS_DIR}/loops.json"


class RecordLoopsError(PgolfError):
    """A record's loops/loops.json that cannot be shown: refused, too big, or not a `pgolf loops` report."""


def has_record_loops(entry: CatalogEntry) -> bool:
    return LOOPS_JSON in entry.record.files


def record_plots(entry: CatalogEntry) -> list[str]:
    return [name for name in PLOTS if f"{LOOPS_DIR}/{name}.png" in entry.record.files]


def record_loops_report(entry: CatalogEntry) -> dict:
    """The record's loops.json, parsed; RecordLoopsError (one line) when it is refused, oversized or malformed."""
    if refused := entry.record.refused.get(LOOPS_JSON):
        raise RecordLoopsError(f"record {entry.id!r}: {LOOPS_JSON}: {refused}")
    try:
        capped = read_capped(Path(entry.record.path, LOOPS_JSON), JSON_LIMIT)
        if capped.truncated:
            raise RecordLoopsError(f"record {entry.id!r}: {LOOPS_JSON} is {capped.size:,} bytes, over {JSON_LIMIT:,}")
        report = safe_json.loads(capped.text(), LOOPS_JSON)
    except (RecordFileError, safe_json.JsonError) as exc:
        raise RecordLoopsError(f"record {entry.id!r}: {exc}") from None
    if not isinstance(report, dict):
        raise RecordLoopsError(f"record {entry.id!r}: {LOOPS_JSON} is not a JSON object")
    return report


def record_plot(entry: CatalogEntry, name: str) -> bytes | None:
    """A plot's PNG bytes when `name` is one of PLOTS and the record ships it as a regular file."""
    if name not in record_plots(entry):
        return None
    try:
        capped = read_capped(Path(entry.record.path, LOOPS_DIR, f"{name}.png"), PLOT_LIMIT)
    except RecordFileError:
        return None  # replaced by a symlink or removed since the listing: as absent as never shipped
    return None if capped.truncated else capped.data


def run_analysis(artifact: Path, data_dir: Path | None, tokenizer: Path | None, options: dict, tokens: int,
                 device) -> tuple[LoopsReport, dict[str, bytes]]:
    """The report of `pgolf loops` on the job's artifact and data, and its plots as PNG bytes by name."""
    # torch and matplotlib load in the job's process only: the web process imports this module for its pages
    from evaluator.loops.analysis import analyse_artifact
    from evaluator.loops.plots import write_plots

    report = analyse_artifact(artifact, data_dir, tokenizer, tokens=tokens, seq_len=options.get("seq_len"), seed=SEED,
                              loops=options.get("loops"), device=device)
    with tempfile.TemporaryDirectory(prefix="loops-") as out:
        plots = {path.stem: path.read_bytes() for path in write_plots(report, Path(out))}
    return report, plots


def stored_loops(sessions: sessionmaker, job_id: int) -> tuple[dict, str]:
    """An evaluation's stored {"report", "plots"} and its artifact's name; LookupError says what is missing."""
    with sessions() as session:
        job = session.get(Evaluation, job_id)
        if job is None:
            raise LookupError(f"no evaluation {job_id}")
        if not job.result or "loops" not in job.result:
            raise LookupError(f"evaluation {job_id} has no loop-wise analysis")
        return job.result["loops"], session.get(StoredFile, job.artifact_sha256).display_name


def stored_plot(sessions: sessionmaker, job_id: int, name: str) -> bytes:
    """A plot the worker stored for an evaluation, by one of its names; LookupError when there is none."""
    stored, _ = stored_loops(sessions, job_id)
    if name not in stored["plots"]:
        raise LookupError(f"no plot {name!r}")
    with sessions() as session:
        return session.get(StoredFile, stored["plots"][name]).content


def record_loops_view(entry: CatalogEntry) -> LoopsView:
    """The loop-wise view of a record; RecordLoopsError when its loops.json is not a report this page can show."""
    try:
        return loops_view(LoopsReport.from_dict(record_loops_report(entry)), record_plots(entry),
                          f"Loop-wise view of {entry.title}", f"/records/{quote(entry.id, safe='')}",
                          f"/records/{quote(entry.id, safe='')}/loops",
                          f"record {entry.id}")
    except ValueError as exc:
        raise RecordLoopsError(f"record {entry.id!r}: {LOOPS_JSON}: {exc}") from None


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
