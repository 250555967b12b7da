"""Appending events: one batch per transaction, signatures checked before the lock.

A batch is parsed (envelope, then the payload's common fields) and, for every event
whose key is already registered, its signature verified and its fields read
(``engine.precheck``) before the ledger's write lock is taken: workers verify in
parallel and only the rules and the writes are serialized. Under the lock each event
passes ``ledger.engine.admit`` over a ``SqlView``; the batch's events, projection rows
and Merkle nodes are written together at its end.

Any failure raises a ``ClientError`` naming the batch index and field, and the whole
batch is rolled back. Re-submitting an event already stored returns the stored one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from ledger.checkpoint import NoteSigner
from ledger.engine import Prechecked, admit, precheck_many
from ledger.envelope import Envelope
from ledger.errors import ClientError
from ledger.log import LogAppender, note_at
from ledger.payload import Event, parse_payload
from ledger.records import Key, Party
from ledger.rules import EVENT_TYPES, RULES
from ledger.sqlview import TABLES, SqlView
from ledger.store import Store
from ledger.view import Wanted

KEYS = TABLES[Key]


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
    dry_run: bool = False,
) -> AppendResult:
    """Verify and append a batch atomically: all of it, or none of it.

    Each new event also becomes a leaf of the Merkle log in the same transaction; with
    ``log_signer`` a checkpoint of the new size is signed and stored. ``merkle=False``
    exists only to measure the log's cost in benchmarks.

    ``genesis=True`` lets the batch open an empty ledger with the operator's self-signed
    registration: only ``trazo init`` and local loads of a whole ledger (the demo, the
    benchmarks) pass it, never the HTTP API — otherwise whoever posted first to a freshly
    migrated database would become its operator.

    ``dry_run=True`` runs all of it — parsing, signatures, every rule, the writes — in a
    transaction that is rolled back, and signs no checkpoint: it answers exactly what an
    append would, and leaves the ledger as it was (``check_batch``).
    """
    events = parse_batch(envelopes)
    checked = precheck_batch(store, events)
    for event in events:  # what can be made outside the lock is made here
        _ = event.envelope_json, event.time_text
    with store.trial() if dry_run else store.writing() as session:
        view = SqlView(session.connection())
        view.preload_events([e.id for e in events])
        view.prefetch(_wanted(events, checked))
        log = LogAppender(session) if merkle else None
        clock = now or datetime.now(UTC)
        results = []
        for i, event in enumerate(events):
            stored = view.event(event.id)
            if stored is not None:
                done = checked.get(i)
                if done is not None and done.error is not None and done.error.step == "signature":
                    # the payload is stored, but this envelope's signature is forged: the
                    # ledger does not confirm it as "already appended"
                    raise done.error.at(i)
                results.append(Appended(stored.id, stored.index, new=False))
                continue
            try:
                admit(event, view, clock, genesis=genesis, prechecked=checked.get(i))
            except ClientError as e:
                raise e.at(i) from None
            row = view.record_event(event, clock)
            if log is not None:
                log.add(row.index, event.payload)
            results.append(Appended(row.id, row.index, new=True))
        view.flush()
        note = None
        if log is not None:
            log.flush()
            if dry_run:
                pass
            elif log_signer is not None and any(r.new for r in results):
                note = log.checkpoint(view.size, log_signer, clock)
            elif log_signer is not None and results:
                note = _resubmission_note(session, log, view.size, log_signer, clock)
        return AppendResult(results, view.size, note)


def _resubmission_note(
    session: Any, log: LogAppender, size: int, signer: NoteSigner, now: datetime
) -> str | None:
    """For a batch that was all stored already: a checkpoint of the whole log, so of every
    event in it — the one stored at this size, or a new one when the appends that led
    here went unsigned; None when the stored one is another origin's."""
    stored = note_at(session, size)
    if stored is None:
        return log.checkpoint(size, signer, now)
    return stored if stored.split("\n", 1)[0] == signer.name else None


def precheck_batch(store: Store, events: list[Event]) -> dict[int, Prechecked]:
    """Signatures and fields of the events whose key is registered, outside the lock.

    A key registered earlier in the same batch is not found here: its events are
    verified under the lock. A key's bytes never change (its id is their hash), and
    ``admit`` uses this result only for the very bytes it finds registered.
    """
    keyids = sorted({e.key for e in events})
    raws: dict[str, bytes] = {}
    with store.reading() as session:
        conn = session.connection()
        for start in range(0, len(keyids), 500):
            for keyid, raw in conn.execute(
                select(KEYS.c.keyid, KEYS.c.public_key).where(
                    KEYS.c.keyid.in_(keyids[start : start + 500])
                )
            ):
                raws[keyid] = bytes(raw)
    return precheck_many(events, raws)


def _wanted(events: list[Event], checked: dict[int, Prechecked]) -> list[Wanted]:
    """The records a batch will read: keys, parties and what each rule names."""
    wanted: list[Wanted] = []
    for i, event in enumerate(events):
        wanted.append((Key, event.key))
        wanted.append((Party, event.party))
        done = checked.get(i)
        if done is not None and done.error is None:
            wanted.extend(RULES[event.type].prefetch(event, done.body))
    return wanted


def check_batch(
    store: Store, envelopes: Iterable[Envelope | dict[str, Any]], *, now: datetime | None = None
) -> AppendResult:
    """What ``append_batch`` would answer for this batch, appending nothing: the same
    ``AppendResult`` (``new`` marks what would be appended), or the same ``ClientError``
    with the batch index and field."""
    return append_batch(store, envelopes, now=now, dry_run=True)


def append_one(
    store: Store,
    envelope: Envelope | dict[str, Any],
    *,
    now: datetime | None = None,
    log_signer: NoteSigner | None = None,
    genesis: bool = False,
) -> Appended:
    return append_batch(store, [envelope], now=now, log_signer=log_signer, genesis=genesis).events[
        0
    ]


__all__: Sequence[str] = ["AppendResult", "Appended", "append_batch", "check_batch", "parse_batch"]
