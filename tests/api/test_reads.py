"""Keys, parties, health and the OpenAPI document."""

from __future__ import annotations

from flask.testing import FlaskClient

from api import create_app
from ledger.envelope import keyid_of
from tests.api.conftest import assert_problem, post_events
from tests.support import World, public_b64, seeded_key


def test_key_head_follows_the_chain(client: FlaskClient, world: World) -> None:
    post_events(client, world.register_envelope("coop-a", ["spo"]))
    keyid = keyid_of(seeded_key("coop-a").public_key())
    assert client.get(f"/api/v1/keys/{keyid}/head").get_json() == {
        "keyid": keyid,
        "party": "coop-a",
        "seq": 0,
        "prev": None,
    }
    envelope = world.sign(
        "coop-a",
        {"type": "key.add", "subject": "coop-a", "public_key": public_b64(seeded_key("coop-a-2"))},
    )
    post_events(client, envelope)
    assert client.get(f"/api/v1/keys/{keyid}/head").get_json() == {
        "keyid": keyid,
        "party": "coop-a",
        "seq": 1,
        "prev": envelope.id,
    }


def test_unknown_key_head_is_404(client: FlaskClient) -> None:
    body = assert_problem(client.get(f"/api/v1/keys/{'0' * 64}/head"), 404)
    assert "no key" in body["detail"]


def test_parties_list_keys_active_and_revoked(client: FlaskClient, world: World) -> None:
    post_events(
        client,
        world.register_envelope("coop-a", ["spo"]),
        world.register_envelope("roaster-b", ["roaster"], country="SE"),
    )
    first = keyid_of(seeded_key("coop-a").public_key())
    second = keyid_of(seeded_key("coop-a-2").public_key())
    post_events(
        client,
        world.sign(
            "coop-a",
            {
                "type": "key.add",
                "subject": "coop-a",
                "public_key": public_b64(seeded_key("coop-a-2")),
            },
        ),
        world.sign(
            "coop-a",
            {"type": "key.revoke", "subject": "coop-a", "keyid": second, "reason": "device lost"},
        ),
    )
    page = client.get("/api/v1/parties").get_json()
    assert [p["id"] for p in page["parties"]] == ["coop-a", "operator", "roaster-b"]
    assert page["next_after"] is None
    party = client.get("/api/v1/parties/coop-a").get_json()
    keys = {k["keyid"]: k for k in party["keys"]}
    assert keys[first]["active"] is True and keys[first]["revoked_at"] is None
    assert keys[second]["active"] is False
    assert keys[second]["revoke_reason"] == "device lost"
    assert keys[second]["revoked_at"].endswith("Z")
    assert party["roles"] == ["spo"] and party["country"] == "PE"
    assert party["certificates"] == []
    paged = client.get("/api/v1/parties?limit=1&after=coop-a").get_json()
    assert [p["id"] for p in paged["parties"]] == ["operator"]
    assert paged["next_after"] == "operator"


def test_unknown_party_is_404(client: FlaskClient) -> None:
    assert_problem(client.get("/api/v1/parties/nobody"), 404)


def test_bad_party_query_is_422(client: FlaskClient) -> None:
    body = assert_problem(client.get("/api/v1/parties?limit=5000"), 422)
    assert body["errors"][0]["field"] == "limit"


def test_health_reports_the_database(client: FlaskClient, world: World) -> None:
    assert client.get("/api/v1/health").get_json() == {
        "status": "ok",
        "database": True,
        "events": 1,
        "ledger": world.ledger,
    }


def test_health_is_503_without_a_ledger(tmp_path: object) -> None:
    app = create_app({"TRAZO_DATABASE_URL": f"sqlite:///{tmp_path}/none.db"})
    body = assert_problem(app.test_client().get("/api/v1/health"), 503)
    assert body["database"] is False


def test_openapi_document_is_generated(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path in (
        "/api/v1/events",
        "/api/v1/events/{event_id}",
        "/api/v1/keys/{keyid}/head",
        "/api/v1/parties",
        "/api/v1/parties/{party_id}",
        "/api/v1/lots/{lot}",
        "/api/v1/health",
    ):
        assert path in paths, path
    post = paths["/api/v1/events"]["post"]
    assert {"200", "201", "400", "409", "413", "415", "422"} <= set(post["responses"])
    conflict = spec["components"]["responses"]["CONFLICT"]["content"]
    assert list(conflict) == ["application/problem+json"]
    assert spec["components"]["schemas"]["Envelope"]["additionalProperties"] is False
    assert "Unknown fields are rejected" in spec["info"]["description"]
