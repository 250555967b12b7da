"""Who reads what (``api.http.access``): every endpoint × every kind of caller.

The ledger: a cooperative ships one lot to trader A and another to trader B (each with a
purchase order that is nobody else's business), maps a plot (a farm's exact location) and
publishes a third lot. Auditor "in" holds a current grant of trader A's data, auditor "out"
one that ended in 2020, auditor "revoked" one the operator revoked. Each caller signs in
the way a real one does: a signed challenge (``POST /api/v1/sessions``), or the operator's
configured token. Exactly the allowed reads succeed; every other is a 404, the same as
for a thing that does not exist; a malformed or unknown token is a 401. On SQLite and
PostgreSQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask

from ledger.envelope import keyid_of
from tests.api.conftest import OPERATOR_TOKEN, sign_in
from tests.graph import chains
from tests.graph.chains import COOP, M1, P1
from tests.support import World, seeded_key

TRADER_A, TRADER_B = "trader-a", "trader-b"
AUDITOR_IN, AUDITOR_OUT, AUDITOR_REVOKED = "auditor-in", "auditor-out", "auditor-revoked"
SECRET_PO_A, SECRET_PO_B = "PO-SECRET-FOR-A-ONLY", "PO-SECRET-FOR-B-ONLY"
CALLERS = ("anonymous", "coop", "trader_a", "trader_b", "auditor_in", "auditor_out", "operator")
POINT = {"type": "Point", "coordinates": ["-74.493612", "-11.429711"]}


@dataclass
class Facts:
    ship_a: str
    receive_a: str
    ship_b: str
    plot_map: str
    register_a: str
    publish: str
    grant_in: str
    key_a: str
    epcis_ship_a: str = ""


def build(world: World) -> Facts:
    c = chains.base(world)
    c.party(TRADER_A, ["trader"], "PE")
    c.party(TRADER_B, ["trader"], "PE")
    for auditor in (AUDITOR_IN, AUDITOR_OUT, AUDITOR_REVOKED):
        c.party(auditor, ["auditor"], "DE")
    plot_map = c.append(
        COOP,
        {
            "type": "plot.map",
            "plot": P1,
            "method": "gps-point",
            "geometry": POINT,
            "nonce": "n" * 22,
        },
    )
    h1 = c.harvest(COOP, f"{COOP}:h-1", "100", M1, P1)
    ship_a = c.append(
        COOP,
        {
            "type": "ship",
            "to": TRADER_A,
            "lots": [{"lot": f"{COOP}:h-1", "event": h1, "quantity": "100", "unit": "kg"}],
            "transactions": [{"type": "po", "id": SECRET_PO_A}],
        },
    )
    receive_a = c.receive(TRADER_A, ship_a, [(f"{COOP}:h-1", "100")])
    h2 = c.harvest(COOP, f"{COOP}:h-2", "50", M1, P1)
    ship_b = c.append(
        COOP,
        {
            "type": "ship",
            "to": TRADER_B,
            "lots": [{"lot": f"{COOP}:h-2", "event": h2, "quantity": "50", "unit": "kg"}],
            "transactions": [{"type": "po", "id": SECRET_PO_B}],
        },
    )
    c.receive(TRADER_B, ship_b, [(f"{COOP}:h-2", "50")])
    c.harvest(COOP, f"{COOP}:h-3", "20", M1, P1)
    publish = c.append(COOP, {"type": "lot.publish", "lot": f"{COOP}:h-3"})
    grant = {"type": "grant.issue", "grantee": AUDITOR_IN, "subject": TRADER_A}
    grant_in = c.append(
        "operator",
        {**grant, "grant": "g-in", "valid_from": "2026-01-01", "valid_until": "2099-12-31"},
    )
    c.append(
        "operator",
        {
            **grant,
            "grant": "g-out",
            "grantee": AUDITOR_OUT,
            "valid_from": "2020-01-01",
            "valid_until": "2020-12-31",
        },
    )
    c.append(
        "operator",
        {
            **grant,
            "grant": "g-revoked",
            "grantee": AUDITOR_REVOKED,
            "valid_from": "2026-01-01",
            "valid_until": "2099-12-31",
        },
    )
    c.append("operator", {"type": "grant.revoke", "grant": "g-revoked", "reason": "audit over"})
    register_a = next(
        e["id"]
        for e in _all_events(world)
        if e["type"] == "party.register" and json.loads(e["payload"])["subject"] == TRADER_A
    )
    return Facts(
        ship_a,
        receive_a,
        ship_b,
        plot_map,
        register_a,
        publish,
        grant_in,
        keyid_of(seeded_key(TRADER_A).public_key()),
    )


def _all_events(world: World) -> list[dict[str, Any]]:
    from ledger.query import list_events

    return [
        {"id": r.id, "type": r.type, "payload": r.payload}
        for r in list_events(world.store, limit=1000)
    ]


def _epcis_path_id(world: World, event_id: str) -> str:
    """The ship's CBV 2.0 hash as trazo exports it, quoted for a URL path."""
    from urllib.parse import quote

    from graph.epcis.ledger import epcis_event_id, naming_for

    found = epcis_event_id(world.store, event_id, naming_for(world.store, "http://localhost/"))
    assert found is not None
    return quote(found, safe="")


