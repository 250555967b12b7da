"""The witness (C2SP ``tlog-witness``) and its cosignatures (``tlog-cosignature``), attacked:
every response code, forks, rollbacks, a restart mid-stream, two racing logs."""

from __future__ import annotations

import base64
import hashlib
import threading
from pathlib import Path

import pytest

from api.http.witness import create_witness_app
from ledger.checkpoint import Checkpoint, NoteSigner, sign_checkpoint
from ledger.cosignature import Cosigner, CosignerKey, cosignatures, signed_message
from ledger.merkle import MemoryTree
from ledger.witness import SIZE_TYPE, Witness, WitnessState, request_body
from tests.support import seeded_key

ORIGIN = "ledger.example/log"
LOG = NoteSigner(ORIGIN, seeded_key("log"))
COSIGNER = Cosigner("witness.example/w1", seeded_key("witness"))


def _tree(size: int, salt: str = "") -> MemoryTree:
    return MemoryTree(hashlib.sha256(f"{salt}{i}".encode()).digest() for i in range(size))


def _note(tree: MemoryTree, size: int, signer: NoteSigner = LOG) -> str:
    return sign_checkpoint(Checkpoint(ORIGIN, size, tree.root(size)), signer)


def _add(witness: Witness, tree: MemoryTree, old: int, size: int, **kw: object) -> object:
    proof = tree.consistency_proof(old, size) if 0 < old < size else []
    note = kw.get("note") or _note(tree, size)
    return witness.add_checkpoint(request_body(old, proof, str(note)))


@pytest.fixture
def witness(tmp_path: Path) -> Witness:
    return Witness(COSIGNER, {ORIGIN: LOG.verifier}, WitnessState(tmp_path / "witness.db"))


def test_a_consistent_history_is_cosigned_step_by_step(witness: Witness) -> None:
    tree = _tree(300)
    first = _add(witness, tree, 0, 10)
    assert first.status == 200 and first.body.startswith("\N{EM DASH} witness.example/w1 ")
    second = _add(witness, tree, 10, 300)
    assert second.status == 200
    cosigned = cosignatures(_note(tree, 300) + second.body, [COSIGNER.key])
    assert [c.name for c in cosigned] == ["witness.example/w1"]
    assert witness.state.latest(ORIGIN) == (300, tree.root(300))


def test_every_refusal_has_its_code(witness: Witness) -> None:
    tree = _tree(100)
    assert _add(witness, tree, 0, 50).status == 200
    # an unknown log: 404
    other = NoteSigner("other.example/log", seeded_key("other"))
    note = sign_checkpoint(Checkpoint("other.example/log", 5, tree.root(5)), other)
    assert witness.add_checkpoint(request_body(0, [], note)).status == 404
    # the log's name, another key: 403
    impostor = NoteSigner(ORIGIN, seeded_key("impostor"))
    assert _add(witness, tree, 50, 60, note=_note(tree, 60, impostor)).status == 403
    # old is not what it cosigned: 409 with the size, as text/x.tlog.size
    stale = _add(witness, tree, 40, 60)
    assert (stale.status, stale.body, stale.content_type) == (409, "50\n", SIZE_TYPE)
    # old above the new size (a log going back): 400
    assert _add(witness, tree, 50, 40).status == 400
    # a proof that does not verify: 422
    bad = witness.add_checkpoint(
        request_body(50, [b"\x00" * 32] * len(tree.consistency_proof(50, 60)), _note(tree, 60))
    )
    assert bad.status == 422
    # malformed: 400
    for body in (
        b"old 50\n" + _note(tree, 60).encode(),
        b"old 050\n\n" + _note(tree, 60).encode(),
        b"new 50\n\n" + _note(tree, 60).encode(),
        b"\xff\xfe",
    ):
        assert witness.add_checkpoint(body).status == 400, body[:12]
    assert witness.state.latest(ORIGIN) == (50, tree.root(50))  # nothing moved


def test_a_fork_is_refused_and_said_so(witness: Witness) -> None:
    honest, forked = _tree(100), _tree(100, salt="fork")
    assert _add(witness, honest, 0, 80).status == 200
    same_size = _add(witness, forked, 80, 80)
    assert same_size.status == 409 and "fork" in same_size.body
    later = witness.add_checkpoint(
        request_body(80, forked.consistency_proof(80, 100), _note(forked, 100))
    )
    assert later.status == 422  # the other history cannot be proven consistent
    assert _add(witness, honest, 80, 100).status == 200


def test_a_restarted_witness_keeps_its_history(tmp_path: Path) -> None:
    tree = _tree(50)
    first = Witness(COSIGNER, {ORIGIN: LOG.verifier}, WitnessState(tmp_path / "w.db"))
    assert _add(first, tree, 0, 30).status == 200
    again = Witness(COSIGNER, {ORIGIN: LOG.verifier}, WitnessState(tmp_path / "w.db"))
    asked = _add(again, tree, 0, 40)
    assert (asked.status, asked.body) == (409, "30\n")  # a log learns where it stands
    assert _add(again, tree, 30, 40).status == 200


