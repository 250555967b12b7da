"""The custody engine over its two backends gives one answer (issue 14).

Hypothesis generates sequences of valid and invalid events — every breach class of the
custody tests: spending what is not held or more than is held, a self-ship, a receipt by
the wrong party or beyond what was shipped, a receipt twice, an impossible process, a
yield beyond the table, a void by another party or of what is built on, a key added or
revoked by a third party, a member.leave by another SPO, a party registered by a
non-operator, an inverted certificate, a broken chain, a time in the future. Each event
goes to the SQL engine (``append_batch`` on SQLite, and on PostgreSQL when configured)
and to the memory engine (``admit`` over a ``MemoryView``): both must accept it or both
refuse it with the same error class and field, and at the end their projections must be
the same rows.
"""

from __future__ import annotations

import base64
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ledger.append import append_batch, parse
from ledger.audit import _derived_rows, _projection_rows
from ledger.engine import admit
from ledger.envelope import Envelope, keyid_of
from ledger.errors import ClientError
from ledger.rebuild import replay, stored_rows
from ledger.store import Store
from ledger.view import MemoryView, stored_event
from tests.conftest import PG_URL, make_store
from tests.ledger.custody_support import (
    CERTIFIER,
    COOP,
    EXPORTER,
    IMPORTER,
    M1,
    M2,
    P1,
    P2,
    coffee_chain,
)
from tests.support import World, public_b64, seeded_key

NOW = datetime(2026, 12, 1, tzinfo=UTC)
OTHER_SPO = "coop-otra"
PARTIES = (COOP, EXPORTER, IMPORTER, OTHER_SPO)
OPS = (
    "harvest",
    "harvest",
    "ship",
    "ship",
    "receive",
    "receive",
    "transform",
    "dispose",
    "void",
    "key.add",
    "key.revoke",
    "member.leave",
    "party.register",
    "cert.issue",
    "cert.revoke",
    "bad-seq",
    "future",
)


@dataclass
class Model:
    """What was accepted so far: candidates for the next events to build on."""

    holdings: list[tuple[str, str, str]] = field(default_factory=list)  # party, lot, via
    shipments: list[tuple[str, str, list[str]]] = field(default_factory=list)  # id, to, lots
    events: list[tuple[str, str]] = field(default_factory=list)  # id, signer
    keys: list[tuple[str, str]] = field(default_factory=list)  # subject, keyid
    certificates: list[str] = field(default_factory=list)
    serial: int = 0

    def name(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial}"


def _outcome(error: ClientError | None) -> tuple[str, str | None] | None:
    return None if error is None else (type(error).__name__, error.field)


def _sql(store: Store, envelope: Envelope) -> ClientError | None:
    try:
        append_batch(store, [envelope], now=NOW)
    except ClientError as e:
        return e
    return None


def _memory(view: MemoryView, envelope: Envelope) -> ClientError | None:
    try:
        event = parse(envelope)
    except ClientError as e:
        return e
    view.begin()
    try:
        admit(event, view, NOW)
        view.put_event(stored_event(event, view.size))
    except ClientError as e:
        view.rollback()
        return e
    view.commit()
    return None


