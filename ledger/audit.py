"""Integrity audit: recompute everything from the stored bytes and compare.

The audit trusts no projection. It checks, reporting every inconsistency it finds (it
does not stop at the first):

- every event: index, id, envelope, columns, signature, key validity, chain, and
  ``recorded_at`` (format and order);
- every projection row: the events are replayed through the append path's own rules
  (``ledger.rebuild.replay``, in a rolled-back write transaction) and the derived rows
  compared with the stored ones — a row inflated, added or deleted is named, and a
  stored event the rules refuse is a finding;
- the log: every stored Merkle node against the tree recomputed from the events, every
  node a proof needs present, every checkpoint's root and signature, and events that no
  checkpoint covers.

Events are read in ledger order, in pages; the projection comparison holds the stored
and the derived projection rows in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from ledger.envelope import Envelope, event_id, keyid_of, leaf_input
from ledger.errors import IntegrityError, LedgerError
from ledger.fields import from_utc_text, utc_text
from ledger.keys import public_key_from_raw
from ledger.log import CheckpointRow, LogKey, MerkleNodeRow, consistency
from ledger.merkle import MemoryTree, leaf_hash, verify_consistency
from ledger.payload import Event, parse_payload
from ledger.rebuild import REPLAYED_META, replay
from ledger.rules import EVENT_TYPES
from ledger.rules.party_register import public_key_field
from ledger.schema import PROJECTIONS, EventRow, MetaRow
from ledger.store import Store

PAGE = 2000


@dataclass(frozen=True)
class Finding:
    index: int | None
    event: str | None
    check: str
    message: str

    def __str__(self) -> str:
        where = f"event {self.index} ({self.event})" if self.index is not None else "ledger"
        return f"{where}: [{self.check}] {self.message}"


@dataclass
class AuditReport:
    events: int = 0
    keys: int = 0
    nodes: int = 0
    checkpoints: int = 0
    findings: list[Finding] = field(default_factory=list)

    def __bool__(self) -> bool:
        return not self.findings

    @property
    def ok(self) -> bool:
        return not self.findings


@dataclass
class _KeyState:
    party: str
    public_key: bytes
    added: datetime
    revoked: datetime | None = None
    seq: int = 0
    head: str | None = None
    last_time: datetime | None = None


def _rows(store: Store) -> Iterator[EventRow]:
    last = -1
    while True:
        with store.reading() as session:
            page = list(
                session.scalars(
                    select(EventRow)
                    .where(EventRow.index > last)
                    .order_by(EventRow.index)
                    .limit(PAGE)
                )
            )
        if not page:
            return
        yield from page
        last = page[-1].index


def audit(
    store: Store,
    progress: Callable[[int], None] | None = None,
    *,
    log_key: LogKey | None = None,
    since: str | None = None,
) -> AuditReport:
    """Check the whole ledger from its events; ``report.findings`` lists every problem.

    With ``log_key`` every stored checkpoint's signature is verified; with ``since`` (an
    old checkpoint note an auditor kept) the current log is proved consistent with it.
    """
    report = AuditReport()
    keys: dict[str, _KeyState] = {}
    tree = MemoryTree()
    expected_index = 0
    last_recorded: str | None = None
    for row in _rows(store):
        report.events += 1
        if progress:
            progress(1)
        findings = _audit_event(row, expected_index, keys)
        findings.extend(_audit_recorded_at(row, last_recorded))
        report.findings.extend(findings)
        tree.append(leaf_hash(leaf_input(bytes(row.payload))))
        expected_index = row.index + 1
        last_recorded = row.recorded_at if isinstance(row.recorded_at, str) else last_recorded
    report.keys = len(keys)
    report.findings.extend(_audit_log(store, tree, log_key, report))
    report.findings.extend(_audit_projections(store))
    if since is not None:
        report.findings.extend(_audit_since(store, tree, since, log_key))
    return report


def _audit_recorded_at(row: EventRow, previous: str | None) -> list[Finding]:
    """``recorded_at`` is the ledger's clock at append: well-formed and never going back."""
    try:
        from_utc_text(row.recorded_at)
    except (TypeError, ValueError):
        return [Finding(row.index, row.id, "recorded_at",
                        f"recorded_at {row.recorded_at!r} is not a UTC time as trazo stores it")]
    if previous is not None and row.recorded_at < previous:
        return [Finding(row.index, row.id, "recorded_at",
                        f"recorded at {row.recorded_at}, before the previous event"
                        f" ({previous}): events are recorded in ledger order")]
    return []


