"""``receive``: the addressee of a shipment acknowledges it, lot by lot.

Each lot is accepted at most as shipped; what was shipped and not accepted stays visible
as a transit loss (``shipment_lots.kg - received_kg``). A lot of the shipment that the
receipt does not list is lost whole. A shipment is received once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from ledger import fields
from ledger.conservation import Amount, amount, kg_text
from ledger.errors import (
    AlreadyReceived,
    InvalidEvent,
    ReceiptExceedsShipment,
    UnknownLot,
    UnknownReference,
)
from ledger.payload import Event
from ledger.records import Holding, Shipment, ShipmentLot, Void
from ledger.rules.base import Rule, concerns
from ledger.rules.custody import ZERO, edge, event_time, mention, not_before
from ledger.view import LedgerView, Lookup, Wanted, absent

LINE_FIELDS = frozenset({"lot", "quantity", "unit", "gtin"})


@dataclass(frozen=True)
class Accepted:
    where: str
    lot: str
    amount: Amount


@dataclass(frozen=True)
class Receipt:
    shipment: str
    lots: tuple[Accepted, ...]

    def gives(self, lot: str) -> Decimal | None:
        """What the receipt gave its receiver of ``lot`` (a lot is listed once)."""
        return next((line.amount.kg for line in self.lots if line.lot == lot), None)


def receipt_lines(body: dict[str, Any]) -> tuple[Accepted, ...]:
    lines: list[Accepted] = []
    seen: set[str] = set()
    for i, item in enumerate(fields.array(body, "lots", max_items=1000)):
        where = f"lots[{i}]."
        if not isinstance(item, dict):
            raise InvalidEvent("must be an object", field=f"lots[{i}]")
        fields.reject_unknown(item, LINE_FIELDS, prefix=where)
        lot = fields.ident(item, "lot", prefix=where, what="a lot id")
        fields.gtin(item, prefix=where)
        if lot in seen:
            raise InvalidEvent(f"lot {lot!r} is listed twice", field=where + "lot")
        seen.add(lot)
        lines.append(Accepted(where, lot, amount(item, prefix=where)))
    return tuple(lines)


class Receive(Rule[Receipt]):
    type = "receive"
    fields = frozenset({"shipment", "lots"})
    nested = MappingProxyType({"lots[]": LINE_FIELDS})

    def from_body(self, body: dict[str, Any], party: str) -> Receipt:
        return Receipt(fields.event_ref(body, "shipment"), receipt_lines(body))

    def prefetch(self, event: Event, body: Receipt) -> Iterable[Wanted]:
        return [(Shipment, body.shipment), Lookup(ShipmentLot, "shipment", body.shipment)]

    def apply(self, event: Event, body: Receipt, view: LedgerView) -> None:
        shipment_id = body.shipment
        shipment = view.get(Shipment, shipment_id)
        if shipment is None or shipment.receiver != event.party:
            # One answer for a shipment to another party and for none at all: the refusal
            # must not tell a signer whom someone else's shipment was for (reads are
            # private; the dry run would be an oracle).
            stored = view.event(shipment_id) if shipment is None else None
            if stored is not None and stored.party == event.party:
                raise UnknownReference(
                    f"event {shipment_id} is a {stored.type} of yours, not a ship",
                    field="shipment",
                )
            error = UnknownReference(
                f"no shipment {shipment_id} is addressed to {event.party!r}", field="shipment"
            )
            raise absent(view, error) if shipment is None and stored is None else error
        if shipment.status == "voided":
            void = view.get(Void, shipment_id)
            raise UnknownReference(
                f"shipment {shipment_id} was voided" + (f" by {void.void_event}" if void else ""),
                field="shipment",
            )
        if shipment.status == "received":
            raise AlreadyReceived(
                f"shipment {shipment_id} was already received by {shipment.receive_event}",
                field="shipment",
                received_by=shipment.receive_event,
            )
        not_before(event, shipment.time, what=f"shipment {shipment_id}", field="time")
        shipped = {row.lot: row for row in view.find(ShipmentLot, shipment=shipment_id)}
        for line in body.lots:
            row = shipped.get(line.lot)
            if row is None:
                raise UnknownLot(
                    f"lot {line.lot!r} is not in shipment {shipment_id} (it holds"
                    f" {', '.join(sorted(shipped))})",
                    field=line.where + "lot",
                    lot=line.lot,
                )
            if line.amount.kg > row.kg:
                raise ReceiptExceedsShipment(
                    f"shipment {shipment_id} carried {kg_text(row.kg)} of lot {line.lot!r};"
                    f" the receipt accepts {kg_text(line.amount.kg)}",
                    field=line.where + "quantity",
                    lot=line.lot,
                    shipped=row.kg,
                    claimed=line.amount.kg,
                )
            view.update(row, received_kg=line.amount.kg)
            view.add(
                Holding(
                    party=event.party,
                    lot=line.lot,
                    via=event.id,
                    kg=line.amount.kg,
                    received_kg=line.amount.kg,
                    time=event_time(event),
                )
            )
            edge(view, event, parent=shipment_id, lot=line.lot, kg=line.amount.kg)
        for row in shipped.values():
            if row.received_kg is None:  # not listed: lost whole in transit
                view.update(row, received_kg=ZERO)
        mention(view, event, shipped)
        concerns(view, event, shipment.shipper)
        view.update(shipment, status="received", receive_event=event.id)


RULE = Receive()
