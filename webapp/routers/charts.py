"""The plotly.js bundle, served from the installed plotly package (never a CDN, never a copy in the repo), and
each record's training curves as Plotly figures for the record page's interactive charts."""
from __future__ import annotations

import gzip
from functools import lru_cache

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel

from evaluator.service import CatalogEntry
from webapp.charts import PLOTLY_JS, PLOTLY_JS_URL, Panel, log_series, panels
from webapp.deps import EntryDep

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["records"])


class RecordCharts(BaseModel):
    record: str
    panels: list[Panel]


@lru_cache(maxsize=1)
def plotly_js_gzip() -> bytes:
    """The 4.8 MB bundle compressed once per process (1.47 MB), not once per request."""
    return gzip.compress(PLOTLY_JS.read_bytes(), compresslevel=9, mtime=0)


@pages.get(PLOTLY_JS_URL)
def plotly_js(request: Request) -> Response:
    # the version is in the URL, so a browser may keep the file for good
    headers = {"Cache-Control": "public, max-age=31536000, immutable", "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(plotly_js_gzip(), media_type="text/javascript",
                        headers={**headers, "Content-Encoding": "gzip"})
    return FileResponse(PLOTLY_JS, media_type="text/javascript", headers=headers)


@lru_cache(maxsize=128)
def record_charts(entry: CatalogEntry) -> RecordCharts:
    """Validation BPB (final post-quantisation scores starred) and train loss, by step and by time, a line per seed."""
    kind = entry.seeds.headline_kind
    logs = [log for log in entry.record.logs if log.train_curve or log.val_curve]
    names = [f"seed {log.seed}" if log.seed is not None else log.file_name for log in logs]
    val = [log_series(log, name, name, "val", kind, i, i) for i, (log, name) in enumerate(zip(logs, names))]
    train = [log_series(log, name, name, "train", kind, i, i) for i, (log, name) in enumerate(zip(logs, names))]
    return RecordCharts(record=entry.id, panels=panels(val, "val", "Validation BPB", "val BPB (bits/byte)")
                        + panels(train, "train", "Train loss", "train loss (nats/token)"))


@api.get("/records/{record_id}/charts", response_model=RecordCharts,
         summary="A record's training curves as Plotly figures, one line per seed")
def record_charts_json(entry: EntryDep) -> RecordCharts:
    return record_charts(entry)
