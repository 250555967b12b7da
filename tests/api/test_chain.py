"""A whole custody chain recorded and read back over HTTP only, and its rule breaches."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.api.conftest import READ_TOKEN, assert_problem, post_events
from tests.support import World

COOP, CERT, TRADER, ROASTER = "coop-pangoa", "certi-sur", "andes-trading", "tostaduria"
M1, P1 = f"{COOP}:m-0042", f"{COOP}:p-0042-1"
H1, GREEN, ROASTED = f"{COOP}:h-2026-00153", f"{COOP}:g-2026-007", f"{ROASTER}:r-2026-11"
POINT = {"type": "Point", "coordinates": ["-74.493612", "-11.429711"]}


class Http:
    """Sign with the world's keys, append through the API only."""

    def __init__(self, world: World, client: FlaskClient) -> None:
        self.world, self.client = world, client

    def record(self, party: str, body: dict[str, Any]) -> str:
        response = post_events(self.client, self.world.sign(party, body), batch=False)
        assert response.status_code == 201, response.get_json()
        return str(response.get_json()["events"][0]["id"])

    def rejected(self, party: str, body: dict[str, Any], status: int) -> dict[str, Any]:
        chain = self.world.chains[party]
        seq, prev = chain.seq, chain.prev
        problem = assert_problem(post_events(self.client, self.world.sign(party, body)), status)
        chain.seq, chain.prev = seq, prev  # the rejected event did not extend the chain
        return problem


def line(lot: str, event: str, quantity: str, unit: str = "kg") -> dict[str, str]:
    return {"lot": lot, "event": event, "quantity": quantity, "unit": unit}


@pytest.fixture
def http(world: World, client: FlaskClient) -> Http:
    registrations = [
        world.register_envelope(COOP, ["spo"]),
        world.register_envelope(CERT, ["certifier"], country="DE"),
        world.register_envelope(TRADER, ["trader"]),
        world.register_envelope(ROASTER, ["roaster"], country="SE"),
    ]
    assert post_events(client, *registrations).status_code == 201
    h = Http(world, client)
    h.record(
        COOP,
        {
            "type": "member.enroll",
            "member": M1,
            "products": ["coffee"],
            "plots": [{"plot": P1, "area_ha": "2.4"}],
            "since": "2019-05-01",
        },
    )
    return h


def test_record_a_chain_and_read_it_back(
    http: Http, client: FlaskClient, anonymous: FlaskClient
) -> None:
    plot_map = http.record(
        COOP, {"type": "plot.map", "plot": P1, "method": "gps-point", "geometry": POINT}
    )
    http.record(
        CERT,
        {
            "type": "cert.issue",
            "certificate": "SPP-PE-0123",
            "subject": COOP,
            "scheme": "SPP",
            "products": ["coffee"],
            "valid_from": "2025-01-01",
            "valid_until": "2027-12-31",
        },
    )
    h1 = http.record(
        COOP,
        {
            "type": "harvest",
            "lot": H1,
            "product": "coffee",
            "form": "parchment",
            "quantity": "460",
            "unit": "kg",
            "member": M1,
            "plot": P1,
        },
    )
    dry = http.record(
        COOP,
        {
            "type": "transform",
            "process": "dry-mill",
            "inputs": [line(H1, h1, "460")],
            "outputs": [
                {
                    "lot": GREEN,
                    "product": "coffee",
                    "form": "green",
                    "quantity": "370",
                    "unit": "kg",
                }
            ],
        },
    )
    ship = http.record(
        COOP, {"type": "ship", "to": TRADER, "lots": [line(GREEN, dry, "370")], "claims": ["SPP"]}
    )

    lot = client.get(f"/api/v1/lots/{GREEN}").get_json()
    assert lot["product"] == "coffee" and lot["form"] == "green"
    assert lot["created_by"]["event"] == dry and lot["created_by"]["type"] == "transform"
    assert lot["holders"] == []
    assert lot["in_transit"] == [{"shipment": ship, "from": COOP, "to": TRADER, "kg": "370"}]

    http.record(
        TRADER,
        {
            "type": "receive",
            "shipment": ship,
            "lots": [{"lot": GREEN, "quantity": "369.5", "unit": "kg"}],
        },
    )
    lot = client.get(f"/api/v1/lots/{GREEN}").get_json()
    assert lot["in_transit"] == []
    assert [(h["party"], h["kg"]) for h in lot["holders"]] == [(TRADER, "369.5")]
    assert lot["transit_losses"][0]["lost_kg"] == "0.5"

    events = client.get(f"/api/v1/events?lot={GREEN}").get_json()["events"]
    assert [e["type"] for e in events] == ["transform", "ship", "receive"]

    coop = client.get(f"/api/v1/parties/{COOP}").get_json()
    assert coop["roles"] == ["spo"]
    assert [c["id"] for c in coop["certificates"]] == ["SPP-PE-0123"]
    assert coop["certificates"][0]["valid_until"] == "2027-12-31"
    head = client.get(f"/api/v1/keys/{coop['keys'][0]['keyid']}/head").get_json()
    assert head["party"] == COOP and head["seq"] == 5  # enroll, map, harvest, dry, ship

    # the farm's location is not for the public: not listed, and its id is a 404
    assert anonymous.get("/api/v1/events?type=plot.map").get_json()["events"] == []
    assert anonymous.get(f"/api/v1/events/{plot_map}").status_code == 404
    auth = {"Authorization": f"Bearer {READ_TOKEN}"}
    full = anonymous.get(f"/api/v1/events/{plot_map}", headers=auth).get_json()
    assert full["payload"]["geometry"] == POINT and full["redacted"] is False


def test_custody_rule_breaches_are_problems(http: Http, client: FlaskClient) -> None:
    h1 = http.record(
        COOP,
        {
            "type": "harvest",
            "lot": H1,
            "product": "coffee",
            "form": "parchment",
            "quantity": "100",
            "unit": "kg",
            "member": M1,
            "plot": P1,
        },
    )
    too_much = http.rejected(
        COOP, {"type": "ship", "to": TRADER, "lots": [line(H1, h1, "101")]}, 422
    )
    assert too_much["type"].endswith("/insufficient-quantity")
    assert too_much["errors"][0]["index"] == 0
    yield_breach = http.rejected(
        COOP,
        {
            "type": "transform",
            "process": "dry-mill",
            "inputs": [line(H1, h1, "100")],
            "outputs": [
                {"lot": GREEN, "product": "coffee", "form": "green", "quantity": "90", "unit": "kg"}
            ],
        },
        422,
    )
    assert yield_breach["type"].endswith("/yield-exceeded")
    not_holder = http.rejected(
        TRADER, {"type": "ship", "to": ROASTER, "lots": [line(H1, h1, "1")]}, 422
    )
    assert not_holder["type"].endswith("/not-holder")
    ship = http.record(COOP, {"type": "ship", "to": TRADER, "lots": [line(H1, h1, "100")]})
    receipt = {
        "type": "receive",
        "shipment": ship,
        "lots": [{"lot": H1, "quantity": "100", "unit": "kg"}],
    }
    http.record(TRADER, receipt)
    again = http.rejected(TRADER, receipt, 409)
    assert again["type"].endswith("/already-received")
    unknown = http.rejected(TRADER, {**receipt, "shipment": "sha256:" + "0" * 64}, 422)
    assert unknown["errors"][0]["field"] == "shipment"
    assert assert_problem(client.get("/api/v1/lots/coop-pangoa:nope"), 404)
