"""Checkpoints as C2SP signed notes: published vectors, round trips and rejections."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.checkpoint import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    key_id,
    open_note,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
    verify_checkpoint,
)
from ledger.errors import ProofError
from ledger.merkle import MemoryTree, leaf_hash

TESTDATA = Path(__file__).resolve().parents[1] / "vectors"  # see tests/vectors/README.md
NOTE_VECTORS = TESTDATA / "note" / "note_vectors.json"

EM = "\N{EM DASH}"
ORIGIN = "trazo.test/log"


@pytest.fixture(scope="module")
def vectors() -> dict[str, dict[str, Any]]:
    assert NOTE_VECTORS.is_file(), f"the signed-note vectors are missing: {NOTE_VECTORS}"
    data = json.loads(NOTE_VECTORS.read_text())
    return {v["id"]: v for v in data["vectors"]}


def _signer_from_skey(skey: str) -> NoteSigner:
    """Go's ``PRIVATE+KEY+<name>+<hex id>+base64(0x01 || seed)`` (the base64 may hold '+')."""
    private, key, name, hex_id, encoded = skey.split("+", 4)
    assert (private, key) == ("PRIVATE", "KEY")
    raw = base64.b64decode(encoded)
    assert raw[0] == 0x01 and len(raw) == 33
    signer = NoteSigner(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
    assert signer.key_id.hex() == hex_id
    return signer


def _seeded_signer(name: str = ORIGIN, seed: int = 7) -> NoteSigner:
    return NoteSigner(name, Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))


def _checkpoint(size: int = 5) -> Checkpoint:
    tree = MemoryTree(leaf_hash(bytes([i])) for i in range(size))
    return Checkpoint(ORIGIN, size, tree.root())


# --- published vectors ---------------------------------------------------------------

_SIGNED = ["c2sp-signed-note-example", "go-sumdb-note-peterneumann", "go-sumdb-note-enochroot"]


@pytest.mark.parametrize("vector_id", _SIGNED)
def test_verifier_keys_parse_and_round_trip(
    vectors: dict[str, dict[str, Any]], vector_id: str
) -> None:
    vkey: str = vectors[vector_id]["vkey"]
    name, hex_id, encoded = vkey.split("+", 2)
    verifier = parse_verifier_key(vkey)
    assert verifier.name == name
    assert verifier.key_id.hex() == hex_id
    raw = base64.b64decode(encoded)
    assert verifier.public_key == raw[1:]
    assert key_id(name, raw[1:]) == bytes.fromhex(hex_id)
    assert verifier.verifier_key() == vkey


def _signed_note(vector: dict[str, Any]) -> str:
    if "signed_note" in vector:
        note: str = vector["signed_note"]
        return note
    return f"{vector['text']}\n{vector['signature_line']}"


@pytest.mark.parametrize("vector_id", _SIGNED)
def test_published_notes_verify(vectors: dict[str, dict[str, Any]], vector_id: str) -> None:
    vector = vectors[vector_id]
    assert vector["expect_valid"] is True
    verifier = parse_verifier_key(vector["vkey"])
    note = _signed_note(vector)
    body, names = open_note(note, [verifier])
    assert body == vector["text"].encode()
    assert names == [verifier.name]
    assert open_note(note.encode(), [verifier]) == (body, names)
    # the key ID is the first four bytes of the signature
    signature = base64.b64decode(note.rsplit(" ", 1)[1])
    assert signature[:4] == verifier.key_id and len(signature) == 4 + 64


def test_signing_reproduces_the_published_signature(vectors: dict[str, dict[str, Any]]) -> None:
    vector = vectors["go-sumdb-note-peterneumann"]
    signer = _signer_from_skey(vector["skey"])
    assert signer.verifier_key() == vector["vkey"]
    assert sign_note(vector["text"].encode(), signer) == vector["signed_note"]


def test_note_with_two_signers_verifies_with_either_key(
    vectors: dict[str, dict[str, Any]],
) -> None:
    peter, enoch = vectors["go-sumdb-note-peterneumann"], vectors["go-sumdb-note-enochroot"]
    assert peter["text"] == enoch["text"]
    note = peter["signed_note"] + enoch["signature_line"]
    peter_key, enoch_key = parse_verifier_key(peter["vkey"]), parse_verifier_key(enoch["vkey"])
    assert open_note(note, [peter_key])[1] == ["PeterNeumann"]
    assert open_note(note, [enoch_key])[1] == ["EnochRoot"]
    assert open_note(note, [enoch_key, peter_key])[1] == ["PeterNeumann", "EnochRoot"]


