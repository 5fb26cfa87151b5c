"""A real browser (Debian's headless Chromium, driven by selenium) against `pgolf serve`: the records
index, the Micro Crawler record's seed table, and an artifact upload followed to its result."""
from __future__ import annotations

import re

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import CRAWLER_RECORD, shared_path
from tests.webapp.helpers import NEEDS_CHROMIUM, make_settings, serve

pytestmark = NEEDS_CHROMIUM

@pytest.fixture
def server(tmp_path, eval_data):
    records = shared_path("records")
    settings = make_settings(tmp_path, eval_data)
    yield from serve(["--records", str(records), "--data-dir", str(settings.data_dir)], settings.as_environment(),
                     tmp_path / "serve.log", "/api/evaluations")


def test_records_record_and_upload_in_a_browser(server, browser, tiny_artifact, tmp_path):
    wait = WebDriverWait(browser, 30)
    browser.get(f"{server}/records")
    rows = browser.find_elements(By.CSS_SELECTOR, "#records tbody tr")
    assert len(rows) == 31
    browser.save_screenshot(str(tmp_path / "records.png"))

    browser.find_element(By.LINK_TEXT, "Crawler").click()
    wait.until(expected_conditions.url_contains(CRAWLER_RECORD))
    seed_rows = browser.find_elements(By.CSS_SELECTOR, "#seed-table tbody tr")
    seeds = [row.find_element(By.CSS_SELECTOR, "td").text for row in seed_rows]
    headline = [row.find_element(By.CSS_SELECTOR, "td.headline").text for row in seed_rows]
    assert seeds == ["1337", "42", "300"]
    assert headline == ["1.18720375", "1.18761637", "1.18745690"]
    assert browser.find_element(By.CSS_SELECTOR, "#seed-summary td.headline").text == "1.18742567"
    browser.save_screenshot(str(tmp_path / "record.png"))

    browser.get(f"{server}/evaluations")
    browser.find_element(By.ID, "artifact-input").send_keys(str(tiny_artifact))
    browser.find_element(By.ID, "upload-button").click()
    wait.until(expected_conditions.url_matches(r"/evaluations/\d+$"))
    # the page reloads itself when the job ends, so the state is read in one script: an element found before the
    # reload and read after it is stale (a selenium race that failed CI)
    WebDriverWait(browser, 240, poll_frequency=0.5).until(lambda driver: driver.execute_script(
        "const state = document.getElementById('job-state'); return state && state.textContent;") in ("done", "failed"))
    state = browser.find_element(By.ID, "job-state").text
    assert state == "done", browser.find_element(By.ID, "job-error").text
    assert browser.find_element(By.ID, "inputs-started").text.endswith("UTC")  # the Inputs table's start, filled
    cells = browser.find_elements(By.CSS_SELECTOR, "#bpb tbody td.headline")
    assert len(cells) == 2 and all(re.fullmatch(r"\d+\.\d{8}", cell.text) for cell in cells)
    browser.save_screenshot(str(tmp_path / "evaluation.png"))
