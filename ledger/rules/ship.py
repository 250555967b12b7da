"""``ship``: the holder sends lots to another party; until received, they are in transit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from ledger import fields
from ledger.errors import InvalidEvent
from ledger.payload import Event
from ledger.records import Party, Shipment, ShipmentLot
from ledger.rules.base import Rule, concerns, registered_party
from ledger.rules.custody import (
    LINE_FIELDS,
    ZERO,
    Line,
    add,
    event_time,
    holding_lines,
    mention,
    spend_rows,
    take,
)
from ledger.view import LedgerView, Wanted

TRANSACTION_FIELDS = frozenset({"type", "id"})


@dataclass(frozen=True)
class Transaction:
    """A business document the shipment belongs to (an invoice, a purchase order)."""

    type: str
    id: str


@dataclass(frozen=True)
class ShipBody:
    to: str
    lots: tuple[Line, ...]
    transactions: tuple[Transaction, ...]
    claims: tuple[str, ...]


def _transactions(body: dict[str, Any]) -> tuple[Transaction, ...]:
    out = []
    for i, item in enumerate(
        fields.array(body, "transactions", min_items=0, max_items=100, optional=True)
    ):
        where = f"transactions[{i}]."
        if not isinstance(item, dict):
            raise InvalidEvent("must be an object {type, id}", field=f"transactions[{i}]")
        fields.reject_unknown(item, TRANSACTION_FIELDS, prefix=where)
        out.append(
            Transaction(
                fields.text(item, "type", prefix=where, max_len=32),
                fields.text(item, "id", prefix=where, max_len=200),
            )
        )
    return tuple(out)


class Ship(Rule[ShipBody]):
    type = "ship"
    fields = frozenset({"to", "lots", "transactions", "claims"})
    nested = MappingProxyType({"lots[]": LINE_FIELDS, "transactions[]": TRANSACTION_FIELDS})

    def from_body(self, body: dict[str, Any], party: str) -> ShipBody:
        to = fields.party_id(body, "to")
        if to == party:
            raise InvalidEvent("a party does not ship to itself", field="to")
        lots = holding_lines(body, "lots")
        transactions = _transactions(body)
        claims = fields.string_list(body, "claims", min_items=0, optional=True)
        return ShipBody(to, lots, transactions, tuple(claims))

    def prefetch(self, event: Event, body: ShipBody) -> Iterable[Wanted]:
        return [*spend_rows(event.party, body.lots), (Party, body.to)]

    def apply(self, event: Event, body: ShipBody, view: LedgerView) -> None:
        registered_party(view, body.to, field="to")
        totals: dict[str, Decimal] = {}
        for line in body.lots:
            take(view, event, line)
            totals[line.lot] = add(totals.get(line.lot, ZERO), line.amount.kg)
        view.add(
            Shipment(
                id=event.id,
                shipper=event.party,
                receiver=body.to,
                time=event_time(event),
                status="in-transit",
                receive_event=None,
            )
        )
        for lot, kg in totals.items():
            view.add(ShipmentLot(shipment=event.id, lot=lot, kg=kg, received_kg=None))
        mention(view, event, totals)
        concerns(view, event, body.to)


RULE = Ship()
