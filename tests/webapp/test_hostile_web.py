"""Hostile input to the web app, crafted here: odd evaluation ids, decompression bombs, hostile upload
configs, a server without its own evaluation data, and jobs that would hold the worker for ever. Each
is refused with a 4xx/503 and one line, or fails its job with a clear reason; none is a 500."""
from __future__ import annotations

import hashlib
import json
import os
import struct
import time
import tracemalloc
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
import zstandard
from fastapi.testclient import TestClient
from sqlalchemy import select

from crawler.config import load_config
from crawler.model import CrawlerGPT
from crawler.ptz import export_model
from tests.conftest import TINY_CODE as CODE
from tests.conftest import TINY_VOCAB as VOCAB
from tests.webapp.helpers import Server, assert_refused, make_settings, processes, stored_files, stored_rows
from webapp import jobs
from webapp.app import create_app
from webapp.db import init_db, make_engine
from webapp.job_runner import NO_EVAL_DATA, JobRunner
from webapp.tables import Evaluation, JobState, StoredFile

JOB_ROUTES = ["/api/evaluations/{}", "/evaluations/{}", "/api/evaluations/{}/loops", "/evaluations/{}/loops",
              "/evaluations/{}/loops/logit_lens.png"]
ODD_IDS = {2**63: 422, 2**64: 422, 10**40: 422, -1: 422, 0: 422, "9" * 5000: 422, "1e3": 422, "0x10": 422,
           "%00": 422, "1.5": 422, "1.0": 404, 2**63 - 1: 404, 7: 404}


@pytest.mark.parametrize("route", JOB_ROUTES)
def test_odd_evaluation_ids_are_404_or_422_never_500(settings, route):
    client = TestClient(create_app(settings), raise_server_exceptions=False)
    for job_id, status in ODD_IDS.items():
        for accept in ("application/json", "text/html"):
            response = client.get(route.format(job_id), headers={"accept": accept})
            assert response.status_code == status, (job_id, accept, response.text[:200])
            if accept == "application/json":
                detail = response.json()["detail"]
                assert "\n" not in detail and len(detail) < 300
                assert ("no evaluation" in detail) if status == 404 else ("job_id" in detail)


def _bomb(compress, head: bytes = b"", mib: int = 300) -> bytes:
    """A small file that decompresses to `mib` MiB: head, then zeros."""
    zeros = bytes(1 << 20)
    return compress(head) + b"".join(compress(zeros) for _ in range(mib))


def _zstd(head=b""):
    writer = zstandard.ZstdCompressor(level=19).compressobj()
    return _bomb(writer.compress, head) + writer.flush()


def _zlib(head=b""):
    writer = zlib.compressobj(9)
    return _bomb(writer.compress, head) + writer.flush()


def _pgz1_manifest_bomb():
    """Our format 1 layout (magic, codec, manifest length) around a manifest frame of 300 MiB."""
    frame = _zstd(b"{")
    return b"PGZ1" + struct.pack("<BI", 0, len(frame)) + frame


@pytest.mark.parametrize("make, words", [
    (lambda: _zstd(), "not a torch.save zip archive"),
    (lambda: _zlib(), "not a torch.save zip archive"),
    (lambda: _zstd(b"PK\x03\x04"), "decompresses to more than 1,048,576 bytes"),
    (lambda: _zlib(b"PK\x03\x04"), "decompresses to more than 1,048,576 bytes"),
    (_pgz1_manifest_bomb, "manifest: decompresses to more than 1,048,576 bytes"),
])
def test_decompression_bombs_are_measured_by_streaming_never_held(tmp_path, eval_data, make, words):
    # the upload cap is 1 MiB of output here; the reader's own cap (256 MiB) would let each bomb allocate that
    settings = make_settings(tmp_path, eval_data, upload_max_decompressed_bytes=1 << 20)
    client = TestClient(create_app(settings))
    bomb = make()
    assert len(bomb) < 400_000
    tracemalloc.start()
    try:
        response = client.post("/api/evaluations", files={"artifact": ("bomb.ptz", bomb)})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_refused(client, settings, response, 422, words)
    assert response.json()["detail"].startswith("bomb.ptz")
    assert peak < 16 << 20, f"the upload held {peak / 2**20:.0f} MiB"


