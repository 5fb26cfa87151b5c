"""What the web app's tests share: fixtures (a tiny validation set and a tiny real artifact, settings
pointing at temporary folders, a client), loaded through `pytest_plugins` in each module, and helpers
to run a worker."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from crawler.artifact import export_model
from crawler.config import load_config
from crawler.model import CrawlerGPT
from crawler.prepare import prepare_data
from tests.conftest import REPO, SHARED, sample_docs
from webapp.app import create_app
from webapp.settings import Settings

VOCAB = 400
CRAWLER_RECORD = "2026-03-30_Crawler_Leg3_8xH100"
DEMO_RECORD = "2026-11-27_MicroCrawler_tiny_CPU_wiki"  # this repository's CPU demo record
DEMO_RECORD_DIR = REPO / "records" / "track_cpu_demo" / DEMO_RECORD


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
CODE = b"# the code that ships with the tiny artifact\nprint('crawler')\n"


@pytest.fixture(scope="session")
def eval_data(tmp_path_factory) -> Path:
    """Train/val shards and a 400-piece tokenizer, in the layout prepare-data writes."""
    docs = sample_docs()
    out = tmp_path_factory.mktemp("webapp-eval") / "data"
    # 20 validation documents: a few thousand tokens, enough for the 2,048-token evaluations the worker tests run
    prepare_data([f"Document {i}. " + docs[i % len(docs)] for i in range(60)], out, "test", vocab_size=VOCAB,
                 val_docs=20)
    return out


@pytest.fixture(scope="session")
def tiny_artifact(eval_data, tmp_path_factory) -> Path:
    """An untrained Micro Crawler small enough to evaluate in seconds, exported in our .ptz format."""
    cfg = load_config("tiny", environ={}, data_path=str(eval_data), vocab_size=VOCAB, model_dim=64, num_heads=4,
                      num_kv_heads=2, train_seq_len=32, eval_seq_len=32, eval_stride=16, bigram_vocab_size=64,
                      bigram_dim=32, train_batch_tokens=256)
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("webapp-artifact")
    (out / "train_gpt.py").write_bytes(CODE)
    export_model(CrawlerGPT(cfg), cfg, eval_data / "tokenizer.model", [out / "train_gpt.py"], out / "tiny.ptz")
    return out / "tiny.ptz"


def make_settings(tmp_path: Path, eval_data: Path, **overrides) -> Settings:
    # the loop-wise analysis is off unless a test asks for it: on 2 cores it would double every worker test
    values = dict(records=[SHARED / "records" if (SHARED / "records").is_dir() else tmp_path / "records"],
                  runs=[tmp_path / "runs"], ablations=[tmp_path / "ablations"], data_dir=tmp_path / "web", eval_data_dir=eval_data,
                  eval_max_tokens=1024, eval_device="cpu", heartbeat_seconds=0.5, stale_after_seconds=3.0,
                  loops_tokens=0)
    return Settings(**{**values, **overrides})


@pytest.fixture
def settings(tmp_path, eval_data) -> Settings:
    return make_settings(tmp_path, eval_data)


@pytest.fixture
def client(settings) -> TestClient:
    return TestClient(create_app(settings))


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
