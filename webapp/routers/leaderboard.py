"""The leaderboard page and its JSON twin: each track ranked by submitted score, failing records listed apart."""
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
KindQuery = Annotated[str, Query(max_length=40, description="show only scores of this metric kind ('' = all)")]


@api.get("/leaderboard", response_model=Leaderboard,
         summary="Each track ranked by submitted score; records failing size, time or claims listed unranked")
def leaderboard_json(catalog: CatalogDep, sort: SortQuery = "rank", order: OrderQuery = "asc",
                     kind: KindQuery = "") -> Leaderboard:
    return leaderboard(catalog, sort, order, kind)


@pages.get("/leaderboard", response_class=HTMLResponse)
def leaderboard_page(request: Request, catalog: CatalogDep, sort: SortQuery = "rank",
                     order: OrderQuery = "asc", kind: KindQuery = "") -> HTMLResponse:
    return templates.TemplateResponse(request, "leaderboard.html", {"board": leaderboard(catalog, sort, order, kind),
                                                                    "query": request.url.query})
