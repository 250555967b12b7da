"""Read-side queries over the events table."""

from __future__ import annotations

from sqlalchemy import select

from ledger.schema import EventRow
from ledger.store import Store


def list_events(store: Store, *, party: str | None = None, type: str | None = None,
                after: int = -1, limit: int = 100) -> list[EventRow]:
    """Events in ledger order after index ``after``, at most ``limit``."""
    query = select(EventRow).where(EventRow.index > after)
    if party:
        query = query.where(EventRow.party == party)
    if type:
        query = query.where(EventRow.type == type)
    with store.reading() as session:
        return list(session.scalars(query.order_by(EventRow.index).limit(limit)))
