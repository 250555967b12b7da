"""A witness (C2SP ``tlog-witness``): cosigns a log's checkpoints only along one history.

For each log it trusts (an origin and the log's note key), the witness keeps the latest
checkpoint it cosigned, in a SQLite file, and answers ``add-checkpoint`` requests::

    old <size it last cosigned>
    <consistency proof, one base64 hash a line>
    <empty line>
    <the new signed checkpoint>

=====================================================  ======================================
an unknown origin                                       404
no signature from the log's key                         403
a malformed request, or ``old`` above the new size     400
``old`` is not the size it last cosigned               409, ``text/x.tlog.size``: that size
the same size with another root (a fork)                409
a consistency proof that does not verify               422
otherwise                                               200, the cosignature line
=====================================================  ======================================

Checking ``old`` and recording the new checkpoint happen in one ``BEGIN IMMEDIATE``
transaction, committed (``synchronous=FULL``) before the cosignature is returned: two
racing requests, or a crash at any point, can never make it cosign a smaller or a
different tree than one it already cosigned. It never goes back.
"""

from __future__ import annotations

import base64
import binascii
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ledger import merkle
from ledger.checkpoint import Checkpoint, NoteVerifier, open_note
from ledger.cosignature import Cosigner
from ledger.errors import ProofError

MAX_PROOF_LINES = 63
SIZE_TYPE = "text/x.tlog.size"
MAX_SIZE = 2**63 - 1
SIZE = re.compile(r"0|[1-9][0-9]{0,18}", re.ASCII)
"""A tree size as the protocol writes it: ASCII decimal, no leading zero, below 2^63."""


@dataclass(frozen=True)
class Answer:
    """An ``add-checkpoint`` answer: status, content type and body."""

    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


class WitnessState:
    """The latest cosigned checkpoint per log origin, durable in a SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS logs (origin TEXT PRIMARY KEY, size INTEGER NOT NULL,"
                " root BLOB NOT NULL, note TEXT NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        return db

    def latest(self, origin: str) -> tuple[int, bytes] | None:
        with self._connect() as db:
            row = db.execute("SELECT size, root FROM logs WHERE origin = ?", (origin,)).fetchone()
        return (int(row[0]), bytes(row[1])) if row else None


class Witness:
    """``name``'s witness of ``logs`` (origin → the log's note verifier)."""

    def __init__(
        self, cosigner: Cosigner, logs: Mapping[str, NoteVerifier], state: WitnessState
    ) -> None:
        self.cosigner = cosigner
        self.logs = dict(logs)
        self.state = state

    def add_checkpoint(self, request: bytes) -> Answer:
        try:
            text = request.decode("utf-8")
        except UnicodeDecodeError:
            return Answer(400, "the request is not UTF-8\n")
        old, proof, note = _parse(text)
        if isinstance(old, Answer):
            return old
        origin = note.split("\n", 1)[0]
        verifier = self.logs.get(origin)
        if verifier is None:
            return Answer(404, f"this witness does not know the log {origin!r}\n")
        try:
            body, _ = open_note(note, [verifier])
            checkpoint = Checkpoint.parse_body(body)
        except ProofError as e:
            return Answer(403, f"the checkpoint is not signed by the log's key: {e.message}\n")
        if checkpoint.size > MAX_SIZE:
            return Answer(400, f"a tree size is below 2^63, not {checkpoint.size}\n")
        if checkpoint.size == 0 and checkpoint.root != merkle.EMPTY_ROOT:
            return Answer(400, "the empty tree's root is the SHA-256 of nothing\n")
        if old > checkpoint.size:
            return Answer(400, f"old size {old} is above the checkpoint's {checkpoint.size}\n")
        if (old == 0 or old == checkpoint.size) and proof:
            return Answer(400, "a consistency proof from size 0 or to the same size is empty\n")
        db = self.state._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT size, root FROM logs WHERE origin = ?", (origin,)).fetchone()
            size, root = (int(row[0]), bytes(row[1])) if row else (0, b"")
            if old != size:
                db.execute("ROLLBACK")
                return Answer(409, f"{size}\n", SIZE_TYPE)
            if old == checkpoint.size:
                if row is not None and root != checkpoint.root:
                    db.execute("ROLLBACK")
                    return Answer(
                        409,
                        f"a fork: this witness cosigned another root at size {old}\n",
                    )
            elif old > 0:
                try:
                    merkle.verify_consistency(old, checkpoint.size, proof, root, checkpoint.root)
                except ProofError as e:
                    db.execute("ROLLBACK")
                    return Answer(
                        422,
                        f"the consistency proof from {old} to {checkpoint.size} does not"
                        f" verify: {e.message}\n",
                    )
            db.execute(
                "INSERT INTO logs (origin, size, root, note) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(origin) DO UPDATE SET size = excluded.size, root = excluded.root,"
                " note = excluded.note",
                (origin, checkpoint.size, checkpoint.root, note),
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()
        return Answer(200, self.cosigner.cosign(body))


def _parse(text: str) -> tuple[int | Answer, list[bytes], str]:
    """``old``, the proof hashes and the checkpoint note of a request (or a 400)."""
    head, sep, note = text.partition("\n\n")
    if not sep:
        return Answer(400, "no empty line between the proof and the checkpoint\n"), [], ""
    lines = head.split("\n")
    first = lines[0]
    number = first.removeprefix("old ")
    if first == number or not SIZE.fullmatch(number):
        return Answer(400, "the first line must be `old <size>`, in ASCII decimal\n"), [], ""
    if len(lines) - 1 > MAX_PROOF_LINES:
        return Answer(400, f"more than {MAX_PROOF_LINES} consistency proof lines\n"), [], ""
    proof = []
    for line in lines[1:]:
        try:
            hash_ = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError):
            return Answer(400, f"proof line {line[:60]!r} is not base64\n"), [], ""
        if len(hash_) != merkle.HASH_SIZE:
            return Answer(400, "a proof line holds a 32-byte hash\n"), [], ""
        proof.append(hash_)
    return int(number), proof, note


def request_body(old: int, proof: list[bytes], note: str) -> bytes:
    """An ``add-checkpoint`` request: what a log sends a witness."""
    lines = [f"old {old}", *(base64.b64encode(h).decode() for h in proof)]
    return ("\n".join(lines) + "\n\n" + note).encode()


__all__ = ["Answer", "Witness", "WitnessState", "request_body"]