def test_published_checkpoint_body_parses(vectors: dict[str, dict[str, Any]]) -> None:
    vector = vectors["c2sp-tlog-checkpoint-body"]
    want = vector["expect_parse"]
    checkpoint = Checkpoint.parse_body(vector["text"].encode())
    assert checkpoint.origin == want["origin"]
    assert checkpoint.size == want["tree_size"]
    assert checkpoint.root == base64.b64decode(want["root_hash_b64"])
    assert checkpoint.body() == vector["text"].encode()


# --- round trips ---------------------------------------------------------------------


def test_checkpoint_round_trip() -> None:
    signer = _seeded_signer()
    checkpoint = _checkpoint()
    note = sign_checkpoint(checkpoint, signer)
    root_b64 = base64.b64encode(checkpoint.root).decode()
    assert note.startswith(f"{ORIGIN}\n5\n{root_b64}\n\n{EM} {ORIGIN} ")
    assert note.endswith("\n") and note.count("\n") == 5
    verifier = parse_verifier_key(signer.verifier_key())
    assert verify_checkpoint(note, verifier) == checkpoint
    assert verify_checkpoint(note.encode(), verifier, origin=ORIGIN) == checkpoint
    # Ed25519 is deterministic: the same checkpoint signs to the same bytes
    assert sign_checkpoint(checkpoint, _seeded_signer()) == note


def test_signer_exposes_matching_verifier() -> None:
    signer = _seeded_signer()
    assert signer.verifier == parse_verifier_key(signer.verifier_key())
    assert len(signer.key_id) == 4
    assert signer.verifier_key().startswith(f"{ORIGIN}+{signer.key_id.hex()}+")
    assert "PRIVATE" not in repr(signer) and signer.key_id.hex() in repr(signer)


def test_empty_tree_checkpoint() -> None:
    signer = _seeded_signer()
    checkpoint = Checkpoint(ORIGIN, 0, MemoryTree().root())
    assert checkpoint.body().split(b"\n")[1] == b"0"
    assert verify_checkpoint(sign_checkpoint(checkpoint, signer), signer.verifier) == checkpoint


_origins = st.text(
    alphabet=st.characters(min_codepoint=0x21, exclude_categories=["Cs"]), min_size=1
)


@settings(max_examples=100, deadline=None)
@given(_origins, st.integers(0, 2**63), st.binary(min_size=32, max_size=32))
def test_checkpoint_body_round_trip(origin: str, size: int, root: bytes) -> None:
    checkpoint = Checkpoint(origin, size, root)
    assert Checkpoint.parse_body(checkpoint.body()) == checkpoint


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**40), st.binary(min_size=32, max_size=32), st.integers(0, 255))
def test_signed_checkpoint_round_trip_and_tamper(size: int, root: bytes, bit: int) -> None:
    signer = _seeded_signer()
    checkpoint = Checkpoint(ORIGIN, size, root)
    note = sign_checkpoint(checkpoint, signer)
    assert verify_checkpoint(note, signer.verifier) == checkpoint
    tampered = Checkpoint(ORIGIN, size, bytes([root[0] ^ (1 << (bit % 8))]) + root[1:])
    forged = tampered.body().decode() + note[len(checkpoint.body()) :]
    with pytest.raises(ProofError, match="does not verify"):
        verify_checkpoint(forged, signer.verifier)


# --- rejections ----------------------------------------------------------------------


def test_wrong_key_is_an_unknown_signer() -> None:
    note = sign_checkpoint(_checkpoint(), _seeded_signer(seed=1))
    other = _seeded_signer(seed=2)  # same name, different key: a different key ID
    with pytest.raises(ProofError, match="no signature from a known key"):
        verify_checkpoint(note, other.verifier)


def test_altered_body_fails() -> None:
    signer = _seeded_signer()
    note = sign_checkpoint(_checkpoint(), signer)
    with pytest.raises(ProofError, match=f"signature by {ORIGIN} .* does not verify"):
        verify_checkpoint(note.replace(ORIGIN, "trazo.test/lag", 1), signer.verifier)


