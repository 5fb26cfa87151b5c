"""The loop-wise view: the worker's analysis after an evaluation (the runner called directly, as a worker
would), its page, JSON and plots, and the same view of a record folder's loops/ written by `pgolf loops`."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import DEMO_RECORD, REPO
from tests.webapp.helpers import make_settings
from webapp.app import create_app
from webapp.db import init_db, make_engine
from evaluator.service import LOOPS_PASSES
from webapp.job_runner import JobRunner
from webapp.tables import Evaluation


def _evaluated(tmp_path, eval_data, tiny_artifact, **overrides) -> tuple[TestClient, int]:
    """A client and the id of an upload of the tiny artifact, evaluated by the runner in this process."""
    settings = make_settings(tmp_path, eval_data, records=[REPO / "records"], **overrides)
    client = TestClient(create_app(settings))
    job_id = client.post("/api/evaluations", files={"artifact": ("tiny.ptz", tiny_artifact.read_bytes())}
                         ).json()["evaluation"]["id"]
    JobRunner(settings, init_db(make_engine(settings), settings))(job_id)
    return client, job_id


@pytest.fixture(scope="module")
def analysed(tmp_path_factory, eval_data, tiny_artifact) -> tuple[TestClient, int]:
    # 8 windows of the tiny model's 32 tokens: seconds on one CPU core
    return _evaluated(tmp_path_factory.mktemp("loops"), eval_data, tiny_artifact, loops_tokens=256)


def test_the_worker_stores_the_analysis_and_the_json_has_a_row_per_stage(analysed):
    client, job_id = analysed
    done = client.get(f"/api/evaluations/{job_id}").json()
    assert done["state"] == "done", done["error"]
    assert done["result"]["has_loops"] and "loops" not in done["result"]  # the report has its own endpoint
    view = client.get(f"/api/evaluations/{job_id}/loops").json()
    config = done["result"]["config"]
    stages = [row["stage"] for row in view["stages"]]
    assert len(stages) == 1 + config["num_flat_layers"] + config["num_crawler_layers"] * config["crawler_loops"]
    assert stages[0] == "embed" and stages.count("crawler0@0") == 1
    assert view["slice"]["tokens"] == 256 and view["slice"]["seed"] == 0
    assert [e["loops"] for e in view["early_exit"] if e["trained"]] == [config["crawler_loops"]]
    assert len(view["loop_steps"]) == config["crawler_loops"]
    assert {"logit_lens", "early_exit", "similarity"} <= set(view["plots"])


def test_the_page_shows_the_tables_and_plots_and_the_result_links_to_it(analysed):
    client, job_id = analysed
    page = client.get(f"/evaluations/{job_id}/loops")
    assert page.status_code == 200
    for part in ('id="stages"', 'id="early-exit"', 'id="loop-steps"', "crawler0@0",
                 f'href="/evaluations/{job_id}/loops/logit_lens.png"'):
        assert part in page.text
    assert f'href="/evaluations/{job_id}/loops"' in client.get(f"/evaluations/{job_id}").text
    assert f'data-src="/api/evaluations/{job_id}/loops/charts"' in page.text


def test_the_loop_charts_are_plotly_figures_of_the_report(analysed):
    client, job_id = analysed
    view = client.get(f"/api/evaluations/{job_id}/loops").json()
    panels = {p["id"]: p for p in client.get(f"/api/evaluations/{job_id}/loops/charts").json()["panels"]}
    assert {"loops-logit_lens", "loops-early_exit", "loops-repr_change", "loops-similarity",
            "loops-attention_distance", "loops-activations"} <= set(panels)
    lens = panels["loops-logit_lens"]["figure"]["data"][0]
    assert lens["x"] == [row["stage"] for row in view["stages"]] and lens["y"] == [row["lens_bpb"] for row in view["stages"]]
    exits = panels["loops-early_exit"]["figure"]["data"]
    trained = next(t for t in exits if t["name"] == "trained loop count")
    assert trained["x"] == [e["loops"] for e in view["early_exit"] if e["trained"]]
    # every drawn line or marker set has its legend entry
    for panel in panels.values():
        for trace in panel["figure"]["data"]:
            assert trace["type"] == "heatmap" or trace.get("showlegend", True)
    assert client.get(f"/api/evaluations/{job_id + 1}/loops/charts").status_code == 404


def test_plots_are_served_by_name_only(analysed):
    client, job_id = analysed
    plot = client.get(f"/evaluations/{job_id}/loops/early_exit.png")
    assert plot.status_code == 200 and plot.headers["content-type"] == "image/png"
    assert plot.content.startswith(b"\x89PNG")
    assert client.get(f"/evaluations/{job_id}/loops/nonsense.png").status_code == 404
    assert client.get(f"/evaluations/{job_id}/loops/..%2Floops.json.png").status_code == 404
    assert client.get(f"/evaluations/{job_id + 1}/loops").status_code == 404


def test_without_the_analysis_there_is_no_link_and_no_view(tmp_path, eval_data, tiny_artifact):
    client, job_id = _evaluated(tmp_path, eval_data, tiny_artifact, loops_tokens=0)
    result = client.get(f"/api/evaluations/{job_id}").json()["result"]
    assert not result["has_loops"]
    assert f"/evaluations/{job_id}/loops" not in client.get(f"/evaluations/{job_id}").text
    assert client.get(f"/api/evaluations/{job_id}/loops").status_code == 404
    assert client.get(f"/evaluations/{job_id}/loops/logit_lens.png").status_code == 404


def test_a_record_with_a_loops_folder_gets_the_same_view(analysed):
    client, _ = analysed
    record_id = next(r["id"] for r in client.get("/api/records").json()["rows"]
                     if r["folder"].endswith(DEMO_RECORD))
    assert f'href="/records/{record_id}/loops"' in client.get(f"/records/{record_id}").text
    view = client.get(f"/api/records/{record_id}/loops").json()
    assert view["stages"][0]["stage"] == "embed" and view["stages"][0]["quant_error"] is not None
    page = client.get(f"/records/{record_id}/loops")
    assert page.status_code == 200 and f'href="/records/{record_id}/loops/quant_error.png"' in page.text
    plot = client.get(f"/records/{record_id}/loops/similarity.png")
    assert plot.status_code == 200 and plot.headers["content-type"] == "image/png"
    assert client.get(f"/records/{record_id}/loops/loops.png").status_code == 404
    panels = client.get(f"/api/records/{record_id}/loops/charts").json()["panels"]
    assert "loops-quant_error" in [p["id"] for p in panels]


def test_the_analysis_is_weighed_in_the_plan_at_what_the_last_one_cost(analysed):
    client, job_id = analysed
    sessions = client.app.state.sessions
    with sessions() as session:
        first = session.get(Evaluation, job_id)
        plan, measured = first.plan, first.result["timing"]["loops_passes"]
    assert plan[-1][:2] == ["loops", 256 * LOOPS_PASSES] and all(entry[2] for entry in plan)  # the prior, stamped
    assert measured > 0
    files = {"artifact": ("tiny.ptz", client.app.state.store.path(first.artifact_sha256).read_bytes()),
             "config": ("c.json", b'{"eval_stride": 8}')}
    second = client.post("/api/evaluations", files=files).json()["evaluation"]["id"]
    JobRunner(client.app.state.settings, sessions)(second)
    with sessions() as session:
        assert session.get(Evaluation, second).plan[-1][1] == round(256 * measured)
