"""POST and GET /api/v1/events: capture (all or nothing, idempotent) and reading back."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from ledger.envelope import Envelope
from ledger.signer import KeyChain
from tests.api.conftest import READ_TOKEN, assert_problem, post_events
from tests.support import World, public_b64, seeded_key


def _size(world: World) -> int:
    return world.store.size()


# --- capture -----------------------------------------------------------------------------


def test_single_envelope_is_appended_with_201(client: FlaskClient, world: World) -> None:
    envelope = world.register_envelope("coop-pangoa", ["spo"])
    response = post_events(client, envelope, batch=False)
    assert response.status_code == 201
    body = response.get_json()
    assert body["events"] == [{"id": envelope.id, "index": 1, "new": True}]
    assert body["size"] == 2
    assert body["checkpoint"].splitlines()[1] == "2"  # a signed note of the tree of size 2
    assert _size(world) == 2


def test_resubmission_is_idempotent_with_200(client: FlaskClient, world: World) -> None:
    batch = [world.register_envelope(p, ["spo"]) for p in ("coop-a", "coop-b", "coop-c")]
    first = post_events(client, *batch)
    assert first.status_code == 201
    assert [e["index"] for e in first.get_json()["events"]] == [1, 2, 3]
    again = post_events(client, *batch)
    assert again.status_code == 200
    assert again.get_json()["events"] == [
        {"id": e.id, "index": i, "new": False} for i, e in enumerate(batch, start=1)
    ]
    # the checkpoint that includes them (the newest: nothing was appended since)
    assert again.get_json()["checkpoint"] == first.get_json()["checkpoint"]
    assert _size(world) == 4


def test_partly_new_batch_is_201(client: FlaskClient, world: World) -> None:
    old = world.register_envelope("coop-a", ["spo"])
    post_events(client, old)
    new = world.register_envelope("coop-b", ["spo"])
    response = post_events(client, old, new)
    assert response.status_code == 201
    assert [e["new"] for e in response.get_json()["events"]] == [False, True]


def test_batch_is_all_or_nothing(client: FlaskClient, world: World) -> None:
    good = world.register_envelope("coop-a", ["spo"])
    forged = Envelope(payload=b'{"type":"party.register"}', signature=good.signature)
    body = assert_problem(post_events(client, good, forged), 422)
    assert body["errors"][0]["index"] == 1
    assert _size(world) == 1


def test_chain_conflict_is_409_naming_expected_seq_and_prev(
    client: FlaskClient, world: World
) -> None:
    head = world.operator.prev
    fork = KeyChain(seeded_key("operator"), "operator", seq=0, prev=None)
    envelope = fork.sign(
        {
            "type": "key.add",
            "time": world.tick(),
            "subject": "operator",
            "public_key": public_b64(seeded_key("spare")),
        }
    )
    body = assert_problem(post_events(client, envelope), 409)
    assert body["expected_seq"] == 2
    assert body["expected_prev"] == head
    assert body["errors"] == [{"index": 0, "field": "seq", "message": body["errors"][0]["message"]}]
    assert "expected seq 2" in body["detail"]
    assert body["type"].endswith("/chain-conflict")


# --- the dry run -----------------------------------------------------------------------


def test_the_dry_run_answers_as_an_append_would_and_appends_nothing(
    client: FlaskClient, world: World
) -> None:
    from tests.support import database_state

    batch = [world.register_envelope(p, ["spo"]) for p in ("coop-a", "coop-b")]
    before = database_state(world.store)
    checked = client.post("/api/v1/events/check", json={"events": [e.to_dict() for e in batch]})
    assert checked.status_code == 200, checked.get_json()
    assert database_state(world.store) == before
    appended = post_events(client, *batch).get_json()
    assert checked.get_json() == {**appended, "checkpoint": None}

    forged = Envelope(payload=b'{"type":"party.register"}', signature=batch[0].signature)
    late = world.register_envelope("coop-c", ["spo"])
    before = database_state(world.store)
    would = client.post("/api/v1/events/check", json={"events": [late.to_dict(), forged.to_dict()]})
    assert database_state(world.store) == before
    refused = post_events(client, late, forged)
    assert would.status_code == refused.status_code == 422
    assert would.get_json() == refused.get_json()
    assert _size(world) == 3


def test_duplicate_party_is_409(client: FlaskClient, world: World) -> None:
    world.append(world.register_envelope("coop-a", ["spo"]))
    again = world.operator.sign(
        {
            "type": "party.register",
            "time": world.tick(),
            "subject": "coop-a",
            "name": "Again",
            "roles": ["spo"],
            "country": "PE",
            "public_key": public_b64(seeded_key("other")),
        }
    )
    body = assert_problem(post_events(client, again), 409)
    assert body["errors"][0]["field"] == "subject"
    assert body["type"].endswith("/duplicate-id")


def _tampered_sig(envelope: Envelope) -> dict[str, Any]:
    data = envelope.to_dict()
    sig = bytearray(base64.b64decode(data["signatures"][0]["sig"]))
    sig[0] ^= 1
    data["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    return data


BAD_ENVELOPES = {
    "invalid signature": (
        lambda w: _tampered_sig(w.register_envelope("coop-x", ["spo"])),
        "signatures[0].sig",
        "/signature-error",
    ),
    "unknown key": (
        lambda w: (
            KeyChain(seeded_key("stranger"), "stranger")
            .sign(
                {
                    "type": "key.add",
                    "time": w.tick(),
                    "subject": "stranger",
                    "public_key": public_b64(seeded_key("k")),
                }
            )
            .to_dict()
        ),
        "key",
        "/unknown-key",
    ),
    "unknown envelope field": (
        lambda w: {**w.register_envelope("c", ["spo"]).to_dict(), "extra": 1},
        None,
        "/invalid-event",
    ),
    "missing payload": (
        lambda w: {"payloadType": "application/vnd.trazo.event+json", "signatures": []},
        "payload",
        "/invalid-event",
    ),
    "wrong payloadType": (
        lambda w: {**w.register_envelope("c", ["spo"]).to_dict(), "payloadType": "text/plain"},
        "payloadType",
        "/invalid-event",
    ),
    "payload not base64": (
        lambda w: {**w.register_envelope("c", ["spo"]).to_dict(), "payload": "%%%"},
        "payload",
        "/invalid-event",
    ),
    "signatures not a list": (
        lambda w: {**w.register_envelope("c", ["spo"]).to_dict(), "signatures": 5},
        "signatures",
        "/invalid-event",
    ),
    "unknown payload field": (
        lambda w: w.operator.sign(
            {
                "type": "key.add",
                "time": w.tick(),
                "subject": "operator",
                "colour": "red",
                "public_key": public_b64(seeded_key("k2")),
            }
        ).to_dict(),
        "colour",
        "/invalid-event",
    ),
    "wrong type in payload": (
        lambda w: w.operator.sign(
            {
                "type": "party.register",
                "time": w.tick(),
                "subject": "c",
                "name": "C",
                "roles": "spo",
                "country": "PE",
                "public_key": public_b64(seeded_key("c")),
            }
        ).to_dict(),
        "roles",
        "/invalid-event",
    ),
    "time in the future": (
        lambda w: w.operator.sign(
            {
                "type": "key.add",
                "time": "2999-01-01T00:00:00Z",
                "subject": "operator",
                "public_key": public_b64(seeded_key("k3")),
            }
        ).to_dict(),
        "time",
        "/time-error",
    ),
    "not authorized": (
        lambda w: (
            _registered(w, "coop-z")
            .sign(
                {
                    "type": "party.register",
                    "time": w.tick(),
                    "subject": "coop-y",
                    "name": "Y",
                    "roles": ["spo"],
                    "country": "PE",
                    "public_key": public_b64(seeded_key("coop-y")),
                }
            )
            .to_dict()
        ),
        "party",
        "/not-authorized",
    ),
    "unknown reference": (
        lambda w: w.operator.sign(
            {
                "type": "key.add",
                "time": w.tick(),
                "subject": "nobody",
                "public_key": public_b64(seeded_key("k4")),
            }
        ).to_dict(),
        "subject",
        "/unknown-reference",
    ),
}


def _registered(world: World, party: str) -> KeyChain:
    world.append(world.register_envelope(party, ["spo"]))
    return world.chains[party]


@pytest.mark.parametrize("case", sorted(BAD_ENVELOPES))
def test_bad_envelopes_are_422_naming_index_and_field(
    client: FlaskClient, world: World, case: str
) -> None:
    make, field, type_suffix = BAD_ENVELOPES[case]
    _registered(world, "coop-ok")
    bad = make(world)
    good = world.sign(
        "coop-ok",
        {
            "type": "key.add",
            "subject": "coop-ok",
            "public_key": public_b64(seeded_key("coop-ok-2")),
        },
    )
    before = _size(world)
    body = assert_problem(post_events(client, good, bad), 422)
    assert body["type"].endswith(type_suffix), body
    assert body["errors"][0]["index"] == 1
    assert body["errors"][0]["field"] == field
    assert body["errors"][0]["message"]
    assert _size(world) == before  # nothing stored, not even the good event


def test_malformed_json_is_400(client: FlaskClient, world: World) -> None:
    response = client.post("/api/v1/events", data=b'{"events": [', content_type="application/json")
    body = assert_problem(response, 400)
    assert "not valid JSON" in body["detail"]


def test_wrong_content_type_is_415(client: FlaskClient, world: World) -> None:
    envelope = world.register_envelope("coop-a", ["spo"]).to_json()
    response = client.post("/api/v1/events", data=envelope, content_type="text/plain")
    body = assert_problem(response, 415)
    assert "application/json" in body["detail"]
    assert _size(world) == 1


def test_oversize_body_is_413(client: FlaskClient) -> None:
    response = client.post(
        "/api/v1/events", data=b" " * (10 * 1024 * 1024 + 1), content_type="application/json"
    )
    assert_problem(response, 413)


def test_too_many_events_is_422(client: FlaskClient, world: World) -> None:
    envelope = world.register_envelope("coop-a", ["spo"]).to_dict()
    response = client.post("/api/v1/events", json={"events": [envelope] * 5001})
    body = assert_problem(response, 422)
    assert body["errors"][0]["field"] == "events"
    assert "5000" in body["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {
                "events": [],
            },
            "events",
        ),
        ({"events": {}}, "events"),
        ({"events": [{}], "dry_run": True}, "dry_run"),
        ([1, 2], None),
        ("envelope", None),
    ],
)
def test_bad_shapes_are_422(client: FlaskClient, body: Any, field: str | None) -> None:
    problem = assert_problem(client.post("/api/v1/events", json=body), 422)
    assert problem["errors"][0]["field"] == field


# --- reading -----------------------------------------------------------------------------


def test_get_event_returns_envelope_index_and_payload(client: FlaskClient, world: World) -> None:
    envelope = world.register_envelope("coop-a", ["spo"], identifiers={"gln": "7750000000014"})
    post_events(client, envelope)
    body = client.get(f"/api/v1/events/{envelope.id}").get_json()
    assert body["id"] == envelope.id
    assert body["index"] == 1
    assert body["envelope"] == envelope.to_dict()
    assert body["payload"] == json.loads(envelope.payload)
    assert body["payload"]["identifiers"] == {"gln": "7750000000014"}
    assert body["recorded_at"].endswith("Z")
    assert body["redacted"] is False


def test_get_unknown_event_is_404(client: FlaskClient) -> None:
    body = assert_problem(client.get("/api/v1/events/sha256:" + "ab" * 32), 404)
    assert "no event" in body["detail"]


def _populate(world: World) -> list[str]:
    ids = [world.operator.prev or ""]
    for party in ("coop-a", "coop-b", "trader-c"):
        world.append(world.register_envelope(party, ["spo"]))
        ids.append(world.operator.prev or "")
    world.append(
        world.sign(
            "coop-a",
            {
                "type": "key.add",
                "subject": "coop-a",
                "public_key": public_b64(seeded_key("coop-a-2")),
            },
        )
    )
    ids.append(world.chains["coop-a"].prev or "")
    return ids


def test_list_events_pages_with_after_and_limit(client: FlaskClient, world: World) -> None:
    ids = _populate(world)
    first = client.get("/api/v1/events?limit=2").get_json()
    assert [e["id"] for e in first["events"]] == ids[:2]
    assert first["next_after"] == 1
    second = client.get("/api/v1/events?limit=2&after=1").get_json()
    assert [e["index"] for e in second["events"]] == [2, 3]
    last = client.get("/api/v1/events?limit=2&after=3").get_json()
    assert [e["id"] for e in last["events"]] == ids[4:]
    assert last["next_after"] is None


def test_list_events_filters(client: FlaskClient, world: World) -> None:
    ids = _populate(world)
    by_party = client.get("/api/v1/events?party=coop-a").get_json()["events"]
    assert [e["id"] for e in by_party] == [ids[4]]
    by_type = client.get("/api/v1/events?type=party.register").get_json()["events"]
    assert len(by_type) == 4
    times = [e["time"] for e in client.get("/api/v1/events").get_json()["events"]]
    window = client.get("/api/v1/events", query_string={"since": times[1], "until": times[2]})
    assert [e["index"] for e in window.get_json()["events"]] == [1, 2]
    offset = client.get("/api/v1/events", query_string={"since": "2026-03-01T08:15:00-05:00"})
    assert [e["index"] for e in offset.get_json()["events"]] == [1, 2, 3, 4]
    assert client.get("/api/v1/events?lot=coop-a:nothing").get_json()["events"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=1001", "limit"),
        ("limit=0", "limit"),
        ("after=-2", "after"),
        ("after=x", "after"),
        ("since=yesterday", "since"),
        ("since=2026-03-01T08:00:00", "since"),  # no offset
        ("colour=red", "colour"),
    ],
)
def test_bad_list_parameters_are_422(client: FlaskClient, query: str, field: str) -> None:
    body = assert_problem(client.get(f"/api/v1/events?{query}"), 422)
    assert field in [e["field"] for e in body["errors"]]


def test_wrong_read_token_is_401(client: FlaskClient) -> None:
    response = client.get("/api/v1/events", headers={"Authorization": "Bearer wrong"})
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    ok = client.get("/api/v1/events", headers={"Authorization": f"Bearer {READ_TOKEN}"})
    assert ok.status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "since=9999-12-31T23:59:59-23:59",
        "until=0001-01-01T00:00:00%2B23:59",
    ],
)
def test_a_time_outside_utc_years_is_a_422_naming_the_parameter(
    client: FlaskClient, query: str
) -> None:
    """Hole 4: these parsed as aware datetimes but overflowed converting to UTC (a 500)."""
    body = assert_problem(client.get(f"/api/v1/events?{query}"), 422)
    name = query.split("=", 1)[0]
    assert name in body["detail"] or any(e.get("field") == name for e in body.get("errors", []))


def test_no_first_come_operator_over_http(tmp_path: Any, keys_dir: Any) -> None:
    """Hole 2: on a migrated, empty database the first self-signed party.register posted
    over HTTP became the operator. Now the server serves nothing until `trazo init`."""
    from api import create_app
    from ledger.store import Store

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    Store(url).migrate()
    app = create_app({"TESTING": True, "TRAZO_DATABASE_URL": url, "TRAZO_KEYS": str(keys_dir)})
    client = app.test_client()
    key = seeded_key("intruder")
    chain = KeyChain(key, "intruder")
    genesis = chain.sign(
        {
            "type": "party.register",
            "time": "2026-03-01T08:00:00-05:00",
            "subject": "intruder",
            "name": "Intruder",
            "roles": ["operator"],
            "country": "ZZ",
            "public_key": public_b64(key),
        }
    )
    body = assert_problem(post_events(client, genesis), 503)
    assert "trazo init" in body["detail"]
    assert_problem(client.get("/api/v1/events"), 503)
    assert client.get("/api/v1/health").status_code == 200
    assert Store(url).size() == 0


def test_the_append_path_bootstraps_no_key_unless_told_it_is_a_genesis(tmp_path: Any) -> None:
    """The engine itself: an HTTP batch (genesis=False) never registers its own signer."""
    from ledger.append import append_batch
    from ledger.errors import UnknownKey
    from ledger.store import Store

    store = Store(f"sqlite:///{tmp_path / 'empty.db'}")
    store.migrate()
    key = seeded_key("intruder")
    envelope = KeyChain(key, "intruder").sign(
        {
            "type": "party.register",
            "time": "2026-03-01T08:00:00-05:00",
            "subject": "intruder",
            "name": "Intruder",
            "roles": ["operator"],
            "country": "ZZ",
            "public_key": public_b64(key),
        }
    )
    with pytest.raises(UnknownKey, match="trazo init"):
        append_batch(store, [envelope])
    assert store.size() == 0
    append_batch(store, [envelope], genesis=True)
    assert store.size() == 1