def _body(op: str, data: st.DataObject, model: Model, world: World) -> tuple[str, dict[str, Any]]:
    """The signer and body of one generated event (valid or not)."""
    draw = data.draw
    if op == "harvest":
        member, plot = draw(st.sampled_from([(M1, P1), (M2, P2), (M1, P2)]))
        signer = draw(st.sampled_from([COOP, COOP, COOP, EXPORTER]))
        return signer, {
            "type": "harvest",
            "lot": f"{signer}:{model.name('h')}",
            "product": "coffee",
            "form": "cherry",
            "quantity": str(draw(st.integers(1, 500))),
            "unit": "kg",
            "member": member,
            "plot": plot,
        }
    if op in ("ship", "transform", "dispose") and model.holdings:
        party, lot, via = draw(st.sampled_from(model.holdings))
        signer = draw(st.sampled_from([party, party, party, *PARTIES]))
        kg = str(draw(st.integers(1, 120)))
        spend = {"lot": lot, "event": via, "quantity": kg, "unit": "kg"}
        if op == "ship":
            return signer, {"type": "ship", "to": draw(st.sampled_from(PARTIES)), "lots": [spend]}
        if op == "dispose":
            return signer, {"type": "dispose", **spend, "reason": "spoiled"}
        form = draw(st.sampled_from(["parchment", "green", "roasted"]))
        return signer, {
            "type": "transform",
            "process": draw(st.sampled_from(["wet-mill", "dry-mill", "roast"])),
            "inputs": [spend],
            "outputs": [
                {
                    "lot": f"{signer}:{model.name('t')}",
                    "product": "coffee",
                    "form": form,
                    "quantity": str(draw(st.integers(1, 30))),
                    "unit": "kg",
                }
            ],
        }
    if op == "receive" and model.shipments:
        shipment, to, lots = draw(st.sampled_from(model.shipments))
        signer = draw(st.sampled_from([to, to, to, *PARTIES]))
        accepted = [
            {"lot": lot, "quantity": str(draw(st.integers(1, 130))), "unit": "kg"}
            for lot in lots
            if draw(st.booleans()) or len(lots) == 1
        ]
        return signer, {"type": "receive", "shipment": shipment, "lots": accepted}
    if op == "void" and model.events:
        target, owner = draw(st.sampled_from(model.events))
        signer = draw(st.sampled_from([owner, owner, *PARTIES]))
        return signer, {"type": "void", "event": target, "reason": "recorded in error"}
    if op == "key.add":
        signer = draw(st.sampled_from(["operator", *PARTIES]))
        subject = draw(st.sampled_from(PARTIES))
        return signer, {
            "type": "key.add",
            "subject": subject,
            "public_key": public_b64(seeded_key(model.name("key"))),
        }
    if op == "key.revoke" and model.keys:
        subject, keyid = draw(st.sampled_from(model.keys))
        signer = draw(st.sampled_from(["operator", subject, *PARTIES]))
        return signer, {"type": "key.revoke", "subject": subject, "keyid": keyid, "reason": "lost"}
    if op == "member.leave":
        return draw(st.sampled_from([COOP, OTHER_SPO])), {
            "type": "member.leave",
            "member": draw(st.sampled_from([M1, M2])),
            "until": draw(st.sampled_from(["2026-03-01", "2026-06-30", "2018-01-01"])),
        }
    if op == "party.register":
        party = model.name("party")
        return draw(st.sampled_from(["operator", EXPORTER])), {
            "type": "party.register",
            "subject": party,
            "name": party,
            "roles": ["trader"],
            "country": "PE",
            "public_key": public_b64(seeded_key(party)),
        }
    if op == "cert.issue":
        start, end = draw(
            st.sampled_from([("2026-01-01", "2027-01-01"), ("2027-01-01", "2026-01-01")])
        )
        return draw(st.sampled_from([CERTIFIER, CERTIFIER, COOP])), {
            "type": "cert.issue",
            "certificate": model.name("cert"),
            "subject": COOP,
            "scheme": "SPP",
            "products": ["coffee"],
            "valid_from": start,
            "valid_until": end,
        }
    if op == "cert.revoke" and model.certificates:
        return draw(st.sampled_from([CERTIFIER, COOP])), {
            "type": "cert.revoke",
            "certificate": draw(st.sampled_from(model.certificates)),
            "reason": "withdrawn",
        }
    return _body("harvest", data, model, world)


def _remember(model: Model, signer: str, body: dict[str, Any], envelope: Envelope) -> None:
    model.events.append((envelope.id, signer))
    kind = body["type"]
    if kind == "harvest":
        model.holdings.append((signer, body["lot"], envelope.id))
    elif kind == "transform":
        model.holdings.append((signer, body["outputs"][0]["lot"], envelope.id))
    elif kind == "ship":
        model.shipments.append((envelope.id, body["to"], [line["lot"] for line in body["lots"]]))
    elif kind == "receive":
        model.holdings.extend((signer, line["lot"], envelope.id) for line in body["lots"])
    elif kind == "key.add":
        model.keys.append((body["subject"], keyid_of(base64.b64decode(body["public_key"]))))
    elif kind == "cert.issue":
        model.certificates.append(body["certificate"])


def _run(store: Store, data: st.DataObject) -> None:
    world = World.create(store)
    coffee_chain(world)
    world.register(OTHER_SPO, ["spo"])
    view = MemoryView()
    with store.reading() as session:
        replay(stored_rows(session.connection()), view)
    model = Model()
    for _step in range(data.draw(st.integers(5, 30), label="steps")):
        op = data.draw(st.sampled_from(OPS), label="op")
        signer, body = _body(op, data, model, world)
        chain = world.chains[signer]
        seq, prev = chain.seq, chain.prev
        if op == "bad-seq":
            chain.seq += 1  # skip a seq: the chain does not extend
        if op == "future":
            body["time"] = (NOW + timedelta(days=1)).isoformat()
        envelope = world.sign(signer, body)
        by_sql, by_memory = _sql(store, envelope), _memory(view, envelope)
        assert _outcome(by_sql) == _outcome(by_memory), (op, body, str(by_sql), str(by_memory))
        event(f"{op}: {_outcome(by_sql)}")
        if by_sql is None:
            _remember(model, signer, body, envelope)
        else:
            chain.seq, chain.prev = seq, prev
        assert store.size() == view.size
    with store.reading() as session:
        stored = _projection_rows(session.connection())
    assert stored == _derived_rows(view)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_sql_and_memory_engines_agree_on_sqlite(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store("sqlite", Path(tmp))
        try:
            _run(store, data)
        finally:
            store.dispose()


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="PostgreSQL tests need TRAZO_TEST_POSTGRES_URL (CI sets it)")
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_sql_and_memory_engines_agree_on_postgresql(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store("postgres", Path(tmp))
        try:
            _run(store, data)
        finally:
            store.dispose()
