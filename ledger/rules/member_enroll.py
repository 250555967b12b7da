"""``member.enroll``: an SPO enrolls a producer member (pseudonymous), its plots and products."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from ledger import fields, tables
from ledger.errors import DuplicateId, InvalidEvent
from ledger.payload import Event
from ledger.records import Member, Plot
from ledger.rules.base import Rule, require_role
from ledger.view import LedgerView, Wanted

PLOT_FIELDS = frozenset({"plot", "area_ha"})


@dataclass(frozen=True)
class EnrolledPlot:
    plot: str
    area_ha: Decimal


@dataclass(frozen=True)
class Enrolment:
    member: str
    products: tuple[str, ...]
    plots: tuple[EnrolledPlot, ...]
    since: date


def plots_of(body: dict[str, Any], owner: str) -> tuple[EnrolledPlot, ...]:
    plots: list[EnrolledPlot] = []
    seen: set[str] = set()
    for i, item in enumerate(fields.array(body, "plots", max_items=500)):
        where = f"plots[{i}]."
        if not isinstance(item, dict):
            raise InvalidEvent("must be an object", field=f"plots[{i}]")
        fields.reject_unknown(item, PLOT_FIELDS, prefix=where)
        plot = fields.owned_id(item, "plot", owner, prefix=where)
        area = tables.parse_quantity(
            fields.require(item, "area_ha", prefix=where), field=where + "area_ha"
        )
        if plot in seen:
            raise InvalidEvent(f"plot {plot!r} is listed twice", field=where + "plot")
        seen.add(plot)
        plots.append(EnrolledPlot(plot, area))
    return tuple(plots)


class MemberEnroll(Rule[Enrolment]):
    type = "member.enroll"
    fields = frozenset({"member", "products", "plots", "since"})
    nested = MappingProxyType({"plots[]": PLOT_FIELDS})

    def from_body(self, body: dict[str, Any], party: str) -> Enrolment:
        member = fields.owned_id(body, "member", party)
        products = fields.string_list(body, "products")
        for i, name in enumerate(products):
            tables.product(name, field=f"products[{i}]")
        plots = plots_of(body, party)
        since = fields.parse_date(fields.require(body, "since"), field="since")
        return Enrolment(member, tuple(products), plots, since)

    def prefetch(self, event: Event, body: Enrolment) -> Iterable[Wanted]:
        return [(Member, body.member), *((Plot, p.plot) for p in body.plots)]

    def apply(self, event: Event, body: Enrolment, view: LedgerView) -> None:
        require_role(event, view, "spo")
        existing = view.get(Member, body.member)
        if existing is not None:
            raise DuplicateId(
                f"member {body.member!r} was already enrolled by {existing.event}", field="member"
            )
        for i, plot in enumerate(body.plots):
            taken = view.get(Plot, plot.plot)
            if taken is not None:
                raise DuplicateId(
                    f"plot {plot.plot!r} is already enrolled for member {taken.member!r}",
                    field=f"plots[{i}].plot",
                )
        view.add(
            Member(
                id=body.member,
                spo=event.party,
                products=json.dumps(list(body.products)),
                since=body.since.isoformat(),
                until=None,
                event=event.id,
                left_event=None,
            )
        )
        for plot in body.plots:
            view.add(
                Plot(
                    id=plot.plot,
                    member=body.member,
                    spo=event.party,
                    area_ha=plot.area_ha,
                    event=event.id,
                    geometry=None,
                    method=None,
                    map_event=None,
                )
            )


RULE = MemberEnroll()
