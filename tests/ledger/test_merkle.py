"""RFC 6962 / RFC 9162 Merkle log: reference vectors, upstream probes, properties, cost."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import IntegrityError, ProofError
from ledger.merkle import (
    EMPTY_ROOT,
    MemoryTree,
    consistency_proof,
    consistency_proof_size,
    inclusion_proof,
    inclusion_proof_size,
    leaf_hash,
    node_hash,
    nodes_completed_by,
    root,
    root_from_inclusion_proof,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)

TESTDATA = Path(__file__).resolve().parents[1] / "vectors"  # see tests/vectors/README.md
MERKLE = TESTDATA / "merkle"
PROBES = MERKLE / "testdata"

Coord = tuple[int, int]


def _need_testdata() -> None:
    assert MERKLE.is_dir(), f"the Merkle test vectors are missing from {MERKLE}"


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    _need_testdata()
    data: dict[str, Any] = json.loads((MERKLE / "rfc6962_vectors.json").read_text())
    return data


def _h(hex_: str) -> bytes:
    return bytes.fromhex(hex_)


def _tree(vectors: dict[str, Any], size: int) -> MemoryTree:
    tree = MemoryTree()
    for leaf_input in vectors["leaf_inputs_hex"][:size]:
        tree.append_input(_h(leaf_input))
    return tree


# --- hashing primitives --------------------------------------------------------------


def test_hash_primitives_use_rfc6962_domain_separation() -> None:
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    left, right = b"L" * 32, b"R" * 32
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert node_hash(left, right) != node_hash(right, left)
    # a leaf can never be confused with a node over the same bytes
    assert leaf_hash(left + right) != node_hash(left, right)


# --- the 8-leaf reference vectors ----------------------------------------------------


def test_leaf_hashes_match_vectors(vectors: dict[str, Any]) -> None:
    inputs = [_h(x) for x in vectors["leaf_inputs_hex"]]
    assert [leaf_hash(x).hex() for x in inputs] == vectors["leaf_hashes_hex"]


def test_stored_nodes_match_vectors(vectors: dict[str, Any]) -> None:
    tree = _tree(vectors, 8)
    for level, hashes in vectors["node_hashes_by_level"].items():
        coords = [(int(level), i) for i in range(len(hashes))]
        got = tree.get_nodes(coords)
        assert [got[c].hex() for c in coords] == hashes
    assert tree.get_nodes([(4, 0), (0, 8), (3, 1)]) == {}


@pytest.mark.parametrize("size", range(9))
def test_roots_match_vectors(vectors: dict[str, Any], size: int) -> None:
    want = vectors["roots_by_tree_size"][str(size)]
    leaves = [_h(x) for x in vectors["leaf_hashes_hex"][:size]]
    assert root_from_leaves(leaves).hex() == want
    assert _tree(vectors, size).root().hex() == want
    # the full tree serves every historical root from the same stored nodes
    assert _tree(vectors, 8).root(size).hex() == want


def test_inclusion_proofs_match_vectors(vectors: dict[str, Any]) -> None:
    tree = _tree(vectors, 8)
    assert vectors["inclusion_proofs"]
    for v in vectors["inclusion_proofs"]:
        index, size = v["leaf_index"], v["tree_size"]
        want = [_h(x) for x in v["audit_path_hex"]]
        assert tree.inclusion_proof(index, size) == want
        assert _tree(vectors, size).inclusion_proof(index) == want
        leaf = _h(v["leaf_hash_hex"])
        assert leaf == leaf_hash(_h(v["leaf_input_hex"]))
        assert root_from_leaves([_h(x) for x in vectors["leaf_hashes_hex"][:size]]) == _h(
            v["root_hex"]
        )
        verify_inclusion(leaf, index, size, want, _h(v["root_hex"]))


def test_consistency_proofs_match_vectors(vectors: dict[str, Any]) -> None:
    tree = _tree(vectors, 8)
    assert vectors["consistency_proofs"]
    for v in vectors["consistency_proofs"]:
        size1, size2 = v["size1"], v["size2"]
        want = [_h(x) for x in v["proof_hex"]]
        assert tree.consistency_proof(size1, size2) == want
        assert _tree(vectors, size2).consistency_proof(size1) == want
        assert tree.root(size1).hex() == v["root1_hex"]
        assert tree.root(size2).hex() == v["root2_hex"]
        verify_consistency(size1, size2, want, _h(v["root1_hex"]), _h(v["root2_hex"]))


# --- the upstream probes -------------------------------------------------------------


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "", validate=True)


def _probe_files(kind: str) -> list[Path]:
    folder = PROBES / kind
    return sorted(folder.rglob("*.json")) if folder.is_dir() else []


def _probe_id(path: Path) -> str:
    return str(path.relative_to(PROBES))


# Upstream accepts 12-byte "roots" when size1 == size2 == 1 (it only compares bytes).
# trazo insists every hash is 32 bytes, so it rejects this one probe: documented in
# testdata/README.md.
_SHORT_ROOTS_EXCEPTION = "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"


@pytest.mark.parametrize("path", _probe_files("inclusion"), ids=_probe_id)
def test_inclusion_probe(path: Path) -> None:
    probe = json.loads(path.read_text())
    args = (
        _b64(probe["leafHash"]),
        probe["leafIdx"],
        probe["treeSize"],
        [_b64(p) for p in probe["proof"] or []],
        _b64(probe["root"]),
    )
    if probe["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", _probe_files("consistency"), ids=_probe_id)
def test_consistency_probe(path: Path) -> None:
    probe = json.loads(path.read_text())
    args = (
        probe["size1"],
        probe["size2"],
        [_b64(p) for p in probe["proof"] or []],
        _b64(probe["root1"]),
        _b64(probe["root2"]),
    )
    if _probe_id(path) == _SHORT_ROOTS_EXCEPTION:
        assert probe["wantErr"] is False and len(args[3]) == 12
        with pytest.raises(ProofError, match="not a 32-byte"):
            verify_consistency(*args)
    elif probe["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_probe_sets_are_present() -> None:
    _need_testdata()
    inclusion, consistency = _probe_files("inclusion"), _probe_files("consistency")
    assert len(inclusion) > 50 and len(consistency) > 50
    happy = [p for p in inclusion + consistency if not json.loads(p.read_text())["wantErr"]]
    assert len(happy) >= 10  # the happy paths really are exercised, not only the rejections


def test_probe_happy_paths_are_what_memory_tree_produces(vectors: dict[str, Any]) -> None:
    """The probes' trees are the 8-leaf reference tree: our proofs are theirs byte for byte."""
    tree = _tree(vectors, 8)
    for path in _probe_files("inclusion"):
        probe = json.loads(path.read_text())
        if path.parent.name.isdigit() and not probe["wantErr"]:
            proof = [_b64(p) for p in probe["proof"] or []]
            assert tree.inclusion_proof(probe["leafIdx"], probe["treeSize"]) == proof
            assert tree.root(probe["treeSize"]) == _b64(probe["root"])
    for path in _probe_files("consistency"):
        probe = json.loads(path.read_text())
        if path.parent.name.isdigit() and not probe["wantErr"]:
            proof = [_b64(p) for p in probe["proof"] or []]
            assert tree.consistency_proof(probe["size1"], probe["size2"]) == proof


