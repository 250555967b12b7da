"""The ledger as the custody rules see it: ``LedgerView``, and its memory backend.

A rule reads parties, keys, events and projection records through a view, and records
an accepted event's effects on it (``add``, ``update``, ``delete``). It never touches a
database: the same rule code runs over

- ``ledger.sqlview.SqlView`` — the append path, reading with SQLAlchemy Core and writing
  a batch's rows with ``executemany`` at its end;
- ``MemoryView`` — plain dicts: ``trazo rebuild`` and ``trazo audit`` replay the stored
  bytes into one, and ``trazo verify`` runs the rules over a bundle's evidence with one
  whose ``complete`` is False (what is outside the bundle is not in evidence, rather than
  absent: see ``NotInEvidence``).

A memory view also undoes one event's partial effects when a rule refuses it
(``begin``/``rollback``), so a replay that reports refusals goes on from a clean state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol, TypeVar

from ledger.errors import LedgerError
from ledger.payload import Event, loads_strict
from ledger.records import PROJECTIONS, Meta, Record, StoredEvent, record_key

R = TypeVar("R", bound=Record)
RowKey = tuple[type[Record], Any]
"""A record named by its class and primary key (a value, or a tuple)."""


@dataclass(frozen=True)
class Lookup:
    """For ``prefetch``: every record of ``kind`` whose indexed ``field`` is ``value``."""

    kind: type[Record]
    field: str
    value: Any


Wanted = RowKey | Lookup


class NotInEvidence(LedgerError):
    """A rule needs something a bundle does not carry: it cannot be judged from it."""


class LedgerView(Protocol):
    """What the append pipeline and the rules may read and change, for one batch."""

    size: int
    """The index the next recorded event gets."""
    complete: bool
    """False over a bundle's evidence: an absent record may exist outside the bundle."""

    def get(self, kind: type[R], pk: Any) -> R | None: ...

    def find(self, kind: type[R], **equal: Any) -> list[R]:
        """Records whose one ``INDEXED`` field equals the value, ordered by key."""
        ...

    def add(self, record: Record) -> None: ...

    def update(self, record: Record, **changes: Any) -> None: ...

    def delete(self, record: Record) -> None: ...

    def prefetch(self, wanted: Iterable[Wanted]) -> None:
        """A hint: records the batch will read (a SQL view loads them together)."""
        ...

    def event(self, event_id: str) -> StoredEvent | None: ...

    def record_event(self, event: Event, recorded_at: datetime) -> StoredEvent: ...

    def genesis(self) -> str | None:
        """The id of the ledger's first event (index 0), which every later event names."""
        ...


def operator(view: LedgerView) -> str | None:
    """The ledger operator's party id, set by the genesis ``party.register``."""
    row = view.get(Meta, "operator")
    return row.value if row else None


def absent(view: LedgerView, error: LedgerError) -> LedgerError:
    """What to raise when a referenced record is not found: ``error`` in a whole ledger,
    ``NotInEvidence`` over a bundle (the record may exist outside it)."""
    if view.complete:
        return error
    return NotInEvidence(f"not in evidence: {error.message}", field=error.field)


def stored_event(event: Event, index: int) -> StoredEvent:
    return StoredEvent(
        index=index,
        id=event.id,
        type=event.type,
        party=event.party,
        time=event.time_text,
        payload=event.payload,
        body=event.body,
    )


def body_of(stored: StoredEvent) -> dict[str, Any]:
    """A stored event's payload as a dict (its signed bytes, parsed strictly)."""
    if stored.body is not None:
        return stored.body
    body: dict[str, Any] = loads_strict(stored.payload)
    return body


