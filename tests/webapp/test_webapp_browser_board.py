"""A real browser (headless Chromium via selenium) on `pgolf serve` over the real records and the CPU demo record, at
1440 and 390 px: the leaderboard ranks one table per track by submitted score with the failing records listed below
it, badges give the verdict with the actual findings, the status filters return rows, and the score stays on screen
on a phone."""
from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import DEMO_RECORD, REPO, shared_path
from tests.evaluator.builders import hand_record
from tests.webapp.helpers import NEEDS_CHROMIUM, serve

pytestmark = NEEDS_CHROMIUM

WIDTHS = (1440, 390)
OVER_CAP = "2026-04-06_SP8192_HessianSDClip_ProgressiveRecurrence"
NO_CODE = "2026-05-01_NoCode"  # a record without train_gpt.py, on disk or in a manifest


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("board")
    (hand_record(tmp / "extra" / "track_10min_16mb" / NO_CODE) / "train_gpt.py").unlink()
    yield from serve(["--records", str(shared_path("records")), "--records", str(REPO / "records"), "--records",
                      str(tmp / "extra"), "--ablations",
                      str(REPO / "ablations"), "--runs", str(tmp / "runs"), "--data-dir", str(tmp / "web"),
                      "--no-worker"], {}, tmp / "serve.log", "/api/leaderboard")


def _width(driver, width: int) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 800})


def _on_screen(driver, element) -> bool:
    """Displayed, and inside the viewport's width (not cut off to the right of a phone's screen)."""
    left, right = driver.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.left, r.right]",
                                        element)
    return element.is_displayed() and left >= 0 and right <= driver.execute_script("return window.innerWidth")


@pytest.mark.parametrize("width", WIDTHS)
def test_the_leaderboard_ranks_like_the_challenge(server, browser, width):
    _width(browser, width)
    browser.get(f"{server}/leaderboard")
    table = browser.find_element(By.CSS_SELECTOR, 'table.leaderboard[data-track="10min_16mb"][data-primary="yes"]')
    rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
    scores = [float(row.find_element(By.CSS_SELECTOR, "td.score").text.split()[0]) for row in rows]
    assert scores == sorted(scores)
    first = rows[0]
    assert first.find_element(By.CSS_SELECTOR, "td.rank").text == "1"
    assert _on_screen(browser, first.find_element(By.CSS_SELECTOR, "td.score"))
    ids = [row.get_attribute("data-id") for row in rows]
    assert OVER_CAP not in ids
    kept_out = browser.find_element(By.CSS_SELECTOR, 'table.kept-out[data-track="10min_16mb"]')
    over = kept_out.find_element(By.CSS_SELECTOR, f'tr[data-id="{OVER_CAP}"]')
    assert "Size <= 16,000,000 bytes: worst seed 16,059,704 bytes as logged exceeds" in over.text
    demo = browser.find_element(By.CSS_SELECTOR, 'table.leaderboard[data-track="cpu_demo"]')
    assert demo.get_attribute("data-primary") == "no" and DEMO_RECORD in demo.get_attribute("innerHTML")
    if width == 1440:
        single = [row for row in rows if row.find_elements(By.CSS_SELECTOR, ".one-seed")]
        assert single and all(row.find_element(By.CSS_SELECTOR, "td.seeds").text.startswith("1") for row in single)
        kinds = {row.find_element(By.CSS_SELECTOR, "td.kind").text for row in rows}
        assert {"TTT", "sliding window", "roundtrip"} <= {k for k in kinds}, kinds
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_the_kind_filter_shows_one_kind_with_the_tracks_ranks(server, browser):
    browser.get(f"{server}/leaderboard")
    ranks = {row.get_attribute("data-id"): row.find_element(By.CSS_SELECTOR, "td.rank").text for row in
             browser.find_elements(By.CSS_SELECTOR, 'table.leaderboard[data-track="10min_16mb"][data-primary="yes"] tbody tr')}
    Select(browser.find_element(By.ID, "kind-filter")).select_by_value("ttt")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    WebDriverWait(browser, 30).until(expected_conditions.url_contains("kind=ttt"))
    rows = browser.find_elements(By.CSS_SELECTOR,
                                 'table.leaderboard[data-track="10min_16mb"][data-primary="yes"] tbody tr')
    assert 0 < len(rows) < len(ranks)
    for row in rows:
        assert row.find_element(By.CSS_SELECTOR, "td.kind").text == "TTT"
        assert row.find_element(By.CSS_SELECTOR, "td.rank").text == ranks[row.get_attribute("data-id")]


@pytest.mark.parametrize("width", WIDTHS)
def test_badges_say_the_fault_and_the_filters_return_rows(server, browser, width):
    _width(browser, width)
    for status in ("PASS", "WARN", "FAIL"):
        browser.get(f"{server}/records?status={status}")
        rows = browser.find_elements(By.CSS_SELECTOR, "#records tbody tr")
        assert rows, f"no rows for {status}"
        for row in rows:
            badge = row.find_element(By.CSS_SELECTOR, "td.compliance .badge")
            assert badge.text == status and _on_screen(browser, badge)
            assert _on_screen(browser, row.find_element(By.CSS_SELECTOR, "td.score"))
    browser.get(f"{server}/records?q={NO_CODE}")
    row = browser.find_element(By.CSS_SELECTOR, "#records tbody tr")
    assert row.find_element(By.CSS_SELECTOR, "td.compliance .badge").text == "PASS"
    row.find_element(By.CSS_SELECTOR, "details.rules summary").click()
    findings = row.find_element(By.CSS_SELECTOR, "ul.rules").text
    assert "FAIL: Required files" in findings and "Size" not in findings
    browser.get(f"{server}/records/{NO_CODE}")
    size_row = browser.find_element(By.CSS_SELECTOR, '#compliance tr[data-rule="size"]')
    assert "PASS" in size_row.text and "code size unknown: train_gpt.py absent" in size_row.text
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_small_items_seed_header_favicon_readme_images(server, browser):
    browser.get(f"{server}/records/2026-03-17_LoRA_TTT")
    headers = browser.find_elements(By.CSS_SELECTOR, "#seed-table thead th")
    assert headers and "class=" not in "".join(th.text for th in headers)
    assert [th.get_attribute("class") for th in headers] == ["" if th.text == "Log" else "num" for th in headers]
    assert "num" in {th.get_attribute("class") for th in headers}
    readme = browser.find_element(By.CSS_SELECTOR, "article.readme")
    assert "[image not shown: ablations (ablations.png)]" in readme.text
    loaded = browser.execute_script("return fetch('/favicon.ico').then(r => [r.status, r.headers.get('content-type')])")
    assert loaded == [200, "image/svg+xml"]
    icon = browser.find_element(By.CSS_SELECTOR, 'link[rel="icon"]').get_attribute("href")
    assert icon.endswith("/static/favicon.svg")
