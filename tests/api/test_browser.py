"""The public page in a real browser: headless Chromium at a phone's size, over real HTTP.

The app is served by ``wsgiref`` on 127.0.0.1 (a free port); Chromium is driven by
Selenium through Debian's ``/usr/bin/chromedriver`` with JavaScript switched off, as a
careful visitor might have it. Screenshots go to ``test-artifacts/`` in the repository
(git-ignored). The ledger is the demo chain (``fixtures.generator.demo_chain``) when it
is importable, else a hand-built chain from ``tests/graph/chains.py``.
"""

from __future__ import annotations

import base64
import io
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from api.pages import publish
from ledger.append import append_batch
from ledger.checkpoint import NoteSigner
from ledger.keys import write_keypair
from ledger.store import Store
from tests.api.test_pages import make_app, mapped_blend
from tests.graph import chains
from tests.support import World

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PHONE = {"width": 390, "height": 844, "pixelRatio": 2}
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
)


def _browser_missing() -> str | None:
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        return "no chromium: apt-get install chromium chromium-driver (.ci/run does)"
    if not Path(CHROMEDRIVER).exists():
        return "no /usr/bin/chromedriver: apt-get install chromium-driver (.ci/run does)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install '.[test]')"
    return None


@dataclass
class Ledger:
    store: Store
    keys: Path
    origin: str
    single_origin_bag: str
    blended_bag: str
    source: str
    overselling_trader: str | None = None


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    reason = _browser_missing()
    if reason:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("browser")
    store = Store(f"sqlite:///{folder / 'ledger.db'}")
    store.migrate()
    try:
        from fixtures.generator import demo_chain
    except ImportError:
        demo_chain = None
    if demo_chain is not None:
        chain = demo_chain()
        origin = "trazo/operator"
        append_batch(
            store, chain.events, log_signer=NoteSigner(origin, chain.log_key), genesis=True
        )
        write_keypair(folder / "keys", "log", chain.log_key)
        yield Ledger(
            store,
            folder / "keys",
            origin,
            chain.facts.single_origin_bag,
            chain.facts.blended_bag,
            "demo chain",
            chain.facts.overselling_trader,
        )
    else:
        world = World.create(store)
        blended = mapped_blend(world)
        c = chains.Coffee(world)
        lot = f"{chains.COOP}:h-9"
        h = c.harvest(chains.COOP, lot, "100", chains.M1, chains.P1)
        rec = chains.to_roaster(c, chains.COOP, lot, h, "100")
        single = chains.roast_and_pack(c, [(lot, rec, "100")], "100", name="single")
        write_keypair(folder / "keys", "log", chains.log_private())
        yield Ledger(
            store, folder / "keys", chains.LOG_ORIGIN, single, blended, "tests/graph/chains.py"
        )
    store.dispose()


class _Threading(ThreadingMixIn, WSGIServer):
    """One thread per connection: a browser's idle pre-connected socket must not hold up
    another browser's request (wsgiref alone serves one connection at a time)."""

    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server(ledger: Ledger) -> Iterator[str]:
    """The app over real HTTP on 127.0.0.1; its public URL is the server's own."""
    httpd: WSGIServer = make_server(
        "127.0.0.1", 0, lambda e, s: [], server_class=_Threading, handler_class=_Quiet
    )
    base = f"http://127.0.0.1:{httpd.server_port}"
    app = make_app(ledger.store, ledger.keys)
    app.config.update(
        TRAZO_PUBLIC_URL=base, TRAZO_LOG_ORIGIN=ledger.origin, TRAZO_READ_TOKEN=AUDIT_TOKEN
    )
    httpd.set_app(app)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield base
    httpd.shutdown()
    httpd.server_close()


AUDIT_TOKEN = "browser-test-operator"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory, ledger: Ledger) -> Iterator[Any]:
    driver = _chromium(tmp_path_factory.mktemp("chromium-profile"), PHONE, phone=True)
    yield driver
    driver.quit()


def _chromium(profile: Path, size: dict[str, int], *, phone: bool) -> Any:
    """Headless Chromium of ``size``: a phone (emulated, JavaScript off) or a laptop."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM if Path(CHROMIUM).exists() else str(shutil.which("chromium"))
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={size['width']},{size['height']}")
    if phone:
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": size})
        options.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2}
        )  # JavaScript off
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    return driver


def _screenshot(driver: Any, name: str, *, full: bool = False) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    if full:
        shot = driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
        )
        path.write_bytes(base64.b64decode(shot["data"]))
    else:
        driver.save_screenshot(str(path))
    return path


def _requests(driver: Any) -> list[str]:
    """Every URL the page's document and resources were loaded from (Resource Timing)."""
    result = driver.execute_cdp_cmd(
        "Runtime.evaluate",
        {
            "expression": "JSON.stringify([location.href].concat(performance"
            ".getEntriesByType('resource').map(e => e.name)))",
            "returnByValue": True,
        },
    )
    import json

    return list(json.loads(result["result"]["value"]))


