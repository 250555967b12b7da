"""``ship``: the holder sends lots to another party; until received, they are in transit."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ledger import fields
from ledger.errors import InvalidEvent, UnknownReference
from ledger.payload import Event
from ledger.rules.base import Rule
from ledger.rules.custody import (
    ZERO,
    add,
    event_time,
    holding_lines,
    mention,
    spend_rows,
    take,
)
from ledger.schema import PartyRow, ShipmentLotRow, ShipmentRow
from ledger.state import LedgerState, RowKey

TRANSACTION_FIELDS = frozenset({"type", "id"})


def _transactions(body: dict[str, Any]) -> None:
    for i, item in enumerate(fields.array(body, "transactions", min_items=0, max_items=100,
                                          optional=True)):
        where = f"transactions[{i}]."
        if not isinstance(item, dict):
            raise InvalidEvent("must be an object {type, id}", field=f"transactions[{i}]")
        fields.reject_unknown(item, TRANSACTION_FIELDS, prefix=where)
        fields.text(item, "type", prefix=where, max_len=32)
        fields.text(item, "id", prefix=where, max_len=200)


class Ship(Rule):
    type = "ship"
    fields = frozenset({"to", "lots", "transactions", "claims"})

    def check_fields(self, event: Event) -> None:
        super().check_fields(event)
        body = event.body
        to = fields.party_id(body, "to")
        if to == event.party:
            raise InvalidEvent("a party does not ship to itself", field="to")
        holding_lines(body, "lots")
        _transactions(body)
        fields.string_list(body, "claims", min_items=0, optional=True)

    def prefetch(self, event: Event) -> Iterable[RowKey]:
        return [*spend_rows(event.party, event.body.get("lots") or []),
                (PartyRow, event.body.get("to"))]

    def apply(self, event: Event, state: LedgerState) -> None:
        body = event.body
        to: str = body["to"]
        if state.party(to) is None:
            raise UnknownReference(f"party {to!r} is not registered", field="to")
        totals: dict[str, Any] = {}
        for line in holding_lines(body, "lots"):
            take(state, event, line)
            totals[line.lot] = add(totals.get(line.lot, ZERO), line.amount.kg)
        state.add(ShipmentRow(id=event.id, shipper=event.party, receiver=to,
                                time=event_time(event), status="in-transit",
                                receive_event=None))
        for lot, kg in totals.items():
            state.add(ShipmentLotRow(shipment=event.id, lot=lot, kg=kg, received_kg=None))
        mention(state, event, totals)


RULE = Ship()
