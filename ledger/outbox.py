"""A signer's outbox: events signed offline, kept until the ledger has them.

One SQLite file per key (``NAME.outbox.db`` beside ``NAME.key``) holds the key's chain
head as this signer knows it and every event it signed, in queue order, each with a
status:

``pending``
    signed onto the chain, waiting to be sent;
``sent``
    in the ledger (``ledger_index``);
``set_aside``
    the ledger refused it (``reason`` is its problem detail); fix it with
    :meth:`Outbox.replace` or abandon it with :meth:`Outbox.drop`;
``blocked``
    it names, directly or through others, an event that is set aside, blocked or
    dropped: it is not sent until that is resolved;
``replaced``, ``dropped``
    resolved: replaced by a corrected event (``renames`` maps the old id to the new), or
    abandoned.

Signing and writing happen in one SQLite transaction, so a signer killed mid-way leaves
either the whole entry with the head advanced, or nothing: the head is never ahead of
what the outbox holds. When an event leaves the chain (set aside, dropped) the pending
events after it are re-signed onto the chain's real head, and every reference to a
re-signed event's id in a later event is rewritten to the new id (``renames``). The same
happens when the ledger's head of the key moved on without this outbox (a second device,
a restored backup): the pending events are re-signed onto it.

Sending goes through a :class:`Ledger` (the local database, or a server over HTTP, in
``api/cli``); a re-sent batch is safe, the ledger acknowledges events it already holds.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from ledger.envelope import Envelope, keyid_of, sign
from ledger.errors import ClientError, InvalidEvent, LedgerError, LedgerFault
from ledger.fields import EVENT_ID_PATTERN
from ledger.keys import load_private_key
from ledger.payload import LEDGER_FIELD, SCHEMA_VERSION, dumps_payload, loads_strict

PENDING, SENT, SET_ASIDE, BLOCKED = "pending", "sent", "set_aside", "blocked"
REPLACED, DROPPED = "replaced", "dropped"
UNRESOLVED = frozenset({SET_ASIDE, BLOCKED, DROPPED})
"""Statuses of an event that is not (and may never be) on the chain."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS head (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    keyid TEXT NOT NULL,
    party TEXT,
    ledger TEXT,
    seq INTEGER NOT NULL,
    prev TEXT,
    prev_time TEXT
);
CREATE TABLE IF NOT EXISTS entries (
    position INTEGER NOT NULL UNIQUE,
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    envelope TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN
        ('pending', 'sent', 'set_aside', 'blocked', 'replaced', 'dropped')),
    reason TEXT,
    ledger_index INTEGER
);
CREATE TABLE IF NOT EXISTS renames (old TEXT PRIMARY KEY, new TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS epcis_imports (hash TEXT PRIMARY KEY, event TEXT NOT NULL);
"""


class OutboxError(ClientError):
    """The outbox cannot do what was asked (no such entry, wrong key, not set aside…)."""

    title = "Outbox error"
    exit_code = 2


class Unreachable(LedgerFault):
    """The ledger did not answer; nothing is lost: send again later."""

    title = "Ledger unreachable"
    exit_code = 2


@dataclass(frozen=True)
class Entry:
    position: int
    id: str
    seq: int
    envelope: str
    status: str
    reason: str | None
    ledger_index: int | None

    @property
    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = loads_strict(Envelope.from_json(self.envelope).payload)
        return body

    @property
    def type(self) -> str:
        return str(self.payload.get("type"))


@dataclass(frozen=True)
class Refused:
    """The ledger's answer to a batch it would not append: the problem document
    (``ledger.errors.LedgerError.problem``) and the batch index it names, if any."""

    problem: dict[str, Any]

    @property
    def index(self) -> int | None:
        for item in self.problem.get("errors") or []:
            if isinstance(item.get("index"), int):
                return int(item["index"])
        return None

    @property
    def about_the_key(self) -> bool:
        """The key cannot sign at all (unknown, revoked): nothing is set aside for it."""
        kind = str(self.problem.get("type", ""))
        return kind.endswith(("/unknown-key", "/key-revoked"))

    @property
    def chain_conflict(self) -> bool:
        """The event does not extend the ledger's chain of the key (it moved on)."""
        return str(self.problem.get("type", "")).endswith("/chain-conflict")

    def __str__(self) -> str:
        return str(self.problem.get("detail") or self.problem.get("title") or "refused")


class Ledger(Protocol):
    """Where an outbox sends: the local database or a server (``api.cli.outbox``)."""

    def append(self, envelopes: list[dict[str, Any]]) -> list[int] | Refused:
        """Append the batch (all or nothing): the ledger index of each, or the refusal.
        Raises :class:`Unreachable` when the ledger does not answer."""
        ...

    def check(self, envelopes: list[dict[str, Any]]) -> list[int] | Refused:
        """What ``append`` would answer, appending nothing."""
        ...

    def head(self, keyid: str) -> Head | None:
        """The ledger's head of the key; None for an unknown key."""
        ...

    def has(self, event_id: str) -> bool: ...


@dataclass(frozen=True)
class Head:
    """A key's chain head: the last ``seq``, its event's id and time (the next event of
    the key continues it, no earlier in time)."""

    seq: int
    prev: str | None
    time: str | None = None
    party: str | None = None


@dataclass
class Submitted:
    sent: int = 0
    landed: list[tuple[int, str]] = field(default_factory=list)
    """``(ledger index, event id)`` of every event sent, in order."""
    set_aside: list[Entry] = field(default_factory=list)
    resigned: int = 0
    blocked: int = 0


def outbox_path_for(key_file: Path) -> Path:
    stem = key_file.name[:-4] if key_file.name.endswith(".key") else key_file.name
    return key_file.with_name(f"{stem}.outbox.db")


class Outbox:
    """The outbox of one key. ``key_file`` is needed to sign (and re-sign)."""

    def __init__(self, key_file: Path, path: Path | None = None) -> None:
        self.key_file = Path(key_file)
        self.private_key = load_private_key(self.key_file)
        self.keyid = keyid_of(self.private_key.public_key())
        self.path = path or outbox_path_for(self.key_file)
        self.unchecked: str | None = None
        """Why the last ``sign(check=…)`` could not judge the event, if it could not."""
        self._batch = False
        self._signed: list[Envelope] = []
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a power cut keeps what was signed
        self._db.executescript(_SCHEMA)
        with self._transaction():
            row = self._db.execute("SELECT keyid FROM head").fetchone()
            if row is None:
                old = _chain_state(self.key_file, self.keyid)
                self._db.execute(
                    "INSERT INTO head (one, keyid, party, ledger, seq, prev)"
                    " VALUES (1, ?, ?, ?, ?, ?)",
                    (
                        self.keyid,
                        old.get("party"),
                        old.get(LEDGER_FIELD),
                        old.get("seq", 0),
                        old.get("prev"),
                    ),
                )
            elif row[0] != self.keyid:
                raise OutboxError(f"{self.path} is the outbox of key {row[0]}, not {self.keyid}")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        if self._batch:  # inside ``batch()``: its one transaction
            yield
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- reading ---------------------------------------------------------------------------

    def head(self) -> dict[str, Any]:
        keyid, party, ledger, seq, prev = self._db.execute(
            "SELECT keyid, party, ledger, seq, prev FROM head"
        ).fetchone()
        return {"keyid": keyid, "party": party, LEDGER_FIELD: ledger, "seq": seq, "prev": prev}

    def entries(self, *statuses: str) -> list[Entry]:
        sql = "SELECT position, id, seq, envelope, status, reason, ledger_index FROM entries"
        args: Sequence[str] = ()
        if statuses:
            sql += f" WHERE status IN ({', '.join('?' * len(statuses))})"
            args = statuses
        return [Entry(*row) for row in self._db.execute(sql + " ORDER BY position", args)]

    def entry(self, event_id: str) -> Entry:
        """The entry by id (or an id it had before it was re-signed), or by a unique prefix
        of its hex digest."""
        wanted = event_id if event_id.startswith("sha256:") else f"sha256:{event_id}"
        found = [e for e in self.entries() if e.id.startswith(wanted)]
        if not found:  # an id it had before it was re-signed
            found = [e for e in self.entries() if e.id == self.current_id(wanted)]
        if len(found) != 1:
            raise OutboxError(
                f"no event {event_id} in the outbox {self.path}"
                if not found
                else f"{event_id} is the start of {len(found)} ids: give more of it"
            )
        return found[0]

    def current_id(self, event_id: str) -> str:
        """What an id refers to now: followed through re-signings and replacements."""
        seen = set()
        while event_id not in seen:
            seen.add(event_id)
            row = self._db.execute("SELECT new FROM renames WHERE old = ?", (event_id,)).fetchone()
            if row is None:
                return event_id
            event_id = row[0]
        return event_id

    def waits_for(self, entry: Entry) -> list[Entry]:
        """The unresolved entries (set aside, blocked, dropped) this one names."""
        return self._unresolved_in(entry.payload, entry.id)

    def _unresolved_in(self, payload: dict[str, Any], own_id: str | None = None) -> list[Entry]:
        named = {self.current_id(i) for i in _ids_in(payload, skip=("prev",))}
        named.discard(own_id)
        return [e for e in self.entries(*UNRESOLVED) if e.id in named]

    def depends_on(self, entry: Entry) -> list[Entry]:
        """Entries that name this one (directly, or through entries that name it)."""
        found: list[Entry] = []
        frontier = {entry.id}
        for later in self.entries():
            if later.position <= entry.position or later.status in (SENT, REPLACED):
                continue
            named = {self.current_id(i) for i in _ids_in(later.payload, skip=("prev",))}
            if named & frontier:
                found.append(later)
                frontier.add(later.id)
        return found

    # --- signing -------------------------------------------------------------------------

    def sign(
        self,
        body: dict[str, Any],
        *,
        ledger: str | None = None,
        head: tuple[int, str | None] | None = None,
        check: Ledger | None = None,
    ) -> Envelope:
        """Sign ``body`` onto the chain and queue it as pending, in one transaction.

        ``head`` restarts the chain from a known ledger head ``(seq, event id)``.
        With ``check`` (a reachable ledger) the pending events and this one are dry-run
        first, and a refusal of this one raises the ledger's own error: nothing queued.
        """
        with self._transaction():
            state = self.head()
            if head is not None:
                waiting = self.entries(PENDING, BLOCKED, SET_ASIDE)
                if waiting:
                    raise OutboxError(
                        f"{len(waiting)} event(s) of this key wait in its outbox: restarting the"
                        " chain under them would fork it; `trazo outbox resync URL` moves them"
                        " onto the ledger's head instead"
                    )
                state["seq"], state["prev"] = head
            party = body.get("party") or state["party"]
            if not party:
                raise InvalidEvent(
                    "the payload names no party, and the key's outbox knows none", field="party"
                )
            bound = body.get(LEDGER_FIELD) or ledger or state[LEDGER_FIELD]
            if not bound:
                raise InvalidEvent(
                    "which ledger is this event for? Pass --ledger with the ledger's genesis id"
                    " (`trazo init` prints it; GET /api/v1/health shows it): the key's outbox"
                    f" {self.path} keeps it from then on",
                    field=LEDGER_FIELD,
                )
            if not isinstance(party, str):
                raise InvalidEvent("party must be a party id (a string)", field="party")
            if not (isinstance(bound, str) and EVENT_ID_PATTERN.fullmatch(bound)):
                raise InvalidEvent(
                    f"ledger must be the ledger's genesis id (sha256:<64 hex>), not {bound!r}",
                    field=LEDGER_FIELD,
                )
            payload = _rewrite(dict(body), self.current_id, skip=("prev",))
            waits = self._unresolved_in(payload)
            if waits:
                raise OutboxError(
                    f"this event names {_waiting_reason(waits).removeprefix('waits for ')}:"
                    " replace (or drop) that one first, then sign this"
                )
            payload.setdefault("schema", SCHEMA_VERSION)
            # to the millisecond: an event signed right after its key was registered is
            # not dated before the registration
            payload.setdefault(
                "time", datetime.now().astimezone().isoformat(timespec="milliseconds")
            )
            if payload.get("type") == "plot.map":
                from ledger.signer import add_nonce

                add_nonce(payload)
            payload.update(party=party, ledger=bound)
            if head is not None:
                self._db.execute(
                    "UPDATE head SET seq = ?, prev = ?, prev_time = NULL", (head[0], head[1])
                )
            envelope = self._sign(payload, state["seq"] + 1, state["prev"], redate=False)
            if check is not None:
                batch = [json.loads(e.envelope) for e in self.entries(PENDING)]
                answer = check.check([*batch, envelope.to_dict()])
                self.unchecked = None
                if isinstance(answer, Refused) and answer.chain_conflict:
                    # the key moved on elsewhere: submit re-signs; the content is not judged
                    self.unchecked = "the key's chain moved on in the ledger (another device)"
                elif isinstance(answer, Refused) and answer.index == len(batch):
                    raise _refusal_error(answer)
                elif isinstance(answer, Refused):
                    self.unchecked = "an earlier pending event would be refused"
            self._db.execute(
                "UPDATE head SET party = ?, ledger = ?, seq = ?, prev = ?",
                (party, bound, state["seq"] + 1, envelope.id),
            )
            self._insert(envelope, state["seq"] + 1, PENDING)
        if self._batch:
            self._signed.append(envelope)
        return envelope

    @contextmanager
    def batch(self, check: Ledger | None = None) -> Iterator[list[Envelope]]:
        """Sign several events as one: everything ``sign``ed inside is queued when the
        block ends, or nothing is (an exception, or ``check``'s dry run refusing one of
        them: a ``BatchRefused`` naming its position in the batch). Yields the list the
        signed envelopes are collected in."""
        signed: list[Envelope] = []
        self._db.execute("BEGIN IMMEDIATE")
        self._batch = True
        try:
            before = len(self.entries(PENDING))
            self._signed = signed
            yield signed
            if check is not None and signed:
                pending = [json.loads(e.envelope) for e in self.entries(PENDING)]
                answer = check.check(pending)
                if isinstance(answer, Refused):
                    at = answer.index
                    raise BatchRefused(
                        answer, at - before if at is not None and at >= before else None
                    )
        except BaseException:
            self._batch = False
            self._db.execute("ROLLBACK")
            raise
        self._batch = False
        self._db.execute("COMMIT")

    def imported(self, epcis_hash: str) -> str | None:
        """The event an EPCIS event of this hash was imported as (``trazo epcis import``)."""
        row = self._db.execute(
            "SELECT event FROM epcis_imports WHERE hash = ?", (epcis_hash,)
        ).fetchone()
        return None if row is None else str(row[0])

    def record_import(self, epcis_hash: str, event_id: str) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT INTO epcis_imports (hash, event) VALUES (?, ?)", (epcis_hash, event_id)
            )

    def record_sent(self, envelope: Envelope, index: int) -> None:
        """Keep an event that is already in the ledger (the genesis ``trazo init`` wrote)."""
        payload = loads_strict(envelope.payload)
        with self._transaction():
            self._db.execute(
                "UPDATE head SET party = ?, ledger = ?, seq = ?, prev = ?",
                (
                    payload["party"],
                    payload.get(LEDGER_FIELD) or envelope.id,
                    payload["seq"],
                    envelope.id,
                ),
            )
            self._insert(envelope, payload["seq"], SENT, ledger_index=index)

    def _sign(
        self, payload: dict[str, Any], seq: int, prev: str | None, *, redate: bool = True
    ) -> Envelope:
        """Sign onto ``(seq, prev)``. A re-signed event (``redate``) that would go back in
        time before the event it now follows takes that event's time: a key's events move
        forward in time (the ledger refuses anything else)."""
        payload = dict(payload, key=self.keyid, seq=seq, prev=prev)
        after = self._time_of(prev) if redate and prev else None
        if after is not None and _instant(str(payload.get("time"))) < _instant(after):
            payload["time"] = after
        return sign(dumps_payload(payload), self.private_key)

    def _time_of(self, event_id: str) -> str | None:
        row = self._db.execute("SELECT envelope FROM entries WHERE id = ?", (event_id,)).fetchone()
        if row is not None:
            return str(loads_strict(Envelope.from_json(row[0]).payload).get("time"))
        row = self._db.execute("SELECT prev_time FROM head WHERE prev = ?", (event_id,)).fetchone()
        return None if row is None else row[0]

    def _insert(
        self, envelope: Envelope, seq: int, status: str, *, ledger_index: int | None = None
    ) -> None:
        last = self._last_position()
        self._db.execute(
            "INSERT INTO entries (position, id, seq, envelope, status, ledger_index)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (last + 1, envelope.id, seq, envelope.to_json(), status, ledger_index),
        )

    # --- re-chaining ---------------------------------------------------------------------

    def _rechain(self, base: Head, after: int) -> int:
        """Re-sign every pending entry past ``after`` (a position) onto ``base``, and block
        the ones that wait for an unresolved entry; returns how many were re-signed."""
        seq, prev = base.seq, base.prev
        self._db.execute(
            "UPDATE head SET seq = ?, prev = ?, prev_time = ?", (base.seq, base.prev, base.time)
        )
        resigned = 0
        for entry in self.entries(PENDING, BLOCKED):
            if entry.position <= after:
                continue
            waits = self.waits_for(entry)
            if waits:
                self._set(entry.id, BLOCKED, _waiting_reason(waits))
                continue
            if (
                entry.seq == seq + 1
                and entry.payload.get("prev") == prev
                and not self._stale(entry)
            ):
                seq, prev = entry.seq, entry.id  # already in place
                self._set(entry.id, PENDING, None)
                continue
            new = self._resign(entry, seq + 1, prev)
            if new is None:
                continue
            seq, prev = seq + 1, new.id
            resigned += 1
        self._db.execute("UPDATE head SET seq = ?, prev = ?", (seq, prev))
        if prev != base.prev:
            self._db.execute("UPDATE head SET prev_time = NULL")
        return resigned

    def _stale(self, entry: Entry) -> bool:
        """True when the entry names an id that was re-signed or replaced since."""
        return any(self.current_id(i) != i for i in _ids_in(entry.payload, skip=("prev",)))

    def _resign(self, entry: Entry, seq: int, prev: str | None) -> Envelope | None:
        """Re-sign onto ``(seq, prev)``. When that gives the very bytes of another entry
        (the same payload signed twice), this one is dropped in favour of its twin, which
        what named it now names: returns None."""
        payload = _rewrite(entry.payload, self.current_id, skip=("prev",))
        envelope = self._sign(payload, seq, prev)
        twin = self._db.execute(
            "SELECT status FROM entries WHERE id = ? AND id != ?", (envelope.id, entry.id)
        ).fetchone()
        if twin is not None:
            self._set(
                entry.id,
                DROPPED,
                f"the same event as {envelope.id} ({twin[0].replace('_', ' ')}): the same"
                " payload was signed twice",
            )
            self._rename(entry.id, envelope.id)
            return None
        self._db.execute(
            "UPDATE entries SET id = ?, seq = ?, envelope = ?, status = ?, reason = NULL"
            " WHERE id = ?",
            (envelope.id, seq, envelope.to_json(), PENDING, entry.id),
        )
        self._rename(entry.id, envelope.id)
        return envelope

    def _last_position(self) -> int:
        (last,) = self._db.execute("SELECT coalesce(max(position), 0) FROM entries").fetchone()
        return int(last)

    def _rename(self, old: str, new: str) -> None:
        """What named ``old`` names ``new`` from now on (``current_id``)."""
        self._db.execute("INSERT OR REPLACE INTO renames (old, new) VALUES (?, ?)", (old, new))

    def _set(self, event_id: str, status: str, reason: str | None) -> None:
        self._db.execute(
            "UPDATE entries SET status = ?, reason = ? WHERE id = ?", (status, reason, event_id)
        )

    def _base_before(self, entry: Entry) -> Head:
        """The chain head an entry in this position continues: the one it was signed on."""
        prev = entry.payload.get("prev")
        return Head(entry.seq - 1, prev, self._time_of(prev) if prev else None)

    # --- sending ---------------------------------------------------------------------------

    def submit(self, ledger: Ledger, *, batch_size: int = 500) -> Submitted:
        """Send the pending events in order and in batches until none is left.

        A refused event is set aside with the ledger's reason, the pending events after
        it are re-signed (or blocked when they name it) and sending goes on; a chain
        conflict (the key moved on elsewhere) re-signs the pending events onto the
        ledger's head. :class:`Unreachable` stops it; every state is safe to resume.
        """
        done = Submitted()
        conflicts = 0
        while True:
            pending = self.entries(PENDING)[:batch_size]
            if not pending:
                return done
            answer = ledger.append([json.loads(e.envelope) for e in pending])
            if not isinstance(answer, Refused):
                with self._transaction():
                    for entry, index in zip(pending, answer, strict=True):
                        self._db.execute(
                            "UPDATE entries SET status = ?, ledger_index = ?, reason = NULL"
                            " WHERE id = ?",
                            (SENT, index, entry.id),
                        )
                done.sent += len(pending)
                done.landed.extend((i, e.id) for e, i in zip(pending, answer, strict=True))
                conflicts = 0
                continue
            at = answer.index
            if at is None or not 0 <= at < len(pending):
                raise _refusal_error(answer)
            culprit = pending[at]
            if answer.about_the_key:  # not this event's fault: every later one would fail too
                raise _refusal_error(answer)
            if answer.chain_conflict:
                conflicts += 1
                head = ledger.head(self.keyid)
                if conflicts > 3 or head is None:  # the head keeps moving: let a human look
                    raise _refusal_error(answer)
                arrived = self._arrived(ledger, pending)
                with self._transaction():  # entries already in place on it stay as they are
                    for entry in arrived:
                        self._set(entry.id, SENT, None)
                    done.resigned += self._rechain(head, pending[0].position - 1)
                continue
            with self._transaction():
                self._set(culprit.id, SET_ASIDE, _reason(answer))
                done.set_aside.append(self.entry(culprit.id))
                done.resigned += self._rechain(self._base_before(culprit), culprit.position)
            done.blocked = len(self.entries(BLOCKED))

    def _arrived(self, ledger: Ledger, pending: list[Entry]) -> list[Entry]:
        """The pending entries the ledger already holds (a batch whose answer was lost):
        a prefix of the queue, since each names the one before it."""
        held = []
        for entry in pending:
            if not ledger.has(entry.id):
                break
            held.append(entry)
        return held

    def resync(self, ledger: Ledger) -> int:
        """Align the chain with the ledger's head of the key, re-signing what is pending.

        Pending events the ledger already holds (an answer that was lost) are marked sent
        first, so nothing is signed twice. Returns how many were re-signed.
        """
        head = ledger.head(self.keyid)
        if head is None:
            raise OutboxError(f"the ledger has no key {self.keyid}: register or add it first")
        arrived = self._arrived(ledger, self.entries(PENDING))
        with self._transaction():
            self._db.execute("UPDATE head SET party = coalesce(party, ?)", (head.party,))
            for entry in arrived:
                self._set(entry.id, SENT, None)
            return self._rechain(head, 0)

    def replace(self, event_id: str, body: dict[str, Any]) -> Envelope:
        """Sign a corrected payload in a set-aside event's place, at the chain's end; the
        events that waited for it are unblocked and re-signed after it."""
        entry = self.entry(event_id)
        if entry.status != SET_ASIDE:
            raise OutboxError(
                f"event {entry.id} is {entry.status}, not set aside: only a"
                " set-aside event is replaced"
            )
        old = entry.payload
        fixed = dict(body)
        for name in ("party", LEDGER_FIELD, "schema", "time"):
            fixed.setdefault(name, old.get(name))
        fixed = _rewrite(fixed, self.current_id, skip=("prev",))
        if fixed.get("type") == "plot.map":
            from ledger.signer import add_nonce

            add_nonce(fixed)
        with self._transaction():
            state = self.head()
            envelope = self._sign(fixed, state["seq"] + 1, state["prev"])
            if self._db.execute("SELECT 1 FROM entries WHERE id = ?", (envelope.id,)).fetchone():
                raise OutboxError(f"this payload is already in the outbox as {envelope.id}")
            self._set(entry.id, REPLACED, f"replaced by {envelope.id}")
            self._rename(entry.id, envelope.id)
            self._db.execute("UPDATE head SET seq = ?, prev = ?", (state["seq"] + 1, envelope.id))
            self._insert(envelope, state["seq"] + 1, PENDING)
            self._requeue_unblocked()
        return envelope

    def drop(self, event_id: str) -> list[Entry]:
        """Abandon a set-aside or blocked event; returns what it leaves blocked.

        A pending event cannot be dropped: it may already be in the ledger (a batch whose
        answer was lost), and only the ledger can say — void it there once it lands."""
        entry = self.entry(event_id)
        if entry.status not in (SET_ASIDE, BLOCKED):
            raise OutboxError(
                f"event {entry.id} is {entry.status.replace('_', ' ')}: only a set-aside or"
                " blocked event is dropped (a pending one may already be in the ledger)"
            )
        with self._transaction():
            self._set(entry.id, DROPPED, "dropped by the signer")
        return self.depends_on(entry)

    def _requeue_unblocked(self) -> None:
        """Blocked entries that wait for nothing unresolved move to the end of the queue,
        in their order, re-signed onto the head."""
        changed = True
        while changed:
            changed = False
            for entry in self.entries(BLOCKED):
                if self.waits_for(entry):
                    continue
                state = self.head()
                new = self._resign(entry, state["seq"] + 1, state["prev"])
                if new is None:
                    continue
                last = self._last_position()
                self._db.execute("UPDATE entries SET position = ? WHERE id = ?", (last + 1, new.id))
                self._db.execute("UPDATE head SET seq = ?, prev = ?", (state["seq"] + 1, new.id))
                changed = True


