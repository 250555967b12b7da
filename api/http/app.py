"""The Flask application factory.

Configuration (each key may be set in the environment; ``create_app(config)`` overrides):

``TRAZO_DATABASE_URL``  the ledger (``sqlite:///FILE`` or ``postgresql://…``)
``TRAZO_KEYS``          the folder holding ``log.key``, which signs checkpoints
``TRAZO_READ_TOKEN``    the operator's bearer token: reads everything (unset: no operator token)
``TRAZO_SESSION_SECONDS``  how long a party session lasts (default 3600)
``TRAZO_RATE_LIMIT``, ``TRAZO_SIGNIN_RATE_LIMIT``  request budgets (``api.http.limits``)
``TRAZO_PUBLIC_URL``    the server's public base URL, listed in the OpenAPI ``servers``
``TRAZO_LOG_ORIGIN``    the log's checkpoint origin (default ``trazo/<operator>``)
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, current_app
from flask_smorest import Api

from api.http import access, errors, limits, schemas
from api.http.context import STORE, store
from ledger.store import Store

CONFIG_KEYS = (
    "TRAZO_DATABASE_URL",
    "TRAZO_KEYS",
    "TRAZO_READ_TOKEN",
    "TRAZO_PUBLIC_URL",
    "TRAZO_LOG_ORIGIN",
    "TRAZO_SESSION_SECONDS",
    "TRAZO_RATE_LIMIT",
    "TRAZO_SIGNIN_RATE_LIMIT",
)
DEFAULTS: dict[str, Any] = {
    "TRAZO_DATABASE_URL": "sqlite:///trazo.db",
    "TRAZO_KEYS": "trazo-keys",
    "TRAZO_READ_TOKEN": None,
    "TRAZO_PUBLIC_URL": None,
    "TRAZO_LOG_ORIGIN": None,
    "TRAZO_SESSION_SECONDS": None,
    "TRAZO_RATE_LIMIT": None,
    "TRAZO_SIGNIN_RATE_LIMIT": None,
}

API_DESCRIPTION = f"""\
HTTP interface of a trazo ledger: a signed, append-only custody ledger for goods of
small producers' organizations. The repository's `docs/architecture.md` describes the
wire format (DSSE envelopes), the three chains and the custody engine; `docs/bundle.md`
the proof bundle; the README the event vocabulary and the commands.

* **Writes need no account.** The Ed25519 signature on each event, by a key registered
  to its `party` and not revoked at its `time`, is the authorization; the custody rules
  decide the rest. Nothing in the API changes or deletes an event.