def test_altered_size_fails() -> None:
    signer = _seeded_signer()
    note = sign_checkpoint(_checkpoint(5), signer)
    assert "\n5\n" in note
    with pytest.raises(ProofError, match="does not verify"):
        verify_checkpoint(note.replace("\n5\n", "\n6\n", 1), signer.verifier)


def test_truncated_signature_fails() -> None:
    signer = _seeded_signer()
    note = sign_checkpoint(_checkpoint(), signer)
    head, encoded = note[:-1].rsplit(" ", 1)
    raw = base64.b64decode(encoded)
    short = base64.b64encode(raw[:-1]).decode()
    with pytest.raises(ProofError, match="does not verify"):
        verify_checkpoint(f"{head} {short}\n", signer.verifier)
    with pytest.raises(ProofError, match="not valid base64"):
        verify_checkpoint(note[:-4] + "\n", signer.verifier)


def test_flipped_signature_bit_fails() -> None:
    signer = _seeded_signer()
    note = sign_checkpoint(_checkpoint(), signer)
    head, encoded = note[:-1].rsplit(" ", 1)
    raw = bytearray(base64.b64decode(encoded))
    raw[-1] ^= 0x01
    with pytest.raises(ProofError, match="does not verify"):
        verify_checkpoint(f"{head} {base64.b64encode(bytes(raw)).decode()}\n", signer.verifier)


def test_unknown_signer_only_is_rejected() -> None:
    stranger = _seeded_signer("stranger.example/log", seed=3)
    note = sign_checkpoint(_checkpoint(), stranger)
    with pytest.raises(ProofError, match=r"no signature from a known key \(signed by: stranger"):
        verify_checkpoint(note, _seeded_signer().verifier)


def test_unknown_signatures_are_ignored_but_a_bad_known_one_rejects() -> None:
    ours, witness = _seeded_signer(), _seeded_signer("witness.example", seed=9)
    body = _checkpoint().body()
    note = sign_note(body, ours, witness)
    assert open_note(note, [ours.verifier]) == (body, [ORIGIN])
    assert open_note(note, [ours.verifier, witness.verifier])[1] == [ORIGIN, "witness.example"]
    # a second line claiming our key but carrying the witness's signature
    witness_line = note.splitlines()[-1]
    bogus = witness_line.replace("witness.example", ORIGIN, 1)
    raw = base64.b64decode(bogus.rsplit(" ", 1)[1])
    bogus = bogus.rsplit(" ", 1)[0] + " " + base64.b64encode(ours.key_id + raw[4:]).decode()
    with pytest.raises(ProofError, match="does not verify"):
        open_note(note + bogus + "\n", [ours.verifier])


def test_origin_must_match_when_given() -> None:
    signer = _seeded_signer()
    note = sign_checkpoint(_checkpoint(), signer)
    with pytest.raises(ProofError, match=r"expected 'other\.example/log'"):
        verify_checkpoint(note, signer.verifier, origin="other.example/log")


def _good_note() -> str:
    return sign_checkpoint(_checkpoint(), _seeded_signer())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda n: n[:-1], "must end with a newline"),
        (lambda n: n.replace("\n\n", "\n", 1), "no blank line"),
        (lambda n: n + "\n", "no signature lines"),
        (lambda n: n.replace(EM, "-", 1), "does not start with an em dash"),
        (lambda n: n.replace(f"{EM} {ORIGIN} ", f"{EM} {ORIGIN}  ", 1), "must be"),
        (lambda n: n[:-1] + " extra\n", "must be"),
        (lambda n: n.replace(ORIGIN, "trazo\tlog", 1), "control character"),
        (lambda n: n.replace(f"{EM} {ORIGIN}", f"{EM} a+b", 1), "'\\+' are not allowed"),
        (lambda n: n[:-1] + "!\n", "not valid base64"),
        (lambda n: n[: n.rindex(" ") + 1] + "AAAA\n", "too short"),
    ],
)
def test_malformed_notes_are_rejected(mutate: Any, message: str) -> None:
    signer = _seeded_signer()
    with pytest.raises(ProofError, match=message):
        open_note(mutate(_good_note()), [signer.verifier])


def test_note_must_be_utf8() -> None:
    with pytest.raises(ProofError, match="not valid UTF-8"):
        open_note(b"\xff\n\n" + f"{EM} a AAAA\n".encode(), [_seeded_signer().verifier])


