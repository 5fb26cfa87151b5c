"""A record's files as numbered lines with anchors: /records/{id}/logs/{file}#L123, and its JSON twin."""
from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from webapp.deps import EntryDep
from webapp.templating import templates
from webapp.views.logs import LogView, LogViewError, log_view

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["records"])


def _view(entry, file: str) -> LogView:
    try:
        return log_view(entry, file)
    except LogViewError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@api.get("/records/{record_id}/logs/{file:path}", response_model=LogView,
         summary="One file of a record's folder as lines (capped), as the evidence cites it")
def log_json(entry: EntryDep, file: str) -> LogView:
    return _view(entry, file)


@pages.get("/records/{record_id}/logs/{file:path}", response_class=HTMLResponse)
def log_page(request: Request, entry: EntryDep, file: str) -> HTMLResponse:
    view = _view(entry, file)
    return templates.TemplateResponse(request, "log.html", {"view": view, "title": entry.title, "section": "records"})
