"""Publishing is explicit (``lot.publish``), and grants are signed events with rules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from ledger.errors import DuplicateId, InvalidEvent, NotAuthorized, UnknownLot
from tests.api.conftest import OPERATOR_TOKEN, sign_in
from tests.graph import chains
from tests.graph.chains import BRAND, COOP, EXPORTER, M1, P1, ROASTER
from tests.support import World

OUTPUTS = ("/p/{lot}", "/p/{lot}.jsonld", "/p/{lot}/qr.svg", "/p/{lot}/bundle.json")


@pytest.fixture
def keys(private_app: Flask) -> Path:
    return Path(private_app.config["TRAZO_KEYS"])


@pytest.fixture
def pub_app(private_app: Flask) -> Flask:
    return private_app


def _bag(world: World) -> tuple[chains.Coffee, str]:
    c = chains.base(world)
    h = c.harvest(COOP, f"{COOP}:h-1", "100", M1, P1)
    rec = chains.to_roaster(c, COOP, f"{COOP}:h-1", h, "100")
    return c, chains.roast_and_pack(c, [(f"{COOP}:h-1", rec, "100")], "100", publish=False)


def test_an_unpublished_lot_has_no_public_output_until_its_holder_publishes_it(
    world: World, pub_app: Flask, keys: Path, tmp_path: Path
) -> None:
    c, bag = _bag(world)
    client = pub_app.test_client()
    operator = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    for template in OUTPUTS:
        for headers in ({}, operator):  # not even the operator: a page is publication
            assert client.get(template.format(lot=bag), headers=headers).status_code == 404
    assert client.get(f"/api/v1/lots/{bag}/bundle").status_code == 404

    published = c.append(BRAND, {"type": "lot.publish", "lot": bag})
    for template in OUTPUTS:
        response = client.get(template.format(lot=bag))
        assert response.status_code == 200, (template, response.status_code)
    listed = client.get("/api/v1/events?type=lot.publish").get_json()["events"]
    assert [(e["id"], e["payload"]["lot"]) for e in listed] == [(published, bag)]

    bundle = tmp_path / "bag.json"
    bundle.write_bytes(client.get(f"/p/{bag}/bundle.json").data)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from api.cli.core import main; main()",
            "verify",
            str(bundle),
            "--log-key",
            str(keys / "log.pub"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "100" in done.stdout

    c.append(BRAND, {"type": "void", "event": published, "reason": "published too early"})
    assert client.get(f"/p/{bag}").status_code == 404  # withdrawn


def test_a_voided_lot_is_no_longer_public(world: World, pub_app: Flask) -> None:
    c = chains.base(world)
    harvest = c.harvest(COOP, f"{COOP}:h-9", "10", M1, P1)
    c.append(COOP, {"type": "lot.publish", "lot": f"{COOP}:h-9"})
    client = pub_app.test_client()
    assert client.get(f"/p/{COOP}:h-9/bundle.json").status_code == 200
    c.append(COOP, {"type": "void", "event": harvest, "reason": "wrong member"})
    assert client.get(f"/p/{COOP}:h-9/bundle.json").status_code == 404


def test_only_the_creator_or_a_holder_publishes_and_only_once(world: World) -> None:
    c, bag = _bag(world)
    refused(
        c,
        EXPORTER,
        {"type": "lot.publish", "lot": bag},
        UnknownLot,
        "created or holds some of now",
    )
    refused(c, BRAND, {"type": "lot.publish", "lot": f"{BRAND}:nothing"}, UnknownLot, "no lot")
    # the exporter held the harvest lot once, and shipped all of it on: it no longer may
    refused(c, EXPORTER, {"type": "lot.publish", "lot": f"{COOP}:h-1"}, UnknownLot, "holds some")
    roasted = f"{ROASTER}:bag-roasted"
    c.append(ROASTER, {"type": "lot.publish", "lot": roasted})  # its creator, since sold on
    c.append(BRAND, {"type": "lot.publish", "lot": bag})
    refused(c, BRAND, {"type": "lot.publish", "lot": bag}, InvalidEvent, "already published")


def refused(c: chains.Coffee, party: str, body: dict[str, Any], error: type, match: str) -> None:
    """Append a refused event; the party's chain stays where it was (as an outbox keeps it)."""
    chain = c.world.chains[party]
    seq, prev = chain.seq, chain.prev
    with pytest.raises(error, match=match):
        c.append(party, body)
    chain.seq, chain.prev = seq, prev


