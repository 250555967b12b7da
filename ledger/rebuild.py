"""Derive every projection again from the events table alone.

``rebuild`` replays every stored event, in index order, through the same
``ledger.engine.admit`` the append path runs — over a ``MemoryView`` instead of the
database, with the ledger clock set to the time the event was recorded — then empties
the projection tables (the events table is never touched; its triggers refuse it
anyway) and writes the derived rows with executemany. It all happens in the ledger's
one write transaction: readers see the old projections until the new ones are
committed, and a failure leaves the old ones in place.

An event that does not pass on replay means the stored ledger and the rules disagree:
that is the ledger's fault (``IntegrityError``), not a client's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, select

from ledger.append import parse
from ledger.engine import admit, keep_chain
from ledger.envelope import Envelope
from ledger.errors import ClientError, IntegrityError
from ledger.fields import from_utc_text
from ledger.payload import Event
from ledger.records import PROJECTIONS, Meta
from ledger.sqlview import EVENTS, TABLES
from ledger.store import Store
from ledger.view import MemoryView, stored_event

PAGE = 2000
WRITE_CHUNK = 5000
REPLAYED_META = ("operator",)
"""The ``meta`` rows a replay sets again; other ledger-wide facts are left alone."""


@dataclass(frozen=True)
class RebuildResult:
    events: int
    tables: list[str]


def rebuild(store: Store, *, page: int = PAGE,
            progress: Callable[[int], None] | None = None) -> RebuildResult:
    """Drop and recompute every projection from the events; returns how many were replayed."""
    if page < 1:
        raise ValueError("page must be at least 1")
    with store.writing() as session:
        conn = session.connection()
        view = MemoryView()
        replayed = replay(stored_rows(conn, page=page, progress=progress), view)
        write_projections(conn, view)
    return RebuildResult(events=replayed, tables=[TABLES[k].name for k in PROJECTIONS])


def stored_rows(conn: Connection, *, page: int = PAGE,
                progress: Callable[[int], None] | None = None) -> Iterator[Any]:
    """Every stored event row (index, id, envelope, recorded_at…), in pages, in order."""
    after = -1
    while True:
        rows = list(conn.execute(
            select(EVENTS).where(EVENTS.c.idx > after).order_by(EVENTS.c.idx).limit(page)))
        if not rows:
            return
        yield from rows
        after = rows[-1].idx
        if progress is not None:
            progress(len(rows))


def replay(rows: Iterator[Any], view: MemoryView, *,
           refused: Callable[[IntegrityError], None] | None = None) -> int:
    """Admit every stored event into ``view``, as the append path admitted it.

    A stored event that is malformed or does not pass the rules raises ``IntegrityError``
    naming it; with ``refused``, it is passed there instead (its partial effects undone)
    and the replay goes on with the next event. ``trazo rebuild`` writes the result;
    ``trazo audit`` compares it with what is stored.
    """
    replayed = 0
    for row in rows:
        replayed += 1
        view.size = row.idx  # the index this event has: rules record it
        view.begin()
        try:
            _replay_one(row, view)
        except IntegrityError as e:
            view.rollback()
            if refused is None:
                raise
            refused(e)
            _keep_chain(row, view)
        else:
            view.commit()
    return replayed


def _replay_one(row: Any, view: MemoryView) -> None:
    try:
        recorded = from_utc_text(row.recorded_at)
    except (TypeError, ValueError) as e:
        raise IntegrityError(
            f"stored event {row.idx} ({row.id}) has a malformed recorded_at"
            f" {row.recorded_at!r}: {e}; the events table was altered",
            index=row.idx, event=row.id,
        ) from e
    try:
        event = _stored_event(row)
        admit(event, view, recorded, genesis=row.idx == 0)
    except ClientError as e:
        error = IntegrityError(
            f"stored event {row.idx} ({row.id}) does not pass on replay: {e.message}",
            index=row.idx, event=row.id,
        )
        error.step = e.step
        raise error from e
    view.put_event(stored_event(event, row.idx))


def _keep_chain(row: Any, view: MemoryView) -> None:
    """After a reported refusal the key's chain still moves to the refused event."""
    try:
        keep_chain(_stored_event(row), view)
    except ClientError:
        return


def _stored_event(row: Any) -> Event:
    """The stored payload bytes (hashed into the log) with the envelope's signature."""
    envelope = Envelope.from_json(row.envelope)
    return parse(Envelope(bytes(row.payload), envelope.signature))


def write_projections(conn: Connection, view: MemoryView) -> None:
    """Replace the stored projections with ``view``'s records (children deleted first)."""
    for kind in reversed(PROJECTIONS):
        table = TABLES[kind]
        if kind is Meta:
            conn.execute(delete(table).where(table.c.name.in_(REPLAYED_META)))
        else:
            conn.execute(delete(table))
    for kind in PROJECTIONS:
        rows = [r.values() for r in view.all(kind)]
        for start in range(0, len(rows), WRITE_CHUNK):
            conn.execute(TABLES[kind].insert(), rows[start:start + WRITE_CHUNK])
