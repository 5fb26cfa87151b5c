"""The leaderboard page and its JSON twin: each track ranked by headline score among comparable records."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from webapp.deps import CatalogDep
from webapp.templating import templates
from webapp.views.leaderboard import Leaderboard, LeaderSort, leaderboard

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["records"])

SortQuery = Annotated[LeaderSort, Query(description="order within each group; the rank is always by score")]
OrderQuery = Annotated[Literal["asc", "desc"], Query()]


@api.get("/leaderboard", response_model=Leaderboard,
         summary="Each track ranked by headline score among records of the same corpus and metric kind")
def leaderboard_json(catalog: CatalogDep, sort: SortQuery = "rank", order: OrderQuery = "asc") -> Leaderboard:
    return leaderboard(catalog, sort, order)


@pages.get("/leaderboard", response_class=HTMLResponse)
def leaderboard_page(request: Request, catalog: CatalogDep, sort: SortQuery = "rank",
                     order: OrderQuery = "asc") -> HTMLResponse:
    return templates.TemplateResponse(request, "leaderboard.html", {"board": leaderboard(catalog, sort, order),
                                                                    "query": request.url.query})
