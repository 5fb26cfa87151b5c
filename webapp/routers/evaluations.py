"""Artifact evaluations: upload (form or drag-and-drop), the job's live page, its permanent result and JSON."""
from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from webapp.deps import JobId, QueueDep, SessionsDep, SettingsDep, StoreDep
from webapp.intake import FILE_FIELDS, read_upload, submit
from webapp.schemas import EvaluationList, EvaluationOut, SubmitOut
from webapp.templating import templates
from webapp.upload import MultipartReceiver
from webapp.views.evaluations import get_evaluation, recent_evaluations

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["evaluations"])

_UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["artifact"], "properties": {
        "token": {"type": "string", "description": "upload token, when the server sets one (before the files)"},
        "artifact": {"type": "string", "format": "binary", "description": "the .ptz"},
        "tokenizer": {"type": "string", "format": "binary", "description": "SentencePiece .model (optional)"},
        "config": {"type": "string", "format": "binary",
                   "description": "JSON or TOML crawler settings (optional): crawler_loops, eval_seq_len and "
                                  "eval_stride apply"}}}}}}}


async def _receive_and_submit(request: Request, settings, sessions, store, queue) -> tuple[int, bool]:
    receiver = MultipartReceiver(store, FILE_FIELDS, set(), settings.upload_max_bytes, settings.upload_token)
    form = await receiver.receive(request)
    try:
        upload = read_upload(form, settings)
        return await run_in_threadpool(submit, upload, sessions, store, queue, settings)
    except BaseException:
        form.discard()
        raise


def _evaluation_list(settings, sessions) -> EvaluationList:
    return EvaluationList(evaluations=recent_evaluations(sessions, settings),
                          upload_max_bytes=settings.upload_max_bytes, token_required=bool(settings.upload_token))


@api.post("/evaluations", response_model=SubmitOut, status_code=202, openapi_extra=_UPLOAD_BODY,
          summary="Upload an artifact for evaluation (202: queued; 200: these inputs were uploaded before)",
          responses={200: {"model": SubmitOut}, 400: {}, 401: {}, 413: {}, 415: {}, 422: {}})
async def submit_json(request: Request, settings: SettingsDep, sessions: SessionsDep, store: StoreDep,
                      queue: QueueDep) -> JSONResponse:
    job_id, reused = await _receive_and_submit(request, settings, sessions, store, queue)
    evaluation = await run_in_threadpool(get_evaluation, sessions, job_id, settings)
    body = SubmitOut(evaluation=evaluation, reused=reused, url=f"/evaluations/{job_id}")
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if reused else 202)


@pages.post("/evaluations")
async def submit_form(request: Request, settings: SettingsDep, sessions: SessionsDep, store: StoreDep,
                      queue: QueueDep) -> RedirectResponse:
    job_id, _ = await _receive_and_submit(request, settings, sessions, store, queue)
    return RedirectResponse(f"/evaluations/{job_id}", status_code=303)


@api.get("/evaluations", response_model=EvaluationList, summary="The latest evaluations, newest first")
def evaluations_json(settings: SettingsDep, sessions: SessionsDep) -> EvaluationList:
    return _evaluation_list(settings, sessions)


@pages.get("/evaluations", response_class=HTMLResponse)
def evaluations_page(request: Request, settings: SettingsDep, sessions: SessionsDep) -> HTMLResponse:
    return templates.TemplateResponse(request, "evaluations.html", {"listing": _evaluation_list(settings, sessions)})


def _evaluation(sessions, job_id: int, settings) -> EvaluationOut:
    evaluation = get_evaluation(sessions, job_id, settings)
    if evaluation is None:
        raise HTTPException(404, f"no evaluation {job_id}")
    return evaluation


@api.get("/evaluations/{job_id}", response_model=EvaluationOut,
         summary="One evaluation: state, live progress, and the result once done")
def evaluation_json(job_id: JobId, settings: SettingsDep, sessions: SessionsDep) -> EvaluationOut:
    return _evaluation(sessions, job_id, settings)


@pages.get("/evaluations/{job_id}", response_class=HTMLResponse)
def evaluation_page(request: Request, job_id: JobId, settings: SettingsDep, sessions: SessionsDep) -> HTMLResponse:
    return templates.TemplateResponse(request, "evaluation.html",
                                      {"evaluation": _evaluation(sessions, job_id, settings)})