@pytest.fixture
def setup(world: World, private_app: Flask) -> tuple[Facts, dict[str, dict[str, str]]]:
    facts = build(world)
    facts.epcis_ship_a = _epcis_path_id(world, facts.ship_a)
    client = private_app.test_client()
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    headers["operator"] = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    for name, party in (
        ("coop", COOP),
        ("trader_a", TRADER_A),
        ("trader_b", TRADER_B),
        ("auditor_in", AUDITOR_IN),
        ("auditor_out", AUDITOR_OUT),
    ):
        headers[name] = {"Authorization": f"Bearer {sign_in(client, party)}"}
    return facts, headers


ALL = frozenset(CALLERS)
TRADER_A_READERS = frozenset({"trader_a", "auditor_in", "operator"})
SHIP_A_READERS = frozenset({"coop", "trader_a", "auditor_in", "operator"})
LOT_H1_READERS = SHIP_A_READERS
COOP_READERS = frozenset({"coop", "operator"})
OPERATOR_ONLY = frozenset({"operator"})
MB = "?product=coffee&scheme=SPP&period=2026"
PUBLISHED = f"{COOP}:h-3"

TABLE: list[tuple[str, frozenset[str]]] = [
    ("/api/v1/health", ALL),
    ("/api/v1/openapi.json", ALL),
    ("/api/v1/", ALL),
    ("/api/v1/log/checkpoint", ALL),
    ("/api/v1/log/key", ALL),
    ("/log/checkpoint", ALL),
    ("/log/tile/0/000.p/1", ALL),
    ("/api/v1/parties", ALL),
    (f"/api/v1/parties/{TRADER_A}", ALL),
    ("/api/v1/events/{register_a}", ALL),
    ("/api/v1/events/{publish}", ALL),
    ("/api/v1/events/{ship_a}", SHIP_A_READERS),
    ("/api/v1/events/{receive_a}", SHIP_A_READERS),
    ("/api/v1/events/{ship_b}", frozenset({"coop", "trader_b", "operator"})),
    ("/api/v1/events/{plot_map}", COOP_READERS),
    ("/api/v1/events/{grant_in}", frozenset({"trader_a", "auditor_in", "operator"})),
    (f"/api/v1/lots/{COOP}:h-1", LOT_H1_READERS),
    (f"/api/v1/lots/{COOP}:h-1/trace", LOT_H1_READERS),
    (f"/api/v1/lots/{COOP}:h-1/origin", LOT_H1_READERS),
    (f"/api/v1/lots/{COOP}:h-1/bundle", LOT_H1_READERS),
    (f"/api/v1/lots/{COOP}:h-1/eudr", LOT_H1_READERS),
    (f"/api/v1/lots/{COOP}:h-1/eudr.geojson", COOP_READERS),
    (f"/api/v1/lots/{COOP}:h-1/trace?direction=downstream", OPERATOR_ONLY),
    (f"/api/v1/lots/{COOP}:h-1/trace.csv", OPERATOR_ONLY),
    (f"/api/v1/lots/{COOP}:h-1/trace.xlsx", OPERATOR_ONLY),
    (f"/api/v1/lots/{PUBLISHED}", ALL),
    (f"/api/v1/lots/{PUBLISHED}/trace", ALL),
    (f"/api/v1/lots/{PUBLISHED}/origin", ALL),
    (f"/api/v1/lots/{PUBLISHED}/bundle", ALL),
    (f"/api/v1/lots/{PUBLISHED}/eudr", COOP_READERS),  # it describes the private maps
    ("/api/v1/log/proof/inclusion?id={ship_a}", SHIP_A_READERS),  # no existence oracle
    ("/api/v1/log/proof/inclusion?id={register_a}", ALL),
    (f"/p/{PUBLISHED}", ALL),
    (f"/p/{PUBLISHED}.jsonld", ALL),
    (f"/p/{PUBLISHED}/qr.svg", ALL),
    (f"/p/{PUBLISHED}/qr.png", ALL),
    (f"/p/{PUBLISHED}/bundle.json", ALL),
    (f"/p/{COOP}:h-1", frozenset()),
    (f"/p/{COOP}:h-1/bundle.json", frozenset()),
    (f"/api/v1/parties/{TRADER_A}/mass-balance{MB}", TRADER_A_READERS),
    (f"/api/v1/parties/{TRADER_A}/holdings", TRADER_A_READERS),
    (f"/api/v1/parties/{TRADER_A}/shipments?direction=inbound", TRADER_A_READERS),
    ("/api/v1/keys/{key_a}/head", TRADER_A_READERS),
    (f"/audit/{TRADER_A}/mass-balance{MB}", TRADER_A_READERS),
    (f"/api/v1/parties/{TRADER_A}/fair-prices?period=2026", TRADER_A_READERS),
    (f"/audit/{TRADER_A}/fair-prices?period=2026", TRADER_A_READERS),
    ("/api/v1/epcis/events", ALL),  # a listing: filtered to what each reads (test_epcis_http)
    ("/api/v1/epcis/events/{epcis_ship_a}", SHIP_A_READERS),
    ("/console/", ALL),  # the capture console's files: no ledger data in them
    ("/console/app.js", ALL),
    ("/console/tables.json", ALL),  # the rule tables every bundle carries
]


