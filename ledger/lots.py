"""Read-side view of lots: what a lot is, who holds how much of it, what is in transit.

Pure reads of the custody projections through ``Store.reading()``. Quantities are
kilograms as ``Decimal``; ``to_dict`` renders them as decimal strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.schema import (
    CustodyEdgeRow,
    HoldingRow,
    LotRow,
    ShipmentLotRow,
    ShipmentRow,
    decimal_text,
)
from ledger.store import Store

ZERO = Decimal(0)


@dataclass(frozen=True)
class Holding:
    """``party`` holds ``kg`` of the lot through event ``via`` (a harvest, transform or receive)."""

    party: str
    via: str
    kg: Decimal


@dataclass(frozen=True)
class Transit:
    """Part of a lot on its way: shipped by ``shipper`` to ``receiver``, not yet received."""

    shipment: str
    shipper: str
    receiver: str
    kg: Decimal


@dataclass(frozen=True)
class Loss:
    """What a received shipment carried of the lot and the receiver did not accept."""

    shipment: str
    receive: str
    shipped: Decimal
    received: Decimal

    @property
    def kg(self) -> Decimal:
        return self.shipped - self.received


@dataclass(frozen=True)
class LotView:
    id: str
    product: str
    form: str
    creator: str
    event: str
    kind: str
    kg: Decimal
    quantity: str
    unit: str
    member: str | None
    plot: str | None
    time: str
    voided_by: str | None
    holders: list[Holding] = field(default_factory=list)
    in_transit: list[Transit] = field(default_factory=list)
    losses: list[Loss] = field(default_factory=list)
    disposed: Decimal = ZERO
    consumed: Decimal = ZERO

    @property
    def held(self) -> Decimal:
        return sum((h.kg for h in self.holders), ZERO)

    @property
    def transit_kg(self) -> Decimal:
        return sum((t.kg for t in self.in_transit), ZERO)

    @property
    def lost(self) -> Decimal:
        return sum((loss.kg for loss in self.losses), ZERO)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lot": self.id,
            "product": self.product,
            "form": self.form,
            "created_by": {
                "party": self.creator,
                "event": self.event,
                "type": self.kind,
                "time": self.time,
            },
            "quantity": {
                "kg": decimal_text(self.kg),
                "as_signed": self.quantity,
                "unit": self.unit,
            },
            "member": self.member,
            "plot": self.plot,
            "voided_by": self.voided_by,
            "holders": [
                {"party": h.party, "via": h.via, "kg": decimal_text(h.kg)} for h in self.holders
            ],
            "in_transit": [
                {
                    "shipment": t.shipment,
                    "from": t.shipper,
                    "to": t.receiver,
                    "kg": decimal_text(t.kg),
                }
                for t in self.in_transit
            ],
            "transit_losses": [
                {
                    "shipment": x.shipment,
                    "receive": x.receive,
                    "shipped_kg": decimal_text(x.shipped),
                    "received_kg": decimal_text(x.received),
                    "lost_kg": decimal_text(x.kg),
                }
                for x in self.losses
            ],
            "disposed_kg": decimal_text(self.disposed),
            "consumed_kg": decimal_text(self.consumed),
        }


def get_lot(store: Store, lot_id: str) -> LotView | None:
    """A lot with its holders (non-zero holdings), transit, losses, disposals, consumption."""
    with store.reading() as session:
        row = session.get(LotRow, lot_id)
        return None if row is None else _view(session, row)


def list_lots(store: Store, *, after: str | None = None, limit: int = 100) -> list[LotView]:
    """Lots in id order after ``after``, at most ``limit``."""
    query = select(LotRow)
    if after is not None:
        query = query.where(LotRow.id > after)
    with store.reading() as session:
        rows = list(session.scalars(query.order_by(LotRow.id).limit(limit)))
        return [_view(session, row) for row in rows]


def holdings(store: Store, *, party: str | None = None) -> dict[tuple[str, str], Decimal]:
    """(party, lot) → kg held, summed over the events that gave custody; zeros left out."""
    query = select(HoldingRow)
    if party is not None:
        query = query.where(HoldingRow.party == party)
    out: dict[tuple[str, str], Decimal] = {}
    with store.reading() as session:
        for h in session.scalars(query):
            if h.kg:
                out[(h.party, h.lot)] = out.get((h.party, h.lot), ZERO) + h.kg
    return out


def in_transit(store: Store) -> dict[str, Decimal]:
    """Lot → kg shipped and not yet received (voided shipments excluded)."""
    query = (
        select(ShipmentLotRow)
        .join(ShipmentRow, ShipmentRow.id == ShipmentLotRow.shipment)
        .where(ShipmentRow.status == "in-transit")
    )
    out: dict[str, Decimal] = {}
    with store.reading() as session:
        for row in session.scalars(query):
            out[row.lot] = out.get(row.lot, ZERO) + row.kg
    return out


def _view(session: Session, lot: LotRow) -> LotView:
    holders = [
        Holding(h.party, h.via, h.kg)
        for h in session.scalars(
            select(HoldingRow)
            .where(HoldingRow.lot == lot.id)
            .order_by(HoldingRow.time, HoldingRow.party, HoldingRow.via)
        )
        if h.kg
    ]
    transit: list[Transit] = []
    losses: list[Loss] = []
    shipped = session.execute(
        select(ShipmentLotRow, ShipmentRow)
        .join(ShipmentRow, ShipmentRow.id == ShipmentLotRow.shipment)
        .where(ShipmentLotRow.lot == lot.id)
        .order_by(ShipmentRow.time, ShipmentRow.id)
    ).all()
    for line, shipment in shipped:
        if shipment.status == "in-transit":
            transit.append(Transit(shipment.id, shipment.shipper, shipment.receiver, line.kg))
        elif (
            shipment.status == "received"
            and shipment.receive_event is not None
            and line.received_kg is not None
            and line.received_kg < line.kg
        ):
            losses.append(Loss(shipment.id, shipment.receive_event, line.kg, line.received_kg))
    disposed = consumed = ZERO
    for e in session.scalars(select(CustodyEdgeRow).where(CustodyEdgeRow.lot == lot.id)):
        if e.kind == "dispose":
            disposed += e.kg
        elif e.kind == "transform":
            consumed += e.kg
    return LotView(
        id=lot.id,
        product=lot.product,
        form=lot.form,
        creator=lot.party,
        event=lot.event,
        kind=lot.kind,
        kg=lot.kg,
        quantity=lot.quantity,
        unit=lot.unit,
        member=lot.member,
        plot=lot.plot,
        time=lot.time,
        voided_by=lot.voided_by,
        holders=holders,
        in_transit=transit,
        losses=losses,
        disposed=disposed,
        consumed=consumed,
    )
