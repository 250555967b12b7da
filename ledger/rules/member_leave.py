"""``member.leave``: an SPO records that a member left; it harvests nothing after ``until``."""

from __future__ import annotations

import json

from ledger import fields
from ledger.errors import InvalidEvent, NotAuthorized, TimeError, UnknownReference
from ledger.payload import Event
from ledger.rules.base import Rule, require_role
from ledger.schema import LotRow, MemberRow
from ledger.state import LedgerState


def enrolled_member(state: LedgerState, event: Event, member_id: str, *,
                    field: str = "member") -> MemberRow:
    """A member the signing SPO enrolled (and that was not voided)."""
    member = state.get(MemberRow, member_id)
    if member is None:
        raise UnknownReference(f"no member {member_id!r} is enrolled", field=field)
    if member.spo != event.party:
        raise NotAuthorized(
            f"member {member_id!r} was enrolled by {member.spo!r}, not {event.party!r}",
            field=field,
        )
    return member


class MemberLeave(Rule):
    type = "member.leave"
    fields = frozenset({"member", "until"})

    def check_fields(self, event: Event) -> None:
        super().check_fields(event)
        fields.ident(event.body, "member", what="a member id")
        fields.parse_date(fields.require(event.body, "until"), field="until")

    def apply(self, event: Event, state: LedgerState) -> None:
        require_role(event, state, "spo")
        until: str = event.body["until"]
        member = enrolled_member(state, event, event.body["member"])
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
        late = [(day, lot.id) for lot in state.find(LotRow, member=member.id)
                if lot.voided_by is None and (day := _harvest_day(state, lot)) > until]
        if late:
            day, lot_id = max(late)
            raise TimeError(
                f"member {member.id!r} delivered harvest lot {lot_id!r} on {day}, after"
                f" {until}; void that harvest first",
                field="until",
            )
        member.until = until
        member.left_event = event.id


def _harvest_day(state: LedgerState, lot: LotRow) -> str:
    """The harvest's date in its own offset, as the harvest rule compared it."""
    row = state.event(lot.event)
    assert row is not None
    return fields.parse_time(json.loads(row.payload)["time"], field="time").date().isoformat()


RULE = MemberLeave()
