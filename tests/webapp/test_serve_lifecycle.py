"""`pgolf serve` as a real process group on a local port: it stops with its worker (and the worker's
evaluation processes) on SIGTERM and on SIGINT, replaces a worker killed with -9 (reaped, no zombie) so
the next upload is still evaluated, and a worker whose server was killed outright stops by itself."""
from __future__ import annotations

import os
import signal
import sqlite3

import pytest

from tests.webapp.helpers import Server, process_group, processes, wait_until, worker_pids


@pytest.fixture
def server(tmp_path, eval_data):
    running = Server(tmp_path, eval_data)
    yield running
    running.close()


def test_a_killed_worker_is_reaped_and_replaced_and_sigterm_leaves_no_process(server, tiny_artifact):
    first = server.worker
    done = server.evaluate(tiny_artifact, {"eval_stride": 16})
    assert done["state"] == "done" and done["worker"].split(":")[1] == str(first)
    os.kill(first, signal.SIGKILL)
    second = wait_until("a new worker", lambda: [pid for pid in worker_pids(server.process.pid) if pid != first])[0]
    assert first not in [pid for pid, *_ in processes()]  # reaped by serve: not even a zombie
    done = server.evaluate(tiny_artifact, {"eval_stride": 8})
    assert done["state"] == "done", (done["error"], server.log.read_text()[-2000:])
    assert done["worker"].split(":")[1] == str(second)
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(40) == 0
    wait_until("the group to be empty", lambda: process_group(server.process.pid) == [], timeout=10)


def test_ctrl_c_stops_the_server_its_worker_and_a_running_evaluation(server, tiny_artifact):
    # stride 1 over 1,024 targets keeps the evaluation running while the server is stopped
    files = {"artifact": ("tiny.ptz", tiny_artifact.read_bytes()), "config": ("c.json", b'{"eval_stride": 1}')}
    job_id = server.http.post("/api/evaluations", files=files).json()["evaluation"]["id"]
    wait_until("the evaluation process", lambda: [p for p in process_group(server.process.pid) if b"webapp.job_child" in p[3]])
    os.killpg(server.process.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends: every process of the group
    assert server.process.wait(40) == 0
    wait_until("the group to be empty", lambda: process_group(server.process.pid) == [], timeout=10)
    # the interrupted job went back to the queue for the next worker, its attempt not counted
    with sqlite3.connect(server.log.parent / "web" / "pgolf.sqlite") as db:
        state, attempts, note = db.execute("select state, attempts, note from evaluations where id = ?",
                                           (job_id,)).fetchone()
    assert (state, attempts) == ("queued", 0) and "stopped during the job" in note
    assert "starting a new one" not in server.log.read_text()  # a normal stop is not reported as a worker's death


def test_sigterm_to_the_group_is_a_normal_stop(server):
    os.killpg(server.process.pid, signal.SIGTERM)  # what a service manager sends: every process of the group
    assert server.process.wait(40) == 0
    log = server.log.read_text()
    assert "killed by signal" not in log and "starting a new one" not in log, log[-2000:]


def test_a_worker_whose_server_was_killed_stops_by_itself(server):
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait()
    # once stopped it may stay a zombie until whichever process adopted it reaps it: that is still stopped
    wait_until("the orphaned worker to stop", lambda: server.worker not in [
        pid for pid, _, _, _, state in processes() if state != "Z"], timeout=20)

