"""The API page: every JSON endpoint with its summary and parameters, read from the OpenAPI schema.

FastAPI's own /docs pages load their scripts from a CDN, which this app never does, so they are off.
"""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from webapp.templating import templates

pages = APIRouter(include_in_schema=False)
FAVICON = Path(__file__).resolve().parents[1] / "static" / "favicon.svg"


@pages.get("/api", response_class=HTMLResponse)
def api_page(request: Request) -> HTMLResponse:
    endpoints = [{"method": method.upper(), "path": path, "summary": operation.get("summary", ""),
                  "parameters": [p["name"] for p in operation.get("parameters", [])]
                  + (["multipart: " + ", ".join(props)] if (props := operation.get("requestBody", {})
                      .get("content", {}).get("multipart/form-data", {}).get("schema", {}).get("properties")) else [])}
                 for path, operations in request.app.openapi()["paths"].items()
                 for method, operation in operations.items()]
    return templates.TemplateResponse(request, "api.html", {"endpoints": endpoints})


@pages.get("/favicon.ico")
def favicon() -> FileResponse:
    """Browsers ask for /favicon.ico whatever the page links; the page's SVG icon answers (every browser draws it)."""
    return FileResponse(FAVICON, media_type="image/svg+xml", headers={"cache-control": "max-age=86400"})
