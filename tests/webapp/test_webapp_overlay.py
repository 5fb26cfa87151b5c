"""The overlay: records, runs and ablation arms on shared axes with final numbers and deltas, on the real records
under ../shared/records, the CPU demo record and the committed tiny_cpu ablation; no delta across corpora."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import CRAWLER_RECORD, DEMO_RECORD, REPO, shared_path
from tests.webapp.helpers import catalog_client

HTML = {"accept": "text/html"}
EMA = "2026-03-22_11L_EMA_GPTQ-lite_warmdown3500_QAT015_1.1233"


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> TestClient:
    return catalog_client(tmp_path_factory.mktemp("overlay"), [shared_path("records"), REPO / "records"],
                          [REPO / "ablations"])


def test_final_numbers_and_deltas_only_within_one_corpus(client):
    items = [f"record:{CRAWLER_RECORD}", f"record:{EMA}", f"record:{DEMO_RECORD}", "ablation:tiny_cpu/loops1",
             "ablation:tiny_cpu/loops3"]
    body = client.get("/api/overlay", params={"item": items}).json()
    rows = {row["id"]: row for row in body["rows"]}
    assert [row["id"] for row in body["rows"]] == items
    crawler, ema = rows[items[0]], rows[items[1]]
    assert crawler["corpus"] == "FineWeb" and crawler["kind"] == "sliding_window" and crawler["n"] == 3
    assert crawler["mean"] == pytest.approx(1.18742567, abs=5e-9) and crawler["delta"] is None
    assert ema["delta"] == pytest.approx(ema["mean"] - crawler["mean"]) and ema["delta"] < 0
    # the CPU demo and the tiny_cpu arms ran on the default Wikipedia corpus: no delta against FineWeb records
    for item in items[2:]:
        assert rows[item]["corpus"] == "wiki_sp1024 (not FineWeb)" and rows[item]["delta"] is None
        assert rows[item]["not_comparable"].startswith("other corpus")
    assert rows["ablation:tiny_cpu/loops1"]["mean"] == pytest.approx(1.95787, abs=5e-6)  # the README's table
    assert any(w.startswith("Not comparable") for w in body["warnings"])


def test_curves_one_colour_and_one_legend_entry_per_item(client):
    items = [f"record:{CRAWLER_RECORD}", "ablation:tiny_cpu/loops3"]
    body = client.get("/api/overlay", params={"item": items}).json()
    assert [p["id"] for p in body["panels"]] == ["overlay-step", "overlay-time"]
    curves = [t for t in body["panels"][0]["figure"]["data"] if t["meta"] == "curve"]
    crawler = [t for t in curves if t["legendgroup"] == items[0]]
    assert len(crawler) == 3 and [t["showlegend"] for t in crawler] == [True, False, False]
    assert len({t["line"]["color"] for t in crawler}) == 1
    assert {t["line"]["color"] for t in curves if t["legendgroup"] == items[1]} != {crawler[0]["line"]["color"]}


def test_the_page_keeps_the_selection_in_its_url(client):
    items = [f"record:{EMA}", "ablation:tiny_cpu/loops1"]
    page = client.get("/overlay", params={"item": items}, headers=HTML)
    assert page.status_code == 200
    assert page.text.count("checked") == 2 and 'id="share-link"' in page.text
    assert f'data-src="/api/overlay?item=record%3A{EMA}&amp;item=ablation%3Atiny_cpu%2Floops1"' in page.text
    assert "Δ vs" in page.text and "other corpus" in page.text


def test_unknown_items_and_too_many_items_are_refused(client):
    assert client.get("/api/overlay", params={"item": "run:nope"}).status_code == 404
    choices = [c["id"] for c in client.get("/api/overlay").json()["choices"]]
    too_many = client.get("/api/overlay", params={"item": choices[:11]})
    assert too_many.status_code == 422 and "at most 10" in too_many.json()["detail"]
