"""Ablation comparison: a control and several arms (records, training runs, ablation arms), with its JSON twin and chart."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from webapp.charts import Panel, ablation_figure
from webapp.deps import CatalogDep, SettingsDep
from webapp.schemas import Ablation
from webapp.templating import templates
from webapp.views.ablation import AblationError, UnknownArm, ablation_view

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["ablation"])

ControlQuery = Annotated[str, Query(max_length=300, description="the control's arm id: record:<id>, run:<name> or ablation:<name>/<arm>")]
ArmsQuery = Annotated[list[str], Query(alias="arm", max_length=50, description="arm ids to compare (repeat)")]
KindQuery = Annotated[str, Query(max_length=40, description="metric kind; default: the control's headline kind")]


def _ablation(catalog, settings, control: str, arms: list[str], kind: str) -> Ablation:
    try:
        return ablation_view(catalog, settings.runs, settings.ablations, control or None, arms, kind or None)
    except UnknownArm as exc:
        raise HTTPException(404, str(exc)) from None
    except AblationError as exc:
        raise HTTPException(422, str(exc)) from None


@api.get("/ablation", response_model=Ablation, summary="Each arm against the control, in one metric kind")
def ablation_json(catalog: CatalogDep, settings: SettingsDep, control: ControlQuery = "", arm: ArmsQuery = [],
                  kind: KindQuery = "") -> Ablation:
    return _ablation(catalog, settings, control, arm, kind)


@pages.get("/ablation", response_class=HTMLResponse)
def ablation_page(request: Request, catalog: CatalogDep, settings: SettingsDep, control: ControlQuery = "",
                  arm: ArmsQuery = [], kind: KindQuery = "") -> HTMLResponse:
    result = _ablation(catalog, settings, control, arm, kind)
    return templates.TemplateResponse(request, "ablation.html", {
        "ablation": result, "selected": set(arm), "kind_param": kind, "query": request.url.query,
        "has_chart": any(row.delta is not None for row in result.arms)})


class AblationChart(BaseModel):
    panels: list[Panel]


@api.get("/ablation/chart", response_model=AblationChart,
         summary="The ablation's deltas as a Plotly figure: bars, +-1 std whiskers, seeds, significance")
def ablation_chart(catalog: CatalogDep, settings: SettingsDep, control: ControlQuery = "", arm: ArmsQuery = [],
                   kind: KindQuery = "") -> AblationChart:
    result = _ablation(catalog, settings, control, arm, kind)
    if result.kind is None:
        raise HTTPException(422, "choose a control and arms that share a metric kind")
    return AblationChart(panels=[ablation_figure(result.arms, result.kind)])
