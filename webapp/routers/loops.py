"""The loop-wise view of an evaluation (analysed by the worker) or of a record (its loops/ folder), with
their JSON twins, their interactive charts (Plotly panels drawn from the report) and the PNG plots `pgolf loops`
wrote; a plot is served only under one of the fixed names webapp.views.loops knows."""
from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from evaluator.service import PLOTS, RecordLoopsError, record_plot
from webapp.charts import Panel
from webapp.deps import EntryDep, JobId, SessionsDep
from webapp.schemas import LoopsView
from webapp.templating import templates
from webapp.views.loops import (evaluation_loop_panels, evaluation_loops_view, record_loop_panels, record_loops_view,
                                stored_plot)

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["loops"])


class LoopCharts(BaseModel):
    panels: list[Panel]


def _shown(view, *args):
    """A view's model, with its refusals as HTTP errors: 404 for what is not there, 422 for what cannot be shown."""
    try:
        return view(*args)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    except RecordLoopsError as exc:
        raise HTTPException(422, str(exc)) from None


def _png(content: bytes) -> Response:
    return Response(content, media_type="image/png", headers={"Cache-Control": "max-age=3600"})


@api.get("/evaluations/{job_id}/loops", response_model=LoopsView,
         summary="The loop-wise analysis the worker ran after the evaluation (404 when it did not)")
def evaluation_loops_json(job_id: JobId, sessions: SessionsDep) -> LoopsView:
    return _shown(evaluation_loops_view, sessions, job_id)


@pages.get("/evaluations/{job_id}/loops", response_class=HTMLResponse)
def evaluation_loops_page(request: Request, job_id: JobId, sessions: SessionsDep) -> HTMLResponse:
    return templates.TemplateResponse(request, "loops.html", {
        "view": _shown(evaluation_loops_view, sessions, job_id), "json_url": f"/api/evaluations/{job_id}/loops",
        "captions": PLOTS})


@api.get("/evaluations/{job_id}/loops/charts", response_model=LoopCharts,
         summary="The evaluation's loop-wise analysis as Plotly figures")
def evaluation_loops_charts(job_id: JobId, sessions: SessionsDep) -> LoopCharts:
    return LoopCharts(panels=_shown(evaluation_loop_panels, sessions, job_id))


@pages.get("/evaluations/{job_id}/loops/{name}.png")
def evaluation_loops_plot(job_id: JobId, name: str, sessions: SessionsDep) -> Response:
    return _png(_shown(stored_plot, sessions, job_id, name))


@api.get("/records/{record_id}/loops", response_model=LoopsView,
         summary="The record's loops/loops.json as the loop-wise view (404 when the folder has none)")
def record_loops_json(entry: EntryDep) -> LoopsView:
    return _shown(record_loops_view, entry)


@pages.get("/records/{record_id}/loops", response_class=HTMLResponse)
def record_loops_page(request: Request, entry: EntryDep) -> HTMLResponse:
    return templates.TemplateResponse(request, "loops.html", {
        "view": _shown(record_loops_view, entry), "json_url": f"/api/records/{quote(entry.id, safe='')}/loops",
        "captions": PLOTS})


@api.get("/records/{record_id}/loops/charts", response_model=LoopCharts,
         summary="The record's loops/loops.json as Plotly figures")
def record_loops_charts(entry: EntryDep) -> LoopCharts:
    return LoopCharts(panels=_shown(record_loop_panels, entry))


@pages.get("/records/{record_id}/loops/{name}.png")
def record_loops_plot(name: str, entry: EntryDep) -> Response:
    content = record_plot(entry, name)
    if content is None:
        raise HTTPException(404, f"no plot {name!r}")
    return _png(content)
