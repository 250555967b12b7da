"""The auditor's fair-price report: every underpaid, unconfirmed or disputed scheme
purchase, per party and period, with its events."""

from __future__ import annotations

import pytest

from graph.fair_prices import price_audit
from graph.mass_balance import Period
from ledger.errors import PartyNotFound
from tests.graph.chains import COOP, EXPORTER, ROASTER
from tests.graph.fair import LOT, paid_chain, payment_body, setup
from tests.support import World

YEAR = Period.parse("2026")


def codes(world: World, party: str | None = None, period: Period = YEAR) -> list[str]:
    return sorted(f.code for f in price_audit(world.store, period, party).findings)


def test_a_fair_confirmed_payment_is_no_finding(world: World) -> None:
    paid_chain(world)
    report = price_audit(world.store, YEAR)
    assert report.purchases == 1
    assert not report.findings and bool(report)


def test_a_payment_below_the_minimum_is_found_with_its_events(world: World) -> None:
    fair = paid_chain(world, price="1.90")
    report = price_audit(world.store, YEAR, EXPORTER)
    (finding,) = report.findings
    assert (finding.code, finding.party, finding.seller, finding.scheme) == (
        "below-minimum",
        EXPORTER,
        COOP,
        "SPP",
    )
    assert "paid 1.90 USD/lb FOB, 0.62 below the SPP minimum of 2.52" in finding.message
    assert finding.receipt == fair.receipt
    assert {fair.receipt, fair.payment, fair.confirmation, fair.price_list} <= set(finding.events)
    assert report.by_party() == {EXPORTER: [finding]}
    assert report.to_dict()["counts"]["below-minimum"] == 1


def test_a_payment_in_another_currency_is_judged_at_its_stated_rate(world: World) -> None:
    fair = setup(world)
    c = fair.c
    # 9.00 PEN/lb at 0.27 USD/PEN = 2.43 USD/lb: below 2.52
    c.append(
        EXPORTER,
        payment_body(
            fair.receipt,
            currency="PEN",
            price="9.00",
            premium="0.75",
            rate={"currency": "USD", "value": "0.27"},
        ),
    )
    c.move(EXPORTER, ROASTER, LOT, fair.receipt, "100")
    assert codes(world) == ["below-minimum", "never-confirmed"]


def test_a_missing_premium_an_unconfirmed_and_a_disputed_payment(world: World) -> None:
    fair = setup(world)
    c = fair.c
    disputed = c.append(EXPORTER, payment_body(fair.receipt, price="2.60"))
    c.append(COOP, {"type": "payment.dispute", "payment": disputed, "reason": "paid 2.10"})
    c.append(EXPORTER, payment_body(fair.receipt, premium=None))
    c.move(EXPORTER, ROASTER, LOT, fair.receipt, "100")
    report = price_audit(world.store, YEAR)
    assert sorted(f.code for f in report.findings) == [
        "disputed",
        "never-confirmed",
        "premium-missing",
    ]
    (dispute,) = [f for f in report.findings if f.code == "disputed"]
    assert "paid 2.10" in dispute.message and disputed in dispute.events


def test_a_scheme_purchase_sold_on_without_a_payment_is_found(world: World) -> None:
    fair = setup(world)
    fair.c.move(EXPORTER, ROASTER, LOT, fair.receipt, "100")
    assert codes(world) == ["no-payment"]
    assert codes(world, ROASTER) == []
    assert codes(world, EXPORTER, Period.parse("2025")) == []


def test_a_purchase_not_sold_on_as_the_scheme_is_not_checked(world: World) -> None:
    fair = setup(world)
    report = price_audit(world.store, YEAR)
    assert report.purchases == 0 and not report.findings
    fair.c.receive(
        ROASTER,
        fair.c.append(
            EXPORTER,
            {
                "type": "ship",
                "to": ROASTER,
                "lots": [{"lot": LOT, "event": fair.receipt, "quantity": "100", "unit": "kg"}],
            },
        ),
        [(LOT, "100")],
    )
    assert price_audit(world.store, YEAR).purchases == 0


def test_an_unknown_party_is_refused(world: World) -> None:
    with pytest.raises(PartyNotFound):
        price_audit(world.store, YEAR, "nobody")


def test_a_contract_dated_where_no_list_is_in_force_is_found(world: World) -> None:
    """Adversarial: a buyer pays 1.90 (below the 2.52 minimum) and dates the contract
    years back, before any SPP list, so there is no minimum to judge it by; the seller
    confirms what it got. The purchase is still listed — unpriced, with its date — for
    the auditor, never silently passed."""
    fair = setup(world)
    c = fair.c
    paid = c.append(
        EXPORTER, payment_body(fair.receipt, price="1.90", premium=None, contract_date="2019-05-01")
    )
    c.append(COOP, {"type": "payment.confirm", "payment": paid})
    c.move(EXPORTER, ROASTER, LOT, fair.receipt, "100")
    report = price_audit(world.store, YEAR)
    (finding,) = report.findings
    assert finding.code == "unpriced" and paid in finding.events
    assert "2019-05-01" in finding.message and "no SPP price list" in finding.message
    assert report.to_dict()["counts"]["unpriced"] == 1
