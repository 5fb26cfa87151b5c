"""The overlay page: any records, training runs and ablation arms, their validation and train-loss curves on shared
axes, their final numbers in one metric, their settings side by side, the selection in the query string
(`?item=...&item=...`) so that the URL can be shared, and the table as CSV."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from webapp.deps import CatalogDep, SettingsDep
from webapp.templating import templates
from webapp.views.overlay import (MAX_ITEMS, MetricChoice, Overlay, OverlayError, TooManyItems, overlay_csv,
                                  overlay_view)

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["overlay"])

ItemsQuery = Annotated[list[str], Query(alias="item", max_length=50,
                                        description="ids to overlay (repeat): record:<id>, run:<name>, ablation:<name>/<arm>")]
ReferenceQuery = Annotated[str, Query(max_length=300, description="the item the deltas and settings are taken against "
                                                                  "(default: the first)")]
MetricQuery = Annotated[MetricChoice, Query(description="reference: every score in the reference's metric kind; "
                                                        "headline: each item's own headline metric")]


def _compute(catalog, settings, items: list[str], reference: str, metric: str) -> Overlay:
    return overlay_view(catalog, settings.runs, settings.ablations, items, reference, metric)


def _refusal(exc: OverlayError) -> HTTPException:
    return HTTPException(404 if str(exc).startswith("no such") else 422, str(exc))


def _overlay(catalog, settings, items: list[str], reference: str, metric: str) -> Overlay:
    try:
        return _compute(catalog, settings, items, reference, metric)
    except OverlayError as exc:
        raise _refusal(exc) from None


@api.get("/overlay", response_model=Overlay,
         summary="Validation BPB and train loss of any records, runs and ablation arms as Plotly figures, with "
                 "final numbers in one metric and their settings")
def overlay_json(catalog: CatalogDep, settings: SettingsDep, item: ItemsQuery = [], reference: ReferenceQuery = "",
                 metric: MetricQuery = "reference") -> Overlay:
    return _overlay(catalog, settings, item, reference, metric)


@pages.get("/overlay.csv")
def overlay_csv_download(catalog: CatalogDep, settings: SettingsDep, item: ItemsQuery = [],
                         reference: ReferenceQuery = "", metric: MetricQuery = "reference") -> Response:
    body = overlay_csv(_overlay(catalog, settings, item, reference, metric))
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="overlay.csv"'})


@pages.get("/overlay", response_class=HTMLResponse)
def overlay_page(request: Request, catalog: CatalogDep, settings: SettingsDep, item: ItemsQuery = [],
                 reference: ReferenceQuery = "", metric: MetricQuery = "reference") -> HTMLResponse:
    refused = ""
    try:
        result = _compute(catalog, settings, item, reference, metric)
    except TooManyItems as exc:
        # refused in place: the page keeps every box ticked so that the user unticks some instead of starting over
        refused = f"Too many items: {exc}. Untick some and press Overlay again."
        result = _overlay(catalog, settings, [], "", metric)
    except OverlayError as exc:
        raise _refusal(exc) from None
    return templates.TemplateResponse(request, "overlay.html", {
        "overlay": result, "selected": set(item) if refused else set(result.items), "refused": refused,
        "query": request.url.query, "max_items": MAX_ITEMS, "section": "overlay"}, status_code=422 if refused else 200)