# --- helpers ----------------------------------------------------------------------------------


def _chain_state(key_file: Path, keyid: str) -> dict[str, Any]:
    """The head an earlier trazo kept in ``NAME.chain.json`` beside the key, if any: a
    new outbox starts from it (that file is no longer written)."""
    stem = key_file.name.removesuffix(".key")
    path = key_file.with_name(f"{stem}.chain.json")
    try:
        state = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) and state.get("keyid") == keyid else {}


def _ids_in(value: Any, *, skip: tuple[str, ...] = ()) -> Iterator[str]:
    """Every event id (``sha256:…``) a payload names, outside the ``skip`` fields."""
    if isinstance(value, dict):
        for name, item in value.items():
            if name not in skip:
                yield from _ids_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _ids_in(item)
    elif isinstance(value, str) and EVENT_ID_PATTERN.fullmatch(value):
        yield value


def _rewrite(value: Any, current: Any, *, skip: tuple[str, ...] = ()) -> Any:
    if isinstance(value, dict):
        return {k: v if k in skip else _rewrite(v, current) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, current) for v in value]
    if isinstance(value, str) and EVENT_ID_PATTERN.fullmatch(value):
        return current(value)
    return value


def _instant(text: str) -> datetime:
    """The instant a payload's time names; a time without an offset (which the ledger
    refuses) or no time at all counts as the earliest, never as an error here."""
    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        found = None
    if found is None or found.tzinfo is None:
        return datetime.min.replace(tzinfo=UTC)
    return found


