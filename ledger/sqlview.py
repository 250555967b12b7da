"""The SQL backend of ``LedgerView``: Core reads, and one batch's writes with executemany.

A ``SqlView`` lives for one append transaction. It reads records by primary key (a
batch's together, ``prefetch``) or by an indexed column (``find``) with SQLAlchemy Core,
keeps each record it read or added as one object, and at ``flush`` writes the batch:
events, then per table the deleted rows, the inserted rows and the changed rows, each
with one ``executemany``. No ORM object is built; nothing is written before ``flush``,
so the database sees a batch all at once or, rolled back, not at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Table, and_, bindparam, func, select

from ledger.fields import utc_text
from ledger.payload import Event
from ledger.records import PROJECTIONS, Record, StoredEvent, record_key
from ledger.schema import (
    CertificateRow,
    CustodyEdgeRow,
    EventLotRow,
    EventPartyRow,
    EventRow,
    GrantRow,
    HoldingRow,
    KeyRow,
    LotRow,
    MemberRow,
    MetaRow,
    PartyRow,
    PaymentLinkRow,
    PaymentRow,
    PlotRow,
    PriceLineRow,
    PublicationRow,
    ShipmentLotRow,
    ShipmentRow,
    VoidRow,
)
from ledger.view import Lookup, Wanted, stored_event

R = TypeVar("R", bound=Record)
_Key = tuple[Any, ...]

_MODELS: dict[str, Any] = {
    m.__tablename__: m
    for m in (
        MetaRow,
        PartyRow,
        KeyRow,
        MemberRow,
        PlotRow,
        CertificateRow,
        LotRow,
        HoldingRow,
        ShipmentRow,
        ShipmentLotRow,
        CustodyEdgeRow,
        EventLotRow,
        VoidRow,
        EventPartyRow,
        PublicationRow,
        GrantRow,
        PriceLineRow,
        PaymentRow,
        PaymentLinkRow,
    )
}
TABLES: dict[type[Record], Table] = {
    kind: cast(Table, _MODELS[kind.TABLE].__table__) for kind in PROJECTIONS
}
"""Each record kind's table (``ledger.schema``); ``test_records`` checks the columns."""
EVENTS = cast(Table, EventRow.__table__)
_EVENT_COLUMNS = (
    EVENTS.c.idx,
    EVENTS.c.id,
    EVENTS.c.type,
    EVENTS.c.party,
    EVENTS.c.time,
    EVENTS.c.payload,
)
_CHUNK = 400


def insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """One executemany of ``table``'s INSERT (compiled by Core once per table). On
    SQLite the rows go to the driver as tuples, converted by the columns' own bind
    processors (``DecimalText``…), which saves SQLAlchemy's per-row bookkeeping."""
    dialect = conn.dialect
    if dialect.paramstyle != "qmark":
        conn.execute(table.insert(), rows)
        return
    sql, names, processors = _insert_plan(table, dialect)
    conn.exec_driver_sql(
        sql,
        [
            tuple(
                row[n] if p is None else p(row[n]) for n, p in zip(names, processors, strict=True)
            )
            for row in rows
        ],
    )


_PLANS: dict[tuple[str, str], tuple[str, list[str], list[Any]]] = {}


def _insert_plan(table: Table, dialect: Any) -> tuple[str, list[str], list[Any]]:
    """The positional INSERT of every column of ``table``, its column order, and each
    column's bind processor (None: the value goes as it is)."""
    key = (table.name, dialect.name)
    if key not in _PLANS:
        compiled = table.insert().compile(dialect=dialect)
        names = list(compiled.positiontup or [])
        processors = [table.c[n].type._cached_bind_processor(dialect) for n in names]
        _PLANS[key] = (str(compiled), names, processors)
    return _PLANS[key]


def record_of(kind: type[R], row: Any) -> R:
    """A stored row of ``kind``'s table as its record (binary columns as ``bytes``)."""
    values = dict(row._mapping)
    if isinstance(values.get("public_key"), memoryview | bytearray):
        values["public_key"] = bytes(values["public_key"])  # a tampered text stays text
    return kind(**values)


def _event(row: Any) -> StoredEvent:
    return StoredEvent(
        index=row.idx,
        id=row.id,
        type=row.type,
        party=row.party,
        time=row.time,
        payload=bytes(row.payload),
    )


