"""The FastAPI application: pages for people, the same data as JSON under /api, errors as one line."""
from __future__ import annotations

from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path

import anyio

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from webapp.blobs import BlobStore
from evaluator.service import RecordCatalog
from webapp.db import init_db, make_engine
from webapp.queue import EvalQueue
from webapp.routers import ablation, api_index, charts, evaluations, leaderboard, logs, loops, overlay, records
from webapp.security import SecurityMiddleware
from webapp.settings import Settings
from webapp.templating import templates
from webapp.upload import UploadRejected

STATIC_DIR = Path(__file__).resolve().parent / "static"


def _error(request: Request, status: int, reason: str) -> Response:
    if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"detail": reason}, status_code=status)
    return templates.TemplateResponse(request, "error.html", {"status": status, "phrase": HTTPStatus(status).phrase,
                                                              "reason": reason}, status_code=status)


def _validation_reason(exc: RequestValidationError) -> str:
    first = exc.errors()[0]
    where = " ".join(str(part) for part in first.get("loc", ()) if part not in ("query", "path", "body"))
    return f"{first['loc'][0]} parameter {where!r}: {first['msg']}" if where else first["msg"]


def _warm(app: FastAPI) -> None:
    """Read every record and compile every page template, so that the first visitor does not wait for either."""
    app.state.catalog.snapshot()
    for name in templates.env.list_templates(filter_func=lambda name: name.endswith(".html")):
        templates.get_template(name)


@asynccontextmanager
async def _lifespan(app: FastAPI):
    # uvicorn runs this before it accepts the first connection
    await anyio.to_thread.run_sync(_warm, app)
    yield


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    # docs_url and redoc_url off: their pages load scripts from a CDN; /api lists the endpoints instead
    app = FastAPI(title="pgolf", version="0.1.0", docs_url=None, redoc_url=None, lifespan=_lifespan,
                  description="Micro Crawler toolkit for the OpenAI Parameter Golf challenge: records, artifact "
                              "evaluations and ablations. Every page has its JSON here.")
    app.state.settings = settings
    app.state.catalog = RecordCatalog(settings.records)
    app.state.sessions = init_db(make_engine(settings), settings)
    app.state.queue = EvalQueue(settings)
    app.state.store = BlobStore(settings.data_dir)
    app.state.store.sweep_incoming()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _error(request, exc.status_code, str(exc.detail))

    @app.exception_handler(UploadRejected)
    async def upload_rejected(request: Request, exc: UploadRejected) -> Response:
        return _error(request, exc.status_code, exc.reason)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        return _error(request, 422, _validation_reason(exc))

    for area in (records, evaluations, loops, ablation, charts, overlay, leaderboard, logs):
        app.include_router(area.pages)
        app.include_router(area.api)
    app.include_router(api_index.pages)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # pages, JSON and scripts go out compressed to clients that accept it (the plotly bundle is compressed
    # once by its route, which sets Content-Encoding, and this middleware then leaves it alone)
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(SecurityMiddleware, settings=settings)
    return app
