"""Fixtures for the HTTP API: an app and a test client over a ledger with its operator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api import create_app
from ledger.keys import write_keypair
from tests.support import World

READ_TOKEN = "s3cret-read-token"


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    """A keys folder holding a log key, as `trazo init` leaves it."""
    folder = tmp_path / "keys"
    write_keypair(folder, "log")
    return folder


@pytest.fixture
def app(world: World, keys_dir: Path) -> Iterator[Flask]:
    app = create_app(
        {
            "TESTING": True,
            "TRAZO_DATABASE_URL": world.store.url,
            "TRAZO_KEYS": str(keys_dir),
            "TRAZO_READ_TOKEN": READ_TOKEN,
        }
    )
    yield app
    app.extensions["trazo.store"].dispose()


OPERATOR = {"Authorization": f"Bearer {READ_TOKEN}"}


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A client with the operator's token: it reads everything (the tests of who reads
    what use ``anonymous`` and party sessions, ``tests/api/test_access.py``)."""
    operator = app.test_client()
    operator.environ_base["HTTP_AUTHORIZATION"] = OPERATOR["Authorization"]
    return operator


@pytest.fixture
def anonymous(app: Flask) -> FlaskClient:
    """A client with no credentials: it reads only what is public."""
    return app.test_client()


def post_events(client: FlaskClient, *envelopes: Any, batch: bool = True) -> Any:
    """POST envelopes (Envelope objects or dicts) as a batch, or one bare envelope."""
    dicts = [e if isinstance(e, dict) else e.to_dict() for e in envelopes]
    body = {"events": dicts} if batch else dicts[0]
    return client.post("/api/v1/events", json=body)


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status; return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json(force=True)
    assert body["status"] == status
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


OPERATOR_TOKEN = "test-operator-token"


@pytest.fixture
def private_app(world: World, tmp_path: Path) -> Iterator[Flask]:
    """An app over ``world``'s ledger with the test chains' log key (so bundles verify)
    and an operator token: for the tests of who reads what."""
    from tests.graph import chains

    keys = tmp_path / "private-keys"
    write_keypair(keys, "log", chains.log_private())
    app = create_app(
        {
            "TESTING": True,
            "TRAZO_DATABASE_URL": world.store.url,
            "TRAZO_KEYS": str(keys),
            "TRAZO_READ_TOKEN": OPERATOR_TOKEN,
            "TRAZO_LOG_ORIGIN": chains.LOG_ORIGIN,
        }
    )
    yield app
    app.extensions["trazo.store"].dispose()


def sign_in(client: FlaskClient, party: str) -> str:
    """A party's session, the way a client opens one: challenge, signature, token."""
    from ledger.envelope import SESSION_PAYLOAD_TYPE, keyid_of, session_statement, sign
    from tests.support import seeded_key

    key = seeded_key(party)
    challenge = client.post("/api/v1/sessions/challenge").get_json()
    statement = session_statement(
        challenge["challenge"], challenge["ledger"], "localhost", keyid_of(key.public_key())
    )
    answer = client.post(
        "/api/v1/sessions", json=sign(statement, key, SESSION_PAYLOAD_TYPE).to_dict()
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    token: str = answer.get_json()["token"]
    return token
