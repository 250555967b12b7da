"""The ledger as the rules see it during one append transaction.

``LedgerState`` wraps the write session: rules read what already exists (parties, keys,
events, and the projections of their own modules) and record what an accepted event
changes. Everything happens inside the caller's transaction; nothing here commits.

Rules read and write projection rows through ``get``, ``add`` and ``delete``: rows added
in this transaction are found in a cache, and primary-key reads do not flush the
session, so a batch's inserts go to the database together instead of one flush per
lookup. Rules that need a query (``select``) use ``session``, which flushes first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Table, event, func, insert, inspect, select
from sqlalchemy.orm import Session

from ledger.fields import from_utc_text, utc_text
from ledger.payload import Event
from ledger.schema import EventRow, KeyRow, MetaRow, PartyRow

T = TypeVar("T")
RowKey = tuple[type[Any], Any]
"""A projection row named by its model and primary key (a value, or a tuple)."""


@dataclass(frozen=True)
class Party:
    id: str
    name: str
    roles: frozenset[str]
    country: str
    identifiers: dict[str, str]
    event: str
    time: datetime

    @classmethod
    def from_row(cls, row: PartyRow) -> Party:
        return cls(
            id=row.id,
            name=row.name,
            roles=frozenset(json.loads(row.roles)),
            country=row.country,
            identifiers=json.loads(row.identifiers),
            event=row.event,
            time=from_utc_text(row.time),
        )


class LedgerState:
    """What the append pipeline and the rules may read and change, in one transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session
        last = session.scalar(select(func.max(EventRow.index)))
        self.size = 0 if last is None else int(last) + 1
        self._parties: dict[str, Party | None] = {}
        self._events: dict[str, EventRow] = {}
        self._operator: str | None = None
        self._genesis: str | None = None
        self._added: dict[tuple[type[Any], tuple[Any, ...]], Any] = {}
        self._added_by_model: dict[type[Any], list[Any]] = {}
        self._known: dict[tuple[type[Any], tuple[Any, ...]], Any] = {}
        self._absent_events: set[str] = set()
        self._new_events: list[dict[str, Any]] = []
        event.listen(session, "do_orm_execute", self._before_query)

    def _before_query(self, _context: Any) -> None:
        self.write_events()

    def close(self) -> None:
        """Stop listening to the session, then write what is buffered."""
        event.remove(self.session, "do_orm_execute", self._before_query)
        self.write_events()
        self._insert_pending()

    def _insert_pending(self) -> None:
        """Insert rows added in this batch and never flushed with Core executemany.

        The unit of work would do the same INSERTs one object at a time; rows that a
        query flushed earlier are persistent and keep going through it (as UPDATEs).
        """
        for model, rows in self._added_by_model.items():
            pending = [r for r in rows if inspect(r).pending]
            if not pending:
                continue
            columns = [(a.key, a.columns[0].name) for a in inspect(model).column_attrs]
            groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for row in pending:
                loaded = inspect(row).dict
                values = {name: loaded[key] for key, name in columns if key in loaded}
                groups.setdefault(tuple(values), []).append(values)
                self.session.expunge(row)
            table = cast(Table, model.__table__)
            for values_list in groups.values():
                self.session.connection().execute(insert(table), values_list)

    # --- projection rows -------------------------------------------------------------------

    def get(self, model: type[T], pk: Any) -> T | None:
        """A row by primary key (a value, or a tuple for a composite key), without a flush."""
        key = (model, pk if isinstance(pk, tuple) else (pk,))
        if key in self._added:
            found: T = self._added[key]
            return found
        row: T | None
        if key in self._known:
            row = self._known[key]
        else:
            with self.session.no_autoflush:
                row = self.session.get(model, pk)
            self._known[key] = row  # a strong reference: the identity map's are weak
        if row is not None and row in self.session.deleted:
            return None  # deleted in this transaction, not yet flushed
        return row

    def prefetch(self, wanted: Iterable[RowKey]) -> None:
        """Load many rows by primary key in a few queries; absent ones are remembered too.

        Rules name the rows they will read (``Rule.prefetch``); the pipeline asks for a
        whole batch's rows at once, so the rules' ``get`` calls then cost no query.
        """
        by_model: dict[type[Any], set[tuple[Any, ...]]] = {}
        for model, pk in wanted:
            key = pk if isinstance(pk, tuple) else (pk,)
            if (model, key) not in self._known and (model, key) not in self._added:
                by_model.setdefault(model, set()).add(key)
        for model, keys in by_model.items():
            mapper = inspect(model)
            columns = list(mapper.primary_key)
            ordered = sorted(keys, key=repr)
            for start in range(0, len(ordered), 400):
                chunk = ordered[start:start + 400]
                # one IN per key column (a superset, filtered below): row-value IN lists
                # are not served by SQLite's primary-key index
                where = [col.in_({k[i] for k in chunk}) for i, col in enumerate(columns)]
                wanted_keys = set(chunk)
                with self.session.no_autoflush:
                    for row in self.session.scalars(select(model).where(*where)):
                        key = tuple(mapper.primary_key_from_instance(row))
                        if key in wanted_keys:
                            self._known[(model, key)] = row
                for key in chunk:
                    self._known.setdefault((model, key), None)

    def find(self, model: type[T], **equal: Any) -> list[T]:
        """Rows whose columns equal ``equal``: stored ones and those added in this batch."""
        with self.session.no_autoflush:
            rows = list(self.session.scalars(select(model).filter_by(**equal)))
        seen = {id(r) for r in rows}
        for row in self._added_by_model.get(model, ()):
            if id(row) not in seen and all(
                getattr(row, name) == value for name, value in equal.items()
            ):
                rows.append(row)
        return [r for r in rows if r not in self.session.deleted]

    def add(self, row: Any) -> None:
        self.session.add(row)
        identity = tuple(inspect(type(row)).primary_key_from_instance(row))
        self._added[(type(row), identity)] = row
        self._added_by_model.setdefault(type(row), []).append(row)

    def delete(self, row: Any) -> None:
        identity = tuple(inspect(type(row)).primary_key_from_instance(row))
        self._added.pop((type(row), identity), None)
        self._known.pop((type(row), identity), None)
        self.session.delete(row)

    def preload_events(self, ids: list[str]) -> None:
        """Look up which of a batch's events are stored already, in one query per 500."""
        for start in range(0, len(ids), 500):
            with self.session.no_autoflush:
                for row in self.session.scalars(
                    select(EventRow).where(EventRow.id.in_(ids[start:start + 500]))
                ):
                    self._events[row.id] = row
        self._absent_events.update(i for i in ids if i not in self._events)

    # --- ledger-wide ---------------------------------------------------------------------

    def operator(self) -> str | None:
        """The party id of the ledger operator, set by the genesis ``party.register``."""
        if self._operator is None:
            row = self.get(MetaRow, "operator")
            self._operator = row.value if row else None
        return self._operator

    def genesis(self) -> str | None:
        """The id of the ledger's first event (index 0): every later event names it.

        Read from the insert-only events table, not from a projection.
        """
        if self._genesis is None:
            with self.session.no_autoflush:
                self._genesis = self.session.scalar(
                    select(EventRow.id).where(EventRow.index == 0))
        return self._genesis

    def set_genesis(self, event_id: str) -> None:
        self._genesis = event_id

    def set_operator(self, party: str) -> None:
        self.add(MetaRow(name="operator", value=party))
        self._operator = party

    # --- events --------------------------------------------------------------------------

    def event(self, event_id: str) -> EventRow | None:
        """A stored event, or one appended earlier in this batch."""
        row = self._events.get(event_id)
        if row is None and event_id not in self._absent_events:
            with self.session.no_autoflush:  # events of this batch are in the cache
                row = self.session.scalar(select(EventRow).where(EventRow.id == event_id))
            if row is not None:
                self._events[event_id] = row
        return row

    def record_event(self, event: Event, recorded_at: datetime) -> EventRow:
        row = EventRow(
            index=self.size,
            id=event.id,
            payload=event.payload,
            envelope=event.envelope.to_json(),
            type=event.type,
            party=event.party,
            keyid=event.key,
            seq=event.seq,
            prev=event.prev,
            time=utc_text(event.time),
            recorded_at=utc_text(recorded_at),
        )
        # Events are insert-only and never read back through the session in a batch: they
        # are written with one Core INSERT (see ``write_events``), not the unit of work.
        self._new_events.append({
            "idx": row.index, "id": row.id, "payload": row.payload, "envelope": row.envelope,
            "type": row.type, "party": row.party, "keyid": row.keyid, "seq": row.seq,
            "prev": row.prev, "time": row.time, "recorded_at": row.recorded_at,
        })
        self._events[event.id] = row
        self.size += 1
        return row

    def write_events(self) -> None:
        """Insert the events recorded so far (before any query that could need them)."""
        if self._new_events:
            rows, self._new_events = self._new_events, []
            self.session.connection().execute(insert(cast(Table, EventRow.__table__)), rows)

    # --- parties and keys ----------------------------------------------------------------

    def party(self, party_id: str) -> Party | None:
        if party_id not in self._parties:
            row = self.get(PartyRow, party_id)
            self._parties[party_id] = Party.from_row(row) if row else None
        return self._parties[party_id]

    def add_party(
        self,
        event: Event,
        *,
        subject: str,
        name: str,
        roles: list[str],
        country: str,
        identifiers: dict[str, Any],
    ) -> None:
        self.add(
            PartyRow(
                id=subject,
                name=name,
                roles=json.dumps(sorted(roles)),
                country=country,
                identifiers=json.dumps(identifiers, sort_keys=True),
                event=event.id,
                time=utc_text(event.time),
            )
        )
        self._parties.pop(subject, None)

    def key(self, keyid: str) -> KeyRow | None:
        return self.get(KeyRow, keyid)

    def add_key(self, event: Event, *, party: str, public_key: bytes, keyid: str) -> KeyRow:
        row = KeyRow(
            keyid=keyid,
            party=party,
            public_key=public_key,
            added_event=event.id,
            added_time=utc_text(event.time),
            head_seq=0,
            head_event=None,
        )
        self.add(row)
        return row

    def revoke_key(self, event: Event, key: KeyRow, reason: str) -> None:
        key.revoked_event = event.id
        key.revoked_time = utc_text(event.time)
        key.revoke_reason = reason

    def advance_head(self, key: KeyRow, event: Event) -> None:
        key.head_seq = event.seq
        key.head_event = event.id
