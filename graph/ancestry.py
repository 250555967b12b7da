"""Fetching a lot's custody subgraph from the store: recursive queries, never the whole ledger.

``upstream`` follows custody edges from the lot's creating event back to the harvests;
``downstream`` follows them forward (for recalls). ``gather`` adds the master data the
verdict and a proof bundle rely on: the signers' registrations and keys, the members and
plots of the harvests, the certificates of every party on the path, and voids.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from graph.evidence import CUSTODY_TYPES, Evidence, Record
from ledger.envelope import Envelope
from ledger.errors import LotNotFound
from ledger.schema import (
    CertificateRow,
    EventRow,
    KeyRow,
    LotRow,
    MemberRow,
    MetaRow,
    PartyRow,
    PaymentLinkRow,
    PaymentRow,
    VoidRow,
)
from ledger.store import Store

_CHUNK = 500

_UPSTREAM = text("""
WITH RECURSIVE anc(id) AS (
    SELECT id FROM events WHERE id = :start
    UNION
    SELECT e.parent FROM custody_edges e JOIN anc ON e.child = anc.id
)
SELECT id FROM anc
""")

_DOWNSTREAM = text("""
WITH RECURSIVE des(id) AS (
    SELECT child FROM custody_edges WHERE parent = :start AND lot = :lot
    UNION
    SELECT e.child FROM custody_edges e JOIN des ON e.parent = des.id
)
SELECT id FROM des
""")


@dataclass(frozen=True)
class LotOrigin:
    lot: LotRow
    events: list[EventRow]


def lot_row(session: Session, lot: str) -> LotRow:
    row = session.get(LotRow, lot)
    if row is None:
        raise LotNotFound(f"no lot {lot!r} in the ledger")
    return row


def upstream_ids(session: Session, lot: str) -> set[str]:
    """The creating event of ``lot`` and every event it builds on, transitively."""
    start = lot_row(session, lot).event
    return {row[0] for row in session.execute(_UPSTREAM, {"start": start})}


def upstream_of(session: Session, event_id: str) -> set[str]:
    """``event_id`` and every event it builds on, transitively."""
    return {row[0] for row in session.execute(_UPSTREAM, {"start": event_id})}


def downstream_ids(session: Session, lot: str) -> set[str]:
    """Every event that consumed ``lot`` or anything made from it, transitively."""
    start = lot_row(session, lot).event
    return {row[0] for row in session.execute(_DOWNSTREAM, {"start": start, "lot": lot})}


def load_events(session: Session, ids: Collection[str]) -> list[EventRow]:
    ordered = sorted(ids)
    rows: list[EventRow] = []
    for i in range(0, len(ordered), _CHUNK):
        rows.extend(
            session.scalars(select(EventRow).where(EventRow.id.in_(ordered[i : i + _CHUNK])))
        )
    return sorted(rows, key=lambda r: r.index)


def to_evidence(rows: Iterable[EventRow]) -> Evidence:
    return Evidence.from_envelopes((row.index, Envelope.from_json(row.envelope)) for row in rows)


def gather(store: Store, lot: str, *, keys: bool = False, direction: str = "upstream") -> Evidence:
    """The evidence for ``lot``: its custody subgraph plus the master data it relies on.

    With ``keys``, also every key event needed to verify every signature offline
    (party registrations, key additions and revocations, back to the operator's genesis).
    """
    with store.reading() as session:
        if direction == "downstream":
            custody = downstream_ids(session, lot) | {lot_row(session, lot).event}
        else:
            custody = upstream_ids(session, lot)
        rows = load_events(session, custody)
        ids = set(custody) | _master_data(session, rows) | disclosed_payments(session, custody)
        if keys:
            ids |= _key_events(session, ids)
        rows = load_events(session, ids)
    return to_evidence(rows)


def _master_data(session: Session, rows: list[EventRow]) -> set[str]:
    evidence = to_evidence(rows)
    parties = {r.party for r in evidence if r.type in CUSTODY_TYPES}
    members = {body.member for _, body in evidence.typed("harvest") if body.member}
    ids: set[str] = set()
    for row in _rows_in(session, PartyRow, PartyRow.id, parties):
        ids.add(row.event)
    for member in _rows_in(session, MemberRow, MemberRow.id, members):
        ids.add(member.event)
        if member.left_event:
            ids.add(member.left_event)
    certifiers = set()
    for cert in _rows_in(session, CertificateRow, CertificateRow.subject, parties):
        ids.add(cert.event)
        certifiers.add(cert.certifier)
        if cert.revoked_event:
            ids.add(cert.revoked_event)
        if cert.voided_by:
            ids.add(cert.voided_by)
    for row in _rows_in(session, PartyRow, PartyRow.id, certifiers):
        ids.add(row.event)
    custody = {r.id for r in evidence}
    for void in _rows_in(session, VoidRow, VoidRow.event, custody | ids):
        ids.add(void.void_event)
    return ids


def disclosed_payments(session: Session, custody: Collection[str]) -> set[str]:
    """The payment events behind the price figures of these custody events: payments of
    their receipts and member payments of their harvests that every signer disclosed,
    with their confirmations and the price lists they were checked against. An
    undisclosed payment is never gathered: it is on no page and in no bundle."""
    links = _rows_in(session, PaymentLinkRow, PaymentLinkRow.target, custody)
    ids: set[str] = set()
    for payment in _rows_in(session, PaymentRow, PaymentRow.id, {link.payment for link in links}):
        if not payment.disclosed:
            continue
        ids.add(payment.id)
        if payment.answer_event:
            ids.add(payment.answer_event)
        if payment.price_list:
            ids.add(payment.price_list)
    return ids


def _key_events(session: Session, ids: set[str]) -> set[str]:
    """Key events behind every signature in ``ids``, closed under their own signatures."""
    needed: set[str] = set()
    seen_keys: set[str] = set()
    frontier = set(ids)
    operator = session.get(MetaRow, "operator")
    if operator is not None:
        genesis = session.get(PartyRow, operator.value)
        if genesis is not None:
            frontier.add(genesis.event)
    while frontier:
        keyids = {r.keyid for r in load_events(session, frontier)} - seen_keys
        seen_keys |= keyids
        frontier = set()
        for key in _rows_in(session, KeyRow, KeyRow.keyid, keyids):
            for event_id in (key.added_event, key.revoked_event):
                if event_id and event_id not in needed and event_id not in ids:
                    needed.add(event_id)
                    frontier.add(event_id)
    return needed


def _rows_in(session: Session, model: type[Any], column: Any, values: Collection[str]) -> list[Any]:
    ordered = sorted(values)
    out: list[Any] = []
    for i in range(0, len(ordered), _CHUNK):
        out.extend(session.scalars(select(model).where(column.in_(ordered[i : i + _CHUNK]))))
    return out


__all__ = ["LotNotFound", "Record", "downstream_ids", "gather", "upstream_ids"]
