"""A real browser (headless Chromium via selenium) on a job's page, at 1440 and 390 px: opened while the job is queued,
then the job is put in the state a worker leaves it in mid-way through its sliding-window pass (the plan with the
loop-wise analysis weighed and the stages' starts stamped), and the page's script, polling the API, shows the
progress over every stage, an estimate of the time left, the stage's count in targets and the start time, in the
Inputs table too."""
from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import update

from tests.webapp.helpers import NEEDS_CHROMIUM, make_settings, serve
from webapp.app import create_app
from webapp.tables import Evaluation, utcnow

pytestmark = NEEDS_CHROMIUM


@pytest.fixture
def queued_job(tmp_path, eval_data, tiny_artifact):
    """The queued job's page URL, and what puts the job half-way through its sliding-window pass."""
    settings = make_settings(tmp_path, eval_data)
    client = TestClient(create_app(settings))
    job_id = client.post("/api/evaluations", files={"artifact": ("tiny.ptz", tiny_artifact.read_bytes())}
                         ).json()["evaluation"]["id"]

    def run_half_way() -> None:
        now = utcnow()
        began = time.time() - 60  # scoring began 60 s ago, after 20 s of loading
        with client.app.state.sessions.begin() as session:
            session.execute(update(Evaluation).where(Evaluation.id == job_id).values(
                state="running", stage="sliding_window", attempts=1, worker="w",
                started_at=now - timedelta(seconds=80), heartbeat_at=now, scored=512, to_score=1024,
                plan=[["roundtrip", 1000, began], ["sliding_window", 4000, began + 20], ["loops", 1000, None]]))

    for url in serve(["--records", str(tmp_path / "records"), "--data-dir", str(settings.data_dir), "--no-worker"],
                     settings.as_environment(), tmp_path / "serve.log", "/api/evaluations"):
        yield url + f"/evaluations/{job_id}", run_half_way


@pytest.mark.parametrize("width", (1440, 390))
def test_a_running_job_shows_every_stage_and_its_estimate(queued_job, browser, width):
    url, run_half_way = queued_job
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 800})
    browser.get(url)  # opened while queued: the page's start times say "—" until the job starts
    assert browser.find_element(By.ID, "inputs-started").text == "—"
    run_half_way()
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "inputs-started").text.endswith("UTC"))
    time.sleep(1.5)
    # (1,000 + half of 4,000) of 6,000: the analysis is in the figure
    assert browser.find_element(By.ID, "job-percent").text == "50%"
    # the sliding pass goes at 2,000 per 40 s: 3,000 left take about 60 s (the page counts down since)
    eta = browser.find_element(By.ID, "job-eta").text
    minutes, seconds = re.fullmatch(r"about (\d+):(\d\d) left \(estimate\)", eta).groups()
    assert 50 <= int(minutes) * 60 + int(seconds) <= 62, eta
    assert browser.find_element(By.ID, "job-stage").text == "sliding-window evaluation: 512 of 1,024 targets"
    assert not browser.find_element(By.ID, "job-outside").is_displayed()
    started = browser.find_element(By.ID, "inputs-started").text
    assert started.endswith("UTC") and started == browser.find_element(By.ID, "job-started").text
    scroll_width, inner_width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll_width <= inner_width
