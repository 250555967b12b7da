"""The auditor's fair-price report: scheme purchases paid below the minimum, or without
the premium, or never confirmed, or disputed — per party and period, each with its events.

**What is checked.** A *scheme purchase* is a ``receive`` by party P (the buyer), dated in
the period, of a shipment from a small producers' organization (role ``spo``) whose
``claims`` name a scheme S, which P then sold on with S among its own shipment's claims
(a ``ship`` signed by P downstream of the receipt, following P's own events only). For
each, against the price list of S in force at the payment's contract date
(``ledger.prices.applicable``, the rule the payment itself was checked by):

- ``no-payment``: no ``payment`` names the receipt;
- ``below-minimum``: a payment's price per unit, converted with its stated rate to the
  list's currency and unit, is below the minimum (plus the organic differential when
  the shipment claimed ``ORG``);
- ``premium-missing``: the premium or incentive it states is below the list's;
- ``never-confirmed``: the seller has neither confirmed nor disputed it;
- ``disputed``: the seller disputed it (the reason is quoted);
- ``unpriced``: no list of S for these goods is in force at the contract date the buyer
  states (a contract dated before any list would otherwise pass unjudged).

A payment stays a finding however it is disclosed: the report is for an auditor who may
read P's data (``api.http.access.readable_party_data``), not a public page. Nothing here
writes; the store is injected.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from sqlalchemy import and_, select, text
from sqlalchemy.orm import Session

from graph.mass_balance import Period
from graph.prices import convert
from ledger import prices
from ledger.errors import InvalidEvent, PartyNotFound
from ledger.payload import loads_strict
from ledger.records import PriceLine
from ledger.rules import typed_body
from ledger.rules.price_list import line_term
from ledger.schema import (
    EventRow,
    LotRow,
    PartyRow,
    PaymentLinkRow,
    PaymentRow,
    PriceLineRow,
    VoidRow,
)
from ledger.store import Store
from ledger.tables import RuleTables, default_tables

CODES = (
    "below-minimum",
    "premium-missing",
    "never-confirmed",
    "disputed",
    "no-payment",
    "unpriced",
)

_SOLD_ON = text("""
WITH RECURSIVE des(id) AS (
    SELECT e.child FROM custody_edges e JOIN events ev ON ev.id = e.child
    WHERE e.parent = :start AND ev.party = :buyer
    UNION
    SELECT e.child FROM custody_edges e JOIN des ON e.parent = des.id
    JOIN events ev ON ev.id = e.child WHERE ev.party = :buyer
)
SELECT ev.id, ev.payload FROM events ev JOIN des ON ev.id = des.id WHERE ev.type = 'ship'
""")


@dataclass(frozen=True)
class PriceFinding:
    code: str
    party: str
    seller: str
    scheme: str
    receipt: str
    time: str
    message: str
    events: tuple[str, ...]
    """The receipt, the shipment, the payment and its answer, the price list, the sale."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "party": self.party,
            "seller": self.seller,
            "scheme": self.scheme,
            "receipt": self.receipt,
            "time": self.time,
            "message": self.message,
            "events": list(self.events),
        }


@dataclass
class PriceAuditReport:
    period: Period
    party: str | None
    purchases: int = 0
    findings: list[PriceFinding] = field(default_factory=list)

    def __bool__(self) -> bool:
        """True when every scheme purchase was paid as its scheme asks."""
        return not self.findings

    def by_party(self) -> dict[str, list[PriceFinding]]:
        out: dict[str, list[PriceFinding]] = defaultdict(list)
        for finding in self.findings:
            out[finding.party].append(finding)
        return dict(sorted(out.items()))

    def counts(self) -> dict[str, int]:
        return {code: sum(f.code == code for f in self.findings) for code in CODES}

    def to_dict(self) -> dict[str, Any]:
        return {
            "party": self.party,
            "period": self.period.to_dict(),
            "purchases": self.purchases,
            "counts": self.counts(),
            "parties": [
                {"party": party, "findings": [f.to_dict() for f in findings]}
                for party, findings in self.by_party().items()
            ],
        }


def price_audit(
    store: Store, period: Period, party: str | None = None, *, rules: RuleTables | None = None
) -> PriceAuditReport:
    """Every underpaid, unconfirmed or disputed scheme purchase of ``party`` (every
    party's, with None) received in ``period``."""
    rules = rules or default_tables()
    report = PriceAuditReport(period, party)
    with store.reading() as session:
        if party is not None and session.get(PartyRow, party) is None:
            raise PartyNotFound(f"no party {party!r} in the ledger")
        spos = {row.id for row in session.scalars(select(PartyRow)) if "spo" in _roles(row.roles)}
        query = select(EventRow).where(
            and_(
                EventRow.type == "receive",
                EventRow.time >= period.start_utc,
                EventRow.time < period.end_utc,
            )
        )
        if party is not None:
            query = query.where(EventRow.party == party)
        for receipt in session.scalars(query.order_by(EventRow.time, EventRow.index)):
            _purchase(session, receipt, spos, rules, report)
    return report


def _roles(roles: str) -> frozenset[str]:
    return frozenset(json.loads(roles))


def _body(row: EventRow) -> Any:
    signed = loads_strict(bytes(row.payload))
    return typed_body(row.type, signed, row.party)


