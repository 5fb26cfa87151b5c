"""Records: the index (sortable, filterable, CSV/JSON export) and one record's page, each with its JSON twin."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from evaluator.service import FINEWEB, has_record_loops
from webapp.deps import AgainstDep, CatalogDep, EntryDep
from webapp.schemas import RecordDetail, RecordIndex
from webapp.templating import templates
from webapp.views.records import (SortKey, StatusFilter, index_csv, other_records, record_corpora, record_detail,
                                  record_index)

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["records"])

SortQuery = Annotated[SortKey, Query(description="column to sort by")]
OrderQuery = Annotated[Literal["asc", "desc"], Query()]
TextQuery = Annotated[str, Query(max_length=200, description="substring of name, folder or author")]
TrackQuery = Annotated[str, Query(max_length=100)]
StatusQuery = Annotated[StatusFilter, Query(description="compliance status")]


@pages.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/records", status_code=303)


@api.get("/records", response_model=RecordIndex, summary="Every record under the configured roots")
def records_json(catalog: CatalogDep, sort: SortQuery = "date", order: OrderQuery = "desc", q: TextQuery = "",
                 track: TrackQuery = "", status: StatusQuery = "") -> RecordIndex:
    return record_index(catalog, sort, order, q, track, status)


@pages.get("/records", response_class=HTMLResponse)
def records_page(request: Request, catalog: CatalogDep, sort: SortQuery = "date", order: OrderQuery = "desc",
                 q: TextQuery = "", track: TrackQuery = "", status: StatusQuery = "") -> HTMLResponse:
    index = record_index(catalog, sort, order, q, track, status)
    corpora = record_corpora(catalog)
    return templates.TemplateResponse(request, "records_index.html", {
        "index": index, "query": request.url.query, "corpora": corpora,
        "fineweb_ids": {record_id for record_id, corpus in corpora.items() if corpus == FINEWEB}})


@pages.get("/records.csv", response_class=PlainTextResponse)
def records_csv(catalog: CatalogDep, sort: SortQuery = "date", order: OrderQuery = "desc", q: TextQuery = "",
                track: TrackQuery = "", status: StatusQuery = "") -> Response:
    body = index_csv(record_index(catalog, sort, order, q, track, status))
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="records.csv"'})


@api.get("/records/{record_id}", response_model=RecordDetail,
         summary="One record: seed table, compliance rows, curves, and a comparison when `against` is given")
def record_json(entry: EntryDep, against: AgainstDep) -> RecordDetail:
    return record_detail(entry, against)


@pages.get("/records/{record_id}", response_class=HTMLResponse)
def record_page(request: Request, entry: EntryDep, against: AgainstDep, catalog: CatalogDep) -> HTMLResponse:
    detail = record_detail(entry, against)
    return templates.TemplateResponse(request, "record.html", {
        "detail": detail, "others": other_records(catalog, entry), "has_curves": any(curve.train or curve.val for curve in detail.curves),
        "has_loops": has_record_loops(entry), "files": entry.record.files})


