"""Integrity audit: recompute everything from the stored bytes and compare.

The audit trusts no projection. It checks, reporting every inconsistency it finds (it
does not stop at the first):

- every stored event's storage: index, id, envelope, columns and ``recorded_at``
  (format and order);
- every event against the rules: the stored bytes are replayed, in order, through the
  append path's own ``ledger.engine.admit`` into a ``MemoryView`` — signing key,
  signature, key validity, chain, ledger binding, who may sign the type, its fields and
  custody rules — and each event it refuses is a finding (the replay goes on after it);
- every projection row: the rows the replay derived are compared with the stored ones
  — a row inflated, added or deleted is named;
- the log: every stored Merkle node against the tree recomputed from the events, every
  node a proof needs present, every checkpoint's root and signature, and events that no
  checkpoint covers.

The events and projections are read in the ledger's write transaction (rolled back), so
appends wait and the two agree; the replayed and the stored projections are held in
memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from ledger.envelope import Envelope, event_id, leaf_input
from ledger.errors import IntegrityError, LedgerError, UnknownKey
from ledger.fields import from_utc_text, utc_text
from ledger.log import CheckpointRow, LogKey, MerkleNodeRow, consistency
from ledger.merkle import MemoryTree, leaf_hash, verify_consistency
from ledger.payload import parse_payload
from ledger.rebuild import REPLAYED_META, replay, stored_rows
from ledger.records import PROJECTIONS, Key, Meta, Record
from ledger.rules import EVENT_TYPES
from ledger.sqlview import TABLES, record_of
from ledger.store import Store
from ledger.view import MemoryView


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


CHECKS = {
    "key": "key",
    "signature": "signature",
    "key validity": "key",
    "chain": "chain",
    "ledger": "ledger",
}
"""The finding's check for each step of ``admit`` (the others are "rules")."""


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
    tree = MemoryTree()
    view = MemoryView()
    event_findings: list[Finding] = []

    def refused(e: IntegrityError) -> None:
        check = CHECKS.get(e.step or "", "rules")
        if isinstance(e.__cause__, UnknownKey):
            check = "signature"
        event_findings.append(Finding(e.index, e.details.get("event"), check, e.message))

    def checked(rows: Iterator[Any]) -> Iterator[Any]:
        expected_index = 0
        last_recorded: str | None = None
        for row in rows:
            report.events += 1
            if progress:
                progress(1)
            wrong = _wrong_types(row)
            if wrong:  # neither hashed into the tree nor replayed: nothing here is usable
                event_findings.append(
                    Finding(
                        row.idx if isinstance(row.idx, int) else None,
                        row.id if isinstance(row.id, str) else None,
                        "columns",
                        f"stored columns of the wrong type ({wrong}): the events table was altered",
                    )
                )
                continue
            event_findings.extend(_audit_storage(row, expected_index))
            event_findings.extend(_audit_recorded_at(row, last_recorded))
            tree.append(leaf_hash(leaf_input(bytes(row.payload))))
            expected_index = row.idx + 1
            if isinstance(row.recorded_at, str):
                last_recorded = row.recorded_at
            yield row

    with store.trial() as session:
        conn = session.connection()
        replay(checked(stored_rows(conn)), view, refused=refused)
        stored = _projection_rows(conn)
    report.findings.extend(sorted(event_findings, key=lambda f: f.index or 0))
    report.keys = len(view.all(Key))
    report.findings.extend(_audit_log(store, tree, log_key, report))
    report.findings.extend(_compare_projections(stored, _derived_rows(view)))
    if since is not None:
        report.findings.extend(_audit_since(store, tree, since, log_key))
    return report


_TYPES = {"idx": (int,), "id": (str,), "payload": (bytes, memoryview), "envelope": (str,)}


def _wrong_types(row: Any) -> str:
    """The columns a tampered row holds in the wrong type (SQLite stores any type)."""
    return ", ".join(
        f"{name} is {type(getattr(row, name)).__name__}"
        for name, types in _TYPES.items()
        if not isinstance(getattr(row, name), types)
    )


