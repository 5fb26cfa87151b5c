"""The job state machine on its own: slots cap concurrent runs, a claim succeeds once, dead workers'
jobs are queued again and then reported failed, and an ousted worker cannot overwrite the result."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from evaluator.service import JobResult
from tests.webapp.helpers import make_settings
from webapp import jobs
from webapp.db import init_db, make_engine
from webapp.job_runner import SLOT_RETRY_SECONDS, JobRunner, _Outcome
from webapp.tables import Evaluation, JobState, StoredFile, utcnow


@pytest.fixture
def world(tmp_path, eval_data):
    settings = make_settings(tmp_path, eval_data, max_concurrent_evals=1, max_attempts=2)
    sessions = init_db(make_engine(settings), settings)
    with sessions.begin() as session:
        session.add(StoredFile(sha256="a" * 64, kind="artifact", size=1, display_name="a.ptz", content=b"a"))
        session.add_all(Evaluation(inputs_key=str(n) * 64, artifact_sha256="a" * 64, options={},
                                   artifact_format="pgolf-ptz") for n in (1, 2))
    return settings, sessions


def _job(sessions, job_id: int) -> Evaluation:
    with sessions() as session:
        return session.get(Evaluation, job_id)


def _age_heartbeat(sessions, job_id: int, seconds: float) -> None:
    with sessions.begin() as session:
        session.execute(update(Evaluation).where(Evaluation.id == job_id)
                        .values(heartbeat_at=utcnow() - timedelta(seconds=seconds)))


def test_slots_cap_concurrent_jobs_and_claims_happen_once(world):
    settings, sessions = world
    assert jobs.claim(sessions, 1, "w1", slots=1) == jobs.ClaimOutcome.TAKEN
    assert jobs.claim(sessions, 1, "w2", slots=1) == jobs.ClaimOutcome.GONE  # a duplicate delivery
    assert jobs.claim(sessions, 2, "w2", slots=1) == jobs.ClaimOutcome.NO_SLOT
    assert _job(sessions, 2).state == JobState.QUEUED
    assert jobs.heartbeat(sessions, 1, "w1", "sliding_window", 10, 20)
    assert (_job(sessions, 1).stage, _job(sessions, 1).scored) == ("sliding_window", 10)
    assert jobs.finish(sessions, 1, "w1", {"ok": 1})
    assert _job(sessions, 1).state == JobState.DONE and _job(sessions, 1).result == {"ok": 1}
    assert jobs.claim(sessions, 2, "w2", slots=1) == jobs.ClaimOutcome.TAKEN


def test_a_dead_workers_job_is_queued_again_then_failed(world):
    settings, sessions = world
    assert jobs.claim(sessions, 1, "dead-1", slots=1) == jobs.ClaimOutcome.TAKEN
    assert jobs.set_plan(sessions, 1, "dead-1", [["roundtrip", 10]]) and _job(sessions, 1).plan == [["roundtrip", 10]]
    assert jobs.recover_stale(sessions, settings) == []  # its heartbeat is fresh
    _age_heartbeat(sessions, 1, settings.stale_after_seconds + 1)
    assert jobs.recover_stale(sessions, settings) == [1]
    job = _job(sessions, 1)
    assert job.state == JobState.QUEUED and "worker dead-1 stopped responding" in job.note and job.attempts == 1
    assert job.plan is None  # the next attempt sends its own
    assert not jobs.heartbeat(sessions, 1, "dead-1", "sliding_window", 1, 2)  # the old worker lost it
    assert not jobs.set_plan(sessions, 1, "dead-1", [["roundtrip", 10]])
    assert not jobs.finish(sessions, 1, "dead-1", {"late": True})
    assert jobs.claim(sessions, 2, "w", slots=1) == jobs.ClaimOutcome.TAKEN  # the dead worker's slot was freed
    jobs.finish(sessions, 2, "w", {})
    assert jobs.claim(sessions, 1, "dead-2", slots=1) == jobs.ClaimOutcome.TAKEN
    assert jobs.set_plan(sessions, 1, "dead-2", [["roundtrip", 10]])
    assert jobs.release(sessions, 1, "dead-2") and _job(sessions, 1).plan is None  # its worker stopped: queued again
    assert jobs.claim(sessions, 1, "dead-2", slots=1) == jobs.ClaimOutcome.TAKEN
    _age_heartbeat(sessions, 1, settings.stale_after_seconds + 1)
    assert jobs.recover_stale(sessions, settings) == []
    job = _job(sessions, 1)
    assert job.state == JobState.FAILED and job.result is None
    assert "worker dead-2 stopped responding" in job.error and "attempt 2 of 2" in job.error


def test_a_failed_evaluation_keeps_its_error(world):
    settings, sessions = world
    jobs.claim(sessions, 1, "w", slots=1)
    assert jobs.finish(sessions, 1, "w", None, "tiny.ptz: tokenizer not found")
    job = _job(sessions, 1)
    assert job.state == JobState.FAILED and job.error == "tiny.ptz: tokenizer not found"
    assert jobs.queued_ids(sessions) == [2]


class _RecordingQueue:
    def __init__(self):
        self.sent: list[tuple[int, float | None]] = []

    def enqueue(self, job_id: int, delay: float | None = None) -> None:
        self.sent.append((job_id, delay))


def test_a_job_without_a_free_slot_waits_in_the_queue(world):
    settings, sessions = world
    assert jobs.claim(sessions, 1, "busy", slots=1) == jobs.ClaimOutcome.TAKEN
    runner = JobRunner(settings, sessions)
    runner.queue = _RecordingQueue()
    runner(2)
    assert runner.queue.sent == [(2, SLOT_RETRY_SECONDS)] and _job(sessions, 2).state == JobState.QUEUED


def test_a_job_handed_back_keeps_its_place_in_line(world, monkeypatch):
    # job 1 runs, its worker stops and hands it back: its new message is behind job 2's, yet it runs first
    settings, sessions = world
    assert jobs.claim(sessions, 1, "stopping", slots=1) == jobs.ClaimOutcome.TAKEN
    assert jobs.release(sessions, 1, "stopping")
    runner = JobRunner(settings, sessions)
    runner.queue = _RecordingQueue()
    ran = []
    monkeypatch.setattr(runner, "_request", lambda job_id: {})
    monkeypatch.setattr(runner, "_run_child", lambda job_id, *args: ran.append(job_id) or _Outcome(result=JobResult({})))
    for message in (2, 1):  # the order the queue delivers them
        runner(message)
    assert ran == [1, 2] and jobs.queued_ids(sessions) == []
    runner(2)  # a message left over (a job sent twice) finds nothing to run and runs nothing
    assert ran == [1, 2]
