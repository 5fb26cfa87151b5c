"""The leaderboard on the real records under ../shared/records and the CPU demo record: ranks only among records
of one corpus and metric kind, gap to best, the flagged rules named, and the ablation page's corpus warning."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import CRAWLER_RECORD, DEMO_RECORD, REPO, shared_path
from tests.webapp.helpers import catalog_client

HTML = {"accept": "text/html"}


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> TestClient:
    return catalog_client(tmp_path_factory.mktemp("leaderboard"), [shared_path("records"), REPO / "records"],
                          [REPO / "ablations"])


def _groups(body: dict, track: str) -> list[dict]:
    return next(t for t in body["tracks"] if t["track"] == track)["groups"]


def test_each_group_is_ranked_by_score_with_gaps_to_its_best(client):
    body = client.get("/api/leaderboard").json()
    assert [t["track"] for t in body["tracks"]] == ["10min_16mb", "non_record_16mb", "cpu_demo"]
    groups = _groups(body, "10min_16mb")
    main = groups[0]
    assert main["primary"] and main["corpus"] == "FineWeb" and main["kind"] == "sliding_window"
    scores = [row["score"] for row in main["rows"]]
    assert scores == sorted(scores) and [row["rank"] for row in main["rows"]] == list(range(1, len(scores) + 1))
    assert [row["gap_to_best"] for row in main["rows"]] == pytest.approx([s - scores[0] for s in scores])
    crawler = next(row for row in main["rows"] if row["id"] == CRAWLER_RECORD)
    assert crawler["score"] == pytest.approx(1.18742567, abs=5e-9)
    # TTT and roundtrip scores are ranked apart, never mixed into the sliding-window ranking
    kinds = {g["kind"] for g in groups[1:]}
    assert {"ttt", "roundtrip"} <= kinds and not any(g["primary"] for g in groups[1:])
    for group in groups:
        assert len({row["id"] for row in group["rows"]}) == len(group["rows"])


def test_the_cpu_demo_is_never_ranked_against_fineweb(client):
    body = client.get("/api/leaderboard").json()
    (demo_group,) = _groups(body, "cpu_demo")
    assert demo_group["corpus"] == "wiki_sp1024 (not FineWeb)" and [r["id"] for r in demo_group["rows"]] == [DEMO_RECORD]
    assert all(DEMO_RECORD not in [r["id"] for r in g["rows"]] for t in body["tracks"] if t["track"] != "cpu_demo"
               for g in t["groups"])
    assert body["warnings"] and "never against FineWeb" in body["warnings"][0]


def test_badges_name_the_rules_that_fail_or_warn(client):
    rows = [row for t in client.get("/api/leaderboard").json()["tracks"] for g in t["groups"] for row in g["rows"]]
    for row in rows:
        statuses = [rule.split(":")[0] for rule in row["flagged_rules"]]
        assert statuses == sorted(statuses, key=lambda s: s != "FAIL")  # failures first
        assert (row["status"] == "PASS") == (not statuses) and (row["status"] == "FAIL") == ("FAIL" in statuses)
    page = client.get("/leaderboard", headers=HTML).text
    assert "WARN: Required files" in page and 'aria-sort="ascending"' in page


def test_sorting_reorders_rows_but_keeps_ranks(client):
    body = client.get("/api/leaderboard", params={"sort": "date", "order": "desc"}).json()
    main = _groups(body, "10min_16mb")[0]
    dates = [row["date"] for row in main["rows"]]
    assert dates == sorted(dates, reverse=True)
    by_rank = sorted(main["rows"], key=lambda row: row["rank"])
    assert [row["score"] for row in by_rank] == sorted(row["score"] for row in main["rows"])


def test_the_ablation_page_warns_when_the_cpu_demo_meets_fineweb_records(client):
    params = {"control": f"record:{CRAWLER_RECORD}", "arm": [f"record:{DEMO_RECORD}"], "kind": "sliding_window"}
    body = client.get("/api/ablation", params=params).json()
    assert body["comparability"].startswith("Not comparable") and "wiki_sp1024" in body["comparability"]
    assert 'id="comparability"' in client.get("/ablation", params=params, headers=HTML).text
    same = client.get("/api/ablation", params={"control": "ablation:tiny_cpu/loops3",
                                               "arm": ["ablation:tiny_cpu/loops1"]}).json()
    assert same["comparability"] is None


def test_the_records_index_labels_the_cpu_demo_and_links_the_leaderboard(client):
    page = client.get("/records", headers=HTML).text
    assert 'href="/leaderboard"' in page and 'id="not-fineweb"' in page
    assert page.count('<span class="corpus-label">wiki_sp1024 (not FineWeb)</span>') == 1
