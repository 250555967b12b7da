"""The custody engine: one event admitted against a ``LedgerView``, as a straight pipeline.

Each event passes, in order:

1. ``signing_key``    — the key named by ``key`` is registered to ``party`` (or, only
                        for a ledger's genesis, the event registers its own key);
2. ``signature``      — Ed25519 over PAE(payloadType, payload) verifies;
3. ``type fields``    — the event type's own fields (``Rule.check_fields``);
4. ``key validity``   — the key was registered by ``time`` and is not revoked;
5. ``clock``          — ``time`` is at most five minutes past the ledger clock;
6. ``chain``          — ``seq``/``prev`` extend the key's chain exactly;
7. ``ledger``         — ``ledger`` names this ledger's genesis (absent on the genesis);
8. ``custody rules``  — the type's rules against the ledger (``Rule.apply``).

The same function admits events on append (over ``SqlView``), on rebuild and audit
(over a ``MemoryView`` of the stored bytes) and in ``trazo verify`` (over a bundle's
evidence, where the clock is not checked and a chain may have gaps — events of a key
that the bundle does not carry). Nothing here touches a database.

Steps 2 and 3 depend on the event and the key's bytes only: ``precheck`` runs them
before the append lock, and ``admit`` takes its result instead of running them again.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from ledger.errors import (
    ChainConflict,
    ClientError,
    KeyRevoked,
    NotAuthorized,
    TimeError,
    UnknownKey,
)
from ledger.fields import MAX_FUTURE, from_utc_text
from ledger.keys import public_key_from_raw
from ledger.payload import Event, check_ledger
from ledger.records import Key
from ledger.rules import RULES
from ledger.rules.base import AnyRule
from ledger.view import LedgerView, operator


@dataclass(frozen=True)
class Prechecked:
    """Steps 2–3 of one event, done with ``raw`` before the lock."""

    raw: bytes
    body: Any = None
    error: ClientError | None = None
    """The signature's or the fields' error, raised by ``admit`` at its own step."""


def precheck(event: Event, raw: bytes) -> Prechecked:
    """Verify the signature with ``raw`` and read the type's fields; never raises."""
    try:
        event.envelope.verify(public_key_from_raw(raw))
    except ClientError as e:
        e.step = "signature"
        return Prechecked(raw, error=e)
    try:
        return Prechecked(raw, body=RULES[event.type].check_fields(event))
    except ClientError as e:
        e.step = "fields"
        return Prechecked(raw, error=e)


def precheck_many(events: list[Event], raws: dict[str, bytes]) -> dict[int, Prechecked]:
    """``precheck`` of every event whose key's bytes are in ``raws`` (by keyid), by
    position; on every core, since Ed25519 verification releases the GIL."""
    known = [(i, e) for i, e in enumerate(events) if e.key in raws]
    parts = [known[n::WORKERS] for n in range(WORKERS)]
    checked: dict[int, Prechecked] = {}
    for part in _pool().map(lambda items: [(i, precheck(e, raws[e.key])) for i, e in items], parts):
        checked.update(part)
    return checked


WORKERS = max(1, min(4, os.cpu_count() or 1))


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(WORKERS, thread_name_prefix="trazo-verify")


def admit(
    event: Event,
    view: LedgerView,
    now: datetime | None,
    *,
    genesis: bool = False,
    prechecked: Prechecked | None = None,
) -> None:
    """Raise the first step that fails, or apply the event to ``view``.

    ``now`` is the ledger clock (None: not checked, for a bundle's evidence). Only with
    ``genesis`` may an unregistered key bootstrap itself (the operator's self-signed
    registration that opens a ledger). The caller records the event afterwards.
    """
    steps = ["key"]
    try:
        _admit(event, view, now, genesis, prechecked, RULES[event.type], steps)
    except ClientError as e:
        e.step = steps[-1]
        raise


STEPS = ("key", "signature", "fields", "key validity", "clock", "chain", "ledger", "rules")
"""The names of ``admit``'s steps, as ``LedgerError.step`` gives them."""


