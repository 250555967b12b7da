"""Hypothesis: random sequences of valid and invalid custody operations on a few lots and
parties. After every step no holding is negative and every lot balances —
created = held + in transit + lost in transit + disposed + consumed by transforms — and
a spend is accepted exactly when the signer holds enough; at the end, ``rebuild``
reproduces the incrementally maintained projections row for row."""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from ledger.envelope import Envelope
from ledger.errors import ClientError
from ledger.rebuild import rebuild
from ledger.schema import (
    CustodyEdgeRow,
    HoldingRow,
    LotRow,
    ShipmentLotRow,
    ShipmentRow,
)
from ledger.store import Store
from tests.conftest import make_store
from tests.ledger.custody_support import (
    COOP,
    EXPORTER,
    IMPORTER,
    M1,
    P1,
    coffee_chain,
    harvest_body,
    projection_rows,
)
from tests.support import World

D = Decimal
ZERO = D(0)
PARTIES = (COOP, EXPORTER, IMPORTER)
OPS = (
    "harvest",
    "ship",
    "ship",
    "receive",
    "receive",
    "split",
    "dispose",
    "void",
    "void",
    "double",
    "receive-again",
)


def attempt(world: World, party: str, *bodies: dict[str, Any]) -> list[str] | None:
    """Sign and append ``bodies`` as one batch; on refusal rewind the key chain."""
    chain = world.chains[party]
    seq, prev = chain.seq, chain.prev
    envelopes: list[Envelope] = [world.sign(party, body) for body in bodies]
    try:
        return [e.id for e in world.append(*envelopes).events]
    except ClientError:
        chain.seq, chain.prev = seq, prev
        return None


def holdings(store: Store) -> list[HoldingRow]:
    with store.reading() as session:
        return list(
            session.scalars(
                select(HoldingRow).order_by(HoldingRow.party, HoldingRow.lot, HoldingRow.via)
            )
        )


def check_invariants(store: Store) -> None:
    with store.reading() as session:
        created = {
            lot.id: (ZERO if lot.voided_by else lot.kg) for lot in session.scalars(select(LotRow))
        }
        accounted = dict.fromkeys(created, ZERO)
        for h in session.scalars(select(HoldingRow)):
            assert h.kg >= 0, f"negative holding {h.party} {h.lot} {h.kg}"
            accounted[h.lot] += h.kg
        shipped = session.execute(
            select(ShipmentLotRow, ShipmentRow.status).join(
                ShipmentRow, ShipmentRow.id == ShipmentLotRow.shipment
            )
        )
        for row, status in shipped:
            if status == "in-transit":
                accounted[row.lot] += row.kg  # in transit
            elif status == "received":
                assert row.received_kg is not None and 0 <= row.received_kg <= row.kg
                accounted[row.lot] += row.kg - row.received_kg  # lost in transit
        for e in session.scalars(select(CustodyEdgeRow)):
            assert e.kg > 0
            if e.kind in ("dispose", "transform"):
                accounted[e.lot] += e.kg
    assert accounted == created


