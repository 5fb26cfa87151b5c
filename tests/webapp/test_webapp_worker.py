"""Real workers (`pgolf worker` processes) running real evaluations of a tiny artifact end to end,
including one killed mid-job and replaced: the job still completes."""
from __future__ import annotations

import json
import math
import signal
import time

from fastapi.testclient import TestClient

from tests.conftest import TINY_CODE as CODE
from tests.webapp.helpers import make_settings, processes, start_worker, stop, wait_for
from webapp.app import create_app
from webapp.tables import Evaluation, StoredFile


def test_worker_evaluates_an_upload_end_to_end(client, settings, tiny_artifact, tmp_path):
    # queued before any worker exists: the queue is durable, so the job waits for one
    submitted = client.post("/api/evaluations", files={"artifact": ("tiny.ptz", tiny_artifact.read_bytes())}).json()
    job_id = submitted["evaluation"]["id"]
    # stored once: with the SQLite queue the data dir's file is the only copy (with Redis, the database's)
    sha = submitted["evaluation"]["artifact"]["sha256"]
    with client.app.state.sessions() as session:
        assert session.get(StoredFile, sha).content == b""
    assert (settings.data_dir / "blobs" / sha[:2] / sha).read_bytes() == tiny_artifact.read_bytes()
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        seen = _follow(client, job_id)
    finally:
        stop(worker)
    done = seen[-1]
    assert done["state"] == "done", (done["error"], (tmp_path / "worker.log").read_text()[-2000:])
    # the plan the evaluation sent before scoring: 32 windows of 32 for roundtrip; for sliding, 63 windows of 32
    # every 16 targets, and the record's plan one more, at 1,008, reading past the stream's end
    with client.app.state.sessions() as session:
        plan = session.get(Evaluation, job_id).plan
    assert [entry[:2] for entry in plan] == [["roundtrip", 1024], ["sliding_window", 64 * 32]]
    starts = [entry[2] for entry in plan]  # each stage's start, stamped by the worker for the page's estimate
    assert all(starts) and starts == sorted(starts)
    # the counts shown while a pass runs are the result's targets, even where the pass scores windows twice
    assert all(body["to_score"] == 1024 for body in seen if body["stage"] in ("roundtrip", "sliding_window")
               and body["to_score"])
    fractions = [body["progress"]["fraction"] for body in seen if body["progress"]]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and done["progress"]["eta_seconds"] == 0.0
    result = done["result"]
    for name in ("roundtrip", "sliding_window"):
        assert math.isfinite(result[name]["val_bpb"]) and result[name]["val_bpb"] > 0
        assert result[name]["byte_sum"] > 0
    assert result["sliding_window"]["scored_tokens"] == 1024 and result["max_tokens"] == 1024
    assert result["size"]["model_bytes"] == tiny_artifact.stat().st_size
    assert result["size"]["code_bytes"] == len(CODE)
    assert result["size"]["total_bytes"] == tiny_artifact.stat().st_size + len(CODE)
    assert done["attempts"] == 1 and done["finished_at"] and done["error"] == "" and done["worker"]
    page = client.get(f"/evaluations/{job_id}", headers={"accept": "text/html"})
    assert f"{result['sliding_window']['val_bpb']:.8f}" in page.text and "fits" in page.text
    again = client.post("/api/evaluations", files={"artifact": ("copy.ptz", tiny_artifact.read_bytes())})
    assert again.status_code == 200 and again.json()["evaluation"]["result"] == result


def _follow(client: TestClient, job_id: int, timeout: float = 180.0) -> list[dict]:
    """Every state the API reports until the job ends (wait_for, keeping the way there)."""
    deadline, seen = time.monotonic() + timeout, []
    while not seen or seen[-1]["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline, f"job {job_id} still {seen[-1]['state']} after {timeout:.0f} s"
        seen.append(client.get(f"/api/evaluations/{job_id}").json())
        time.sleep(0.05)
    return seen


def _evaluations_of(worker_pid: int) -> list[int]:
    """Live evaluation processes a worker started (their argv: message fd, then the worker's pid)."""
    return [pid for pid, _, _, cmdline, state in processes() if state != "Z"
            and cmdline.split(b"\0")[2:5:2] == [b"webapp.job_child", str(worker_pid).encode()]]


def test_job_of_a_killed_worker_completes_on_a_new_worker(tmp_path, eval_data, tiny_artifact):
    # stride 1 over 2,048 targets: a sliding pass long enough to kill the worker in the middle of it
    settings = make_settings(tmp_path, eval_data, eval_max_tokens=2048)
    client = TestClient(create_app(settings))
    config = json.dumps({"eval_stride": 1}).encode()
    submitted = client.post("/api/evaluations", files={"artifact": ("tiny.ptz", tiny_artifact.read_bytes()),
                                                       "config": ("slow.json", config)}).json()
    job_id = submitted["evaluation"]["id"]
    first = start_worker(settings, tmp_path / "first.log")
    try:
        running = wait_for(client, job_id, {"running", "done", "failed"}, timeout=120)
        assert running["state"] == "running"
        deadline = time.monotonic() + 30
        while not _evaluations_of(first.pid):
            assert time.monotonic() < deadline, "the worker started no evaluation process"
            time.sleep(0.1)
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        stop(first)
    # its evaluation process dies with it rather than run on, unowned
    deadline = time.monotonic() + 5
    while _evaluations_of(first.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _evaluations_of(first.pid) == []
    time.sleep(settings.heartbeat_seconds * 2)
    assert client.get(f"/api/evaluations/{job_id}").json()["state"] == "running"  # not yet known to be dead
    second = start_worker(settings, tmp_path / "second.log")
    try:
        done = wait_for(client, job_id, {"done", "failed"}, timeout=240)
    finally:
        stop(second)
    assert done["state"] == "done", (done["error"], (tmp_path / "second.log").read_text()[-2000:])
    assert done["attempts"] == 2 and "stopped responding" in done["note"]
    assert done["result"]["sliding_window"]["stride"] == 1 and done["result"]["sliding_window"]["scored_tokens"] == 2048
    assert done["worker"].split(":")[1] == str(second.pid)
