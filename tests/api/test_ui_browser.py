"""The web inspector in a real browser: headless Chromium driven by Selenium, real ``memos api``.

Debian's ``chromium`` and ``chromium-driver`` (``make browser-deps``) and the ``selenium``
package (extra ``dev``) are needed; without them these tests skip and say why. Selenium is
pointed at the system chromedriver, so Selenium Manager never downloads anything.

Set ``MEMOS_UI_SCREENSHOTS=<folder>`` to keep the two screenshots the tests take (the README's
``docs/img/inspector-cubes.png`` and ``docs/img/inspector-search.png`` come from such a run).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import BigCube, LiveApi
from tests.api.ui_helpers import add_dead_letter, copies_of, wait_for

pytestmark = pytest.mark.services

CHROMIUM = os.environ.get("MEMOS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MEMOS_CHROMEDRIVER", "/usr/bin/chromedriver")
WINDOW = (1400, 1000)

_MISSING = (
    f"no system Chromium ({CHROMIUM}) or chromedriver ({CHROMEDRIVER}); "
    "install them with `make browser-deps` (apt-get install chromium chromium-driver)"
)
if os.environ.get("CI"):
    # CI must run these: a missing browser or selenium is an error there, not a skip.
    from selenium import webdriver

    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        raise RuntimeError(_MISSING)
else:
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip(_MISSING, allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

XSS = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module (about 2 s to start), quit at the end."""
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--lang=en-US",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: ``$MEMOS_UI_SCREENSHOTS`` or a temporary folder."""
    folder = os.environ.get("MEMOS_UI_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _wait(driver: Any, timeout_s: float = 60) -> Any:
    return WebDriverWait(driver, timeout_s)


def _login(driver: Any, url: str, key: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{url}/ui/login")
    driver.find_element(By.ID, "api-key").send_keys(key)
    driver.find_element(By.ID, "login").click()
    _wait(driver).until(ec.presence_of_element_located((By.ID, "whoami")))


def test_log_in_and_see_only_the_own_cubes(
    browser: Any, live_api: LiveApi, alice_cube: str, bob_cube: str, shots: Path
) -> None:
    _login(browser, live_api.url, live_api.keys["alice"])
    assert browser.find_element(By.ID, "whoami").text.startswith("alice")
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.cube-row")
    cubes = {row.get_attribute("data-cube") for row in rows}
    assert alice_cube in cubes and bob_cube not in cubes
    row = browser.find_element(By.CSS_SELECTOR, f'tr.cube-row[data-cube="{alice_cube}"]')
    assert int(row.find_element(By.CSS_SELECTOR, "td.total").text) >= 1
    assert "bob" not in browser.find_element(By.TAG_NAME, "main").text
    # nav has no admin pages for a tenant
    assert not browser.find_elements(By.ID, "nav-bus")
    browser.save_screenshot(str(shots / "inspector-cubes.png"))


def test_search_shows_each_legs_rank_in_fast_and_fine_mode(
    browser: Any, live_api: LiveApi, alice_cube: str, shots: Path
) -> None:
    _login(browser, live_api.url, live_api.keys["alice"])
    browser.find_element(By.CSS_SELECTOR, f'a.cube-link[href$="{alice_cube}"]').click()
    _wait(browser).until(ec.presence_of_element_located((By.ID, "memories")))
    for mode in ("fast", "fine"):
        box = browser.find_element(By.ID, "search-q")
        box.clear()
        box.send_keys("Miso piano")
        Select(browser.find_element(By.ID, "search-mode")).select_by_value(mode)
        before = browser.find_element(By.TAG_NAME, "main")
        browser.find_element(By.ID, "search-go").click()
        _wait(browser).until(ec.staleness_of(before))  # the new page, not the last one's rows
        _wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "tr.result-row")))
        assert f"({mode} mode" in browser.find_element(By.TAG_NAME, "h2").text
        first = browser.find_element(By.CSS_SELECTOR, "tr.result-row")
        assert "Miso" in first.find_element(By.CSS_SELECTOR, ".memory-text").text
        fused = float(first.find_element(By.CSS_SELECTOR, "td.fused").text)
        ranks = {}
        for cell in first.find_elements(By.CSS_SELECTOR, "td.leg"):
            leg = next(c for c in cell.get_attribute("class").split() if c.startswith("leg-"))
            text = cell.text.split("\n")[0]
            if text != "–":
                ranks[leg[4:]] = int(text)
        assert ranks.get("vector") and ranks.get("fulltext"), ranks
        assert fused > 0
        if mode == "fast":
            browser.save_screenshot(str(shots / "inspector-search.png"))


