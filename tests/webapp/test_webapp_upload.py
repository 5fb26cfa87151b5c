"""Uploads: content-addressed storage, reuse of earlier jobs, and every way an upload is refused
(each a 4xx with one line, leaving no file and no row behind). No worker runs here: jobs stay queued."""
from __future__ import annotations

import asyncio
import hashlib
import json
import os

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from starlette.requests import Request

from crawler.prep.tokenizer_training import train_tokenizer
from tests.conftest import sample_docs
from tests.webapp.helpers import assert_refused, make_settings, stored_files, stored_rows
from webapp.app import create_app
from webapp.blobs import BlobStore
from webapp.tables import Evaluation
from webapp.upload import MultipartReceiver, UploadRejected


def test_upload_is_stored_under_its_hash_and_queued(client, settings, tiny_artifact):
    data = tiny_artifact.read_bytes()
    response = client.post("/api/evaluations", files={"artifact": ("../../etc/evil name.ptz", data)})
    assert response.status_code == 202, response.text
    body = response.json()
    job = body["evaluation"]
    sha = hashlib.sha256(data).hexdigest()
    assert body["reused"] is False and body["url"] == f"/evaluations/{job['id']}"
    assert job["state"] == "queued" and job["queue_position"] == 1 and job["artifact_format"] == "pgolf-ptz"
    assert job["artifact"] == {"sha256": sha, "name": "evil name.ptz", "size": len(data)}
    assert job["options"] == {"data_dir": str(settings.eval_data_dir.resolve()), "max_tokens": 1024}
    assert stored_files(settings) == [sha]  # only the content-addressed blob; the user's name is not a path
    assert (settings.data_dir / "blobs" / sha[:2] / sha).read_bytes() == data
    assert client.app.state.queue.huey.pending_count() == 1


def test_same_inputs_reuse_the_earlier_job(client, settings, tiny_artifact):
    data = tiny_artifact.read_bytes()
    first = client.post("/api/evaluations", files={"artifact": ("a.ptz", data)}).json()
    again = client.post("/api/evaluations", files={"artifact": ("renamed.ptz", data)})
    assert again.status_code == 200 and again.json()["reused"] is True
    assert again.json()["evaluation"]["id"] == first["evaluation"]["id"]
    assert stored_rows(client) == (1, 1) and len(stored_files(settings)) == 1
    # other evaluation options are another job for the same stored file
    config = json.dumps({"eval_stride": 8}).encode()
    other = client.post("/api/evaluations", files={"artifact": ("a.ptz", data), "config": ("c.json", config)}).json()
    assert other["reused"] is False and other["evaluation"]["options"]["stride"] == 8
    assert other["evaluation"]["id"] != first["evaluation"]["id"] and stored_rows(client) == (2, 2)


def test_uploading_again_reruns_a_failed_job(client, tiny_artifact):
    data = tiny_artifact.read_bytes()
    job_id = client.post("/api/evaluations", files={"artifact": ("a.ptz", data)}).json()["evaluation"]["id"]
    with client.app.state.sessions.begin() as session:
        session.execute(update(Evaluation).where(Evaluation.id == job_id)
                        .values(state="failed", error="worker ran out of memory", attempts=1))
    again = client.post("/api/evaluations", files={"artifact": ("a.ptz", data)})
    assert again.status_code == 202 and again.json()["reused"] is False
    job = again.json()["evaluation"]
    assert (job["id"], job["state"], job["error"], job["attempts"]) == (job_id, "queued", "", 0)


