"""``void``: the original signer declares one of its events erroneous (EPCIS error declaration).

Allowed only while nothing builds on the voided event: no custody edge points at it (its
lots were not shipped, transformed or disposed), a voided ship was not received, a
voided certificate was not revoked, a voided enrolment has no harvest, leave or map.
A voided event stops counting: its holdings are reversed, its spends given back, its
shipment leaves transit. A voided lot keeps its id, which is never created again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ledger import fields
from ledger.errors import UnknownReference, VoidRefused
from ledger.payload import Event
from ledger.records import (
    Certificate,
    CustodyEdge,
    EventLot,
    EventParty,
    Holding,
    Lot,
    Member,
    Payment,
    Plot,
    PriceLine,
    Publication,
    Shipment,
    ShipmentLot,
    StoredEvent,
)
from ledger.records import Void as VoidRecord
from ledger.rules.base import Rule, concerns
from ledger.rules.custody import builds_on, event_time, give_back, not_before
from ledger.view import LedgerView, Lookup, Wanted, absent, body_of

_Undo = Callable[[Event, StoredEvent, LedgerView], None]


@dataclass(frozen=True)
class Voiding:
    event: str
    reason: str


def _field(target: StoredEvent, name: str) -> str:
    value: str = body_of(target)[name]
    return value


def _refuse_if_built_on(target: StoredEvent, view: LedgerView) -> None:
    child = builds_on(view, target.id)
    if child is not None:
        raise VoidRefused(
            f"{target.type} {target.id} is built on by {child.kind} {child.child}"
            f" (lot {child.lot!r}); void that first",
            field="event",
            built_on_by=child.child,
        )


def _undo_harvest(event: Event, target: StoredEvent, view: LedgerView) -> None:
    _refuse_if_built_on(target, view)
    _drop_created_lots(event, target, view)


def _drop_created_lots(event: Event, target: StoredEvent, view: LedgerView) -> None:
    for lot in view.find(Lot, event=target.id):
        holding = view.get(Holding, (target.party, lot.id, target.id))
        if holding is not None:
            view.delete(holding)
        view.update(lot, voided_by=event.id)


def _undo_transform(event: Event, target: StoredEvent, view: LedgerView) -> None:
    _refuse_if_built_on(target, view)
    give_back(view, target.id, target.party)
    _drop_created_lots(event, target, view)


def _undo_spend(event: Event, target: StoredEvent, view: LedgerView) -> None:
    give_back(view, target.id, target.party)


def _undo_ship(event: Event, target: StoredEvent, view: LedgerView) -> None:
    shipment = view.get(Shipment, target.id)
    assert shipment is not None
    if shipment.status == "received":
        raise VoidRefused(
            f"shipment {target.id} was received by {shipment.receive_event}; the receiver"
            " must void its receipt first",
            field="event",
            built_on_by=shipment.receive_event,
        )
    give_back(view, target.id, target.party)
    view.update(shipment, status="voided")


def _undo_receive(event: Event, target: StoredEvent, view: LedgerView) -> None:
    _refuse_if_built_on(target, view)
    shipment_id = _field(target, "shipment")
    shipment = view.get(Shipment, shipment_id)
    assert shipment is not None
    for row in view.find(ShipmentLot, shipment=shipment_id):
        holding = view.get(Holding, (target.party, row.lot, target.id))
        if holding is not None:
            view.delete(holding)
        view.update(row, received_kg=None)
    for e in view.find(CustodyEdge, child=target.id):
        view.delete(e)
    view.update(shipment, status="in-transit", receive_event=None)


def _undo_enroll(event: Event, target: StoredEvent, view: LedgerView) -> None:
    member = view.get(Member, _field(target, "member"))
    assert member is not None
    plots = view.find(Plot, member=member.id)
    harvest = next((lot for lot in view.find(Lot, member=member.id) if lot.voided_by is None), None)
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
        view.delete(plot)
    view.delete(member)


def _undo_leave(event: Event, target: StoredEvent, view: LedgerView) -> None:
    member = view.get(Member, _field(target, "member"))
    assert member is not None
    view.update(member, until=None, left_event=None)


def _undo_cert_issue(event: Event, target: StoredEvent, view: LedgerView) -> None:
    certificate = view.get(Certificate, _field(target, "certificate"))
    assert certificate is not None
    if certificate.revoked_event is not None:
        raise VoidRefused(
            f"certificate {certificate.id!r} was revoked by {certificate.revoked_event};"
            " void the revocation first",
            field="event",
            built_on_by=certificate.revoked_event,
        )
    view.update(certificate, voided_by=event.id)


def _undo_cert_revoke(event: Event, target: StoredEvent, view: LedgerView) -> None:
    certificate = view.get(Certificate, _field(target, "certificate"))
    assert certificate is not None
    view.update(certificate, revoked_event=None, revoked_time=None, revoke_reason=None)


def _undo_publish(event: Event, target: StoredEvent, view: LedgerView) -> None:
    publication = view.get(Publication, _field(target, "lot"))
    if publication is not None and publication.event == target.id:
        view.delete(publication)


def _undo_price_list(event: Event, target: StoredEvent, view: LedgerView) -> None:
    """A wrong price list is withdrawn while no payment was checked against it."""
    checked = view.find(Payment, price_list=target.id)
    if checked:
        raise VoidRefused(
            f"price.list {target.id} is the list payment {checked[0].id} was checked"
            " against; a list in use stays (sign the next one from a later date)",
            field="event",
            built_on_by=checked[0].id,
        )
    for idx in range(len(body_of(target)["items"])):
        line = view.get(PriceLine, (target.id, idx))
        if line is not None:
            view.delete(line)


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
    "lot.publish": _undo_publish,
    "price.list": _undo_price_list,
}


class Void(Rule[Voiding]):
    type = "void"
    fields = frozenset({"event", "reason"})

    def from_body(self, body: dict[str, Any], party: str) -> Voiding:
        return Voiding(fields.event_ref(body, "event"), fields.text(body, "reason", max_len=500))

    def prefetch(self, event: Event, body: Voiding) -> Iterable[Wanted]:
        return [
            (VoidRecord, body.event),
            Lookup(EventLot, "event", body.event),
            Lookup(CustodyEdge, "parent", body.event),
            Lookup(CustodyEdge, "child", body.event),
            Lookup(Lot, "event", body.event),
            Lookup(EventParty, "event", body.event),
        ]

    def apply(self, event: Event, body: Voiding, view: LedgerView) -> None:
        target_id = body.event
        target = view.event(target_id)
        if target is None or target.party != event.party:
            # the same answer for another party's event as for none: no signer oracle
            error = UnknownReference(
                f"no event {target_id} signed by {event.party!r} is in the ledger; a party"
                " voids only its own events",
                field="event",
            )
            raise absent(view, error) if target is None else error
        earlier = view.get(VoidRecord, target_id)
        if earlier is not None:
            raise VoidRefused(
                f"event {target_id} was already voided by {earlier.void_event}", field="event"
            )
        undo = UNDO.get(target.type)
        if undo is None:
            raise VoidRefused(
                f"a {target.type} cannot be voided"
                + (
                    ": a later plot.map of the plot supersedes it"
                    if target.type == "plot.map"
                    else ""
                ),
                field="event",
                voidable=sorted(UNDO),
            )
        not_before(event, target.time, what=f"event {target_id}", field="time")
        undo(event, target, view)
        for row in view.find(EventLot, event=target_id):
            view.add(EventLot(event=event.id, lot=row.lot, idx=view.size))
        for named in view.find(EventParty, event=target_id):
            concerns(view, event, named.party)
        view.add(
            VoidRecord(
                event=target_id,
                void_event=event.id,
                party=event.party,
                reason=body.reason,
                time=event_time(event),
            )
        )


RULE = Void()
