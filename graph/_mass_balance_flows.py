"""Reading the ledger for mass balance: custody events as flows, and certificates.

A *flow* is one lot line of one custody event (a harvest, a receipt, a shipment, a
transform's input or output, a disposal), with its quantity as signed and in kg, the
lot's product and form, and what a mass balance needs to judge it: the claims of the
shipment and, for a receipt, who shipped it and when.

Events are streamed in time order (stored UTC time, then ledger index), in chunks; the
lots and shipments a chunk names are fetched for that chunk alone, so memory stays
bounded by the chunk size, not by the ledger. Only indexed columns are queried:
``events(party, idx)``, ``events(time)``, ``events.id``, ``event_lots(event, lot)``,
``lots.id``, ``voids.event`` and ``certificates.subject``.

The stored payload bytes were verified when they were appended; they are parsed here as
stored. Nothing here writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from ledger.certificates import Certificate, Judgement, judge
from ledger.fields import from_utc_text, parse_time
from ledger.payload import loads_strict
from ledger.rules import typed_body
from ledger.schema import CertificateRow, EventLotRow, EventRow, LotRow, VoidRow

CHUNK = 1000
"""Events per chunk of the stream."""
_IN_LIMIT = 900
"""Ids per ``IN (…)`` list (below SQLite's and PostgreSQL's parameter limits)."""

PARTY_TYPES = ("harvest", "receive", "ship", "transform", "dispose")
"""What a party's own report reads: every custody event it signed."""
SWEEP_TYPES = ("harvest", "receive", "ship")
"""What the sweep reads: only events that can move a certified balance."""


@dataclass(frozen=True, slots=True)
class Flow:
    """One lot line of one custody event, as a mass balance sees it."""

    index: int
    event: str
    type: str
    time: str
    """Stored UTC time, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``: the order of the report."""
    signed_time: datetime
    """The event's ``time`` as signed, with its own offset."""
    party: str
    direction: str
    """``in`` (harvest, receipt), ``out`` (shipment), ``transform-in``,
    ``transform-out`` or ``dispose``."""
    counterparty: str | None
    lot: str
    product: str
    form: str
    quantity: str
    unit: str
    kg: Decimal
    claims: tuple[str, ...]
    """A shipment's own claims; for a receipt, the claims of the shipment it received."""
    shipment: str | None = None
    """For a receipt: the ``ship`` event it acknowledges."""
    shipped_at: datetime | None = None
    """For a receipt: the shipment's time as signed."""
    shipped_utc: str | None = None
    voided_by: str | None = None


@dataclass(frozen=True, slots=True)
class _Shipment:
    shipper: str
    time: datetime
    utc: str
    claims: tuple[str, ...]


def stream_flows(
    session: Session,
    *,
    before: str,
    types: Sequence[str],
    party: str | None = None,
    product: str | None = None,
    chunk: int = CHUNK,
) -> Iterator[Flow]:
    """Flows of the events dated before ``before`` (UTC text), in time order.

    ``party`` keeps that party's own events; ``product`` keeps the events naming a lot
    of that product (and, of those, the lines of that product). Voided events are
    included with ``voided_by`` set, so a report can show them as not counting.
    """
    query = (
        select(
            EventRow.index,
            EventRow.id,
            EventRow.type,
            EventRow.time,
            EventRow.payload,
            VoidRow.void_event,
        )
        .outerjoin(VoidRow, VoidRow.event == EventRow.id)
        .where(EventRow.type.in_(types), EventRow.time < before)
        .order_by(EventRow.time, EventRow.index)
    )
    if party is not None:
        query = query.where(EventRow.party == party)
    if product is not None:
        query = query.where(
            exists().where(
                EventLotRow.event == EventRow.id,
                LotRow.id == EventLotRow.lot,
                LotRow.product == product,
            )
        )
    result = session.execute(query.execution_options(yield_per=chunk, stream_results=True))
    for rows in result.partitions(chunk):
        yield from _chunk_flows(session, rows, product)


def _chunk_flows(session: Session, rows: Iterable[Any], product: str | None) -> Iterator[Flow]:
    parsed = [(row, _typed(row.type, row.payload)) for row in rows]
    lot_ids: set[str] = set()
    shipment_ids: set[str] = set()
    for row, (_, body) in parsed:
        lot_ids.update(line.lot for line in _lines(row.type, body))
        if row.type == "receive":
            shipment_ids.add(body.shipment)
    lots = _lots(session, lot_ids)
    shipments = _shipments(session, shipment_ids)
    for row, (signed, body) in parsed:
        yield from _event_flows(row, signed, body, lots, shipments, product)


def _typed(kind: str, payload: bytes) -> tuple[dict[str, Any], Any]:
    """A stored payload: its common fields and its typed body (``ledger.rules``)."""
    signed: dict[str, Any] = loads_strict(bytes(payload))
    return signed, typed_body(kind, signed, signed["party"])


def _lines(kind: str, body: Any) -> list[Any]:
    """The quantity lines of a custody event's typed body (each has ``lot``, ``amount``)."""
    if kind == "harvest":
        return [body]
    if kind == "dispose":
        return [body.line]
    if kind == "transform":
        return [*body.inputs, *body.outputs]
    return list(body.lots)  # ship, receive


