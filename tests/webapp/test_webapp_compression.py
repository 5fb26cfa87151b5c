"""Pages, their JSON and scripts go out gzip-compressed to a client that accepts it (the plotly bundle alone is
4.8 MB), decode to exactly what an uncompressed request gets, and go out plain to a client that does not."""
from __future__ import annotations

import gzip

import pytest
from fastapi.testclient import TestClient

from tests.conftest import DEMO_RECORD, REPO
from tests.webapp.helpers import make_settings
from webapp.app import create_app
from webapp.charts import PLOTLY_JS, PLOTLY_JS_URL


@pytest.fixture
def demo_client(tmp_path, eval_data):
    return TestClient(create_app(make_settings(tmp_path, eval_data, records=[REPO / "records"])))


@pytest.mark.parametrize("path", [f"/records/{DEMO_RECORD}", f"/api/records/{DEMO_RECORD}/charts", "/records",
                                  "/static/style.css", PLOTLY_JS_URL])
def test_compressed_when_accepted_and_identical_once_decoded(demo_client, path):
    zipped = demo_client.get(path, headers={"Accept": "text/html", "Accept-Encoding": "gzip"})
    plain = demo_client.get(path, headers={"Accept": "text/html", "Accept-Encoding": "identity"})
    assert zipped.status_code == plain.status_code == 200
    assert zipped.headers["content-encoding"] == "gzip" and "content-encoding" not in plain.headers
    assert "accept-encoding" in zipped.headers["vary"].lower()  # a shared cache keeps the two apart
    assert zipped.content == plain.content  # httpx decoded it: the same bytes
    assert zipped.num_bytes_downloaded < plain.num_bytes_downloaded / 2


def test_plotly_bundle_is_compressed_once_and_decodes_to_the_packages_file(demo_client):
    first = demo_client.get(PLOTLY_JS_URL, headers={"Accept-Encoding": "gzip"})
    second = demo_client.get(PLOTLY_JS_URL, headers={"Accept-Encoding": "gzip"})
    assert first.num_bytes_downloaded == second.num_bytes_downloaded < len(PLOTLY_JS.read_bytes()) / 3
    with demo_client.stream("GET", PLOTLY_JS_URL, headers={"Accept-Encoding": "gzip"}) as raw:
        wire = b"".join(raw.iter_raw())
    assert gzip.decompress(wire) == PLOTLY_JS.read_bytes()
