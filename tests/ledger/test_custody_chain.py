"""A complete small coffee chain, recorded from real signed envelopes, on each database.

SPO with members and plots, certifier, exporter, importer, roaster, brand:
harvest → wet mill → dry mill → ship → receive → … → roast → pack → ship → receive,
with the holdings and what is in transit asserted after every step.
"""

from __future__ import annotations

from decimal import Decimal

from ledger.lots import get_lot
from ledger.schema import CertificateRow, CustodyEdgeRow, PlotRow
from tests.ledger.custody_support import (
    BRAND,
    CERTIFIER,
    COOP,
    EXPORTER,
    IMPORTER,
    M2,
    P1,
    P2,
    ROASTER,
    coffee_chain,
    held,
    line,
    output,
    transit,
)
from tests.support import World

D = Decimal
H1, H2 = f"{COOP}:h-2026-00153", f"{COOP}:h-2026-00154"
PARCH, GREEN = f"{COOP}:pg-2026-01", f"{COOP}:g-2026-007"
ROASTED = f"{ROASTER}:r-2026-11"
PACK_A, PACK_B = f"{ROASTER}:pk-2026-11-a", f"{ROASTER}:pk-2026-11-b"


def test_complete_coffee_chain(world: World) -> None:
    chain = coffee_chain(world)
    store = chain.store

    chain.record(
        COOP,
        {
            "type": "plot.map",
            "plot": P1,
            "method": "gps-point",
            "geometry": {"type": "Point", "coordinates": ["-74.493612", "-11.429711"]},
        },
    )
    chain.record(
        CERTIFIER,
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
    with store.reading() as session:
        cert = session.get(CertificateRow, "SPP-PE-0123")
        assert cert is not None and cert.subject == COOP and cert.revoked_event is None
        plot = session.get(PlotRow, P1)
        assert plot is not None and plot.area_ha == D("2.4") and plot.geometry is not None

    # harvest: 20 quintales of cherry (920 kg) from one member, 580 kg from another
    h1 = chain.harvest(H1, "20", unit="quintal")
    assert held(store) == {(COOP, H1): D("920")}
    h2 = chain.harvest(H2, "580", member=M2, plot=P2)
    assert held(store) == {(COOP, H1): D("920"), (COOP, H2): D("580")}
    lot = get_lot(store, H1)
    assert lot is not None and (lot.quantity, lot.unit, lot.kg) == ("20", "quintal", D("920"))

    # wet mill: 1500 kg cherry → 330 kg parchment (≤ 1500 × 0.22 × 1.005)
    wet = chain.record(
        COOP,
        {
            "type": "transform",
            "process": "wet-mill",
            "inputs": [line(H1, h1, "920"), line(H2, h2, "580")],
            "outputs": [output(PARCH, "parchment", "330")],
        },
    )
    assert held(store) == {(COOP, PARCH): D("330")}

    # dry mill: 330 kg parchment → 270 kg green (≤ 330 × 0.82 × 1.005)
    dry = chain.record(
        COOP,
        {
            "type": "transform",
            "process": "dry-mill",
            "inputs": [line(PARCH, wet, "330")],
            "outputs": [output(GREEN, "green", "270")],
        },
    )
    assert held(store) == {(COOP, GREEN): D("270")}

    # ship 4.5 bags of 60 kg to the exporter; it accepts 269.5 kg (0.5 kg lost in transit)
    s1 = chain.record(
        COOP,
        {
            "type": "ship",
            "to": EXPORTER,
            "lots": [line(GREEN, dry, "4.5", "bag-60")],
            "transactions": [{"type": "po", "id": "PO-2026-77"}],
            "claims": ["SPP"],
        },
    )
    assert held(store) == {}
    assert transit(store) == {GREEN: D("270")}
    r1 = chain.record(
        EXPORTER,
        {
            "type": "receive",
            "shipment": s1,
            "lots": [{"lot": GREEN, "quantity": "269.5", "unit": "kg"}],
        },
    )
    assert held(store) == {(EXPORTER, GREEN): D("269.5")}
    assert transit(store) == {}
    lot = get_lot(store, GREEN)
    assert lot is not None and lot.lost == D("0.5")

    # exporter → importer → roaster
    s2 = chain.record(
        EXPORTER,
        {
            "type": "ship",
            "to": IMPORTER,
            "lots": [line(GREEN, r1, "269.5")],
            "transactions": [{"type": "bol", "id": "MSKU1234567"}],
        },
    )
    assert held(store) == {}
    assert transit(store) == {GREEN: D("269.5")}
    r2 = chain.record(
        IMPORTER,
        {
            "type": "receive",
            "shipment": s2,
            "lots": [{"lot": GREEN, "quantity": "269.5", "unit": "kg"}],
        },
    )
    assert held(store) == {(IMPORTER, GREEN): D("269.5")}
    s3 = chain.record(IMPORTER, {"type": "ship", "to": ROASTER, "lots": [line(GREEN, r2, "269.5")]})
    assert transit(store) == {GREEN: D("269.5")}
    r3 = chain.record(
        ROASTER,
        {
            "type": "receive",
            "shipment": s3,
            "lots": [{"lot": GREEN, "quantity": "269500", "unit": "g"}],
        },
    )
    assert held(store) == {(ROASTER, GREEN): D("269.5")}

    # roast: 269.5 kg green → 230 kg roasted (≤ 269.5 × 0.90 × 1.005)
    roast = chain.record(
        ROASTER,
        {
            "type": "transform",
            "process": "roast",
            "inputs": [line(GREEN, r3, "269.5")],
            "outputs": [output(ROASTED, "roasted", "230")],
        },
    )
    assert held(store) == {(ROASTER, ROASTED): D("230")}

    # pack into two retail lots
    pack = chain.record(
        ROASTER,
        {
            "type": "transform",
            "process": "pack",
            "inputs": [line(ROASTED, roast, "230")],
            "outputs": [output(PACK_A, "packed", "115"), output(PACK_B, "packed", "115")],
        },
    )
    assert held(store) == {(ROASTER, PACK_A): D("115"), (ROASTER, PACK_B): D("115")}

    # the brand receives one packed lot
    s4 = chain.record(ROASTER, {"type": "ship", "to": BRAND, "lots": [line(PACK_A, pack, "115")]})
    assert held(store) == {(ROASTER, PACK_B): D("115")}
    assert transit(store) == {PACK_A: D("115")}
    r4 = chain.record(
        BRAND,
        {
            "type": "receive",
            "shipment": s4,
            "lots": [{"lot": PACK_A, "quantity": "115", "unit": "kg"}],
        },
    )
    assert held(store) == {(ROASTER, PACK_B): D("115"), (BRAND, PACK_A): D("115")}
    assert transit(store) == {}

    view = get_lot(store, PACK_A)
    assert view is not None
    assert (view.product, view.form, view.creator, view.event) == (
        "coffee",
        "packed",
        ROASTER,
        pack,
    )
    assert [(h.party, h.via, h.kg) for h in view.holders] == [(BRAND, r4, D("115"))]

    # the custody graph: every step names the event it builds on
    with store.reading() as session:
        edges = {(e.child, e.parent, e.lot, e.kg) for e in session.query(CustodyEdgeRow).all()}
    assert edges == {
        (wet, h1, H1, D("920")),
        (wet, h2, H2, D("580")),
        (dry, wet, PARCH, D("330")),
        (s1, dry, GREEN, D("270")),
        (r1, s1, GREEN, D("269.5")),
        (s2, r1, GREEN, D("269.5")),
        (r2, s2, GREEN, D("269.5")),
        (s3, r2, GREEN, D("269.5")),
        (r3, s3, GREEN, D("269.5")),
        (roast, r3, GREEN, D("269.5")),
        (pack, roast, ROASTED, D("230")),
        (s4, pack, PACK_A, D("115")),
        (r4, s4, PACK_A, D("115")),
    }
