"""Inputs at the edges get 4xx problems, never 500s."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.api.conftest import assert_problem
from tests.support import World


def test_huge_integers_in_queries_are_4xx(world: World, client: FlaskClient) -> None:
    assert_problem(client.get("/api/v1/events", query_string={"after": "9" * 30}), 422)
    assert_problem(client.get("/api/v1/log/checkpoints/" + "9" * 30), 404)
    assert_problem(
        client.get("/api/v1/log/proof/consistency", query_string={"from": "9" * 30}), 422
    )


def test_deeply_nested_body_is_400(world: World, client: FlaskClient) -> None:
    body = "[" * 100_000 + "]" * 100_000
    response = client.post("/api/v1/events", data=body, content_type="application/json")
    assert_problem(response, 400)


def test_payload_with_a_huge_integer_is_422(world: World, client: FlaskClient) -> None:
    import base64
    import json

    from ledger.signer import KeyChain
    from tests.support import seeded_key

    chain = KeyChain(
        seeded_key("operator"), "operator", seq=1, prev=world.operator.prev, ledger=world.ledger
    )
    env = chain.sign(
        {
            "type": "party.register",
            "time": world.tick(),
            "subject": "x",
            "name": "X",
            "roles": ["spo"],
            "country": "PE",
            "public_key": "AA==",
        }
    )
    payload = base64.b64decode(env.to_dict()["payload"])
    bad = payload.replace(b'"seq":2', b'"seq":' + b"9" * 5000)
    doc = env.to_dict()
    doc["payload"] = base64.b64encode(bad).decode()
    response = client.post("/api/v1/events", data=json.dumps(doc), content_type="application/json")
    assert response.status_code in (400, 422), response.get_data(as_text=True)