# --- edge cases and messages ---------------------------------------------------------


def test_equal_sizes_need_empty_proof_and_equal_roots() -> None:
    tree = MemoryTree(leaf_hash(bytes([i])) for i in range(5))
    r = tree.root()
    assert tree.consistency_proof(5, 5) == []
    verify_consistency(5, 5, [], r, r)
    with pytest.raises(ProofError, match="has 1 hashes, expected 0"):
        verify_consistency(5, 5, [r], r, r)
    with pytest.raises(ProofError, match="different roots"):
        verify_consistency(5, 5, [], r, tree.root(4))


@pytest.mark.parametrize(
    ("size1", "size2", "message"),
    [
        (0, 0, "empty tree proves nothing"),
        (0, 3, "empty tree proves nothing"),
        (4, 3, "greater than size2"),
        (-1, 3, "negative"),
    ],
)
def test_consistency_argument_errors(size1: int, size2: int, message: str) -> None:
    tree = MemoryTree(leaf_hash(bytes([i])) for i in range(3))
    with pytest.raises(ProofError, match=message):
        verify_consistency(size1, size2, [], EMPTY_ROOT, EMPTY_ROOT)
    with pytest.raises(ProofError, match=message):
        consistency_proof(size1, size2, tree)


@pytest.mark.parametrize(("index", "size"), [(0, 0), (3, 3), (4, 3), (-1, 3)])
def test_inclusion_argument_errors(index: int, size: int) -> None:
    tree = MemoryTree(leaf_hash(bytes([i])) for i in range(3))
    leaf = leaf_hash(b"\x00")
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, [], tree.root())
    with pytest.raises(ProofError):
        inclusion_proof(index, size, tree)


