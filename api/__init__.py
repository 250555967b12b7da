"""trazo's interfaces: the Flask application factory and the ``trazo`` command line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the HTTP app (see ``api.app``); imported lazily so the CLI starts fast."""
    from api.http.app import create_app as _create_app

    return _create_app(config)
