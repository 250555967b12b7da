"""``GET /api/v1/epcis/events``: each SimpleEventQuery parameter alone and combined,
against a ledger whose answer is known; paging; headers; the read policy."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from graph.epcis.document import schema_problems
from tests.api.conftest import OPERATOR
from tests.graph import chains
from tests.graph.chains import BRAND, COOP, EXPORTER, ROASTER
from tests.support import World

BASE = "http://localhost"
H1 = f"{COOP}:h-1"


def _ids(world: World) -> dict[str, str]:
    """The custody events of ``chains.voided_receipt``, named, from the ledger itself."""
    from ledger.query import list_events

    chains.voided_receipt(world)
    rows = [r for r in list_events(world.store, limit=1000) if r.type in CUSTODY]
    names = ["H", "S1", "R1", "S2", "W", "V", "R2", "T1", "S3", "R3", "T2"]
    assert [r.type for r in rows] == [
        "harvest", "ship", "receive", "ship", "receive", "void", "receive",
        "transform", "ship", "receive", "transform",
    ]  # fmt: skip
    return {name: row.id for name, row in zip(names, rows, strict=True)}


CUSTODY = {"harvest", "transform", "ship", "receive", "dispose", "void"}


def _query(client: FlaskClient, query: str) -> list[str]:
    """Every event the query answers, followed through its pages, as names like "W" or
    "V" (an error declaration: the voided event with ``errorDeclaration``)."""
    found: list[dict[str, Any]] = []
    url = f"/api/v1/epcis/events?{query}"
    while url:
        response = client.get(url, headers=OPERATOR)
        assert response.status_code == 200, response.get_data(as_text=True)
        document = json.loads(response.get_data())
        assert schema_problems(document) == []
        found += document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        link = response.headers.get("Link")
        url = ""
        if link:
            target = urlsplit(link.split(">")[0].lstrip("<"))
            url = f"{target.path}?{target.query}"
    return [f["trazo:event"] + ("!" if "errorDeclaration" in f else "") for f in found]


@pytest.fixture
def known(world: World, app: Flask) -> tuple[FlaskClient, dict[str, str]]:
    ids = _ids(world)
    return app.test_client(), ids


def _names(ids: dict[str, str], answer: list[str]) -> list[str]:
    back = {v: k for k, v in ids.items()}
    return [back[a.rstrip("!")] if not a.endswith("!") else "V" for a in answer]


def _lot(lot: str) -> str:
    return quote(f"{BASE}/api/v1/lots/{lot}", safe="")


def _party(party: str) -> str:
    return quote(f"{BASE}/api/v1/parties/{party}", safe="")


ALL = ["H", "S1", "R1", "S2", "W", "V", "R2", "T1", "S3", "R3", "T2"]
CASES = [
    ("", ALL),
    ("eventType=TransformationEvent", ["T1", "T2"]),
    ("eventType=ObjectEvent", [n for n in ALL if n not in ("T1", "T2")]),
    ("eventType=AggregationEvent", []),
    ("EQ_bizStep=shipping", ["S1", "S2", "S3"]),
    ("EQ_bizStep=https://ref.gs1.org/cbv/BizStep-receiving", ["R1", "W", "V", "R2", "R3"]),
    ("EQ_bizStep=shipping|packing", ["S1", "S2", "S3", "T2"]),
    ("EQ_bizStep=shipping&EQ_bizStep=commissioning", ["H", "S1", "S2", "T1", "S3"]),
    ("EQ_disposition=in_transit", ["S1", "S2", "S3"]),
    ("EQ_disposition=active", ["H", "T1", "T2"]),
    (f"MATCH_epcClass={_lot(H1)}", ["H", "S1", "R1", "S2", "W", "V", "R2"]),
    (f"MATCH_anyEPCClass={_lot(H1)}", ["H", "S1", "R1", "S2", "W", "V", "R2", "T1"]),
    (f"MATCH_anyEPCClass={_lot(f'{BRAND}:bag')}", ["T2"]),
    ("MATCH_epc=https://id.gs1.org/01/04012345111118/21/1", []),
    (f"EQ_bizLocation={_party(ROASTER)}", ["W", "V", "R2", "T1", "S3"]),
    (f"EQ_source={_party(ROASTER)}", ["S3", "R3"]),
    (f"EQ_destination={_party(ROASTER)}", ["S2", "W", "V", "R2"]),
    (f"EQ_source={_party(COOP)}&EQ_destination={_party(EXPORTER)}", ["S1", "R1"]),
    (
        f"eventType=ObjectEvent&EQ_bizStep=receiving&EQ_destination={_party(ROASTER)}",
        ["W", "V", "R2"],
    ),
    (f"EQ_bizStep=receiving&EQ_bizLocation={_party(BRAND)}", ["R3"]),
]


@pytest.mark.parametrize(("query", "expected"), CASES)
def test_each_parameter_alone_and_combined(
    known: tuple[FlaskClient, dict[str, str]], query: str, expected: list[str]
) -> None:
    client, ids = known
    assert _names(ids, _query(client, query)) == expected


def test_times_and_event_ids(known: tuple[FlaskClient, dict[str, str]], world: World) -> None:
    client, ids = known
    from ledger.query import get_event

    row = get_event(world.store, ids["S2"])
    assert row is not None
    s2_time = quote(json.loads(row.payload)["time"], safe="")
    assert _names(ids, _query(client, f"GE_eventTime={s2_time}")) == ALL[3:]
    assert _names(ids, _query(client, f"LT_eventTime={s2_time}")) == ALL[:3]
    assert _names(ids, _query(client, f"GE_eventTime={s2_time}&EQ_bizStep=shipping")) == [
        "S2",
        "S3",
    ]
    assert _query(client, "GE_recordTime=2999-01-01T00:00:00Z") == []
    assert len(_query(client, "GE_recordTime=2000-01-01T00:00:00Z")) == len(ALL)
    document = client.get("/api/v1/epcis/events?EQ_bizStep=receiving", headers=OPERATOR).get_json()
    wrong = next(
        e
        for e in document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        if e["trazo:event"] == ids["W"]
    )
    by_id = _query(client, f"EQ_eventID={quote(wrong['eventID'], safe='')}")
    assert _names(ids, by_id) == ["W", "V"]  # an error declaration keeps the event's hash
    one = client.get(f"/api/v1/epcis/events/{quote(wrong['eventID'], safe='')}", headers=OPERATOR)
    assert one.status_code == 200
    listed = one.get_json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert [e["eventID"] for e in listed] == [wrong["eventID"]] * 2
    unencoded = client.get(f"/api/v1/epcis/events/{wrong['eventID']}", headers=OPERATOR)
    assert unencoded.status_code == 200 and unencoded.get_json() == one.get_json() | {
        "creationDate": unencoded.get_json()["creationDate"]
    }
    missing = quote("ni:///sha-256;" + "0" * 64 + "?ver=CBV2.0", safe="")
    assert client.get(f"/api/v1/epcis/events/{missing}", headers=OPERATOR).status_code == 404


@pytest.mark.parametrize("per_page", [1, 2, 3, 5, 11, 12])
def test_paging_returns_every_event_exactly_once(
    known: tuple[FlaskClient, dict[str, str]], per_page: int
) -> None:
    client, ids = known
    answer = _query(client, f"perPage={per_page}")
    assert _names(ids, answer) == ALL
    filtered = _query(client, f"perPage={per_page}&EQ_bizStep=receiving")
    assert _names(ids, filtered) == ["R1", "W", "V", "R2", "R3"]


def test_headers_and_bad_parameters(known: tuple[FlaskClient, dict[str, str]]) -> None:
    client, _ = known
    response = client.get("/api/v1/epcis/events?perPage=2", headers=OPERATOR)
    assert response.headers["GS1-EPCIS-Version"] == "2.0.1"
    assert response.headers["GS1-CBV-Version"] == "2.0.0"
    assert response.mimetype == "application/ld+json"
    assert 'rel="next"' in response.headers["Link"]
    for bad in (
        "perPage=0",
        "perPage=100000",
        "nextPageToken=abc",
        "GE_eventTime=yesterday",
        "eventType=Nonsense",
        "EQ_readPoint=x",
    ):
        got = client.get(f"/api/v1/epcis/events?{bad}", headers=OPERATOR)
        assert got.status_code in (400, 422), (bad, got.status_code)
        assert got.mimetype == "application/problem+json"


def test_a_reader_sees_only_its_own_events(world: World, private_app: Flask) -> None:
    from tests.api.conftest import sign_in

    ids = _ids(world)
    client = private_app.test_client()
    anonymous = client.get("/api/v1/epcis/events").get_json()
    assert anonymous["epcisBody"]["queryResults"]["resultsBody"]["eventList"] == []
    token = sign_in(client, COOP)
    seen = client.get(
        "/api/v1/epcis/events", headers={"Authorization": f"Bearer {token}"}
    ).get_json()
    mine = {e["trazo:event"] for e in seen["epcisBody"]["queryResults"]["resultsBody"]["eventList"]}
    assert mine == {ids["H"], ids["S1"], ids["R1"]}


def test_the_listing_leaks_no_purchase_order(private_app: Flask, world: World) -> None:
    """The access table's ledger: each caller's EPCIS listing names the secret purchase
    orders exactly when the caller may read the shipment they belong to."""
    from tests.api import test_access as table
    from tests.api.conftest import OPERATOR_TOKEN, sign_in

    table.build(world)
    client = private_app.test_client()
    headers = {"anonymous": {}, "operator": {"Authorization": f"Bearer {OPERATOR_TOKEN}"}}
    parties = {
        "coop": COOP,
        "trader_a": table.TRADER_A,
        "trader_b": table.TRADER_B,
        "auditor_in": table.AUDITOR_IN,
        "auditor_out": table.AUDITOR_OUT,
    }
    for name, party in parties.items():
        headers[name] = {"Authorization": f"Bearer {sign_in(client, party)}"}
    for name in table.CALLERS:
        text = client.get("/api/v1/epcis/events?perPage=1000", headers=headers[name]).get_data(
            as_text=True
        )
        assert (table.SECRET_PO_A in text) == (name in table.SHIP_A_READERS), name
        assert (table.SECRET_PO_B in text) == (name in {"coop", "trader_b", "operator"}), name


def test_an_altered_payload_is_never_served_as_epcis(
    known: tuple[FlaskClient, dict[str, str]], world: World
) -> None:
    """An operator with database access rewrites a shipment's quantity behind the ledger's
    back: the EPCIS answer is a 500 (the ledger's own failure; `trazo audit` names it)
    instead of what nobody signed."""
    from ledger.query import get_event
    from tests.ledger.test_audit import drop_triggers, tamper

    client, ids = known
    drop_triggers(world.store)
    row = get_event(world.store, ids["S2"])
    assert row is not None and b'"100"' in row.payload
    forged = row.payload.replace(b'"100"', b'"900"')
    tamper(world.store, "UPDATE events SET payload = :p WHERE id = :id", p=forged, id=ids["S2"])
    response = client.get("/api/v1/epcis/events", headers=OPERATOR)
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert '"900"' not in response.get_data(as_text=True)
    # the events before it still answer: the refusal is the altered event's
    head = client.get("/api/v1/epcis/events?perPage=3", headers=OPERATOR)
    assert head.status_code == 200