def test_html_form_post_redirects_to_the_job_page(client, tiny_artifact):
    response = client.post("/evaluations", files={"artifact": ("t.ptz", tiny_artifact.read_bytes())},
                           headers={"accept": "text/html"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/evaluations/1"
    page = client.get("/evaluations/1", headers={"accept": "text/html"})
    assert page.status_code == 200 and "queued" in page.text and "position 1 in the queue" in page.text


@pytest.mark.parametrize("payload, status, words", [
    (b"", 422, "empty"),
    (b"not an artifact at all, just text" * 10, 422, "evil.ptz"),
    (b"PGZ1" + b"\x00" * 64, 422, "evil.ptz"),
])
def test_malformed_artifacts_are_refused_and_leave_nothing(client, settings, payload, status, words):
    response = client.post("/api/evaluations", files={"artifact": ("evil.ptz", payload)})
    assert_refused(client, settings, response, status, words)
    assert str(settings.data_dir) not in response.json()["detail"]  # names the upload, not a server path


def test_other_bad_requests(client, settings, tiny_artifact, eval_data):
    data = tiny_artifact.read_bytes()
    assert_refused(client, settings, client.post("/api/evaluations", content=b"x", headers={"content-type": "text/plain"}),
             415, "multipart")
    assert_refused(client, settings, client.post("/api/evaluations", files={"tokenizer": ("t.model", b"x")}), 400,
             "no artifact")
    assert_refused(client, settings, client.post("/api/evaluations", files={"artifact": ("a.ptz", data), "x": ("x", b"1")}),
             400, "unexpected form field 'x'")
    assert_refused(client, settings, client.post("/api/evaluations", files={"artifact": ("a.ptz", data),
                                                                      "config": ("c.json", b'{"bogus": 1}')}),
             422, "unknown setting 'bogus'")
    assert_refused(client, settings, client.post("/api/evaluations", files={"artifact": ("a.ptz", data),
                                                                      "config": ("c.toml", b"eval_stride = 'x'")}),
             422, "config c.toml")
    assert_refused(client, settings, client.post("/api/evaluations", files={"artifact": ("a.ptz", data),
                                                                      "tokenizer": ("t.model", b"junk")}),
             422, "t.model")


def test_tokenizer_of_another_vocabulary_isassert_refused(client, settings, tiny_artifact):
    other = train_tokenizer(sample_docs(), vocab_size=500)
    response = client.post("/api/evaluations", files={"artifact": ("a.ptz", tiny_artifact.read_bytes()),
                                                       "tokenizer": ("small.model", other)})
    assert_refused(client, settings, response, 422, "500 pieces")


def test_upload_cap_is_enforced(tmp_path, eval_data, tiny_artifact):
    settings = make_settings(tmp_path, eval_data, upload_max_bytes=100_000)
    client = TestClient(create_app(settings))
    response = client.post("/api/evaluations", files={"artifact": ("a.ptz", tiny_artifact.read_bytes())})
    assert_refused(client, settings, response, 413, "100,000-byte limit")


def test_cap_stops_reading_the_stream_before_its_end(tmp_path):
    """The receiver refuses as soon as the running count passes the cap: later chunks are never read."""
    chunks = [b"--B\r\nContent-Disposition: form-data; name=\"artifact\"; filename=\"a.ptz\"\r\n\r\n"]
    chunks += [b"\0" * 10_000] * 50
    read = []

    async def receive():
        read.append(len(read))
        return {"type": "http.request", "body": chunks[len(read) - 1], "more_body": len(read) < len(chunks)}

    scope = {"type": "http", "method": "POST", "path": "/",
             "headers": [(b"content-type", b"multipart/form-data; boundary=B")]}
    store = BlobStore(tmp_path)
    receiver = MultipartReceiver(store, {"artifact"}, set(), max_bytes=25_000)
    with pytest.raises(UploadRejected) as refused:
        asyncio.run(receiver.receive(Request(scope, receive)))
    assert refused.value.status_code == 413
    assert len(read) <= 4 < len(chunks)
    assert list(store.incoming.iterdir()) == []


def test_token_is_required_when_set(tmp_path, eval_data, tiny_artifact):
    settings = make_settings(tmp_path, eval_data, upload_token="s3cret")
    client = TestClient(create_app(settings))
    data = tiny_artifact.read_bytes()
    assert_refused(client, settings, client.post("/api/evaluations", files={"artifact": ("a.ptz", data)}), 401, "token")
    assert_refused(client, settings, client.post("/api/evaluations", files={"artifact": ("a.ptz", data)},
                                           headers={"authorization": "Bearer wrong"}), 401, "token")
    assert client.post("/api/evaluations", files={"artifact": ("a.ptz", data)},
                       headers={"authorization": "Bearer s3cret"}).status_code == 202
    # the HTML form sends the token as its first field
    assert client.post("/api/evaluations", data={"token": "s3cret"},
                       files={"artifact": ("a.ptz", data)}).status_code == 200
    page = client.get("/evaluations", headers={"accept": "text/html"})
    assert 'name="token"' in page.text


def test_unknown_evaluation_is_404(client):
    assert client.get("/api/evaluations/42").status_code == 404
    assert client.get("/api/evaluations/nope").status_code == 422


def test_uploads_cut_off_by_a_crash_are_swept_at_start(settings, tmp_path):
    store = BlobStore(settings.data_dir)
    old, fresh = store.new_incoming(), store.new_incoming()
    os.utime(old, (0, 0))
    create_app(settings)
    assert not old.exists() and fresh.exists()
