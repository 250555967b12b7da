"""``void``: the original signer declares one of its events erroneous (EPCIS error declaration).

Allowed only while nothing builds on the voided event: no custody edge points at it (its
lots were not shipped, transformed or disposed), a voided ship was not received, a
voided certificate was not revoked, a voided enrolment has no harvest, leave or map.
A voided event stops counting: its holdings are reversed, its spends given back, its
shipment leaves transit. A voided lot keeps its id, which is never created again.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import delete, select

from ledger import fields
from ledger.errors import NotAuthorized, UnknownReference, VoidRefused
from ledger.payload import Event
from ledger.rules.base import Rule
from ledger.rules.custody import builds_on, event_time, give_back, index_of, not_before
from ledger.schema import (
    CertificateRow,
    CustodyEdgeRow,
    EventLotRow,
    EventRow,
    HoldingRow,
    LotRow,
    MemberRow,
    PlotRow,
    ShipmentLotRow,
    ShipmentRow,
    VoidRow,
)
from ledger.state import LedgerState

_Undo = Callable[[Event, EventRow, LedgerState], None]


def _refuse_if_built_on(target: EventRow, state: LedgerState) -> None:
    child = builds_on(state, target.id)
    if child is not None:
        raise VoidRefused(
            f"{target.type} {target.id} is built on by {child.kind} {child.child}"
            f" (lot {child.lot!r}); void that first",
            field="event",
            built_on_by=child.child,
        )


def _undo_harvest(event: Event, target: EventRow, state: LedgerState) -> None:
    _refuse_if_built_on(target, state)
    _drop_created_lots(event, target, state)


def _drop_created_lots(event: Event, target: EventRow, state: LedgerState) -> None:
    session = state.session
    for lot in session.scalars(select(LotRow).where(LotRow.event == target.id)):
        holding = state.get(HoldingRow, (target.party, lot.id, target.id))
        if holding is not None:
            state.delete(holding)
        lot.voided_by = event.id


def _undo_transform(event: Event, target: EventRow, state: LedgerState) -> None:
    _refuse_if_built_on(target, state)
    give_back(state, target.id, target.party)
    _drop_created_lots(event, target, state)


def _undo_spend(event: Event, target: EventRow, state: LedgerState) -> None:
    give_back(state, target.id, target.party)


def _undo_ship(event: Event, target: EventRow, state: LedgerState) -> None:
    shipment = state.get(ShipmentRow, target.id)
    assert shipment is not None
    if shipment.status == "received":
        raise VoidRefused(
            f"shipment {target.id} was received by {shipment.receive_event}; the receiver"
            " must void its receipt first",
            field="event",
            built_on_by=shipment.receive_event,
        )
    give_back(state, target.id, target.party)
    shipment.status = "voided"


def _undo_receive(event: Event, target: EventRow, state: LedgerState) -> None:
    _refuse_if_built_on(target, state)
    session = state.session
    shipment_id: str = json.loads(target.payload)["shipment"]
    shipment = state.get(ShipmentRow, shipment_id)
    assert shipment is not None
    for row in session.scalars(
        select(ShipmentLotRow).where(ShipmentLotRow.shipment == shipment_id)
    ):
        holding = state.get(HoldingRow, (target.party, row.lot, target.id))
        if holding is not None:
            state.delete(holding)
        row.received_kg = None
    session.execute(delete(CustodyEdgeRow).where(CustodyEdgeRow.child == target.id))
    shipment.status = "in-transit"
    shipment.receive_event = None


def _undo_enroll(event: Event, target: EventRow, state: LedgerState) -> None:
    session = state.session
    member = state.get(MemberRow, json.loads(target.payload)["member"])
    assert member is not None
    plots = list(session.scalars(select(PlotRow).where(PlotRow.member == member.id)))
    harvest = session.scalar(
        select(LotRow).where(LotRow.member == member.id, LotRow.voided_by.is_(None)).limit(1)
    )
    mapped = [p.map_event for p in plots if p.map_event is not None]
    later = harvest.event if harvest is not None else member.left_event
    if later is None and mapped:
        later = mapped[0]
    if later is not None:
        raise VoidRefused(
            f"member.enroll {target.id} is built on by event {later}; void that first",
            field="event",
            built_on_by=later,
        )
    for plot in plots:
        state.delete(plot)
    state.delete(member)


def _undo_leave(event: Event, target: EventRow, state: LedgerState) -> None:
    member = state.get(MemberRow, json.loads(target.payload)["member"])
    assert member is not None
    member.until = None
    member.left_event = None


def _undo_cert_issue(event: Event, target: EventRow, state: LedgerState) -> None:
    certificate = state.get(CertificateRow, json.loads(target.payload)["certificate"])
    assert certificate is not None
    if certificate.revoked_event is not None:
        raise VoidRefused(
            f"certificate {certificate.id!r} was revoked by {certificate.revoked_event};"
            " void the revocation first",
            field="event",
            built_on_by=certificate.revoked_event,
        )
    certificate.voided_by = event.id


def _undo_cert_revoke(event: Event, target: EventRow, state: LedgerState) -> None:
    certificate = state.get(CertificateRow, json.loads(target.payload)["certificate"])
    assert certificate is not None
    certificate.revoked_event = None
    certificate.revoked_time = None
    certificate.revoke_reason = None


UNDO: dict[str, _Undo] = {
    "harvest": _undo_harvest,
    "transform": _undo_transform,
    "ship": _undo_ship,
    "receive": _undo_receive,
    "dispose": _undo_spend,
    "member.enroll": _undo_enroll,
    "member.leave": _undo_leave,
    "cert.issue": _undo_cert_issue,
    "cert.revoke": _undo_cert_revoke,
}


class Void(Rule):
    type = "void"
    fields = frozenset({"event", "reason"})

    def check_fields(self, event: Event) -> None:
        super().check_fields(event)
        fields.event_ref(event.body, "event")
        fields.text(event.body, "reason", max_len=500)

    def apply(self, event: Event, state: LedgerState) -> None:
        session = state.session
        target_id: str = event.body["event"]
        target = state.event(target_id)
        if target is None:
            raise UnknownReference(f"no event {target_id} exists in the ledger", field="event")
        if target.party != event.party:
            raise NotAuthorized(
                f"event {target_id} was signed by {target.party!r}; only it may void it,"
                f" not {event.party!r}",
                field="event",
            )
        earlier = state.get(VoidRow, target_id)
        if earlier is not None:
            raise VoidRefused(f"event {target_id} was already voided by {earlier.void_event}",
                              field="event")
        undo = UNDO.get(target.type)
        if undo is None:
            raise VoidRefused(
                f"a {target.type} cannot be voided"
                + (": a later plot.map of the plot supersedes it"
                   if target.type == "plot.map" else ""),
                field="event",
                voidable=sorted(UNDO),
            )
        not_before(event, target.time, what=f"event {target_id}", field="time")
        undo(event, target, state)
        for row in list(session.scalars(
            select(EventLotRow).where(EventLotRow.event == target_id)
        )):
            state.add(EventLotRow(event=event.id, lot=row.lot, idx=index_of(state)))
        state.add(VoidRow(event=target_id, void_event=event.id, party=event.party,
                            reason=event.body["reason"], time=event_time(event)))


RULE = Void()
