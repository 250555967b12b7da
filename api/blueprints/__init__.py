"""One blueprint per resource, all under ``/api/v1``."""

from __future__ import annotations

import http
from collections.abc import Callable
from typing import Any

from flask_smorest import Blueprint


def problems(blp: Blueprint, *statuses: int) -> Callable[[Any], Any]:
    """Document the problem responses (``application/problem+json``) a view can give."""

    def decorate(view: Any) -> Any:
        for status in statuses:
            view = blp.alt_response(status, response=http.HTTPStatus(status).name)(view)
        return view

    return decorate


def all_blueprints() -> list[Blueprint]:
    """The API's blueprints (imported here, after ``problems`` exists, to avoid a cycle)."""
    from api.blueprints import events, health, keys, lots, parties

    return [events.blp, keys.blp, parties.blp, lots.blp, health.blp]
