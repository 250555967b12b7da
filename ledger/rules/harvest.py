"""``harvest``: a new lot delivered by a member from one of its plots.

Signed by the SPO that takes the delivery: the member must be enrolled in that SPO (and
not have left) on the harvest date — the date of ``time`` in its own offset — enrolled
for the product, and the plot must be one of the member's. A party with the producer
role (and not spo) harvests its own lots and names no member or plot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ledger import fields, tables
from ledger.conservation import Amount, amount
from ledger.errors import InvalidEvent, NotAuthorized, UnknownReference
from ledger.payload import Event
from ledger.records import Lot, Member, Plot
from ledger.rules.base import Rule, require_role
from ledger.rules.custody import create_lot, mention
from ledger.rules.member_leave import enrolled_member
from ledger.view import LedgerView, Wanted


@dataclass(frozen=True)
class HarvestBody:
    lot: str
    product: str
    form: str
    amount: Amount
    member: str | None
    plot: str | None

    def gives(self, lot: str) -> Decimal | None:
        """What the harvest gave of ``lot`` to spend (its holder's custody)."""
        return self.amount.kg if lot == self.lot else None


class Harvest(Rule[HarvestBody]):
    type = "harvest"
    fields = frozenset({"lot", "product", "form", "quantity", "unit", "member", "plot", "gtin"})

    def from_body(self, body: dict[str, Any], party: str) -> HarvestBody:
        lot = fields.owned_id(body, "lot", party)
        product = tables.product(fields.require(body, "product"))
        form = product.require_form(fields.require(body, "form"))
        fields.gtin(body)
        quantity = amount(body)
        if ("member" in body) != ("plot" in body):
            raise InvalidEvent(
                "a harvest names both its member and its plot, or neither",
                field="plot" if "member" in body else "member",
            )
        member = plot = None
        if "member" in body:
            member = fields.ident(body, "member", what="a member id")
            plot = fields.ident(body, "plot", what="a plot id")
        return HarvestBody(lot, product.name, form, quantity, member, plot)

    def prefetch(self, event: Event, body: HarvestBody) -> Iterable[Wanted]:
        return [(Lot, body.lot), (Member, body.member), (Plot, body.plot)]

    def apply(self, event: Event, body: HarvestBody, view: LedgerView) -> None:
        party = require_role(event, view, "spo", "producer")
        if body.member is None and "spo" in party.role_set:
            raise InvalidEvent(
                "an SPO's harvest names the member that delivered it and the plot",
                field="member",
            )
        if body.member is not None:
            assert body.plot is not None
            _check_origin(event, body, view, body.member, body.plot)
        create_lot(
            view,
            event,
            lot=body.lot,
            product=body.product,
            form=body.form,
            amount=body.amount,
            field="lot",
            member=body.member,
            plot=body.plot,
        )
        mention(view, event, [body.lot])


def _check_origin(
    event: Event, body: HarvestBody, view: LedgerView, member_id: str, plot_id: str
) -> None:
    member = enrolled_member(view, event, member_id)
    day = event.time.date().isoformat()
    if day < member.since:
        raise NotAuthorized(
            f"member {member_id!r} joined on {member.since}; it delivered nothing on {day}",
            field="member",
            since=member.since,
            harvest_date=day,
        )
    if member.until is not None and day > member.until:
        raise NotAuthorized(
            f"member {member_id!r} left on {member.until}; it delivered nothing on {day}",
            field="member",
            until=member.until,
            harvest_date=day,
        )
    products = member.product_list
    if body.product not in products:
        raise NotAuthorized(
            f"member {member_id!r} is enrolled for {', '.join(products)}, not {body.product}",
            field="product",
        )
    plot = view.get(Plot, plot_id)
    if plot is None:
        raise UnknownReference(f"no plot {plot_id!r} is enrolled", field="plot")
    if plot.member != member_id:
        raise NotAuthorized(
            f"plot {plot_id!r} belongs to member {plot.member!r}, not {member_id!r}",
            field="plot",
        )


RULE = Harvest()