def test_misuse_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one verifier"):
        open_note(_good_note(), [])
    with pytest.raises(ValueError, match="at least one signer"):
        sign_note(b"text\n")
    with pytest.raises(ProofError, match="must end with a newline"):
        sign_note(b"no newline", _seeded_signer())
    with pytest.raises(ProofError, match="control character"):
        sign_note(b"a\rb\n", _seeded_signer())


def test_sign_note_allows_blank_lines_in_the_text() -> None:
    signer = _seeded_signer()
    body = b"first\n\nthird\n\n"
    assert open_note(sign_note(body, signer), [signer.verifier]) == (body, [ORIGIN])


# --- verifier keys -------------------------------------------------------------------


def _vkey_parts(signer: NoteSigner) -> tuple[str, str, bytes]:
    name, hex_id, encoded = signer.verifier_key().split("+", 2)
    return name, hex_id, base64.b64decode(encoded)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _bad_vkeys() -> list[tuple[str, str]]:
    name, hex_id, raw = _vkey_parts(_seeded_signer())
    other_alg, longer = b"\x02" + raw[1:], raw + b"\x00"
    return [
        (f"bad name+{hex_id}+{_b64(raw)}", "key name 'bad name'"),
        (f"+{hex_id}+{_b64(raw)}", "must not be empty"),
        (f"{name}+{hex_id}", "must have the form"),
        (f"{name}+00000000+{_b64(raw)}", "does not match the key"),
        (f"{name}+{hex_id.upper()}+{_b64(raw)}", "8 lowercase hex"),
        (f"{name}+{hex_id[:6]}+{_b64(raw)}", "8 lowercase hex"),
        (f"{name}+{hex_id}+{_b64(other_alg)}", "algorithm is 0x02"),
        (f"{name}+{hex_id}+{_b64(raw[:-1])}", "31 bytes, not 32"),
        (f"{name}+{hex_id}+{_b64(longer)}", "33 bytes, not 32"),
        (f"{name}+{hex_id}+not base64!", "not valid base64"),
        (f"{name}+{hex_id}+", "empty"),
    ]


@pytest.mark.parametrize(("vkey", "message"), _bad_vkeys())
def test_bad_verifier_keys_are_rejected(vkey: str, message: str) -> None:
    with pytest.raises(ProofError, match=message):
        parse_verifier_key(vkey)


def test_verifier_rejects_bad_public_key_length() -> None:
    with pytest.raises(ProofError, match="31 bytes, not 32"):
        NoteVerifier("a.example", b"\x00" * 31)
    with pytest.raises(ProofError, match="spaces and"):
        _seeded_signer("has space")


# --- checkpoint text -----------------------------------------------------------------

_ROOT = base64.b64encode(bytes(range(32))).decode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (f"{ORIGIN}\n5\n{_ROOT}", "end with a newline"),
        (f"{ORIGIN}\n5\n", "needs origin, size and root"),
        (f"{ORIGIN}\n5\n{_ROOT}\nextension\n", "extension lines"),
        (f"{ORIGIN}\n05\n{_ROOT}\n", "not a decimal number"),
        (f"{ORIGIN}\n-5\n{_ROOT}\n", "not a decimal number"),
        (f"{ORIGIN}\n 5\n{_ROOT}\n", "not a decimal number"),
        (f"{ORIGIN}\n\n{_ROOT}\n", "not a decimal number"),
        (f"\n5\n{_ROOT}\n", "origin must not be empty"),
        (f"{ORIGIN}\n5\n{_ROOT[:-4]}\n", "root hash is 30 bytes"),
        (f"{ORIGIN}\n5\n{_ROOT.rstrip('=')}\n", "not valid base64"),
        (f"{ORIGIN}\n5\n{_ROOT[:-2]}9=\n", "canonical"),
    ],
)
def test_bad_checkpoint_bodies_are_rejected(body: str, message: str) -> None:
    with pytest.raises(ProofError, match=message):
        Checkpoint.parse_body(body.encode())


def test_checkpoint_values_are_validated() -> None:
    with pytest.raises(ProofError, match="negative"):
        Checkpoint(ORIGIN, -1, bytes(32))
    with pytest.raises(ProofError, match="31 bytes"):
        Checkpoint(ORIGIN, 1, bytes(31))
    with pytest.raises(ProofError, match="control character"):
        Checkpoint("a\nb", 1, bytes(32))