SHOWN_ROWS = 5
"""Differing rows listed per projection table; the rest are counted."""


def _audit_projections(store: Store) -> list[Finding]:
    """Every projection row, derived again by the append path's own rules, against storage.

    The replay runs inside the ledger's write transaction and is rolled back: the audit
    changes nothing, and appends wait while it runs. A stored event that the rules refuse
    (inserted behind the append path's back) is a finding; the replay goes on after it.
    """
    out: list[Finding] = []

    def refused(e: IntegrityError) -> None:
        out.append(Finding(e.index, e.details.get("event"), "rules", e.message))

    with store.trial() as session:
        stored = _projection_rows(session)
        replay(session, refused=refused)
        derived = _projection_rows(session)
    for table, rows in stored.items():
        out.extend(_compare_table(table, rows, derived[table]))
    return out


def _compare_table(table: str, stored: dict[tuple[Any, ...], dict[str, Any]],
                   derived: dict[tuple[Any, ...], dict[str, Any]]) -> list[Finding]:
    differing: list[str] = []
    for key in sorted(stored.keys() | derived.keys(), key=repr):
        have, want = stored.get(key), derived.get(key)
        if have == want:
            continue
        if want is None:
            differing.append(f"{table} row {key} is stored, but no event gives it")
        elif have is None:
            differing.append(f"{table} row {key} is missing: the events give {want}")
        else:
            changed = ", ".join(f"{c} {have[c]} (the events say {c} {want[c]})"
                                for c in have if have[c] != want[c])
            differing.append(f"{table} row {key} has {changed}")
    out = [Finding(None, None, "projection", f"{d}: run `trazo rebuild`")
           for d in differing[:SHOWN_ROWS]]
    if len(differing) > SHOWN_ROWS:
        out.append(Finding(None, None, "projection",
                           f"{table}: {len(differing) - SHOWN_ROWS} more rows differ"))
    return out


def _projection_rows(session: Session) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    """Each projection table's rows by primary key (keys shortened for messages)."""
    out: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
    for model in PROJECTIONS:
        table = cast(Table, model.__table__)
        query = select(*table.columns)
        if model is MetaRow:
            query = query.where(table.c.name.in_(REPLAYED_META))
        key_columns = [c.name for c in table.primary_key]
        rows = out[table.name] = {}
        for r in session.execute(query).mappings():
            rows[tuple(r[c] for c in key_columns)] = {
                c: v for c, v in r.items() if c not in key_columns}
    return out


def _audit_log(
    store: Store, tree: MemoryTree, log_key: LogKey | None, report: AuditReport
) -> list[Finding]:
    """Stored Merkle nodes and checkpoints against the tree recomputed from the events."""
    out: list[Finding] = []

    def find(check: str, message: str) -> None:
        out.append(Finding(None, None, check, message))

    seen: dict[int, set[int]] = {}
    with store.reading() as session:
        for level, idx, digest in session.execute(
            select(MerkleNodeRow.level, MerkleNodeRow.idx, MerkleNodeRow.hash).order_by(
                MerkleNodeRow.level, MerkleNodeRow.idx
            )
        ):
            expected = tree.get_nodes([(level, idx)]).get((level, idx))
            if expected is None:
                find("merkle", f"stored node ({level}, {idx}) covers leaves no event has")
            elif expected != bytes(digest):
                find("merkle", f"stored node ({level}, {idx}) differs from the events' hash")
            report.nodes += 1
            seen.setdefault(level, set()).add(idx)
        checkpoints = list(session.scalars(select(CheckpointRow).order_by(CheckpointRow.size)))
    level = 0
    while tree.size >> level:
        have = seen.get(level, set())
        gone = [i for i in range(tree.size >> level) if i not in have]
        if gone:
            find("merkle", f"{len(gone)} node(s) of level {level} are missing (first: index"
                           f" {gone[0]}): inclusion proofs through them fail")
        level += 1
    if checkpoints and checkpoints[-1].size < tree.size:
        find("checkpoint", f"events {checkpoints[-1].size}–{tree.size - 1} are covered by no"
                           " checkpoint: the latest checkpoint was deleted, or the appends"
                           " that followed it were not signed")
    for cp in checkpoints:
        report.checkpoints += 1
        where = f"checkpoint at size {cp.size}"
        if cp.size > tree.size:
            find(
                "checkpoint",
                f"{where} covers more events than the ledger holds"
                f" ({tree.size}): events were removed",
            )
            continue
        if tree.root(cp.size) != bytes(cp.root):
            find("checkpoint", f"{where}: its root differs from the events' tree")
        if log_key is None:
            continue
        try:
            stated = log_key.open(cp.note)
        except LedgerError as e:
            find("checkpoint", f"{where}: signature does not verify with the log key: {e}")
            continue
        if stated.size != cp.size or stated.root != tree.root(cp.size):
            find(
                "checkpoint",
                f"{where}: the signed note states size {stated.size} and a"
                " root that the events do not give",
            )
    return out


