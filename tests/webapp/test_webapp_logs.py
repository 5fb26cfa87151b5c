"""The log viewer: numbered lines with anchors, linked from every file:line of the compliance evidence, confined to
the record's folder (no traversal, no symlinks, no absolute paths) and capped with a visible note."""
from __future__ import annotations

import os
import shutil

import pytest
from fastapi.testclient import TestClient

from tests.conftest import CRAWLER_RECORD, shared_path
from webapp.app import create_app
from webapp.settings import Settings
from webapp.views import logs as logview

HTML = {"accept": "text/html"}


@pytest.fixture
def roots(tmp_path):
    """A copy of the Crawler record beside a secret file, plus a symlink to that secret inside the record."""
    source = shared_path("records", "track_10min_16mb", CRAWLER_RECORD)
    record = tmp_path / "records" / "track_10min_16mb" / CRAWLER_RECORD
    shutil.copytree(source, record)
    (tmp_path / "records" / "secret.txt").write_text("not for the web\n")
    os.symlink(tmp_path / "records" / "secret.txt", record / "link.log")
    return tmp_path


@pytest.fixture
def client(roots) -> TestClient:
    return TestClient(create_app(Settings(records=[roots / "records"], runs=[roots / "runs"],
                                          ablations=[roots / "ablations"], data_dir=roots / "web")))


def test_lines_are_numbered_and_anchored(client, roots):
    body = client.get(f"/api/records/{CRAWLER_RECORD}/logs/train_seed1337.log").json()
    text = (roots / "records" / "track_10min_16mb" / CRAWLER_RECORD / "train_seed1337.log").read_text()
    assert body["lines"] == text.split("\n")[:-1] and body["truncated"] == ""
    page = client.get(f"/records/{CRAWLER_RECORD}/logs/train_seed1337.log", headers=HTML).text
    assert '<span class="line" id="L39"><a class="ln" href="#L39">39</a>step:0/20000 val_loss:6.9293' in page


def test_every_evidence_line_of_a_file_in_the_folder_links_to_the_viewer(client):
    record = client.get(f"/api/records/{CRAWLER_RECORD}").json()
    page = client.get(f"/records/{CRAWLER_RECORD}", headers=HTML).text
    cited = [(e["file"], e["line"]) for row in record["compliance"] for e in row["evidence"] if e["file"]]
    present = [(f, line) for f, line in cited if f in ("train_seed1337.log", "train_seed42.log", "train_seed300.log",
                                                       "submission.json", "README.md")]
    assert len(present) >= 10
    for file, line in present:
        href = f'href="/records/{CRAWLER_RECORD}/logs/{file}{"#L" + str(line) if line else ""}"'
        assert href in page
    for file, line in present:
        if line:
            lines = client.get(f"/api/records/{CRAWLER_RECORD}/logs/{file}").json()["lines"]
            assert line <= len(lines)


@pytest.mark.parametrize("name, status", [
    ("../secret.txt", 404), ("..%2Fsecret.txt", 404), ("%2Fetc%2Fpasswd", 404), ("link.log", 403),
    ("no_such.log", 404), ("%2E%2E%2Fsecret.txt", 404)])
def test_nothing_outside_the_folder_and_no_symlink_is_shown(client, name, status):
    response = client.get(f"/api/records/{CRAWLER_RECORD}/logs/{name}")
    assert response.status_code == status, response.text
    assert "not for the web" not in response.text


def test_a_long_file_is_cut_with_a_visible_note(client, roots, monkeypatch):
    monkeypatch.setattr(logview, "MAX_LINES", 50)
    page = client.get(f"/records/{CRAWLER_RECORD}/logs/train_seed1337.log", headers=HTML).text
    assert 'id="log-truncated"' in page and "only the first 50 lines" in page
    assert 'id="L50"' in page and 'id="L51"' not in page
    monkeypatch.setattr(logview, "MAX_BYTES", 1000)
    body = client.get(f"/api/records/{CRAWLER_RECORD}/logs/train_seed1337.log").json()
    assert body["truncated"].startswith("only the first 1,000 of 4,629 bytes")