def test_wrong_length_proofs_are_rejected_with_a_clear_message() -> None:
    tree = MemoryTree(leaf_hash(bytes([i])) for i in range(7))
    leaf, proof, r = leaf_hash(b"\x02"), tree.inclusion_proof(2), tree.root()
    verify_inclusion(leaf, 2, 7, proof, r)
    with pytest.raises(ProofError, match="has 2 hashes, expected 3"):
        verify_inclusion(leaf, 2, 7, proof[:-1], r)
    with pytest.raises(ProofError, match="has 4 hashes, expected 3"):
        verify_inclusion(leaf, 2, 7, [*proof, r], r)
    with pytest.raises(ProofError, match="proof hash 1 is 31 bytes"):
        verify_inclusion(leaf, 2, 7, [proof[0], proof[1][:31], proof[2]], r)
    with pytest.raises(ProofError, match="leads to root"):
        verify_inclusion(leaf_hash(b"\x03"), 2, 7, proof, r)
    cproof = tree.consistency_proof(3)
    with pytest.raises(ProofError, match="has 3 hashes, expected 4"):
        verify_consistency(3, 7, cproof[1:], tree.root(3), r)
    with pytest.raises(ProofError, match="root1"):
        verify_consistency(3, 7, cproof, tree.root(2), r)
    with pytest.raises(ProofError, match="root2"):
        verify_consistency(3, 7, cproof, tree.root(3), tree.root(6))


def test_memory_tree_refuses_sizes_beyond_its_own() -> None:
    tree = MemoryTree(leaf_hash(bytes([i])) for i in range(4))
    with pytest.raises(ProofError, match="beyond"):
        tree.root(5)
    with pytest.raises(ProofError, match="beyond"):
        tree.consistency_proof(2, 5)


def test_missing_nodes_are_an_integrity_error() -> None:
    tree = MemoryTree(leaf_hash(bytes([i])) for i in range(4))
    with pytest.raises(IntegrityError, match="not in the store"):
        root(6, tree)  # the free functions trust the caller's size; the store tells
    with pytest.raises(IntegrityError, match="not in the store"):
        nodes_completed_by(7, leaf_hash(b"x"), tree)


def test_nodes_completed_by_reads_left_siblings_once() -> None:
    tree = MemoryTree(leaf_hash(bytes([i])) for i in range(7))
    reader = CountingReader(tree)
    leaf = leaf_hash(b"\x07")
    done = nodes_completed_by(7, leaf, reader)
    assert [(lv, i) for lv, i, _ in done] == [(0, 7), (1, 3), (2, 1), (3, 0)]
    assert reader.calls == 1 and reader.nodes == 3
    assert done[-1][2] == root_from_leaves([leaf_hash(bytes([i])) for i in range(8)])
    even = CountingReader(tree)
    assert [(lv, i) for lv, i, _ in nodes_completed_by(6, leaf, even)] == [(0, 6)]
    assert even.calls == 0
    with pytest.raises(ValueError, match="32 bytes"):
        nodes_completed_by(7, b"short", tree)


def test_proof_sizes() -> None:
    assert inclusion_proof_size(0, 1) == 0
    assert inclusion_proof_size(5, 8) == 3
    assert inclusion_proof_size(2, 3) == 1
    assert consistency_proof_size(4, 4) == 0
    assert consistency_proof_size(4, 8) == 1
    assert consistency_proof_size(3, 7) == 4  # [2], [3], [0:2], [4:7]


# --- properties ----------------------------------------------------------------------

_MAX = 2000
_LEAVES = [leaf_hash(i.to_bytes(4, "big")) for i in range(_MAX)]
_BIG = MemoryTree(_LEAVES)


@functools.cache
def _ref_root(size: int) -> bytes:
    return root_from_leaves(_LEAVES[:size])


def _flip(data: bytes, bit: int) -> bytes:
    bit %= len(data) * 8
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@st.composite
def _index_and_size(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(1, _MAX))
    return draw(st.integers(0, size - 1)), size


@st.composite
def _two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    size2 = draw(st.integers(1, _MAX))
    return draw(st.integers(1, size2)), size2