def _reason(refused: Refused) -> str:
    """What the ledger said about the event itself (its batch index means nothing later):
    "Invalid event: field 'unit': unknown unit 'kgs'; …"."""
    items = [i for i in refused.problem.get("errors") or [] if isinstance(i, dict)]
    if items and items[0].get("message"):
        field = f"field {items[0]['field']!r}: " if items[0].get("field") else ""
        said = f"{field}{items[0]['message']}"
    else:
        said = str(refused)
    title = refused.problem.get("title")
    return f"{title}: {said}" if title else said


def _waiting_reason(waits: list[Entry]) -> str:
    return "waits for " + ", ".join(f"{e.id[:19]}… ({e.status.replace('_', ' ')})" for e in waits)


class Refusal(ClientError):
    """The ledger refused what the outbox sent, for a reason the outbox cannot act on."""

    title = "Refused by the ledger"


def _refusal_error(refused: Refused) -> LedgerError:
    return Refusal(f"the ledger refuses it: {_reason(refused)}")


class BatchRefused(ClientError):
    """The ledger's dry run refuses an event of a batch: ``position`` is its place in the
    batch (None: an event queued before the batch is refused), ``refused`` the answer."""

    title = "Refused"

    def __init__(self, refused: Refused, position: int | None) -> None:
        super().__init__(f"the ledger would refuse it: {_reason(refused)}", index=position)
        self.refused = refused
        self.position = position


class LocalLedger:
    """A ledger database as the outbox's :class:`Ledger` (``trazo append --key``)."""

    def __init__(self, store: Any, log_signer: Any = None) -> None:
        self.store = store
        self.log_signer = log_signer

    def append(self, envelopes: list[dict[str, Any]]) -> list[int] | Refused:
        from ledger.append import append_batch

        try:
            result = append_batch(self.store, envelopes, log_signer=self.log_signer)
        except ClientError as e:  # the outbox keeps the refusal as data, with its reason
            return Refused(e.problem())
        return [item.index for item in result.events]

    def check(self, envelopes: list[dict[str, Any]]) -> list[int] | Refused:
        from ledger.append import check_batch

        try:
            result = check_batch(self.store, envelopes)
        except ClientError as e:
            return Refused(e.problem())
        return [item.index for item in result.events]

    def head(self, keyid: str) -> Head | None:
        from ledger.query import get_event, key_head

        found = key_head(self.store, keyid)
        if found is None:
            return None
        last = get_event(self.store, found.prev) if found.prev else None
        return Head(found.seq, found.prev, last.time if last is not None else None, found.party)

    def has(self, event_id: str) -> bool:
        from ledger.query import get_event

        return get_event(self.store, event_id) is not None