def test_every_endpoint_answers_exactly_the_allowed_callers(
    setup: tuple[Facts, dict[str, dict[str, str]]], private_app: Flask
) -> None:
    facts, headers = setup
    client = private_app.test_client()
    wrong: list[str] = []
    for template, allowed in TABLE:
        url = template.format(**vars(facts))
        for name in CALLERS:
            response = client.get(url, headers=headers[name])
            expected = 200 if name in allowed else 404
            if response.status_code != expected:
                wrong.append(f"{name:12} {url}: {response.status_code}, expected {expected}")
    assert not wrong, "\n".join(wrong)


def test_every_read_endpoint_of_the_api_is_in_the_table(private_app: Flask) -> None:
    """A new endpoint cannot skip the policy unnoticed: each GET route is tabled."""
    tabled = {template.split("?")[0] for template, _ in TABLE}
    routes = {
        str(rule.rule)
        for rule in private_app.url_map.iter_rules()
        if "GET" in (rule.methods or set()) and not str(rule.rule).startswith("/static")
    }
    untested = []
    for route in sorted(routes):
        pattern = route.replace("<", "{").replace(">", "}")
        prefix = pattern.split("{")[0]
        if not any(t.startswith(prefix) and t.count("/") == pattern.count("/") for t in tabled):
            untested.append(route)
    known_elsewhere = {
        "/",  # the front door: the index of links
        "/api/v1/docs",  # the API's HTML docs
        "/api/v1/events",  # the listing: filtered, not refused (test below)
        "/api/v1/sessions",  # a party's own sessions (test_sessions)
        "/api/v1/log/proof/consistency",
        "/api/v1/log/checkpoints/<int:size>",
        "/log/tile/<path:path>",  # every tile: tests/ledger/test_tiles.py
    }
    assert set(untested) <= known_elsewhere, untested


