"""Integrity audit: recompute every id, signature and key chain from the stored bytes.

The audit trusts no projection: it replays the key events it reads to know which key
was valid when, and reports every inconsistency it finds (it does not stop at the
first). It reads in ledger order, in pages, so memory stays flat on a large ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from ledger.envelope import Envelope, event_id, keyid_of, leaf_input
from ledger.errors import LedgerError
from ledger.fields import utc_text
from ledger.keys import public_key_from_raw
from ledger.log import CheckpointRow, LogKey, MerkleNodeRow, consistency
from ledger.merkle import MemoryTree, leaf_hash, verify_consistency
from ledger.payload import Event, parse_payload
from ledger.rules import EVENT_TYPES
from ledger.rules.party_register import public_key_field
from ledger.schema import EventRow, KeyRow
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
    for row in _rows(store):
        report.events += 1
        if progress:
            progress(1)
        findings = _audit_event(row, expected_index, keys)
        report.findings.extend(findings)
        tree.append(leaf_hash(leaf_input(bytes(row.payload))))
        expected_index = row.index + 1
    report.keys = len(keys)
    report.findings.extend(_compare_heads(store, keys))
    report.findings.extend(_audit_log(store, tree, log_key, report))
    if since is not None:
        report.findings.extend(_audit_since(store, tree, since, log_key))
    return report


def _audit_log(
    store: Store, tree: MemoryTree, log_key: LogKey | None, report: AuditReport
) -> list[Finding]:
    """Stored Merkle nodes and checkpoints against the tree recomputed from the events."""
    out: list[Finding] = []

    def find(check: str, message: str) -> None:
        out.append(Finding(None, None, check, message))

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
        checkpoints = list(session.scalars(select(CheckpointRow).order_by(CheckpointRow.size)))
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


def _compare_heads(store: Store, keys: dict[str, _KeyState]) -> list[Finding]:
    out = []
    with store.reading() as session:
        stored = {k.keyid: k for k in session.scalars(select(KeyRow))}
    for keyid, state in keys.items():
        row = stored.get(keyid)
        if row is None:
            out.append(Finding(None, None, "projection", f"key {keyid[:16]}… missing from keys"))
        elif (row.head_seq, row.head_event) != (state.seq, state.head):
            out.append(
                Finding(
                    None,
                    None,
                    "projection",
                    f"key {keyid[:16]}… head is seq {row.head_seq}, the events"
                    f" say seq {state.seq}: run `trazo rebuild`",
                )
            )
    for keyid in set(stored) - set(keys):
        out.append(
            Finding(
                None, None, "projection", f"key {keyid[:16]}… in the keys table but in no event"
            )
        )
    return out


__all__ = ["AuditReport", "Finding", "audit"]
