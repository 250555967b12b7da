"""``member.leave``: an SPO records that a member left; it harvests nothing after ``until``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from ledger import fields
from ledger.errors import InvalidEvent, NotAuthorized, TimeError, UnknownReference
from ledger.payload import Event
from ledger.records import Lot, Member
from ledger.rules.base import Rule, require_role
from ledger.view import LedgerView, Lookup, Wanted, absent, body_of


@dataclass(frozen=True)
class Leaving:
    member: str
    until: date


def enrolled_member(
    view: LedgerView, event: Event, member_id: str, *, field: str = "member"
) -> Member:
    """A member the signing SPO enrolled (and that was not voided)."""
    member = view.get(Member, member_id)
    if member is None:
        raise absent(view, UnknownReference(f"no member {member_id!r} is enrolled", field=field))
    if member.spo != event.party:
        raise NotAuthorized(
            f"member {member_id!r} was enrolled by {member.spo!r}, not {event.party!r}",
            field=field,
        )
    return member


class MemberLeave(Rule[Leaving]):
    type = "member.leave"
    fields = frozenset({"member", "until"})

    def from_body(self, body: dict[str, Any], party: str) -> Leaving:
        return Leaving(
            fields.ident(body, "member", what="a member id"),
            fields.parse_date(fields.require(body, "until"), field="until"),
        )

    def prefetch(self, event: Event, body: Leaving) -> Iterable[Wanted]:
        return [(Member, body.member), Lookup(Lot, "member", body.member)]

    def apply(self, event: Event, body: Leaving, view: LedgerView) -> None:
        require_role(event, view, "spo")
        until = body.until.isoformat()
        member = enrolled_member(view, event, body.member)
        if member.left_event is not None:
            raise InvalidEvent(
                f"member {member.id!r} already left on {member.until} ({member.left_event})",
                field="member",
            )
        if until < member.since:
            raise TimeError(
                f"until {until} is before the member joined on {member.since}", field="until"
            )
        # every harvest of the member, each by its own local date (offsets may differ)
        late = [
            (day, lot.id)
            for lot in view.find(Lot, member=member.id)
            if lot.voided_by is None and (day := _harvest_day(view, lot)) > until
        ]
        if late:
            day, lot_id = max(late)
            raise TimeError(
                f"member {member.id!r} delivered harvest lot {lot_id!r} on {day}, after"
                f" {until}; void that harvest first",
                field="until",
            )
        view.update(member, until=until, left_event=event.id)


def _harvest_day(view: LedgerView, lot: Lot) -> str:
    """The harvest's date in its own offset, as the harvest rule compared it."""
    row = view.event(lot.event)
    assert row is not None
    return fields.parse_time(body_of(row)["time"], field="time").date().isoformat()


RULE = MemberLeave()
