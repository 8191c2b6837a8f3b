"""The dashboard (issue 14, point 4) in a real browser: Debian's headless Chromium, driven
by Selenium through /usr/bin/chromedriver, loads each page of `runbook serve` under real
uvicorn, over a store filled by real runs (test_web.py's `filled`), and checks what the
user sees: the overview's statuses and LATE mark, the runbook page's threshold chart drawn
with its warning and critical bands (pixels read off the uPlot canvas), the run page's
hint, and the overview's table updated by htmx after a new run without a reload. Every
page must leave the browser console free of errors, Content-Security-Policy violations
included (htmx's config keeps it from adding inline styles). axe-core (vendored in
tests/axe/ from its npm package, with its licence) finds no accessibility violation of
serious or critical impact on any page: contrast, names, keyboard focus among them. From
the keyboard alone, Tab reaches the overview's filters and runbook links with the focus
drawn, and Enter opens a runbook.

A screenshot of each page is saved as a test artifact in the folder named by the
environment variable RUNBOOK_TEST_ARTIFACTS (default tests/artifacts/, ignored by git).

Without chromium and chromium-driver the tests are skipped; under CI=true they fail
(scripts/test installs both)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_web import dashboard, filled  # noqa: F401 - the fixtures: a store filled by real runs

AXE = Path(__file__).parent / "axe" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(os.environ.get("RUNBOOK_TEST_ARTIFACTS") or Path(__file__).parent / "artifacts")

#: How long a page may take to show what is waited for, in seconds (a bound, not a clock).
PATIENCE = 30


def _webdriver_module():
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if missing:
        reason = f"{' and '.join(missing)} missing: apt-get install chromium chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(reason + " (scripts/test installs them)")
        pytest.skip(reason)
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    return webdriver


@pytest.fixture
def browser() -> Iterator[object]:
    """Headless Chromium, its console log kept (goog:loggingPrefs)."""
    webdriver = _webdriver_module()
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver, condition):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, PATIENCE).until(condition)


def _load(driver, url: str) -> None:
    """`url` loaded, the deferred scripts run (htmx or the charts' script)."""
    driver.get(url)
    _wait(driver, lambda d: d.execute_script("return document.readyState") == "complete")


def _console_is_clean(driver) -> None:
    """No error in the console: no JS error, no CSP violation, no failed load (the
    page's icon included)."""
    entries = driver.get_log("browser")
    bad = [entry["message"] for entry in entries if entry["level"] in ("SEVERE", "WARNING")]
    assert bad == [], bad
    assert not [e for e in entries if "Content Security Policy" in e["message"]], entries


def _accessible(driver) -> None:
    """axe-core's WCAG 2 A and AA rules find no serious or critical violation."""
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    found = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21aa"]},
                           resultTypes: ["violations"]})
          .then(results => done(results.violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5)}))))
          .catch(error => done([{id: "axe failed", impact: "critical", help: String(error)}]));
        """
    )
    assert [v for v in found if v["impact"] in ("serious", "critical")] == [], found


def _screenshot(driver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def _row_text(driver, runbook: str) -> str:
    from selenium.webdriver.common.by import By

    link = driver.find_element(By.CSS_SELECTOR, f'#runbooks a.name[href="/runbooks/{runbook}"]')
    return link.find_element(By.XPATH, "./ancestor::tr").text


def _status_of(driver, runbook: str) -> str:
    from selenium.webdriver.common.by import By

    link = driver.find_element(By.CSS_SELECTOR, f'#runbooks a.name[href="/runbooks/{runbook}"]')
    row = link.find_element(By.XPATH, "./ancestor::tr")
    return row.find_element(By.CSS_SELECTOR, "span.status").text


def test_overview_shows_statuses_and_late(browser, dashboard):  # noqa: F811
    _load(browser, dashboard + "/")
    assert browser.title == "runbook: overview"
    assert _status_of(browser, "healthy") == "OK"
    assert _status_of(browser, "broken") == "CRITICAL"
    assert _status_of(browser, "leaky") == "CRITICAL"
    assert _status_of(browser, "nightly") == "never ran"
    assert "LATE" in _row_text(browser, "nightly")
    assert "LATE" not in _row_text(browser, "healthy")
    _screenshot(browser, "overview")
    _console_is_clean(browser)
    _accessible(browser)


def test_overview_refreshes_after_a_new_run(browser, filled, monkeypatch):  # noqa: F811
    """htmx swaps in the new table by itself: the page is never reloaded (a marker set on
    `window` survives), and the wait is on the DOM, not on a clock."""
    from dashboard import running_dashboard

    import runner.web.app

    monkeypatch.setattr(runner.web.app, "REFRESH", 1)  # read at each request; default 15 s
    with running_dashboard(filled.root) as url:
        _load(browser, url + "/")
        assert _status_of(browser, "nightly") == "never ran"
        browser.execute_script("window.notReloaded = true")
        assert filled.run("nightly").status.value == "OK"
        _wait(browser, lambda d: _status_of(d, "nightly") == "OK")
        assert browser.execute_script("return window.notReloaded") is True
        assert "LATE" not in _row_text(browser, "nightly")
        _screenshot(browser, "overview-refreshed")
        _console_is_clean(browser)


#: The share of a chart canvas's pixels in each colour (the bands are translucent: read
#: unpremultiplied from the canvas, they keep their hue with a low alpha).
PIXELS = """
const canvas = arguments[0];
const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
let painted = 0, warning = 0, critical = 0;
for (let i = 0; i < data.length; i += 4) {
  const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
  if (a === 0) continue;
  painted++;
  if (a < 100 && r > 220 && g > 160 && g < 200 && b < 30) warning++;
  if (a < 100 && r > 160 && r < 200 && g < 60 && b < 50) critical++;
}
return {total: data.length / 4, painted: painted, warning: warning, critical: critical};
"""


def test_runbook_page_draws_the_chart_with_its_bands(browser, dashboard):  # noqa: F811
    from selenium.webdriver.common.by import By

    _load(browser, dashboard + "/runbooks/broken")
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '.chart[data-series="0"] canvas'))
    canvas = browser.find_element(By.CSS_SELECTOR, '.chart[data-series="0"] canvas')
    counts = browser.execute_script(PIXELS, canvas)
    assert counts["painted"] > counts["total"] // 10, counts  # not blank
    # 12 against warning 5, critical 10: both bands show, the critical one above
    assert counts["warning"] > 100 and counts["critical"] > 100, counts
    holder = browser.find_element(By.CSS_SELECTOR, '.chart[data-series="0"]')
    assert "pending_count of step pending" in holder.get_attribute("aria-label")
    durations = browser.find_element(By.CSS_SELECTOR, '.chart[data-series="durations"] canvas')
    assert browser.execute_script(PIXELS, durations)["painted"] > 0
    _screenshot(browser, "runbook")
    _console_is_clean(browser)
    _accessible(browser)


def test_run_page_shows_the_hint(browser, dashboard):  # noqa: F811
    from selenium.webdriver.common.by import By

    _load(browser, dashboard + "/runbooks/broken")
    run = browser.find_element(By.CSS_SELECTOR, 'a[href^="/runs/"]').get_attribute("href")
    _load(browser, run)
    hint = browser.find_element(By.CSS_SELECTOR, "p.hint")
    assert hint.text == "Hint: Look at the pending queue first."
    assert "CRITICAL" in browser.find_element(By.TAG_NAME, "main").text
    _screenshot(browser, "run")
    _console_is_clean(browser)
    _accessible(browser)


def test_run_page_shows_the_sql_sent_with_its_bound_values_masked(browser, dashboard):  # noqa: F811
    from selenium.webdriver.common.by import By

    _load(browser, dashboard + "/runbooks/leaky")
    run = browser.find_element(By.CSS_SELECTOR, 'a[href^="/runs/"]').get_attribute("href")
    _load(browser, run)
    statement = browser.find_element(By.CSS_SELECTOR, "figure.statement")
    sql = statement.find_element(By.CSS_SELECTOR, "pre.sql")
    assert sql.text == "SELECT 1 AS n, ? AS pin WHERE ? > 0 AND ? <> ? AND ? > 2"
    bound = [item.text for item in statement.find_elements(By.CSS_SELECTOR, ".params li")]
    assert bound == ['"***"'] * 4 + ["16"]
    # the values stand beside the statement, not under it
    assert statement.find_element(By.CSS_SELECTOR, ".params").location["x"] > sql.location["x"]
    _screenshot(browser, "run-sql")
    _console_is_clean(browser)
    _accessible(browser)


def test_history_page_lists_the_runs_and_filters_them(browser, dashboard):  # noqa: F811
    from selenium.webdriver.common.by import By

    _load(browser, dashboard + "/history")
    main = browser.find_element(By.TAG_NAME, "main").text
    assert "healthy" in main and "broken" in main and "CRITICAL" in main
    _screenshot(browser, "history")
    _console_is_clean(browser)
    _accessible(browser)
    _load(browser, dashboard + "/history?runbook=broken")
    links = browser.find_elements(By.CSS_SELECTOR, 'main a[href^="/runbooks/"]')
    assert links and {link.text for link in links} == {"broken"}
    _console_is_clean(browser)


#: What has the keyboard's focus: its tag, link, text, and whether its focus is drawn.
FOCUSED = """
const e = document.activeElement;
const style = getComputedStyle(e);
return {tag: e.tagName.toLowerCase(), href: e.getAttribute("href"), text: e.textContent.trim(),
        drawn: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0};
"""


def test_overview_works_from_the_keyboard(browser, dashboard):  # noqa: F811
    """Tab goes through the filters and every runbook's link, each focus drawn; Enter on a
    runbook's link opens its page."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    _load(browser, dashboard + "/")
    seen = []
    for _ in range(60):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        focused = browser.execute_script(FOCUSED)
        seen.append(focused)
        assert focused["drawn"], focused
        if focused["href"] == "/runbooks/broken":
            break
    else:
        pytest.fail(f"Tab never reached the link to runbook broken: {seen}")
    tags = [focused["tag"] for focused in seen]
    assert "select" in tags and "button" in tags, seen  # the filters come before the table
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    _wait(browser, lambda d: d.current_url == dashboard + "/runbooks/broken")
    _console_is_clean(browser)
