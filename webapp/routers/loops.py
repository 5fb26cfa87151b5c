"""The loop-wise view of an evaluation (analysed by the worker) or of a record (its loops/ folder), with
their JSON twins, their interactive charts (Plotly panels drawn from the report) and the PNG plots `pgolf loops`
wrote; a plot is served only under one of the fixed names webapp.views.loops knows."""
from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import sessionmaker

from evaluator.loops.report import LoopsReport
from webapp.catalog import CatalogEntry
from webapp.charts import Panel
from webapp.deps import EntryDep, JobId, SessionsDep
from webapp.loop_charts import loop_panels
from webapp.schemas import LoopsView
from webapp.templating import templates
from webapp.views.loops import (LOOPS_JSON, PLOTS, RecordLoopsError, has_record_loops, loops_view,
                                record_loops_report, record_loops_view, record_plot, stored_loops, stored_plot)

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["loops"])


class LoopCharts(BaseModel):
    panels: list[Panel]


def _stored(sessions: sessionmaker, job_id: int) -> tuple[dict, str]:
    try:
        return stored_loops(sessions, job_id)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None


def _evaluation_view(sessions: sessionmaker, job_id: int) -> LoopsView:
    stored, name = _stored(sessions, job_id)
    return loops_view(LoopsReport.from_dict(stored["report"]), list(stored["plots"]), f"Loop-wise view of {name}",
                      f"/evaluations/{job_id}",
                      f"/evaluations/{job_id}/loops", f"evaluation #{job_id}")


def _record_view(entry: CatalogEntry) -> LoopsView:
    """404 when the record ships no loops.json, 422 when it ships one that cannot be shown."""
    if not has_record_loops(entry) and LOOPS_JSON not in entry.record.refused:
        raise HTTPException(404, f"record {entry.id!r} has no {LOOPS_JSON}")
    try:
        return record_loops_view(entry)
    except RecordLoopsError as exc:
        raise HTTPException(422, str(exc)) from None


def _png(content: bytes) -> Response:
    return Response(content, media_type="image/png", headers={"Cache-Control": "max-age=3600"})


@api.get("/evaluations/{job_id}/loops", response_model=LoopsView,
         summary="The loop-wise analysis the worker ran after the evaluation (404 when it did not)")
def evaluation_loops_json(job_id: JobId, sessions: SessionsDep) -> LoopsView:
    return _evaluation_view(sessions, job_id)


@pages.get("/evaluations/{job_id}/loops", response_class=HTMLResponse)
def evaluation_loops_page(request: Request, job_id: JobId, sessions: SessionsDep) -> HTMLResponse:
    return templates.TemplateResponse(request, "loops.html", {
        "view": _evaluation_view(sessions, job_id), "json_url": f"/api/evaluations/{job_id}/loops",
        "captions": PLOTS})


@api.get("/evaluations/{job_id}/loops/charts", response_model=LoopCharts,
         summary="The evaluation's loop-wise analysis as Plotly figures")
def evaluation_loops_charts(job_id: JobId, sessions: SessionsDep) -> LoopCharts:
    return LoopCharts(panels=loop_panels(LoopsReport.from_dict(_stored(sessions, job_id)[0]["report"])))


@pages.get("/evaluations/{job_id}/loops/{name}.png")
def evaluation_loops_plot(job_id: JobId, name: str, sessions: SessionsDep) -> Response:
    try:
        return _png(stored_plot(sessions, job_id, name))
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None


@api.get("/records/{record_id}/loops", response_model=LoopsView,
         summary="The record's loops/loops.json as the loop-wise view (404 when the folder has none)")
def record_loops_json(entry: EntryDep) -> LoopsView:
    return _record_view(entry)


@pages.get("/records/{record_id}/loops", response_class=HTMLResponse)
def record_loops_page(request: Request, entry: EntryDep) -> HTMLResponse:
    return templates.TemplateResponse(request, "loops.html", {
        "view": _record_view(entry), "json_url": f"/api/records/{quote(entry.id, safe='')}/loops", "captions": PLOTS})


@api.get("/records/{record_id}/loops/charts", response_model=LoopCharts,
         summary="The record's loops/loops.json as Plotly figures")
def record_loops_charts(entry: EntryDep) -> LoopCharts:
    _record_view(entry)  # the same refusals as the page: 404 without loops.json, 422 when it cannot be shown
    return LoopCharts(panels=loop_panels(LoopsReport.from_dict(record_loops_report(entry))))


@pages.get("/records/{record_id}/loops/{name}.png")
def record_loops_plot(name: str, entry: EntryDep) -> Response:
    content = record_plot(entry, name)
    if content is None:
        raise HTTPException(404, f"no plot {name!r}")
    return _png(content)
