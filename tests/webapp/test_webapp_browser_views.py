"""A real browser (Debian's headless Chromium, driven by selenium) on `pgolf serve` over the real records, the CPU demo
record and the committed tiny_cpu ablation: the overlay (three items, a hovered point, log-y), the leaderboard's sort,
an evidence link into the log viewer, and every one of those pages at 1440 and 390 px without horizontal overflow.

With PGOLF_SCREENSHOTS=FOLDER the screenshots go there (the README's docs/overlay.png and docs/leaderboard.png are
made so), else into the test's temporary folder."""
from __future__ import annotations

import os
import time
import urllib.request
from pathlib import Path

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import CRAWLER_RECORD, DEMO_RECORD, REPO, shared_path
from tests.webapp.helpers import NEEDS_CHROMIUM, serve

pytestmark = NEEDS_CHROMIUM

EMA = "2026-03-22_11L_EMA_GPTQ-lite_warmdown3500_QAT015_1.1233"
WIDTHS = (1440, 390)


def _serve(tmp_path: Path, **environ: str):
    # no worker: nothing is evaluated here
    yield from serve(["--records", str(shared_path("records")), "--records", str(REPO / "records"), "--ablations",
                      str(REPO / "ablations"), "--runs", str(tmp_path / "runs"), "--data-dir", str(tmp_path / "web"),
                      "--no-worker"], environ, tmp_path / "serve.log", "/api/leaderboard")


@pytest.fixture
def server(tmp_path):
    yield from _serve(tmp_path)


@pytest.fixture
def small_upload_server(tmp_path):
    yield from _serve(tmp_path, PGOLF_UPLOAD_MAX_BYTES="4096")


def _charts_ready(driver) -> bool:
    states = driver.execute_script("return Array.from(document.querySelectorAll('.charts')).map(c => c.dataset.ready)")
    assert "error" not in states
    return all(state == "1" for state in states)


