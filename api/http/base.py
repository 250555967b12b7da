"""What every JSON blueprint shares: the strict blueprint class and problem docs."""

from __future__ import annotations

import http
from collections.abc import Callable
from typing import Any

import flask_smorest
from webargs.flaskparser import FlaskParser


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