def _admit(
    event: Event,
    view: LedgerView,
    now: datetime | None,
    genesis: bool,
    prechecked: Prechecked | None,
    rule: AnyRule,
    steps: list[str],
) -> None:
    key = signing_key(event, view)
    body: Any = None
    if key is not None:
        raw: bytes | None = key.public_key
    else:
        raw = None
        if genesis:
            steps.append("fields")
            body = rule.check_fields(event)
            raw = rule.bootstrap_key(event, body, view)
            steps.append("key")
        if raw is None:
            raise UnknownKey(
                f"key {event.key[:16]}… is not registered"
                + (
                    " (this ledger has no operator yet: a ledger is created only by `trazo init`)"
                    if operator(view) is None
                    else ""
                ),
                field="key",
            )
    steps.append("signature")
    assert raw is not None
    if prechecked is not None and prechecked.raw == raw:
        if prechecked.error is not None:
            if prechecked.error.step == "fields":
                steps.append("fields")
            raise prechecked.error
        body = prechecked.body
    else:
        event.envelope.verify(public_key_from_raw(raw))
        if body is None:
            steps.append("fields")
            body = rule.check_fields(event)
    if key is not None:
        steps.append("key validity")
        check_key_validity(event, key)
    if now is not None:
        steps.append("clock")
        check_clock(event, now)
    steps.append("chain")
    check_chain(event, key, view)
    steps.append("ledger")
    check_ledger(event, view.genesis() if key is not None else None)
    steps.append("rules")
    rule.apply(event, body, view)
    if key is None:  # the genesis event registered its own key
        key = view.get(Key, event.key)
        assert key is not None
    view.update(key, head_seq=event.seq, head_event=event.id)


def keep_chain(event: Event, view: LedgerView) -> None:
    """After a refusal that is reported rather than raised (an audit, a bundle), move the
    key's chain to the refused event anyway: it is in the log, and the key's later events
    are judged on their own instead of all failing after it."""
    key = view.get(Key, event.key)
    if key is not None and key.party == event.party and event.seq > key.head_seq:
        view.update(key, head_seq=event.seq, head_event=event.id)


def signing_key(event: Event, view: LedgerView) -> Key | None:
    key = view.get(Key, event.key)
    if key is not None and key.party != event.party:
        raise NotAuthorized(
            f"key {event.key[:16]}… is registered to {key.party!r}, not {event.party!r}",
            field="key",
        )
    return key


def check_key_validity(event: Event, key: Key) -> None:
    """The one decision of whether a key signs an event: registered by then, not revoked."""
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


def check_chain(event: Event, key: Key | None, view: LedgerView) -> None:
    """``seq``/``prev`` extend the key's chain, forward in time.

    Over a bundle (``view.complete`` False) a chain may skip seqs the bundle does not
    carry; where consecutive events are both present, ``prev`` must link them.
    """
    head_seq = key.head_seq if key is not None else 0
    head_event = key.head_event if key is not None else None
    previous = view.event(head_event) if head_event is not None else None
    gap = not view.complete and event.seq > head_seq + 1
    if (
        previous is not None
        and (gap or (event.seq == head_seq + 1 and event.prev == head_event))
        and event.time_text < previous.time
    ):
        raise TimeError(
            f"time {event.time.isoformat()} is before the key's previous event"
            f" {head_event} ({from_utc_text(previous.time).isoformat()}): a key's events"
            " move forward in time",
            field="time",
        )
    if gap:
        # a gap is events the bundle does not carry: ``prev`` must then be one of them too.
        # A ``prev`` the evidence holds sits at or below the head, so the chain would claim
        # seqs that never were (a signer skipping ahead to look like a later link)
        if event.prev is not None and view.event(event.prev) is not None:
            raise ChainConflict(
                f"seq {event.seq} skips seqs {head_seq + 1}–{event.seq - 1} of key"
                f" {event.key[:16]}…, yet its prev {event.prev} is an event the bundle"
                " carries: a chain's prev is the event of seq − 1",
                field="prev",
                expected_seq=head_seq + 1,
                expected_prev=head_event,
            )
        return
    if event.seq != head_seq + 1 or event.prev != head_event:
        raise ChainConflict(
            f"seq {event.seq} / prev {event.prev} does not extend the chain of key"
            f" {event.key[:16]}…: expected seq {head_seq + 1} and prev {head_event} (the key's"
            f" last event in the ledger is seq {head_seq}: `trazo sign --seq {head_seq} --prev"
            " …` continues it, `trazo outbox resync` re-signs a key's outbox onto it)",
            field="seq" if event.seq != head_seq + 1 else "prev",
            expected_seq=head_seq + 1,
            expected_prev=head_event,
        )


__all__ = [
    "Prechecked",
    "admit",
    "check_chain",
    "check_clock",
    "check_key_validity",
    "keep_chain",
    "precheck",
    "signing_key",
]
