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

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sqlalchemy import Connection, delete, select

from ledger.append import parse
from ledger.engine import Prechecked, admit, keep_chain, precheck_many
from ledger.envelope import Envelope
from ledger.errors import ClientError, IntegrityError
from ledger.fields import from_utc_text
from ledger.payload import Event
from ledger.records import PROJECTIONS, Key, Meta
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


def rebuild(
    store: Store, *, page: int = PAGE, progress: Callable[[int], None] | None = None
) -> RebuildResult:
    """Drop and recompute every projection from the events; returns how many were replayed."""
    if page < 1:
        raise ValueError("page must be at least 1")
    with store.writing() as session:
        conn = session.connection()
        view = MemoryView()
        replayed = replay(stored_rows(conn, page=page, progress=progress), view)
        write_projections(conn, view)
    return RebuildResult(events=replayed, tables=[TABLES[k].name for k in PROJECTIONS])


def stored_rows(
    conn: Connection, *, page: int = PAGE, progress: Callable[[int], None] | None = None
) -> Iterator[Any]:
    """Every stored event row (index, id, envelope, recorded_at…), in pages, in order."""
    after = -1
    while True:
        rows = list(
            conn.execute(
                select(EVENTS).where(EVENTS.c.idx > after).order_by(EVENTS.c.idx).limit(page)
            )
        )
        if not rows:
            return
        yield from rows
        after = rows[-1].idx
        if progress is not None:
            progress(len(rows))


def replay(
    rows: Iterable[Any],
    view: MemoryView,
    *,
    refused: Callable[[IntegrityError], None] | None = None,
) -> int:
    """Admit every stored event into ``view``, as the append path admitted it.

    A stored event that is malformed or does not pass the rules raises ``IntegrityError``
    naming it; with ``refused``, it is passed there instead (its partial effects undone)
    and the replay goes on with the next event. ``trazo rebuild`` writes the result;
    ``trazo audit`` compares it with what is stored. Events are taken a page at a time:
    the signatures of a page whose keys are already known are verified on every core
    first (``engine.precheck_many``), as the append path does before its lock.
    """
    replayed = 0
    it = iter(rows)
    while chunk := list(islice(it, PAGE)):
        parsed: list[Event | ClientError] = [_parsed(row) for row in chunk]
        good = [(n, p) for n, p in enumerate(parsed) if isinstance(p, Event)]
        raws = {e.key: key.public_key for _, e in good if (key := view.get(Key, e.key)) is not None}
        checked = precheck_many([e for _, e in good], raws)
        prechecked = {good[i][0]: c for i, c in checked.items()}
        for n, row in enumerate(chunk):
            replayed += 1
            view.size = row.idx  # the index this event has: rules record it
            view.begin()
            try:
                _replay_one(row, parsed[n], prechecked.get(n), view)
            except IntegrityError as e:
                view.rollback()
                if refused is None:
                    raise
                refused(e)
                event = parsed[n]
                if isinstance(event, Event):
                    keep_chain(event, view)
            else:
                view.commit()
    return replayed


def _parsed(row: Any) -> Event | ClientError:
    try:
        return _stored_event(row)
    except ClientError as e:
        return e


def _replay_one(
    row: Any, event: Event | ClientError, prechecked: Prechecked | None, view: MemoryView
) -> None:
    try:
        recorded = from_utc_text(row.recorded_at)
    except (TypeError, ValueError) as e:
        raise IntegrityError(
            f"stored event {row.idx} ({row.id}) has a malformed recorded_at"
            f" {row.recorded_at!r}: {e}; the events table was altered",
            index=row.idx,
            event=row.id,
        ) from e
    try:
        if isinstance(event, ClientError):
            raise event
        admit(event, view, recorded, genesis=row.idx == 0, prechecked=prechecked)
    except ClientError as e:
        error = IntegrityError(
            f"stored event {row.idx} ({row.id}) does not pass on replay: {e.message}",
            index=row.idx,
            event=row.id,
        )
        error.step = e.step
        raise error from e
    view.put_event(stored_event(event, row.idx))


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
            conn.execute(TABLES[kind].insert(), rows[start : start + WRITE_CHUNK])