@settings(max_examples=300, deadline=None)
@given(_index_and_size(), st.integers(0, 2**16))
def test_inclusion_proofs_verify_and_detect_tampering(
    index_size: tuple[int, int], bit: int
) -> None:
    index, size = index_size
    proof = _BIG.inclusion_proof(index, size)
    leaf, r = _LEAVES[index], _ref_root(size)
    assert _BIG.root(size) == r
    assert len(proof) == inclusion_proof_size(index, size) <= math.ceil(math.log2(size))
    verify_inclusion(leaf, index, size, proof, r)
    assert root_from_inclusion_proof(leaf, index, size, proof) == r

    with pytest.raises(ProofError):
        verify_inclusion(_flip(leaf, bit), index, size, proof, r)
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, proof, _flip(r, bit))
    if proof:
        at = bit % len(proof)
        tampered = [*proof[:at], _flip(proof[at], bit // 7), *proof[at + 1 :]]
        with pytest.raises(ProofError):
            verify_inclusion(leaf, index, size, tampered, r)
    if size > 1:
        with pytest.raises(ProofError):
            verify_inclusion(leaf, index ^ 1 if index ^ 1 < size else index - 1, size, proof, r)


@settings(max_examples=300, deadline=None)
@given(_two_sizes(), st.integers(0, 2**16))
def test_consistency_proofs_verify_and_detect_tampering(sizes: tuple[int, int], bit: int) -> None:
    size1, size2 = sizes
    proof = _BIG.consistency_proof(size1, size2)
    r1, r2 = _ref_root(size1), _ref_root(size2)
    assert len(proof) == consistency_proof_size(size1, size2)
    verify_consistency(size1, size2, proof, r1, r2)

    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof, _flip(r1, bit), r2)
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof, r1, _flip(r2, bit))
    if proof:
        at = bit % len(proof)
        tampered = [*proof[:at], _flip(proof[at], bit // 7), *proof[at + 1 :]]
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, tampered, r1, r2)
    if 1 < size1 < size2:
        with pytest.raises(ProofError):  # the proof is bound to its sizes
            verify_consistency(size1 - 1, size2, proof, _ref_root(size1 - 1), r2)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=8), max_size=70))
def test_memory_tree_matches_reference_at_every_size(inputs: list[bytes]) -> None:
    tree = MemoryTree()
    leaves = [leaf_hash(x) for x in inputs]
    for i, leaf in enumerate(leaves):
        assert tree.append(leaf) == i
    assert tree.size == len(leaves)
    for size in range(len(leaves) + 1):
        assert tree.root(size) == root_from_leaves(leaves[:size])


# --- cost: O(log n) node reads in one batch -----------------------------------------


class CountingReader:
    """Wraps a reader and counts batches and nodes read."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0
        self.nodes = 0

    def get_nodes(self, coords: Collection[Coord]) -> dict[Coord, bytes]:
        self.calls += 1
        self.nodes += len(coords)
        result: dict[Coord, bytes] = self.inner.get_nodes(coords)
        return result


@functools.cache
def _lazy_node(level: int, index: int) -> bytes:
    if level == 0:
        return leaf_hash(index.to_bytes(8, "big"))
    return node_hash(_lazy_node(level - 1, 2 * index), _lazy_node(level - 1, 2 * index + 1))


class LazyTree:
    """A tree of ``size`` deterministic leaves whose nodes are computed on demand."""

    def __init__(self, size: int) -> None:
        self.size = size

    def node(self, level: int, index: int) -> bytes:
        return _lazy_node(level, index)

    def get_nodes(self, coords: Collection[Coord]) -> dict[Coord, bytes]:
        return {(lv, i): self.node(lv, i) for lv, i in coords if (i + 1) << lv <= self.size}


_N = 100_000


@pytest.fixture(scope="module")
def lazy() -> LazyTree:
    return LazyTree(_N)


def test_lazy_tree_agrees_with_reference(lazy: LazyTree) -> None:
    leaves = [lazy.node(0, i) for i in range(_N)]
    assert root(_N, lazy) == root_from_leaves(leaves)


@pytest.mark.parametrize("index", [0, 1, 4242, 65535, 65536, 99_998, 99_999])
def test_inclusion_proof_reads_log_n_nodes_in_one_batch(lazy: LazyTree, index: int) -> None:
    bound = 2 * math.ceil(math.log2(_N))
    reader = CountingReader(lazy)
    proof = inclusion_proof(index, _N, reader)
    assert reader.calls == 1
    assert reader.nodes <= bound
    r_reader = CountingReader(lazy)
    r = root(_N, r_reader)
    assert r_reader.calls == 1 and r_reader.nodes == _N.bit_count()
    verify_inclusion(lazy.node(0, index), index, _N, proof, r)


@pytest.mark.parametrize("size1", [1, 2, 3, 1000, 4096, 65535, 65536, 65537, 99_999, _N])
def test_consistency_proof_reads_log_n_nodes_in_one_batch(lazy: LazyTree, size1: int) -> None:
    bound = 2 * math.ceil(math.log2(_N))
    reader = CountingReader(lazy)
    proof = consistency_proof(size1, _N, reader)
    assert reader.calls == (1 if size1 < _N else 0)
    assert reader.nodes <= bound
    verify_consistency(size1, _N, proof, root(size1, lazy), root(_N, lazy))