def _purchase(
    session: Session, receipt: EventRow, spos: set[str], rules: RuleTables, report: PriceAuditReport
) -> None:
    if session.get(VoidRow, receipt.id) is not None:
        return
    received = _body(receipt)
    shipment = session.scalar(select(EventRow).where(EventRow.id == received.shipment))
    if shipment is None or shipment.party not in spos:
        return
    shipped = _body(shipment)
    sold = _sold_on(session, receipt.id, receipt.party)
    schemes = [s for s in shipped.claims if s != "ORG" and s in sold]
    if not schemes:
        return
    report.purchases += 1
    lots = [line.lot for line in received.lots]
    goods = {
        (row.product, row.form)
        for row in session.scalars(select(LotRow).where(LotRow.id.in_(lots)))
    }
    organic = "ORG" in shipped.claims
    payments = [
        row
        for row in session.scalars(
            select(PaymentRow)
            .join(PaymentLinkRow, PaymentLinkRow.payment == PaymentRow.id)
            .where(PaymentLinkRow.target == receipt.id, PaymentRow.kind == "payment")
            .order_by(PaymentRow.time)
        )
    ]
    for scheme in schemes:
        find = _finder(report, receipt, shipment, scheme, sold[scheme])
        if not payments:
            find(
                "no-payment",
                f"{receipt.party} bought {', '.join(lots)} from {shipment.party} as {scheme}"
                f" and sold it on as {scheme}; no payment names the receipt",
            )
            continue
        for payment in payments:
            _judge_payment(session, payment, goods, scheme, organic, rules, find)


def _finder(
    report: PriceAuditReport, receipt: EventRow, shipment: EventRow, scheme: str, sale: str
) -> Any:
    """``find(code, message, *events)``: one finding about this purchase."""

    def find(code: str, message: str, *events: str | None) -> None:
        named = (receipt.id, shipment.id, *events, sale)
        report.findings.append(
            PriceFinding(
                code=code,
                party=receipt.party,
                seller=shipment.party,
                scheme=scheme,
                receipt=receipt.id,
                time=receipt.time,
                message=message,
                events=tuple(e for e in named if e),
            )
        )

    return find


def _judge_payment(
    session: Session,
    payment: PaymentRow,
    goods: set[tuple[str, str]],
    scheme: str,
    organic: bool,
    rules: RuleTables,
    find: Any,
) -> None:
    stored = session.scalar(select(EventRow).where(EventRow.id == payment.id))
    assert stored is not None
    body = _body(stored)
    if payment.status == "unconfirmed":
        find(
            "never-confirmed",
            f"payment of {body.amount} {body.currency} dated {body.date}: {payment.payee}"
            " has neither confirmed nor disputed it",
            payment.id,
        )
    elif payment.status == "disputed":
        answer = session.scalar(select(EventRow).where(EventRow.id == payment.answer_event))
        reason = loads_strict(bytes(answer.payload)).get("reason") if answer is not None else "?"
        find(
            "disputed",
            f"payment of {body.amount} {body.currency} dated {body.date}: disputed by"
            f" {payment.payee} ({reason})",
            payment.id,
            payment.answer_event,
        )
    if len(goods) != 1:
        return
    ((product, form),) = goods
    term = _term(session, scheme, product, form, body.quality, body.contract_date)
    if term is None:
        find(
            "unpriced",
            f"paid {body.price} {body.currency}/{body.unit} {body.basis} under a contract"
            f" dated {body.contract_date}, when no {scheme} price list for {product} {form}"
            " was in force: nothing to judge it by",
            payment.id,
            payment.answer_event,
        )
        return
    try:
        price = convert(body.price, body, form, term, rules)
        premium = convert(body.premium, body, form, term, rules)
    except (ValueError, InvalidEvent):
        return
    minimum = Fraction(term.minimum) + (Fraction(term.organic) if organic else 0)
    unit = f"{term.currency}/{term.unit} {term.basis}"
    if price < minimum:
        find(
            "below-minimum",
            f"paid {prices.cents(price)} {unit}, {prices.cents(minimum - price)} below the"
            f" {scheme} minimum of {prices.cents(minimum)}"
            + (" (with the organic differential)" if organic else "")
            + f" in list {term.list!r} on the contract date {body.contract_date}",
            payment.id,
            payment.answer_event,
            term.event,
        )
    if premium < Fraction(term.premium):
        find(
            "premium-missing",
            f"premium paid {prices.cents(premium)} {unit}; the {scheme} premium in list"
            f" {term.list!r} is {prices.cents(Fraction(term.premium))}",
            payment.id,
            payment.answer_event,
            term.event,
        )


def _term(
    session: Session,
    scheme: str,
    product: str,
    form: str,
    quality: str | None,
    day: Any,
) -> prices.PriceTerm | None:
    keys = {
        prices.term_key(scheme, product, form, quality),
        prices.term_key(scheme, product, form, None),
    }
    rows = session.scalars(select(PriceLineRow).where(PriceLineRow.term.in_(sorted(keys))))
    terms = [line_term(_line(row)) for row in rows]
    return prices.applicable(
        terms, scheme=scheme, product=product, form=form, quality=quality, day=day
    )


def _line(row: PriceLineRow) -> PriceLine:
    return PriceLine(**{name: getattr(row, name) for name in PriceLine.columns()})


def _sold_on(session: Session, receipt: str, buyer: str) -> dict[str, str]:
    """Scheme → the first ``ship`` by ``buyer`` downstream of ``receipt`` claiming it."""
    out: dict[str, str] = {}
    rows = session.execute(_SOLD_ON, {"start": receipt, "buyer": buyer}).all()
    for event_id, payload in sorted(rows):
        claims: Iterable[str] = loads_strict(bytes(payload)).get("claims", [])
        for scheme in claims:
            out.setdefault(scheme, event_id)
    return out


__all__ = ["CODES", "PriceAuditReport", "PriceFinding", "price_audit"]
