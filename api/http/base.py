"""What every JSON blueprint shares: the strict blueprint class, problem docs, reading a
JSON body."""

from __future__ import annotations

import http
import json
from collections.abc import Callable
from typing import Any

import flask_smorest
from flask import request
from webargs.flaskparser import FlaskParser

from api.http.errors import MalformedJson, UnsupportedMediaType


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's blueprint, rejecting unknown query parameters as bodies reject fields.

    webargs ignores unknown query parameters by default; ``unknown=None`` lets each
    schema's own ``RAISE`` decide, so a misspelt filter is a 422, not a silent no-op.
    """

    ARGUMENTS_PARSER = FlaskParser(unknown=None)


def problems(blp: Blueprint, *statuses: int) -> Callable[[Any], Any]:
    """Document the problem responses (``application/problem+json``) a view can give."""

    def decorate(view: Any) -> Any:
        for status in statuses:
            view = blp.alt_response(status, response=http.HTTPStatus(status).name)(view)
        return view

    return decorate


def read_json() -> Any:
    """A POST body as JSON: ``UnsupportedMediaType`` or ``MalformedJson`` otherwise."""
    if not (request.mimetype == "application/json" or request.mimetype.endswith("+json")):
        raise UnsupportedMediaType(
            f"send JSON (Content-Type: application/json), not"
            f" {request.mimetype or 'no content type'!r}",
        )
    raw = request.get_data(cache=False)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        reason = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise MalformedJson(f"the body is not valid JSON: {reason}") from e
    return body