def _shoot(driver, width: int, path: Path) -> None:
    """The page at `width` CSS pixels (as a phone reports it at 390), as tall as its content up to 2,400 px."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 800})
    time.sleep(0.5)  # plotly redraws its charts on the resize
    height = min(driver.execute_script("return document.documentElement.scrollHeight"), 2400)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 800})
    driver.execute_script("window.scrollTo(0, 0)")  # the page from its top, wherever a hover left it
    time.sleep(0.5)
    scroll_width, inner_width = driver.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll_width <= inner_width, f"{driver.current_url} overflows at {width} px: {scroll_width} > {inner_width}"
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_overlay_leaderboard_and_log_viewer_in_a_browser(server, browser, tmp_path):
    shots = Path(os.environ.get("PGOLF_SCREENSHOTS") or tmp_path)
    browser.set_window_size(1440, 1000)
    wait = WebDriverWait(browser, 30)

    # the overlay: three items picked from the list, then a point hovered and the log axis switched off
    browser.get(f"{server}/overlay")
    for item in (f"record:{CRAWLER_RECORD}", f"record:{EMA}", "ablation:tiny_cpu/loops1"):
        box = browser.find_element(By.CSS_SELECTOR, f'input[name="item"][value="{item}"]')
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
        box.click()
    browser.find_element(By.ID, "overlay-submit").click()
    wait.until(expected_conditions.url_contains("item="))
    wait.until(_charts_ready)
    rows = browser.find_elements(By.CSS_SELECTOR, "#overlay-table tbody tr")
    # in the list's order: the EMA record (the reference), the Crawler 0.06411 BPB above it, the CPU arm apart
    assert len(rows) == 3 and "reference" in rows[0].text and "+0.06411" in rows[1].text
    assert "other corpus" in rows[2].text
    plot = browser.find_element(By.CSS_SELECTOR, "#overlay-step .js-plotly-plot")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", plot)
    # the EMA record's last validation point, in pixels from the plot's top left
    x, y = browser.execute_script("""
        const gd = arguments[0], trace = gd.data.findIndex(t => t.legendgroup.includes(arguments[1]) && t.meta === 'curve');
        const xs = gd.data[trace].x, ys = gd.data[trace].y, n = xs.length - 1, L = gd._fullLayout;
        return [L._size.l + L.xaxis.l2p(xs[n]), L._size.t + L.yaxis.l2p(L.yaxis.type === 'log' ? Math.log10(ys[n]) : ys[n])];
        """, plot, EMA)
    size = plot.size
    ActionChains(browser).move_to_element_with_offset(plot, int(x - size["width"] / 2), int(y - size["height"] / 2)).perform()
    # read in one script: plotly may redraw its hover label, and a label found before a redraw is stale when read
    hover = wait.until(lambda d: d.execute_script(
        "const label = document.querySelector('#overlay-step .hoverlayer .hovertext'); return label && label.textContent;"))
    assert EMA[:20] in hover and "val BPB" in hover
    assert browser.execute_script("return arguments[0]._fullLayout.yaxis.type", plot) == "log"
    browser.find_element(By.CSS_SELECTOR, "#overlay-step input.logy").click()
    wait.until(lambda d: d.execute_script("return arguments[0]._fullLayout.yaxis.type", plot) == "linear")
    share = browser.find_element(By.ID, "share-link").get_attribute("href")
    assert share == browser.current_url
    for width in WIDTHS:
        _shoot(browser, width, shots / f"overlay{'' if width == 1440 else '-390'}.png")

    # the leaderboard: ranked by score, then sorted by date at a click, ranks kept
    browser.get(f"{server}/leaderboard")
    table = browser.find_element(By.CSS_SELECTOR, 'table.leaderboard[data-track="10min_16mb"][data-primary="yes"]')
    ranks = [int(td.text) for td in table.find_elements(By.CSS_SELECTOR, "td.rank")]
    assert ranks == sorted(ranks) and ranks[0] == 1
    for width in WIDTHS:
        _shoot(browser, width, shots / f"leaderboard{'' if width == 1440 else '-390'}.png")
    table.find_element(By.CSS_SELECTOR, 'a.sort[data-sort="date"]').click()
    wait.until(expected_conditions.url_contains("sort=date"))
    table = browser.find_element(By.CSS_SELECTOR, 'table.leaderboard[data-track="10min_16mb"][data-primary="yes"]')
    dates = [td.text for td in table.find_elements(By.CSS_SELECTOR, "td.nowrap")]
    assert dates == sorted(dates, reverse=True)
    assert sorted(int(td.text) for td in table.find_elements(By.CSS_SELECTOR, "td.rank")) == sorted(ranks)

    # the record page's curves, then an evidence link into the log viewer, at the cited line
    browser.get(f"{server}/records/{CRAWLER_RECORD}")
    wait.until(_charts_ready)
    for width in WIDTHS:
        _shoot(browser, width, shots / f"record{'' if width == 1440 else '-390'}.png")
    details = next(d for d in browser.find_elements(By.CSS_SELECTOR, "#compliance details.evidence")
                   if d.find_elements(By.CSS_SELECTOR, '.where a[href*="#L"]'))
    summary = details.find_element(By.TAG_NAME, "summary")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", summary)
    summary.click()
    link = details.find_element(By.CSS_SELECTOR, '.where a[href*="#L"]')
    cited = link.text
    link.click()
    wait.until(expected_conditions.url_contains("/logs/"))
    file, line = cited.rsplit(":", 1)
    assert browser.current_url.endswith(f"/logs/{file}#L{line}")
    assert browser.execute_script("return document.querySelector(':target').id") == f"L{line}"
    for width in WIDTHS:
        _shoot(browser, width, shots / f"log{'' if width == 1440 else '-390'}.png")


def test_every_page_fits_a_phone_and_a_desktop(server, browser, tmp_path):
    """The pages not driven above, each at 1440 and 390 px: no horizontal page overflow, the nav behind its toggle."""
    shots = Path(os.environ.get("PGOLF_SCREENSHOTS") or tmp_path)
    pages = {"records": "/records", "ablation": "/ablation?control=ablation:tiny_cpu/loops3&arm=ablation:tiny_cpu/loops1"
             f"&arm=ablation:tiny_cpu/mlp3&arm=record:{DEMO_RECORD}&kind=sliding_window",
             "evaluations": "/evaluations", "api": "/api",
             "loops": f"/records/{DEMO_RECORD}/loops", "demo": f"/records/{DEMO_RECORD}"}
    for name, path in pages.items():
        browser.get(server + path)
        WebDriverWait(browser, 30).until(_charts_ready)
        for width in WIDTHS:
            _shoot(browser, width, shots / f"{name}{'' if width == 1440 else '-390'}.png")
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    nav = browser.find_element(By.ID, "site-nav")
    assert not nav.is_displayed()
    browser.find_element(By.CSS_SELECTOR, "label.nav-button").click()
    assert nav.is_displayed()
    nav.find_element(By.LINK_TEXT, "Leaderboard").click()
    WebDriverWait(browser, 30).until(expected_conditions.url_contains("/leaderboard"))


def test_a_file_over_the_limit_is_refused_before_it_is_uploaded(small_upload_server, browser, tmp_path):
    too_big = tmp_path / "big.ptz"
    too_big.write_bytes(b"\0" * 5000)
    browser.get(f"{small_upload_server}/evaluations")
    browser.find_element(By.ID, "artifact-input").send_keys(str(too_big))
    browser.find_element(By.ID, "upload-button").click()
    status = browser.find_element(By.ID, "upload-status")
    assert status.text.startswith("Too large: the files come to 5,000 bytes, over the limit of 4,096 bytes")
    assert status.get_attribute("class") == "error"
    assert browser.execute_script("return getComputedStyle(arguments[0]).color", status) == "rgb(201, 42, 42)"
    with urllib.request.urlopen(f"{small_upload_server}/api/evaluations") as response:
        assert b'"evaluations":[]' in response.read()  # nothing reached the server
