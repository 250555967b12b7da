"""``payment``: a buyer states what it paid a seller for one or more of its receipts.

Signed by the party that received the goods (the payer), naming the seller (``to``) and
its own ``receive`` events of shipments from that seller. It states the contract's date,
the scheme (one its receipts' shipments claimed) and class it was bought under, the
price per unit and, on top of it, the premium or incentive per unit, the currency, the
basis (``FOB``…), the total ``amount`` — (price + premium) × what the receipts
accepted, to 0.5 % (``ledger.prices.check_amount``): a premium is never inside the price
too — and the payment ``date``. When a price list of the scheme is in force at the
contract date in another currency, the payment must state the exchange rate to it
(``rate``): a conversion is never fetched. A receipt is paid by one payment: another may
name it only once the seller disputed the first. A payment below the minimum is accepted
— it happened — and the auditor's report finds it. The seller answers with
``payment.confirm`` or ``payment.dispute``. ``disclose``: the payer agrees that the
payment's figures appear on the public page and in the bundle of the lots made from
these goods, once the seller agrees too in its confirmation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Any

from ledger import fields, prices
from ledger.errors import InvalidEvent, UnknownReference
from ledger.payload import Event
from ledger.records import Lot, Payment, PaymentLink, PriceLine, Shipment, Void
from ledger.rules.base import Rule, concerns, registered_party, time_text
from ledger.rules.cert_issue import SCHEME
from ledger.rules.custody import not_before
from ledger.rules.price_list import line_term
from ledger.rules.receive import receipt_lines
from ledger.view import LedgerView, Lookup, Wanted, absent, body_of

ZERO = Decimal(0)


@dataclass(frozen=True)
class PaymentBody:
    to: str
    receipts: tuple[str, ...]
    contract: str | None
    contract_date: date
    scheme: str | None
    quality: str | None
    price: Decimal
    premium: Decimal
    unit: str
    currency: str
    basis: str
    amount: Decimal
    rate: prices.Rate | None
    date: date
    disclose: bool


def disclose_flag(body: dict[str, Any]) -> bool:
    value = body.get("disclose", False)
    if not isinstance(value, bool):
        raise InvalidEvent("must be true or false", field="disclose")
    return value


def scheme_code(body: dict[str, Any]) -> str | None:
    if "scheme" not in body:
        return None
    value = body["scheme"]
    if not isinstance(value, str) or not SCHEME.fullmatch(value):
        raise InvalidEvent("a scheme is an upper-case code such as SPP, FT or ORG", field="scheme")
    return value


class PaymentRule(Rule[PaymentBody]):
    type = "payment"
    fields = frozenset(
        {
            "to",
            "receipts",
            "contract",
            "contract_date",
            "scheme",
            "class",
            "price",
            "premium",
            "unit",
            "currency",
            "basis",
            "amount",
            "rate",
            "date",
            "disclose",
        }
    )
    nested = MappingProxyType({"rate": prices.RATE_FIELDS})

    def from_body(self, body: dict[str, Any], party: str) -> PaymentBody:
        to = fields.party_id(body, "to")
        if to == party:
            raise InvalidEvent("a party does not pay itself", field="to")
        receipts = fields.array(body, "receipts", max_items=100)
        for n in range(len(receipts)):
            if not isinstance(receipts[n], str) or not fields.EVENT_ID_PATTERN.fullmatch(
                receipts[n]
            ):
                raise InvalidEvent("must be an event id 'sha256:<64 hex>'", field=f"receipts[{n}]")
        if len(set(receipts)) != len(receipts):
            raise InvalidEvent("names a receipt twice", field="receipts")
        currency = prices.currency(body, "currency")
        rate = prices.rate(body)
        if rate is not None and rate.currency == currency:
            raise InvalidEvent(f"a rate from {currency} to itself", field="rate.currency")
        return PaymentBody(
            to=to,
            receipts=tuple(receipts),
            contract=fields.string(body, "contract", max_len=200, optional=True),
            contract_date=fields.parse_date(
                fields.require(body, "contract_date"), field="contract_date"
            ),
            scheme=scheme_code(body),
            quality=prices.quality(body),
            price=prices.money(body, "price", positive=True),
            premium=prices.money(body, "premium") if "premium" in body else ZERO,
            unit=prices.unit(body),
            currency=currency,
            basis=prices.basis(body),
            amount=prices.money(body, "amount", positive=True),
            rate=rate,
            date=fields.parse_date(fields.require(body, "date"), field="date"),
            disclose=disclose_flag(body),
        )

    def prefetch(self, event: Event, body: PaymentBody) -> Iterable[Wanted]:
        return [(Void, r) for r in body.receipts] + [
            Lookup(PaymentLink, "target", r) for r in body.receipts
        ]

    def apply(self, event: Event, body: PaymentBody, view: LedgerView) -> None:
        registered_party(view, body.to, field="to")
        term: prices.PriceTerm | None = None
        goods: set[tuple[str, str]] = set()
        kg, carried = Fraction(0), True
        for n, receipt in enumerate(body.receipts):
            if view.event(receipt) is None and not view.complete:
                carried = False
                continue  # over a bundle: the figures rest only on the receipts it carries
            found, received, claims = _receipt_goods(
                view, event, body.to, receipt, field=f"receipts[{n}]"
            )
            if body.scheme is not None and claims is not None and body.scheme not in claims:
                raise InvalidEvent(
                    f"receipt {receipt} is of goods shipped as"
                    f" {', '.join(claims) or 'no scheme'}, not {body.scheme}: a payment is"
                    " judged by the scheme the goods were sold under",
                    field="scheme",
                )
            goods |= found
            kg += received
            _not_paid_yet(view, receipt, field=f"receipts[{n}]")
        if carried:
            prices.check_amount(
                body.amount, body.price + body.premium, kg, body.unit, what="price + premium"
            )
        if not goods and not view.complete:
            pass
        elif len(goods) != 1:
            raise InvalidEvent(
                "the receipts hold "
                + ", ".join(f"{p} {f}" for p, f in sorted(goods))
                + ": one payment prices one product in one form",
                field="receipts",
            )
        else:
            ((product, form),) = goods
            term = priced_by(view, body.scheme, product, form, body.quality, body.contract_date)
        if (
            term is not None
            and term.currency != body.currency
            and (body.rate is None or body.rate.currency != term.currency)
        ):
            raise InvalidEvent(
                f"the {term.scheme} price list {term.list!r} in force on"
                f" {body.contract_date} is in {term.currency}; a payment in"
                f" {body.currency} states its rate to {term.currency}"
                f' ("rate": {{"currency": "{term.currency}", "value": "…"}}), which is'
                " never fetched",
                field="rate",
            )
        view.add(
            Payment(
                id=event.id,
                kind="payment",
                payer=event.party,
                payee=body.to,
                date=body.date.isoformat(),
                currency=body.currency,
                amount=body.amount,
                price_list=term.event if term is not None else None,
                status="unconfirmed",
                answer_event=None,
                disclosed=False,
                time=time_text(event),
            )
        )
        for receipt in body.receipts:
            view.add(PaymentLink(payment=event.id, target=receipt))
        concerns(view, event, body.to)


def _receipt_goods(
    view: LedgerView, event: Event, seller: str, receipt: str, *, field: str
) -> tuple[set[tuple[str, str]], Fraction, tuple[str, ...] | None]:
    """(product, form) of what ``receipt`` accepted, its kilograms and the claims its
    shipment made (None: the shipment is not in the evidence); refused unless it is the
    payer's own receipt of a shipment from ``seller``, standing."""
    stored = view.event(receipt)
    if stored is None or stored.type != "receive" or stored.party != event.party:
        # the same answer for another party's receipt as for none: no oracle
        error = UnknownReference(
            f"no receipt {receipt} signed by {event.party!r} is in the ledger; a buyer pays"
            " for its own receipts",
            field=field,
        )
        raise absent(view, error) if stored is None else error
    if view.get(Void, receipt) is not None:
        raise UnknownReference(f"receipt {receipt} was voided", field=field)
    body = body_of(stored)
    shipment = view.get(Shipment, body["shipment"])
    if shipment is None:
        raise absent(view, UnknownReference(f"the shipment of {receipt} is unknown", field=field))
    if shipment.shipper != seller:
        raise InvalidEvent(
            f"receipt {receipt} is of a shipment from {shipment.shipper!r}, not from"
            f" {seller!r}: a payment names the seller it pays",
            field=field,
        )
    not_before(event, stored.time, what=f"receipt {receipt}", field="time")
    goods: set[tuple[str, str]] = set()
    kg = Fraction(0)
    for line in receipt_lines(body):
        lot = view.get(Lot, line.lot)
        if lot is None:
            raise absent(view, UnknownReference(f"lot {line.lot!r} is unknown", field=field))
        goods.add((lot.product, lot.form))
        kg += Fraction(line.amount.kg)
    shipped = view.event(shipment.id)
    claims = None if shipped is None else tuple(body_of(shipped).get("claims", ()))
    return goods, kg, claims