def _audit_since(
    store: Store, tree: MemoryTree, note: str, log_key: LogKey | None
) -> list[Finding]:
    """Prove the ledger only appended since an old checkpoint the auditor kept."""
    if log_key is None:
        return [
            Finding(None, None, "since", "--since needs the log key to trust the old checkpoint")
        ]
    try:
        old = log_key.open(note)
    except LedgerError as e:
        return [Finding(None, None, "since", f"the old checkpoint does not verify: {e}")]
    if old.size > tree.size:
        return [
            Finding(
                None,
                None,
                "since",
                f"the old checkpoint has {old.size} events, the"
                f" ledger now {tree.size}: history was cut",
            )
        ]
    if tree.root(old.size) != old.root:
        return [
            Finding(
                None,
                None,
                "since",
                f"the first {old.size} events no longer hash to"
                " the old checkpoint's root: history was"
                " rewritten",
            )
        ]
    try:
        proof = consistency(store, old.size, tree.size) if old.size < tree.size else None
        if proof is not None:
            verify_consistency(old.size, tree.size, proof.hashes, old.root, tree.root())
    except LedgerError as e:
        return [Finding(None, None, "since", f"the stored log cannot prove consistency: {e}")]
    return []


def _audit_event(row: EventRow, expected_index: int, keys: dict[str, _KeyState]) -> list[Finding]:
    out: list[Finding] = []

    def find(check: str, message: str) -> None:
        out.append(Finding(row.index, row.id, check, message))

    if row.index != expected_index:
        find("index", f"expected index {expected_index}: events are missing before this one")
    payload = bytes(row.payload)
    if event_id(payload) != row.id:
        find("id", f"payload hashes to {event_id(payload)}, not the stored id")
    try:
        envelope = Envelope.from_json(row.envelope)
    except LedgerError as e:
        find("envelope", f"stored envelope does not parse: {e}")
        return out
    if envelope.payload != payload:
        find("envelope", "the stored envelope's payload differs from the stored payload bytes")
    try:
        event = parse_payload(Envelope(payload, envelope.signature), EVENT_TYPES)
    except LedgerError as e:
        find("payload", f"stored payload does not parse: {e}")
        return out
    columns = {
        "type": event.type,
        "party": event.party,
        "keyid": event.key,
        "seq": event.seq,
        "prev": event.prev,
        "time": utc_text(event.time),
    }
    for name, value in columns.items():
        if getattr(row, name) != value:
            find("columns", f"column {name}={getattr(row, name)!r} but the payload says {value!r}")
    _replay_key_event(event, keys, find)
    key = keys.get(event.key)
    if key is None:
        find("signature", f"key {event.key[:16]}… was not registered by any earlier event")
        return out
    try:
        Envelope(payload, envelope.signature).verify(public_key_from_raw(key.public_key))
    except LedgerError as e:
        find("signature", str(e))
    if key.party != event.party:
        find("key", f"key belongs to {key.party!r}, event claims {event.party!r}")
    if key.revoked is not None:
        find("key", "signed by a key that an earlier event revoked")
    elif event.time < key.added:
        find("key", "dated before its key was registered")
    if key.last_time is not None and event.time < key.last_time:
        find("chain", "dated before the key's previous event")
    if event.seq != key.seq + 1 or event.prev != key.head:
        find(
            "chain",
            f"seq {event.seq}/prev {event.prev} does not follow"
            f" seq {key.seq}/{key.head} of key {event.key[:16]}…",
        )
    key.seq, key.head, key.last_time = event.seq, event.id, event.time
    if event.type == "key.revoke" and event.body.get("keyid") in keys:
        keys[event.body["keyid"]].revoked = event.time  # after its own signature is checked
    return out


def _replay_key_event(
    event: Event, keys: dict[str, _KeyState], find: Callable[[str, str], None]
) -> None:
    body = event.body
    try:
        if event.type in ("party.register", "key.add"):
            raw = public_key_field(body)
            owner = body["subject"]
            keys.setdefault(keyid_of(raw), _KeyState(owner, raw, event.time))
    except LedgerError as e:
        find("key", f"key event does not parse: {e}")


__all__ = ["AuditReport", "Finding", "audit"]