def test_the_graph_view_draws_the_neighbourhood(
    browser: Any, live_api: LiveApi, alice_cube: str, shots: Path
) -> None:
    _login(browser, live_api.url, live_api.keys["alice"])
    browser.get(f"{live_api.url}/ui/cubes/{alice_cube}")
    link = browser.find_element(By.CSS_SELECTOR, "tr.memory-row a.memory-link")
    memory_id = link.find_element(By.XPATH, "../..").get_attribute("data-id")
    link.click()
    svg = _wait(browser).until(ec.presence_of_element_located((By.ID, "graph-svg")))
    nodes = svg.find_elements(By.CSS_SELECTOR, "g.node")
    assert any(n.get_attribute("data-id") == memory_id for n in nodes)
    summary = browser.find_element(By.ID, "graph-summary").text
    assert summary.startswith(f"{len(nodes)} nodes")
    legend = {
        e.get_attribute("data-type") for e in browser.find_elements(By.CSS_SELECTOR, ".legend-item")
    }
    assert {"CONTEXT", "SUPERSEDES", "MERGED_TO"} <= legend
    browser.execute_script("arguments[0].scrollIntoView()", svg)
    browser.save_screenshot(str(shots / "inspector-graph.png"))


def test_a_200_node_neighbourhood_is_drawn(
    browser: Any, live_api: LiveApi, big_cube: BigCube, shots: Path
) -> None:
    _login(browser, live_api.url, live_api.keys["bob"])
    hub = big_cube.ids[-1]
    started = time.perf_counter()
    browser.get(f"{live_api.url}/ui/cubes/{big_cube.cube_id}/memories/{hub}?hops=1")
    svg = _wait(browser).until(ec.presence_of_element_located((By.ID, "graph-svg")))
    drawn_s = time.perf_counter() - started
    assert len(svg.find_elements(By.CSS_SELECTOR, "g.node")) == 200
    assert len(svg.find_elements(By.CSS_SELECTOR, "line.edge")) == 199
    assert "capped" in browser.find_element(By.ID, "graph-summary").text
    # Readable: only the centre and its first ring are labelled, and nodes are spread out.
    boxes = browser.execute_script(
        "return [...document.querySelectorAll('#graph-svg circle')].map(c => "
        "[+c.getAttribute('cx'), +c.getAttribute('cy')])"
    )
    spread = {(round(x / 20), round(y / 20)) for x, y in boxes}
    assert len(spread) > 150, len(spread)  # few circles share a 20 px cell
    labelled = svg.find_elements(By.CSS_SELECTOR, 'g.node[data-labelled="yes"]')
    assert 1 <= len(labelled) <= 13 and len(
        svg.find_elements(By.CSS_SELECTOR, "text.label")
    ) == len(labelled)
    assert drawn_s < 20, drawn_s
    browser.execute_script("arguments[0].scrollIntoView()", svg)
    browser.save_screenshot(str(shots / "inspector-graph-200.png"))


def test_a_script_in_a_memory_is_shown_as_text(
    browser: Any, live_api: LiveApi, alice_cube: str
) -> None:
    with live_api.client("alice") as client:
        added = client.post("/v1/memories", json={"cube_id": alice_cube, "memory_content": XSS})
        assert added.status_code == 201, added.text
        memory_id = added.json()["added_ids"][0]
    _login(browser, live_api.url, live_api.keys["alice"])
    for path in (f"/ui/cubes/{alice_cube}", f"/ui/cubes/{alice_cube}/memories/{memory_id}"):
        browser.get(live_api.url + path)
        _wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".memory-text")))
        texts = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".memory-text")]
        assert XSS in texts, texts
        assert browser.execute_script("return window.__pwned === undefined") is True
        assert not browser.find_elements(By.CSS_SELECTOR, "main img")


def test_retry_a_dead_letter_and_see_it_applied_once(
    browser: Any, live_api: LiveApi, alice_cube: str, shots: Path
) -> None:
    text = f"browser retried memory {uuid.uuid4().hex[:8]}"
    dlq_id = add_dead_letter(live_api.runtime, "alice", alice_cube, text)
    _login(browser, live_api.url, live_api.keys["admin"])
    browser.find_element(By.ID, "nav-bus").click()
    row = _wait(browser).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, f'tr.dlq-row[data-dlq="{dlq_id}"]'))
    )
    assert "TimeoutError" in row.text and row.find_element(By.CSS_SELECTOR, ".attempts").text == "3"
    row.find_element(By.CSS_SELECTOR, "button.dlq-retry").click()
    _wait(browser).until(ec.presence_of_element_located((By.ID, "confirm-yes"))).click()
    notice = _wait(browser).until(ec.presence_of_element_located((By.ID, "notice")))
    assert f"Dead letter {dlq_id} re-published" in notice.text
    assert not browser.find_elements(By.CSS_SELECTOR, f'tr.dlq-row[data-dlq="{dlq_id}"]')

    def copies() -> int:
        return copies_of(live_api, "alice", alice_cube, text)

    assert wait_for(copies, what="the retried memory") == 1
    # The stack page shows the parts and draws the metric charts from the live feed.
    browser.find_element(By.ID, "nav-system").click()
    _wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-part="redis"]')))
    _wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "figure.chart svg polyline"))
    browser.save_screenshot(str(shots / "inspector-system.png"))
