"""Read-side queries: events, key chain heads, parties with their keys and certificates.

Pure reads through ``Store.reading()``; nothing here writes. Callers (the HTTP API, the
CLI) render the returned rows and values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from ledger.fields import utc_text
from ledger.schema import (
    CertificateRow,
    EventLotRow,
    EventRow,
    HoldingRow,
    KeyRow,
    LotRow,
    MetaRow,
    PartyRow,
    ShipmentLotRow,
    ShipmentRow,
)
from ledger.store import Store

MAX_PAGE = 1000


def list_events(
    store: Store,
    *,
    party: str | None = None,
    type: str | None = None,
    lot: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: int = -1,
    limit: int = 100,
    visible: Any = None,
) -> list[EventRow]:
    """Events in ledger order (newest last) after index ``after``, at most ``limit``.

    ``since``/``until`` bound the event's own ``time`` (inclusive); ``lot`` keeps the
    events that name the lot (through the ``event_lots`` projection); ``visible``, a SQL
    condition on ``events``, keeps what the caller may read.
    """
    query = select(EventRow).where(EventRow.index > after)
    if visible is not None:  # the caller's read policy (``api.http.access``)
        query = query.where(visible)
    if party:
        query = query.where(EventRow.party == party)
    if type:
        query = query.where(EventRow.type == type)
    if since is not None:
        query = query.where(EventRow.time >= utc_text(since))
    if until is not None:
        query = query.where(EventRow.time <= utc_text(until))
    if lot:
        query = query.where(
            EventRow.index.in_(select(EventLotRow.idx).where(EventLotRow.lot == lot))
        )
    with store.reading() as session:
        return list(session.scalars(query.order_by(EventRow.index).limit(limit)))


def get_event(store: Store, event_id: str, *, visible: Any = None) -> EventRow | None:
    """The stored event, if it exists (and, with ``visible``, the caller may read it)."""
    query = select(EventRow).where(EventRow.id == event_id)
    if visible is not None:
        query = query.where(visible)
    with store.reading() as session:
        return session.scalar(query)


def get_operator(store: Store) -> str | None:
    """The ledger operator's party id (set by the genesis), or None before it."""
    with store.reading() as session:
        row = session.get(MetaRow, "operator")
        return row.value if row is not None else None


# --- a party's goods ---------------------------------------------------------------------


def holdings(store: Store, party: str) -> list[tuple[HoldingRow, LotRow]]:
    """What ``party`` holds now (kg above zero), per lot and custody event, oldest first."""
    query = (
        select(HoldingRow, LotRow)
        .join(LotRow, LotRow.id == HoldingRow.lot)
        .where(HoldingRow.party == party)
        .order_by(HoldingRow.time, HoldingRow.lot, HoldingRow.via)
    )
    with store.reading() as session:  # kg is decimal text: compared here, not in SQL
        return [(h, lot) for h, lot in session.execute(query) if h.kg > 0]


def shipments(
    store: Store, party: str, *, direction: str, status: str | None = None
) -> list[tuple[ShipmentRow, list[ShipmentLotRow]]]:
    """Shipments to (``inbound``) or from (``outbound``) ``party``, with their lots."""
    column = ShipmentRow.receiver if direction == "inbound" else ShipmentRow.shipper
    query = select(ShipmentRow).where(column == party)
    if status:
        query = query.where(ShipmentRow.status == status)
    with store.reading() as session:
        rows = list(session.scalars(query.order_by(ShipmentRow.time, ShipmentRow.id)))
        lines: dict[str, list[ShipmentLotRow]] = {r.id: [] for r in rows}
        for chunk in range(0, len(rows), 500):
            ids = [r.id for r in rows[chunk : chunk + 500]]
            for line in session.scalars(
                select(ShipmentLotRow)
                .where(ShipmentLotRow.shipment.in_(ids))
                .order_by(ShipmentLotRow.lot)
            ):
                lines[line.shipment].append(line)
    return [(r, lines[r.id]) for r in rows]


# --- key chains ------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyHead:
    """What an offline signer needs to continue a key's chain: its last ``seq`` and id."""

    keyid: str
    party: str
    seq: int
    prev: str | None


def key_head(store: Store, keyid: str) -> KeyHead | None:
    with store.reading() as session:
        row = session.get(KeyRow, keyid)
        if row is None:
            return None
        return KeyHead(row.keyid, row.party, int(row.head_seq or 0), row.head_event)


# --- parties ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PartyView:
    """A registered party with every key it ever had and the certificates issued to it."""

    id: str
    name: str
    roles: list[str]
    country: str
    identifiers: dict[str, str]
    event: str
    time: str
    keys: list[KeyRow] = field(default_factory=list)
    certificates: list[CertificateRow] = field(default_factory=list)


def list_parties(store: Store, *, after: str | None = None, limit: int = 100) -> list[PartyView]:
    """Parties in id order after ``after``, at most ``limit``."""
    query = select(PartyRow)
    if after is not None:
        query = query.where(PartyRow.id > after)
    with store.reading() as session:
        rows = list(session.scalars(query.order_by(PartyRow.id).limit(limit)))
        return _party_views(session, rows)


def get_party(store: Store, party_id: str) -> PartyView | None:
    with store.reading() as session:
        row = session.get(PartyRow, party_id)
        return _party_views(session, [row])[0] if row is not None else None


def _party_views(session: Any, rows: list[PartyRow]) -> list[PartyView]:
    ids = [r.id for r in rows]
    if not ids:
        return []
    keys: dict[str, list[KeyRow]] = {i: [] for i in ids}
    key_query = select(KeyRow).where(KeyRow.party.in_(ids)).order_by(KeyRow.added_time)
    for key in session.scalars(key_query):
        keys[key.party].append(key)
    certs = _certificates(session, ids)
    return [
        PartyView(
            id=r.id,
            name=r.name,
            roles=json.loads(r.roles),
            country=r.country,
            identifiers=json.loads(r.identifiers),
            event=r.event,
            time=r.time,
            keys=keys[r.id],
            certificates=certs.get(r.id, []),
        )
        for r in rows
    ]


def _certificates(session: Any, party_ids: list[str]) -> dict[str, list[CertificateRow]]:
    """Certificates issued to each party (not those whose ``cert.issue`` was voided)."""
    query = (
        select(CertificateRow)
        .where(CertificateRow.subject.in_(party_ids), CertificateRow.voided_by.is_(None))
        .order_by(CertificateRow.time)
    )
    out: dict[str, list[CertificateRow]] = {}
    for cert in session.scalars(query):
        out.setdefault(cert.subject, []).append(cert)
    return out