def test_the_listing_holds_only_what_each_caller_may_read(
    setup: tuple[Facts, dict[str, dict[str, str]]], private_app: Flask
) -> None:
    facts, headers = setup
    client = private_app.test_client()

    def listing(name: str, query: str = "") -> list[dict[str, Any]]:
        body = client.get(f"/api/v1/events?limit=1000{query}", headers=headers[name]).get_json()
        events: list[dict[str, Any]] = body["events"]
        return events

    anonymous = listing("anonymous")
    assert {e["type"] for e in anonymous} <= {
        "party.register",
        "key.add",
        "key.revoke",
        "cert.issue",
        "cert.revoke",
        "lot.publish",
    }
    assert facts.publish in {e["id"] for e in anonymous}
    for name in CALLERS:
        text = json.dumps(listing(name))
        assert (SECRET_PO_A in text) == (name in SHIP_A_READERS), name
        assert (SECRET_PO_B in text) == (name in {"coop", "trader_b", "operator"}), name
        assert ("-74.493612" in text) == (name in COOP_READERS), name
    # a filter cannot widen the view: trader B asking for trader A's events sees none
    assert listing("trader_b", f"&party={TRADER_A}") == [
        e for e in listing("anonymous", f"&party={TRADER_A}")
    ]
    assert listing("trader_b", f"&lot={COOP}:h-1") == []
    assert listing("auditor_out", f"&party={TRADER_A}&type=receive") == []
    assert [e["id"] for e in listing("auditor_in", f"&party={TRADER_A}&type=receive")] == [
        facts.receive_a
    ]


def test_a_foreign_lot_view_shows_only_the_callers_own_holdings(
    setup: tuple[Facts, dict[str, dict[str, str]]], private_app: Flask
) -> None:
    _, headers = setup
    client = private_app.test_client()
    seen = client.get(f"/api/v1/lots/{COOP}:h-1", headers=headers["coop"]).get_json()
    assert seen["holders"] == []  # the coop shipped it all: trader A's holding is A's
    mine = client.get(f"/api/v1/lots/{COOP}:h-1", headers=headers["trader_a"]).get_json()
    assert [h["party"] for h in mine["holders"]] == [TRADER_A]
    public = client.get(f"/api/v1/lots/{PUBLISHED}").get_json()
    assert public["holders"] == [] and public["in_transit"] == []
    assert public["disposed_kg"] is None and public["consumed_kg"] is None


@pytest.mark.parametrize(
    "header",
    ["Bearer nonsense", "Bearer " + "0" * 32 + ".forged", "Basic dXNlcjpwYXNz", "Bearer"],
)
def test_a_bad_credential_is_a_401_everywhere(
    setup: tuple[Facts, dict[str, dict[str, str]]], private_app: Flask, header: str
) -> None:
    facts, _ = setup
    client = private_app.test_client()
    for url in ("/api/v1/parties", f"/api/v1/events/{facts.ship_a}", f"/p/{PUBLISHED}"):
        response = client.get(url, headers={"Authorization": header})
        assert response.status_code == 401, (url, response.get_data(as_text=True))
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
