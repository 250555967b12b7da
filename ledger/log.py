"""The transparency log in the database: Merkle nodes, signed checkpoints, proofs.

Every event is a leaf (leaf input = the 32-byte SHA-256 of its payload; leaf index =
event index). The hash of every complete subtree is stored as it is completed
(``merkle_nodes``), so a root at any size, an inclusion proof and a consistency proof
each read O(log n) rows. After each append transaction the ledger signs a checkpoint
(a C2SP signed note) with its log key; all checkpoints are kept.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

from sqlalchemy import BigInteger, LargeBinary, Table, Text, and_, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ledger import merkle, tiles
from ledger.checkpoint import Checkpoint, LogKey, NoteSigner, sign_checkpoint
from ledger.envelope import leaf_input
from ledger.errors import EventNotFound, ProofOutOfRange
from ledger.fields import utc_text
from ledger.keys import load_private_key
from ledger.schema import TIME, Base, EventRow
from ledger.sqlview import insert_rows
from ledger.store import Store

Coord = tuple[int, int]


class MerkleNodeRow(Base):
    """The hash of the complete subtree of leaves [idx·2^level, (idx+1)·2^level)."""

    __tablename__ = "merkle_nodes"

    level: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class CheckpointRow(Base):
    """A signed checkpoint of the log at ``size`` leaves, as the note text that was served."""

    __tablename__ = "checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary)
    note: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[str] = mapped_column(TIME)


class CosignatureRow(Base):
    """A witness's cosignature line on the checkpoint of ``size`` (C2SP tlog-cosignature)."""

    __tablename__ = "cosignatures"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    witness: Mapped[str] = mapped_column(Text, primary_key=True)
    line: Mapped[str] = mapped_column(Text)


