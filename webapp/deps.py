"""What routes depend on, as FastAPI dependencies over the objects create_app puts on app.state."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from sqlalchemy.orm import sessionmaker

from webapp.blobs import BlobStore
from evaluator.service import CatalogEntry, RecordCatalog
from webapp.queue import EvalQueue
from webapp.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_catalog(request: Request) -> RecordCatalog:
    return request.app.state.catalog


def get_queue(request: Request) -> EvalQueue:
    return request.app.state.queue


def get_store(request: Request) -> BlobStore:
    return request.app.state.store


def get_sessions(request: Request) -> sessionmaker:
    # reads only: a job whose worker died is queued again by the live workers' watchdog (webapp.worker)
    return request.app.state.sessions


# an evaluation id as the database stores it (a signed 64-bit integer): a larger one is a 422, not a 500
JobId = Annotated[int, Path(ge=1, le=2**63 - 1, description="An evaluation's id")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CatalogDep = Annotated[RecordCatalog, Depends(get_catalog)]
QueueDep = Annotated[EvalQueue, Depends(get_queue)]
StoreDep = Annotated[BlobStore, Depends(get_store)]
SessionsDep = Annotated[sessionmaker, Depends(get_sessions)]


def get_entry(record_id: str, catalog: CatalogDep) -> CatalogEntry:
    entry = catalog.get(record_id)
    if entry is None:
        raise HTTPException(404, f"no record {record_id!r} under the configured roots")
    return entry


def get_against(catalog: CatalogDep, against: str = "") -> CatalogEntry | None:
    if not against:
        return None
    entry = catalog.get(against)
    if entry is None:
        raise HTTPException(404, f"no record {against!r} to compare against")
    return entry


EntryDep = Annotated[CatalogEntry, Depends(get_entry)]
AgainstDep = Annotated[CatalogEntry | None, Depends(get_against)]
