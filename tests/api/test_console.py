"""The capture console (``/console/``) in a real browser, against a real ``trazo serve``.

Debian's Chromium, driven by Selenium with JavaScript on, at a phone's width (390 px),
one browser profile per party (a cooperative's clerk, a trader). The server is a real
``trazo serve`` process (gunicorn, two workers) on SQLite and on PostgreSQL
(``TRAZO_TEST_POSTGRES_URL``; skipped with the reason without it). Keys are made in the
browser (WebCrypto, non-extractable); the operator registers them from Python; every
event the consoles record is then checked from outside: ``trazo audit`` passes and each
signature verifies with the public key the console showed. The tests share the server and
the two browser profiles (module scope) and need only the ``keys`` fixture (the consoles'
keys, registered) from one another. Screenshots of the holdings
and of every form go to ``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.envelope import Envelope, keyid_of
from ledger.keys import load_private_key
from ledger.signer import KeyChain
from tests.api.test_browser import ARTIFACTS, CHROMEDRIVER, CHROMIUM, FLAGS, _browser_missing
from tests.api.test_serve import OPERATOR_TOKEN, TRAZO, run_trazo, stop, wait_for_url
from tests.conftest import PG_URL, _fresh_postgres
from tests.support import public_b64, seeded_key

pytestmark = pytest.mark.slow

PHONE = {"width": 390, "height": 844, "pixelRatio": 2}
COOP = "coop-sierra"
TRADER = "andes-trade"
WAIT = 30


@dataclass
class Served:
    base: str  # http://127.0.0.1:PORT
    db: str
    keys: Path
    operator: KeyChain = field(init=False)
    office: KeyChain | None = None
    """The cooperative's office key (it enrolls members), once registered."""

    def __post_init__(self) -> None:
        health = self.get("health")
        chain = KeyChain(load_private_key(self.keys / "operator.key"), "operator")
        chain.ledger = health["ledger"]
        head = self.get(f"keys/{chain.keyid}/head")
        chain.seq, chain.prev = head["seq"], head["prev"]
        self.operator = chain

    def get(self, path: str) -> Any:
        request = urllib.request.Request(
            f"{self.base}/api/v1/{path}", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def post(self, *envelopes: Envelope) -> None:
        data = json.dumps({"events": [e.to_dict() for e in envelopes]}).encode()
        request = urllib.request.Request(
            f"{self.base}/api/v1/events",
            data=data,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status in (200, 201)

    def events(self, party: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.get(f"events?party={party}&limit=1000")["events"]
        return found


def _now() -> str:
    return datetime.now(UTC).isoformat()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    reason = _browser_missing()
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp(f"console-{request.param}")
    if request.param == "postgres":
        if not PG_URL:
            pytest.skip("PostgreSQL tests need TRAZO_TEST_POSTGRES_URL (CI sets it)")
        _fresh_postgres(PG_URL)
        db = PG_URL
    else:
        db = f"sqlite:///{tmp / 'ledger.db'}"
    keys = tmp / "keys"
    init = run_trazo("init", "--db", db, "--keys", str(keys))
    assert init.returncode == 0, init.stderr
    log = (tmp / "server.log").open("w")
    # no access log: it goes to stdout, which only the banner is read from (a full pipe
    # would block the workers once the consoles have made a few hundred requests)
    process = subprocess.Popen(
        [*TRAZO, "serve", "--db", db, "--keys", str(keys), "--port", "0", "--no-access-log"],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        start_new_session=True,
        env={**os.environ, "TRAZO_READ_TOKEN": OPERATOR_TOKEN},
    )
    try:
        url = wait_for_url(process)
        yield Served(url.split("/api/v1")[0], db, keys)
    finally:
        stop(process)
        log.close()


def _chromium(profile: Path) -> Any:
    """Headless Chromium at a phone's size, JavaScript on, its own profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={PHONE['width']},{PHONE['height']}")
    options.add_experimental_option("mobileEmulation", {"deviceMetrics": PHONE})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)
    return driver


@pytest.fixture(scope="module")
def clerk(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    driver = _chromium(tmp_path_factory.mktemp("clerk-profile"))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def trader(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    driver = _chromium(tmp_path_factory.mktemp("trader-profile"))
    yield driver
    driver.quit()


# --- driving the console ---------------------------------------------------------------------


def wait_for(driver: Any, what: Any, message: str, timeout: float = WAIT) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    def attempt(d: Any) -> Any:
        try:
            return what(d)
        except StaleElementReferenceException:
            return None

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2).until(attempt)
    except Exception as e:
        logs = [entry["message"] for entry in driver.get_log("browser")]
        notice = text_of(driver, ".notice")
        notice += str(
            driver.execute_script(
                OPEN_DB + "const all = await new Promise(r => { const q = db.transaction('outbox')"
                ".objectStore('outbox').getAll(); q.onsuccess = () => r(q.result); });"
                "return all.length ? all[0].entries.map(e => [e.status, e.reason]) : []; })();"
            )
        )
        raise AssertionError(f"{message}; notice: {notice!r}; browser log: {logs[-10:]}") from e


def css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def text_of(driver: Any, selector: str) -> str:
    found = driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText : ''", selector
    )
    return str(found).strip()


def go(driver: Any, hash_: str) -> None:
    driver.execute_script("location.hash = arguments[0]", hash_)
    wait_for(driver, lambda d: d.execute_script("return location.hash") == hash_, hash_)


def make_key(driver: Any, base: str) -> tuple[str, str]:
    """Open the console, make a key on the device; the keyid and public key it shows."""
    driver.get(f"{base}/console/?lang=en")
    wait_for(driver, lambda d: css(d, "#generate"), "no key button")
    css(driver, "#generate")[0].click()
    wait_for(driver, lambda d: text_of(d, "#keyid"), "no keyid shown")
    return text_of(driver, "#keyid"), text_of(driver, "#public-key")


def sign_in(driver: Any, party: str) -> None:
    go(driver, "#key")
    css(driver, "#signin")[0].click()
    wait_for(driver, lambda d: text_of(d, "#who") == party, f"not signed in as {party}")


def choose(
    driver: Any, field_name: str, *, value: str | None = None, index: int | None = None
) -> None:
    from selenium.webdriver.support.ui import Select

    control = css(driver, f"form.capture [data-field='{field_name}']")[0]
    if value is not None:
        Select(control).select_by_value(value)
    else:
        Select(control).select_by_index(index)


def choose_lot(driver: Any, field_name: str, lot: str) -> None:
    """Pick a holding by its lot (the option names the lot first)."""
    control = css(driver, f"form.capture [data-field='{field_name}']")[0]
    driver.execute_script(
        "const s = arguments[0];"
        " const o = [...s.options].find(o => o.dataset.lot === arguments[1]);"
        " s.value = o.value; s.dispatchEvent(new Event('change'));",
        control,
        lot,
    )


def type_into(driver: Any, field_name: str, value: str) -> None:
    control = css(driver, f"form.capture [data-field='{field_name}']")[0]
    control.clear()
    control.send_keys(value)


def submit(driver: Any) -> None:
    css(driver, "form.capture #sign")[0].click()


def error_beside(driver: Any, field_name: str) -> str:
    return text_of(driver, f"form.capture .field[data-for='{field_name}'] .field-error")


def landed(driver: Any, kind: str, count: int = 1) -> None:
    """Wait until ``count`` events of ``kind`` this device signed are in the ledger (its
    outbox says sent) and the events view shows them landed."""
    wait_for(
        driver,
        lambda d: [s for s in statuses(d) if s == (kind, "sent")][count - 1 :],
        f"{count} {kind} not landed",
    )
    go(driver, "#events")
    wait_for(
        driver,
        lambda d: d.execute_script(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.innerText)",
            f"#events li[data-type='{kind}'][data-status='sent'] .status",
        ),
        f"{kind} not shown landed",
    )


def record(driver: Any, kind: str) -> None:
    """Sign the form and wait until the event is in the ledger."""
    before = sum(1 for s in statuses(driver, look=False) if s == (kind, "sent"))
    submit(driver)
    landed(driver, kind, before + 1)


OPEN_DB = (
    "return (async () => { const db = await new Promise(r => {"
    " const q = indexedDB.open('trazo-console'); q.onsuccess = () => r(q.result); });"
)


def kept(driver: Any) -> bool:
    """The form was signed and queued: the console moved on to the events."""
    return bool(driver.execute_script("return location.hash") == "#events")


def statuses(driver: Any, *, look: bool = True) -> list[tuple[str, str]]:
    """(type, status) of this device's outbox entries, oldest first; ``look``: on the
    events view."""
    if look:
        go(driver, "#events")
    rows = driver.execute_script(
        OPEN_DB + ""
        "const all = await new Promise(r => { const q = db.transaction('outbox')"
        ".objectStore('outbox').getAll(); q.onsuccess = () => r(q.result); });"
        "return !all.length ? [] : all[0].entries.sort((a, b) => a.position - b.position).map(e =>"
        " [JSON.parse(atob(e.envelope.payload)).type, e.status, e.id]); })();"
    )
    return [(r[0], r[1]) for r in rows]


def shoot(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"console-{name}.png"
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    width = driver.execute_script("return [document.documentElement.scrollWidth, innerWidth]")
    assert width[0] <= width[1] == PHONE["width"], f"{name} scrolls sideways on a phone"
    return path


def offline(driver: Any, cut: bool) -> None:
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": cut, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )


# --- the ledger's side -----------------------------------------------------------------------


def register(served: Served, clerk_key: str, trader_key: str) -> KeyChain:
    """The operator registers the cooperative (with a key of its office, which enrolls its
    members), adds the clerk's browser key to it, and registers the trader with its
    browser key."""
    office = seeded_key("coop-office")
    op = served.operator
    served.post(
        op.sign(
            {
                "type": "party.register",
                "time": _now(),
                "subject": COOP,
                "name": "Cooperativa Sierra",
                "roles": ["spo"],
                "country": "PE",
                "public_key": public_b64(office),
            }
        ),
        op.sign({"type": "key.add", "time": _now(), "subject": COOP, "public_key": clerk_key}),
        op.sign(
            {
                "type": "party.register",
                "time": _now(),
                "subject": TRADER,
                # a name is the registrant's text: shown as text, never as markup
                "name": 'Andes <img src=x onerror="window.pwned=1"> Trade',
                "roles": ["trader"],
                "country": "PE",
                "public_key": trader_key,
            }
        ),
    )
    coop = served.office = KeyChain(office, COOP, ledger=op.ledger)
    served.post(
        *(
            coop.sign(
                {
                    "type": "member.enroll",
                    "time": _now(),
                    "member": f"{COOP}:m-{n}",
                    "products": ["coffee"],
                    "since": "2019-05-01",
                    "plots": [{"plot": f"{COOP}:p-{n}-1", "area_ha": "2.4"}],
                }
            )
            for n in ("0042", "0043")
        )
    )
    return coop


def verify_signed_by(served: Served, party: str, keyid: str, public_key: str) -> list[str]:
    """Every event of ``party`` signed with ``keyid`` verifies with the key the console
    showed; returns their types."""
    raw = base64.b64decode(public_key)
    assert keyid_of(raw) == keyid
    key = Ed25519PublicKey.from_public_bytes(raw)
    kinds = []
    for event in served.events(party):
        if event["key"] != keyid:
            continue
        envelope = Envelope.from_dict(event["envelope"])
        envelope.verify(key)
        kinds.append(event["type"])
    return kinds


# --- the tests -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    """What the two consoles showed: each one's keyid and public key."""

    clerk: tuple[str, str]
    trader: tuple[str, str]


@pytest.fixture(scope="module")
def keys(served: Served, clerk: Any, trader: Any) -> Keys:
    """Each console makes its key; the operator registers them; the clerk signs in."""
    shown = Keys(make_key(clerk, served.base), make_key(trader, served.base))
    register(served, shown.clerk[1], shown.trader[1])
    sign_in(clerk, COOP)
    return shown


def test_harvest_to_receipt_signed_in_two_browsers(
    served: Served, keys: Keys, clerk: Any, trader: Any
) -> None:
    (clerk_keyid, clerk_pub), (trader_keyid, trader_pub) = keys.clerk, keys.trader

    go(clerk, "#record/harvest")
    choose(clerk, "form", value="parchment")
    type_into(clerk, "quantity", "100")
    shoot(clerk, "harvest")
    record(clerk, "harvest")
    go(clerk, "#holdings")
    wait_for(clerk, lambda d: "100 kg" in text_of(d, "#holdings .kg"), "harvest not held")
    shoot(clerk, "holdings")
    lot = css(clerk, "#holdings li")[0].get_attribute("data-lot")

    go(clerk, "#record/transform")
    choose(clerk, "process", value="dry-mill")
    choose_lot(clerk, "inputs[0].event", lot)
    choose(clerk, "outputs[0].form", value="green")
    type_into(clerk, "outputs[0].quantity", "90")
    # the yield limit is shown as the quantity is typed: 100 kg parchment × 0.82 × 1.005
    wait_for(clerk, lambda d: "82.41" in text_of(d, ".yield"), "no yield limit shown")
    assert "over" in css(clerk, ".yield")[0].get_attribute("class")
    submit(clerk)  # the dry run refuses it, beside the field it names; nothing is queued
    refusal = wait_for(
        clerk, lambda d: error_beside(d, "outputs[0].quantity"), "no refusal beside the output"
    )
    assert "Yield" in refusal or "yield" in refusal, refusal
    assert statuses(clerk) == [("harvest", "sent")]
    go(clerk, "#record/transform")
    choose_lot(clerk, "inputs[0].event", lot)
    choose(clerk, "outputs[0].form", value="green")
    type_into(clerk, "outputs[0].quantity", "80")
    shoot(clerk, "transform")
    record(clerk, "transform")

    go(clerk, "#record/ship")
    choose(clerk, "to", value=TRADER)
    go(clerk, "#holdings")
    green = [e.get_attribute("data-lot") for e in css(clerk, "#holdings li") if "green" in e.text]
    assert len(green) == 1
    go(clerk, "#record/ship")
    choose(clerk, "to", value=TRADER)
    choose_lot(clerk, "lots[0].event", green[0])
    css(clerk, "form.capture input[type=checkbox][value=SPP]")[0].click()
    type_into(clerk, "transactions[0].id", "F001-2291")
    shoot(clerk, "ship")
    assert "<img" in css(clerk, "form.capture [data-field='to'] option:checked")[0].text
    assert clerk.execute_script("return [window.pwned, document.images.length]") == [None, 0]
    record(clerk, "ship")

    sign_in(trader, TRADER)
    go(trader, "#inbound")
    wait_for(trader, lambda d: css(d, "#inbound li[data-shipment] a.button"), "no inbound shipment")
    css(trader, "#inbound li[data-shipment] a.button")[0].click()
    wait_for(trader, lambda d: css(d, "form.capture[data-form=receive]"), "no receive form")
    type_into(trader, "lots[0].quantity", "79.5")
    shoot(trader, "receive")
    record(trader, "receive")

    audit = run_trazo("audit", "--db", served.db, "--keys", str(served.keys))
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert verify_signed_by(served, COOP, clerk_keyid, clerk_pub) == [
        "harvest",
        "transform",
        "ship",
    ]
    assert verify_signed_by(served, TRADER, trader_keyid, trader_pub) == ["receive"]
    holdings = served.get(f"parties/{TRADER}/holdings")["holdings"]
    assert [(h["lot"], h["kg"]) for h in holdings] == [(green[0], "79.5")]


def test_the_private_key_cannot_be_read_out_of_the_page(
    served: Served, keys: Keys, clerk: Any
) -> None:
    clerk.get(f"{served.base}/console/")
    wait_for(clerk, lambda d: text_of(d, "#who") == COOP, "console not open")
    answer = clerk.execute_script(
        OPEN_DB + ""
        "const key = await new Promise(r => { const q = db.transaction('keys')"
        ".objectStore('keys').get('device'); q.onsuccess = () => r(q.result); });"
        "const out = {extractable: key.privateKey.extractable, usages: key.privateKey.usages};"
        "for (const format of ['pkcs8', 'jwk', 'raw']) {"
        "  try { await crypto.subtle.exportKey(format, key.privateKey); out[format] = 'exported'; }"
        "  catch (e) { out[format] = e.name; } }"
        "return out; })();"
    )
    assert answer["extractable"] is False
    assert answer["usages"] == ["sign"]
    assert answer["pkcs8"] == answer["jwk"] == "InvalidAccessError"
    assert answer["raw"] != "exported"


def test_offline_events_wait_and_land_in_order(served: Served, keys: Keys, clerk: Any) -> None:
    clerk.get(f"{served.base}/console/?lang=es")
    wait_for(clerk, lambda d: text_of(d, "#who") == COOP, "console not open")
    wait_for(
        clerk,
        lambda d: d.execute_script("return !!navigator.serviceWorker.controller"),
        "no service worker controls the console",
    )
    offline(clerk, True)
    try:
        clerk.refresh()  # the shell comes from the service worker
        wait_for(clerk, lambda d: text_of(d, "#net") == "sin conexión", "console did not open")
        # it came from the service worker, not from the network or the HTTP cache
        assert clerk.execute_script("return !!navigator.serviceWorker.controller")
        assert clerk.execute_script(
            "return performance.getEntriesByType('navigation')[0].workerStart > 0"
        )
        kinds = []
        for n in (1, 2):
            go(clerk, "#record/harvest")
            type_into(clerk, "lot", f"{COOP}:off-{n}")
            type_into(clerk, "quantity", f"{n}0")
            submit(clerk)
            wait_for(
                clerk, lambda d: d.execute_script("return location.hash") == "#events", "not kept"
            )
            kinds.append("harvest")
        go(clerk, "#holdings")
        assert "sin conexión" in text_of(clerk, "#net")
        wait_for(clerk, lambda d: css(d, "#holdings li.outbox"), "pending harvests not in holdings")
        assert css(clerk, "#stale")
        go(clerk, "#record/transform")
        choose(clerk, "process", value="wet-mill")
        choose_lot(clerk, "inputs[0].event", f"{COOP}:off-1")
        choose(clerk, "outputs[0].form", value="parchment")
        type_into(clerk, "outputs[0].quantity", "2")
        submit(clerk)
        wait_for(clerk, kept, "not kept")
        assert statuses(clerk)[-3:] == [
            ("harvest", "pending"),
            ("harvest", "pending"),
            ("transform", "pending"),
        ]
        shoot(clerk, "pending")
    finally:
        offline(clerk, False)
    wait_for(
        clerk,
        lambda d: statuses(d)[-3:] == [("harvest", "sent")] * 2 + [("transform", "sent")],
        "not sent",
    )
    mine = [e for e in served.events(COOP) if e["type"] in ("harvest", "transform")][-3:]
    assert [e["payload"].get("lot") for e in mine] == [f"{COOP}:off-1", f"{COOP}:off-2", None]
    assert [e["seq"] for e in mine] == sorted(e["seq"] for e in mine)
    assert mine[2]["payload"]["inputs"][0]["event"] == mine[0]["id"]


def test_a_refused_event_is_set_aside_and_its_dependent_blocked_until_corrected(
    served: Served, keys: Keys, clerk: Any
) -> None:
    clerk.get(f"{served.base}/console/?lang=en")
    wait_for(clerk, lambda d: text_of(d, "#who") == COOP, "console not open")
    # the office records that member 43 left yesterday; the clerk, offline, does not know
    assert served.office is not None
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    offline(clerk, True)
    leave = {"type": "member.leave", "member": f"{COOP}:m-0043", "until": yesterday}
    served.post(served.office.sign({**leave, "time": _now()}))
    try:
        for n, member in ((5, "0043"), (6, "0042")):  # the first one is refused once sent
            go(clerk, "#record/harvest")
            choose(clerk, "member", value=f"{COOP}:m-{member}")
            type_into(clerk, "lot", f"{COOP}:off-{n}")
            type_into(clerk, "quantity", "5")
            submit(clerk)
            wait_for(clerk, kept, "not kept")
        go(clerk, "#record/dispose")
        choose_lot(clerk, "event", f"{COOP}:off-5")  # the pending harvest is offered
        type_into(clerk, "quantity", "1")
        type_into(clerk, "reason", "spilled")
        submit(clerk)
        wait_for(clerk, kept, "not kept")
    finally:
        offline(clerk, False)
    wait_for(
        clerk,
        lambda d: (
            statuses(d)[-3:]
            == [("harvest", "set_aside"), ("harvest", "sent"), ("dispose", "blocked")]
        ),
        "not set aside / landed / blocked",
    )
    go(clerk, "#events")
    aside = wait_for(clerk, lambda d: css(d, "li[data-status='set_aside']"), "no set-aside card")
    assert "left on" in aside[0].text
    assert css(clerk, "li[data-status='blocked']")
    shoot(clerk, "set-aside")
    aside[0].find_element("css selector", "a.button").click()
    beside = wait_for(clerk, lambda d: error_beside(d, "member"), "no reason beside the member")
    assert f"member '{COOP}:m-0043' left on {yesterday}" in beside
    shoot(clerk, "correct")
    choose(clerk, "member", value=f"{COOP}:m-0042")
    submit(clerk)
    wait_for(
        clerk,
        lambda d: (
            [s for s in statuses(d) if s[1] != "sent"][-2:] == [("harvest", "replaced")]
            or statuses(d)[-2:] == [("harvest", "sent"), ("dispose", "sent")]
        ),
        "correction and dispose not landed",
    )
    wait_for(
        clerk,
        lambda d: statuses(d)[-2:] == [("harvest", "sent"), ("dispose", "sent")],
        "not landed",
    )
    events = served.events(COOP)
    fixed = next(e for e in events if e["payload"].get("lot") == f"{COOP}:off-5")
    assert fixed["payload"]["member"] == f"{COOP}:m-0042"
    dispose = next(e for e in events if e["type"] == "dispose")
    assert dispose["payload"]["event"] == fixed["id"]  # the reference was rewritten
    audit = run_trazo("audit", "--db", served.db, "--keys", str(served.keys))
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_a_key_made_by_trazo_keygen_is_imported_unextractable_and_shared_with_the_cli(
    served: Served, keys: Keys, tmp_path: Path
) -> None:
    made = run_trazo("keygen", "field-tablet", "--dir", str(tmp_path))
    assert made.returncode == 0, made.stderr
    printed = made.stdout.split()
    public = printed[printed.index("public_key") + 1]
    browser = _chromium(tmp_path / "profile")
    try:
        browser.get(f"{served.base}/console/?lang=fr")
        wait_for(browser, lambda d: css(d, "#pem"), "no import field")
        # a private key pasted here is sent to no spelling service (Chrome's enhanced
        # spell check sends a field's text to Google) and kept by no form autofill
        field = css(browser, "#pem")[0]
        assert browser.execute_script("return arguments[0].spellcheck", field) is False
        assert field.get_attribute("autocomplete") == "off"
        assert field.get_attribute("autocapitalize") in ("off", "none")
        pem = (tmp_path / "field-tablet.key").read_text()
        browser.execute_script("document.querySelector('#pem').value = arguments[0]", pem)
        css(browser, "#import")[0].click()
        wait_for(browser, lambda d: text_of(d, "#keyid"), "no keyid shown")
        assert text_of(browser, "#public-key") == public
        assert text_of(browser, "#keyid") == keyid_of(base64.b64decode(public))
        assert text_of(browser, "#keyid") in made.stdout
        extractable = browser.execute_script(
            OPEN_DB + "const key = await new Promise(r => { const q = db.transaction('keys')"
            ".objectStore('keys').get('device'); q.onsuccess = () => r(q.result); });"
            "try { await crypto.subtle.exportKey('pkcs8', key.privateKey); return 'exported'; }"
            " catch (e) { return [key.privateKey.extractable, e.name]; } })();"
        )
        assert extractable == [False, "InvalidAccessError"]
        # the same key on a second device (the CLI): each outbox re-signs onto the
        # ledger's head when the chain moved on without it, and every event lands once
        served.post(
            served.operator.sign(
                {"type": "key.add", "time": _now(), "subject": COOP, "public_key": public}
            )
        )
        sign_in(browser, COOP)
        go(browser, "#record/harvest")
        type_into(browser, "lot", f"{COOP}:tab-1")
        type_into(browser, "quantity", "3")
        record(browser, "harvest")
        payload = tmp_path / "p.json"
        payload.write_text(
            json.dumps(
                {
                    "type": "harvest",
                    "party": COOP,
                    "lot": f"{COOP}:cli-1",
                    "product": "coffee",
                    "form": "cherry",
                    "quantity": "4",
                    "unit": "kg",
                    "member": f"{COOP}:m-0042",
                    "plot": f"{COOP}:p-0042-1",
                }
            )
        )
        key = str(tmp_path / "field-tablet.key")
        ledger = served.operator.ledger
        assert ledger is not None
        signed = run_trazo("sign", str(payload), "--key", key, "--ledger", ledger)
        assert signed.returncode == 0, signed.stderr
        sent = run_trazo("submit", "--key", key, "--server", f"{served.base}/api/v1/")
        assert sent.returncode == 0, sent.stderr
        offline(browser, True)
        try:
            go(browser, "#record/harvest")
            type_into(browser, "lot", f"{COOP}:tab-2")
            type_into(browser, "quantity", "5")
            submit(browser)
            wait_for(browser, kept, "not kept")
        finally:
            offline(browser, False)
        landed(browser, "harvest", 2)
        mine = [
            e
            for e in served.events(COOP)
            if e["key"] == text_of(browser, "#keyid")
            or e["key"] == keyid_of(base64.b64decode(public))
        ]
        assert [(e["seq"], e["payload"]["lot"]) for e in mine] == [
            (1, f"{COOP}:tab-1"),
            (2, f"{COOP}:cli-1"),
            (3, f"{COOP}:tab-2"),
        ]
    finally:
        browser.quit()


def test_every_form_at_phone_width(served: Served, keys: Keys, clerk: Any) -> None:
    clerk.get(f"{served.base}/console/?lang=es")
    wait_for(clerk, lambda d: text_of(d, "#who") == COOP, "console not open")
    go(clerk, "#record/harvest")
    type_into(clerk, "lot", f"{COOP}:twice")
    type_into(clerk, "quantity", "7")
    record(clerk, "harvest")
    for form in ("dispose", "void"):
        go(clerk, f"#record/{form}")
        wait_for(clerk, lambda d, f=form: css(d, f"form.capture[data-form='{f}']"), form)
        shoot(clerk, form)
    # the void form, used: that harvest has nothing downstream
    twice = next(e for e in served.events(COOP) if e["payload"].get("lot") == f"{COOP}:twice")
    choose(clerk, "event", value=twice["id"])
    type_into(clerk, "reason", "entregado dos veces")
    record(clerk, "void")
    assert served.events(COOP)[-1]["payload"]["event"] == twice["id"]
    go(clerk, "#key")
    shoot(clerk, "key")
    go(clerk, "#record")
    shoot(clerk, "menu")


def test_the_browsers_wire_format_is_the_ledgers(served: Served, clerk: Any) -> None:
    """dsse.js and the console's payload bytes against ledger/envelope.py and
    ledger/payload.py, byte for byte."""
    import hashlib
    import os

    from ledger.envelope import b64encode, event_id, pae
    from ledger.payload import dumps_payload

    clerk.get(f"{served.base}/console/")
    wait_for(clerk, lambda d: css(d, "#tabs a"), "console not open")
    blobs = [b"", b"a", b"ab", b"abc", b"abcd", os.urandom(100), "café ☕".encode()]
    body = {
        "type": "harvest",
        "lot": "coop:h-1",
        "quantity": "46.5",
        "seq": 2,
        "prev": None,
        "note": 'ñandú \u2028 \t \u001f "q" / \\',
        "lots": [{"b": "1", "a": "2"}],
    }
    answer = clerk.execute_script(
        "return (async () => { const d = await import('/static/js/dsse.js');"
        " const k = await import('/console/keys.js');"
        " const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');"
        " const out = {b64: [], pae: [], ids: [], bad: []};"
        " for (const blob of arguments[0]) { const b = Uint8Array.from(blob);"
        "   out.b64.push(d.b64encode(b)); out.pae.push(hex(d.pae('t/x+json', b)));"
        "   out.ids.push(await d.eventId(b)); out.round = hex(d.b64decode(d.b64encode(b))); }"
        " out.keyid = await d.keyidOf(Uint8Array.from(arguments[0][5].slice(0, 32)));"
        " out.payload = hex(k.payloadBytes(arguments[1]));"
        " for (const text of ['QQ', 'QR==', 'Q===', 'QQ==\\n', 'Q Q=', '====']) {"
        "   try { d.b64decode(text); out.bad.push('accepted ' + text); }"
        "   catch (e) { out.bad.push('refused'); } }"
        " try { k.payloadBytes({quantity: 1.5}); out.float = 'signed'; }"
        " catch (e) { out.float = 'refused'; }"
        " return out; })()",
        [list(b) for b in blobs],
        body,
    )
    assert answer["b64"] == [b64encode(b) for b in blobs]
    assert answer["pae"] == [pae("t/x+json", b).hex() for b in blobs]
    assert answer["ids"] == [event_id(b) for b in blobs]
    assert answer["round"] == blobs[-1].hex()
    assert answer["keyid"] == hashlib.sha256(blobs[5][:32]).hexdigest()
    assert answer["payload"] == dumps_payload(body).hex()
    assert answer["bad"] == ["refused"] * 6
    assert answer["float"] == "refused"
