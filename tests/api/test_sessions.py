"""Party sessions (``api.http.sessions``), attacked: replays, forgeries, lapses, floods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from ledger.envelope import SESSION_PAYLOAD_TYPE, keyid_of, session_statement, sign
from ledger.fields import utc_text
from ledger.schema import ChallengeRow, SessionRow
from tests.api.conftest import assert_problem, sign_in
from tests.api.test_access import TRADER_A
from tests.graph import chains
from tests.support import World, public_b64, seeded_key


@pytest.fixture
def sessions_app(world: World, private_app: Flask) -> Flask:
    chains.Coffee(world).party(TRADER_A, ["trader"])
    return private_app


@pytest.fixture
def api(sessions_app: Flask) -> FlaskClient:
    return sessions_app.test_client()


def _signed(client: FlaskClient, party: str, **changes: Any) -> dict[str, Any]:
    key = changes.pop("key", seeded_key(party))
    challenge = client.post("/api/v1/sessions/challenge").get_json()
    statement = session_statement(
        changes.get("challenge", challenge["challenge"]),
        changes.get("ledger", challenge["ledger"]),
        changes.get("server", "localhost"),
        keyid_of(key.public_key()),
    )
    return sign(statement, key, changes.get("payload_type", SESSION_PAYLOAD_TYPE)).to_dict()


def _me(client: FlaskClient, token: str) -> Any:
    return client.get(
        f"/api/v1/parties/{TRADER_A}/holdings", headers={"Authorization": f"Bearer {token}"}
    )


def test_a_signed_challenge_opens_a_session_scoped_to_the_keys_party(api: FlaskClient) -> None:
    token = sign_in(api, TRADER_A)
    assert _me(api, token).status_code == 200
    listed = api.get("/api/v1/sessions", headers={"Authorization": f"Bearer {token}"})
    assert [s["party"] for s in listed.get_json()["sessions"]] == [TRADER_A]
    assert "token" not in listed.get_data(as_text=True).lower().replace('"sessions"', "")


def test_a_replayed_challenge_is_refused(api: FlaskClient) -> None:
    envelope = _signed(api, TRADER_A)
    assert api.post("/api/v1/sessions", json=envelope).status_code == 201
    body = assert_problem(api.post("/api/v1/sessions", json=envelope), 401)
    assert body["errors"][0]["field"] == "payload.challenge"


def test_a_made_up_or_expired_challenge_is_refused(api: FlaskClient, world: World) -> None:
    assert_problem(
        api.post("/api/v1/sessions", json=_signed(api, TRADER_A, challenge="x" * 43)), 401
    )
    envelope = _signed(api, TRADER_A)
    with world.store.state() as session:
        session.execute(
            update(ChallengeRow).values(expires_at=utc_text(datetime.now(UTC) - timedelta(1)))
        )
    assert_problem(api.post("/api/v1/sessions", json=envelope), 401)


def test_a_challenge_signed_for_another_ledger_is_refused(api: FlaskClient) -> None:
    """A relaying server cannot reuse a signature it asked for on its own ledger."""
    envelope = _signed(api, TRADER_A, ledger="sha256:" + "1" * 64)
    body = assert_problem(api.post("/api/v1/sessions", json=envelope), 401)
    assert body["errors"][0]["field"] == "payload.ledger"


def test_a_challenge_relayed_by_another_server_is_refused(api: FlaskClient) -> None:
    """A server serving a copy of this ledger asks a party to sign in to it, and relays
    the real server's challenge: the signature names the copy, so it opens nothing."""
    envelope = _signed(api, TRADER_A, server="mirror.example:8000")
    body = assert_problem(api.post("/api/v1/sessions", json=envelope), 401)
    assert body["errors"][0]["field"] == "payload.server"


def test_an_unregistered_key_or_a_forged_signature_opens_nothing(api: FlaskClient) -> None:
    stranger = _signed(api, TRADER_A, key=seeded_key("stranger"))
    assert_problem(api.post("/api/v1/sessions", json=stranger), 401)
    envelope = _signed(api, TRADER_A)
    forged = _signed(api, TRADER_A, key=seeded_key("stranger"))
    envelope["signatures"][0]["sig"] = forged["signatures"][0]["sig"]
    assert_problem(api.post("/api/v1/sessions", json=envelope), 401)


def test_an_event_signature_is_never_a_sign_in(api: FlaskClient) -> None:
    """The session payload type keeps an event envelope (or a session statement signed as
    an event) from opening a session, and a session statement from being an event."""
    as_event = _signed(api, TRADER_A, payload_type="application/vnd.trazo.event+json")
    body = assert_problem(api.post("/api/v1/sessions", json=as_event), 401)
    assert body["errors"][0]["field"] == "payloadType"
    statement = _signed(api, TRADER_A)
    assert_problem(api.post("/api/v1/events", json=statement), 422)


