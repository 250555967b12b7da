"""The in-browser verifier in real Chromium, JavaScript on: the "check it yourself" button of
the demo's published bags, served by the app and as the static files of ``trazo publish``,
on tampered copies, and on every forged bundle of tests/graph/test_forged_bundles.py.

The JavaScript verifier (``api/static/js/verify.js``) is a second implementation of
``graph.verify.verify_bundle``: every case here is run through both, and they must agree.
Screenshots at phone width (390 px) go to ``test-artifacts/``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from api.pages import publish
from graph.bundle import build_bundle
from graph.page import page_model
from graph.verify import verify_bundle
from ledger.checkpoint import LogKey, NoteSigner, sign_note, split_note
from ledger.envelope import raw_public_key
from ledger.keys import load_private_key
from ledger.store import Store
from tests.api.test_browser import (  # noqa: F401  (module fixtures, shared)
    ARTIFACTS,
    CHROMEDRIVER,
    CHROMIUM,
    FLAGS,
    PHONE,
    Ledger,
    ledger,
    server,
)
from tests.support import World, seeded_key

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory, ledger: Ledger) -> Iterator[Any]:  # noqa: F811
    """Headless Chromium at a phone's size with JavaScript on."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM if Path(CHROMIUM).exists() else str(shutil.which("chromium"))
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-js')}")
    options.add_argument(f"--window-size={PHONE['width']},{PHONE['height']}")
    options.add_experimental_option("mobileEmulation", {"deviceMetrics": PHONE})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


def _log_key(ledger: Ledger) -> LogKey:  # noqa: F811
    return LogKey(raw_public_key(load_private_key(ledger.keys / "log.key").public_key()))


def _verifier_key(ledger: Ledger) -> str:  # noqa: F811
    return NoteSigner(ledger.origin, load_private_key(ledger.keys / "log.key")).verifier_key()


class _StaticSite:
    """A folder served over HTTP on 127.0.0.1, as any static web host would."""

    def __init__(self, root: Path) -> None:
        handler = partial(_QuietFiles, directory=str(root))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, ledger: Ledger) -> Iterator[tuple[Path, str]]:  # noqa: F811
    """``trazo publish``'s files of the single-origin bag, served statically; returns the
    served folder (tampered copies go in subfolders) and its URL."""
    root = tmp_path_factory.mktemp("static-site")
    lot = ledger.single_origin_bag
    model = page_model(ledger.store, lot, log_key=_verifier_key(ledger))
    links = publish.Links.static(f"https://brand.example/{lot}/index.html", lot)
    publish.publish(model, links, build_bundle(ledger.store, lot), root / "bag")
    served = _StaticSite(root)
    yield root, served.base
    served.close()


def _run_check(driver: Any, url: str) -> tuple[str, list[dict[str, str]]]:
    """Open ``url``, tap the check button, wait for the result: (outcome, findings)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    button = driver.find_element(By.CSS_SELECTOR, "[data-verify]")
    assert button.is_displayed()
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()
    result = driver.find_element(By.ID, "verify-result")
    WebDriverWait(driver, 60).until(lambda d: result.get_attribute("data-verify-result"))
    findings = [
        {"event": e.get_attribute("data-event") or "", "text": e.text}
        for e in result.find_elements(By.CSS_SELECTOR, "li.finding")
    ]
    return str(result.get_attribute("data-verify-result")), findings


def _screenshot(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 5_000
    return path


# --- the demo's bags ---------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["single_origin_bag", "blended_bag"])
def test_the_button_checks_a_served_bag(
    which: str,
    ledger: Ledger,  # noqa: F811
    server: str,  # noqa: F811
    chromium: Any,
) -> None:
    from selenium.webdriver.common.by import By

    bag = getattr(ledger, which)
    outcome, findings = _run_check(chromium, f"{server}/p/{bag}?lang=en")
    assert (outcome, findings) == ("ok", [])
    steps = [e.text for e in chromium.find_elements(By.CSS_SELECTOR, "#verify-steps li")]
    assert len(steps) >= 10 and all(s.startswith("✓") for s in steps), steps
    assert any("certified share" in s for s in steps)
    assert verify_bundle(build_bundle(ledger.store, bag), _log_key(ledger)).ok  # Python agrees
    assert any("price figures" in s for s in steps)
    if which == "single_origin_bag":  # the price section, farm gate included, at 390 px
        _price_section_fits(chromium, "prices-390.png")
        chromium.get(f"{server}/p/{bag}?lang=es")
        _price_section_fits(chromium, "prices-es-390.png")
    if which == "blended_bag":
        result = chromium.find_element(By.ID, "verify-result")
        chromium.execute_script("arguments[0].scrollIntoView({block: 'end'})", result)
        _screenshot(chromium, "verify-result-390.png")
        chromium.execute_script("window.scrollTo(0, 0)")
        _screenshot(chromium, "page-top-390.png")
        figures = chromium.find_elements(By.CSS_SELECTOR, "figure.map")
        outlines = [
            f.find_element(By.CSS_SELECTOR, "path.outline").get_attribute("data-country")
            for f in figures
        ]
        assert {"BR", "HN"} <= set(outlines), outlines  # the plantation's country too
        chromium.execute_script("arguments[0].scrollIntoView({block: 'start'})", figures[-2])
        _screenshot(chromium, "map-390.png")


def _price_section_fits(driver: Any, name: str) -> None:
    """The price section is on the page, within the phone's width, and photographed."""
    from selenium.webdriver.common.by import By

    section = driver.find_element(By.CSS_SELECTOR, "section[aria-labelledby=prices]")
    text = section.text
    english = driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    words = ("per lb FOB", "minimum price", "farm gate") if english else ("por lb FOB", "mínimo")
    assert all(w in text for w in words), text
    width = driver.execute_script("return document.documentElement.clientWidth")
    widest = driver.execute_script(
        "return Math.max(...[...arguments[0].querySelectorAll('*')]"
        ".map((e) => e.getBoundingClientRect().right))",
        section,
    )
    assert widest <= width, (widest, width)  # nothing runs off the side of a phone
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", section)
    _screenshot(driver, name)


def test_the_button_checks_the_static_files(site: tuple[Path, str], chromium: Any) -> None:
    _root, base = site
    assert _run_check(chromium, f"{base}/bag/index.html") == ("ok", [])
    _price_section_fits(chromium, "prices-static-390.png")
    assert _run_check(chromium, f"{base}/bag/es.html")[0] == "ok"


# --- tampered static copies ----------------------------------------------------------------------


