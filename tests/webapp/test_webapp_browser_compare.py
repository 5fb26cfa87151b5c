"""A real browser (headless Chromium via selenium) on `pgolf serve` over the real records, the CPU demo record and the
committed tiny_cpu ablation, at 1440 and 390 px: the overlay (one metric labelled, a legend entry per drawn mark,
train-loss curves of ablation arms, the picker's facts and filters, more than 10 items refused in place, the CSV, the
settings' differences only), the ablation page refusing a cross-corpus delta, the loop-wise charts drawn by plotly,
and log lines that wrap on a phone."""
from __future__ import annotations

import urllib.request

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import CRAWLER_RECORD, DEMO_RECORD, REPO, shared_path
from tests.webapp.helpers import NEEDS_CHROMIUM, serve

pytestmark = NEEDS_CHROMIUM

WIDTHS = (1440, 390)
LQER = "2026-04-27_SmearGateBOSFix_PR1787Base_LQERAsym_PhasedTTT"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compare")
    yield from serve(["--records", str(shared_path("records")), "--records", str(REPO / "records"), "--ablations",
                      str(REPO / "ablations"), "--runs", str(tmp / "runs"), "--data-dir", str(tmp / "web"),
                      "--no-worker"], {}, tmp / "serve.log", "/api/leaderboard")


def _width(driver, width: int) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 800})


def _charts_ready(driver) -> bool:
    states = driver.execute_script("return Array.from(document.querySelectorAll('.charts')).map(c => c.dataset.ready)")
    assert "error" not in states
    return bool(states) and all(state == "1" for state in states)


def _fits(driver) -> None:
    scroll_width, inner_width = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll_width <= inner_width, f"{driver.current_url}: {scroll_width} > {inner_width}"


def _legend_covers_every_mark(driver) -> None:
    """Every drawn trace of every plot is shown in its legend or shares a legend group and kind of mark with one."""
    missing = driver.execute_script("""
        const out = [];
        document.querySelectorAll('.js-plotly-plot').forEach(gd => {
          const shown = new Set(gd._fullData.filter(t => t.showlegend).map(t => t.legendgroup + '|' + t.meta));
          gd._fullData.forEach(t => { if (t.type !== 'heatmap' && !shown.has(t.legendgroup + '|' + t.meta)) out.push(t.name); });
        });
        return out;""")
    assert missing == []


@pytest.mark.parametrize("width", WIDTHS)
def test_the_overlay_agrees_with_itself(server, browser, width):
    _width(browser, width)
    items = [f"record:{CRAWLER_RECORD}", f"record:{LQER}", "ablation:tiny_cpu/loops1"]
    browser.get(f"{server}/overlay?" + "&".join(f"item={i}" for i in items) + "&metric=headline")
    WebDriverWait(browser, 30).until(_charts_ready)
    assert "each item's own headline metric" in browser.find_element(By.ID, "metric-label").text
    rows = browser.find_elements(By.CSS_SELECTOR, "#overlay-table tbody tr")
    scores = [row.find_element(By.CSS_SELECTOR, "td.score").text.split()[0] for row in rows]
    assert scores[1] == "1.06128"  # LQER's own TTT score, not a sliding-window one
    # the stars of the step panel are the table's scores: mean of each item's stars
    means = browser.execute_script("""
        const gd = document.querySelector('#overlay-step .js-plotly-plot'), by = {};
        gd.data.filter(t => t.meta === 'final').forEach(t => (by[t.legendgroup] = by[t.legendgroup] || []).push(t.y[0]));
        return Object.fromEntries(Object.entries(by).map(([k, v]) => [k, v.reduce((a, b) => a + b) / v.length]));""")
    assert f"{means[f'record:{LQER}']:.5f}" == scores[1] and f"{means[f'record:{CRAWLER_RECORD}']:.5f}" == scores[0]
    _legend_covers_every_mark(browser)
    train = browser.execute_script("""
        const gd = document.querySelector('#overlay-train-step .js-plotly-plot');
        return gd.data.filter(t => t.meta === 'curve' && t.legendgroup === 'ablation:tiny_cpu/loops1').map(t => t.x.length);""")
    assert len(train) == 3 and min(train) > 10  # the arm's three runs, each a curve
    for row in rows:
        assert row.find_element(By.CSS_SELECTOR, "td.score").is_displayed()
    _fits(browser)
    csv_href = browser.find_element(By.ID, "csv-link").get_attribute("href")
    with urllib.request.urlopen(csv_href) as response:
        lines = response.read().decode().splitlines()
    assert lines[0].startswith("id,label") and len(lines) == 4 and LQER in lines[2]
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_the_overlay_picker_filters_and_refuses_too_many_in_place(server, browser):
    browser.get(f"{server}/overlay")
    facts = browser.find_element(By.CSS_SELECTOR, f'label.choice input[value="record:{LQER}"]').find_element(
        By.XPATH, "..").find_element(By.CSS_SELECTOR, ".choice-facts").text
    assert facts.startswith("1.0613") and "TTT" in facts and "10min_16mb" in facts
    Select(browser.find_element(By.ID, "overlay-kind")).select_by_value("ttt")
    shown = [c for c in browser.find_elements(By.CSS_SELECTOR, "label.choice") if c.is_displayed()]
    assert shown and all(c.get_attribute("data-kind") == "ttt" for c in shown)
    Select(browser.find_element(By.ID, "overlay-kind")).select_by_value("")
    browser.find_element(By.ID, "overlay-filter").send_keys("tiny_cpu/")
    shown = [c for c in browser.find_elements(By.CSS_SELECTOR, "label.choice") if c.is_displayed()]
    assert len(shown) == 6
    browser.find_element(By.ID, "overlay-filter").clear()
    browser.execute_script("arguments[0].dispatchEvent(new Event('input'))", browser.find_element(By.ID, "overlay-filter"))
    boxes = browser.find_elements(By.CSS_SELECTOR, 'input[name="item"]')[:11]
    for box in boxes:
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
        box.click()
    url = browser.current_url
    browser.find_element(By.ID, "overlay-submit").click()
    refused = browser.find_element(By.ID, "overlay-refused")
    assert refused.is_displayed() and "at most 10" in refused.text and browser.current_url == url
    assert all(box.is_selected() for box in boxes)  # nothing lost
    browser.execute_script("arguments[0].click()", boxes[-1])
    assert not refused.is_displayed()