* **Batches are all or nothing**: at most {schemas.MAX_BATCH_EVENTS} events and
  {schemas.MAX_BODY_BYTES // (1024 * 1024)} MiB per request. Re-submitting stored events
  is idempotent (`200`).
* **Unknown fields are rejected** in every request body and query string (`422`).
* **Errors** are `application/problem+json` (RFC 9457) with `type`, `title`, `status`,
  `detail`, and `errors: [{{index, field, message}}]` naming the offending event of a
  batch and its field.
* **Reads are private by default.** Anyone reads the log, the parties directory, the
  public master-data events (registrations, keys, certificates, publications, price
  lists), payments every signer disclosed, and what a holder has published with
  `lot.publish`. A party signed in with one of its keys
  (`POST /api/v1/sessions/challenge`, then `POST /api/v1/sessions` with the signed
  challenge; `Authorization: Bearer <token>`) reads the events it signed and those that
  name it, its lots, holdings, shipments and reports; a granted auditor (`grant.issue`)
  reads what its grant names, while it is valid; the operator's token reads everything.
  **A read the caller may not make is a 404**, like a missing thing; a bad or expired
  token is a 401.
* **Requests are budgeted** per client and per session: over budget, a `429` with
  `Retry-After`.
"""


class TrazoApi(Api):
    """flask-smorest's ``Api`` with every error response documented as a problem."""

    ERROR_SCHEMA = schemas.ProblemSchema

    def _register_responses(self) -> None:
        import http

        from flask_smorest.utils import prepare_response

        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, errors.PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Any other error", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, errors.PROBLEM_JSON)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)

    def handle_http_exception(self, error: Any) -> Any:
        return errors.handle_http_exception(error)


def load_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults, then ``TRAZO_*`` environment variables, then ``config``."""
    out = dict(DEFAULTS)
    out.update({k: v for k, v in os.environ.items() if k.startswith("TRAZO_")})
    out.update(config or {})
    return out


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: configuration, the store, the API and its blueprints, error handlers."""

    app = Flask("api")
    app.config.update(load_config(config))
    app.config.update(
        MAX_CONTENT_LENGTH=schemas.MAX_BODY_BYTES,
        API_TITLE="trazo",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS=_spec_options(app.config),
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[STORE] = Store(app.config["TRAZO_DATABASE_URL"])
    api = TrazoApi(app)
    api.spec.components.schema("Envelope", schema=schemas.EnvelopeSchema)
    api.spec.components.schema("EventBatch", schema=schemas.EventBatchSchema)
    for blueprint in all_blueprints():
        api.register_blueprint(blueprint)
    errors.register_error_handlers(app)
    _register_pages(app)
    app.before_request(_require_genesis)
    app.before_request(limits.check_budget)
    app.before_request(access.identify)
    return app


GENESIS_FREE = (
    "/",
    "/api/v1",
    "/api/v1/",
    "/api/v1/docs",
    "/api/v1/health",
    "/api/v1/openapi.json",
)
"""What a server answers before its ledger has a genesis (so operators can see why)."""


def _require_genesis() -> Any:
    """Serve nothing from a ledger without a genesis: it is created only by `trazo init`.

    Without this, the first self-signed ``party.register`` posted to a freshly migrated
    database would make its signer the operator.
    """
    from flask import request

    if current_app.extensions.get("trazo.has_genesis") or request.path in GENESIS_FREE:
        return None
    ledger = store()
    if not ledger.schema_ready() or ledger.size() == 0:
        return errors.problem_response(
            503,
            title="Ledger not initialized",
            detail="this server's ledger has no genesis event: the operator creates a"
            " ledger with `trazo init`, never over HTTP",
        )
    current_app.extensions["trazo.has_genesis"] = True
    return None


def _register_pages(app: Flask) -> None:
    """The public lot pages, the auditor's report and the log's tiles: outside the JSON
    API's spec."""
    from api import pages
    from api.http import tiles

    app.register_blueprint(tiles.bp)

    app.register_blueprint(pages.bp)
    app.register_blueprint(pages.audit_bp)
    app.register_blueprint(pages.apidocs_bp)

    from api import console

    app.register_blueprint(console.bp)


def _spec_options(config: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {
        "info": {"description": API_DESCRIPTION},
        "components": {
            "securitySchemes": {
                "session": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A party session's token (`POST /api/v1/sessions`): reads"
                    " the party's own data and what its grants name",
                },
                "operatorToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The operator's token (TRAZO_READ_TOKEN): reads everything",
                },
            }
        },
    }
    if config.get("TRAZO_PUBLIC_URL"):
        options["servers"] = [{"url": str(config["TRAZO_PUBLIC_URL"]).rstrip("/")}]
    return options


def all_blueprints() -> list[Any]:
    """The JSON API's blueprints, one per resource, all under ``/api/v1``."""
    from api.http import (
        epcis,
        eudr,
        events,
        fair_prices,
        health,
        index,
        keys,
        log,
        lots,
        mass_balance,
        parties,
        provenance,
        sessions,
    )

    return [
        index.blp,
        events.blp,
        keys.blp,
        parties.blp,
        lots.blp,
        provenance.blp,
        eudr.blp,
        mass_balance.blp,
        fair_prices.blp,
        log.blp,
        sessions.blp,
        health.blp,
        epcis.blp,
    ]