@dataclass
class _Index:
    """Records of one kind by primary key, and by each ``INDEXED`` field's value."""

    rows: dict[tuple[Any, ...], Record]
    by: dict[str, dict[Any, dict[tuple[Any, ...], Record]]]

    def put(self, record: Record) -> None:
        key = record.key()
        self.rows[key] = record
        for name, groups in self.by.items():
            groups.setdefault(getattr(record, name), {})[key] = record

    def remove(self, record: Record) -> None:
        key = record.key()
        self.rows.pop(key, None)
        for name, groups in self.by.items():
            group = groups.get(getattr(record, name))
            if group is not None:
                group.pop(key, None)


class MemoryView:
    """A ledger in plain dicts: every record and event, with undo for one event."""

    def __init__(self, *, complete: bool = True) -> None:
        self.size = 0
        self.complete = complete
        self._kinds: dict[type[Record], _Index] = {
            kind: _Index({}, {name: {} for name in kind.INDEXED}) for kind in PROJECTIONS
        }
        self._events: dict[str, StoredEvent] = {}
        self._genesis: str | None = None
        self._undo: list[Callable[[], None]] | None = None

    # --- one event's changes, undone when it is refused ------------------------------

    def begin(self) -> None:
        self._undo = []

    def commit(self) -> None:
        self._undo = None

    def rollback(self) -> None:
        undo, self._undo = self._undo or [], None
        for step in reversed(undo):
            step()

    def _journal(self, step: Callable[[], None]) -> None:
        if self._undo is not None:
            self._undo.append(step)

    # --- records -----------------------------------------------------------------------

    def get(self, kind: type[R], pk: Any) -> R | None:
        found = self._kinds[kind].rows.get(record_key(kind, pk))
        return found  # type: ignore[return-value]

    def find(self, kind: type[R], **equal: Any) -> list[R]:
        ((name, value),) = equal.items()
        if name not in kind.INDEXED:
            raise ValueError(f"{kind.__name__}.{name} is not an indexed field")
        group = self._kinds[kind].by[name].get(value, {})
        return [group[k] for k in sorted(group)]  # type: ignore[misc]

    def all(self, kind: type[R]) -> list[R]:
        return list(self._kinds[kind].rows.values())  # type: ignore[arg-type]

    def add(self, record: Record) -> None:
        index = self._kinds[type(record)]
        if record.key() in index.rows:
            raise KeyError(f"{record.TABLE} {record.key()} exists already")
        index.put(record)
        self._journal(lambda: index.remove(record))

    def update(self, record: Record, **changes: Any) -> None:
        old = {name: getattr(record, name) for name in changes}
        for name, value in changes.items():
            setattr(record, name, value)

        def undo() -> None:
            for name, value in old.items():
                setattr(record, name, value)

        self._journal(undo)

    def delete(self, record: Record) -> None:
        index = self._kinds[type(record)]
        index.remove(record)
        self._journal(lambda: index.put(record))

    def prefetch(self, wanted: Iterable[Wanted]) -> None:
        return None

    # --- events ------------------------------------------------------------------------

    def event(self, event_id: str) -> StoredEvent | None:
        return self._events.get(event_id)

    def record_event(self, event: Event, recorded_at: datetime) -> StoredEvent:
        return self.put_event(stored_event(event, self.size))

    def put_event(self, stored: StoredEvent) -> StoredEvent:
        """Record an event at its own index (a bundle's indexes have gaps). Its parsed
        body is not kept: a whole ledger's would outweigh everything else held here."""
        stored = replace(stored, body=None)
        self._events[stored.id] = stored
        size, genesis = self.size, self._genesis
        self.size = stored.index + 1
        if stored.index == 0:
            self._genesis = stored.id

        def undo() -> None:
            self._events.pop(stored.id, None)
            self.size, self._genesis = size, genesis

        self._journal(undo)
        return stored

    def genesis(self) -> str | None:
        return self._genesis


__all__ = [
    "LedgerView",
    "Lookup",
    "MemoryView",
    "NotInEvidence",
    "RowKey",
    "Wanted",
    "absent",
    "body_of",
    "operator",
]
