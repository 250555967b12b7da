"""Every error is application/problem+json: routing, methods, 500s and the status table."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError

from api.http import errors as http_errors
from api.http.errors import status_of
from ledger import errors, query
from tests.api.conftest import assert_problem


def test_unknown_path_is_404(client: FlaskClient) -> None:
    body = assert_problem(client.get("/api/v1/nothing-here"), 404)
    assert body["type"] == "about:blank" and body["title"] == "Not Found"


def test_wrong_method_is_405_with_allow(client: FlaskClient) -> None:
    response = client.delete("/api/v1/events")
    assert_problem(response, 405)
    assert "POST" in response.headers["Allow"] and "DELETE" not in response.headers["Allow"]
    assert_problem(client.put("/api/v1/events/sha256:" + "0" * 64), 405)


@pytest.mark.parametrize(
    "failure",
    [
        RuntimeError("boom"),
        OperationalError("SELECT secret_table", {}, Exception("password=hunter2")),
        errors.StoreError("could not take the write lock: disk I/O error"),
    ],
)
def test_unexpected_failures_are_500_without_details(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise failure

    monkeypatch.setattr(query, "get_event", fail)
    body = assert_problem(client.get("/api/v1/events/sha256:" + "0" * 64), 500)
    assert "secret" not in body["detail"] and "hunter2" not in body["detail"]
    assert "disk" not in body["detail"]
    assert "nothing was changed" in body["detail"]


def test_500_names_the_cause_in_debug_mode(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(query, "get_event", fail)
    app.debug = True
    body = assert_problem(app.test_client().get("/api/v1/events/sha256:" + "0" * 64), 500)
    assert "RuntimeError: boom" in body["detail"]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.ChainConflict, 409),
        (errors.DuplicateId, 409),
        (errors.DuplicateLot, 409),  # a subclass inherits its parent's status
        (errors.AlreadyReceived, 409),
        (errors.InvalidEvent, 422),
        (errors.SignatureError, 422),
        (errors.UnknownKey, 422),
        (errors.KeyRevoked, 422),
        (errors.NotAuthorized, 422),
        (errors.UnknownReference, 422),
        (errors.UnknownLot, 422),
        (errors.TimeError, 422),
        (errors.InsufficientQuantity, 422),
        (errors.ReceiptExceedsShipment, 422),
        (errors.NotHolder, 422),
        (errors.YieldExceeded, 422),
        (errors.VoidRefused, 422),
        (errors.LotNotFound, 404),
        (errors.EventNotFound, 404),
        (errors.PartyNotFound, 404),
        (errors.KeyNotFound, 404),
        (errors.CheckpointNotFound, 404),
        (errors.LogKeyNotFound, 404),
        (errors.NotPublished, 404),
        (errors.NotCheckpointed, 409),
        (errors.ProofOutOfRange, 422),
        (http_errors.MalformedJson, 400),
        (http_errors.UnsupportedMediaType, 415),
        (http_errors.SignInRequired, 401),
        (http_errors.SignInRefused, 401),
        (http_errors.InvalidToken, 401),
        (http_errors.Unavailable, 503),
        (errors.LedgerFault, 500),
        (errors.StoreError, 500),
        (errors.IntegrityError, 500),
    ],
)
def test_status_of_each_ledger_error(error: type[errors.LedgerError], status: int) -> None:
    assert status_of(error("x")) == status


def test_a_new_client_error_subclass_needs_no_table_entry() -> None:
    class FrostDamage(errors.ClientError):
        pass

    class LateDuplicate(errors.DuplicateId):
        pass

    assert status_of(FrostDamage("x")) == 422
    assert status_of(LateDuplicate("x")) == 409


NOT_FOUND = "sha256:" + "0" * 64


@pytest.mark.parametrize(
    ("path", "status", "slug"),
    [
        (f"/api/v1/events/{NOT_FOUND}", 404, "event-not-found"),
        ("/api/v1/lots/nope:1", 404, "lot-not-found"),
        ("/api/v1/lots/nope:1/origin", 404, "lot-not-found"),
        ("/api/v1/lots/nope:1/trace", 404, "lot-not-found"),
        ("/api/v1/lots/nope:1/bundle", 404, "lot-not-found"),
        ("/api/v1/lots/nope:1/eudr", 404, "lot-not-found"),
        ("/api/v1/lots/nope:1/trace.csv", 404, "lot-not-found"),
        ("/api/v1/parties/nobody", 404, "party-not-found"),
        ("/api/v1/parties/nobody/mass-balance?period=2026", 404, "party-not-found"),
        ("/api/v1/keys/" + "0" * 16 + "/head", 404, "key-not-found"),
        ("/api/v1/log/checkpoints/99", 404, "checkpoint-not-found"),
        (f"/api/v1/log/proof/inclusion?id={NOT_FOUND}", 404, "event-not-found"),
        ("/api/v1/log/proof/consistency?from=5&to=99", 422, "proof-out-of-range"),
    ],
)
def test_each_error_answers_with_the_status_and_type_its_class_knows(
    client: FlaskClient, path: str, status: int, slug: str
) -> None:
    body = assert_problem(client.get(path), status)
    assert body["type"] == "tag:trazo.dev,2026:problem/" + slug


def test_a_wrong_read_token_is_a_401_with_the_bearer_challenge(client: FlaskClient) -> None:
    response = client.get(
        f"/api/v1/events/{NOT_FOUND}", headers={"Authorization": "Bearer not-the-token"}
    )
    body = assert_problem(response, 401)
    assert body["type"].endswith("/invalid-token")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="trazo"'


def test_a_body_of_the_wrong_shape_names_every_offending_field(client: FlaskClient) -> None:
    response = client.post("/api/v1/events", json={"events": [{}], "evnts": 1, "more": 2})
    body = assert_problem(response, 422)
    assert body["type"].endswith("/invalid-request")
    assert [e["field"] for e in body["errors"]] == ["evnts", "more"]
