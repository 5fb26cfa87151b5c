"""What the web app keeps: uploaded files by content hash, evaluation jobs and their results, and the
evaluation slots that cap how many jobs run at once across all workers."""
from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    # naive UTC throughout: SQLite drops time zones, so aware values would not compare after a round trip
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class StoredFile(Base):
    """An uploaded file, stored once under its SHA-256; the name the user gave is shown, never used as a path.

    With the Redis queue the bytes live in the database, so that a worker on another machine needs only the
    database URL, and it keeps a copy under its data dir (webapp.blobs); with the SQLite queue (one machine)
    the data dir's file is the only copy and `content` is empty.
    """
    __tablename__ = "stored_files"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # artifact | tokenizer | config
    size: Mapped[int] = mapped_column(Integer)
    display_name: Mapped[str] = mapped_column(String(200))
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Evaluation(Base):
    """One evaluation of an artifact (with an optional tokenizer and eval options), from queued to done."""
    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # SHA-256 over the inputs (artifact, tokenizer, options): the same upload finds this row again
    inputs_key: Mapped[str] = mapped_column(String(64), unique=True)
    artifact_sha256: Mapped[str] = mapped_column(ForeignKey("stored_files.sha256"))
    tokenizer_sha256: Mapped[str | None] = mapped_column(ForeignKey("stored_files.sha256"))
    config_sha256: Mapped[str | None] = mapped_column(ForeignKey("stored_files.sha256"))
    options: Mapped[dict] = mapped_column(JSON)  # evaluate_artifact keyword arguments taken from the config
    artifact_format: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED, index=True)
    stage: Mapped[str] = mapped_column(String(32), default="")
    scored: Mapped[int] = mapped_column(Integer, default=0)
    to_score: Mapped[int] = mapped_column(Integer, default=0)
    # this attempt's stages in order, [stage, tokens fed to the model or None when outside the overall figure]
    plan: Mapped[list | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str] = mapped_column(String(200), default="")
    # why the last attempt ended early (a dead worker), or why the job failed
    note: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class EvalSlot(Base):
    """One of max_concurrent_evals places to run; a worker takes one with a conditional UPDATE, which is
    atomic on SQLite and PostgreSQL alike, so two workers never hold the same slot."""
    __tablename__ = "eval_slots"

    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("evaluations.id"))
