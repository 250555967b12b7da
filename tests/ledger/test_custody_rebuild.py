"""``trazo rebuild`` derives every projection again from the events alone, and the result
equals the incrementally maintained one; ``trazo lots`` shows a lot."""

from __future__ import annotations

import json
from decimal import Decimal

from click.testing import CliRunner
from sqlalchemy import update

from api.cli.core import main
from ledger.rebuild import rebuild
from ledger.schema import HoldingRow, LotRow
from tests.ledger.custody_support import (
    CERTIFIER,
    COOP,
    EXPORTER,
    IMPORTER,
    M1,
    P1,
    Chain,
    coffee_chain,
    enroll_body,
    line,
    output,
    projection_rows,
)
from tests.support import World

D = Decimal
H1, H2 = f"{COOP}:h-1", f"{COOP}:h-2"
GREEN = f"{COOP}:g-1"


def rich_ledger(world: World) -> Chain:
    """Every custody event type, with losses, voids, a revocation and a departure."""
    chain = coffee_chain(world)
    chain.record(
        COOP,
        {
            "type": "plot.map",
            "plot": P1,
            "method": "gps-point",
            "geometry": {"type": "Point", "coordinates": ["-74.49", "-11.42"]},
        },
    )
    chain.record(
        COOP,
        {
            "type": "plot.map",
            "plot": P1,
            "method": "gps-point",
            "geometry": {"type": "Point", "coordinates": ["-74.5", "-11.4"]},
        },
    )
    for cert in ("SPP-1", "ORG-1", "FT-1"):
        chain.record(
            CERTIFIER,
            {
                "type": "cert.issue",
                "certificate": cert,
                "subject": COOP,
                "scheme": cert.split("-")[0],
                "products": ["coffee"],
                "valid_from": "2025-01-01",
                "valid_until": "2027-12-31",
            },
        )
    chain.record(CERTIFIER, {"type": "cert.revoke", "certificate": "ORG-1", "reason": "x"})
    chain.record(
        CERTIFIER,
        {
            "type": "void",
            "event": chain.record(
                CERTIFIER, {"type": "cert.revoke", "certificate": "FT-1", "reason": "typo"}
            ),
            "reason": "wrong certificate",
        },
    )
    h1 = chain.harvest(H1, "10", unit="quintal", form="parchment")
    h2 = chain.harvest(H2, "100", form="parchment")
    chain.record(
        COOP, {"type": "void", "event": chain.harvest(f"{COOP}:h-x", "9"), "reason": "typed wrong"}
    )
    dry = chain.record(
        COOP,
        {
            "type": "transform",
            "process": "dry-mill",
            "inputs": [line(H1, h1, "460"), line(H2, h2, "50")],
            "outputs": [output(GREEN, "green", "400")],
        },
    )
    chain.record(
        COOP,
        {
            "type": "dispose",
            "lot": H2,
            "event": h2,
            "quantity": "5",
            "unit": "kg",
            "reason": "spoiled",
        },
    )
    s1 = chain.record(
        COOP,
        {"type": "ship", "to": EXPORTER, "lots": [line(GREEN, dry, "300"), line(H2, h2, "45")]},
    )
    r1 = chain.record(
        EXPORTER,
        {
            "type": "receive",
            "shipment": s1,
            "lots": [{"lot": GREEN, "quantity": "299", "unit": "kg"}],
        },
    )
    chain.record(EXPORTER, {"type": "void", "event": r1, "reason": "weighed wrong"})
    r1 = chain.record(
        EXPORTER,
        {
            "type": "receive",
            "shipment": s1,
            "lots": [
                {"lot": GREEN, "quantity": "299.5", "unit": "kg"},
                {"lot": H2, "quantity": "45", "unit": "kg"},
            ],
        },
    )
    chain.record(
        EXPORTER, {"type": "ship", "to": IMPORTER, "lots": [line(GREEN, r1, "4", "bag-60")]}
    )  # left in transit
    chain.record(COOP, {"type": "member.leave", "member": M1, "until": "2026-12-31"})
    chain.record(COOP, enroll_body(f"{COOP}:m-9", [(f"{COOP}:p-9", "1.5")]))
    return chain


def test_rebuild_equals_the_incremental_projections(world: World) -> None:
    chain = rich_ledger(world)
    before = projection_rows(chain.store)
    assert before["holdings"] and before["custody_edges"] and before["voids"]
    result = rebuild(chain.store, page=7)  # several pages
    assert result.events == chain.store.size()
    assert projection_rows(chain.store) == before


def test_rebuild_repairs_a_damaged_projection(sqlite_world: World) -> None:
    chain = rich_ledger(sqlite_world)
    before = projection_rows(chain.store)
    with chain.store.writing() as session:
        session.execute(update(HoldingRow).values(kg=D("999")))
        session.execute(update(LotRow).values(product="cacao"))
    assert projection_rows(chain.store) != before
    rebuild(chain.store)
    assert projection_rows(chain.store) == before
    # and the ledger keeps working on the rebuilt projections
    chain.record(
        EXPORTER,
        {
            "type": "dispose",
            "lot": H2,
            "event": _via(chain, H2),
            "quantity": "45",
            "unit": "kg",
            "reason": "sample",
        },
    )


def _via(chain: Chain, lot: str) -> str:
    from ledger.lots import get_lot

    view = get_lot(chain.store, lot)
    assert view is not None
    return next(h.via for h in view.holders if h.party == EXPORTER)


def test_cli_rebuild_and_lots(sqlite_world: World) -> None:
    chain = rich_ledger(sqlite_world)
    url = chain.store.url
    runner = CliRunner()
    result = runner.invoke(main, ["rebuild", "--db", url])
    assert result.exit_code == 0, result.output
    assert f"from {chain.store.size()} events" in result.output

    result = runner.invoke(main, ["lots", GREEN, "--db", url, "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert (shown["product"], shown["form"]) == ("coffee", "green")
    assert shown["created_by"]["type"] == "transform"
    assert [(h["party"], h["kg"]) for h in shown["holders"]] == [(COOP, "100"), (EXPORTER, "59.5")]
    assert shown["in_transit"][0]["kg"] == "240" and shown["in_transit"][0]["to"] == IMPORTER
    assert shown["transit_losses"][0]["lost_kg"] == "0.5"

    result = runner.invoke(main, ["lots", GREEN, "--db", url])
    assert result.exit_code == 0
    assert "product    coffee, form green" in result.output
    assert "transit loss 0.5 kg" in result.output

    result = runner.invoke(main, ["lots", "--db", url])
    assert result.exit_code == 0
    assert H1 in result.output and "VOIDED" in result.output

    result = runner.invoke(main, ["lots", f"{COOP}:none", "--db", url])
    assert result.exit_code == 1 and "no lot" in result.output
