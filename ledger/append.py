"""Appending events: a straight pipeline of named checks, one batch per transaction.

Each event passes, in order:

1. ``parse``          — the envelope, then the payload's common fields;
2. ``signing_key``    — the key named by ``key`` is registered to ``party``;
3. ``signature``      — Ed25519 over PAE(payloadType, payload) verifies;
4. ``type fields``    — the event type's own fields (``Rule.check_fields``);
5. ``key validity``   — the key was registered at ``time`` and not revoked by then;
6. ``clock``          — ``time`` is at most five minutes in the future;
7. ``chain``          — ``seq``/``prev`` extend the key's chain exactly;
8. ``ledger``         — ``ledger`` names this ledger's genesis (absent on the genesis);
9. ``custody rules``  — the type's rules against the ledger (``Rule.apply``).

Any failure raises a ``ClientError`` naming the batch index and field, and the whole
batch is rolled back. Re-submitting an event already stored returns the stored one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ledger.checkpoint import NoteSigner
from ledger.envelope import Envelope
from ledger.errors import (
    ChainConflict,
    ClientError,
    KeyRevoked,
    NotAuthorized,
    TimeError,
    UnknownKey,
)
from ledger.fields import MAX_FUTURE, from_utc_text, utc_text
from ledger.keys import public_key_from_raw
from ledger.log import LogAppender
from ledger.payload import Event, check_ledger, parse_payload
from ledger.rules import EVENT_TYPES, RULES
from ledger.schema import KeyRow, PartyRow
from ledger.state import LedgerState, RowKey
from ledger.store import Store


@dataclass(frozen=True)
class Appended:
    id: str
    index: int
    new: bool


@dataclass(frozen=True)
class AppendResult:
    events: list[Appended]
    size: int
    checkpoint: str | None = None
    """The signed checkpoint (note text) that includes this batch, when a log key signs."""

    @property
    def created(self) -> bool:
        """True when at least one event was new (HTTP 201 rather than 200)."""
        return any(e.new for e in self.events)


def parse(envelope: Envelope | dict[str, Any]) -> Event:
    env = envelope if isinstance(envelope, Envelope) else Envelope.from_dict(envelope)
    return parse_payload(env, EVENT_TYPES)


def parse_batch(envelopes: Iterable[Envelope | dict[str, Any]]) -> list[Event]:
    """Parse every envelope before taking the write lock; errors name the batch index."""
    events = []
    for i, envelope in enumerate(envelopes):
        try:
            events.append(parse(envelope))
        except ClientError as e:
            raise e.at(i) from None
    return events


def append_batch(
    store: Store,
    envelopes: Iterable[Envelope | dict[str, Any]],
    *,
    now: datetime | None = None,
    log_signer: NoteSigner | None = None,
    merkle: bool = True,
    genesis: bool = False,
) -> AppendResult:
    """Verify and append a batch atomically: all of it, or none of it.

    Each new event also becomes a leaf of the Merkle log in the same transaction; with
    ``log_signer`` a checkpoint of the new size is signed and stored. ``merkle=False``
    exists only to measure the log's cost in benchmarks.

    ``genesis=True`` lets the batch open an empty ledger with the operator's self-signed
    registration: only ``trazo init`` and local loads of a whole ledger (the demo, the
    benchmarks) pass it, never the HTTP API — otherwise whoever posted first to a freshly
    migrated database would become its operator.
    """
    events = parse_batch(envelopes)
    with store.writing() as session:
        state = LedgerState(session)
        prefetch(events, state)
        log = LogAppender(session) if merkle else None
        clock = now or datetime.now(UTC)
        results = []
        try:
            for i, event in enumerate(events):
                stored = state.event(event.id)
                if stored is not None:
                    results.append(Appended(stored.id, stored.index, new=False))
                    continue
                try:
                    admit(event, state, clock, genesis=genesis)
                except ClientError as e:
                    raise e.at(i) from None
                row = state.record_event(event, clock)
                if log is not None:
                    log.add(row.index, event.payload)
                results.append(Appended(row.id, row.index, new=True))
        finally:
            state.close()
        note = None
        if log is not None:
            log.flush()
            if log_signer is not None and any(r.new for r in results):
                note = log.checkpoint(state.size, log_signer, clock)
        return AppendResult(results, state.size, note)


def prefetch(events: list[Event], state: LedgerState) -> None:
    """Load what a batch will read (stored duplicates, keys, parties, the rules' rows)."""
    state.preload_events([e.id for e in events])
    wanted: list[RowKey] = []
    for event in events:
        wanted.append((KeyRow, event.key))
        wanted.append((PartyRow, event.party))
        try:
            wanted.extend(RULES[event.type].prefetch(event))
        except Exception:
            continue
    state.prefetch(wanted)


def admit(event: Event, state: LedgerState, now: datetime, *, genesis: bool = False) -> None:
    """Steps 2–8 for one parsed event: raise, or update ``state`` as the event says.

    Only with ``genesis`` may an unregistered key bootstrap itself (the operator's
    self-signed registration that opens a ledger).
    """
    rule = RULES[event.type]
    key = signing_key(event, state)
    if key is not None:
        raw: bytes | None = key.public_key
    else:
        raw = rule.bootstrap_key(event, state) if genesis else None
    if raw is None:
        raise UnknownKey(
            f"key {event.key[:16]}… is not registered"
            + (" (this ledger has no operator yet: a ledger is created only by `trazo init`)"
               if state.operator() is None else ""),
            field="key",
        )
    event.envelope.verify(public_key_from_raw(raw))
    rule.check_fields(event)
    if key is not None:
        check_key_validity(event, key)
    check_clock(event, now)
    check_chain(event, key, state)
    check_ledger(event, state.genesis() if key is not None else None)
    rule.apply(event, state)
    if key is None:  # the genesis event registered its own key
        key = state.key(event.key)
        assert key is not None
        state.set_genesis(event.id)
    state.advance_head(key, event)


def signing_key(event: Event, state: LedgerState) -> KeyRow | None:
    key = state.key(event.key)
    if key is not None and key.party != event.party:
        raise NotAuthorized(
            f"key {event.key[:16]}… is registered to {key.party!r}, not {event.party!r}",
            field="key",
        )
    return key


def check_key_validity(event: Event, key: KeyRow) -> None:
    added = from_utc_text(key.added_time)
    if event.time < added:
        raise KeyRevoked(
            f"key {key.keyid[:16]}… was registered at {added.isoformat()}; it signs"
            f" nothing dated before that ({event.time.isoformat()})",
            field="time",
        )
    if key.revoked_time is not None:
        # A revoked key's signatures are no longer trusted, whatever time they claim: a
        # stolen key could otherwise keep appending events dated before its revocation.
        revoked = from_utc_text(key.revoked_time)
        raise KeyRevoked(
            f"key {key.keyid[:16]}… was revoked by {key.revoked_event} (time"
            f" {revoked.isoformat()}, {key.revoke_reason}); nothing it signs is appended"
            " after that, whatever its time",
            field="key",
            revoked_at=revoked.isoformat(),
        )


def check_clock(event: Event, now: datetime) -> None:
    if event.time > now + MAX_FUTURE:
        raise TimeError(
            f"time {event.time.isoformat()} is more than 5 minutes in the future"
            f" (ledger clock {now.isoformat(timespec='seconds')})",
            field="time",
        )


def check_chain(event: Event, key: KeyRow | None, state: LedgerState) -> None:
    head_seq = key.head_seq if key is not None else 0
    head_event = key.head_event if key is not None else None
    previous = state.event(head_event) if head_event is not None else None
    if previous is not None and event.seq == head_seq + 1 and event.prev == head_event \
            and utc_text(event.time) < previous.time:
        raise TimeError(
            f"time {event.time.isoformat()} is before the key's previous event"
            f" {head_event} ({from_utc_text(previous.time).isoformat()}): a key's events"
            " move forward in time",
            field="time",
        )
    if event.seq != head_seq + 1 or event.prev != head_event:
        raise ChainConflict(
            f"seq {event.seq} / prev {event.prev} does not extend the chain of key"
            f" {event.key[:16]}…: expected seq {head_seq + 1} and prev {head_event}",
            field="seq" if event.seq != head_seq + 1 else "prev",
            expected_seq=head_seq + 1,
            expected_prev=head_event,
        )


def append_one(
    store: Store,
    envelope: Envelope | dict[str, Any],
    *,
    now: datetime | None = None,
    log_signer: NoteSigner | None = None,
    genesis: bool = False,
) -> Appended:
    return append_batch(store, [envelope], now=now, log_signer=log_signer,
                        genesis=genesis).events[0]


__all__: Sequence[str] = ["AppendResult", "Appended", "admit", "append_batch", "parse_batch"]