def test_two_racing_submissions_cannot_roll_the_witness_back(tmp_path: Path) -> None:
    tree = _tree(200)
    state = WitnessState(tmp_path / "w.db")
    witnesses = [Witness(COSIGNER, {ORIGIN: LOG.verifier}, state) for _ in range(2)]
    assert _add(witnesses[0], tree, 0, 100).status == 200
    answers: list[int] = []

    def submit(w: Witness, size: int) -> None:
        answers.append(_add(w, tree, 100, size).status)

    threads = [
        threading.Thread(target=submit, args=(w, s))
        for w, s in zip(witnesses, (150, 200), strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [200, 409]
    size, _root = state.latest(ORIGIN) or (0, b"")
    assert size in (150, 200)


def test_the_cosignature_format_matches_the_spec() -> None:
    body = _note(_tree(5), 5).split("\n\n")[0].encode() + b"\n"
    line = COSIGNER.cosign(body, timestamp=1679315147)
    raw = base64.b64decode(line.split(" ")[2].strip())
    name = b"witness.example/w1"
    pub = COSIGNER.key.public_key
    assert raw[:4] == hashlib.sha256(name + b"\n\x04" + pub).digest()[:4]
    assert int.from_bytes(raw[4:12], "big") == 1679315147
    assert signed_message(body, 1679315147) == b"cosignature/v1\ntime 1679315147\n" + body
    vkey = COSIGNER.key.verifier_key()
    assert CosignerKey.parse(vkey) == COSIGNER.key
    assert base64.b64decode(vkey.split("+", 2)[2])[0] == 0x04


def test_the_c2sp_example_cosignature_line_decodes_as_the_spec_says() -> None:
    """tlog-cosignature's example (C2SP/C2SP, tlog-cosignature.md): its timestamp is the
    one of the spec's signed-message example, 1679315147."""
    line = (
        "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZ"
        "qhf5nNo0xUe+mbIUBkBIfZ+qnA=="
    )
    raw = base64.b64decode(line)
    assert len(raw) == 4 + 8 + 64
    assert int.from_bytes(raw[4:12], "big") == 1679315147


def test_a_cosignature_by_another_key_or_of_another_tree_is_none() -> None:
    tree = _tree(10)
    note = _note(tree, 10)
    body = note.split("\n\n")[0].encode() + b"\n"
    stranger = Cosigner("witness.example/w1", seeded_key("stranger"))
    assert cosignatures(note + stranger.cosign(body), [COSIGNER.key]) == []
    other_body = _note(tree, 9).split("\n\n")[0].encode() + b"\n"
    assert cosignatures(note + COSIGNER.cosign(other_body), [COSIGNER.key]) == []
    assert len(cosignatures(note + COSIGNER.cosign(body), [COSIGNER.key])) == 1


def test_the_http_side_answers_with_the_protocols_content_types(witness: Witness) -> None:
    client = create_witness_app(witness).test_client()
    tree = _tree(20)
    ok = client.post("/add-checkpoint", data=request_body(0, [], _note(tree, 20)))
    assert ok.status_code == 200 and ok.get_data(as_text=True).startswith("\N{EM DASH} ")
    stale = client.post("/add-checkpoint", data=request_body(0, [], _note(tree, 20)))
    assert stale.status_code == 409 and stale.headers["Content-Type"] == SIZE_TYPE
    assert stale.get_data(as_text=True) == "20\n"


@pytest.mark.parametrize(
    "old",
    ["\u00b2", "9" * 5000, "\uff15", "0" * 2, "9223372036854775808", " 5", "5 ", "-1"],
)
def test_an_old_size_not_in_ascii_decimal_below_2_63_is_a_400(witness: Witness, old: str) -> None:
    """From the attacker review: '²' passed str.isdigit and crashed int(); 5000 digits
    crashed int(); a full-width '５' was read as 5."""
    tree = _tree(10)
    body = f"old {old}\n\n{_note(tree, 10)}".encode()
    assert witness.add_checkpoint(body).status == 400


def test_the_empty_tree_has_one_root_and_an_equal_size_no_proof(witness: Witness) -> None:
    """From the attacker review: two different size-0 roots were both cosigned, and a
    junk proof to the same size was accepted."""
    import hashlib as h

    empty = Checkpoint(ORIGIN, 0, h.sha256(b"").digest())
    assert witness.add_checkpoint(request_body(0, [], sign_checkpoint(empty, LOG))).status == 200
    other = Checkpoint(ORIGIN, 0, b"\x42" * 32)
    assert witness.add_checkpoint(request_body(0, [], sign_checkpoint(other, LOG))).status == 400
    tree = _tree(50)
    assert _add(witness, tree, 0, 50).status == 200  # from the empty tree: no proof needed
    junk = witness.add_checkpoint(request_body(50, [b"\x00" * 32] * 3, _note(tree, 50)))
    assert junk.status == 400  # to the same size, the proof is empty
    assert _add(witness, tree, 50, 50).status == 200


def test_a_size_beyond_2_63_is_a_400_not_a_crash(witness: Witness) -> None:
    huge = Checkpoint(ORIGIN, 2**64, b"\x01" * 32)
    assert witness.add_checkpoint(request_body(0, [], sign_checkpoint(huge, LOG))).status == 400


def test_one_key_under_two_names_is_one_witness() -> None:
    """From the attacker review: one key published as two witnesses met a quorum of 2."""
    from graph.verify import WitnessPolicy

    twin = Cosigner("w2.example/w", seeded_key("witness"))
    with pytest.raises(ValueError, match="named once"):
        WitnessPolicy((COSIGNER.key, twin.key), 2)
    tree = _tree(5)
    note = _note(tree, 5)
    body = note.split("\n\n")[0].encode() + b"\n"
    both = note + COSIGNER.cosign(body) + twin.cosign(body)
    assert len(cosignatures(both, [COSIGNER.key, twin.key])) == 1
