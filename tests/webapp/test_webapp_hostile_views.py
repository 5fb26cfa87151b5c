"""The hostile record corpus (symlinks out of the folder, a FIFO, nested JSON, huge numbers, oversized logs) through
the charts, the overlay, the leaderboard and the log viewer: never a 500, never the file a symlink points at."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.evaluator.builders import SECRET, build_corpus
from webapp.app import create_app
from webapp.settings import Settings


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> TestClient:
    corpus, _ = build_corpus(tmp_path_factory.mktemp("hostile-views"))
    web = tmp_path_factory.mktemp("hostile-views-web")
    settings = Settings(records=[corpus], runs=[web / "runs"], ablations=[web / "ablations"], data_dir=web / "data")
    return TestClient(create_app(settings), raise_server_exceptions=False)


def test_no_new_page_fails_or_shows_what_a_symlink_points_at(client):
    records = client.get("/api/records").json()["rows"]
    ids = [row["id"] for row in records]
    urls = ["/leaderboard", "/api/leaderboard", "/overlay", "/api/overlay?" + "&".join(f"item=record:{i}" for i in ids[:10])]
    for record_id in ids:
        detail = client.get(f"/api/records/{record_id}").json()
        files = {e["file"] for row in detail["compliance"] for e in row["evidence"] if e["file"]}
        urls += [f"/api/records/{record_id}/charts", f"/overlay?item=record:{record_id}"]
        urls += [f"/records/{record_id}/logs/{name}" for name in sorted(files)]
    for url in urls:
        response = client.get(url, headers={"accept": "text/html"})
        assert response.status_code in (200, 403, 404, 415), (url, response.status_code, response.text[:300])
        assert SECRET not in response.text and SECRET.encode() not in response.content, url
    assert len(urls) > 3 * len(ids)
