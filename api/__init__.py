"""trazo's interfaces: the Flask application factory and the ``trazo`` command line."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, jsonify


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app. Configuration: ``config`` first, then ``TRAZO_*`` environment variables."""
    from ledger.store import Store

    app = Flask(__name__)
    app.config["TRAZO_DATABASE_URL"] = os.environ.get("TRAZO_DATABASE_URL", "sqlite:///trazo.db")
    app.config.update(config or {})
    app.extensions["trazo.store"] = Store(app.config["TRAZO_DATABASE_URL"])

    @app.get("/api/v1/health")
    def health() -> Any:
        store: Store = app.extensions["trazo.store"]
        ready = store.schema_ready()
        return jsonify({"status": "ok" if ready else "unavailable", "database": ready}), (
            200 if ready else 503
        )

    return app