def _not_paid_yet(view: LedgerView, receipt: str, *, field: str) -> None:
    """Refused when a payment that stands (not disputed) names ``receipt`` already: a
    receipt is priced once, or its kilograms would count twice in every figure."""
    for link in view.find(PaymentLink, target=receipt):
        earlier = view.get(Payment, link.payment)
        if earlier is not None and earlier.kind == "payment" and earlier.status != "disputed":
            raise InvalidEvent(
                f"receipt {receipt} is paid by payment {earlier.id} ({earlier.status}): one"
                " payment states what a receipt was paid; a new one only once the seller"
                " disputed it",
                field=field,
            )


def priced_by(
    view: LedgerView,
    scheme: str | None,
    product: str,
    form: str,
    quality: str | None,
    day: date,
) -> prices.PriceTerm | None:
    """The price term of ``scheme`` in force on ``day`` (None without a scheme or list)."""
    if scheme is None:
        return None
    keys = {
        prices.term_key(scheme, product, form, quality),
        prices.term_key(scheme, product, form, None),
    }
    terms = [line_term(line) for key in sorted(keys) for line in view.find(PriceLine, term=key)]
    return prices.applicable(
        terms, scheme=scheme, product=product, form=form, quality=quality, day=day
    )


def payment_lookups(payment: str) -> list[Wanted]:
    return [(Payment, payment), Lookup(PaymentLink, "payment", payment)]


RULE = PaymentRule()
