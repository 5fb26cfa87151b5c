"""The ablation page on the committed tiny_cpu ablation: a Plotly chart that tells significant arms from the rest,
effects printed to the precision their seed spread allows, list-valued settings kept whole in the diff, settings
read from settings lines only, and no delta across corpora."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from evaluator.records.logs import parse_log
from tests.conftest import DEMO_RECORD, REPO, shared_path
from tests.webapp.helpers import catalog_client
from evaluator.serving.arms import log_settings, record_arm
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
    assert loops1 == "loops1<br>(-0.187, p 0.0027)"
    assert [label for label in labels if "n.s." in label] == ["mlp3<br>(-0.027, p 0.23 n.s.)",
                                                               "rope_1_3_9<br>(-0.010, p 0.47 n.s.)"]
    assert labels[loops1] != labels["mlp3<br>(-0.027, p 0.23 n.s.)"]
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


def test_settings_come_from_settings_lines_only(tmp_path):
    """NCCL and torch warnings name source files with a line number (Utils.hpp:137): they are not settings."""
    log = tmp_path / "train.log"
    log.write_text("\n".join([
        "[W329 17:58:54.425576105 Utils.hpp:137] Warning: Environment variable TORCH_NCCL_TRACE_BUFFER_SIZE is deprecated",
        "ip-10-0-1-5:1234:1234 [0] NCCL INFO ibvwrap.c:94 -> 2 Call to ibv_open_device failed",
        "ip-10-0-1-5:1234:1240 [0] NCCL INFO p2p_plugin.c:565 NET/IB : No device found.",
        "W0329 17:58:54.000 torch/distributed/run.py:793 warning",
        "    lr = group[\"lr\"]",
        "world_size:8 grad_accum_steps:1",
        "embed_lr=0.6, matrix_lr=0.026, active_layers:[8, 9, 10]",
        "step:1/20000 train_loss:6.9313 train_time:124ms step_avg:124.26ms",
        "step:10/20000 val_loss:2.0230 val_bpb:1.1982 train_time:1000ms step_avg:74.19ms"]) + "\n")
    assert log_settings(parse_log(log)) == {"world_size": "8", "grad_accum_steps": "1", "embed_lr": "0.6",
                                            "matrix_lr": "0.026", "active_layers": "[8, 9, 10]"}


def test_an_arm_on_another_corpus_gets_no_delta(tmp_path):
    both = catalog_client(tmp_path, [shared_path("records"), REPO / "records"], [REPO / "ablations"])
    params = {"control": "record:2026-03-30_Crawler_Leg3_8xH100", "kind": "sliding_window",
              "arm": ["ablation:tiny_cpu/loops1", "record:2026-03-29_Loader_FullGPTQ_XSA11_BigramHash2816"]}
    body = both.get("/api/ablation", params=params).json()
    cpu, fineweb = body["arms"]
    assert cpu["delta"] is None and cpu["p_value"] is None and cpu["seed_deltas"] == []
    assert cpu["not_comparable"].startswith("other corpus (wiki_sp1024")
    assert fineweb["delta"] is not None and fineweb["not_comparable"] == ""
    bars = next(t for t in both.get("/api/ablation/chart", params=params).json()["panels"][0]["figure"]["data"]
                if t["meta"] == "bar")
    assert len(bars["y"]) == 1 and bars["y"][0].startswith("2026-03-29_Loader")
    page = both.get("/ablation", params=params, headers=HTML).text
    assert 'id="comparability"' in page and "other corpus (wiki_sp1024" in page