@pytest.mark.parametrize("which", ["single_origin_bag", "blended_bag"])
def test_phone_sees_the_verdict_and_the_flow_first(
    which: str, ledger: Ledger, server: str, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    bag = getattr(ledger, which)
    browser.get(f"{server}/p/{bag}?lang=es")
    scripts = browser.find_elements(By.TAG_NAME, "script")
    types = sorted(str(e.get_attribute("type")) for e in scripts)  # data, and the verifier
    assert types == ["application/json", "application/ld+json", "module"]
    assert not browser.find_element(By.ID, "verify-box").is_displayed()  # needs JavaScript
    verdict = browser.find_element(By.ID, "verdict")
    assert verdict.is_displayed()
    assert "de pequeños productores organizados" in verdict.text
    width = browser.execute_cdp_cmd(
        "Runtime.evaluate",
        {
            "expression": "[document.documentElement.scrollWidth, window.innerWidth]",
            "returnByValue": True,
        },
    )["result"]["value"]
    assert width[0] <= width[1] == PHONE["width"], "the page scrolls sideways on a phone"
    box = verdict.rect
    assert box["y"] + box["height"] <= PHONE["height"], "the verdict is below the fold"
    flow = browser.find_element(By.CSS_SELECTOR, "svg[aria-labelledby^='flow-title']")
    assert flow.is_displayed() and flow.rect["width"] >= 300 and flow.rect["height"] > 100
    assert browser.find_element(By.ID, "flow-title").get_attribute("textContent")
    bands = flow.find_elements(By.TAG_NAME, "path")
    assert bands and all(b.is_displayed() for b in bands)
    assert publish.bundle_filename(bag) in browser.find_element(By.ID, "verify-command").text
    host = server.split("//", 1)[1]
    assert all(url.split("/")[2] == host for url in _requests(browser))
    name = "page-single-origin" if which == "single_origin_bag" else "page-blended"
    first = _screenshot(browser, f"{name}.png")
    whole = _screenshot(browser, f"{name}-full.png", full=True)
    assert first.stat().st_size > 10_000 and whole.stat().st_size > first.stat().st_size


def test_qr_code_in_the_browser_decodes_to_the_page(
    ledger: Ledger, server: str, browser: Any
) -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    image = pytest.importorskip("PIL.Image")
    bag = ledger.blended_bag
    browser.get(f"{server}/p/{bag}/qr.svg")
    shot = _screenshot(browser, "qr-svg.png")
    decoded = zxingcpp.read_barcodes(image.open(io.BytesIO(shot.read_bytes())))
    assert [d.text for d in decoded] == [f"{server}/p/{bag}"]
    browser.get(decoded[0].text)
    assert bag in browser.title


DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def desktop(tmp_path: Path, ledger: Ledger) -> Iterator[Any]:
    """Chromium as an auditor's laptop: 1280 px wide, no emulation."""
    driver = _chromium(tmp_path / "chromium-desktop", DESKTOP, phone=False)
    yield driver
    driver.quit()


def test_the_auditors_report_fits_1280_px(ledger: Ledger, server: str, desktop: Any) -> None:
    """The balance column is on screen at 1280 px, ids are short links, times to the second."""
    from selenium.webdriver.common.by import By

    if ledger.overselling_trader is None:
        pytest.skip("the demo chain (with its overselling trader) is not importable")
    # a party's report is private: the browser sends the operator's token (DevTools)
    desktop.execute_cdp_cmd("Network.enable", {})
    desktop.execute_cdp_cmd(
        "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Bearer {AUDIT_TOKEN}"}}
    )
    desktop.get(
        f"{server}/audit/{ledger.overselling_trader}/mass-balance"
        "?product=coffee&scheme=SPP&period=2026"
    )
    assert "Overselling" in desktop.find_element(By.TAG_NAME, "body").text
    inner = desktop.execute_script("return window.innerWidth")
    balances = desktop.find_elements(By.CSS_SELECTOR, "td.bal")
    assert balances, "no ledger lines"
    header = desktop.find_elements(By.XPATH, "//th[normalize-space()='Balance']")[0]
    for cell in [header, *balances[:20]]:
        box = cell.rect
        assert box["x"] >= 0 and box["x"] + box["width"] <= inner, (
            f"the balance column ends at {box['x'] + box['width']:.0f} px of {inner}"
        )
    link = desktop.find_elements(By.CSS_SELECTOR, "a.ev")[0]
    assert link.get_attribute("href").split("/api/v1/events/")[1].startswith("sha256:")
    assert len(link.text) <= 14
    time_cell = balances[0].find_element(By.XPATH, "../td[1]").text
    assert len(time_cell) == 19 and "T" not in time_cell, time_cell  # YYYY-MM-DD HH:MM:SS
    shot = _screenshot(desktop, "audit-report-1280.png")
    assert shot.stat().st_size > 10_000
