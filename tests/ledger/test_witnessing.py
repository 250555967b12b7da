"""The ledger and its witnesses: pushes, cosigned checkpoints and bundles, and a split view
caught by a witness that saw the other history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from api.http.witness import create_witness_app
from graph.bundle import build_bundle
from graph.verify import WitnessPolicy, verify_bundle
from ledger import log
from ledger.checkpoint import LogKey
from ledger.cosignature import Cosigner
from ledger.store import Store
from ledger.witness import Witness, WitnessState
from ledger.witnessing import WitnessEndpoint, push
from tests.graph import chains
from tests.support import World, seeded_key

COSIGNER = Cosigner("witness.coop.example/w1", seeded_key("witness-1"))
LOG_KEY = LogKey(chains.log_signer().verifier.public_key, chains.LOG_ORIGIN)


def _witness(state: Path) -> tuple[Witness, Any]:
    witness = Witness(
        COSIGNER, {chains.LOG_ORIGIN: chains.log_signer().verifier}, WitnessState(state)
    )
    client = create_witness_app(witness).test_client()

    def post(url: str, body: bytes) -> tuple[int, str, str]:
        response = client.post("/" + url.rsplit("/", 1)[1], data=body)
        return (
            response.status_code,
            response.headers["Content-Type"],
            response.get_data(as_text=True),
        )

    return witness, post


def _served(store: Store) -> str:
    """The latest checkpoint as the log serves it, with its cosignatures."""
    found = log.cosigned(store)
    return found[1] if found is not None else ""


ENDPOINT = WitnessEndpoint("http://witness.test", COSIGNER.key)
POLICY = WitnessPolicy((COSIGNER.key,), 1)


def _ledger(tmp_path: Path, name: str) -> tuple[Store, World]:
    store = Store(f"sqlite:///{tmp_path / name}")
    store.migrate()
    return store, World.create(store)


def test_pushed_checkpoints_are_served_and_bundled_cosigned(tmp_path: Path) -> None:
    store, world = _ledger(tmp_path, "a.db")
    bag = chains.single_origin(world)
    _witness_obj, post = _witness(tmp_path / "w.db")
    assert push(store, ENDPOINT, post).startswith("cosigned at ")
    assert push(store, ENDPOINT, post).startswith("up to date")
    note = _served(store)
    assert note is not None and f"\N{EM DASH} {COSIGNER.name} " in note

    bundle = build_bundle(store, bag)
    assert verify_bundle(bundle, LOG_KEY, POLICY).ok
    stranger = Cosigner("witness.coop.example/w1", seeded_key("someone-else"))
    report = verify_bundle(bundle, LOG_KEY, WitnessPolicy((stranger.key,), 1))
    assert [f.check for f in report.findings] == ["witnesses"]

    # the log grows: the next push carries a consistency proof from the cosigned size
    c = chains.Coffee(world)
    c.harvest(chains.COOP, f"{chains.COOP}:h-later", "5", chains.M1, chains.P1)
    assert push(store, ENDPOINT, post) == f"cosigned at {store.size()}"


def test_a_witness_that_lost_its_state_is_caught_up_from_zero(tmp_path: Path) -> None:
    store, world = _ledger(tmp_path, "a.db")
    chains.single_origin(world)
    _w, post = _witness(tmp_path / "w1.db")
    assert push(store, ENDPOINT, post).startswith("cosigned")
    chains.Coffee(world).harvest(chains.COOP, f"{chains.COOP}:h-x", "5", chains.M1, chains.P1)
    _w, fresh = _witness(tmp_path / "w2.db")  # its state file is gone: it says 0
    assert push(store, ENDPOINT, fresh) == f"cosigned at {store.size()}"


def test_a_split_view_is_caught_by_a_witness_that_saw_the_other_history(tmp_path: Path) -> None:
    """The operator keeps two ledgers under one log key and shows each to someone else.
    The witness cosigned the history it was shown first; the other history's bundle
    carries no cosignature of it, and a cosignature copied across does not verify."""
    honest, honest_world = _ledger(tmp_path, "honest.db")
    chains.single_origin(honest_world)
    forked, forked_world = _ledger(tmp_path, "forked.db")
    bag = chains.single_origin(forked_world, cert_until="2026-12-31")  # another history
    _w, post = _witness(tmp_path / "w.db")
    assert push(honest, ENDPOINT, post).startswith("cosigned")
    refused = push(forked, ENDPOINT, post)
    assert refused.startswith(("refused: HTTP 409", "refused: HTTP 422")), refused

    bundle = build_bundle(forked, bag)
    assert verify_bundle(bundle, LOG_KEY).ok  # the log's key alone cannot tell
    report = verify_bundle(bundle, LOG_KEY, POLICY)
    assert [f.check for f in report.findings] == ["witnesses"]

    honest_note = _served(honest)
    copied = next(
        ln for ln in honest_note.splitlines() if ln.startswith(f"\N{EM DASH} {COSIGNER.name}")
    )
    bundle["checkpoint"] = bundle["checkpoint"] + copied + "\n"
    assert [f.check for f in verify_bundle(bundle, LOG_KEY, POLICY).findings] == ["witnesses"]


def test_a_quorum_larger_than_the_witnesses_is_a_mistake() -> None:
    with pytest.raises(ValueError):
        WitnessPolicy((COSIGNER.key,), 2)


def test_a_witness_answering_200_with_no_valid_cosignature_is_not_believed(
    tmp_path: Path,
) -> None:
    store, world = _ledger(tmp_path, "a.db")
    chains.single_origin(world)
    forged = Cosigner(COSIGNER.name, seeded_key("not-the-witness"))

    def lying(url: str, body: bytes) -> tuple[int, str, str]:
        note = _served(store)
        return 200, "text/plain", forged.cosign(note.split("\n\n")[0].encode() + b"\n")

    assert push(store, ENDPOINT, lying) == "answered 200 without a valid cosignature: not kept"
    assert f"\N{EM DASH} {COSIGNER.name} " not in (_served(store))


@pytest.mark.parametrize(
    "answer",
    [
        (200, "text/plain", "\N{EM DASH} witness.coop.example/w1 !!notbase64\n"),
        (200, "text/plain", "\N{EM DASH} witness.coop.example/w1 a\tb\n"),
        (409, "text/x.tlog.size", "\u00b2\n"),
        (409, "text/x.tlog.size", "99999999999999999999\n"),
        (409, "text/x.tlog.size", "1000000000000\n"),
    ],
)
def test_a_witness_talking_nonsense_is_refused_not_a_crash_and_not_kept(
    tmp_path: Path, answer: tuple[int, str, str]
) -> None:
    """From the attacker review: junk lines and 409 bodies crashed the pusher (and so every
    other witness's push), and a forged 409 size was kept, wedging the witness for good."""
    store, world = _ledger(tmp_path, "a.db")
    chains.single_origin(world)
    outcome = push(store, ENDPOINT, lambda url, body: answer)
    assert not outcome.startswith("cosigned"), outcome
    with store.reading() as session:
        assert session.get(log.WitnessHeadRow, COSIGNER.name) is None
    _w, honest = _witness(tmp_path / "w.db")
    assert push(store, ENDPOINT, honest).startswith("cosigned")  # the next round goes on
