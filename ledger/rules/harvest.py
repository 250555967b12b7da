"""``harvest``: a new lot delivered by a member from one of its plots.

Signed by the SPO that takes the delivery: the member must be enrolled in that SPO (and
not have left) on the harvest date — the date of ``time`` in its own offset — enrolled
for the product, and the plot must be one of the member's. A party with the producer
role (and not spo) harvests its own lots and names no member or plot.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from ledger import fields, tables
from ledger.conservation import amount
from ledger.errors import InvalidEvent, NotAuthorized, UnknownReference
from ledger.payload import Event
from ledger.rules.base import Rule, require_role
from ledger.rules.custody import (
    create_lot,
    mention,
)
from ledger.rules.member_leave import enrolled_member
from ledger.schema import LotRow, MemberRow, PlotRow
from ledger.state import LedgerState, RowKey


class Harvest(Rule):
    type = "harvest"
    fields = frozenset({"lot", "product", "form", "quantity", "unit", "member", "plot"})

    def check_fields(self, event: Event) -> None:
        super().check_fields(event)
        body = event.body
        fields.owned_id(body, "lot", event.party)
        product = tables.product(fields.require(body, "product"))
        product.require_form(fields.require(body, "form"))
        amount(body)
        if ("member" in body) != ("plot" in body):
            raise InvalidEvent("a harvest names both its member and its plot, or neither",
                               field="plot" if "member" in body else "member")
        if "member" in body:
            fields.ident(body, "member", what="a member id")
            fields.ident(body, "plot", what="a plot id")

    def prefetch(self, event: Event) -> Iterable[RowKey]:
        body = event.body
        return [(LotRow, body.get("lot")), (MemberRow, body.get("member")),
                (PlotRow, body.get("plot"))]

    def apply(self, event: Event, state: LedgerState) -> None:
        party = require_role(event, state, "spo", "producer")
        body = event.body
        member_id: str | None = body.get("member")
        plot_id: str | None = body.get("plot")
        if member_id is None and "spo" in party.roles:
            raise InvalidEvent(
                "an SPO's harvest names the member that delivered it and the plot",
                field="member",
            )
        if member_id is not None:
            assert plot_id is not None
            self._check_origin(event, state, member_id, plot_id)
        create_lot(state, event, lot=body["lot"], product=body["product"], form=body["form"],
                   amount=amount(body), field="lot", member=member_id, plot=plot_id)
        mention(state, event, [body["lot"]])

    @staticmethod
    def _check_origin(event: Event, state: LedgerState, member_id: str, plot_id: str) -> None:
        member = enrolled_member(state, event, member_id)
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
        products: list[str] = json.loads(member.products)
        if event.body["product"] not in products:
            raise NotAuthorized(
                f"member {member_id!r} is enrolled for {', '.join(products)}, not"
                f" {event.body['product']}",
                field="product",
            )
        plot = state.get(PlotRow, plot_id)
        if plot is None:
            raise UnknownReference(f"no plot {plot_id!r} is enrolled", field="plot")
        if plot.member != member_id:
            raise NotAuthorized(
                f"plot {plot_id!r} belongs to member {plot.member!r}, not {member_id!r}",
                field="plot",
            )


RULE = Harvest()