def _payload(item: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(base64.b64decode(item["envelope"]["payload"]))
    return loaded


def _event_id(item: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(base64.b64decode(item["envelope"]["payload"])).hexdigest()


def _changed_quantity(bundle: dict[str, Any]) -> tuple[str, str]:
    """A harvest's quantity raised by one kilogram, the payload re-encoded as it was."""
    events = bundle["events"]
    n, item = next((n, e) for n, e in enumerate(events) if _payload(e)["type"] == "harvest")
    raw = base64.b64decode(item["envelope"]["payload"])
    body = _payload(item)
    old = f'"quantity":"{body["quantity"]}"'.encode()
    assert old in raw
    new = f'"quantity":"{int(float(body["quantity"])) + 1}"'.encode()
    item["envelope"]["payload"] = base64.b64encode(raw.replace(old, new, 1)).decode()
    return _event_id(bundle["events"][n]), "signatures"


def _dropped_event(bundle: dict[str, Any]) -> tuple[str, str]:
    """A shipment left out: its receipt builds on nothing in the bundle."""
    ship = next(e for e in bundle["events"] if _payload(e)["type"] == "ship")
    bundle["events"].remove(ship)
    receipt = next(
        e
        for e in bundle["events"]
        if _payload(e)["type"] == "receive" and _payload(e)["shipment"] == _event_id(ship)
    )
    return _event_id(receipt), "references"


def _changed_inclusion_hash(bundle: dict[str, Any]) -> tuple[str, str]:
    item = next(e for e in bundle["events"] if e["inclusion"])
    first = item["inclusion"][0]
    item["inclusion"][0] = ("0" if first[0] != "0" else "1") + first[1:]
    return _event_id(item), "inclusion"


def _checkpoint_by_another_key(bundle: dict[str, Any]) -> tuple[str, str]:
    body, _ = split_note(bundle["checkpoint"])
    origin = body.decode().split("\n", 1)[0]
    bundle["checkpoint"] = sign_note(body, NoteSigner(origin, seeded_key("not-the-log")))
    return "", "checkpoint"


TAMPERINGS: dict[str, Callable[[dict[str, Any]], tuple[str, str]]] = {
    "changed-quantity": _changed_quantity,
    "dropped-event": _dropped_event,
    "changed-inclusion-hash": _changed_inclusion_hash,
    "checkpoint-by-another-key": _checkpoint_by_another_key,
}


@pytest.mark.parametrize("how", list(TAMPERINGS))
def test_a_tampered_static_copy_fails_naming_the_event(
    how: str,
    site: tuple[Path, str],
    ledger: Ledger,  # noqa: F811
    chromium: Any,
) -> None:
    root, base = site
    copy_dir = root / how
    shutil.copytree(root / "bag", copy_dir, dirs_exist_ok=True)
    bundle = json.loads((copy_dir / "bundle.json").read_text())
    event, check = TAMPERINGS[how](bundle)
    (copy_dir / "bundle.json").write_text(json.dumps(bundle, indent=1))

    outcome, findings = _run_check(chromium, f"{base}/{how}/index.html")
    assert outcome == "failed"
    texts = [f["text"] for f in findings]
    if event:
        named = [f["text"] for f in findings if f["event"] == event]
        assert named and any(t.startswith(f"[{check}]") for t in named), texts
    else:
        assert any(t.startswith("[checkpoint]") and "log key" in t for t in texts), texts
    python = verify_bundle(bundle, _log_key(ledger))
    assert not python.ok  # Python agrees …
    if event:  # … and names the same event
        assert any(f.event == event for f in python.findings)
    if how == "changed-quantity":
        from selenium.webdriver.common.by import By

        result = chromium.find_element(By.ID, "verify-result")
        chromium.execute_script("arguments[0].scrollIntoView({block: 'start'})", result)
        _screenshot(chromium, "verify-failed-390.png")


# --- Python and JavaScript agree on every bundle -----------------------------------------------


def _compounded_tolerance(world: World) -> None:
    """The coop mills parchment to green at its yield plus the whole tolerance, then roasts
    the green at its yield plus the tolerance again: each step passes, the path does not."""
    from tests.graph import chains
    from tests.graph import test_forged_bundles as forged

    c = chains.base(world)
    lot, green = f"{chains.COOP}:h-1", f"{chains.COOP}:g-1"
    h = c.harvest(chains.COOP, lot, "100", chains.M1, chains.P1, form="parchment")
    milled = c.transform(chains.COOP, "dry-mill", [(lot, h, "100")], [(green, "green", "82.41")])
    roast = world.sign(
        chains.COOP,
        {
            "type": "transform",
            "process": "roast",
            "inputs": [forged.line(green, milled, "82.41")],
            "outputs": [
                {
                    "lot": f"{chains.COOP}:r-1",
                    "product": "coffee",
                    "form": "roasted",
                    "quantity": "74.5",
                    "unit": "kg",
                }
            ],
        },
    )
    forged.smuggle(world, roast)
    report = verify_bundle(forged.bundle_for(world.store, f"{chains.COOP}:r-1"), forged.TRUSTED)
    (mine,) = [f for f in report.findings if f.event == roast.id]
    assert mine.check == "conservation" and "once per path" in mine.message


def _forged_bundles(folder: Path) -> Iterator[tuple[str, dict[str, Any], LogKey]]:
    """Every forged bundle of tests/graph/test_forged_bundles.py, each from a fresh ledger
    (the scenario functions build the forgery and check Python's own findings first)."""
    from tests.graph import chains
    from tests.graph import test_forged_bundles as forged

    def fresh(name: str) -> World:
        store = Store(f"sqlite:///{folder / name}.db")
        store.migrate()
        return World.create(store)

    scenarios: dict[str, tuple[Callable[[World], Any], str]] = {
        "self-ship": (forged.test_a_self_ship_is_named, f"{chains.COOP}:g-1"),
        "impossible-process": (forged.test_an_impossible_process_is_named, f"{chains.ROASTER}:r-1"),
        "key-added-to-another": (forged._key_added_by_a_trader, f"{chains.COOP}:h-x"),
        "key-revoked-by-another": (
            forged.test_a_key_revoked_by_another_party_is_named,
            f"{chains.COOP}:h-1",
        ),
        "member-left-by-another": (forged._member_left_by_another_spo, f"{chains.COOP}:h-1"),
        "registered-by-another": (
            forged.test_a_party_registered_by_another_party_is_named,
            "finca-sombra:h-1",
        ),
        "inverted-certificate": (
            forged.test_a_certificate_valid_until_before_valid_from_is_named,
            f"{chains.COOP}:h-1",
        ),
        "overspend": (forged.test_an_overspend_is_a_conservation_finding, f"{chains.ROASTER}:r-1"),
        "compounded-tolerance": (_compounded_tolerance, f"{chains.COOP}:r-1"),
    }
    for name, (scenario, lot) in scenarios.items():
        world = fresh(name)
        scenario(world)
        yield name, forged.bundle_for(world.store, lot), forged.TRUSTED
        world.store.dispose()
    for valid_from, valid_until in [("2025-01-01", "2026-02-28"), ("2026-06-01", "2027-12-31")]:
        world = fresh(f"uncovered-{valid_from}")
        c = chains.Coffee(world)
        c.party(chains.COOP, ["spo"])
        c.party(forged.CERTIFIER, ["certifier"], "DE")
        c.certify(chains.COOP, "SPP-PE-1", valid_from=valid_from, valid_until=valid_until)
        c.enroll(chains.COOP, chains.M1, chains.P1, "2.4")
        c.harvest(chains.COOP, f"{chains.COOP}:h-1", "100", chains.M1, chains.P1)
        honest = build_bundle(world.store, f"{chains.COOP}:h-1")
        yield f"honest-uncovered-{valid_from}", honest, forged.TRUSTED
        claim = dict(honest, verdict=forged._claim_certified(honest["verdict"]))
        yield f"claimed-certified-{valid_from}", claim, forged.TRUSTED
        world.store.dispose()


def _bundle_forgeries(ledger: Ledger) -> Iterator[tuple[str, dict[str, Any]]]:  # noqa: F811
    """What a server could do to a bundle without any party's key: add a logged event of
    another lot, leave out an enrolment or a certificate, claim another share, reorder
    the events, loosen the rule tables."""
    single = build_bundle(ledger.store, ledger.single_origin_bag)
    blended = build_bundle(ledger.store, ledger.blended_bag)
    mine = {_event_id(e) for e in single["events"]}
    stranger = next(
        e
        for e in blended["events"]
        if _event_id(e) not in mine and _payload(e)["type"] == "harvest"
    )  # logged under the same checkpoint: its inclusion proof holds
    added = copy.deepcopy(single)
    added["events"] = sorted([*added["events"], stranger], key=lambda e: e["index"])
    yield "added-event-of-another-lot", added
    for kind in ("member.enroll", "cert.issue"):
        dropped = copy.deepcopy(single)
        first = next(e for e in dropped["events"] if _payload(e)["type"] == kind)
        dropped["events"].remove(first)
        yield f"dropped-{kind}", dropped
    claim = copy.deepcopy(blended)
    claim["verdict"]["certified_fraction"] = "4/5"
    yield "claimed-share", claim
    swapped = copy.deepcopy(single)
    swapped["events"][5], swapped["events"][6] = swapped["events"][6], swapped["events"][5]
    yield "events-out-of-order", swapped
    yield "plots-smuggled", dict(single, plots=[{"plot": "x", "lat": "-11.429711"}])
    decoded = copy.deepcopy(single)
    decoded["events"][3]["payload_decoded"] = _payload(decoded["events"][3])
    yield "payload-decoded-beside-an-envelope", decoded
    loosened = copy.deepcopy(single)
    steps = loosened["tables"]["products"]["products"]["coffee"]["steps"]
    steps[0]["max_yield"] = "0.9"
    yield "loosened-tables", loosened


def _js_verdicts(driver: Any, base: str, cases: list[tuple[str, Any, str]]) -> dict[str, Any]:
    """verify.js run in the page on each (name, bundle, verifier key), trusting the tables
    the page trusts (as Python trusts its own): name → its report."""
    driver.get(f"{base}/bag/index.html")
    return dict(
        driver.execute_async_script(
            """
            const [cases, done] = [arguments[0], arguments[arguments.length - 1]];
            const tablesDigest = document.getElementById("verify-box").dataset.tables;
            import(new URL("js/verify.js", location.href)).then(async (m) => {
              const out = [];
              for (const [name, bundle, key] of cases) {
                const r = await m.verifyBundle(bundle, {logKey: key, tablesDigest});
                out.push([name, {ok: r.ok, findings: r.findings, prices: r.prices ?? null}]);
              }
              done(out);
            }, (e) => done([["error", String(e)]]));
            """,
            [[n, b, k] for n, b, k in cases],
        )
    )


def test_python_and_javascript_agree_on_every_bundle(
    tmp_path: Path,
    site: tuple[Path, str],
    ledger: Ledger,  # noqa: F811
    chromium: Any,
) -> None:
    from ledger.checkpoint import format_verifier_key

    _root, base = site
    demo_key = _verifier_key(ledger)
    cases: list[tuple[str, dict[str, Any], LogKey, str]] = []
    for which in ("single_origin_bag", "blended_bag"):
        bundle = build_bundle(ledger.store, getattr(ledger, which))
        cases.append((which, bundle, _log_key(ledger), demo_key))
        for how, tamper in TAMPERINGS.items():
            tampered = copy.deepcopy(bundle)
            tamper(tampered)
            cases.append((f"{which}/{how}", tampered, _log_key(ledger), demo_key))
    for name, bundle in _bundle_forgeries(ledger):
        cases.append((name, bundle, _log_key(ledger), demo_key))
    for name, bundle, key in _forged_bundles(tmp_path):
        origin = bundle["checkpoint"].split("\n", 1)[0]
        cases.append((name, bundle, key, format_verifier_key(origin, key.public_key)))

    assert len(cases) == 2 * (1 + len(TAMPERINGS)) + 8 + 9 + 4
    js = _js_verdicts(chromium, base, [(n, b, vkey) for n, b, _k, vkey in cases])
    assert "error" not in js, js.get("error")
    python = {n: verify_bundle(json.loads(json.dumps(b)), k) for n, b, k, _v in cases}
    disagree = {
        n: (python[n].ok, [str(f) for f in python[n].findings][:3], js[n]["findings"][:3])
        for n, *_ in cases
        if python[n].ok != js[n]["ok"]
    }
    assert disagree == {}
    assert sum(r.ok for r in python.values()) == 4  # two demo bags, two honest uncovered harvests
    for name, *_ in cases:  # a forged event Python names, JavaScript names too
        named = {f.event for f in python[name].findings if f.event}
        assert not named or named & {f["event"] for f in js[name]["findings"]}, name


# --- the demo's pages, read as bytes -----------------------------------------------------------


def _get(url: str, language: str = "en") -> str:
    from urllib.request import Request, urlopen

    with urlopen(Request(url, headers={"Accept-Language": language}), timeout=30) as response:
        return str(response.read().decode("utf-8"))


def test_the_demo_bag_page_leads_with_the_bag_and_maps_without_precision(
    ledger: Ledger,  # noqa: F811
    server: str,  # noqa: F811
) -> None:
    import re

    from sqlalchemy import select

    from ledger.schema import PlotRow

    if ledger.source != "demo chain":
        pytest.skip("the demo chain is not importable")
    with ledger.store.reading() as session:
        geometries = [json.loads(g) for (g,) in session.execute(select(PlotRow.geometry)) if g]
    coordinates: set[str] = set()
    for geometry in geometries:
        text = json.dumps(geometry["coordinates"])
        coordinates |= set(re.findall(r"-?\d+\.\d{3,}", text))
    assert len(coordinates) > 20
    blended = _get(f"{server}/p/{ledger.blended_bag}", "es-MX,es")
    assert "bolsa de 250\xa0g" in blended
    bag_line = "Esta bolsa: 187.5\xa0g de socios de Cooperativa Cafetalera Sierra de Marcala."
    assert bag_line in blended
    assert "2,109.562" in blended  # es-MX writes it so; es-ES would write 2.109,562
    assert "2.109,562" in _get(f"{server}/p/{ledger.blended_bag}", "es-ES,es")
    for bag in (ledger.single_origin_bag, ledger.blended_bag):
        for lang in publish.LANGUAGES:
            html = _get(f"{server}/p/{bag}?lang={lang}")
            assert re.findall(r'<path class="outline" data-country="[A-Z]{2}"', html)
            for coordinate in coordinates:
                for places in (2, 3):  # truncated past the cell's one decimal
                    cut = coordinate[: coordinate.index(".") + places + 1]
                    assert cut.lstrip("-") not in html or (places == 2 and _innocent(cut, html))
            assert not re.findall(r"\d+\.\d{5,}", html)


def _innocent(cut: str, html: str) -> bool:
    """A two-decimal cut of a coordinate may occur as another number (a quantity such as
    2,812.75): innocent only where it is not a position (outside every picture and title)."""
    import re

    pictures = "".join(re.findall(r"<svg.*?</svg>", html, flags=re.S))
    return cut.lstrip("-") not in pictures


def test_witness_cosignatures_are_counted_as_python_counts_them(
    site: tuple[Path, str],
    ledger: Ledger,  # noqa: F811
    chromium: Any,
) -> None:
    """A checkpoint cosigned by a witness: the quorum holds with its key, not with another's,
    and a cosignature line that does not verify counts for nothing, in both verifiers."""
    from graph.verify import WitnessPolicy
    from ledger.cosignature import Cosigner

    _root, base = site
    bundle = build_bundle(ledger.store, ledger.single_origin_bag)
    body, _ = split_note(bundle["checkpoint"])
    witness = Cosigner("witness.example/w1", seeded_key("witness-1"))
    other = Cosigner("witness.example/w2", seeded_key("witness-2"))
    cosigned = dict(bundle, checkpoint=bundle["checkpoint"] + witness.cosign(body, 1_765_000_000))
    line = other.cosign(body, 1_765_000_000)
    broken = dict(
        bundle,
        checkpoint=bundle["checkpoint"] + line[:-6] + ("A" if line[-6] != "A" else "B") + line[-5:],
    )
    origin, size, _root = body.decode().split("\n")[:3]
    elsewhere = f"{origin}\n{int(size) - 1}\n{base64.b64encode(bytes(32)).decode()}\n".encode()
    stray = dict(
        bundle, checkpoint=bundle["checkpoint"] + witness.cosign(elsewhere, 1_765_000_000)
    )  # the witness cosigned another checkpoint of the log; its line is moved onto this one
    cases = [
        ("with-its-witness", cosigned, witness.key.verifier_key()),
        ("cosigned-another-checkpoint", stray, witness.key.verifier_key()),
        ("with-another-witness", cosigned, other.key.verifier_key()),
        ("broken-line", broken, other.key.verifier_key()),
    ]
    chromium.get(f"{base}/bag/index.html")
    js = dict(
        chromium.execute_async_script(
            """
            const [cases, key] = [arguments[0], arguments[1]];
            const done = arguments[arguments.length - 1];
            import(new URL("js/verify.js", location.href)).then(async (m) => {
              const out = [];
              for (const [name, bundle, witness] of cases) {
                const options = {logKey: key, witnesses: [witness], quorum: 1};
                const r = await m.verifyBundle(bundle, options);
                out.push([name, {ok: r.ok, by: r.cosignedBy}]);
              }
              done(out);
            });
            """,
            [list(c) for c in cases],
            _verifier_key(ledger),
        )
    )
    for name, document, vkey in cases:
        python = verify_bundle(document, _log_key(ledger), WitnessPolicy.parse([vkey], 1))
        assert js[name]["ok"] == python.ok, name
        assert js[name]["by"] == python.cosigned_by, name
    assert js["with-its-witness"] == {"ok": True, "by": ["witness.example/w1"]}
    assert not js["with-another-witness"]["ok"] and not js["broken-line"]["ok"]
    assert not js["cosigned-another-checkpoint"]["ok"]


def test_without_the_bundle_beside_it_the_page_checks_a_downloaded_file(
    site: tuple[Path, str], chromium: Any
) -> None:
    """Offline, or where the bundle is not served: the reader picks the file they downloaded."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    root, base = site
    copy_dir = root / "no-bundle"
    shutil.copytree(root / "bag", copy_dir, dirs_exist_ok=True)
    downloaded = root / "downloaded.bundle.json"
    (copy_dir / "bundle.json").rename(downloaded)
    chromium.get(f"{base}/no-bundle/index.html")
    chromium.find_element(By.CSS_SELECTOR, "[data-verify]").click()
    picker = WebDriverWait(chromium, 30).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#verify-result input[type=file]")
    )
    picker.send_keys(str(downloaded))
    result = chromium.find_element(By.ID, "verify-result")
    WebDriverWait(chromium, 60).until(lambda d: result.get_attribute("data-verify-result"))
    assert result.get_attribute("data-verify-result") == "ok"


# --- prices: the disclosed figures, recomputed by both verifiers ----------------------------------


def _rich_prices(world: World) -> str:
    """Two cooperatives paid for one bag: parchment milled to green, shipped in two lots (one
    claimed organic), paid in euros with a stated rate and in dollars below the minimum;
    member payments in soles with a rate and a second payment in dollars (farm-gate figures
    converted from parchment at the maximum yield). Returns the bag."""
    from tests.graph import chains
    from tests.graph.fair import STANDARD, member_payment_body, payment_body, price_list_body

    c = chains.base(world)
    coop, coop2, exporter, roaster = chains.COOP, chains.COOP2, chains.EXPORTER, chains.ROASTER
    c.party(STANDARD, ["standard"], "MX")
    c.append(STANDARD, price_list_body())
    h1 = c.harvest(coop, f"{coop}:h-1", "100", chains.M1, chains.P1, form="parchment")
    h2 = c.harvest(coop, f"{coop}:h-2", "50", chains.M1, chains.P1, form="parchment")
    green = f"{coop}:g-1"
    milled = c.transform(
        coop,
        "dry-mill",
        [(f"{coop}:h-1", h1, "100"), (f"{coop}:h-2", h2, "50")],
        [(green, "green", "120")],
    )
    organic = c.append(
        coop,
        {
            "type": "ship",
            "to": exporter,
            "claims": ["SPP", "ORG"],
            "lots": [{"lot": green, "event": milled, "quantity": "70", "unit": "kg"}],
        },
    )
    r1 = c.receive(exporter, organic, [(green, "70")])
    r2 = c.move(coop, exporter, green, milled, "50")
    h3 = c.harvest(coop2, f"{coop2}:h-1", "40", chains.M2, chains.P2)
    r3 = c.move(coop2, exporter, f"{coop2}:h-1", h3, "40")
    c.append(coop, member_payment_body(h1, harvests=[h1, h2], amount="1425"))
    c.append(
        coop,
        member_payment_body(
            h1,
            part="second-payment",
            price="0.35",
            unit="lb",
            currency="USD",
            rate=None,
            amount="77.16",
        ),
    )
    paid = [
        c.append(
            exporter,
            payment_body(
                r1,
                kg="70",
                price="6.10",
                premium="0.40",
                unit="kg",
                currency="EUR",
                rate={"currency": "USD", "value": "1.0843"},
            ),
        ),
        c.append(exporter, payment_body(r2, kg="50", price="2.30", premium="0.10")),
        c.append(exporter, payment_body(r3, kg="40", to=coop2, price="3.25")),
    ]
    for payment, seller in zip(paid, (coop, coop, coop2), strict=True):
        c.append(seller, {"type": "payment.confirm", "payment": payment, "disclose": True})
    at_roaster = c.ship(exporter, roaster, [(green, r1, "70"), (green, r2, "50")])
    at_roaster2 = c.ship(exporter, roaster, [(f"{coop2}:h-1", r3, "40")])
    got = c.receive(roaster, at_roaster, [(green, "120")])
    got2 = c.receive(roaster, at_roaster2, [(f"{coop2}:h-1", "40")])
    return chains.roast_and_pack(
        c, [(green, got, "120"), (f"{coop2}:h-1", got2, "40")], "160", name="rich"
    )


def _registration(store: Store, party: str) -> str:
    from sqlalchemy import select

    from ledger.schema import EventRow

    with store.reading() as session:
        for row in session.scalars(select(EventRow).where(EventRow.type == "party.register")):
            if json.loads(row.payload)["subject"] == party:
                return str(row.id)
    raise AssertionError(f"{party} is not registered")


def _smuggled_price_list(
    world: World, signer: str, changes: dict[str, str]
) -> tuple[dict[str, Any], bool, set[str]]:
    """A paid and confirmed bag priced against a list the rules refuse (signed by a party
    that is not a standard-setter, or dated back), smuggled into the log behind the append
    path and into the bundle with the figures it would give: (bundle, passes, named)."""
    from tests.graph import chains
    from tests.graph import test_prices as tp
    from tests.graph.fair import LOT, STANDARD, payment_body, price_list_body
    from tests.graph.test_forged_bundles import smuggle

    c = chains.base(world)
    c.party(STANDARD, ["standard"], "MX")
    h = c.harvest(chains.COOP, LOT, "100", chains.M1, chains.P1)
    receipt = c.move(chains.COOP, chains.EXPORTER, LOT, h, "100")
    paid = c.append(chains.EXPORTER, payment_body(receipt))
    confirmed = c.append(
        chains.COOP, {"type": "payment.confirm", "payment": paid, "disclose": True}
    )
    at_roaster = c.move(chains.EXPORTER, chains.ROASTER, LOT, receipt, "100")
    bag = chains.roast_and_pack(c, [(LOT, at_roaster, "100")], "100")
    fake = world.sign(signer, price_list_body(**changes))
    smuggle(world, fake)
    fake_id = "sha256:" + hashlib.sha256(fake.payload).hexdigest()
    honest = build_bundle(world.store, bag)
    assert "prices" not in honest["verdict"]  # the ledger never admitted the list
    events = [paid, confirmed, fake_id, _registration(world.store, signer)]
    forged = tp.with_events(
        world.store, honest, *(e for e in events if e not in honest_ids(honest))
    )
    forged["verdict"]["prices"] = _claimed_figures(bag, forged)
    return forged, False, {fake_id}


def _paid_in_no_such_currency(world: World) -> tuple[dict[str, Any], bool, set[str]]:
    """Buyer and cooperative both sign, behind the append path, a disclosed payment in a
    currency ISO 4217 does not know (at a stated rate of 1 to the list's dollars), and the
    bundle claims the figures it would give if the code were known: the rules refuse it."""
    from unittest import mock

    from ledger import prices
    from tests.graph import chains
    from tests.graph import test_prices as tp
    from tests.graph.fair import LOT, STANDARD, payment_body, setup
    from tests.graph.test_forged_bundles import smuggle

    fair = setup(world)
    at_roaster = fair.c.move(chains.EXPORTER, chains.ROASTER, LOT, fair.receipt, "100")
    bag = chains.roast_and_pack(fair.c, [(LOT, at_roaster, "100")], "100")
    rate = {"currency": "USD", "value": "1"}
    paid = world.sign(chains.EXPORTER, payment_body(fair.receipt, currency="XTZ", rate=rate))
    paid_id = "sha256:" + hashlib.sha256(paid.payload).hexdigest()
    confirmed = world.sign(
        chains.COOP, {"type": "payment.confirm", "payment": paid_id, "disclose": True}
    )
    smuggle(world, paid, confirmed)
    honest = build_bundle(world.store, bag)
    events = [paid_id, "sha256:" + hashlib.sha256(confirmed.payload).hexdigest()]
    events += [fair.price_list, _registration(world.store, STANDARD)]
    forged = tp.with_events(world.store, honest, *events)
    with mock.patch.object(prices, "CURRENCIES", prices.CURRENCIES | {"XTZ"}):
        forged["verdict"]["prices"] = _claimed_figures(bag, forged)
    return forged, False, {paid_id}


def _claimed_figures(bag: str, bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures ``graph/prices.py`` gives over every event of ``bundle``, whether the
    rules admit them or not: what a forger would claim."""
    from graph.evidence import Evidence
    from graph.prices import price_section
    from ledger.envelope import Envelope

    evidence = Evidence.from_envelopes(
        (e["index"], Envelope.from_dict(e["envelope"])) for e in bundle["events"]
    )
    figures = price_section(bag, evidence).to_list()
    assert figures
    return figures


def honest_ids(bundle: dict[str, Any]) -> set[str]:
    return {_event_id(e) for e in bundle["events"]}


def _price_bundles(folder: Path) -> Iterator[tuple[str, dict[str, Any], bool, set[str]]]:
    """The price cases of tests/graph/test_prices.py, each from a fresh ledger, and more:
    (name, bundle, whether it must pass, events both verifiers must name)."""
    from tests.graph import chains
    from tests.graph import test_prices as tp
    from tests.graph.fair import LOT, STANDARD, paid_chain, payment_body, setup
    from tests.graph.test_forged_bundles import smuggle

    def fresh(name: str) -> World:
        store = Store(f"sqlite:///{folder / name}.db")
        store.migrate()
        return World.create(store)

    world = fresh("paid")
    fair = paid_chain(world)
    assert fair.bag and fair.confirmation
    honest = build_bundle(world.store, fair.bag)
    yield "paid", honest, True, set()
    changed = copy.deepcopy(honest)
    changed["verdict"]["prices"][0].update(price="3.50", above_minimum="0.98")
    yield "paid/changed-figure", changed, False, set()
    stripped = copy.deepcopy(honest)
    gone = tp._indexes(world.store, fair.confirmation)
    stripped["events"] = [e for e in stripped["events"] if e["index"] not in gone]
    yield "paid/figures-without-their-confirmation", stripped, False, set()
    world.store.dispose()

    world = fresh("undisclosed")
    fair = paid_chain(world, confirm_disclose=False, member_disclose=False, price="3.37")
    assert fair.bag and fair.payment and fair.confirmation
    honest = build_bundle(world.store, fair.bag)
    assert "prices" not in honest["verdict"]
    yield "undisclosed", honest, True, set()
    smuggled = tp.with_events(world.store, honest, fair.payment, fair.confirmation)
    yield "undisclosed/smuggled-in", smuggled, False, {fair.payment, fair.confirmation}
    forged = copy.deepcopy(smuggled)
    forged_id = ""
    for item in forged["events"]:
        payload = base64.b64decode(item["envelope"]["payload"])
        if b'"payment.confirm"' in payload:
            body = json.loads(payload)
            body["disclose"] = True
            rewritten = json.dumps(body).encode()
            item["envelope"]["payload"] = base64.b64encode(rewritten).decode()
            forged_id = "sha256:" + hashlib.sha256(rewritten).hexdigest()
    yield "undisclosed/forged-disclosure", forged, False, {forged_id}
    claimed = copy.deepcopy(honest)
    claimed["verdict"]["prices"] = copy.deepcopy(changed["verdict"]["prices"])
    yield "undisclosed/figures-claimed", claimed, False, set()
    world.store.dispose()

    world = fresh("payer-undisclosed")  # the cooperative disclosed, the buyer did not
    fair = paid_chain(world, disclose=False)
    assert fair.bag and fair.payment and fair.confirmation
    honest = build_bundle(world.store, fair.bag)
    assert "prices" not in honest["verdict"]
    events = (fair.payment, fair.confirmation, fair.price_list)
    smuggled = tp.with_events(world.store, honest, *events)
    yield "payer-undisclosed/smuggled-with-its-list", smuggled, False, set(events)
    world.store.dispose()

    world = fresh("buyer-confirms")
    fair = paid_chain(world, confirm_disclose=False)
    assert fair.bag and fair.payment
    fake = world.sign(
        chains.EXPORTER, {"type": "payment.confirm", "payment": fair.payment, "disclose": True}
    )
    smuggle(world, fake)
    honest = build_bundle(world.store, fair.bag)
    yield "member-payment-disclosed-alone", honest, True, set()
    fake_id = "sha256:" + hashlib.sha256(fake.payload).hexdigest()
    confirmed = tp.with_events(world.store, honest, fair.payment, fake_id)
    yield "confirmed-by-the-buyer", confirmed, False, {fake_id}
    world.store.dispose()

    world = fresh("disputed")  # the cooperative disputed the payment: never disclosed
    fair = setup(world)
    paid = fair.c.append(chains.EXPORTER, payment_body(fair.receipt))
    reason = "paid for 90 kg, not 100"
    disputed = fair.c.append(
        chains.COOP, {"type": "payment.dispute", "payment": paid, "reason": reason}
    )
    at_roaster = fair.c.move(chains.EXPORTER, chains.ROASTER, LOT, fair.receipt, "100")
    bag = chains.roast_and_pack(fair.c, [(LOT, at_roaster, "100")], "100")
    honest = build_bundle(world.store, bag)
    assert "prices" not in honest["verdict"]
    events = (paid, disputed, fair.price_list, _registration(world.store, STANDARD))
    yield (
        "disputed/slipped-in",
        tp.with_events(world.store, honest, *events),
        False,
        set(events[:3]),
    )
    # then the cooperative answers a second time, disclosing: the rules allow one answer
    second = world.sign(chains.COOP, {"type": "payment.confirm", "payment": paid, "disclose": True})
    smuggle(world, second)
    second_id = "sha256:" + hashlib.sha256(second.payload).hexdigest()
    honest = build_bundle(world.store, bag)  # under the checkpoint that logs it
    twice = tp.with_events(world.store, honest, *events, second_id)
    twice["verdict"]["prices"] = _claimed_figures(bag, twice)
    yield "disputed/then-confirmed", twice, False, {second_id, disputed}
    world.store.dispose()

    world = fresh("no-such-currency")
    yield "paid-in-no-iso-currency", *_paid_in_no_such_currency(world)
    world.store.dispose()

    for how, signer, changes in (
        ("signed-by-the-buyer", chains.EXPORTER, {"minimum": "1.00"}),
        ("retroactive", STANDARD, {"valid_from": "2026-02-01"}),
    ):
        world = fresh(f"list-{how}")
        yield f"price-list-{how}", *_smuggled_price_list(world, signer, changes)
        world.store.dispose()

    yield from _payment_rule_forgeries(fresh)
    yield from _amounts_at_the_edge(fresh)

    world = fresh("rich")
    bag = _rich_prices(world)
    rich = build_bundle(world.store, bag)
    spos = [f["spo"] for f in rich["verdict"]["prices"]]
    assert spos == [chains.COOP2, chains.COOP], spos
    yield "rich", rich, True, set()
    share = copy.deepcopy(rich)
    share["verdict"]["prices"][1]["farmgate_percent"] = "99.9"
    yield "rich/changed-farm-gate-share", share, False, set()
    world.store.dispose()

    # most of the premium passed on to the member: the farm-gate share is price for price
    world = fresh("premium-passed-on")
    bag, parts = tp.passed_on_premium(world)
    passed = build_bundle(world.store, bag)
    assert passed["verdict"]["prices"][0]["farmgate_percent"] == "95.6"
    yield "premium-passed-on", passed, True, set()
    # the operator counts the premium in, carrying its event: 3.14/lb, "101.4" % of FOB
    inflated = tp.with_events(world.store, passed, parts["premium"])
    inflated["verdict"]["prices"][0].update(farmgate="3.14", farmgate_percent="101.4")
    inflated["verdict"]["prices"][0]["events"]["member_payments"].append(parts["premium"])
    yield "premium-passed-on/premium-counted", inflated, False, set()
    world.store.dispose()


def _signed(world: World, party: str, body: dict[str, Any]) -> tuple[Any, str]:
    envelope = world.sign(party, body)
    return envelope, "sha256:" + hashlib.sha256(envelope.payload).hexdigest()


def _served_with(
    world: World, bag: str, envelopes: list[Any], also: tuple[str, ...] = ()
) -> dict[str, Any]:
    """``envelopes`` smuggled into the log behind the append path (no rule runs) and served
    in the bag's bundle with the stored events ``also``, claiming the figures
    graph/prices.py gives over them all: what an operator holding the database can serve."""
    from tests.graph import test_prices as tp
    from tests.graph.test_forged_bundles import smuggle

    smuggle(world, *envelopes)
    honest = build_bundle(world.store, bag)  # under the checkpoint that logs them
    ids = ["sha256:" + hashlib.sha256(e.payload).hexdigest() for e in envelopes]
    extra = [e for e in dict.fromkeys([*also, *ids]) if e not in honest_ids(honest)]
    forged = tp.with_events(world.store, honest, *extra)
    forged["verdict"]["prices"] = _claimed_figures(bag, forged)
    return forged


def _payment_rule_forgeries(
    fresh: Callable[[str], World],
) -> Iterator[tuple[str, dict[str, Any], bool, set[str]]]:
    """One forgery per rule of the attacker review on payments (ledger/prices.py
    check_amount, ledger/rules/payment.py, member_payment.py), each signed by the parties
    themselves and smuggled in: the rules refuse it in both verifiers, which name it."""
    from tests.graph import chains
    from tests.graph import test_prices as tp
    from tests.graph.fair import (
        LOT,
        STANDARD,
        member_payment_body,
        paid_chain,
        payment_body,
        price_list_body,
        setup,
    )

    def confirm(payment: str) -> dict[str, Any]:
        return {"type": "payment.confirm", "payment": payment, "disclose": True}

    def bag_of(fair: Any) -> str:
        at = fair.c.move(chains.EXPORTER, chains.ROASTER, LOT, fair.receipt, "100")
        return chains.roast_and_pack(fair.c, [(LOT, at, "100")], "100")

    # the premium counted inside the price too: 3.10/lb paid in all, 0.20 of it stated again
    world = fresh("premium-inside-the-price")
    fair = setup(world)
    bag = bag_of(fair)
    paid, paid_id = _signed(world, chains.EXPORTER, payment_body(fair.receipt, amount="683.43"))
    confirmed, _ = _signed(world, chains.COOP, confirm(paid_id))
    standard = _registration(world.store, STANDARD)
    also = (fair.price_list, standard)
    yield (
        "amount/premium-inside-the-price",
        _served_with(world, bag, [paid, confirmed], also),
        False,
        {paid_id},
    )
    world.store.dispose()

    # a member paid 950 for 100 kg stated at 95.00 per kg: a tenfold farm-gate price
    world = fresh("member-price-tenfold")
    fair = setup(world)
    paid_id = fair.c.append(chains.EXPORTER, payment_body(fair.receipt))
    fair.c.append(chains.COOP, confirm(paid_id))
    bag = bag_of(fair)
    tenfold, tenfold_id = _signed(
        world, chains.COOP, member_payment_body(fair.harvest, price="95.00")
    )
    yield "amount/member-price-tenfold", _served_with(world, bag, [tenfold]), False, {tenfold_id}
    world.store.dispose()

    # a receipt paid again while its first payment stands (its kilograms counted twice)
    world = fresh("paid-twice")
    fair = paid_chain(world)
    assert fair.bag
    again, again_id = _signed(world, chains.EXPORTER, payment_body(fair.receipt, price="4.00"))
    confirmed, _ = _signed(world, chains.COOP, confirm(again_id))
    yield "receipt-paid-twice", _served_with(world, fair.bag, [again, confirmed]), False, {again_id}
    world.store.dispose()

    # paid again once the seller disputed the first: the rules admit the new payment, whose
    # figures both verifiers show; the disputed one slipped in beside it is not needed
    world = fresh("repaid-after-dispute")
    fair = setup(world)
    first = fair.c.append(chains.EXPORTER, payment_body(fair.receipt, price="2.00"))
    reason = "paid at 2.00, the contract says 3.10"
    disputed = fair.c.append(
        chains.COOP, {"type": "payment.dispute", "payment": first, "reason": reason}
    )
    repaid = fair.c.append(chains.EXPORTER, payment_body(fair.receipt))
    fair.c.append(chains.COOP, confirm(repaid))
    bag = bag_of(fair)
    honest = build_bundle(world.store, bag)
    assert repaid in honest["verdict"]["prices"][0]["events"]["payments"]
    slipped = tp.with_events(world.store, honest, first, disputed)
    yield "repaid-after-dispute/first-slipped-in", slipped, False, {first, disputed}
    world.store.dispose()

    # a settlement for a delivery in the lot and one outside it: its amount (150 kg) is
    # held to its kilograms only where every harvest is carried, so both verifiers pass it
    world = fresh("settlement-beyond-the-lot")
    fair = setup(world)
    elsewhere = fair.c.harvest(chains.COOP, f"{chains.COOP}:h-2", "50", chains.M1, chains.P1)
    settled = member_payment_body(fair.harvest, harvests=[fair.harvest, elsewhere])
    settlement = fair.c.append(chains.COOP, {**settled, "amount": "1425"})
    paid_id = fair.c.append(chains.EXPORTER, payment_body(fair.receipt))
    fair.c.append(chains.COOP, confirm(paid_id))
    beyond = build_bundle(world.store, bag_of(fair))
    assert beyond["verdict"]["prices"][0]["events"]["member_payments"] == [settlement]
    assert elsewhere not in honest_ids(beyond)
    yield "settlement-beyond-the-lot", beyond, True, set()
    world.store.dispose()

    # a delivery's price stated again in a settlement (the farm-gate price doubled)
    world = fresh("member-price-twice")
    fair = paid_chain(world)
    assert fair.bag
    twice, twice_id = _signed(
        world, chains.COOP, member_payment_body(fair.harvest, price="19.00", amount="1900")
    )
    yield "member-price-twice", _served_with(world, fair.bag, [twice]), False, {twice_id}
    world.store.dispose()

    # goods shipped as SPP paid under FT, whose lower minimum the price clears
    world = fresh("scheme-not-claimed")
    fair = setup(world)
    ft = price_list_body("FT-2026", minimum="1.80")
    ft["scheme"] = "FT"
    ft_list = fair.c.append(STANDARD, ft)
    bag = bag_of(fair)
    paid, paid_id = _signed(
        world, chains.EXPORTER, payment_body(fair.receipt, scheme="FT", price="2.00")
    )
    confirmed, _ = _signed(world, chains.COOP, confirm(paid_id))
    also = (ft_list, _registration(world.store, STANDARD))
    yield "scheme-not-claimed", _served_with(world, bag, [paid, confirmed], also), False, {paid_id}
    world.store.dispose()


def _amounts_at_the_edge(
    fresh: Callable[[str], World],
) -> Iterator[tuple[str, dict[str, Any], bool, set[str]]]:
    """The tolerance of check_amount, to the last decimal in both verifiers: 3.30 per lb
    for 100 kg comes to 727.52546…, 0.5 % more is 731.16309…; at 0.000001 per lb (0.00022)
    the tolerance is the cent. An amount within it is appended and passes; one a thousandth
    beyond is signed, smuggled behind the append path and fails, naming the payment."""
    from tests.graph import chains
    from tests.graph.fair import LOT, STANDARD, payment_body, setup

    for name, changes, passes in (
        ("half-percent-within", {"amount": "731.163"}, True),
        ("half-percent-beyond", {"amount": "731.164"}, False),
        ("cent-within", {"price": "0.000001", "premium": None, "amount": "0.01"}, True),
        ("cent-beyond", {"price": "0.000001", "premium": None, "amount": "0.011"}, False),
    ):
        world = fresh(f"amount-{name}")
        fair = setup(world)
        body = payment_body(fair.receipt, **changes)
        confirm = {"type": "payment.confirm", "disclose": True}
        if passes:
            paid = fair.c.append(chains.EXPORTER, body)
            fair.c.append(chains.COOP, {**confirm, "payment": paid})
        at = fair.c.move(chains.EXPORTER, chains.ROASTER, LOT, fair.receipt, "100")
        bag = chains.roast_and_pack(fair.c, [(LOT, at, "100")], "100")
        if passes:
            yield f"amount/{name}", build_bundle(world.store, bag), True, set()
        else:
            envelope, paid = _signed(world, chains.EXPORTER, body)
            confirmed, _ = _signed(world, chains.COOP, {**confirm, "payment": paid})
            also = (fair.price_list, _registration(world.store, STANDARD))
            forged = _served_with(world, bag, [envelope, confirmed], also)
            yield f"amount/{name}", forged, False, {paid}
        world.store.dispose()


def _demo_price_forgeries(ledger: Ledger) -> Iterator[tuple[str, dict[str, Any], bool, set[str]]]:  # noqa: F811
    """The demo's bag with its price section tampered with by a server holding no key."""
    bundle = build_bundle(ledger.store, ledger.single_origin_bag)
    (figures,) = bundle["verdict"]["prices"]
    assert figures["farmgate"] is not None and figures["events"]["member_payments"]
    changed = copy.deepcopy(bundle)
    changed["verdict"]["prices"][0]["farmgate"] = "2.10"
    yield "demo/changed-farm-gate", changed, False, set()
    removed = copy.deepcopy(bundle)
    del removed["verdict"]["prices"]
    yield "demo/figures-removed", removed, False, set()
    by_id = {_event_id(e): e for e in bundle["events"]}
    for kind, event in (
        ("price-list", figures["events"]["price_lists"][0]),
        ("member-payment", figures["events"]["member_payments"][0]),
        ("payment", figures["events"]["payments"][0]),
    ):
        dropped = copy.deepcopy(bundle)
        dropped["events"].remove(by_id[event])
        yield f"demo/dropped-{kind}", dropped, False, set()


def test_python_and_javascript_agree_on_every_price_bundle(
    tmp_path: Path,
    site: tuple[Path, str],
    ledger: Ledger,  # noqa: F811
    chromium: Any,
) -> None:
    """Disclosed figures recomputed in both verifiers, to the cent: the demo's bags, the
    forgeries of tests/graph/test_prices.py, lists the rules refuse, and a bag of two
    cooperatives paid in two currencies, organic and below the minimum, with farm-gate
    payments for parchment."""
    from ledger.checkpoint import format_verifier_key
    from tests.graph import chains
    from tests.graph import test_prices as tp

    _root, base = site
    demo_key = _verifier_key(ledger)
    test_key = format_verifier_key(chains.LOG_ORIGIN, tp.TRUSTED.public_key)
    cases: list[tuple[str, dict[str, Any], LogKey, str, bool, set[str]]] = []
    for which in ("single_origin_bag", "blended_bag"):
        bundle = build_bundle(ledger.store, getattr(ledger, which))
        assert bundle["verdict"]["prices"], which  # the demo's bags are priced
        cases.append((which, bundle, _log_key(ledger), demo_key, True, set()))
    for name, bundle, passes, named in _demo_price_forgeries(ledger):
        cases.append((name, bundle, _log_key(ledger), demo_key, passes, named))
    for name, bundle, passes, named in _price_bundles(tmp_path):
        cases.append((name, bundle, tp.TRUSTED, test_key, passes, named))
    assert len(cases) == 2 + 5 + 17 + 7 + 4 + 2

    js = _js_verdicts(chromium, base, [(n, b, vkey) for n, b, _k, vkey, *_ in cases])
    assert "error" not in js, js.get("error")
    for name, bundle, key, _vkey, passes, named in cases:
        python = verify_bundle(json.loads(json.dumps(bundle)), key)
        mine = js[name]
        assert python.ok is passes, (name, [str(f) for f in python.findings][:4])
        assert mine["ok"] is passes, (name, mine["findings"][:4])
        python_named = {f.event for f in python.findings if f.event}
        js_named = {f["event"] for f in mine["findings"] if f["event"]}
        assert named <= python_named <= js_named, (name, python_named, js_named)
        assert python.verdict is not None
        assert mine["prices"] == python.verdict.prices.to_list(), name  # to the cent
        if not passes and not named:  # a figure's difference is a verdict finding in both
            assert "verdict" in {f.check for f in python.findings}, name
            assert "verdict" in {f["check"] for f in mine["findings"]}, name


# --- an operator's forgeries at the byte level: both verifiers must agree ---------------------


def _relogged(
    world: World,
    lot: str,
    change: Callable[[list[bytes]], None],
    *,
    size: int | None = None,
    claim_says: tuple[str, str] = ("", ""),
) -> dict[str, Any]:
    """The honest bundle of ``lot`` after the operator (log key and database in hand) has
    rewritten payloads (``change`` edits the log's payload list in place; a changed payload
    is re-signed by its party's seeded key) and re-signed the log over the result."""
    from ledger.checkpoint import Checkpoint
    from ledger.envelope import PAYLOAD_TYPE, b64encode, leaf_input, pae
    from ledger.merkle import MemoryTree
    from ledger.schema import EventRow
    from tests.graph import chains
    from tests.graph import test_forged_bundles as forged

    bundle = forged.bundle_for(world.store, lot)
    with world.store.reading() as session:
        from sqlalchemy import select

        rows = session.execute(select(EventRow.envelope).order_by(EventRow.index)).scalars()
        payloads = [base64.b64decode(json.loads(text)["payload"]) for text in rows]
    before = list(payloads)
    change(payloads)
    by_key = {
        hashlib.sha256(raw_public_key(seeded_key(p).public_key())).hexdigest(): seeded_key(p)
        for p in [*world.chains, "operator"]
    }
    tree = MemoryTree()
    for payload in payloads:
        tree.append_input(leaf_input(payload))
    cut = tree.size if size is None else size
    claim = json.dumps(bundle["verdict"])
    for item in bundle["events"]:
        n = item["index"]
        if payloads[n] != before[n]:
            # the claim names the forged event, as the operator would write it
            new_id = "sha256:" + hashlib.sha256(payloads[n]).hexdigest()
            claim = claim.replace(_event_id(item), new_id)
            keyid = item["envelope"]["signatures"][0]["keyid"]
            sig = by_key[keyid].sign(pae(PAYLOAD_TYPE, payloads[n]))
            item["envelope"]["payload"] = b64encode(payloads[n])
            item["envelope"]["signatures"][0]["sig"] = b64encode(sig)
        item["inclusion"] = (
            [h.hex() for h in tree.inclusion_proof(n, min(cut, tree.size))] if n < cut else []
        )
    if claim_says[0]:
        claim = claim.replace(*claim_says)
    bundle["verdict"] = json.loads(claim)
    body = Checkpoint(chains.LOG_ORIGIN, cut, tree.root(min(cut, tree.size))).body()
    bundle["checkpoint"] = sign_note(body, chains.log_signer())
    return bundle


def _last_of(payloads: list[bytes], kind: str) -> int:
    return max(n for n, p in enumerate(payloads) if json.loads(p)["type"] == kind)


def _edit(kind: str, old: bytes, new: bytes) -> Callable[[list[bytes]], None]:
    def change(payloads: list[bytes]) -> None:
        n = _last_of(payloads, kind)
        assert old in payloads[n], payloads[n]
        payloads[n] = payloads[n].replace(old, new, 1)

    return change


def _size_beyond_2_53(world: World, lot: str) -> dict[str, Any]:
    """A checkpoint of size 2^53 + 1 (a double reads 2^53) whose root the operator made
    for a perfect tree of 2^53 leaves: the log's real leaves first, padding after."""
    from ledger.checkpoint import Checkpoint
    from ledger.envelope import leaf_input
    from ledger.merkle import MemoryTree, leaf_hash, node_hash
    from ledger.schema import EventRow
    from tests.graph import chains
    from tests.graph import test_forged_bundles as forged

    bundle = forged.bundle_for(world.store, lot)
    with world.store.reading() as session:
        from sqlalchemy import select

        rows = session.execute(select(EventRow.envelope).order_by(EventRow.index)).scalars()
        leaves = [leaf_hash(leaf_input(base64.b64decode(json.loads(t)["payload"]))) for t in rows]
    k = max(len(leaves) - 1, 1).bit_length()
    tree = MemoryTree([*leaves, *(leaf_hash(b"pad %d" % i) for i in range(2**k - len(leaves)))])
    upper = [hashlib.sha256(b"sibling %d" % j).digest() for j in range(k, 53)]
    root = tree.root()
    for sibling in upper:
        root = node_hash(root, sibling)
    for item in bundle["events"]:
        proof = [*tree.inclusion_proof(item["index"]), *upper]
        item["inclusion"] = [h.hex() for h in proof]
    body = Checkpoint(chains.LOG_ORIGIN, 2**53 + 1, root).body()
    bundle["checkpoint"] = sign_note(body, chains.log_signer())
    return bundle


def _other_ledger(payloads: list[bytes]) -> None:
    """The harvest names a ledger id of the right form that is not this log's genesis."""
    n = _last_of(payloads, "harvest")
    genesis = "sha256:" + hashlib.sha256(payloads[0]).hexdigest()
    other = "sha256:" + hashlib.sha256(b"another ledger").hexdigest()
    payloads[n] = payloads[n].replace(genesis.encode(), other.encode(), 1)


def _seq_gap(payloads: list[bytes]) -> None:
    """The harvest claims seq + 3, its prev the enrolment the bundle carries (seq − 2 or
    lower): a gap whose far end is in evidence, so no missing event can fill it."""
    n = _last_of(payloads, "harvest")
    body = json.loads(payloads[n])
    enrolment = next(
        p for p in payloads if json.loads(p).get("member") == body["member"] and b"enroll" in p
    )
    prev = "sha256:" + hashlib.sha256(enrolment).hexdigest()
    seq = body["seq"]
    changed = payloads[n].replace(b'"seq":%d' % seq, b'"seq":%d' % (seq + 3), 1)
    payloads[n] = changed.replace(body["prev"].encode(), prev.encode(), 1)


def _loose_base64(text: str) -> str:
    """``text`` with the unused low bits of its last character set: the same bytes."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    body = text.rstrip("=")
    unused = {0: 0, 1: 2, 2: 4}[text.count("=")]
    assert unused, "no padding bits to set"
    last = alphabet.index(body[-1]) | ((1 << unused) - 1)
    loose = body[:-1] + alphabet[last] + text[len(body) :]
    assert base64.b64decode(loose) == base64.b64decode(text) and loose != text
    return loose


def _seq_backwards(payloads: list[bytes]) -> None:
    """The coop's enrolment of the harvest's member claims seq 10 (after a gap); the harvest,
    later in the log, keeps its seq 3: the key's chain runs backwards."""
    n = next(
        i
        for i, p in enumerate(payloads)
        if b"member.enroll" in p and json.loads(p)["member"] == chains_m1()
    )
    assert b'"seq":1,' in payloads[n] and b'"prev":null' in payloads[n]
    fake = b'"prev":"sha256:' + b"0" * 64 + b'"'
    payloads[n] = payloads[n].replace(b'"seq":1,', b'"seq":10,').replace(b'"prev":null', fake)


def chains_m1() -> str:
    from tests.graph import chains

    return chains.M1


def _clock(clock: bytes) -> Callable[[list[bytes]], None]:
    """The harvest's time of day (and offset, if given) replaced, its day kept."""

    def change(payloads: list[bytes]) -> None:
        n = _last_of(payloads, "harvest")
        pattern = rb'("time":"\d{4}-\d{2}-\d{2}T)'
        tail = rb"[0-9:.]+" if len(clock) == 8 else rb"[0-9:.]+[+-]\d{2}:\d{2}"
        payloads[n], count = re.subn(pattern + tail, lambda m: m.group(1) + clock, payloads[n])
        assert count == 1, payloads[n]

    return change


def _operator_forgeries(folder: Path) -> Iterator[tuple[str, dict[str, Any], LogKey, str]]:
    from ledger.checkpoint import format_verifier_key
    from tests.graph import chains

    store = Store(f"sqlite:///{folder / 'bytes'}.db")
    store.migrate()
    world = World.create(store)
    c = chains.base(world)
    lot = f"{chains.COOP}:h-1"
    c.harvest(chains.COOP, lot, "100", chains.M1, chains.P1)
    key = LogKey(raw_public_key(chains.log_private().public_key()))
    vkey = format_verifier_key(chains.LOG_ORIGIN, key.public_key)
    cases: dict[str, Callable[[list[bytes]], None]] = {
        "honest-relogged": lambda payloads: None,
        "duplicate-key": _edit("harvest", b'"quantity":"100"', b'"quantity":"100","quantity":"1"'),
        "float-schema": _edit("harvest", b'"schema":1', b'"schema":1.0'),
        "huge-seq": _edit("harvest", b'"seq":', b'"seq":90071992547409930'),
        "byte-order-mark": _edit("harvest", b"{", b"\xef\xbb\xbf{"),
        "malformed-ledger": _edit("harvest", b'"ledger":"sha256:', b'"ledger":"sha256:0'),
        "other-ledger": _other_ledger,
        "seq-gap": _seq_gap,
        "hour-24": _clock(b"24:00:00"),
        "leap-second": _clock(b"23:59:60"),
        "offset-24": _clock(b"10:00:00+24:00"),
        "unknown-type": _edit("harvest", b'"type":"harvest"', b'"type":"harvest.note"'),
        "dated-before-its-key": _clock(b"08:00:00"),  # before the key was registered
        "gap-dated-back": _clock(b"08:21:00"),  # after that, before the key's enrolment
        "seq-backwards": _seq_backwards,
        "unknown-field": _edit("harvest", b'"unit":"kg"', b'"unit":"kg","note":"x"'),
    }
    for name, change in cases.items():
        yield name, _relogged(world, lot, change), key, vkey
    day = world.clock.date().isoformat()  # the harvest's day, claimed as April 31
    yield (
        "april-31",
        _relogged(
            world,
            lot,
            _edit("harvest", day.encode(), b"2026-04-31"),
            claim_says=(day, "2026-04-31"),
        ),
        key,
        vkey,
    )
    yield "size-beyond-2^53", _size_beyond_2_53(world, lot), key, vkey
    for member in ("payload", "sig"):  # same bytes, padding bits set: not canonical base64
        loose = _relogged(world, lot, lambda payloads: None)
        harvest = next(e for e in loose["events"] if _payload(e)["type"] == "harvest")
        holder = (
            harvest["envelope"] if member == "payload" else harvest["envelope"]["signatures"][0]
        )
        holder[member] = _loose_base64(holder[member])
        yield f"non-canonical-base64-{member}", loose, key, vkey
    honest = _relogged(world, lot, lambda payloads: None)
    body, _sig = split_note(honest["checkpoint"])
    for name, text in {
        "checkpoint-extension-line": body + b"extra\n",
        "checkpoint-other-origin": body.replace(chains.LOG_ORIGIN.encode(), b"trazo/elsewhere"),
    }.items():
        origin = text.split(b"\n", 1)[0].decode()
        signer = NoteSigner(origin, chains.log_private())
        yield name, dict(honest, checkpoint=sign_note(text, signer)), LogKey.load(vkey), vkey
    honest = _relogged(world, lot, lambda payloads: None)
    size = int(honest["checkpoint"].split("\n")[1])
    yield "index-at-size", _relogged(world, lot, lambda p: None, size=size - 1), key, vkey
    store.dispose()


def _threaded(kind: str, old: bytes, new: bytes) -> Callable[[list[bytes]], None]:
    """``_edit`` of the last ``kind`` event, and every later payload naming an event whose
    bytes changed (its key chain's ``prev``, a receipt's ``shipment``, an input's ``event``)
    rewritten to name the new id: an event in the middle of a chain changed by an operator
    who re-signs everything after it, so that nothing but the edit itself is wrong."""
    edit = _edit(kind, old, new)

    def change(payloads: list[bytes]) -> None:
        before = list(payloads)
        edit(payloads)
        for n in range(len(payloads)):
            if payloads[n] != before[n]:
                was = b"sha256:" + hashlib.sha256(before[n]).hexdigest().encode()
                now = b"sha256:" + hashlib.sha256(payloads[n]).hexdigest().encode()
                for m in range(n + 1, len(payloads)):
                    payloads[m] = payloads[m].replace(was, now)

    return change


# (name, edit, the field both verifiers must name; "" for a bundle both must pass)
_FIELD_CASES: tuple[tuple[str, Callable[[list[bytes]], None], str], ...] = (
    (
        "known-transaction",
        _threaded("ship", b'"to":', b'"transactions":[{"id":"INV-1","type":"invoice"}],"to":'),
        "",
    ),
    ("transform-top", _threaded("transform", b'"process":', b'"note":"x","process":'), "note"),
    (
        "transform-output",
        _threaded("transform", b'"product":"coffee"', b'"grade":"x","product":"coffee"'),
        "outputs[0].grade",
    ),
    (
        "transform-package",
        _threaded(
            "transform",
            b'"product":"coffee"',
            b'"package":{"quantity":"250","unit":"g","x":"1"},"product":"coffee"',
        ),
        "outputs[0].package.x",
    ),
    (
        "transform-input",
        _threaded("transform", b'"quantity":', b'"note":"x","quantity":'),
        "inputs[0].note",
    ),
    ("ship-line", _threaded("ship", b'"quantity":', b'"note":"x","quantity":'), "lots[0].note"),
    (
        "ship-transaction",
        _threaded("ship", b'"to":', b'"transactions":[{"id":"I","type":"invoice","x":1}],"to":'),
        "transactions[0].x",
    ),
    (
        "receive-line",
        _threaded("receive", b'"quantity":', b'"note":"x","quantity":'),
        "lots[0].note",
    ),
)


def test_python_and_javascript_refuse_the_same_unknown_fields(
    tmp_path: Path,
    site: tuple[Path, str],
    chromium: Any,
) -> None:
    """A field its type does not define, at the top of a body or inside a transform's
    output (or its package), input, a shipment's line or transaction, a receipt's line,
    signed by the party and re-threaded by the operator: refused by both verifiers, which
    both name the field (the browser reads the allowed fields from fields.js, generated
    from the rule modules); the same edit with a field the type defines passes both."""
    from ledger.checkpoint import format_verifier_key
    from tests.graph import chains

    _root, base = site
    store = Store(f"sqlite:///{tmp_path / 'fields'}.db")
    store.migrate()
    world = World.create(store)
    bag = chains.single_origin(world)
    key = LogKey(raw_public_key(chains.log_private().public_key()))
    vkey = format_verifier_key(chains.LOG_ORIGIN, key.public_key)
    cases = [(name, _relogged(world, bag, change), field) for name, change, field in _FIELD_CASES]
    store.dispose()
    js = _js_verdicts(chromium, base, [(n, b, vkey) for n, b, _f in cases])
    assert "error" not in js, js.get("error")
    for name, bundle, field in cases:
        python = verify_bundle(json.loads(json.dumps(bundle)), key)
        said = [str(f) for f in python.findings]
        shown = [f["message"] for f in js[name]["findings"]]
        assert (python.ok, js[name]["ok"]) == (not field, not field), (name, said, shown)
        if field:  # refused for the field, not for a broken chain or reference
            assert any(field in text for text in said), (name, said)
            assert any(field in text for text in shown), (name, shown)


def test_python_and_javascript_agree_on_operator_byte_forgeries(
    tmp_path: Path,
    site: tuple[Path, str],
    chromium: Any,
) -> None:
    """Payload bytes and log notes an operator can sign: duplicate keys, a float, an integer
    beyond 2^53, a byte-order mark, another ledger, a day that does not exist, an unknown
    type, an event at the checkpoint's size. Both verifiers give the same answer."""
    _root, base = site
    cases = list(_operator_forgeries(tmp_path))
    js = _js_verdicts(chromium, base, [(n, b, v) for n, b, _k, v in cases])
    assert "error" not in js, js.get("error")
    python = {n: verify_bundle(json.loads(json.dumps(b)), k) for n, b, k, _v in cases}
    got = {n: (python[n].ok, js[n]["ok"]) for n, *_ in cases}
    detail = {
        n: ([str(f) for f in python[n].findings][:2], js[n]["findings"][:2])
        for n in got
        if got[n][0] != got[n][1]
    }
    assert got["honest-relogged"] == (True, True), detail
    assert got["seq-gap"] == (False, False)  # prev is in the bundle: no gap to fill
    assert got["unknown-field"] == (False, False), detail  # a field harvest does not define
    accepted = sorted(n for n, ok in got.items() if n != "honest-relogged" and ok[0])
    assert accepted == [], accepted  # every forgery here is refused, not only agreed on
    assert {n: ok for n, ok in got.items() if ok[0] != ok[1]} == {}, detail


def test_the_browser_reads_bidi_controls_as_the_ledger_does(
    site: tuple[Path, str],
    chromium: Any,
) -> None:
    """A right-to-left override or isolate, raw or escaped, in any string of a payload or a
    bundle file: refused by ``loads_strict`` and by verify.js's ``parseStrict`` alike."""
    from ledger.errors import InvalidEvent
    from ledger.payload import loads_strict

    _root, base = site
    texts = [
        '{"name":"Coop \u202eabc"}',
        '{"name":"Coop \\u202Eabc"}',
        '{"x":["ok","\\u2066"]}',
        '{"\u2069":1}',
        '{"name":"Coop \u200fabc \\\\u202e"}',  # a mark and a literal backslash: fine
    ]
    python = []
    for text in texts:
        try:
            loads_strict(text.encode())
            python.append(True)
        except InvalidEvent:
            python.append(False)
    chromium.get(f"{base}/bag/index.html")
    js = chromium.execute_async_script(
        """
        const [texts, done] = arguments;
        import(new URL("js/verify.js", location.href)).then((m) => done(texts.map((t) => {
          try { m.parseStrict(t); return true; } catch (e) { return false; }
        })), (e) => done(String(e)));
        """,
        texts,
    )
    assert python == [False, False, False, False, True]
    assert js == python


def test_a_bundle_file_with_a_key_held_twice_fails_in_the_browser_as_in_trazo_verify(
    site: tuple[Path, str],
    chromium: Any,
) -> None:
    """``trazo verify`` reads bundle.json as strictly as a signed payload; a key held twice
    (two readers could take two different values) fails on the page too."""
    from ledger.errors import InvalidEvent
    from ledger.payload import loads_strict

    root, base = site
    folder = root / "key-twice"
    shutil.copytree(root / "bag", folder, dirs_exist_ok=True)
    text = (folder / "bundle.json").read_text()
    lot = json.loads(text)["lot"]
    doubled = text.rstrip()[:-1] + f', "lot": {json.dumps(lot)}}}'
    (folder / "bundle.json").write_text(doubled)
    with pytest.raises(InvalidEvent, match="duplicate key 'lot'"):
        loads_strict(doubled.encode())  # as `trazo verify` reads it
    outcome, findings = _run_check(chromium, f"{base}/key-twice/index.html")
    assert outcome == "failed"
    assert any("duplicate key" in f["text"] for f in findings), findings


HOSTILE = 'Coop <b>bold</b> <img src=x onerror="window.pwned=1"> ' + "W" * 230


def test_a_hostile_party_name_is_text_and_stays_within_the_phone(
    tmp_path: Path,
    site: tuple[Path, str],
    chromium: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cooperative registered under a name of markup and 230 unbroken letters: the page
    shows it as text (no element, no script) and nothing runs past the 390 px screen."""
    from selenium.webdriver.common.by import By

    from tests.graph import chains

    register = World.register_envelope

    def hostile(
        self: World, party: str, roles: list[str], country: str = "PE", **extra: Any
    ) -> Any:
        if party == chains.COOP:
            extra["name"] = HOSTILE
        return register(self, party, roles, country, **extra)

    monkeypatch.setattr(World, "register_envelope", hostile)
    store = Store(f"sqlite:///{tmp_path / 'hostile'}.db")
    store.migrate()
    world = World.create(store)
    lot = chains.single_origin(world)
    root, base = site
    model = page_model(store, lot, log_key=chains.log_signer().verifier_key())
    links = publish.Links.static(f"https://brand.example/{lot}/index.html", lot)
    publish.publish(model, links, build_bundle(store, lot), root / "hostile")
    store.dispose()
    html = (root / "hostile" / "index.html").read_text()
    assert "<img src=x" not in html and "&lt;img src=x" in html
    chromium.get(f"{base}/hostile/index.html")
    assert chromium.execute_script("return window.pwned === undefined")
    assert not chromium.find_elements(By.CSS_SELECTOR, "main img[src=x], main b")
    width = chromium.execute_script("return document.documentElement.clientWidth")
    widest = chromium.execute_script(
        "return Math.max(...[...document.body.querySelectorAll('*')]"
        ".filter((e) => !e.parentElement.closest('svg'))"  # a map's clipped paths
        ".map((e) => e.getBoundingClientRect().right))"
    )
    culprits = chromium.execute_script(
        "return [...document.body.querySelectorAll('*')].filter((e) =>"
        " !e.parentElement.closest('svg') &&"
        " e.getBoundingClientRect().right > arguments[0] + 1).slice(0, 4).map((e) =>"
        " e.tagName + '.' + (e.getAttribute('class') || '') + ' ' + e.textContent.slice(0, 40))",
        width,
    )
    assert widest <= width + 1, (widest, width, culprits)


def test_a_page_claiming_another_share_than_its_bundle_fails(
    site: tuple[Path, str],
    chromium: Any,
) -> None:
    """The operator edits a static page's stated share (its data-claim) and leaves the
    bundle honest: the check on the page compares the two and fails."""
    root, base = site
    folder = root / "other-claim"
    shutil.copytree(root / "bag", folder, dirs_exist_ok=True)
    page = (folder / "index.html").read_text()
    assert 'data-claim="1/1"' in page
    (folder / "index.html").write_text(page.replace('data-claim="1/1"', 'data-claim="1/2"'))
    outcome, findings = _run_check(chromium, f"{base}/other-claim/index.html")
    assert outcome == "failed"
    assert any(f["text"].startswith("[verdict]") and "1/2" in f["text"] for f in findings)
