"""``member.payment``: an SPO states what it paid a member for its deliveries.

Signed by the SPO that took the deliveries (role ``spo``), naming the member and its
``harvest`` events (one delivery, or a settlement of several): which ``part`` it pays —
the ``price`` at delivery, a ``second-payment`` once the coffee is sold, or ``premium``
distributed — as a price per unit of the delivered form, the total ``amount``, the
currency (with a stated ``rate`` to compare it with prices in another currency) and the
payment date; the amount is what the price comes to for the harvests named, to 0.5 %
(``ledger.prices.check_amount``). A delivery's ``price`` is paid once; what follows is a
second payment or premium. The farm-gate price of a lot is then evidence too.
``disclose``: the SPO agrees that the figures appear, as an average over member
families, on the public page and in the bundle of lots made from these deliveries. No
member id or figure of one family is ever shown on its own.
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
from ledger.conservation import amount
from ledger.errors import InvalidEvent, UnknownReference
from ledger.payload import Event
from ledger.records import Payment, PaymentLink, Void
from ledger.rules.base import Rule, require_role, time_text
from ledger.rules.custody import not_before
from ledger.rules.payment import disclose_flag
from ledger.view import LedgerView, Lookup, Wanted, absent, body_of

PARTS = frozenset({"price", "second-payment", "premium"})


@dataclass(frozen=True)
class MemberPaymentBody:
    member: str
    harvests: tuple[str, ...]
    part: str
    price: Decimal
    unit: str
    currency: str
    amount: Decimal
    rate: prices.Rate | None
    date: date
    disclose: bool


class MemberPayment(Rule[MemberPaymentBody]):
    type = "member.payment"
    fields = frozenset(
        {
            "member",
            "harvests",
            "part",
            "price",
            "unit",
            "currency",
            "amount",
            "rate",
            "date",
            "disclose",
        }
    )
    nested = MappingProxyType({"rate": prices.RATE_FIELDS})

    def from_body(self, body: dict[str, Any], party: str) -> MemberPaymentBody:
        member = fields.owned_id(body, "member", party)
        harvests = fields.array(body, "harvests", max_items=1000)
        for n, item in enumerate(harvests):
            if not isinstance(item, str) or not fields.EVENT_ID_PATTERN.fullmatch(item):
                raise InvalidEvent("must be an event id 'sha256:<64 hex>'", field=f"harvests[{n}]")
        if len(set(harvests)) != len(harvests):
            raise InvalidEvent("names a harvest twice", field="harvests")
        part = fields.require(body, "part")
        if part not in PARTS:
            raise InvalidEvent(f"must be one of {', '.join(sorted(PARTS))}", field="part")
        currency = prices.currency(body, "currency")
        rate = prices.rate(body)
        if rate is not None and rate.currency == currency:
            raise InvalidEvent(f"a rate from {currency} to itself", field="rate.currency")
        return MemberPaymentBody(
            member=member,
            harvests=tuple(harvests),
            part=part,
            price=prices.money(body, "price", positive=True),
            unit=prices.unit(body),
            currency=currency,
            amount=prices.money(body, "amount", positive=True),
            rate=rate,
            date=fields.parse_date(fields.require(body, "date"), field="date"),
            disclose=disclose_flag(body),
        )

    def prefetch(self, event: Event, body: MemberPaymentBody) -> Iterable[Wanted]:
        return [(Void, h) for h in body.harvests] + [
            Lookup(PaymentLink, "target", h) for h in body.harvests
        ]

    def apply(self, event: Event, body: MemberPaymentBody, view: LedgerView) -> None:
        require_role(event, view, "spo")
        kg, carried = Fraction(0), True
        for n, harvest in enumerate(body.harvests):
            where = f"harvests[{n}]"
            stored = view.event(harvest)
            if stored is None and not view.complete:
                # over a bundle: a settlement names the member's other deliveries too; the
                # figures rest only on the ones the bundle carries, which are checked
                carried = False
                continue
            if (
                stored is None
                or stored.type != "harvest"
                or stored.party != event.party
                or body_of(stored).get("member") != body.member
            ):
                error = UnknownReference(
                    f"no harvest {harvest} of member {body.member!r} signed by"
                    f" {event.party!r} is in the ledger",
                    field=where,
                )
                raise absent(view, error) if stored is None else error
            if view.get(Void, harvest) is not None:
                raise UnknownReference(f"harvest {harvest} was voided", field=where)
            not_before(event, stored.time, what=f"harvest {harvest}", field="time")
            if body.part == "price":
                _price_not_paid(view, harvest, field=where)
            kg += Fraction(amount(body_of(stored)).kg)
        if carried:
            prices.check_amount(body.amount, body.price, kg, body.unit)
        view.add(
            Payment(
                id=event.id,
                kind="member.payment",
                payer=event.party,
                payee=body.member,
                date=body.date.isoformat(),
                currency=body.currency,
                amount=body.amount,
                price_list=None,
                status="signed",
                answer_event=None,
                disclosed=body.disclose,
                time=time_text(event),
            )
        )
        for harvest in body.harvests:
            view.add(PaymentLink(payment=event.id, target=harvest))


def _price_not_paid(view: LedgerView, harvest: str, *, field: str) -> None:
    """Refused when a member payment already paid ``harvest``'s ``price``: a delivery's
    price is paid once (more is a ``second-payment``), or the farm-gate price counts it
    twice."""
    for link in view.find(PaymentLink, target=harvest):
        earlier = view.event(link.payment)
        if (
            earlier is not None
            and earlier.type == "member.payment"
            and body_of(earlier).get("part") == "price"
        ):
            raise InvalidEvent(
                f"the price of harvest {harvest} was paid by member.payment {earlier.id};"
                " what a member is paid later is a second-payment",
                field=field,
            )


RULE = MemberPayment()
