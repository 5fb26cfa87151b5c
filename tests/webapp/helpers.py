"""What the web app's tests share besides fixtures (those are in conftest.py): the records they open, settings
over temporary folders, and helpers that run `pgolf serve`, a worker and a browser."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import REPO, SHARED
from webapp.app import create_app
from webapp.settings import Settings
from webapp.tables import Evaluation, StoredFile


def catalog_client(tmp: Path, records: list[Path], ablations: list[Path]) -> TestClient:
    """The app over record roots and ablation folders, with no runs and no jobs."""
    return TestClient(create_app(Settings(records=records, runs=[tmp / "runs"], ablations=ablations,
                                          data_dir=tmp / "web")))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(args: list[str], env: dict[str, str], log: Path, ready: str, port: int | None = None):
    """`pgolf serve ARGS` on a free port, yielding its base URL once `ready` answers, stopped afterwards. It runs
    in its own process group, so that the worker it starts goes down with it."""
    port = port or free_port()
    process = subprocess.Popen([sys.executable, "-m", "pgolf", "serve", "--port", str(port), *args], cwd=REPO,
                               env={**os.environ, "PYTHONUNBUFFERED": "1", **env}, stdout=log.open("ab"),
                               stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(base + ready, timeout=5)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(log.read_text()[-3000:]) from None
            time.sleep(0.5)
    yield base
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def make_settings(tmp_path: Path, eval_data: Path, **overrides) -> Settings:
    # the loop-wise analysis is off unless a test asks for it: on 2 cores it would double every worker test
    values = dict(records=[SHARED / "records" if (SHARED / "records").is_dir() else tmp_path / "records"],
                  runs=[tmp_path / "runs"], ablations=[tmp_path / "ablations"], data_dir=tmp_path / "web", eval_data_dir=eval_data,
                  eval_max_tokens=1024, eval_device="cpu", heartbeat_seconds=0.5, stale_after_seconds=3.0,
                  loops_tokens=0)
    return Settings(**{**values, **overrides})


def start_worker(settings: Settings, log: Path) -> subprocess.Popen:
    """`pgolf worker` in its own process, configured the way `pgolf serve` configures it: by environment."""
    env = {**os.environ, **settings.as_environment(), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "pgolf", "worker"], cwd=REPO, env=env, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for(client: TestClient, job_id: int, states: set[str], timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/api/evaluations/{job_id}").json()
        if body["state"] in states:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {body['state']} after {timeout:.0f} s: {body}")
        time.sleep(0.3)


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1000")

NEEDS_CHROMIUM = pytest.mark.skipif(
    not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)),
    reason="Chromium is not installed (apt-get install chromium chromium-driver; .ci/run does this)")


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


def process_group(pgid: int) -> list[tuple[int, int, int, bytes, str]]:
    return [p for p in processes() if p[2] == pgid]


def worker_pids(pgid: int) -> list[int]:
    return [pid for pid, _, _, cmdline, _ in process_group(pgid) if cmdline.split(b"\0")[2:4] == [b"pgolf", b"worker"]]


def wait_until(what: str, check, timeout: float = 60.0):
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
        wait_until("the server to answer", self._answers)
        if worker:
            self.worker = wait_until("its worker", lambda: worker_pids(self.process.pid))[0]

    def _answers(self) -> bool:
        assert self.process.poll() is None, self.log.read_text()[-2000:]
        try:
            return self.http.get("/api/evaluations").status_code == 200
        except httpx.TransportError:
            return False

    def evaluate(self, artifact: Path, config: dict) -> dict:
        files = {"artifact": ("tiny.ptz", artifact.read_bytes()), "config": ("c.json", json.dumps(config).encode())}
        job_id = self.http.post("/api/evaluations", files=files).json()["evaluation"]["id"]
        return wait_until(f"job {job_id} to end", lambda: self._ended(job_id), timeout=120)

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


def stored_files(settings) -> list[str]:
    return sorted(p.name for p in settings.data_dir.rglob("*") if p.is_file() and p.parent.name != "web"
                  and not p.name.startswith(("pgolf.sqlite", "queue.sqlite")))


def stored_rows(client: TestClient) -> tuple[int, int]:
    with client.app.state.sessions() as session:
        return (session.scalar(select(func.count()).select_from(StoredFile)),
                session.scalar(select(func.count()).select_from(Evaluation)))


def assert_refused(client, settings, response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert words in detail and "\n" not in detail
    assert stored_files(settings) == [] and stored_rows(client) == (0, 0)
