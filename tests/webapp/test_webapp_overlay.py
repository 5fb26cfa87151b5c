"""The overlay: records, runs and ablation arms on shared axes with final numbers and deltas, on the real records
under ../shared/records, the CPU demo record and the committed tiny_cpu ablation; no delta across corpora; one
metric for the table and the stars; train-loss panels; a legend entry per drawn mark; the CSV; the settings against
the reference; too many items refused in place."""
from __future__ import annotations

import csv
import io

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
    assert [p["id"] for p in body["panels"]] == ["overlay-step", "overlay-time", "overlay-train-step",
                                                 "overlay-train-time"]
    curves = [t for t in body["panels"][0]["figure"]["data"] if t["meta"] == "curve"]
    crawler = [t for t in curves if t["legendgroup"] == items[0]]
    assert len(crawler) == 3 and [t["showlegend"] for t in crawler] == [True, False, False]
    assert len({t["line"]["color"] for t in crawler}) == 1
    assert {t["line"]["color"] for t in curves if t["legendgroup"] == items[1]} != {crawler[0]["line"]["color"]}


def test_the_page_keeps_the_selection_in_its_url(client):
    items = [f"record:{EMA}", "ablation:tiny_cpu/loops1"]
    page = client.get("/overlay", params={"item": items}, headers=HTML)
    assert page.status_code == 200
    assert sum(f'value="{item}" checked>' in page.text for item in items) == 2 and 'id="share-link"' in page.text
    assert f'data-src="/api/overlay?item=record%3A{EMA}&amp;item=ablation%3Atiny_cpu%2Floops1"' in page.text
    assert "Δ vs" in page.text and "other corpus" in page.text


def test_unknown_items_and_too_many_items_are_refused(client):
    assert client.get("/api/overlay", params={"item": "run:nope"}).status_code == 404
    choices = [c["id"] for c in client.get("/api/overlay").json()["choices"]]
    too_many = client.get("/api/overlay", params={"item": choices[:11]})
    assert too_many.status_code == 422 and "at most 10" in too_many.json()["detail"]


def test_one_metric_for_the_table_and_the_stars(client):
    items = [f"record:{CRAWLER_RECORD}", "record:2026-04-27_SmearGateBOSFix_PR1787Base_LQERAsym_PhasedTTT"]
    for metric in ("reference", "headline"):
        body = client.get("/api/overlay", params={"item": items, "metric": metric}).json()
        assert body["metric"] == metric
        kinds = [row["kind"] for row in body["rows"]]
        assert kinds == (["sliding_window"] * 2 if metric == "reference" else ["sliding_window", "ttt"])
        for row in body["rows"]:
            stars = [t for p in body["panels"] if p["id"] == "overlay-step" for t in p["figure"]["data"]
                     if t["meta"] == "final" and t["legendgroup"] == row["id"]]
            # every star is a seed's final score of the table's kind for that item
            if row["mean"] is None:
                assert not stars
            else:
                assert stars and all(row["kind"].replace("_", " ") in t["name"] or "TTT" in t["name"] for t in stars)
                ys = [t["y"][0] for t in stars]
                assert sum(ys) / len(ys) == pytest.approx(row["mean"], abs=1e-8)
    headline = client.get("/api/overlay", params={"item": items, "metric": "headline"}).json()
    assert headline["rows"][1]["not_comparable"].startswith("other metric kind")


def test_every_drawn_mark_has_a_legend_entry(client):
    items = [f"record:{CRAWLER_RECORD}", "ablation:tiny_cpu/loops3"]
    for panel in client.get("/api/overlay", params={"item": items}).json()["panels"]:
        data = panel["figure"]["data"]
        for group in {t["legendgroup"] for t in data}:
            for meta in {t["meta"] for t in data if t["legendgroup"] == group}:
                traces = [t for t in data if t["legendgroup"] == group and t["meta"] == meta]
                assert sum(t["showlegend"] for t in traces) == 1, (panel["id"], group, meta)


def test_ablation_arms_have_train_loss_curves_from_their_runs(client):
    body = client.get("/api/overlay", params={"item": ["ablation:tiny_cpu/loops1"]}).json()
    train = next(p for p in body["panels"] if p["id"] == "overlay-train-step")
    curves = [t for t in train["figure"]["data"] if t["meta"] == "curve"]
    assert len(curves) == 3 and all(len(t["x"]) > 10 for t in curves)


def test_the_table_as_csv_and_the_reference_chosen(client):
    items = [f"record:{CRAWLER_RECORD}", f"record:{EMA}"]
    body = client.get("/api/overlay", params={"item": items, "reference": f"record:{EMA}"}).json()
    assert body["reference"] == f"record:{EMA}" and [r["id"] for r in body["rows"]] == items[::-1]
    crawler = body["rows"][1]
    assert crawler["delta"] == pytest.approx(crawler["mean"] - body["rows"][0]["mean"])
    response = client.get("/overlay.csv", params={"item": items, "reference": f"record:{EMA}"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["id"] for r in rows] == items[::-1] and float(rows[1]["delta"]) == pytest.approx(crawler["delta"], abs=1e-8)


def test_settings_side_by_side_with_the_differences_marked(client):
    items = ["ablation:tiny_cpu/loops3", "ablation:tiny_cpu/loops1"]
    body = client.get("/api/overlay", params={"item": items}).json()
    differing = {s["key"]: s["values"] for s in body["settings"] if s["differs"]}
    assert differing == {"crawler_loops": ["3", "1"]}
    page = client.get("/overlay", params={"item": items}, headers=HTML).text
    assert 'id="differences-only" checked' in page and '<tr class="differs"><td class="mono small">crawler_loops' in page


def test_too_many_items_are_refused_in_place_with_the_selection_kept(client):
    choices = [c["id"] for c in client.get("/api/overlay").json()["choices"]][:11]
    page = client.get("/overlay", params={"item": choices}, headers=HTML)
    assert page.status_code == 422 and "Too many items: choose at most 10 items (11 chosen)" in page.text
    for choice in choices:
        assert f'value="{choice}" checked>' in page.text
