"""Job state changes, each one conditional UPDATE so that workers on several machines, the web process
and duplicate queue deliveries can race without two of them owning one job.

The database is the source of truth and the queue only a doorbell: a job runs when a worker that
received its id manages to move it from queued to running while holding an evaluation slot. A running
job refreshes heartbeat_at; one whose heartbeat is older than stale_after_seconds belonged to a worker
that died, and is queued again (max_attempts in all) or reported failed with the reason.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from webapp.settings import Settings
from webapp.tables import EvalSlot, Evaluation, JobState, utcnow


class ClaimOutcome:
    TAKEN = "taken"  # this worker now runs the job
    NO_SLOT = "no slot"  # every slot is busy: try again shortly
    GONE = "gone"  # done, failed, or running elsewhere: nothing to do


def claim(sessions: sessionmaker, job_id: int, worker: str, slots: int) -> str:
    with sessions() as session:
        if session.scalar(select(Evaluation.state).where(Evaluation.id == job_id)) != JobState.QUEUED:
            return ClaimOutcome.GONE
    # the slot UPDATE comes first so the transaction starts as a writer (SQLite then waits for the lock)
    with sessions() as session:
        for slot in range(slots):
            took = session.execute(update(EvalSlot).where(EvalSlot.slot == slot, EvalSlot.job_id.is_(None))
                                   .values(job_id=job_id))
            if took.rowcount == 1:
                break
        else:
            session.rollback()
            return ClaimOutcome.NO_SLOT
        now = utcnow()
        started = session.execute(
            update(Evaluation).where(Evaluation.id == job_id, Evaluation.state == JobState.QUEUED)
            .values(state=JobState.RUNNING, worker=worker, attempts=Evaluation.attempts + 1, started_at=now,
                    heartbeat_at=now, stage="loading", scored=0, to_score=0, plan=None))
        if started.rowcount != 1:
            session.rollback()  # gives the slot back too
            return ClaimOutcome.GONE
        session.commit()
    return ClaimOutcome.TAKEN


def heartbeat(sessions: sessionmaker, job_id: int, worker: str, stage: str, scored: int, to_score: int) -> bool:
    """Record liveness and progress; False when the job is no longer this worker's (it was declared dead)."""
    with sessions.begin() as session:
        return session.execute(
            update(Evaluation).where(Evaluation.id == job_id, Evaluation.worker == worker,
                                     Evaluation.state == JobState.RUNNING)
            .values(heartbeat_at=utcnow(), stage=stage, scored=scored, to_score=to_score)).rowcount == 1


def run_again(session: Session, job_id: int) -> None:
    """A failed job queued again from scratch (its inputs were uploaded again), in the caller's transaction."""
    session.execute(update(Evaluation).where(Evaluation.id == job_id, Evaluation.state == JobState.FAILED)
                    .values(state=JobState.QUEUED, attempts=0, error="", note="", result=None, stage="", scored=0,
                            to_score=0, plan=None, worker="", started_at=None, heartbeat_at=None, finished_at=None))


def set_plan(sessions: sessionmaker, job_id: int, worker: str, stages: list) -> bool:
    """Record the attempt's plan ([stage, tokens] in order); False when the job is no longer this worker's."""
    with sessions.begin() as session:
        return session.execute(
            update(Evaluation).where(Evaluation.id == job_id, Evaluation.worker == worker,
                                     Evaluation.state == JobState.RUNNING)
            .values(plan=stages)).rowcount == 1


def finish(sessions: sessionmaker, job_id: int, worker: str, result: dict | None, error: str = "") -> bool:
    """Store the result (or the error) and free the slot, in one transaction."""
    with sessions.begin() as session:
        values = dict(state=JobState.FAILED if error else JobState.DONE, result=result, error=error,
                      finished_at=utcnow(), stage="failed" if error else "done")
        ended = session.execute(update(Evaluation).where(Evaluation.id == job_id, Evaluation.worker == worker,
                                                         Evaluation.state == JobState.RUNNING).values(**values))
        session.execute(update(EvalSlot).where(EvalSlot.job_id == job_id).values(job_id=None))
        return ended.rowcount == 1


def release(sessions: sessionmaker, job_id: int, worker: str) -> bool:
    """Give a running job back to the queue because its worker is stopping; the attempt does not count."""
    with sessions.begin() as session:
        released = session.execute(
            update(Evaluation).where(Evaluation.id == job_id, Evaluation.worker == worker,
                                     Evaluation.state == JobState.RUNNING)
            .values(state=JobState.QUEUED, worker="", stage="", plan=None, attempts=Evaluation.attempts - 1,
                    note=f"worker {worker} stopped during the job; queued again")).rowcount == 1
        if released:
            session.execute(update(EvalSlot).where(EvalSlot.job_id == job_id).values(job_id=None))
        return released


def recover_stale(sessions: sessionmaker, settings: Settings) -> list[int]:
    """Deal with running jobs whose worker stopped beating; returns the ids put back in the queue."""
    cutoff = utcnow() - timedelta(seconds=settings.stale_after_seconds)
    requeued = []
    with sessions.begin() as session:
        stale = session.execute(select(Evaluation.id, Evaluation.worker, Evaluation.attempts, Evaluation.heartbeat_at)
                                .where(Evaluation.state == JobState.RUNNING, Evaluation.heartbeat_at < cutoff)).all()
    for job_id, worker, attempts, last_beat in stale:
        why = f"worker {worker} stopped responding (last heartbeat {last_beat:%Y-%m-%d %H:%M:%S} UTC)"
        again = attempts < settings.max_attempts
        values = (dict(state=JobState.QUEUED, worker="", stage="", plan=None,
                       note=f"attempt {attempts}: {why}; queued again")
                  if again else
                  dict(state=JobState.FAILED, stage="failed", finished_at=utcnow(),
                       error=f"{why} on attempt {attempts} of {settings.max_attempts}"))
        with sessions.begin() as session:
            changed = session.execute(update(Evaluation).where(
                Evaluation.id == job_id, Evaluation.state == JobState.RUNNING, Evaluation.worker == worker,
                Evaluation.heartbeat_at < cutoff).values(**values)).rowcount == 1
            if changed:
                session.execute(update(EvalSlot).where(EvalSlot.job_id == job_id).values(job_id=None))
        if changed and again:
            requeued.append(job_id)
    return requeued


def queued_ids(sessions: sessionmaker) -> list[int]:
    with sessions() as session:
        return list(session.scalars(select(Evaluation.id).where(Evaluation.state == JobState.QUEUED)
                                    .order_by(Evaluation.id)))


def oldest_queued(sessions: sessionmaker) -> int | None:
    """The queued job that has waited longest (the lowest id: a job handed back keeps its place in line)."""
    with sessions() as session:
        return session.scalar(select(Evaluation.id).where(Evaluation.state == JobState.QUEUED)
                              .order_by(Evaluation.id).limit(1))
