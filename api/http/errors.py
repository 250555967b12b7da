"""The one place where errors become HTTP: ``application/problem+json`` (RFC 9457).

Every error response of the API is a problem document::

    {"type": "tag:trazo.dev,2026:problem/chain-conflict", "title": "Chain conflict",
     "status": 409, "detail": "…", "errors": [{"index": 3, "field": "seq", "message": "…"}],
     "expected_seq": 8, "expected_prev": "sha256:…"}

Every error a view raises is a ``LedgerError``: the ledger's own (``ledger.errors``) or
the request's (below: malformed JSON, wrong media type, a bad credential, too many
requests). No view
catches an error to remap it; each class states its status (``LedgerError.http_status``,
inherited by subclasses), its headers, and its problem type (the class name in kebab case
after ``tag:trazo.dev,2026:problem/``). The hierarchy's statuses, most specific first:

=================================================  ======
``NotFound`` (``LotNotFound``, ``EventNotFound``,   404
``PartyNotFound``, ``KeyNotFound``, ``SessionNotFound``,
``CheckpointNotFound``, ``LogKeyNotFound``,
``NotPublished``)
``InvalidToken``, ``SignInRequired``,               401
``SignInRefused``
``TooManyRequests``                                 429
``MalformedJson``                                   400
``UnsupportedMediaType``                            415
``NotCheckpointed``                                 409
``ChainConflict``, ``DuplicateId``,                 409
``AlreadyReceived`` (and their subclasses)
any other ``ClientError`` (``InvalidEvent``,        422
``SignatureError``, ``UnknownKey``, ``KeyRevoked``,
``NotAuthorized``, ``UnknownReference``,
``TimeError``, custody rule breaches, …)
``Unavailable``                                     503
``LedgerFault`` and anything else                   500 (no details unless debug)
=================================================  ======

Werkzeug's own answers (an unknown route, 405, 413, …) keep their status; a request that
does not match its marshmallow schema is a 422 whose ``errors`` name each offending
parameter or field.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, current_app
from werkzeug.exceptions import HTTPException, InternalServerError

from ledger.errors import PROBLEM_TYPE_BASE, ClientError, LedgerError, LedgerFault

PROBLEM_JSON = "application/problem+json"


# --- errors of the HTTP request itself (the ledger's own are in ``ledger.errors``) ---------


class RequestError(ClientError):
    """The request cannot be read: wrong media type, malformed JSON, a bad credential."""

    title = "Bad request"
    http_status = 400


class MalformedJson(RequestError):
    title = "Malformed JSON"


class UnsupportedMediaType(RequestError):
    title = "Unsupported media type"
    http_status = 415


class InvalidRequest(ClientError):
    """The body's shape is wrong; ``items`` name every offending field."""

    title = "Invalid request"

    def __init__(self, message: str, items: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.items = items

    def problem_items(self) -> list[dict[str, Any]]:
        return self.items


_BEARER = {"WWW-Authenticate": 'Bearer realm="trazo"'}


class InvalidToken(RequestError):
    title = "Invalid token"
    http_status = 401
    http_headers = _BEARER


class SignInRequired(RequestError):
    """The request needs a party session (``POST /api/v1/sessions``)."""

    title = "Sign-in required"
    http_status = 401
    http_headers = _BEARER


class SignInRefused(RequestError):
    """A signed challenge that opens no session: wrong key, signature, ledger, or a
    challenge unknown, expired or already used."""

    title = "Sign-in refused"
    http_status = 401
    http_headers = _BEARER


class TooManyRequests(RequestError):
    """A client or session went over its request budget; ``Retry-After`` says when to
    come back."""

    title = "Too many requests"
    http_status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.http_headers = {"Retry-After": str(retry_after)}


class Unavailable(LedgerFault):
    """The ledger database does not answer (or has no schema yet)."""

    title = "Service unavailable"
    http_status = 503


def status_of(error: LedgerError) -> int:
    """The HTTP status a ledger error knows (``LedgerError.http_status``, inherited)."""
    return int(error.http_status)


def problem_response(
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    type_: str = "about:blank",
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    **members: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or _phrase(status),
        "status": status,
        "detail": detail or _phrase(status),
    }
    if errors is not None:
        body["errors"] = errors
    body.update({k: v for k, v in members.items() if k not in body})
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# --- handlers ------------------------------------------------------------------------------


def handle_ledger_error(error: LedgerError) -> Response:
    status = status_of(error)
    if status == 500:
        return _server_error(error)
    body = error.problem()
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    response.headers.extend(dict(error.http_headers))
    return response


def handle_http_exception(error: HTTPException) -> Response:
    """Werkzeug's and flask-smorest's aborts: routing (404, 405), 413, schema errors (422)."""
    if isinstance(error, InternalServerError):
        return _server_error(getattr(error, "original_exception", None) or error)
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    headers = dict(error.get_headers())
    headers.update(data.get("headers") or {})
    messages = data.get("messages")
    if messages is not None:
        errors = list(_flatten(messages))
        where = ", ".join(sorted({e["field"] for e in errors if e["field"]})) or "request"
        return problem_response(
            status,
            type_=PROBLEM_TYPE_BASE + "invalid-request",
            title="Invalid request",
            detail=f"the request does not match the API's schema: {where}",
            errors=errors,
            headers=headers,
        )
    detail = data.get("message") or error.description or _phrase(status)
    return problem_response(status, title=error.name, detail=detail, headers=headers)


def handle_unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):  # pragma: no cover - routed to its own handler
        return handle_http_exception(error)
    return _server_error(error)


def _server_error(error: BaseException) -> Response:
    current_app.logger.error("request failed: %r", error, exc_info=error)
    detail = "the ledger could not complete the request; nothing was changed"
    if current_app.debug:
        detail = f"{detail}: {type(error).__name__}: {error}"
    return problem_response(500, detail=detail)


def _flatten(messages: Any, path: str = "") -> Any:
    """webargs' ``{"query": {"limit": ["…"]}}`` as ``{index, field, message}`` items."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            if not path and key in ("query", "json", "path", "headers", "form", "files"):
                yield from _flatten(value, "")
                continue
            name = (
                f"{path}[{key}]"
                if isinstance(key, int)
                else (f"{path}.{key}" if path else str(key))
            )
            yield from _flatten(value, name)
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        for message in messages:
            yield {"index": None, "field": path or None, "message": message}
    elif isinstance(messages, list):
        for i, value in enumerate(messages):
            yield from _flatten(value, f"{path}[{i}]")
    else:
        yield {"index": None, "field": path or None, "message": str(messages)}


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(LedgerError, handle_ledger_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
