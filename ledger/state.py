"""The ledger as the rules see it during one append transaction.

``LedgerState`` wraps the write session: rules read what already exists (parties, keys,
events, and the projections of their own modules) and record what an accepted event
changes. Everything happens inside the caller's transaction; nothing here commits.
Rules of later event types reach their own projection tables through ``session``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.fields import from_utc_text, utc_text
from ledger.payload import Event
from ledger.schema import EventRow, KeyRow, MetaRow, PartyRow


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

    # --- ledger-wide ---------------------------------------------------------------------

    def operator(self) -> str | None:
        """The party id of the ledger operator, set by the genesis ``party.register``."""
        if self._operator is None:
            row = self.session.get(MetaRow, "operator")
            self._operator = row.value if row else None
        return self._operator

    def set_operator(self, party: str) -> None:
        self.session.add(MetaRow(name="operator", value=party))
        self._operator = party

    # --- events --------------------------------------------------------------------------

    def event(self, event_id: str) -> EventRow | None:
        """A stored event, or one appended earlier in this batch."""
        row = self._events.get(event_id)
        if row is None:
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
        self.session.add(row)
        self._events[event.id] = row
        self.size += 1
        return row

    # --- parties and keys ----------------------------------------------------------------

    def party(self, party_id: str) -> Party | None:
        if party_id not in self._parties:
            row = self.session.get(PartyRow, party_id)
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
        self.session.add(
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
        return self.session.get(KeyRow, keyid)

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
        self.session.add(row)
        return row

    def revoke_key(self, event: Event, key: KeyRow, reason: str) -> None:
        key.revoked_event = event.id
        key.revoked_time = utc_text(event.time)
        key.revoke_reason = reason

    def advance_head(self, key: KeyRow, event: Event) -> None:
        key.head_seq = event.seq
        key.head_event = event.id
