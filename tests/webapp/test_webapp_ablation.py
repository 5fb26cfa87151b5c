"""Ablations: records and training runs as arms against a control, with settings diffs and deltas."""
from __future__ import annotations

import json
import shutil

import pytest
from fastapi.testclient import TestClient

from evaluator.ablation.summary import build_report
from tests.conftest import CRAWLER_RECORD, shared_path
from tests.webapp.helpers import make_settings
from webapp.app import create_app

BASELINE = "2026-03-22_11L_EMA_GPTQ-lite_warmdown3500_QAT015_1.1233"


@pytest.fixture
def client(tmp_path, eval_data):
    """Two runs made from the crawler record's seed logs: the same but for crawler_loops (and the seed)."""
    logs = shared_path("records", "track_10min_16mb", CRAWLER_RECORD)
    for name, seed, loops in (("loops3", 1337, 3), ("loops4", 42, 4)):
        run = tmp_path / "runs" / name
        run.mkdir(parents=True)
        shutil.copy(logs / f"train_seed{seed}.log", run / "train.log")
        (run / "config.json").write_text(json.dumps({"model_dim": 512, "crawler_loops": loops, "seed": seed}))
    return TestClient(create_app(make_settings(tmp_path, eval_data)))


def test_choices_list_records_and_runs(client):
    body = client.get("/api/ablation").json()
    ids = {choice["id"] for choice in body["choices"]}
    assert {f"record:{CRAWLER_RECORD}", "run:loops3", "run:loops4"} <= ids and body["control"] is None


def test_runs_against_a_run_show_the_setting_that_differs(client):
    body = client.get("/api/ablation", params={"control": "run:loops3", "arm": ["run:loops4"]}).json()
    assert body["kind"] == "sliding_window" and body["control"]["delta"] == 0.0
    (arm,) = body["arms"]
    assert arm["settings_diff"] == [{"key": "crawler_loops", "control": "3", "arm": "4"}]  # the seed is no setting
    assert arm["delta"] == pytest.approx(1.18761637 - 1.18720375, abs=1e-9)
    assert arm["p_value"] is None  # one seed per side: no Welch test
    assert arm["worst_total_bytes"] == 9_362_069 and arm["steps"] == 8119


def test_records_as_arms_have_seed_spread_and_p_values(client):
    params = {"control": f"record:{CRAWLER_RECORD}", "arm": [f"record:{BASELINE}", "run:loops4"]}
    body = client.get("/api/ablation", params=params).json()
    record_arm, run_arm = body["arms"]
    assert len(record_arm["seed_deltas"]) == 3 and record_arm["delta"] < 0 and record_arm["p_value"] < 0.01
    assert record_arm["bpb"]["sliding_window"]["n"] == 3 and record_arm["bpb"]["sliding_window"]["std"] > 0
    assert body["control"]["bpb"]["sliding_window"]["mean"] == pytest.approx(1.18742567, abs=5e-9)
    assert any(diff["key"] == "model_params" for diff in record_arm["settings_diff"])
    assert set(body["kinds"]) >= {"roundtrip", "sliding_window"}
    roundtrip = client.get("/api/ablation", params={**params, "kind": "roundtrip"}).json()
    assert roundtrip["kind"] == "roundtrip" and roundtrip["arms"][0]["delta"] != record_arm["delta"]
    page = client.get("/ablation", params=params, headers={"accept": "text/html"})
    assert page.status_code == 200 and 'id="ablation"' in page.text and 'data-src="/api/ablation/chart?' in page.text
    (panel,) = client.get("/api/ablation/chart", params=params).json()["panels"]
    assert "vs control" in panel["figure"]["layout"]["xaxis"]["title"]["text"]


def test_bad_ablation_requests(client):
    assert client.get("/api/ablation", params={"control": "record:nope"}).status_code == 404
    response = client.get("/api/ablation", params={"control": "run:loops3", "kind": "best"})
    assert response.status_code == 422 and "unknown metric kind" in response.json()["detail"]


def test_ablations_run_by_pgolf_ablate_are_arms_and_ready_comparisons(micro_ablation, tmp_path, eval_data):
    plan, _ = micro_ablation
    client = TestClient(create_app(make_settings(tmp_path, eval_data, ablations=[plan.results_dir.parent])))
    body = client.get("/api/ablation").json()
    (link,) = body["ablations"]
    assert link["name"] == "micro" and link["control"] == "ablation:micro/loops2"
    assert link["arms"] == ["ablation:micro/loops1", "ablation:micro/broken"]
    assert (link["finished"], link["failed"], link["total"]) == (4, 2, 6)
    assert {"ablation:micro/loops2", "ablation:micro/loops1"} <= {c["id"] for c in body["choices"]}

    params = {"control": link["control"], "arm": link["arms"], "kind": "sliding_window"}
    compared = client.get("/api/ablation", params=params).json()
    loops1, broken = compared["arms"]
    expected = build_report(plan).comparison.arms[0]
    assert loops1["delta"] == pytest.approx(expected.delta, abs=1e-12) and loops1["p_value"] == pytest.approx(expected.p_value)
    assert loops1["settings_diff"] == [{"key": "crawler_loops", "control": "2", "arm": "1"}]
    assert loops1["quant_gap"]["n"] == 2 and loops1["quant_gap"]["mean"] == pytest.approx(expected.quant_gap.mean)
    assert broken["delta"] is None and broken["seeds"] == []
    page = client.get("/ablation", params=params, headers={"accept": "text/html"})
    assert page.status_code == 200 and 'id="ablation-files"' in page.text and "micro/loops1" in page.text
    assert "Quant gap" in page.text and "two-sided" in page.text


def test_an_ablation_arm_and_a_training_run_differ_only_in_real_settings(micro_ablation, tmp_path, eval_data):
    """The same config reads the same whichever source it comes from: no diff from folders or tuple spelling."""
    plan, _ = micro_ablation
    settings = make_settings(tmp_path, eval_data, ablations=[plan.results_dir.parent], runs=[plan.runs_dir])
    params = {"control": "run:loops2_s1", "arm": ["ablation:micro/loops1"], "kind": "sliding_window"}
    (arm,) = TestClient(create_app(settings)).get("/api/ablation", params=params).json()["arms"]
    assert arm["settings_diff"] == [{"key": "crawler_loops", "control": "2", "arm": "1"}]