def test_settings_differences_only_against_a_chosen_reference(server, browser):
    items = ["ablation:tiny_cpu/loops3", "ablation:tiny_cpu/loops1", "ablation:tiny_cpu/mlp3"]
    browser.get(f"{server}/overlay?" + "&".join(f"item={i}" for i in items))
    rows = [r for r in browser.find_elements(By.CSS_SELECTOR, "#overlay-settings tbody tr") if r.is_displayed()]
    assert sorted(r.find_element(By.CSS_SELECTOR, "td").text for r in rows) == ["crawler_loops", "crawler_mlp_mult"]
    browser.find_element(By.ID, "differences-only").click()
    assert len([r for r in browser.find_elements(By.CSS_SELECTOR, "#overlay-settings tbody tr") if r.is_displayed()]) > 2
    Select(browser.find_element(By.ID, "overlay-reference")).select_by_value("ablation:tiny_cpu/loops1")
    browser.find_element(By.CSS_SELECTOR, "#reference-form button").click()
    WebDriverWait(browser, 30).until(lambda d: "reference=" in d.current_url)
    first = browser.find_element(By.CSS_SELECTOR, "#overlay-table tbody tr")
    assert "tiny_cpu/loops1" in first.text and "reference" in first.text


@pytest.mark.parametrize("width", WIDTHS)
def test_the_ablation_page_refuses_a_cross_corpus_delta(server, browser, width):
    _width(browser, width)
    browser.get(f"{server}/ablation?control=record:{CRAWLER_RECORD}&arm=ablation:tiny_cpu/loops1"
                "&arm=record:2026-03-29_Loader_FullGPTQ_XSA11_BigramHash2816&kind=sliding_window")
    WebDriverWait(browser, 30).until(_charts_ready)
    deltas = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#ablation td.delta")]
    assert deltas[0] == "control" and deltas[1].startswith("other corpus") and deltas[2].startswith("-")
    bars = browser.execute_script("return document.querySelector('#ablation-deltas .js-plotly-plot').data[0].y")
    assert len(bars) == 1 and bars[0].startswith("2026-03-29_Loader")
    # the chart fits: its axis title inside the plot, its arm labels apart from each other
    browser.get(f"{server}/ablation?control=ablation:tiny_cpu/loops3&arm=ablation:tiny_cpu/loops1"
                "&arm=ablation:tiny_cpu/mlp3&arm=ablation:tiny_cpu/loops2&kind=sliding_window")
    WebDriverWait(browser, 30).until(_charts_ready)
    plot, title, labels = browser.execute_script("""
        const gd = document.querySelector('#ablation-deltas .js-plotly-plot'), box = e => e.getBoundingClientRect();
        const b = box(gd), t = box(gd.querySelector('.xtitle'));
        return [[b.left, b.right], [t.left, t.right],
                Array.from(gd.querySelectorAll('.ytick')).map(e => [box(e).top, box(e).bottom, box(e).left])];""")
    assert plot[0] <= title[0] and title[1] <= plot[1]
    labels.sort()
    assert all(a[1] <= b[0] for a, b in zip(labels, labels[1:])) and all(label[2] >= plot[0] for label in labels)
    browser.get(f"{server}/ablation?control=record:{CRAWLER_RECORD}&arm=ablation:tiny_cpu/loops1"
                "&arm=record:2026-03-29_Loader_FullGPTQ_XSA11_BigramHash2816&kind=sliding_window")
    for td in browser.find_elements(By.CSS_SELECTOR, "#ablation td.delta"):
        assert td.is_displayed()
    settings = browser.find_element(By.CSS_SELECTOR, "#ablation").text
    assert "Utils.hpp" not in settings and "ibvwrap" not in settings
    _fits(browser)
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@pytest.mark.parametrize("width", WIDTHS)
def test_the_loop_charts_are_interactive(server, browser, width):
    _width(browser, width)
    browser.get(f"{server}/records/{DEMO_RECORD}/loops")
    WebDriverWait(browser, 30).until(_charts_ready)
    plots = browser.find_elements(By.CSS_SELECTOR, ".charts .js-plotly-plot")
    assert len(plots) >= 6 and not browser.find_elements(By.CSS_SELECTOR, "figure.plot img")
    _legend_covers_every_mark(browser)
    for plot in plots:
        assert plot.size["width"] <= browser.execute_script("return window.innerWidth")
    _fits(browser)
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_log_lines_wrap_on_a_phone(server, browser):
    _width(browser, 390)
    browser.get(f"{server}/records/{CRAWLER_RECORD}/logs/train_seed42.log")
    box = browser.find_element(By.CSS_SELECTOR, ".log-scroll")
    assert box.get_property("scrollWidth") <= box.get_property("clientWidth")
    tall = browser.execute_script("""return Array.from(document.querySelectorAll('pre.log .line'))
        .filter(l => l.getBoundingClientRect().height > 30).length""")
    assert tall > 0  # some long lines wrap onto several rows instead of running off the screen
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