def test_an_expired_or_ended_session_is_a_401(api: FlaskClient, world: World) -> None:
    token = sign_in(api, TRADER_A)
    session_id = token.split(".")[0]
    with world.store.state() as session:
        session.execute(
            update(SessionRow)
            .where(SessionRow.id == session_id)
            .values(expires_at=utc_text(datetime.now(UTC) - timedelta(seconds=1)))
        )
    assert "expired" in assert_problem(_me(api, token), 401)["detail"]
    other = sign_in(api, TRADER_A)
    auth = {"Authorization": f"Bearer {other}"}
    ended = api.delete(f"/api/v1/sessions/{other.split('.')[0]}", headers=auth)
    assert ended.status_code == 204
    assert "ended" in assert_problem(_me(api, other), 401)["detail"]


def test_a_party_cannot_end_another_partys_session(api: FlaskClient, world: World) -> None:
    chains.Coffee(world).party("trader-b", ["trader"])
    mine = sign_in(api, TRADER_A)
    theirs = sign_in(api, "trader-b")
    response = api.delete(
        f"/api/v1/sessions/{mine.split('.')[0]}", headers={"Authorization": f"Bearer {theirs}"}
    )
    assert_problem(response, 404)
    assert _me(api, mine).status_code == 200


def test_a_token_with_the_right_id_and_a_wrong_secret_is_a_401(api: FlaskClient) -> None:
    token = sign_in(api, TRADER_A)
    session_id, secret = token.split(".")
    assert_problem(_me(api, f"{session_id}.{secret[:-1]}x"), 401)


def test_revoking_the_key_ends_its_sessions(api: FlaskClient, world: World) -> None:
    c = chains.Coffee(world)
    c.append(
        TRADER_A,
        {"type": "key.add", "subject": TRADER_A, "public_key": public_b64(seeded_key("a2"))},
    )
    token = sign_in(api, TRADER_A)
    assert _me(api, token).status_code == 200
    c.append(
        "operator",
        {
            "type": "key.revoke",
            "subject": TRADER_A,
            "keyid": keyid_of(seeded_key(TRADER_A).public_key()),
            "reason": "laptop stolen",
        },
    )
    assert "revoked" in assert_problem(_me(api, token), 401)["detail"]
    assert_problem(api.post("/api/v1/sessions", json=_signed(api, TRADER_A)), 401)


def test_sign_ins_and_requests_are_budgeted(world: World, sessions_app: Flask) -> None:
    sessions_app.config.update(TRAZO_SIGNIN_RATE_LIMIT=3, TRAZO_RATE_LIMIT=8)
    client = sessions_app.test_client()
    for _ in range(3):
        assert client.post("/api/v1/sessions/challenge").status_code == 201
    flooded = client.post("/api/v1/sessions/challenge")
    body = assert_problem(flooded, 429)
    assert 1 <= int(flooded.headers["Retry-After"]) <= 60
    assert body["retry_after"] == int(flooded.headers["Retry-After"])
    statuses = [client.get("/api/v1/parties").status_code for _ in range(6)]
    assert statuses[:4] == [200] * 4 and statuses[-1] == 429
    # bad tokens count against the client too: no free guessing
    guesses = [
        client.get("/api/v1/parties", headers={"Authorization": "Bearer x"}).status_code
        for _ in range(3)
    ]
    assert set(guesses) == {429}


def test_a_revocation_dated_minutes_ahead_ends_the_sessions_now(
    api: FlaskClient, world: World
) -> None:
    """As the engine treats a revoked key (nothing it signs counts once the revocation is in
    the ledger, whatever time it states), a key.revoke dated within the 5 minutes of clock
    skew the ledger allows ends the key's sessions at once, not when that time comes."""
    c = chains.Coffee(world)
    c.append(
        TRADER_A,
        {"type": "key.add", "subject": TRADER_A, "public_key": public_b64(seeded_key("a3"))},
    )
    token = sign_in(api, TRADER_A)
    ahead = (datetime.now(UTC) + timedelta(minutes=3)).isoformat()
    c.append(
        "operator",
        {
            "type": "key.revoke",
            "time": ahead,
            "subject": TRADER_A,
            "keyid": keyid_of(seeded_key(TRADER_A).public_key()),
            "reason": "laptop stolen",
        },
    )
    assert "revoked" in assert_problem(_me(api, token), 401)["detail"]
    assert_problem(api.post("/api/v1/sessions", json=_signed(api, TRADER_A)), 401)


def test_with_a_public_url_a_forged_host_header_relays_nothing(
    sessions_app: Flask, api: FlaskClient
) -> None:
    """From the final attacker review: a relay posted the victim's signature for its own
    name with `Host:` set to that name. With TRAZO_PUBLIC_URL the server accepts only its
    own public name, whatever Host the request claims."""
    sessions_app.config["TRAZO_PUBLIC_URL"] = "https://ledger.example"
    relayed = _signed(api, TRADER_A, server="mirror.example")
    forged = api.post("/api/v1/sessions", json=relayed, headers={"Host": "mirror.example"})
    assert assert_problem(forged, 401)["errors"][0]["field"] == "payload.server"
    honest = _signed(api, TRADER_A, server="ledger.example")
    assert api.post("/api/v1/sessions", json=honest).status_code == 201
