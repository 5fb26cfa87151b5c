"""`pgolf serve` as a real process group on a local port: it stops with its worker (and the worker's
evaluation processes) on SIGTERM and on SIGINT, replaces a worker killed with -9 (reaped, no zombie) so
the next upload is still evaluated, and a worker whose server was killed outright stops by itself."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.test_webapp_fixtures import free_port, make_settings

pytest_plugins = ("tests.test_webapp_fixtures",)  # the shared fixtures


def processes() -> list[tuple[int, int, int, bytes, str]]:
    """(pid, parent pid, process group, command line, state) of every process, zombies (state Z) included."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat, open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                fields = stat.read().rsplit(")", 1)[1].split()
                found.append((int(entry), int(fields[1]), int(fields[2]), cmdline.read(), fields[0]))
        except (FileNotFoundError, ProcessLookupError):  # it ended while we looked
            continue
    return found


def _group(pgid: int) -> list[tuple[int, int, int, bytes, str]]:
    return [p for p in processes() if p[2] == pgid]


def _workers(pgid: int) -> list[int]:
    return [pid for pid, _, _, cmdline, _ in _group(pgid) if cmdline.split(b"\0")[2:4] == [b"pgolf", b"worker"]]


def _until(what: str, check, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(0.2)
    return found


class Server:
    def __init__(self, tmp_path: Path, eval_data: Path, worker: bool = True, **overrides):
        self.port = free_port()
        # the evaluation data comes by flag, and reaches the worker the way every setting does
        settings = make_settings(tmp_path, eval_data, port=self.port, eval_data_dir=None, **overrides)
        self.log = tmp_path / "serve.log"
        env = {**os.environ, **settings.as_environment(), "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "pgolf", "serve", "--eval-data", str(eval_data), *([] if worker else ["--no-worker"])]
        # its own session: the server leads a process group, which is what the assertions look at
        self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
                                        start_new_session=True)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60)
        _until("the server to answer", self._answers)
        if worker:
            self.worker = _until("its worker", lambda: _workers(self.process.pid))[0]

    def _answers(self) -> bool:
        assert self.process.poll() is None, self.log.read_text()[-2000:]
        try:
            return self.http.get("/api/evaluations").status_code == 200
        except httpx.TransportError:
            return False

    def evaluate(self, artifact: Path, config: dict) -> dict:
        files = {"artifact": ("tiny.ptz", artifact.read_bytes()), "config": ("c.json", json.dumps(config).encode())}
        job_id = self.http.post("/api/evaluations", files=files).json()["evaluation"]["id"]
        return _until(f"job {job_id} to end", lambda: self._ended(job_id), timeout=120)

    def _ended(self, job_id: int) -> dict | None:
        body = self.http.get(f"/api/evaluations/{job_id}").json()
        return body if body["state"] in ("done", "failed") else None

    def memory_kib(self, field: str) -> int:
        """VmRSS (now) or VmHWM (peak) of the server process."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith(field + ":")).split()[1])

    def close(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


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
    second = _until("a new worker", lambda: [pid for pid in _workers(server.process.pid) if pid != first])[0]
    assert first not in [pid for pid, *_ in processes()]  # reaped by serve: not even a zombie
    done = server.evaluate(tiny_artifact, {"eval_stride": 8})
    assert done["state"] == "done", (done["error"], server.log.read_text()[-2000:])
    assert done["worker"].split(":")[1] == str(second)
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(40) == 0
    _until("the group to be empty", lambda: _group(server.process.pid) == [], timeout=10)


def test_ctrl_c_stops_the_server_its_worker_and_a_running_evaluation(server, tiny_artifact):
    # stride 1 over 1,024 targets keeps the evaluation running while the server is stopped
    files = {"artifact": ("tiny.ptz", tiny_artifact.read_bytes()), "config": ("c.json", b'{"eval_stride": 1}')}
    job_id = server.http.post("/api/evaluations", files=files).json()["evaluation"]["id"]
    _until("the evaluation process", lambda: [p for p in _group(server.process.pid) if b"webapp.job_child" in p[3]])
    os.killpg(server.process.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends: every process of the group
    assert server.process.wait(40) == 0
    _until("the group to be empty", lambda: _group(server.process.pid) == [], timeout=10)
    # the interrupted job went back to the queue for the next worker, its attempt not counted
    with sqlite3.connect(server.log.parent / "web" / "pgolf.sqlite") as db:
        state, attempts, note = db.execute("select state, attempts, note from evaluations where id = ?",
                                           (job_id,)).fetchone()
    assert (state, attempts) == ("queued", 0) and "stopped during the job" in note


def test_a_worker_whose_server_was_killed_stops_by_itself(server):
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait()
    # once stopped it may stay a zombie until whichever process adopted it reaps it: that is still stopped
    _until("the orphaned worker to stop", lambda: server.worker not in [
        pid for pid, _, _, _, state in processes() if state != "Z"], timeout=20)