def test_ten_concurrent_bombs_barely_move_the_servers_memory(tmp_path, eval_data):
    """The issue's measurement: ten 10 kB zstd bombs of 300 MiB each, at once, against a real server. Its peak
    resident memory (VmHWM, reset first) may grow by the streaming check's buffers, not by the bombs."""
    running = Server(tmp_path, eval_data, worker=False)
    try:
        bomb = _zstd(b"PK\x03\x04")
        # one refused upload first, so that what any first request sets up is not counted
        assert running.http.post("/api/evaluations", files={"artifact": ("junk.ptz", b"junk")}).status_code == 422
        Path(f"/proc/{running.process.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
        before = running.memory_kib("VmRSS")
        with ThreadPoolExecutor(10) as pool:
            responses = list(pool.map(lambda n: running.http.post(
                "/api/evaluations", files={"artifact": (f"bomb{n}.ptz", bomb)}), range(10)))
        assert [r.status_code for r in responses] == [422] * 10
        assert all("decompresses to more than 67,108,864 bytes" in r.json()["detail"] for r in responses)
        grown = running.memory_kib("VmHWM") - before
        # measured: ~19 MiB (two checking threads' 8 MiB zstd windows); decompressing whole would be ~1 GiB
        assert grown < 48 * 1024, f"peak resident memory grew by {grown / 1024:.0f} MiB"
    finally:
        running.close()


def test_an_artifact_within_the_decompression_cap_is_accepted(client, settings, tiny_artifact):
    # the check measures our format's frames too, and a real artifact is far under the default cap
    response = client.post("/api/evaluations", files={"artifact": ("tiny.ptz", tiny_artifact.read_bytes())})
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("config, words", [
    (b'{"eval_stride": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "over the 65,536-byte limit"),
    (b'{"eval_stride": ' + b"[" * 5_000 + b"]" * 5_000 + b"}", "neither a JSON object nor TOML"),
    (b'{"eval_stride": ' + b"7" * 5000 + b"}", "neither a JSON object nor TOML"),
    (b"eval_stride = " + b"7" * 5000, "neither a JSON object nor TOML"),
    (b"\xff\xfe junk", "neither a JSON object nor TOML"),
    (b"[1, 2]", "neither a JSON object nor TOML"),
    # once HTTP 500 (an OverflowError formatting or converting the value)
    (b'{"crawler_loops": ' + b"9" * 400 + b"}", "crawler_loops = an integer of 400 digits is outside 0..64"),
    (b'{"crawler_loops": 1e400}', "config field crawler_loops: cannot read inf as int"),
    (b"crawler_loops = 1e400", "config field crawler_loops: cannot read inf as int"),
    (b'{"eval_stride": true}', "config field eval_stride: expected int, got True"),
    (b'{"eval_seq_len": "' + b"9" * 400 + b'"}', "config field eval_seq_len: cannot read '9999"),
])
def test_hostile_upload_configs_are_422_with_one_line(client, settings, tiny_artifact, config, words):
    response = client.post("/api/evaluations", files={"artifact": ("a.ptz", tiny_artifact.read_bytes()),
                                                      "config": ("c.json", config)})
    assert_refused(client, settings, response, 422, words)


def test_without_server_data_uploads_are_refused_before_anything_is_kept(tmp_path, eval_data, tiny_artifact):
    settings = make_settings(tmp_path, eval_data, eval_data_dir=None)
    client = TestClient(create_app(settings))
    response = client.post("/api/evaluations", files={"artifact": ("a.ptz", tiny_artifact.read_bytes())})
    assert_refused(client, settings, response, 503,
             "no evaluation data (start it with --eval-data DIR or PGOLF_EVAL_DATA_DIR)")
    page = client.post("/evaluations", files={"artifact": ("a.ptz", tiny_artifact.read_bytes())},
                       headers={"accept": "text/html"})
    assert page.status_code == 503 and "PGOLF_EVAL_DATA_DIR" in page.text
    assert stored_files(settings) == [] and stored_rows(client) == (0, 0)


def _queue_job(sessions, artifact: bytes, options: dict) -> int:
    """A job row as an upload leaves it (or as an older server left it, for options without data_dir)."""
    sha = hashlib.sha256(artifact).hexdigest()
    with sessions.begin() as session:
        if session.get(StoredFile, sha) is None:
            session.add(StoredFile(sha256=sha, kind="artifact", size=len(artifact), display_name="a.ptz",
                                   content=artifact))
        job = Evaluation(inputs_key=hashlib.sha256(json.dumps(options).encode()).hexdigest(), artifact_sha256=sha,
                         options=options, artifact_format="pgolf-ptz")
        session.add(job)
        session.flush()
        return job.id


def _job_processes() -> list[int]:
    """This process's children running an evaluation."""
    return [pid for pid, ppid, _, cmdline, _ in processes() if ppid == os.getpid() and b"webapp.job_child" in cmdline]


def _job(sessions, job_id: int) -> Evaluation:
    with sessions() as session:
        return session.get(Evaluation, job_id)


@pytest.fixture
def artifact_naming_server_paths(eval_data, tmp_path) -> bytes:
    """A tiny artifact whose config names a data folder and a tokenizer that exist on this machine."""
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "tokenizer.model").write_bytes(b"not for uploads")
    cfg = load_config("tiny", environ={}, data_path=str(secret), tokenizer_path=str(secret / "tokenizer.model"),
                      vocab_size=VOCAB, model_dim=64, num_heads=4, num_kv_heads=2, train_seq_len=32, eval_seq_len=32,
                      eval_stride=16, bigram_vocab_size=64, bigram_dim=32, train_batch_tokens=256)
    torch.manual_seed(0)
    (tmp_path / "train_gpt.py").write_bytes(CODE)
    export_model(CrawlerGPT(cfg), cfg, eval_data / "tokenizer.model", [tmp_path / "train_gpt.py"], tmp_path / "a.ptz")
    return (tmp_path / "a.ptz").read_bytes()


def test_a_job_never_opens_paths_named_in_its_artifact(tmp_path, eval_data, artifact_naming_server_paths):
    settings = make_settings(tmp_path, eval_data)
    sessions = init_db(make_engine(settings), settings)
    runner = JobRunner(settings, sessions)
    # a job queued without server data (as an older server queued them) is refused in words that name no path
    blind = _queue_job(sessions, artifact_naming_server_paths, {})
    runner(blind)
    job = _job(sessions, blind)
    assert job.state == JobState.FAILED and job.error == NO_EVAL_DATA and "/" not in job.error
    # with server data the artifact's own paths are ignored: it is scored on the server's data and tokenizer
    served = _queue_job(sessions, artifact_naming_server_paths, {"data_dir": str(eval_data), "max_tokens": 256})
    runner(served)
    job = _job(sessions, served)
    assert job.state == JobState.DONE, job.error
    assert job.result["data_path"] == str(eval_data)
    assert job.result["tokenizer"] == str(eval_data / "tokenizer.model")


def test_a_job_past_its_time_limit_is_stopped_and_fails_with_the_reason(tmp_path, eval_data, tiny_artifact):
    # a 1-second limit stops the job while its process is still loading, as a hostile config would keep it,
    # with the heartbeat alive the whole time: the stale-job watchdog could never have caught it
    settings = make_settings(tmp_path, eval_data, job_timeout_seconds=1.0, heartbeat_seconds=0.2,
                             stale_after_seconds=30.0)
    sessions = init_db(make_engine(settings), settings)
    runner = JobRunner(settings, sessions)
    job_id = _queue_job(sessions, tiny_artifact.read_bytes(), {"data_dir": str(eval_data)})
    started = time.monotonic()
    runner(job_id)
    took = time.monotonic() - started
    job = _job(sessions, job_id)
    assert job.state == JobState.FAILED and job.result is None
    assert job.error == ("stopped at the time limit of 1 s (PGOLF_JOB_TIMEOUT_SECONDS), at stage loading with "
                         "0 of 0 tokens scored")
    assert took < 5, took
    assert jobs.recover_stale(sessions, settings) == []  # it was never stale: only the limit ended it
    # the slot is free for the next job, and the stopped evaluation left no process behind
    assert _job_processes() == []
    with sessions() as session:
        assert session.scalars(select(Evaluation.state)).all() == [JobState.FAILED]
    assert jobs.claim(sessions, _queue_job(sessions, b"x", {"n": 2}), "next", slots=1) == jobs.ClaimOutcome.TAKEN
