"""``member.enroll``: an SPO enrolls a producer member (pseudonymous), its plots and products."""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from ledger import fields, tables
from ledger.errors import DuplicateId, InvalidEvent
from ledger.payload import Event
from ledger.rules.base import Rule, require_role
from ledger.schema import MemberRow, PlotRow
from ledger.state import LedgerState, RowKey

PLOT_FIELDS = frozenset({"plot", "area_ha"})


def plots_of(body: dict[str, Any], owner: str) -> list[tuple[str, Decimal]]:
    plots: list[tuple[str, Decimal]] = []
    seen: set[str] = set()
    for i, item in enumerate(fields.array(body, "plots", max_items=500)):
        where = f"plots[{i}]."
        if not isinstance(item, dict):
            raise InvalidEvent("must be an object", field=f"plots[{i}]")
        fields.reject_unknown(item, PLOT_FIELDS, prefix=where)
        plot = fields.owned_id(item, "plot", owner, prefix=where)
        area = tables.parse_quantity(fields.require(item, "area_ha", prefix=where),
                                     field=where + "area_ha")
        if plot in seen:
            raise InvalidEvent(f"plot {plot!r} is listed twice", field=where + "plot")
        seen.add(plot)
        plots.append((plot, area))
    return plots


class MemberEnroll(Rule):
    type = "member.enroll"
    fields = frozenset({"member", "products", "plots", "since"})

    def check_fields(self, event: Event) -> None:
        super().check_fields(event)
        body = event.body
        fields.owned_id(body, "member", event.party)
        for i, name in enumerate(fields.string_list(body, "products")):
            tables.product(name, field=f"products[{i}]")
        plots_of(body, event.party)
        fields.parse_date(fields.require(body, "since"), field="since")

    def prefetch(self, event: Event) -> Iterable[RowKey]:
        plots = event.body.get("plots") or []
        return [(MemberRow, event.body.get("member")),
                *((PlotRow, p.get("plot")) for p in plots if isinstance(p, dict))]

    def apply(self, event: Event, state: LedgerState) -> None:
        require_role(event, state, "spo")
        body = event.body
        member: str = body["member"]
        existing = state.get(MemberRow, member)
        if existing is not None:
            raise DuplicateId(f"member {member!r} was already enrolled by {existing.event}",
                              field="member")
        plots = plots_of(body, event.party)
        for i, (plot, _area) in enumerate(plots):
            taken = state.get(PlotRow, plot)
            if taken is not None:
                raise DuplicateId(
                    f"plot {plot!r} is already enrolled for member {taken.member!r}",
                    field=f"plots[{i}].plot",
                )
        state.add(MemberRow(
            id=member, spo=event.party, products=json.dumps(body["products"]),
            since=body["since"], until=None, event=event.id, left_event=None,
        ))
        for plot, area in plots:
            state.add(PlotRow(id=plot, member=member, spo=event.party, area_ha=area,
                                event=event.id, geometry=None, method=None, map_event=None))


RULE = MemberEnroll()
