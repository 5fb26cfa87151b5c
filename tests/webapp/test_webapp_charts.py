"""Interactive charts: plotly.js served from the installed package, and each record's curves as Plotly figures
(every point drawn, final scores starred, no empty time panel), on the real records under ../shared/records."""
from __future__ import annotations

import plotly
import pytest

from tests.conftest import CRAWLER_RECORD, shared_path
from webapp.charts import LOG_Y_RATIO, PLOTLY_JS, Series, figure

HTML = {"accept": "text/html"}
NO_VAL_TIME = "2026-04-09_SP8192_3LayerRecur_ParResid_QK525_LegalTTT"


@pytest.fixture(autouse=True)
def _needs_shared_records():
    shared_path("records")


def test_plotly_bundle_is_the_installed_packages_file(client):
    page = client.get(f"/records/{CRAWLER_RECORD}", headers=HTML).text
    url = f"/vendor/plotly-{plotly.__version__}.min.js"
    assert f'<script src="{url}"></script>' in page and "cdn" not in page.lower()
    response = client.get(url)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/javascript")
    assert response.content == PLOTLY_JS.read_bytes() and "immutable" in response.headers["cache-control"]


def test_record_curves_draw_every_point_and_star_each_seeds_final_score(client):
    body = client.get(f"/api/records/{CRAWLER_RECORD}/charts").json()
    assert [p["id"] for p in body["panels"]] == ["val-step", "val-time", "train-step", "train-time"]
    val = body["panels"][0]
    curves = [t for t in val["figure"]["data"] if t["meta"] == "curve"]
    stars = [t for t in val["figure"]["data"] if t["meta"] == "final"]
    assert [t["name"] for t in curves] == ["seed 1337", "seed 42", "seed 300"]
    # the record's sliding-window scores, as the seed table shows them, at each run's last step
    assert [round(t["y"][0], 8) for t in stars] == [1.18720375, 1.18761637, 1.18745690]
    assert all(star["x"][0] >= max(curve["x"]) for star, curve in zip(stars, curves))
    # step 0 is drawn (no clipped point making a spike), and a fall that steep opens on a log axis
    first = curves[0]
    assert first["x"][0] == 0 and val["log_y"] and val["figure"]["layout"]["yaxis"]["type"] == "log"
    assert "yaxis" not in val["figure"]["layout"] or "range" not in val["figure"]["layout"]["yaxis"]


def test_a_record_without_time_on_its_validation_lines_gets_no_empty_time_panel(client):
    panels = {p["id"]: p for p in client.get(f"/api/records/{NO_VAL_TIME}/charts").json()["panels"]}
    assert panels["val-time"]["figure"] is None and "no training time" in panels["val-time"]["missing"]
    assert panels["val-step"]["figure"] and panels["train-time"]["figure"]


def test_a_flat_curve_stays_on_a_linear_axis():
    flat = Series("a", "a", [0, 1, 2], [0.0, 1.0, 2.0], [1.2, 1.15, 1.1])
    steep = Series("b", "b", [0, 1, 2], [None, None, None], [1.2 * LOG_Y_RATIO + 0.1, 1.5, 1.2])
    assert figure([flat], "step", "step", "bpb")[1] is False
    assert figure([steep], "step", "step", "bpb")[1] is True
    fig, log_y = figure([steep], "time", "time", "bpb")
    assert fig["data"] == [] and log_y is False  # no time: nothing is drawn against time
