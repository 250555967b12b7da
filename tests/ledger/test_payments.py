"""Price lists and payments: who may sign them, which list applies, what is refused."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from ledger.audit import audit
from ledger.errors import ClientError, InvalidEvent, NotAuthorized, UnknownReference
from ledger.rebuild import rebuild
from ledger.schema import PaymentRow, PriceLineRow
from tests.graph.chains import COOP, COOP2, EXPORTER, M1, P1, ROASTER, Coffee
from tests.graph.fair import (
    STANDARD,
    member_payment_body,
    paid_chain,
    payment_body,
    price_list_body,
    setup,
)
from tests.support import World


def refused(c: Coffee, party: str, body: dict[str, Any]) -> ClientError:
    """Sign and append ``body``, expect a refusal, and rewind the party's chain (the
    refused envelope used a seq); nothing was appended."""
    chain = c.world.chains[party]
    seq, prev, size = chain.seq, chain.prev, c.store.size()
    with pytest.raises(ClientError) as caught:
        c.append(party, body)
    chain.seq, chain.prev = seq, prev
    assert c.store.size() == size
    return caught.value


def payments(world: World) -> dict[str, PaymentRow]:
    with world.store.reading() as s:
        return {p.id: p for p in s.scalars(select(PaymentRow))}


# --- price lists ----------------------------------------------------------------------


def test_only_a_standard_party_signs_a_price_list(world: World) -> None:
    fair = setup(world)
    for party in (COOP, EXPORTER, "certi-sur"):
        error = refused(
            fair.c,
            party,
            price_list_body("SPP-2028", valid_from="2028-01-01", valid_until="2028-12-31"),
        )
        assert isinstance(error, NotAuthorized) and "role standard" in error.message


def test_a_retroactive_price_list_is_refused(world: World) -> None:
    fair = setup(world)
    error = refused(
        fair.c,
        STANDARD,
        price_list_body("SPP-old", valid_from="2025-01-01", valid_until="2025-12-31"),
    )
    assert isinstance(error, InvalidEvent) and error.field == "valid_from"
    assert "never retroactive" in error.message


def test_an_overlapping_price_list_is_refused_with_the_list_it_overlaps(
    world: World,
) -> None:
    fair = setup(world)
    error = refused(
        fair.c,
        STANDARD,
        price_list_body("SPP-2026b", valid_from="2026-12-01", valid_until="2027-06-30"),
    )
    assert isinstance(error, InvalidEvent) and error.field == "items[0]"
    assert "'SPP-2026'" in error.message and "overlaps" in error.message
    assert error.details["overlaps"] == fair.price_list
    # another class, or a list starting after the first ends, is fine
    fair.c.append(STANDARD, price_list_body("SPP-robusta", quality="robusta"))
    fair.c.append(
        STANDARD, price_list_body("SPP-2027", valid_from="2027-03-01", valid_until="2028-02-29")
    )


def test_the_list_in_force_at_the_contract_date_applies(world: World) -> None:
    fair = setup(world)
    later = fair.c.append(
        STANDARD,
        price_list_body(
            "SPP-2027-EUR", valid_from="2027-03-01", valid_until="2028-02-29", currency="EUR"
        ),
    )
    # contract under the 2026 list (USD): no rate needed
    first = fair.c.append(EXPORTER, payment_body(fair.receipt))
    fair.c.append(COOP, {"type": "payment.dispute", "payment": first, "reason": "not yet"})
    # contract under the 2027 list (EUR): a USD payment must state its rate to EUR
    error = refused(fair.c, EXPORTER, payment_body(fair.receipt, contract_date="2027-03-01"))
    assert isinstance(error, InvalidEvent) and error.field == "rate"
    assert "EUR" in error.message and "never fetched" in error.message
    second = fair.c.append(
        EXPORTER,
        payment_body(
            fair.receipt, contract_date="2027-03-01", rate={"currency": "EUR", "value": "0.92"}
        ),
    )
    rows = payments(world)
    assert rows[first].price_list == fair.price_list
    assert rows[second].price_list == later


def test_a_rate_to_another_currency_than_the_lists_is_refused(world: World) -> None:
    fair = setup(world)
    error = refused(
        fair.c,
        EXPORTER,
        payment_body(
            fair.receipt, currency="PEN", price="11.50", rate={"currency": "EUR", "value": "0.25"}
        ),
    )
    assert isinstance(error, InvalidEvent) and error.field == "rate"


# --- payments -------------------------------------------------------------------------


def test_a_payment_for_a_receipt_that_is_not_the_signers_is_refused(world: World) -> None:
    fair = setup(world)
    fair.c.party("other-trader", ["trader"], "PE")
    # another party's receipt: the same answer as for no receipt at all
    stolen = refused(fair.c, "other-trader", payment_body(fair.receipt))
    missing = refused(fair.c, "other-trader", payment_body("sha256:" + "ab" * 32))
    assert isinstance(stolen, UnknownReference) and stolen.field == "receipts[0]"
    assert type(stolen) is type(missing) and stolen.field == missing.field
    assert "a buyer pays for its own receipts" in stolen.message
    # an event of one's own that is not a receipt
    shipment = fair.c.ship(EXPORTER, ROASTER, [(f"{COOP}:h-1", fair.receipt, "10")])
    error = refused(fair.c, EXPORTER, payment_body(shipment))
    assert isinstance(error, UnknownReference)
    # naming the wrong seller
    error = refused(fair.c, EXPORTER, payment_body(fair.receipt, to=COOP2))
    assert isinstance(error, InvalidEvent) and "not from 'coop-marcala'" in error.message


def test_a_confirmation_by_a_party_not_paid_is_refused(world: World) -> None:
    fair = setup(world)
    paid = fair.c.append(EXPORTER, payment_body(fair.receipt))
    for intruder in (COOP2, EXPORTER, ROASTER):
        error = refused(fair.c, intruder, {"type": "payment.confirm", "payment": paid})
        assert isinstance(error, UnknownReference) and error.field == "payment"
        error = refused(
            fair.c, intruder, {"type": "payment.dispute", "payment": paid, "reason": "no"}
        )
        assert isinstance(error, UnknownReference)
    assert payments(world)[paid].status == "unconfirmed"
    # the party paid answers once
    fair.c.append(COOP, {"type": "payment.dispute", "payment": paid, "reason": "paid 2.10"})
    error = refused(fair.c, COOP, {"type": "payment.confirm", "payment": paid})
    assert isinstance(error, InvalidEvent) and "already disputed" in error.message
    assert payments(world)[paid].status == "disputed"


def test_amounts_in_a_currency_without_a_stated_rate_are_refused(world: World) -> None:
    fair = setup(world)
    error = refused(fair.c, EXPORTER, payment_body(fair.receipt, currency="PEN", price="11.50"))
    assert isinstance(error, InvalidEvent) and error.field == "rate"
    assert "in USD" in error.message
    error = refused(fair.c, EXPORTER, payment_body(fair.receipt, currency="XYZ"))
    assert isinstance(error, InvalidEvent) and error.field == "currency"
    error = refused(fair.c, EXPORTER, payment_body(fair.receipt, amount="1e3"))
    assert isinstance(error, InvalidEvent) and error.field == "amount"
    fair.c.append(
        EXPORTER,
        payment_body(
            fair.receipt, currency="PEN", price="11.50", rate={"currency": "USD", "value": "0.27"}
        ),
    )


def test_a_payment_below_the_minimum_is_accepted(world: World) -> None:
    fair = setup(world)
    paid = fair.c.append(EXPORTER, payment_body(fair.receipt, price="1.90", premium=None))
    assert payments(world)[paid].status == "unconfirmed"


def test_member_payments_are_signed_by_the_spo_of_the_member(world: World) -> None:
    fair = setup(world)
    error = refused(fair.c, COOP2, member_payment_body(fair.harvest, member="coop-marcala:m-7"))
    assert isinstance(error, UnknownReference) and error.field == "harvests[0]"
    error = refused(fair.c, EXPORTER, member_payment_body(fair.harvest, member="andes-trading:m"))
    assert isinstance(error, NotAuthorized)
    error = refused(fair.c, COOP, member_payment_body(fair.harvest, member="coop-pangoa:m-9"))
    assert isinstance(error, UnknownReference)
    fair.c.append(COOP, member_payment_body(fair.harvest))


def test_rebuild_and_audit_derive_the_payment_projections(world: World) -> None:
    paid_chain(world)
    store = world.store
    with store.reading() as s:
        before = (
            sorted(
                tuple(r.__dict__[k] for k in ("id", "status", "disclosed", "price_list"))
                for r in s.scalars(select(PaymentRow))
            ),
            sorted((r.event, r.idx, r.term) for r in s.scalars(select(PriceLineRow))),
        )
    assert len(before[0]) == 2 and len(before[1]) == 1
    report = audit(store)
    assert report.ok, [str(f) for f in report.findings]
    rebuild(store)
    with store.reading() as s:
        after = (
            sorted(
                tuple(r.__dict__[k] for k in ("id", "status", "disclosed", "price_list"))
                for r in s.scalars(select(PaymentRow))
            ),
            sorted((r.event, r.idx, r.term) for r in s.scalars(select(PriceLineRow))),
        )
    assert after == before
    # a projection row changed behind the rules' back is an audit finding
    with store.engine.begin() as conn:
        conn.execute(PaymentRow.__table__.update().values(status="confirmed", disclosed=True))
    report = audit(store)
    assert not report.ok and any("payments" in str(f) for f in report.findings)


def test_a_price_list_is_withdrawn_only_while_no_payment_was_checked_against_it(
    world: World,
) -> None:
    fair = setup(world)
    wrong = fair.c.append(
        STANDARD,
        price_list_body(
            "SPP-2027-typo", valid_from="2027-03-01", valid_until="2028-02-29", minimum="25.20"
        ),
    )
    fair.c.append(STANDARD, {"type": "void", "event": wrong, "reason": "minimum typed wrong"})
    with world.store.reading() as s:
        assert not [r for r in s.scalars(select(PriceLineRow)) if r.event == wrong]
    fair.c.append(
        STANDARD, price_list_body("SPP-2027", valid_from="2027-03-01", valid_until="2028-02-29")
    )  # the withdrawn list no longer blocks its dates
    fair.c.append(EXPORTER, payment_body(fair.receipt))
    error = refused(fair.c, STANDARD, {"type": "void", "event": fair.price_list, "reason": "x"})
    assert "payment" in error.message and error.field == "event"
    report = audit(world.store)
    assert report.ok, [str(f) for f in report.findings]


def test_a_receipt_is_priced_by_one_standing_payment(world: World) -> None:
    """Adversarial: a second payment for a receipt already paid (a "bonus" at 9.00/lb)
    would count the receipt's kilograms twice in the price section and lift the average
    price paid, and the farm-gate share with it. Refused while the first stands; once
    the seller disputed it, the buyer states the payment again."""
    fair = setup(world)
    first = fair.c.append(EXPORTER, payment_body(fair.receipt))
    error = refused(fair.c, EXPORTER, payment_body(fair.receipt, price="9.00", amount="1.00"))
    assert isinstance(error, InvalidEvent) and error.field == "receipts[0]"
    assert first in error.message
    fair.c.append(COOP, {"type": "payment.confirm", "payment": first, "disclose": True})
    error = refused(fair.c, EXPORTER, payment_body(fair.receipt, price="9.00", amount="1.00"))
    assert isinstance(error, InvalidEvent) and first in error.message
    # a disputed payment no longer stands: the corrected one is accepted
    other = setup_second_receipt(fair)
    disputed = fair.c.append(EXPORTER, payment_body(other, kg="50"))
    fair.c.append(COOP, {"type": "payment.dispute", "payment": disputed, "reason": "paid 2.10"})
    again = fair.c.append(
        EXPORTER, payment_body(other, kg="50", price="2.10", contract="C-2026-002")
    )
    assert payments(world)[again].status == "unconfirmed"
    report = audit(world.store)
    assert report.ok, [str(f) for f in report.findings]


def setup_second_receipt(fair: Any) -> str:
    c = fair.c
    harvest = c.harvest(COOP, f"{COOP}:h-2", "50", M1, P1)
    return str(c.move(COOP, EXPORTER, f"{COOP}:h-2", harvest, "50"))


def test_a_delivery_is_paid_its_price_once(world: World) -> None:
    """Adversarial: an SPO stating the price of a delivery twice (at delivery, then again
    in a settlement) would double the farm-gate price on the page. A second ``price``
    part for a harvest is refused; second payments and premium are parts of their own."""
    fair = setup(world)
    first = fair.c.append(COOP, member_payment_body(fair.harvest))
    error = refused(fair.c, COOP, member_payment_body(fair.harvest, date="2026-03-05"))
    assert isinstance(error, InvalidEvent) and error.field == "harvests[0]"
    assert first in error.message
    for part, price, amount in (("second-payment", "1.20", "120"), ("premium", "0.40", "40"),
                                ("second-payment", "0.30", "30")):  # fmt: skip
        fair.c.append(
            COOP, member_payment_body(fair.harvest, part=part, price=price, amount=amount)
        )


def test_the_premium_is_not_counted_in_the_price_too(world: World) -> None:
    """Adversarial: a buyer pays the bare minimum with the premium inside it (2.52 in
    all, 0.20 of it premium) and states price 2.52 and premium 0.20: the page would show
    the minimum met *and* the premium paid. The amount gives it away: it is not (price
    + premium) × the kilograms received, in the payment's unit. Refused; the amount the
    figures state is accepted."""
    fair = setup(world)
    # 100 kg = 220.46 lb; 2.52 × 220.46 = 555.56, not (2.52 + 0.20) × 220.46 = 599.66
    error = refused(fair.c, EXPORTER, payment_body(fair.receipt, price="2.52", amount="555.56"))
    assert isinstance(error, InvalidEvent) and error.field == "amount"
    assert "599.66" in error.message
    error = refused(fair.c, EXPORTER, payment_body(fair.receipt, price="9.00", amount="1.00"))
    assert isinstance(error, InvalidEvent) and error.field == "amount"
    fair.c.append(EXPORTER, payment_body(fair.receipt, price="2.52", amount="599.66"))


def test_a_payment_is_judged_by_the_scheme_the_goods_were_sold_under(world: World) -> None:
    """Adversarial: goods shipped as SPP, paid 2.00 — below SPP's 2.52 — and the payment
    states FT, whose 1.80 minimum it clears: the page would show it "above the minimum"
    of a scheme the goods were never sold under. A payment names a scheme its receipts'
    shipments claimed."""
    fair = setup(world)
    fair.c.append(
        STANDARD,
        {**price_list_body("FT-2026"), "scheme": "FT", "items": [
            {"product": "coffee", "form": "green", "minimum": "1.80", "unit": "lb"}
        ]},
    )  # fmt: skip
    error = refused(fair.c, EXPORTER, payment_body(fair.receipt, scheme="FT", price="2.00"))
    assert isinstance(error, InvalidEvent) and error.field == "scheme"
    assert "SPP" in error.message and fair.receipt in error.message
    fair.c.append(EXPORTER, payment_body(fair.receipt, price="2.00"))


def test_a_member_payment_states_the_money_its_price_comes_to(world: World) -> None:
    """Adversarial: an SPO states 95.00 soles per kg — ten times what it paid — with the
    950 soles it paid for 100 kg as the amount: the farm-gate price on the page would be
    ten times the money. The amount must be what the price comes to for the harvests."""
    fair = setup(world)
    error = refused(fair.c, COOP, member_payment_body(fair.harvest, price="95.00"))
    assert isinstance(error, InvalidEvent) and error.field == "amount"
    assert "9500.00" in error.message
    fair.c.append(COOP, member_payment_body(fair.harvest, price="95.00", amount="9500"))
