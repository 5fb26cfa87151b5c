"""A job's overall progress (webapp.views.evaluations.overall_progress) over its planned stages, with its estimate of the
time left, and a database made before the plan column existed, which gains it on startup and keeps working."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from tests.webapp.helpers import make_settings
from webapp import jobs
from webapp.app import create_app
from webapp.db import init_db, make_engine
from webapp.tables import Base, Evaluation, JobState
from webapp.views.evaluations import overall_progress

STARTED = datetime(2026, 1, 1, 12, 0, 0)
NOW = STARTED + timedelta(seconds=100)
PLAN = [["roundtrip", 1000], ["sliding_window", 3000], ["loops", None]]


def _progress(state=JobState.RUNNING, stage="sliding_window", scored=0, to_score=0, plan=PLAN, finished_at=None):
    job = Evaluation(state=state, stage=stage, scored=scored, to_score=to_score, plan=plan, started_at=STARTED,
                     finished_at=finished_at)
    return overall_progress(job, NOW)


def test_finished_stages_count_whole_and_the_current_one_by_its_share():
    progress = _progress(stage="sliding_window", scored=50, to_score=100)
    assert progress.fraction == pytest.approx((1000 + 0.5 * 3000) / 4000)
    assert progress.elapsed_seconds == 100.0 and progress.outside == ["loops"]
    assert progress.eta_seconds == pytest.approx(100 * (1 - 0.625) / 0.625)
    assert _progress(stage="roundtrip", scored=100, to_score=100).fraction == 0.25


def test_no_estimate_before_the_first_report_of_a_scoring_stage_nor_below_two_percent():
    loading = _progress(stage="loading")
    assert loading.fraction == 0.0 and loading.eta_seconds is None and loading.elapsed_seconds == 100.0
    assert _progress(stage="loading", plan=None).fraction == 0.0  # nothing is scored while loading, plan or none
    assert _progress(stage="roundtrip", scored=0, to_score=0).eta_seconds is None
    tiny = _progress(stage="roundtrip", scored=7, to_score=100)  # 0.0175 of the work
    assert tiny.fraction == pytest.approx(0.0175) and tiny.eta_seconds is None
    assert _progress(stage="roundtrip", scored=8, to_score=100).eta_seconds == pytest.approx(100 * 0.98 / 0.02)


def test_no_plan_or_an_unknown_stage_gives_no_fraction():
    for progress in (_progress(stage="sliding_window", scored=5, to_score=10, plan=None),
                     _progress(stage="warming up", scored=5, to_score=10),
                     _progress(stage="pre_quant", scored=5, to_score=10)):  # not in this plan
        assert progress.fraction is None and progress.eta_seconds is None and progress.elapsed_seconds == 100.0


def test_the_loop_wise_analysis_comes_after_the_whole_figure():
    loops = _progress(stage="loops")
    assert loops.fraction == 1.0 and loops.eta_seconds is None and loops.outside == ["loops"]
    assert _progress(stage="sliding_window", scored=5, to_score=10, plan=PLAN[:2]).outside == []


def test_finished_queued_and_failed_jobs():
    done = _progress(state=JobState.DONE, stage="done", finished_at=STARTED + timedelta(seconds=42))
    assert (done.fraction, done.eta_seconds, done.elapsed_seconds) == (1.0, 0.0, 42.0)
    assert _progress(state=JobState.DONE, stage="done", plan=None, finished_at=NOW).fraction == 1.0
    assert _progress(state=JobState.QUEUED, stage="") is None
    assert _progress(state=JobState.FAILED, stage="failed") is None


def test_a_database_from_before_the_plan_column_gains_it(tmp_path, eval_data, tiny_artifact):
    settings = make_settings(tmp_path, eval_data)
    engine = make_engine(settings)
    Base.metadata.create_all(engine)
    with engine.begin() as connection:  # the table as the previous version made it, with a job in it
        connection.execute(text("ALTER TABLE evaluations DROP COLUMN plan"))
        connection.execute(text("INSERT INTO stored_files (sha256, kind, size, display_name, content, created_at) "
                                "VALUES (:sha, 'artifact', 1, 'old.ptz', x'00', '2026-01-01 00:00:00')"),
                           {"sha": "a" * 64})
        connection.execute(text("INSERT INTO evaluations (inputs_key, artifact_sha256, options, artifact_format, "
                                "state, stage, scored, to_score, attempts, worker, note, error, created_at, started_at, finished_at) "
                                "VALUES (:key, :sha, '{}', 'pgolf-ptz', 'done', 'done', 0, 0, 1, '', '', '', "
                                ":t, :t, '2026-01-01 12:01:00')"), {"key": "k" * 64, "sha": "a" * 64, "t": STARTED})
    assert "plan" not in {c["name"] for c in inspect(engine).get_columns("evaluations")}
    engine.dispose()

    client = TestClient(create_app(settings))  # opens the old database the way the server does
    old = client.get("/api/evaluations/1").json()["progress"]
    assert (old["fraction"], old["elapsed_seconds"]) == (1.0, 60.0)
    submitted = client.post("/api/evaluations", files={"artifact": ("tiny.ptz", tiny_artifact.read_bytes())})
    job_id = submitted.json()["evaluation"]["id"]
    sessions = client.app.state.sessions
    assert jobs.claim(sessions, job_id, "w", 1) == jobs.ClaimOutcome.TAKEN
    assert jobs.set_plan(sessions, job_id, "w", PLAN) and jobs.heartbeat(sessions, job_id, "w", "sliding_window", 1, 2)
    assert client.get(f"/api/evaluations/{job_id}").json()["progress"]["fraction"] == pytest.approx(0.625)
    init_db(make_engine(settings), settings)  # a second start finds nothing to add