GRANT = {"type": "grant.issue", "valid_from": "2026-01-01", "valid_until": "2099-12-31"}


def test_who_may_grant_and_to_whom(world: World) -> None:
    c = chains.base(world)
    c.party("bio-audit", ["auditor"], "DE")
    refused(
        c,
        EXPORTER,
        {**GRANT, "grant": "g1", "grantee": "bio-audit", "subject": COOP},
        NotAuthorized,
        "signed by the operator",
    )
    refused(
        c,
        EXPORTER,
        {**GRANT, "grant": "g1", "grantee": "bio-audit", "subject": "*"},
        NotAuthorized,
        "signed by the operator",
    )
    refused(
        c,
        "operator",
        {**GRANT, "grant": "g1", "grantee": ROASTER, "subject": COOP},
        NotAuthorized,
        "role auditor or certifier",
    )
    refused(
        c,
        "operator",
        {
            **GRANT,
            "grant": "g1",
            "grantee": "bio-audit",
            "subject": COOP,
            "valid_until": "2025-01-01",
        },
        InvalidEvent,
        "valid_until",
    )
    c.append(EXPORTER, {**GRANT, "grant": "g1", "grantee": "bio-audit", "subject": EXPORTER})
    refused(
        c,
        "operator",
        {**GRANT, "grant": "g1", "grantee": "bio-audit", "subject": COOP},
        DuplicateId,
        "already issued",
    )
    refused(
        c,
        COOP,
        {"type": "grant.revoke", "grant": "g1", "reason": "mine now"},
        NotAuthorized,
        "only it or the operator",
    )
    c.append(EXPORTER, {"type": "grant.revoke", "grant": "g1", "reason": "audit done"})


def test_a_grant_of_the_whole_ledger_reads_everything_while_valid(
    world: World, pub_app: Flask
) -> None:
    c, bag = _bag(world)
    c.party("bio-audit", ["auditor"], "DE")
    client = pub_app.test_client()
    token = sign_in(client, "bio-audit")
    auth = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/lots/{bag}/trace.csv"
    assert client.get(url, headers=auth).status_code == 404
    c.append("operator", {**GRANT, "grant": "all", "grantee": "bio-audit", "subject": "*"})
    assert client.get(url, headers=auth).status_code == 200
    shipments = client.get("/api/v1/events?type=ship", headers=auth).get_json()["events"]
    assert len(shipments) == 3
    c.append("operator", {"type": "grant.revoke", "grant": "all", "reason": "term over"})
    assert client.get(url, headers=auth).status_code == 404
    assert client.get("/api/v1/events?type=ship", headers=auth).get_json()["events"] == []


def test_the_demo_publishes_its_two_bags() -> None:
    from fixtures.generator import demo_chain
    from ledger.envelope import Envelope

    chain = demo_chain()
    published = [
        json.loads(e.payload)["lot"]
        for e in chain.events
        if isinstance(e, Envelope) and json.loads(e.payload)["type"] == "lot.publish"
    ]
    assert sorted(published) == sorted([chain.facts.single_origin_bag, chain.facts.blended_bag])


def test_a_grant_revocation_dated_minutes_ahead_ends_the_reads_now(
    world: World, pub_app: Flask
) -> None:
    """From the final attacker review: as for a revoked key, a grant is over once its
    grant.revoke is in the ledger, not when the time it states comes."""
    from datetime import UTC, datetime, timedelta

    c, bag = _bag(world)
    c.party("bio-audit", ["auditor"], "DE")
    client = pub_app.test_client()
    auth = {"Authorization": f"Bearer {sign_in(client, 'bio-audit')}"}
    c.append("operator", {**GRANT, "grant": "all", "grantee": "bio-audit", "subject": "*"})
    url = f"/api/v1/lots/{bag}/trace.csv"
    assert client.get(url, headers=auth).status_code == 200
    ahead = (datetime.now(UTC) + timedelta(minutes=3)).isoformat()
    c.append("operator", {"type": "grant.revoke", "grant": "all", "reason": "x", "time": ahead})
    assert client.get(url, headers=auth).status_code == 404
