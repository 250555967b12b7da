"""The ledger's Merkle log: RFC 6962 / RFC 9162 hashing, proofs and their verification.

Pure: no database, no I/O. The store is injected as a :class:`NodeReader`.

Storage model. The ledger keeps the hash of every *complete* subtree once it is complete:
node ``(level, index)`` is the Merkle tree hash of the leaves
``[index * 2**level, (index + 1) * 2**level)``; level 0 holds the leaf hashes. Those nodes
never change as the log grows, so one set of stored nodes serves the root and the proofs of
every past tree size. A subtree on the right edge of a tree whose size is not a power of two
is not stored: it is folded from the complete subtrees that tile it, as RFC 9162's ``MTH``
splits at the largest power of two.

Every operation works in two steps: plan the coordinates it needs (pure arithmetic), fetch
them with a single :meth:`NodeReader.get_nodes` call, then hash. A proof reads O(log n)
nodes: at most one right-edge range is folded, the rest are stored subtrees.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Sequence
from typing import Protocol

from ledger.errors import IntegrityError, ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MemoryTree",
    "NodeReader",
    "consistency_proof",
    "consistency_proof_size",
    "inclusion_proof",
    "inclusion_proof_size",
    "leaf_hash",
    "node_hash",
    "nodes_completed_by",
    "root",
    "root_from_inclusion_proof",
    "root_from_leaves",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()
"""The root of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1)."""

Coord = tuple[int, int]
"""A stored node: ``(level, index)``."""

_Range = list[Coord]
"""A subtree hash expressed as the complete subtrees that tile it, left to right."""


# --- hashing -------------------------------------------------------------------------


def leaf_hash(leaf_input: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || leaf input)."""
    return hashlib.sha256(_LEAF_PREFIX + leaf_input).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def root_from_leaves(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash ``MTH`` of a list of leaf hashes, as RFC 9162 §2.1.1 defines it.

    The plain recursive reference: O(n) hashes, no storage. Tests and small bundles only.
    """
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(root_from_leaves(leaf_hashes[:k]), root_from_leaves(leaf_hashes[k:]))


# --- the store -----------------------------------------------------------------------


class NodeReader(Protocol):
    """Where stored nodes come from (a SQL table, a bundle, memory)."""

    def get_nodes(self, coords: Collection[Coord]) -> dict[Coord, bytes]:
        """Return the hash of every requested ``(level, index)`` that is stored.

        One call is one batch (one query for a SQL store). Coordinates that are not
        stored are simply absent from the result.
        """
        ...


def _fetch(reader: NodeReader, coords: Iterable[Coord]) -> dict[Coord, bytes]:
    wanted = set(coords)
    if not wanted:
        return {}
    found = reader.get_nodes(wanted)
    missing = sorted(wanted - found.keys())
    if missing:
        level, index = missing[0]
        raise IntegrityError(
            f"Merkle node (level {level}, index {index}) is not in the store"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
            missing=[list(c) for c in missing[:8]],
        )
    for coord in wanted:
        if len(found[coord]) != HASH_SIZE:
            raise IntegrityError(
                f"Merkle node (level {coord[0]}, index {coord[1]}) is "
                f"{len(found[coord])} bytes, not {HASH_SIZE}"
            )
    return found


# --- planning: which complete subtrees make up a range -----------------------------


def _split(n: int) -> int:
    """The largest power of two strictly less than ``n`` (``n >= 2``): RFC 9162's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


def _tiles(start: int, end: int) -> _Range:
    """The complete subtrees tiling leaves ``[start, end)``, left to right.

    ``start`` must be 0 or a multiple of a power of two larger than ``end - start``, which
    holds for every subtree RFC 9162 names: each is either complete, or the right edge of
    the tree starting at an aligned boundary. Then the set bits of ``end - start``, from the
    highest down, give aligned complete subtrees.
    """
    out: _Range = []
    pos = start
    remaining = end - start
    for level in range(remaining.bit_length() - 1, -1, -1):
        if remaining >> level & 1:
            out.append((level, pos >> level))
            pos += 1 << level
    return out


def _fold(tiles: _Range, nodes: dict[Coord, bytes]) -> bytes:
    """Hash a range from its tiles: ``MTH`` splits at the largest power of two, so the
    leftmost tile is the left child and the rest fold from the right."""
    acc = nodes[tiles[-1]]
    for coord in reversed(tiles[:-1]):
        acc = node_hash(nodes[coord], acc)
    return acc


def _inclusion_plan(index: int, size: int) -> list[_Range]:
    """RFC 9162 §2.1.3.1 ``PATH(index, D[0:size])`` as ranges, leaf to root."""
    plan: list[_Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            plan.append(_tiles(lo + k, hi))
            hi = lo + k
        else:
            plan.append(_tiles(lo, lo + k))
            lo += k
    plan.reverse()
    return plan


def _consistency_plan(size1: int, size2: int) -> list[_Range]:
    """RFC 9162 §2.1.4.1 ``PROOF(size1, D[0:size2])`` as ranges, in proof order.

    ``SUBPROOF(m, D[lo:hi], b)``: the relative ``m`` is always ``size1 - lo``.
    """
    plan: list[_Range] = []
    lo, hi, whole = 0, size2, True
    while size1 != hi:
        k = _split(hi - lo)
        if size1 - lo <= k:
            plan.append(_tiles(lo + k, hi))
            hi = lo + k
        else:
            plan.append(_tiles(lo, lo + k))
            lo += k
            whole = False
    if not whole:
        plan.append(_tiles(lo, hi))
    plan.reverse()
    return plan


def _check_inclusion_args(index: int, size: int) -> None:
    if size <= 0:
        raise ProofError(f"no inclusion proof exists in a tree of size {size}")
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")


def _check_consistency_args(size1: int, size2: int) -> None:
    if size1 < 0 or size2 < 0:
        raise ProofError(f"tree sizes must not be negative (got {size1} and {size2})")
    if size1 > size2:
        raise ProofError(f"size1 {size1} is greater than size2 {size2}: a log only grows")
    if size1 == 0:
        raise ProofError(
            "a consistency proof from the empty tree proves nothing: every tree extends it"
        )


def inclusion_proof_size(index: int, size: int) -> int:
    """How many hashes the inclusion proof of leaf ``index`` in a tree of ``size`` has."""
    _check_inclusion_args(index, size)
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def consistency_proof_size(size1: int, size2: int) -> int:
    """How many hashes the consistency proof from ``size1`` to ``size2`` has."""
    _check_consistency_args(size1, size2)
    return len(_consistency_plan(size1, size2))


# --- reading from the store ---------------------------------------------------------


def nodes_completed_by(index: int, leaf: bytes, reader: NodeReader) -> list[tuple[int, int, bytes]]:
    """Every node ``(level, index, hash)`` completed by appending leaf hash ``leaf`` at
    position ``index``, level 0 first.

    Reads the left siblings from ``reader`` in one call; the caller's reader must also see
    nodes pending in the same batch. A leaf at an even position completes only itself.
    """
    if index < 0:
        raise ValueError(f"leaf index must not be negative, got {index}")
    if len(leaf) != HASH_SIZE:
        raise ValueError(f"a leaf hash is {HASH_SIZE} bytes, got {len(leaf)}")
    siblings: list[Coord] = []
    level, i = 0, index
    while i & 1:
        siblings.append((level, i - 1))
        level, i = level + 1, i >> 1
    nodes = _fetch(reader, siblings)
    out = [(0, index, leaf)]
    acc = leaf
    for level, i in siblings:
        acc = node_hash(nodes[(level, i)], acc)
        out.append((level + 1, i >> 1, acc))
    return out


def root(size: int, reader: NodeReader) -> bytes:
    """The root hash of the tree of the first ``size`` leaves (one read, popcount nodes)."""
    if size < 0:
        raise ProofError(f"tree size must not be negative, got {size}")
    if size == 0:
        return EMPTY_ROOT
    tiles = _tiles(0, size)
    return _fold(tiles, _fetch(reader, tiles))


def _read_plan(plan: list[_Range], reader: NodeReader) -> list[bytes]:
    nodes = _fetch(reader, (c for tiles in plan for c in tiles))
    return [_fold(tiles, nodes) for tiles in plan]


def inclusion_proof(index: int, size: int, reader: NodeReader) -> list[bytes]:
    """RFC 9162 §2.1.3.1 inclusion proof (audit path) of leaf ``index`` in tree ``size``.

    The caller checks that ``size`` is not beyond the stored tree: a node missing from the
    store is reported as :class:`IntegrityError`.
    """
    _check_inclusion_args(index, size)
    return _read_plan(_inclusion_plan(index, size), reader)


def consistency_proof(size1: int, size2: int, reader: NodeReader) -> list[bytes]:
    """RFC 9162 §2.1.4.1 consistency proof from tree ``size1`` to tree ``size2``.

    Empty when the sizes are equal; an error from size 0 (see :func:`verify_consistency`).
    """
    _check_consistency_args(size1, size2)
    return _read_plan(_consistency_plan(size1, size2), reader)


# --- verification --------------------------------------------------------------------


def _check_hash(what: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes, not a {HASH_SIZE}-byte SHA-256 hash")


def _check_proof(proof: Sequence[bytes], expected: int, kind: str) -> None:
    if len(proof) != expected:
        raise ProofError(f"{kind} proof has {len(proof)} hashes, expected {expected}")
    for i, p in enumerate(proof):
        _check_hash(f"proof hash {i}", p)


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` implies for leaf hash ``leaf`` at ``index`` in tree ``size``.

    RFC 9162 §2.1.3.2 steps 1-4 (everything except the final root comparison).
    """
    _check_inclusion_args(index, size)
    _check_hash("leaf hash", leaf)
    _check_proof(proof, inclusion_proof_size(index, size), "inclusion")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:  # unreachable after the length check; kept as the RFC states it
            raise ProofError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the path to the root")
    return r


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that leaf hash ``leaf`` is leaf ``index`` of the tree ``size`` with ``root``.

    RFC 9162 §2.1.3.2. Raises :class:`ProofError` saying what failed.
    """
    _check_hash("root hash", root)
    computed = root_from_inclusion_proof(leaf, index, size, proof)
    if computed != root:
        raise ProofError(
            f"inclusion proof for leaf {index} in tree {size} leads to root "
            f"{computed.hex()}, not the expected {root.hex()}"
        )


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that tree ``size2`` with ``root2`` extends tree ``size1`` with ``root1``.

    RFC 9162 §2.1.4.2, with the edge cases of the reference implementation: equal sizes
    need an empty proof and equal roots; a proof from size 0 is refused (it proves
    nothing). Raises :class:`ProofError` saying what failed.
    """
    _check_consistency_args(size1, size2)
    _check_hash("root1", root1)
    _check_hash("root2", root2)
    _check_proof(proof, consistency_proof_size(size1, size2), "consistency")
    if size1 == size2:
        if root1 != root2:
            raise ProofError(f"trees of equal size {size1} have different roots")
        return
    # 1. an empty path cannot prove anything (excluded by the length check above)
    path = list(proof)
    # 2. a power-of-two first tree is itself a node of the second: its root starts the path
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    # 3.-4.
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5.
    fr = sr = path[0]
    # 6.
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # 7.
    if sn != 0:
        raise ProofError("consistency proof is shorter than the path to the root")
    if fr != root1:
        raise ProofError(
            f"consistency proof does not reproduce root1 of tree {size1}: "
            f"got {fr.hex()}, expected {root1.hex()}"
        )
    if sr != root2:
        raise ProofError(
            f"consistency proof does not reproduce root2 of tree {size2}: "
            f"got {sr.hex()}, expected {root2.hex()}"
        )


# --- in memory -----------------------------------------------------------------------


class MemoryTree:
    """An append-only Merkle log held in memory; a :class:`NodeReader` of its own nodes.

    Stores exactly what the ledger's table stores (every complete subtree), so it serves
    roots and proofs for every size up to its own.
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = []
        for leaf in leaf_hashes:
            self.append(leaf)

    @property
    def size(self) -> int:
        return len(self._levels[0]) if self._levels else 0

    def append(self, leaf: bytes) -> int:
        """Append a leaf hash; return its index."""
        index = self.size
        for level, i, h in nodes_completed_by(index, leaf, self):
            if level == len(self._levels):
                self._levels.append([])
            if i != len(self._levels[level]):  # nodes complete in index order
                raise IntegrityError(f"node ({level}, {i}) completed out of order")
            self._levels[level].append(h)
        return index

    def append_input(self, leaf_input: bytes) -> int:
        """Append a leaf by its input (hashed with :func:`leaf_hash`); return its index."""
        return self.append(leaf_hash(leaf_input))

    def get_nodes(self, coords: Collection[Coord]) -> dict[Coord, bytes]:
        out: dict[Coord, bytes] = {}
        for level, index in coords:
            if 0 <= level < len(self._levels) and 0 <= index < len(self._levels[level]):
                out[(level, index)] = self._levels[level][index]
        return out

    def _size(self, size: int | None) -> int:
        if size is None:
            return self.size
        if size > self.size:
            raise ProofError(f"tree size {size} is beyond this log's size {self.size}")
        return size

    def root(self, size: int | None = None) -> bytes:
        """The root at ``size`` (default: the current size)."""
        return root(self._size(size), self)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof(index, self._size(size), self)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        return consistency_proof(size1, self._size(size2), self)
