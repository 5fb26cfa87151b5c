"""An evaluation job as its page and its JSON show it: the job's row, its files, its progress and time left, and
its result without the server's paths."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from evaluator.service import EvalReport, JobResult
from webapp.schemas import EvalResultOut, EvaluationOut, StoredFileOut
from webapp.settings import Settings
from webapp.tables import Evaluation, JobState, StoredFile, utcnow
from webapp.views.progress import overall_progress


def _file_out(session: Session, sha256: str | None) -> StoredFileOut | None:
    stored = session.get(StoredFile, sha256) if sha256 else None
    return StoredFileOut(sha256=stored.sha256, name=stored.display_name, size=stored.size) if stored else None


def _result_out(stored: dict) -> EvalResultOut:
    result = JobResult.from_dict(stored)
    report = EvalReport.from_dict(result.report)
    # the loop-wise report is large and has its own endpoint: the result only says whether there is one; what
    # the page leaves out of the report (the server's paths to the artifact, data and tokenizer) is not shown
    # the report is validated already: its parts go in as they are, not through a dict to be validated again
    shown = {name: getattr(report, name) for name in EvalResultOut.model_fields if hasattr(report, name)}
    return EvalResultOut(**shown, has_loops=result.loops is not None, loops_error=result.loops_error)


def evaluation_out(session: Session, job: Evaluation, settings: Settings) -> EvaluationOut:
    position = None
    if job.state == JobState.QUEUED:
        position = session.scalar(select(func.count()).where(Evaluation.state == JobState.QUEUED,
                                                             Evaluation.id <= job.id))
    return EvaluationOut(
        id=job.id, state=job.state, stage=job.stage, scored=job.scored, to_score=job.to_score, attempts=job.attempts,
        max_attempts=settings.max_attempts, worker=job.worker, queue_position=position, note=job.note, error=job.error,
        artifact=_file_out(session, job.artifact_sha256), artifact_format=job.artifact_format,
        tokenizer=_file_out(session, job.tokenizer_sha256), config=_file_out(session, job.config_sha256),
        options=job.options, created_at=job.created_at, started_at=job.started_at, heartbeat_at=job.heartbeat_at,
        finished_at=job.finished_at, progress=overall_progress(job, utcnow()), result=_result_out(job.result) if job.result else None)


def get_evaluation(sessions: sessionmaker, job_id: int, settings: Settings) -> EvaluationOut | None:
    with sessions() as session:
        job = session.get(Evaluation, job_id)
        return evaluation_out(session, job, settings) if job else None


def recent_evaluations(sessions: sessionmaker, settings: Settings, limit: int = 50) -> list[EvaluationOut]:
    with sessions() as session:
        jobs = session.scalars(select(Evaluation).order_by(Evaluation.id.desc()).limit(limit))
        return [evaluation_out(session, job, settings) for job in jobs]