def _audit_storage(row: Any, expected_index: int) -> list[Finding]:
    """The stored row against its own bytes: index, id, envelope, indexed columns."""
    out: list[Finding] = []

    def find(check: str, message: str) -> None:
        out.append(Finding(row.idx, row.id, check, message))

    if row.idx != expected_index:
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
        stored = getattr(row, name)
        if stored != value:
            find("columns", f"column {name}={stored!r} but the payload says {value!r}")
    return out


def _audit_recorded_at(row: Any, previous: str | None) -> list[Finding]:
    """``recorded_at`` is the ledger's clock at append: well-formed and never going back."""
    try:
        from_utc_text(row.recorded_at)
    except (TypeError, ValueError):
        return [
            Finding(
                row.idx,
                row.id,
                "recorded_at",
                f"recorded_at {row.recorded_at!r} is not a UTC time as trazo stores it",
            )
        ]
    if previous is not None and row.recorded_at < previous:
        return [
            Finding(
                row.idx,
                row.id,
                "recorded_at",
                f"recorded at {row.recorded_at}, before the previous event"
                f" ({previous}): events are recorded in ledger order",
            )
        ]
    return []


SHOWN_ROWS = 5
"""Differing rows listed per projection table; the rest are counted."""

_Rows = dict[str, dict[tuple[Any, ...], dict[str, Any]]]


def _compare_projections(stored: _Rows, derived: _Rows) -> list[Finding]:
    out: list[Finding] = []
    for table, rows in stored.items():
        out.extend(_compare_table(table, rows, derived[table]))
    return out


def _compare_table(
    table: str,
    stored: dict[tuple[Any, ...], dict[str, Any]],
    derived: dict[tuple[Any, ...], dict[str, Any]],
) -> list[Finding]:
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
            changed = ", ".join(
                f"{c} {have[c]} (the events say {c} {want[c]})" for c in have if have[c] != want[c]
            )
            differing.append(f"{table} row {key} has {changed}")
    out = [
        Finding(None, None, "projection", f"{d}: run `trazo rebuild`")
        for d in differing[:SHOWN_ROWS]
    ]
    if len(differing) > SHOWN_ROWS:
        out.append(
            Finding(
                None, None, "projection", f"{table}: {len(differing) - SHOWN_ROWS} more rows differ"
            )
        )
    return out


def _projection_rows(conn: Connection) -> _Rows:
    """Each stored projection table's rows by primary key (read as the append path reads
    them)."""
    stored = {}
    for kind in PROJECTIONS:
        table = TABLES[kind]
        query = select(table)
        if kind is Meta:
            query = query.where(table.c.name.in_(REPLAYED_META))
        stored[kind] = [record_of(kind, row) for row in conn.execute(query)]
    return _by_key(stored)


def _derived_rows(view: MemoryView) -> _Rows:
    return _by_key({kind: view.all(kind) for kind in PROJECTIONS})


def _by_key(records: dict[type[Record], list[Record]]) -> _Rows:
    """Each table's records as primary key → the other columns' values."""
    return {
        kind.TABLE: {
            r.key(): {c: v for c, v in r.values().items() if c not in kind.KEY} for r in rows
        }
        for kind, rows in records.items()
    }


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
            if not (
                isinstance(level, int)
                and isinstance(idx, int)
                and isinstance(digest, bytes | memoryview)
            ):
                find(
                    "merkle",
                    f"stored node ({level!r}, {idx!r}) has columns of the wrong"
                    " type: the log table was altered",
                )
                continue
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
            find(
                "merkle",
                f"{len(gone)} node(s) of level {level} are missing (first: index"
                f" {gone[0]}): inclusion proofs through them fail",
            )
        level += 1
    if checkpoints and checkpoints[-1].size < tree.size:
        find(
            "checkpoint",
            f"events {checkpoints[-1].size}–{tree.size - 1} are covered by no"
            " checkpoint: the latest checkpoint was deleted, or the appends"
            " that followed it were not signed",
        )
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


__all__ = ["AuditReport", "Finding", "audit"]
