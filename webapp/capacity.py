"""What an upload may still add to this server: a job to a queue of at most max_queued_jobs (429 past it), and
files to at most storage_quota_bytes kept in all (507 past it). Checked before the upload's files are read
by the artifact reader, and files already stored (the same SHA-256) cost nothing again."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.settings import Settings
from webapp.tables import Evaluation, JobState, StoredFile
from webapp.upload import ReceivedForm, UploadRejected


def check_capacity(session: Session, form: ReceivedForm, settings: Settings) -> None:
    queued = session.scalar(select(func.count()).select_from(Evaluation).where(Evaluation.state == JobState.QUEUED))
    if queued >= settings.max_queued_jobs:
        raise UploadRejected(429, f"{queued:,} evaluations are waiting already, the most this server queues "
                                  "(PGOLF_MAX_QUEUED_JOBS): try again later")
    kept = session.scalar(select(func.coalesce(func.sum(StoredFile.size), 0)))
    hashes = {received.sha256 for received in form.files.values()}
    stored = set(session.scalars(select(StoredFile.sha256).where(StoredFile.sha256.in_(hashes))))
    new = sum(received.size for received in form.files.values() if received.sha256 not in stored)
    if new and kept + new > settings.storage_quota_bytes:
        raise UploadRejected(507, f"this server keeps {kept:,} bytes of uploads; {new:,} more would pass its "
                                  f"{settings.storage_quota_bytes:,}-byte quota (PGOLF_STORAGE_QUOTA_BYTES)")