def _event_flows(
    row: Any,
    signed: dict[str, Any],
    body: Any,
    lots: dict[str, tuple[str, str]],
    shipments: dict[str, _Shipment],
    product: str | None,
) -> Iterator[Flow]:
    kind: str = row.type
    common: dict[str, Any] = {
        "index": row.index,
        "event": row.id,
        "type": kind,
        "time": row.time,
        "signed_time": parse_time(signed["time"], field="time"),
        "party": signed["party"],
        "voided_by": row.void_event,
    }
    if kind == "receive":
        ship = shipments.get(body.shipment)
        common.update(
            shipment=body.shipment,
            counterparty=ship.shipper if ship else None,
            claims=ship.claims if ship else (),
            shipped_at=ship.time if ship else None,
            shipped_utc=ship.utc if ship else None,
        )
        tagged = [("in", line) for line in body.lots]
    elif kind == "ship":
        common.update(counterparty=body.to, claims=body.claims)
        tagged = [("out", line) for line in body.lots]
    elif kind == "harvest":
        common.update(counterparty=None, claims=())
        tagged = [("in", body)]
    elif kind == "transform":
        common.update(counterparty=None, claims=())
        tagged = [("transform-in", line) for line in body.inputs] + [
            ("transform-out", line) for line in body.outputs
        ]
    else:  # dispose
        common.update(counterparty=None, claims=())
        tagged = [("dispose", body.line)]
    for direction, line in tagged:
        known = lots.get(line.lot)
        if known is None:  # pragma: no cover - every named lot exists (custody rules)
            continue
        lot_product, lot_form = known
        if product is not None and lot_product != product:
            continue
        yield Flow(
            direction=direction,
            lot=line.lot,
            product=lot_product,
            form=getattr(line, "form", lot_form),
            quantity=line.amount.quantity,
            unit=line.amount.unit,
            kg=line.amount.kg,
            **common,
        )


def _batches(ids: Iterable[str]) -> Iterator[list[str]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), _IN_LIMIT):
        yield ordered[start : start + _IN_LIMIT]


def _lots(session: Session, ids: set[str]) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for batch in _batches(ids):
        for lot_id, lot_product, form in session.execute(
            select(LotRow.id, LotRow.product, LotRow.form).where(LotRow.id.in_(batch))
        ):
            out[lot_id] = (lot_product, form)
    return out


def _shipments(session: Session, ids: set[str]) -> dict[str, _Shipment]:
    out: dict[str, _Shipment] = {}
    for batch in _batches(ids):
        for event_id, party, utc, payload in session.execute(
            select(EventRow.id, EventRow.party, EventRow.time, EventRow.payload).where(
                EventRow.id.in_(batch), EventRow.type == "ship"
            )
        ):
            signed, ship = _typed("ship", payload)
            out[event_id] = _Shipment(
                party, parse_time(signed["time"], field="time"), utc, ship.claims
            )
    return out


# --- certificates ---------------------------------------------------------------------------


class CertificateBook:
    """Certificates by subject, loaded once per subject (or all at once for a sweep)."""

    def __init__(self, session: Session, *, preload: bool = False) -> None:
        self._session = session
        self._by_subject: dict[str, list[Certificate]] = {}
        self._complete = preload
        if preload:
            for cert in self._load(None):
                self._by_subject.setdefault(cert.subject, []).append(cert)

    def _load(self, subject: str | None) -> list[Certificate]:
        query = select(CertificateRow)
        if subject is not None:
            query = query.where(CertificateRow.subject == subject)
        return [
            Certificate(
                id=row.id,
                event=row.event,
                certifier=row.certifier,
                subject=row.subject,
                scheme=row.scheme,
                products=frozenset(json.loads(row.products)),
                valid_from=date.fromisoformat(row.valid_from),
                valid_until=date.fromisoformat(row.valid_until),
                revoked_at=from_utc_text(row.revoked_time) if row.revoked_time else None,
                revoked_by=row.revoked_event,
                voided_by=row.voided_by,
            )
            for row in self._session.scalars(query.order_by(CertificateRow.id))
        ]

    def of(self, subject: str) -> list[Certificate]:
        if subject not in self._by_subject and not self._complete:
            self._by_subject[subject] = self._load(subject)
        return self._by_subject.get(subject, [])

    def schemes(self, subject: str, product: str) -> set[str]:
        """Every scheme ``subject`` was ever certified in for ``product`` (not voided)."""
        return {c.scheme for c in self.of(subject) if product in c.products and c.voided_by is None}

    def judge(
        self, subject: str, scheme: str, product: str, when: datetime, when_utc: str, what: str
    ) -> Judgement:
        """Did ``subject`` hold a ``scheme`` certificate covering ``product`` at ``when``?
        (``ledger.certificates.judge`` decides; ``when_utc`` is kept for callers.)"""
        return judge(
            self.of(subject), subject=subject, scheme=scheme, product=product, when=when, what=what
        )