class SqlView:
    """The ledger in a database, as one batch's rules see and change it."""

    complete = True

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        last = conn.scalar(select(func.max(EVENTS.c.idx)))
        self.size = 0 if last is None else int(last) + 1
        self._cache: dict[type[Record], dict[_Key, Record | None]] = {k: {} for k in PROJECTIONS}
        self._stored: dict[type[Record], set[_Key]] = {k: set() for k in PROJECTIONS}
        self._new: dict[type[Record], dict[_Key, Record]] = {k: {} for k in PROJECTIONS}
        self._changed: dict[type[Record], dict[_Key, Record]] = {k: {} for k in PROJECTIONS}
        self._gone: dict[type[Record], dict[_Key, Record]] = {k: {} for k in PROJECTIONS}
        self._found: dict[tuple[type[Record], str], dict[Any, set[_Key]]] = {}
        """For each (kind, field) looked up: value → keys of the stored records with it."""
        self._events: dict[str, StoredEvent | None] = {}
        self._new_events: list[dict[str, Any]] = []
        self._genesis: str | None = None

    # --- reading -----------------------------------------------------------------------

    def _loaded(self, kind: type[R], row: Any) -> R:
        """One object per stored row: a row read again is the object already held."""
        record = record_of(kind, row)
        key = record.key()
        cache = self._cache[kind]
        if key in cache:
            held = cache[key]
            return cast(R, held)
        cache[key] = record
        self._stored[kind].add(key)
        return record

    def get(self, kind: type[R], pk: Any) -> R | None:
        key = record_key(kind, pk)
        cache = self._cache[kind]
        if key not in cache:
            self.prefetch([(kind, key)])
        return cast("R | None", cache[key])

    def prefetch(self, wanted: Iterable[Wanted]) -> None:
        by_kind: dict[type[Record], set[_Key]] = {}
        lookups: dict[tuple[type[Record], str], set[Any]] = {}
        for item in wanted:
            if isinstance(item, Lookup):
                if item.value not in self._found.get((item.kind, item.field), {}):
                    lookups.setdefault((item.kind, item.field), set()).add(item.value)
                continue
            kind, pk = item
            key = record_key(kind, pk)
            if None not in key and key not in self._cache[kind]:
                by_kind.setdefault(kind, set()).add(key)
        for kind, keys in by_kind.items():
            table = TABLES[kind]
            columns = [table.c[name] for name in kind.KEY]
            ordered = sorted(keys)
            for start in range(0, len(ordered), _CHUNK):
                chunk = ordered[start : start + _CHUNK]
                # one IN per key column (a superset, filtered below): row-value IN lists
                # are not served by SQLite's primary-key index
                where = [col.in_({k[i] for k in chunk}) for i, col in enumerate(columns)]
                wanted_keys = set(chunk)
                for row in self.conn.execute(select(table).where(*where)):
                    key = tuple(getattr(row, name) for name in kind.KEY)
                    if key in wanted_keys and key not in self._cache[kind]:
                        self._loaded(kind, row)
                for key in chunk:
                    self._cache[kind].setdefault(key, None)
        for (kind, name), values in lookups.items():
            self._look_up(kind, name, sorted(values))

    def _look_up(self, kind: type[Record], name: str, values: list[Any]) -> None:
        """Load every stored record whose ``name`` is one of ``values``; remember that."""
        table = TABLES[kind]
        found = self._found.setdefault((kind, name), {})
        for value in values:
            found[value] = set()
        for start in range(0, len(values), _CHUNK):
            chunk = values[start : start + _CHUNK]
            for row in self.conn.execute(select(table).where(table.c[name].in_(chunk))):
                key = tuple(getattr(row, n) for n in kind.KEY)
                found[getattr(row, name)].add(key)
                if key not in self._cache[kind]:
                    self._loaded(kind, row)

    def find(self, kind: type[R], **equal: Any) -> list[R]:
        ((name, value),) = equal.items()
        if name not in kind.INDEXED:
            raise ValueError(f"{kind.__name__}.{name} is not an indexed field")
        if value not in self._found.get((kind, name), {}):
            self._look_up(kind, name, [value])
        found: dict[_Key, R] = {}
        for key in self._found[(kind, name)][value]:
            held = self._cache[kind][key]
            if held is not None:
                found[key] = cast(R, held)
        for key, record in self._new[kind].items():
            if getattr(record, name) == value:
                found[key] = cast(R, record)
        return [found[k] for k in sorted(found) if getattr(found[k], name) == value]

    # --- changing ----------------------------------------------------------------------

    def add(self, record: Record) -> None:
        kind, key = type(record), record.key()
        if self._cache[kind].get(key) is not None:
            raise KeyError(f"{record.TABLE} {key} exists already")
        self._cache[kind][key] = record
        self._new[kind][key] = record

    def update(self, record: Record, **changes: Any) -> None:
        for name, value in changes.items():
            setattr(record, name, value)
        kind, key = type(record), record.key()
        if key not in self._new[kind]:
            self._changed[kind][key] = record

    def delete(self, record: Record) -> None:
        kind, key = type(record), record.key()
        self._cache[kind][key] = None
        self._new[kind].pop(key, None)  # added in this batch: never written
        self._changed[kind].pop(key, None)
        if key in self._stored[kind]:  # in the database: deleted at flush
            self._gone[kind][key] = record

    # --- events ------------------------------------------------------------------------

    def preload_events(self, ids: list[str]) -> None:
        """Which of a batch's events are stored already, in one query per 500."""
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for row in self.conn.execute(select(*_EVENT_COLUMNS).where(EVENTS.c.id.in_(chunk))):
                self._events[row.id] = _event(row)
            for event_id in chunk:
                self._events.setdefault(event_id, None)

    def event(self, event_id: str) -> StoredEvent | None:
        if event_id not in self._events:
            row = self.conn.execute(select(*_EVENT_COLUMNS).where(EVENTS.c.id == event_id)).first()
            self._events[event_id] = _event(row) if row is not None else None
        return self._events[event_id]

    def record_event(self, event: Event, recorded_at: datetime) -> StoredEvent:
        stored = stored_event(event, self.size)
        self._new_events.append(
            {
                "idx": stored.index,
                "id": stored.id,
                "payload": stored.payload,
                "envelope": event.envelope_json,
                "type": stored.type,
                "party": stored.party,
                "keyid": event.key,
                "seq": event.seq,
                "prev": event.prev,
                "time": stored.time,
                "recorded_at": utc_text(recorded_at),
            }
        )
        self._events[stored.id] = stored
        if stored.index == 0:
            self._genesis = stored.id
        self.size += 1
        return stored

    def genesis(self) -> str | None:
        if self._genesis is None:
            self._genesis = self.conn.scalar(select(EVENTS.c.id).where(EVENTS.c.idx == 0))
        return self._genesis

    # --- writing -----------------------------------------------------------------------

    def flush(self) -> None:
        """Write the batch: events, then each table's deletes, inserts and updates."""
        if self._new_events:
            insert_rows(self.conn, EVENTS, self._new_events)
            self._new_events = []
        for kind in PROJECTIONS:
            table = TABLES[kind]
            match = and_(*(table.c[n] == bindparam(f"k_{n}") for n in kind.KEY))
            if self._gone[kind]:
                self.conn.execute(
                    table.delete().where(match),
                    [
                        {f"k_{n}": v for n, v in zip(kind.KEY, key, strict=True)}
                        for key in self._gone[kind]
                    ],
                )
            if self._new[kind]:
                insert_rows(self.conn, table, [r.values() for r in self._new[kind].values()])
            changed = [r for k, r in self._changed[kind].items() if self._cache[kind].get(k) is r]
            if changed:
                others = [c for c in kind.columns() if c not in kind.KEY]
                statement = (
                    table.update().where(match).values({c: bindparam(f"v_{c}") for c in others})
                )
                self.conn.execute(
                    statement,
                    [
                        {
                            **{f"k_{n}": getattr(r, n) for n in kind.KEY},
                            **{f"v_{c}": getattr(r, c) for c in others},
                        }
                        for r in changed
                    ],
                )
            self._stored[kind].difference_update(self._gone[kind])
            self._gone[kind].clear()
            self._stored[kind].update(self._new[kind])
            self._new[kind].clear()
            self._changed[kind].clear()


__all__ = ["TABLES", "SqlView", "insert_rows", "record_of"]
