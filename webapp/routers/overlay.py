"""The overlay page: any records, training runs and ablation arms, their validation curves on shared axes and their
final numbers, the selection in the query string (`?item=...&item=...`) so that the URL can be shared."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from webapp.arms import all_arms, load_ablations
from webapp.deps import CatalogDep, SettingsDep
from webapp.templating import templates
from webapp.views.overlay import MAX_ITEMS, Overlay, OverlayError, overlay

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["overlay"])

ItemsQuery = Annotated[list[str], Query(alias="item", max_length=50,
                                        description="ids to overlay (repeat): record:<id>, run:<name>, ablation:<name>/<arm>")]


def _overlay(catalog, settings, items: list[str]) -> Overlay:
    ablations, ablation_problems = load_ablations(settings.ablations)
    arms, problems = all_arms(catalog, settings.runs, ablations)
    try:
        return overlay(items, arms, problems + ablation_problems, catalog, settings.runs, ablations)
    except OverlayError as exc:
        raise HTTPException(404 if str(exc).startswith("no such") else 422, str(exc)) from None


@api.get("/overlay", response_model=Overlay,
         summary="Validation BPB of any records, runs and ablation arms as Plotly figures, with final numbers")
def overlay_json(catalog: CatalogDep, settings: SettingsDep, item: ItemsQuery = []) -> Overlay:
    return _overlay(catalog, settings, item)


@pages.get("/overlay", response_class=HTMLResponse)
def overlay_page(request: Request, catalog: CatalogDep, settings: SettingsDep, item: ItemsQuery = []) -> HTMLResponse:
    result = _overlay(catalog, settings, item)
    return templates.TemplateResponse(request, "overlay.html", {
        "overlay": result, "selected": set(result.items), "query": request.url.query, "max_items": MAX_ITEMS,
        "section": "overlay"})
