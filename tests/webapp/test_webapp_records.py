"""The records pages and their JSON twins, on the 31 real records under ../shared/records."""
from __future__ import annotations

import csv
import io

import pytest

from tests.conftest import CRAWLER_RECORD, shared_path
from webapp.markdown import render_markdown

HTML = {"accept": "text/html"}


@pytest.fixture(autouse=True)
def _needs_shared_records():
    shared_path("records")


def test_index_lists_every_record_with_its_summary(client):
    body = client.get("/api/records").json()
    assert body["total"] == 31 and len(body["rows"]) == 31
    crawler = next(row for row in body["rows"] if row["id"] == CRAWLER_RECORD)
    assert crawler["track"] == "10min_16mb" and crawler["author"] == "Frosty40" and crawler["date"] == "2026-03-30"
    assert crawler["n_seeds"] == 3 and crawler["headline_kind"] == "sliding_window"
    assert crawler["mean_bpb"] == pytest.approx(1.18742567, abs=5e-9)
    assert crawler["best_bpb"] == pytest.approx(1.18720375, abs=1e-9)
    assert crawler["worst_total_bytes"] == 9_362_069 and crawler["size_cap_bytes"] == 16_000_000
    assert crawler["status"] in {"PASS", "WARN", "FAIL"}


def test_index_sorts_with_missing_values_last_and_filters(client):
    rows = client.get("/api/records", params={"sort": "mean_bpb", "order": "asc"}).json()["rows"]
    means = [row["mean_bpb"] for row in rows]
    present = [m for m in means if m is not None]
    assert present == sorted(present) and means[len(present):] == [None] * (len(means) - len(present))
    descending = [row["mean_bpb"] for row in client.get("/api/records", params={"sort": "mean_bpb", "order": "desc"})
                  .json()["rows"] if row["mean_bpb"] is not None]
    assert descending == sorted(present, reverse=True)
    tracked = client.get("/api/records", params={"track": "non_record_16mb"}).json()
    assert tracked["rows"] and {row["track"] for row in tracked["rows"]} == {"non_record_16mb"}
    assert [row["id"] for row in client.get("/api/records", params={"q": "frosty"}).json()["rows"]] == [CRAWLER_RECORD]
    failing = client.get("/api/records", params={"status": "FAIL"}).json()["rows"]
    assert failing and all(row["status"] == "FAIL" for row in failing)


def test_bad_query_is_a_422_with_one_line(client):
    response = client.get("/api/records", params={"sort": "nonsense"})
    assert response.status_code == 422
    assert "sort" in response.json()["detail"] and "\n" not in response.json()["detail"]


def test_csv_export_matches_the_json(client):
    response = client.get("/records.csv", params={"sort": "best_bpb", "order": "asc"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    crawler = next(row for row in rows if row["id"] == CRAWLER_RECORD)
    assert crawler["mean_bpb"] == "1.18742567" and crawler["worst_total_bytes"] == "9362069"
    json_rows = client.get("/api/records", params={"sort": "best_bpb", "order": "asc"}).json()["rows"]
    assert [row["id"] for row in rows] == [row["id"] for row in json_rows]


def test_record_detail_has_the_seed_table_compliance_and_curves(client):
    body = client.get(f"/api/records/{CRAWLER_RECORD}").json()
    table = body["seed_table"]
    assert [row["seed"] for row in table["rows"]] == [1337, 42, 300]
    assert [row["headline_bpb"] for row in table["rows"]] == [1.18720375, 1.18761637, 1.18745690]
    assert table["bpb"]["n"] == 3 and table["bpb"]["mean"] == pytest.approx(1.18742567, abs=5e-9)
    assert table["worst_size"]["total_bytes"] == 9_362_069
    rules = {row["rule"]: row for row in body["compliance"]}
    assert rules["size"]["status"] == "PASS" and rules["significance"]["status"] == "SKIP"
    assert all(row["evidence"] is not None for row in body["compliance"])
    assert len(body["curves"]) == 3 and all(curve["train"] and curve["val"] for curve in body["curves"])
    assert body["readme_markdown"].startswith("# Crawler") and body["comparison"] is None


def test_record_page_renders_readme_seeds_and_curves(client):
    page = client.get(f"/records/{CRAWLER_RECORD}", headers=HTML)
    assert page.status_code == 200
    assert "1.18742567" in page.text and "1.18720375" in page.text and "<h1>Crawler" in page.text
    assert f'data-src="/api/records/{CRAWLER_RECORD}/charts"' in page.text  # the interactive charts' data


def test_comparison_against_another_record(client):
    baseline = "2026-03-22_11L_EMA_GPTQ-lite_warmdown3500_QAT015_1.1233"
    body = client.get(f"/api/records/{CRAWLER_RECORD}", params={"against": baseline}).json()
    units = body["comparison"]["units"]
    assert body["against"] == baseline and set(units) >= {"bpb", "nats_per_byte"}
    assert units["bpb"]["delta"] == pytest.approx(units["bpb"]["candidate"]["mean"] - units["bpb"]["baseline"]["mean"])
    assert units["bpb"]["delta"] > 0 and units["bpb"]["better"]["p_value"] > 0.5  # the crawler is not lower
    significance = next(row for row in body["compliance"] if row["rule"] == "significance")
    assert significance["status"] != "SKIP"
    page = client.get(f"/records/{CRAWLER_RECORD}", params={"against": baseline}, headers=HTML)
    assert "nats / byte" in page.text and f'href="/records/{baseline}"' in page.text


def test_unknown_records_are_404s(client):
    assert client.get("/api/records/no-such-record").status_code == 404
    assert client.get(f"/api/records/{CRAWLER_RECORD}", params={"against": "nope"}).status_code == 404
    page = client.get("/records/no-such-record", headers=HTML)
    assert page.status_code == 404 and "no record" in page.text


def test_readme_html_cannot_run():
    html = render_markdown("<script>alert(1)</script>\n\n[x](javascript:alert(1)) <img src=x onerror=alert(1)>\n\n"
                           "| a |\n|---|\n| 1 |\n\n[ok](https://example.org)")
    # raw HTML stays visible as text; nothing becomes a tag, a handler or a javascript: link
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<table>" in html and 'href="https://example.org"' in html


def test_every_page_has_a_json_twin_in_the_openapi_schema(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/records", "/api/records/{record_id}", "/api/evaluations", "/api/evaluations/{job_id}",
            "/api/ablation"} <= set(paths)
    assert all(path.startswith("/api/") for path in paths)
    api_page = client.get("/api", headers=HTML)
    assert api_page.status_code == 200 and "/api/records/{record_id}" in api_page.text
