"""/api/v1/log: checkpoints and proofs over HTTP, checked with the offline verifiers."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from ledger.checkpoint import LogKey, parse_verifier_key
from ledger.envelope import leaf_input
from ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from tests.api.conftest import assert_problem, post_events
from tests.support import World


def _grow(world: World, client: FlaskClient, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        name = f"party-{len(world.chains)}"
        response = post_events(client, world.register_envelope(name, ["trader"]))
        assert response.status_code == 201, response.get_json()
        ids.append(response.get_json()["events"][0]["id"])
    return ids


def test_checkpoints_and_proofs_verify(world: World, client: FlaskClient) -> None:
    key_text = client.get("/api/v1/log/key").get_data(as_text=True).strip()
    verifier = parse_verifier_key(key_text)
    trusted = LogKey(verifier.public_key, verifier.name)

    first = _grow(world, client, 3)
    old_note = client.get("/api/v1/log/checkpoint")
    assert old_note.mimetype == "text/plain"
    old = trusted.open(old_note.get_data(as_text=True))
    assert old.size == 4  # genesis (appended without the server) + 3
    _grow(world, client, 4)
    new = trusted.open(client.get("/api/v1/log/checkpoint").get_data(as_text=True))
    assert new.size == 8

    at_old = client.get(f"/api/v1/log/checkpoints/{old.size}").get_data(as_text=True)
    assert trusted.open(at_old) == old

    proof = client.get(
        "/api/v1/log/proof/inclusion", query_string={"id": first[1], "size": new.size}
    )
    body = proof.get_json()
    assert body["index"] == 2 and body["size"] == 8
    envelope = client.get(f"/api/v1/events/{first[1]}").get_json()["envelope"]
    import base64

    payload = base64.b64decode(envelope["payload"])
    verify_inclusion(
        leaf_hash(leaf_input(payload)),
        body["index"],
        new.size,
        [bytes.fromhex(h) for h in body["hashes"]],
        new.root,
    )

    cons = client.get(
        "/api/v1/log/proof/consistency", query_string={"from": old.size, "to": new.size}
    ).get_json()
    assert cons["from"] == 4 and cons["to"] == 8
    verify_consistency(
        old.size, new.size, [bytes.fromhex(h) for h in cons["hashes"]], old.root, new.root
    )


def test_post_events_returns_the_checkpoint(world: World, client: FlaskClient) -> None:
    response = post_events(client, world.register_envelope("coop-x", ["spo"]))
    note = response.get_json()["checkpoint"]
    assert note.splitlines()[1] == "2"


def test_log_errors_are_problems(world: World, client: FlaskClient) -> None:
    assert_problem(client.get("/api/v1/log/checkpoints/999"), 404)
    assert_problem(
        client.get("/api/v1/log/proof/inclusion", query_string={"id": "sha256:" + "0" * 64}), 404
    )
    assert_problem(
        client.get("/api/v1/log/proof/consistency", query_string={"from": 5, "to": 2}), 422
    )
    assert_problem(client.get("/api/v1/log/proof/consistency", query_string={"to": 2}), 422)
    assert_problem(client.get("/api/v1/log/proof/consistency", query_string={"from": 0}), 422)


def test_log_key_missing_is_404(world: World, tmp_path: Path) -> None:
    from api import create_app

    app = create_app(
        {
            "TESTING": True,
            "TRAZO_DATABASE_URL": world.store.url,
            "TRAZO_KEYS": str(tmp_path / "none"),
        }
    )
    assert_problem(app.test_client().get("/api/v1/log/key"), 404)
    app.extensions["trazo.store"].dispose()
