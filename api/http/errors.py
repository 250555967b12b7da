"""The one place where errors become HTTP: ``application/problem+json`` (RFC 9457).

Every error response of the API is a problem document::

    {"type": "tag:trazo.dev,2026:problem/chain-conflict", "title": "Chain conflict",
     "status": 409, "detail": "…", "errors": [{"index": 3, "field": "seq", "message": "…"}],
     "expected_seq": 8, "expected_prev": "sha256:…"}

Mapping of the ledger's error hierarchy (``ledger.errors``), by class, most specific first:

=================================================  ======
``NotFound`` (``LotNotFound``, ``NotPublished``)    404
``ChainConflict``, ``DuplicateId``,                 409
``AlreadyReceived`` (and their subclasses)
any other ``ClientError`` (``InvalidEvent``,        422
``SignatureError``, ``UnknownKey``, ``KeyRevoked``,
``NotAuthorized``, ``UnknownReference``,
``TimeError``, custody rule breaches, …)
``LedgerFault`` and anything else                   500 (no details unless debug)
=================================================  ======

Each class states its status (``LedgerError.http_status``); a subclass inherits it.

HTTP-level problems raised by the views (``Problem``) or by Werkzeug (404, 405, 413, …)
keep their status; a request that does not match its marshmallow schema is a 422 whose
``errors`` name each offending parameter or field.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask, Response, current_app
from werkzeug.exceptions import HTTPException, InternalServerError

from ledger.errors import LedgerError

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "tag:trazo.dev,2026:problem/"


class Problem(Exception):
    """An HTTP problem a view raises on purpose (bad media type, unknown id, …)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        slug: str | None = None,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
        **members: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title
        self.slug = slug
        self.headers = headers or {}
        self.errors = errors
        self.members = members


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


def _slug(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


# --- handlers ------------------------------------------------------------------------------


def handle_ledger_error(error: LedgerError) -> Response:
    status = status_of(error)
    if status == 500:
        return _server_error(error)
    item = {"index": error.index, "field": error.field, "message": error.message}
    return problem_response(
        status,
        type_=PROBLEM_TYPE_BASE + _slug(type(error).__name__),
        title=error.title,
        detail=str(error),
        errors=[item],
        **{k: v for k, v in error.to_dict().items() if k not in ("error", "message")},
    )


def handle_problem(problem: Problem) -> Response:
    return problem_response(
        problem.status,
        type_=PROBLEM_TYPE_BASE + problem.slug if problem.slug else "about:blank",
        title=problem.title,
        detail=problem.detail,
        errors=problem.errors,
        headers=problem.headers,
        **problem.members,
    )


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
    app.register_error_handler(Problem, handle_problem)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