def quantity() -> st.SearchStrategy[str]:
    return st.builds(
        lambda n, frac: f"{n}{frac}", st.integers(1, 400), st.sampled_from(["", "", ".5", ".125"])
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_custody_operations_keep_the_books(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store("sqlite", Path(tmp))
        try:
            world = World.create(store)
            coffee_chain(world)
            _run(world, data)
            before = projection_rows(store)
            rebuild(store, page=5)
            assert projection_rows(store) == before
        finally:
            store.dispose()


def _asked(data: st.DataObject, held: Decimal) -> Decimal:
    """Mostly a part of (or all of) what is held, sometimes more or anything."""
    kind = data.draw(st.sampled_from(["part", "part", "all", "over", "any"]), label="kind")
    if kind == "part" and held >= 2:
        return D(data.draw(st.integers(1, int(held) - 1), label="part"))
    if kind in ("part", "all") and held > 0:
        return held
    if kind == "over":
        return held + D("0.001")
    return D(data.draw(quantity(), label="qty"))


def _run(world: World, data: st.DataObject) -> None:
    store = world.store
    events: list[tuple[str, str]] = []  # (party, event id) of accepted events
    shipments: list[tuple[str, str, dict[str, Decimal]]] = []  # (id, to, lot → kg)
    n_lots = 0
    steps = data.draw(st.integers(6, 24), label="steps")
    for _ in range(steps):
        body: dict[str, Any]
        op = data.draw(st.sampled_from(OPS), label="op")
        live = holdings(store)
        nonzero = [h for h in live if h.kg > 0]
        if op == "harvest" or (not nonzero and op in ("ship", "split", "dispose", "double")):
            n_lots += 1
            body = harvest_body(
                f"{COOP}:h-{n_lots}", data.draw(quantity()), form="green", member=M1, plot=P1
            )
            ids = attempt(world, COOP, body)
            assert ids is not None
            events.append((COOP, ids[0]))
        elif op in ("ship", "dispose", "split"):
            h = data.draw(st.sampled_from(live), label="holding")
            asked = _asked(data, h.kg)
            spend = {"lot": h.lot, "event": h.via, "quantity": str(asked), "unit": "kg"}
            if op == "ship":
                to = data.draw(st.sampled_from([p for p in PARTIES if p != h.party]))
                body = {"type": "ship", "to": to, "lots": [spend]}
            elif op == "dispose":
                body = {"type": "dispose", **spend, "reason": "spoiled"}
            else:
                n_lots += 1
                out = _asked(data, asked)  # within one form, no tolerance: out ≤ in
                body = {
                    "type": "transform",
                    "process": "split",
                    "inputs": [spend],
                    "outputs": [
                        {
                            "lot": f"{h.party}:s-{n_lots}",
                            "product": "coffee",
                            "form": "green",
                            "quantity": str(out),
                            "unit": "kg",
                        }
                    ],
                }
            ids = attempt(world, h.party, body)
            fits = asked <= h.kg and (op != "split" or out <= asked)
            assert (ids is not None) == fits, (op, h.kg, asked)
            if ids is not None:
                events.append((h.party, ids[0]))
                if op == "ship":
                    shipments.append((ids[0], to, {h.lot: asked}))
        elif op == "double":
            h = data.draw(st.sampled_from(nonzero), label="holding")
            first = D(data.draw(st.integers(1, max(1, int(h.kg))), label="first"))
            rest = h.kg - first + data.draw(st.sampled_from([D(0), D("0.5"), D(1)]))
            spends = [
                {
                    "type": "dispose",
                    "lot": h.lot,
                    "event": h.via,
                    "quantity": str(q),
                    "unit": "kg",
                    "reason": "spoiled",
                }
                for q in (first, rest)
                if q > 0
            ]
            ids = attempt(world, h.party, *spends)
            assert (ids is not None) == (first <= h.kg and rest <= h.kg - first)
            events.extend((h.party, i) for i in ids or [])
        elif op in ("receive", "receive-again") and shipments:
            sid, to, lots = data.draw(st.sampled_from(shipments), label="shipment")
            signer = to if data.draw(st.booleans()) else COOP
            lot, kg = next(iter(lots.items()))
            accept = kg - data.draw(st.sampled_from([D(0), D("0.5"), D(-1)]))
            if accept <= 0:
                accept = kg
            ids = attempt(
                world,
                signer,
                {
                    "type": "receive",
                    "shipment": sid,
                    "lots": [{"lot": lot, "quantity": str(accept), "unit": "kg"}],
                },
            )
            if ids is not None:
                assert signer == to and accept <= kg
                events.append((signer, ids[0]))
        elif op == "void" and events:
            party, target = data.draw(st.sampled_from(events), label="target")
            ids = attempt(world, party, {"type": "void", "event": target, "reason": "error"})
            if ids is not None:
                events.remove((party, target))
        check_invariants(store)
