"""The ablation page on the committed tiny_cpu ablation: a Plotly chart that tells significant arms from the rest,
effects printed to the precision their seed spread allows, and list-valued settings kept whole in the diff."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import DEMO_RECORD, REPO, shared_path
from tests.webapp.helpers import catalog_client
from webapp.arms import record_arm
from webapp.charts import effect_decimals

HTML = {"accept": "text/html"}
TINY = {"control": "ablation:tiny_cpu/loops3",
        "arm": ["ablation:tiny_cpu/loops1", "ablation:tiny_cpu/mlp3", "ablation:tiny_cpu/rope_1_3_9"],
        "kind": "sliding_window"}


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> TestClient:
    return catalog_client(tmp_path_factory.mktemp("ablation-chart"), [shared_path("records")], [REPO / "ablations"])


def test_significant_arms_are_solid_and_the_rest_marked_not_significant(client):
    (panel,) = client.get("/api/ablation/chart", params=TINY).json()["panels"]
    assert panel["controls"] is False  # bars: nothing to smooth, no log axis
    bars = next(t for t in panel["figure"]["data"] if t["meta"] == "bar")
    labels = dict(zip(bars["y"], bars["marker"]["color"]))
    # the README's table: loops1 -0.18673 (p 0.00266); mlp3 and rope_1_3_9 are not distinguishable (p 0.229, 0.468)
    (loops1,) = [label for label in labels if label.startswith("loops1")]
    assert loops1 == "loops1 (-0.187, p 0.0027)"
    assert [label for label in labels if "n.s." in label] == ["mlp3 (-0.027, p 0.23 n.s.)",
                                                               "rope_1_3_9 (-0.010, p 0.47 n.s.)"]
    assert labels[loops1] != labels["mlp3 (-0.027, p 0.23 n.s.)"]
    seeds = next(t for t in panel["figure"]["data"] if t["meta"] == "seeds")
    assert len(seeds["x"]) == 9


def test_effects_are_printed_to_the_precision_of_their_spread(client):
    assert (effect_decimals(0.02), effect_decimals(0.0035), effect_decimals(None)) == (3, 4, 5)
    page = client.get("/ablation", params=TINY, headers=HTML).text
    assert "-0.187<span" in page and "-0.18673" not in page and "-0.18672" not in page


def test_a_list_valued_setting_is_kept_whole(client):
    entry = client.app.state.catalog.get("2026-03-20_11L_EfficientPartialXSA_FA3_SWA120")
    assert record_arm(entry).settings["active_layers"] == "[8, 9, 10]"


def test_a_logged_json_config_is_compared_setting_by_setting(tmp_path):
    demo = catalog_client(tmp_path, [REPO / "records"], [REPO / "ablations"])
    entry = demo.app.state.catalog.get(DEMO_RECORD)
    settings = record_arm(entry).settings
    assert "config" not in settings and settings["crawler_loops"] == "3" and settings["loop_rope_scales"] == "[]"
    body = demo.get("/api/ablation", params={"control": "ablation:tiny_cpu/loops3",
                                             "arm": [f"record:{DEMO_RECORD}"]}).json()
    diff = {d["key"]: (d["control"], d["arm"]) for d in body["arms"][0]["settings_diff"]}
    assert diff["max_wallclock_seconds"] == ("150.0", "270.0") and "crawler_loops" not in diff
