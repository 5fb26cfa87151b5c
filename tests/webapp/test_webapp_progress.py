"""A job's overall progress (webapp.views.progress.overall_progress) over its planned stages, with its estimate of the
time left: on plans of the older [stage, tokens] form, on the worker's stamped plans with the loop-wise analysis
weighed, and on a scripted slow job whose stage durations are known (simulated time: nothing here is timed); and a
database made before the plan column existed, which gains it on startup and keeps working."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from tests.webapp.helpers import make_settings
from webapp import jobs
from webapp.app import create_app
from webapp.db import init_db, make_engine
from webapp.tables import Base, Evaluation, JobState
from webapp.views.progress import UNREPORTED_SHARE_CAP, overall_progress

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


def _epoch(seconds: float) -> float:
    return (STARTED + timedelta(seconds=seconds)).replace(tzinfo=timezone.utc).timestamp()


def _at(seconds: float, stage: str, scored: int, to_score: int, plan: list, heartbeat: float | None = None):
    job = Evaluation(state=JobState.RUNNING, stage=stage, scored=scored, to_score=to_score, plan=plan,
                     started_at=STARTED, heartbeat_at=STARTED + timedelta(seconds=seconds if heartbeat is None else heartbeat))
    return overall_progress(job, STARTED + timedelta(seconds=seconds))


def test_loading_time_is_left_out_of_the_rate_and_the_analysis_is_in_the_figure():
    # 20 s of loading, then 1,000 tokens a second
    plan = [["roundtrip", 1000, _epoch(20)], ["sliding_window", 3000, _epoch(21)], ["loops", 1000, None]]
    early = _at(22, "sliding_window", 1, 3, plan)
    assert early.outside == [] and early.fraction == pytest.approx(2000 / 5000)
    assert early.eta_seconds == pytest.approx(3.0)  # not (22 s elapsed) x 3/2 = 33 s
    plan[2][2] = _epoch(24)
    loops = _at(24.5, "loops", 0, 0, plan)
    assert loops.fraction == pytest.approx(4500 / 5000) and loops.eta_seconds == pytest.approx(0.5)
    late = _at(40, "loops", 0, 0, plan)  # the analysis runs long: never credited as done before it says so
    assert late.fraction == pytest.approx((4000 + UNREPORTED_SHARE_CAP * 1000) / 5000) and late.eta_seconds > 0


def _scripted_job(stages: list[tuple[str, int, float]], loading: float, batches: int, heartbeat: float):
    """The page's view of a job, sampled every second: (now, fraction, eta, real seconds left). stages: (name,
    weight planned, real seconds); a reporting stage reports `batches` times at even intervals, the heartbeat
    stores the latest report every `heartbeat` seconds; the last stage ("loops") reports nothing."""
    starts, t = [], loading
    for _, _, seconds in stages:
        starts.append(t)
        t += seconds
    end = t
    samples, clock = [], loading + 1.0
    while clock < end:
        at = max(i for i, start in enumerate(starts) if start <= clock)
        name, weight, seconds = stages[at]
        plan = [[n, w, _epoch(starts[i]) if i <= at else None] for i, (n, w, _) in enumerate(stages)]
        beat = loading + (clock - loading) // heartbeat * heartbeat  # the last heartbeat, with the reports till then
        if name == "loops":
            view = _at(clock, name, 0, 0, plan)
        else:
            reported = max(0, int((beat - starts[at]) / seconds * batches)) if beat >= starts[at] else 0
            view = _at(clock, name, reported, batches, plan, heartbeat=beat)
        samples.append((clock, view.fraction, view.eta_seconds, end - clock))
        clock += 1.0
    return samples


def test_a_scripted_slow_job_is_estimated_within_15_percent_from_a_quarter_on():
    """Stage speeds as benchmarks/loops_weight.py measured them with the CPU defaults (65,536 targets; roundtrip
    12.1k and sliding window 12.5k tokens/s; the analysis 19.1 passes of its 4,096 tokens), slowed down 10x, with
    the analysis planned at 19 passes (the last job's measure) and taking 10% longer this time, after 30 s of
    loading: 54 s of roundtrip, 209 s of sliding window, 69 s of analysis."""
    stages = [("roundtrip", 65_536, 65_536 / 1213), ("sliding_window", 262_144, 262_144 / 1252),
              ("loops", 19 * 4096, 1.1 * 19.1 * 4096 / 1252)]
    samples = _scripted_job(stages, loading=30.0, batches=512, heartbeat=5.0)
    to_result = samples[-1][0] + samples[-1][3]  # the real time from the job's start to its result
    analysis_began = 30.0 + stages[0][2] + stages[1][2]
    checked = [(now, eta, left) for now, fraction, eta, left in samples if fraction >= 0.25]
    assert len(checked) > 200
    for now, eta, left in checked:
        # the estimated moment of the result, within 15% of the real time to it
        assert abs(eta - left) <= 0.15 * to_result, (now, eta, left)
        if now < analysis_began:
            # while the passes report, the time left itself within 15% (the page's figures are the last
            # heartbeat's: up to 5 s old); the analysis reports nothing, so its own overrun is not foreseeable
            assert abs(eta - left) <= 0.15 * left + 5.0, (now, eta, left)
    # no jumps: from one second to the next the estimated end moves by more than 2 s and 5% of the time left only
    # while the sliding pass shows its own speed (three heartbeats, each under 20%; the page glides through them)
    ends = [(now + eta, left) for now, _, eta, left in samples if eta is not None]
    big = [(b - a) / left for (a, _), (b, left) in zip(ends, ends[1:]) if abs(b - a) > max(2.0, 0.05 * left)]
    assert len(big) <= 3 and all(-0.2 < move < 0 for move in big), big


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
