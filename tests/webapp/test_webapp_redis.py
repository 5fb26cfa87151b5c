"""Several workers on "several machines" by configuration only: a Redis queue, one shared database,
and a data dir per machine. Two workers share two jobs, and a cap of one evaluation at a time holds
across both of them."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from tests.webapp.helpers import make_settings, start_worker, stop, wait_for
from webapp.app import create_app

REDIS = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS is None, reason="redis-server is not installed (apt-get install redis-server; "
                                                      ".ci/run does this)")


@pytest.fixture
def redis_url(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                               "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0"
    stop(server)


def test_two_machines_share_a_redis_queue_and_a_database(tmp_path, eval_data, tiny_artifact, redis_url):
    shared = dict(queue="redis", redis_url=redis_url, db=f"sqlite:///{tmp_path / 'shared.sqlite'}",
                  max_concurrent_evals=1)
    web = make_settings(tmp_path / "web-machine", eval_data, **shared)
    client = TestClient(create_app(web))
    data = tiny_artifact.read_bytes()
    ids = [client.post("/api/evaluations", files={"artifact": ("tiny.ptz", data),
                                                  "config": ("c.json", f'{{"eval_stride": {stride}}}'.encode())})
           .json()["evaluation"]["id"] for stride in (8, 16)]
    machines = [make_settings(tmp_path / name, eval_data, **shared) for name in ("machine-a", "machine-b")]
    workers = [start_worker(settings, tmp_path / f"{n}.log") for n, settings in enumerate(machines)]
    try:
        done = [wait_for(client, job_id, {"done", "failed"}) for job_id in ids]
    finally:
        for worker in workers:
            stop(worker)
    assert [job["state"] for job in done] == ["done", "done"], [job["error"] for job in done]
    assert [job["result"]["sliding_window"]["stride"] for job in done] == [8, 16]
    # each job ran on a machine whose own data dir received the artifact from the database
    ran_on = {job["worker"].split(":")[1] for job in done}
    assert ran_on <= {str(worker.pid) for worker in workers}
    copies = [settings.data_dir / "blobs" for settings in machines if (settings.data_dir / "blobs").exists()]
    assert copies and not (web.data_dir / "queue.sqlite").exists()
    first, second = sorted(done, key=lambda job: datetime.fromisoformat(job["started_at"]))
    # one slot: the second job started only once the first had finished
    assert datetime.fromisoformat(second["started_at"]) >= datetime.fromisoformat(first["finished_at"])