class WitnessHeadRow(Base):
    """The last size a witness cosigned for this log: where the next push starts."""

    __tablename__ = "witness_heads"

    witness: Mapped[str] = mapped_column(Text, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[str] = mapped_column(TIME)


def default_origin(operator: str) -> str:
    return f"trazo/{operator}"


def resolve_origin(store: Store, configured: str | None) -> str:
    """``TRAZO_LOG_ORIGIN`` when configured, else ``trazo/<operator>`` from the ledger."""
    if configured:
        return configured
    from ledger.query import get_operator

    return default_origin(get_operator(store) or "ledger")


def load_signer(keys_dir: Path, origin: str) -> NoteSigner:
    """The log key ``trazo init`` wrote (``log.key``), named by the log's origin."""
    return NoteSigner(origin, load_private_key(keys_dir / "log.key"))


class SqlNodes:
    """A ``merkle.NodeReader`` over stored nodes plus those pending in this transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.pending: dict[Coord, bytes] = {}

    def get_nodes(self, coords: Collection[Coord]) -> dict[Coord, bytes]:
        found = {c: self.pending[c] for c in coords if c in self.pending}
        by_level: dict[int, list[int]] = {}
        for level, idx in coords:
            if (level, idx) not in found:
                by_level.setdefault(level, []).append(idx)
        if not by_level:
            return found
        # One statement: (level = ? AND idx IN (…)) OR …, each term served by the primary
        # key (a row-value IN list is not, on SQLite). A proof needs a few dozen nodes; a
        # large request (a batch's appends) is split to bound the statement's size.
        terms = [
            and_(MerkleNodeRow.level == level, MerkleNodeRow.idx.in_(indexes[i : i + 500]))
            for level, indexes in by_level.items()
            for i in range(0, len(indexes), 500)
        ]
        for first in range(0, len(terms), 50):
            with self.session.no_autoflush:  # nodes are never pending ORM objects
                rows = self.session.execute(
                    select(MerkleNodeRow.level, MerkleNodeRow.idx, MerkleNodeRow.hash).where(
                        or_(*terms[first : first + 50])
                    )
                ).all()
            found.update({(level, idx): bytes(h) for level, idx, h in rows})
        return found


class LogAppender:
    """Adds leaves during an append transaction and writes the completed nodes at the end."""

    def __init__(self, session: Session) -> None:
        self.nodes = SqlNodes(session)
        self._new: list[tuple[int, int, bytes]] = []

    def add(self, index: int, payload: bytes) -> None:
        completed = merkle.nodes_completed_by(
            index, merkle.leaf_hash(leaf_input(payload)), self.nodes
        )
        for level, idx, digest in completed:
            self.nodes.pending[(level, idx)] = digest
        self._new.extend(completed)

    def flush(self) -> None:
        if self._new:  # insert-only rows: one executemany, not the ORM unit of work
            insert_rows(
                self.nodes.session.connection(),
                cast(Table, MerkleNodeRow.__table__),
                [{"level": lvl, "idx": idx, "hash": h} for lvl, idx, h in self._new],
            )
            self._new.clear()

    def checkpoint(self, size: int, signer: NoteSigner, now: datetime) -> str:
        """Sign and store the checkpoint at ``size`` (after ``flush``)."""
        root = merkle.root(size, self.nodes)
        note = sign_checkpoint(Checkpoint(signer.name, size, root), signer)
        insert_rows(
            self.nodes.session.connection(),
            cast(Table, CheckpointRow.__table__),
            [{"size": size, "root": root, "note": note, "signed_at": utc_text(now)}],
        )
        return note


# --- the read side -------------------------------------------------------------------------


@dataclass(frozen=True)
class InclusionProof:
    index: int
    size: int
    hashes: list[bytes]


@dataclass(frozen=True)
class ConsistencyProof:
    size1: int
    size2: int
    hashes: list[bytes]


def note_at(session: Session, size: int) -> str | None:
    """The stored checkpoint note of exactly ``size``, in the caller's transaction."""
    note: str | None = session.scalar(select(CheckpointRow.note).where(CheckpointRow.size == size))
    return note


def latest_row(session: Session) -> CheckpointRow | None:
    """The latest checkpoint, in the caller's transaction."""
    return session.scalar(select(CheckpointRow).order_by(CheckpointRow.size.desc()).limit(1))


def latest_checkpoint(store: Store) -> CheckpointRow | None:
    with store.reading() as session:
        return latest_row(session)


def cosigned_note(session: Session, row: CheckpointRow) -> str:
    """The checkpoint's note with the cosignature lines its witnesses gave, in name order:
    what the log serves and what a bundle carries."""
    lines = session.scalars(
        select(CosignatureRow.line)
        .where(CosignatureRow.size == row.size)
        .order_by(CosignatureRow.witness)
    )
    return row.note + "".join(lines)


def cosigned(store: Store, size: int | None = None) -> tuple[CheckpointRow, str] | None:
    """The checkpoint of ``size`` (default: the latest) and its note as the log serves it:
    the log's signature and its witnesses' cosignatures, read in one transaction."""
    with store.reading() as session:
        row = latest_row(session) if size is None else session.get(CheckpointRow, size)
        return None if row is None else (row, cosigned_note(session, row))


def checkpoint_at(store: Store, size: int) -> CheckpointRow | None:
    with store.reading() as session:
        return session.get(CheckpointRow, size)


def _check_size(size: int, stored: int, what: str) -> None:
    if size < 1 or size > stored:
        raise ProofOutOfRange(f"{what} {size} is outside the log (1…{stored})", field=what)


def inclusion(store: Store, event_id: str, size: int | None = None) -> InclusionProof:
    """The inclusion proof of an event in the tree of ``size`` leaves (default: all)."""
    with store.reading() as session:
        index = session.scalar(select(EventRow.index).where(EventRow.id == event_id))
        if index is None:
            raise EventNotFound(f"no event {event_id} in the ledger", field="id")
        stored = store_size(session)
        size = stored if size is None else size
        _check_size(size, stored, "size")
        if index >= size:
            raise ProofOutOfRange(
                f"event {event_id} has index {index}, outside a tree of {size}", field="size"
            )
        return InclusionProof(index, size, merkle.inclusion_proof(index, size, SqlNodes(session)))


def consistency(store: Store, size1: int, size2: int | None = None) -> ConsistencyProof:
    with store.reading() as session:
        stored = store_size(session)
        size2 = stored if size2 is None else size2
        _check_size(size2, stored, "to")
        _check_size(size1, size2, "from")
        proof = merkle.consistency_proof(size1, size2, SqlNodes(session))
        return ConsistencyProof(size1, size2, proof)


def store_size(session: Session) -> int:
    """Leaves in the log: the number of level-0 nodes (= events, when the log is on)."""
    last = session.scalar(
        select(MerkleNodeRow.idx)
        .where(MerkleNodeRow.level == 0)
        .order_by(MerkleNodeRow.idx.desc())
        .limit(1)
    )
    return 0 if last is None else int(last) + 1


def root_at(store: Store, size: int) -> bytes:
    with store.reading() as session:
        _check_size(size, store_size(session), "size")
        return merkle.root(size, SqlNodes(session))


def read_tile(store: Store, path: str) -> tuple[tiles.Tile, bytes]:
    """A ``tlog-tiles`` resource below ``tile/`` of the log as checkpointed (tiles beyond
    the latest checkpoint do not exist yet): the tile and its bytes, or ``TileNotFound``."""
    tile = tiles.parse_path(path)
    with store.reading() as session:
        latest = latest_row(session)
        return tile, _tile_bytes(session, tile, latest.size if latest else 0)


def _tile_bytes(session: Session, tile: tiles.Tile, size: int) -> bytes:
    """A tile's or entry bundle's bytes in a log of ``size`` checkpointed leaves."""
    if tile.level is None:
        return tiles.entry_bundle(tile, size, lambda r: leaf_inputs(session, r))
    return tiles.tile_bytes(tile, size, SqlNodes(session))


TLOG_PROOF = "c2sp.org/tlog-proof@v1"


def tlog_proof(store: Store, event_id: str) -> str:
    """The event's inclusion in the latest checkpoint as a C2SP ``tlog-proof``: the
    header, ``index N``, the RFC 6962 path one base64 hash a line, an empty line, and the
    checkpoint verbatim with its witnesses' cosignatures. Verifiable offline with the
    log's key, the witnesses' keys and the event's payload (its SHA-256 is the leaf)."""
    import base64

    found = cosigned(store)
    if found is None:
        from ledger.errors import NotCheckpointed

        raise NotCheckpointed("the log has no signed checkpoint yet")
    row, note = found
    proof = inclusion(store, event_id, row.size)
    lines = [
        TLOG_PROOF,
        f"index {proof.index}",
        *(base64.b64encode(h).decode() for h in proof.hashes),
    ]
    return "\n".join(lines) + "\n\n" + note


def write_tiles(store: Store, folder: Path) -> int:
    """The whole ``tlog-tiles`` read side as static files in ``folder`` (``checkpoint``,
    ``tile/…``): the full tiles, and the partial tiles of every checkpointed size, each
    exactly as :func:`read_tile` serves it. Files already there are kept (tiles are
    immutable); the checkpoint is written last, so a mirror never names missing tiles.
    Returns the number of files written."""
    written = 0
    with store.reading() as session:  # one snapshot: the checkpoint written names no tile
        latest = latest_row(session)
        if latest is None:
            return 0
        note = cosigned_note(session, latest)
        sizes = session.scalars(
            select(CheckpointRow.size)
            .where(CheckpointRow.size <= latest.size)
            .order_by(CheckpointRow.size)
        )
        for size in list(sizes):
            for tile in tiles.tiles_of(size):
                target = folder / tile.path()
                if target.exists():
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                temporary = target.with_name(target.name + ".tmp")
                temporary.write_bytes(_tile_bytes(session, tile, latest.size))
                temporary.replace(target)
                written += 1
    (folder / "checkpoint.tmp").write_text(note, encoding="utf-8")
    (folder / "checkpoint.tmp").replace(folder / "checkpoint")
    return written + 1


def leaf_inputs(session: Session, indices: range) -> list[bytes]:
    """The log's leaf inputs of events ``indices``: each payload's 32-byte SHA-256."""
    ids = session.scalars(
        select(EventRow.id)
        .where(EventRow.index >= indices.start, EventRow.index < indices.stop)
        .order_by(EventRow.index)
    )
    return [bytes.fromhex(event_id.removeprefix("sha256:")) for event_id in ids]


__all__ = [
    "CheckpointRow",
    "LogAppender",
    "LogKey",
    "MerkleNodeRow",
    "SqlNodes",
    "read_tile",
    "tlog_proof",
]
