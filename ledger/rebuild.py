"""Derive every projection again from the events table alone.

``rebuild`` empties the projection tables (``schema.PROJECTIONS``; the events table is
never touched — its triggers refuse it anyway) and replays every stored event, in index
order, through the same ``admit()`` the append pipeline runs, with the ledger clock set
to the time the event was recorded. It all happens in the ledger's one write
transaction: readers see the old projections until the new ones are committed, and a
failure leaves the old ones in place. Events are read in pages and the session is
cleared between pages, so memory stays bounded however long the ledger is.

An event that does not pass on replay means the stored ledger and the rules disagree:
that is the ledger's fault (``IntegrityError``), not a client's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ledger.append import admit, parse
from ledger.envelope import Envelope
from ledger.errors import ClientError, IntegrityError
from ledger.fields import from_utc_text
from ledger.schema import PROJECTIONS, EventRow, MetaRow
from ledger.state import LedgerState
from ledger.store import Store

PAGE = 2000
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
        replayed = replay(session, page=page, progress=progress)
    return RebuildResult(events=replayed, tables=[m.__tablename__ for m in PROJECTIONS])


def replay(session: Session, *, page: int = PAGE,
           progress: Callable[[int], None] | None = None,
           refused: Callable[[IntegrityError], None] | None = None) -> int:
    """Inside the caller's write transaction: empty the projections and replay every event.

    A stored event that is malformed or does not pass the rules raises ``IntegrityError``
    naming it; with ``refused``, it is passed there instead and the replay goes on with
    the next event. ``trazo rebuild`` commits the result; ``trazo audit`` compares it with
    what was stored and rolls it back.
    """
    replayed = 0
    for model in PROJECTIONS:
        if model is MetaRow:
            session.execute(delete(MetaRow).where(MetaRow.name.in_(REPLAYED_META)))
        else:
            session.execute(delete(model))
    after = -1
    while True:
        rows = list(session.scalars(
            select(EventRow).where(EventRow.index > after).order_by(EventRow.index)
            .limit(page)
        ))
        if not rows:
            break
        state = LedgerState(session)
        for row in rows:
            state.size = row.index  # the index this event has: rules record it
            try:
                _replay_one(row, state)
            except IntegrityError as e:
                if refused is None:
                    raise
                refused(e)
        replayed += len(rows)
        after = rows[-1].index
        session.flush()
        session.expunge_all()
        if progress is not None:
            progress(len(rows))
    return replayed


def _replay_one(row: EventRow, state: LedgerState) -> None:
    try:
        recorded = from_utc_text(row.recorded_at)
    except (TypeError, ValueError) as e:
        raise IntegrityError(
            f"stored event {row.index} ({row.id}) has a malformed recorded_at"
            f" {row.recorded_at!r}: {e}; the events table was altered",
            index=row.index, event=row.id,
        ) from e
    try:
        admit(parse(Envelope.from_json(row.envelope)), state, recorded,
              genesis=row.index == 0)
    except ClientError as e:
        raise IntegrityError(
            f"stored event {row.index} ({row.id}) does not pass on replay: {e.message}",
            index=row.index, event=row.id,
        ) from e
