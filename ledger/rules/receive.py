"""``receive``: the addressee of a shipment acknowledges it, lot by lot.

Each lot is accepted at most as shipped; what was shipped and not accepted stays visible
as a transit loss (``shipment_lots.kg - received_kg``). A lot of the shipment that the
receipt does not list is lost whole. A shipment is received once.
"""

from __future__ import annotations

from collections.abc import Iterable

from ledger import fields
from ledger.conservation import Amount, amount
from ledger.errors import (
    AlreadyReceived,
    InvalidEvent,
    NotAuthorized,
    ReceiptExceedsShipment,
    UnknownLot,
    UnknownReference,
)
from ledger.payload import Event
from ledger.rules.base import Rule
from ledger.rules.custody import (
    ZERO,
    edge,
    event_time,
    kg_text,
    mention,
    not_before,
)
from ledger.schema import HoldingRow, ShipmentLotRow, ShipmentRow, VoidRow
from ledger.state import LedgerState, RowKey

LINE_FIELDS = frozenset({"lot", "quantity", "unit"})


def receipt_lines(event: Event) -> list[tuple[str, str, Amount]]:
    lines: list[tuple[str, str, Amount]] = []
    seen: set[str] = set()
    for i, item in enumerate(fields.array(event.body, "lots", max_items=1000)):
        where = f"lots[{i}]."
        if not isinstance(item, dict):
            raise InvalidEvent("must be an object", field=f"lots[{i}]")
        fields.reject_unknown(item, LINE_FIELDS, prefix=where)
        lot = fields.ident(item, "lot", prefix=where, what="a lot id")
        if lot in seen:
            raise InvalidEvent(f"lot {lot!r} is listed twice", field=where + "lot")
        seen.add(lot)
        lines.append((where, lot, amount(item, prefix=where)))
    return lines


class Receive(Rule):
    type = "receive"
    fields = frozenset({"shipment", "lots"})

    def check_fields(self, event: Event) -> None:
        super().check_fields(event)
        fields.event_ref(event.body, "shipment")
        receipt_lines(event)

    def prefetch(self, event: Event) -> Iterable[RowKey]:
        return [(ShipmentRow, event.body.get("shipment"))]

    def apply(self, event: Event, state: LedgerState) -> None:
        shipment_id: str = event.body["shipment"]
        shipment = state.get(ShipmentRow, shipment_id)
        if shipment is None:
            stored = state.event(shipment_id)
            what = f"is a {stored.type}, not a ship" if stored else "does not exist"
            raise UnknownReference(f"shipment {shipment_id} {what}", field="shipment")
        if shipment.receiver != event.party:
            raise NotAuthorized(
                f"shipment {shipment_id} was addressed to {shipment.receiver!r}; only it"
                f" receives it, not {event.party!r}",
                field="party",
            )
        if shipment.status == "voided":
            void = state.get(VoidRow, shipment_id)
            raise UnknownReference(
                f"shipment {shipment_id} was voided"
                + (f" by {void.void_event}" if void else ""),
                field="shipment",
            )
        if shipment.status == "received":
            raise AlreadyReceived(
                f"shipment {shipment_id} was already received by {shipment.receive_event}",
                field="shipment",
                received_by=shipment.receive_event,
            )
        not_before(event, shipment.time, what=f"shipment {shipment_id}", field="time")
        shipped = {row.lot: row for row in state.find(ShipmentLotRow, shipment=shipment_id)}
        for where, lot, accepted in receipt_lines(event):
            row = shipped.get(lot)
            if row is None:
                raise UnknownLot(
                    f"lot {lot!r} is not in shipment {shipment_id} (it holds"
                    f" {', '.join(sorted(shipped))})",
                    field=where + "lot",
                    lot=lot,
                )
            if accepted.kg > row.kg:
                raise ReceiptExceedsShipment(
                    f"shipment {shipment_id} carried {kg_text(row.kg)} of lot {lot!r};"
                    f" the receipt accepts {kg_text(accepted.kg)}",
                    field=where + "quantity",
                    lot=lot,
                    shipped=row.kg,
                    claimed=accepted.kg,
                )
            row.received_kg = accepted.kg
            state.add(HoldingRow(party=event.party, lot=lot, via=event.id, kg=accepted.kg,
                                   received_kg=accepted.kg, time=event_time(event)))
            edge(state, event, parent=shipment_id, lot=lot, kg=accepted.kg)
        for row in shipped.values():
            if row.received_kg is None:  # not listed: lost whole in transit
                row.received_kg = ZERO
        mention(state, event, shipped)
        shipment.status = "received"
        shipment.receive_event = event.id


RULE = Receive()
